package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/heartbeat"
)

var _ = Describe("the agent's heartbeat Lease", func() {
	var (
		node string
		vm   *vmv1.VirtualMachine
		tl   timeline
	)
	BeforeEach(func() {
		node = "node-" + rand.String(6)
		tl = newTimeline()
	})

	// expectEvents waits for exactly these Events since before.
	expectEvents := func(before []string, events ...string) []string {
		GinkgoHelper()
		Eventually(func(g Gomega) []string { return minus(transitionEvents(g, vm), before) }).Should(ConsistOf(events))
		return transitionEvents(Default, vm)
	}

	It("without a Lease, says NoAgent until the agent shows up, and tells nothing before the agent reported", func() {
		vm = newVM("hb", node)
		expectConditions(vm, map[string]string{sMon: "Unknown/NoAgent", sReady: "Unknown/NoAgent", sPaused: "Unknown/AwaitingFacts"})

		renewLease(node, time.Now(), 3600)
		expectConditions(vm, map[string]string{sMon: "Unknown/AwaitingFacts", sReady: "Unknown/AwaitingFacts"})
		applyFacts(vm, healthyFacts(tl))
		expectConditions(vm, healthyConditions)
		// Only the flips to True: Unknown was the state the VM started in
		// (an Unknown Event would have been created before these).
		expectEvents(nil, "MonitorConnected=True:Normal", "Ready=True:Normal")
		noDuplicateEvents(vm)
	})

	It("does not believe facts without a Lease, and warns once the agent reported", func() {
		vm = newVM("hb", node)
		expectConditions(vm, map[string]string{sMon: "Unknown/NoAgent", sReady: "Unknown/NoAgent", sPaused: "Unknown/AwaitingFacts"})

		applyFacts(vm, healthyFacts(tl))
		expectConditions(vm, map[string]string{sMon: "Unknown/NoAgent", sReady: "Unknown/NoAgent", sPaused: "False/Running"})
		seen := expectEvents(nil, "MonitorConnected=Unknown:Warning", "Ready=Unknown:Warning")

		renewLease(node, time.Now(), 3600)
		expectConditions(vm, healthyConditions)
		expectEvents(seen, "MonitorConnected=True:Normal", "Ready=True:Normal")
		noDuplicateEvents(vm)
	})

	It("turns MonitorConnected Unknown when the Lease goes stale, and back when it is renewed", func() {
		renewLease(node, time.Now(), 3600)
		vm = newVM("hb", node)
		applyFacts(vm, healthyFacts(tl))
		expectConditions(vm, healthyConditions)
		seen := expectEvents(nil, "MonitorConnected=True:Normal", "Ready=True:Normal")
		// Another VM of the node, which nothing touches afterwards: the
		// node's stale timer must reach it too.
		other := newVM("hb-other", node)
		applyFacts(other, healthyFacts(tl))
		expectConditions(other, healthyConditions)

		By("a renewal that is already stale when written")
		renewLease(node, time.Now().Add(-time.Minute), 1)
		expectConditions(vm, map[string]string{sMon: "Unknown/AgentNotReporting", sReady: "Unknown/AgentNotReporting", sPaused: "False/Running"})
		seen = expectEvents(seen, "MonitorConnected=Unknown:Warning", "Ready=Unknown:Warning")

		By("a fresh renewal")
		renewLease(node, time.Now(), 3)
		expectConditions(vm, healthyConditions)
		seen = expectEvents(seen, "MonitorConnected=True:Normal", "Ready=True:Normal")

		By("no renewal: the controller notices when the Lease lapses (3 s + 1 s grace), with nothing else changing")
		expectConditions(vm, map[string]string{sMon: "Unknown/AgentNotReporting", sReady: "Unknown/AgentNotReporting"})
		expectConditions(other, map[string]string{sMon: "Unknown/AgentNotReporting", sReady: "Unknown/AgentNotReporting"})
		seen = expectEvents(seen, "MonitorConnected=Unknown:Warning", "Ready=Unknown:Warning")
		Expect(getVM(Default, vm).Status.Conditions).To(ContainElement(SatisfyAll(
			HaveField("Type", sMon), HaveField("Message", ContainSubstring("stopped renewing its Lease "+agentNS+"/"+heartbeat.LeaseName(node))))))

		By("the agent comes back")
		renewLease(node, time.Now(), 3600)
		expectConditions(vm, healthyConditions)
		expectEvents(seen, "MonitorConnected=True:Normal", "Ready=True:Normal")
		noDuplicateEvents(vm)
	})

	It("says NoAgent again when the Lease is deleted", func() {
		renewLease(node, time.Now(), 3600)
		vm = newVM("hb", node)
		applyFacts(vm, healthyFacts(tl))
		expectConditions(vm, healthyConditions)
		Expect(env.Client.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: agentNS, Name: heartbeat.LeaseName(node)}})).To(Succeed())
		expectConditions(vm, map[string]string{sMon: "Unknown/NoAgent", sReady: "Unknown/NoAgent"})
	})

	It("ignores Leases that are not agent Leases", func() {
		// Right name, no agent label: not in the controller's cache.
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: agentNS, Name: heartbeat.LeaseName(node)}}
		lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		Expect(env.Client.Create(ctx, lease)).To(Succeed())
		DeferCleanup(env.Client.Delete, ctx, lease)
		vm = newVM("hb", node)
		applyFacts(vm, healthyFacts(tl))
		expectConditions(vm, map[string]string{sMon: "Unknown/NoAgent"})
	})
})

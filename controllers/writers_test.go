package controllers_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/controllers"
)

// statusFieldsOwnedBy returns the top-level status fields manager owns.
func statusFieldsOwnedBy(vm *vmv1.VirtualMachine, manager string) []string {
	GinkgoHelper()
	var out []string
	for _, mf := range vm.ManagedFields {
		if mf.Manager != manager || mf.Subresource != "status" || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]map[string]any
		Expect(json.Unmarshal(mf.FieldsV1.Raw, &fields)).To(Succeed())
		for f := range fields["f:status"] {
			out = append(out, f)
		}
	}
	return out
}

var _ = Describe("two writers on one status", func() {
	It("keeps the agent's facts and the controller's conditions, written concurrently", func() {
		vm := newVM("writers", nodeA)
		tl := newTimeline()
		const rounds = 40

		// The agent writes as fast as it can while the controller reacts
		// to each write with its own: paused and resumed in turn, with
		// counters that change every time.
		var wg sync.WaitGroup
		wg.Go(func() {
			defer GinkgoRecover()
			for i := 1; i <= rounds; i++ {
				st := healthyFacts(tl)
				st.EventCounts = map[string]int64{"RTC_CHANGE": int64(i), "STOP": int64(i / 2)}
				st.Monitor.Reconnects = int64(i)
				st.Monitor.LastError = fmt.Sprintf("round %d", i)
				if i%2 == 1 {
					stoppedIn("paused", time.Duration(i)*time.Second)(tl, &st)
				} else {
					resumedAt(time.Duration(i)*time.Second)(tl, &st)
				}
				applyFacts(vm, st) // no force: a conflict would fail here
			}
		})
		wg.Wait()

		// The last report: running. Whether the controller saw one of the
		// pauses (reason Resumed) or only the final state (Running) depends
		// on how the writes interleaved, so only the status is asserted.
		// Both writers' fields are all there.
		expectConditions(vm, map[string]string{sReady: "True/Running", sMon: "True/Connected"})
		Eventually(func(g Gomega) {
			got := getVM(g, vm)
			g.Expect(got.Status.EventCounts).To(Equal(map[string]int64{"RTC_CHANGE": rounds, "STOP": rounds / 2}))
			g.Expect(got.Status.Monitor.Reconnects).To(BeEquivalentTo(rounds))
			g.Expect(got.Status.Monitor.LastError).To(Equal(fmt.Sprintf("round %d", rounds)))
			g.Expect(got.Status.RunStateSince.Time).To(BeTemporally("==", tl.at(rounds*time.Second).Time))
			g.Expect(got.Status.Conditions).To(HaveLen(len(controllers.ConditionTypes)))
			g.Expect(got.Status.Conditions).To(ContainElement(And(
				HaveField("Type", sPaused), HaveField("Status", metav1.ConditionFalse),
				HaveField("Reason", BeElementOf(vmv1.ReasonResumed, vmv1.ReasonRunning)))))

			// Ownership as the contract says: the controller owns only
			// conditions and observedGeneration; the agent everything else.
			g.Expect(statusFieldsOwnedBy(got, controllers.FieldManager)).To(ConsistOf("f:conditions", "f:observedGeneration"))
			g.Expect(statusFieldsOwnedBy(got, agentManager)).To(ContainElements("f:runState", "f:eventCounts", "f:monitor"))
			g.Expect(statusFieldsOwnedBy(got, agentManager)).NotTo(ContainElements("f:conditions"))
			g.Expect(statusFieldsOwnedBy(got, agentManager)).NotTo(ContainElements("f:observedGeneration"))
		}).Should(Succeed())
		noDuplicateEvents(vm)

		By("an agent write without conditions leaves them in place")
		st := healthyFacts(tl)
		st.EventCounts = map[string]int64{"RTC_CHANGE": rounds + 1}
		applyFacts(vm, st)
		Eventually(func(g Gomega) map[string]int64 { return getVM(g, vm).Status.EventCounts }).Should(HaveKeyWithValue("RTC_CHANGE", BeEquivalentTo(rounds+1)))
		Expect(getVM(Default, vm).Status.Conditions).To(HaveLen(len(controllers.ConditionTypes)))
	})
})

package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/controllers"
)

// kstatusOf computes the VM's health as GitOps tools (Flux, cli-utils'
// kstatus) do, on the object as the API server returns it.
func kstatusOf(g Gomega, vm *vmv1.VirtualMachine) status.Status {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(getVM(g, vm))
	g.Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

var _ = Describe("kstatus (sigs.k8s.io/cli-utils) on VMs read from the API server", func() {
	It("is InProgress while the agent has not reported (Ready Unknown, AwaitingFacts), Current once healthy", func() {
		vm := newVM("kstatus", nodeA)
		expectConditions(vm, map[string]string{vmv1.ConditionReady: "Unknown/AwaitingFacts"})
		Expect(kstatusOf(Default, vm)).To(Equal(status.InProgressStatus))

		applyFacts(vm, healthyFacts(newTimeline()))
		expectConditions(vm, healthyConditions)
		Expect(kstatusOf(Default, vm)).To(Equal(status.CurrentStatus))
	})

	It("is Failed for a VM whose monitor the agent refuses, Current again once fixed", func() {
		vm := newVM("kstatus", nodeA)
		tl := newTimeline()
		st := healthyFacts(tl)
		monitorIn(vmv1.MonitorRefused, "/tmp/evil.qmp is outside the trusted socket roots [/run/vmevents]")(tl, &st)
		applyFacts(vm, st)
		expectConditions(vm, map[string]string{vmv1.ConditionStalled: "True/MonitorRefused"})
		Expect(kstatusOf(Default, vm)).To(Equal(status.FailedStatus))

		applyFacts(vm, healthyFacts(tl))
		expectConditions(vm, map[string]string{vmv1.ConditionStalled: "False/Recovered", vmv1.ConditionReady: "True/Running"})
		Expect(kstatusOf(Default, vm)).To(Equal(status.CurrentStatus))
	})

	It("is InProgress for a runtime fault, as for any Ready False: only Stalled says waiting will not help", func() {
		vm := newVM("kstatus", nodeA)
		tl := newTimeline()
		st := healthyFacts(tl)
		panickedAt("pause", time.Second, "")(tl, &st)
		stoppedIn("guest-panicked", time.Second)(tl, &st)
		applyFacts(vm, st)
		expectConditions(vm, map[string]string{vmv1.ConditionReady: "False/GuestPanicked", vmv1.ConditionStalled: "False/NotStalled"})
		Expect(kstatusOf(Default, vm)).To(Equal(status.InProgressStatus))
	})
})

var _ = Describe("transition Events for older readers", func() {
	It("fills core/v1's firstTimestamp, lastTimestamp, count and source", func() {
		vm := newVM("legacy", nodeA)
		applyFacts(vm, healthyFacts(newTimeline()))
		expectConditions(vm, healthyConditions)
		// Read as kubectl describe and kubectl get events do: core/v1.
		Eventually(func(g Gomega) {
			var list corev1.EventList
			g.Expect(env.Client.List(ctx, &list, client.InNamespace(vm.Namespace))).To(Succeed())
			seen := 0
			for _, e := range list.Items {
				if e.InvolvedObject.UID != vm.UID || e.ReportingController != controllers.ReportingController {
					continue
				}
				seen++
				g.Expect(e.LastTimestamp.IsZero()).To(BeFalse(), "lastTimestamp of %s", e.Name)
				g.Expect(e.FirstTimestamp.Time).To(Equal(e.LastTimestamp.Time))
				g.Expect(e.LastTimestamp.Time).To(Equal(e.EventTime.Time.Truncate(time.Second)))
				g.Expect(e.Count).To(BeEquivalentTo(1))
				g.Expect(e.Source.Component).To(Equal(controllers.SourceComponent))
			}
			g.Expect(seen).To(Equal(2)) // MonitorConnected and Ready True

			// The same objects through events.k8s.io/v1: the deprecated* fields.
			var newer eventsv1.EventList
			g.Expect(env.Client.List(ctx, &newer, client.InNamespace(vm.Namespace))).To(Succeed())
			for _, e := range newer.Items {
				if e.Regarding.UID != vm.UID || e.ReportingController != controllers.ReportingController {
					continue
				}
				g.Expect(e.DeprecatedLastTimestamp.IsZero()).To(BeFalse())
				g.Expect(e.DeprecatedFirstTimestamp.Time).To(Equal(e.DeprecatedLastTimestamp.Time))
				g.Expect(e.DeprecatedCount).To(BeEquivalentTo(1))
				g.Expect(e.DeprecatedSource.Component).To(Equal(controllers.SourceComponent))
			}
		}).Should(Succeed())
	})
})

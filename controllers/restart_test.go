package controllers_test

import (
	"context"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/controllers"
)

// counterValue reads a counter of the controller's metrics.
func counterValue(name string, labels map[string]string) float64 {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue metric
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// eventCreates counts the transition Event creates a controller sends, by
// the UID of the VM they regard, whatever the API server answers.
type eventCreates struct {
	mu   sync.Mutex
	byVM map[types.UID]int
}

// of returns the creates sent for the VM with uid.
func (e *eventCreates) of(uid types.UID) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byVM[uid]
}

// wrap is a startController wrap: the controller's creates are counted.
func (e *eventCreates) wrap(c client.Client) client.Client {
	return &countingClient{Client: c, counts: e}
}

type countingClient struct {
	client.Client
	counts *eventCreates
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if ev, ok := obj.(*corev1.Event); ok {
		c.counts.mu.Lock()
		if c.counts.byVM == nil {
			c.counts.byVM = map[types.UID]int{}
		}
		c.counts.byVM[ev.InvolvedObject.UID]++
		c.counts.mu.Unlock()
	}
	return c.Client.Create(ctx, obj, opts...)
}

var _ = Describe("restarting the controller", func() {
	It("creates no Event that exists, repairs the one a crash left missing, and leaves the conditions alone", func() {
		vm := newVM("restart", nodeA)
		tl := newTimeline()
		applyFacts(vm, healthyFacts(tl))
		expectConditions(vm, healthyConditions)

		panicked := healthyFacts(tl)
		panickedAt("pause", time.Second, "")(tl, &panicked)
		stoppedIn("guest-panicked", time.Second)(tl, &panicked)
		applyFacts(vm, panicked)
		expectConditions(vm, map[string]string{sPanic: "True/Pause", sPaused: "True/GuestPanicked", sReady: "False/GuestPanicked"})
		want := []string{"GuestPanicked=True:Warning", "MonitorConnected=True:Normal", "Paused=True:Warning", "Ready=False:Warning", "Ready=True:Normal"}
		Eventually(func(g Gomega) []string { return transitionEvents(g, vm) }).Should(ConsistOf(want))
		before := getVM(Default, vm)

		By("stopping the controller, and losing one Event as if it crashed between the status and the Event")
		stopController()
		var list eventsv1.EventList
		Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		var lost *eventsv1.Event
		for i, e := range list.Items {
			if e.Regarding.UID == vm.UID && e.Labels[controllers.LabelConditionType] == vmv1.ConditionGuestPanicked {
				lost = &list.Items[i]
			}
		}
		Expect(lost).NotTo(BeNil())
		Expect(env.Client.Delete(ctx, lost)).To(Succeed())
		exists := counterValue("vmevents_transition_events_total", map[string]string{"result": "already_exists"})

		By("starting a new controller (a new leader), counting the Events it creates")
		creates := &eventCreates{}
		stopController = startController("controller-2", creates.wrap)

		// The new controller re-creates the lost Event under the same name.
		Eventually(func(g Gomega) []string { return transitionEvents(g, vm) }).Should(ConsistOf(want))
		var again eventsv1.Event
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(lost), &again)).To(Succeed())
		Expect(again.ReportingInstance).To(Equal("controller-2"))
		Expect(again.EventTime.Time).To(BeTemporally("==", lost.EventTime.Time))

		// It wrote nothing: same conditions, same lastTransitionTimes, same version.
		after := getVM(Default, vm)
		Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
		Expect(after.Status.Conditions).To(Equal(before.Status.Conditions))

		By("the next flips are recorded once each")
		recovered := healthyFacts(tl)
		panickedAt("pause", time.Second, "")(tl, &recovered)
		resetAt(2*time.Second)(tl, &recovered)
		resumedAt(2*time.Second)(tl, &recovered)
		applyFacts(vm, recovered)
		expectConditions(vm, map[string]string{sPanic: "False/Recovered", sPaused: "False/Resumed", sReady: "True/Running"})
		Eventually(func(g Gomega) []string { return transitionEvents(g, vm) }).Should(ConsistOf(append(want,
			"GuestPanicked=False:Normal", "Paused=False:Normal", "Ready=True:Normal")))
		noDuplicateEvents(vm)

		// One VM is never reconciled twice at once, so the new
		// controller's first reconcile was over before the one that
		// recorded the recovery began: every create it sent is counted.
		// The lost Event and the three new flips, and none for the three
		// current states whose Events existed (MonitorConnected True,
		// Paused True, Ready False), which a restart used to re-create
		// only to be told AlreadyExists.
		Expect(creates.of(vm.UID)).To(Equal(1 + 3))
		Expect(counterValue("vmevents_transition_events_total", map[string]string{"result": "already_exists"})).To(Equal(exists))
	})
})

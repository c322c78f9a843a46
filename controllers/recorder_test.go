package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/scheme"
)

func TestEventRecorderEnsure(t *testing.T) {
	creates := 0
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			creates++
			return cl.Create(ctx, obj, opts...)
		},
	}).Build()
	vm := &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: "ns", UID: "uid-1"}}
	now := t0
	conds := []metav1.Condition{
		{Type: panics, Status: "True", Reason: ReasonPause, LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))},
		{Type: ready, Status: "False", Reason: "GuestPanicked", LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))},
		{Type: wdog, Status: "False", Reason: ReasonNotExpired, LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}, // not a flip worth an Event
		{Type: mon, Status: "True", Reason: ReasonConnected, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))},      // outside the window
	}

	r := newEventRecorder(c, "pod-1", 15*time.Minute)
	if err := r.ensure(context.Background(), vm, conds, now); err != nil {
		t.Fatal(err)
	}
	var list eventsv1.EventList
	if err := c.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	if creates != 2 || len(list.Items) != 2 {
		t.Fatalf("%d creates, %d Events; want 2 and 2 (GuestPanicked True, Ready False)", creates, len(list.Items))
	}

	// Known Events cost no API call.
	if err := r.ensure(context.Background(), vm, conds, now.Add(time.Second)); err != nil || creates != 2 {
		t.Fatalf("second ensure: err %v, %d creates; want none", err, creates)
	}

	// A new process (a new leader) tries again, and the API server's
	// AlreadyExists keeps it from making duplicates.
	r2 := newEventRecorder(c, "pod-2", 15*time.Minute)
	if err := r2.ensure(context.Background(), vm, conds, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	if creates != 4 || len(list.Items) != 2 {
		t.Fatalf("after a restart: %d creates, %d Events; want 4 and still 2", creates, len(list.Items))
	}
}

func gaugeValue(t *testing.T, g *prometheus.GaugeVec, labels ...string) float64 {
	t.Helper()
	m, err := g.GetMetricWithLabelValues(labels...)
	if err != nil {
		t.Fatal(err)
	}
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetGauge().GetValue()
}

func TestConditionCounter(t *testing.T) {
	c := newConditionCounter()
	a, b := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}
	readyTrue := []metav1.Condition{{Type: ready, Status: "True", Reason: ReasonReady}}
	readyFalse := []metav1.Condition{{Type: ready, Status: "False", Reason: "GuestPanicked"}}

	c.set(a, readyTrue)
	c.set(b, readyTrue)
	c.set(a, readyTrue) // the same VM again counts once
	if v := gaugeValue(t, conditionsGauge, ready, "True", ReasonReady); v != 2 {
		t.Fatalf("Ready True = %v, want 2", v)
	}
	c.set(a, readyFalse)
	if v := gaugeValue(t, conditionsGauge, ready, "True", ReasonReady); v != 1 {
		t.Fatalf("Ready True = %v, want 1", v)
	}
	c.forget(a)
	c.forget(b)
	if n := testCollect(conditionsGauge); n != 0 {
		t.Fatalf("%d series left after every VM was forgotten; want none", n)
	}
}

// testCollect counts the series a collector exports.
func testCollect(col prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	col.Collect(ch)
	close(ch)
	n := 0
	for range ch {
		n++
	}
	return n
}

package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/scheme"
)

func TestEventRecorderEnsure(t *testing.T) {
	api := newFakeAPI(t0)
	vm, conds := recorderVM()

	r := newEventRecorder(api, api, "pod-1", 15*time.Minute)
	if err := r.ensure(context.Background(), vm, conds, t0); err != nil {
		t.Fatal(err)
	}
	if api.creates != 2 || api.events(t) != 2 || api.lists != 1 {
		t.Fatalf("%d creates, %d Events, %d lists; want 2 (GuestPanicked True, Ready False), 2 and 1", api.creates, api.events(t), api.lists)
	}

	// Known Events cost no API call.
	if err := r.ensure(context.Background(), vm, conds, t0.Add(time.Second)); err != nil || api.creates != 2 || api.lists != 1 {
		t.Fatalf("second ensure: err %v, %d creates, %d lists; want no call", err, api.creates, api.lists)
	}
}

// ensure plans and records at once what a reconcile hands the writer.
func (r *eventRecorder) ensure(ctx context.Context, vm *vmv1.VirtualMachine, conds []metav1.Condition, now time.Time) error {
	for _, p := range r.plan(vm, conds, now) {
		if err := r.record(ctx, p, now); err != nil {
			return err
		}
	}
	return nil
}

// recorderVM is a VM whose persisted conditions deserve two Events.
func recorderVM() (*vmv1.VirtualMachine, []metav1.Condition) {
	vm := &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: "db-1", Namespace: "ns", UID: "uid-1"}, Status: running()}
	return vm, []metav1.Condition{
		{Type: panics, Status: "True", Reason: vmv1.ReasonPause, LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))},
		{Type: ready, Status: "False", Reason: "GuestPanicked", LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))},
		{Type: wdog, Status: "False", Reason: vmv1.ReasonNotExpired, LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))}, // not a flip worth an Event
		{Type: mon, Status: "True", Reason: vmv1.ReasonConnected, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))},      // outside the window
	}
}

// fakeAPI is a fake API server for the recorder: it stamps
// creationTimestamp as the real one does, counts the creates (whatever
// their answer) and the lists of Event metadata, and fails lists on demand.
type fakeAPI struct {
	client.WithWatch
	now            time.Time
	creates, lists int
	// listErrs are returned by the next lists, one each.
	listErrs []error
}

func newFakeAPI(now time.Time) *fakeAPI {
	f := &fakeAPI{now: now}
	f.WithWatch = fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			f.creates++
			obj.SetCreationTimestamp(metav1.NewTime(f.now))
			return cl.Create(ctx, obj, opts...)
		},
		List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*metav1.PartialObjectMetadataList); ok {
				f.lists++
				if len(f.listErrs) > 0 {
					err := f.listErrs[0]
					f.listErrs = f.listErrs[1:]
					return err
				}
			}
			return cl.List(ctx, list, opts...)
		},
	}).Build()
	return f
}

// events counts the Events stored.
func (f *fakeAPI) events(t *testing.T) int {
	t.Helper()
	var list corev1.EventList
	if err := f.List(context.Background(), &list); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
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
	readyTrue := []metav1.Condition{{Type: ready, Status: "True", Reason: vmv1.ReasonReady}}
	readyFalse := []metav1.Condition{{Type: ready, Status: "False", Reason: "GuestPanicked"}}

	c.set(a, readyTrue)
	c.set(b, readyTrue)
	c.set(a, readyTrue) // the same VM again counts once
	if v := gaugeValue(t, conditionsGauge, ready, "True", vmv1.ReasonReady); v != 2 {
		t.Fatalf("Ready True = %v, want 2", v)
	}
	c.set(a, readyFalse)
	if v := gaugeValue(t, conditionsGauge, ready, "True", vmv1.ReasonReady); v != 1 {
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

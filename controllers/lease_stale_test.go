package controllers

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/heartbeat"
	"github.com/vmevents/vmevents/internal/scheme"
)

// agentLease is node's agent Lease, last renewed at renew (never when
// zero), for seconds.
func agentLease(node string, renew time.Time, seconds int32) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "vmevents-system", Name: heartbeat.LeaseName(node), Labels: heartbeat.Labels(node)}}
	l.Spec.HolderIdentity = ptr.To(node)
	l.Spec.LeaseDurationSeconds = ptr.To(seconds)
	if !renew.IsZero() {
		l.Spec.RenewTime = &metav1.MicroTime{Time: renew}
	}
	return l
}

// manualTimers are timers that fire when the test says.
type manualTimers struct {
	after []time.Duration
	fire  []func()
	live  []bool
}

func (m *manualTimers) afterFunc(d time.Duration, f func()) func() bool {
	i := len(m.fire)
	m.after, m.fire, m.live = append(m.after, d), append(m.fire, f), append(m.live, true)
	return func() bool { was := m.live[i]; m.live[i] = false; return was }
}

// fireLast fires the newest timer, as the runtime would.
func (m *manualTimers) fireLast() {
	i := len(m.fire) - 1
	m.live[i] = false
	m.fire[i]()
}

// leaseReconciler is a reconciler at now whose cache holds objs, and
// whose reads fail with getErr when it is set.
func leaseReconciler(t *testing.T, now time.Time, getErr error, objs ...client.Object) (*VirtualMachineReconciler, *manualTimers) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...).
		WithIndex(&vmv1.VirtualMachine{}, NodeNameField, indexNodeName).
		WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if getErr != nil {
				return getErr
			}
			return c.Get(ctx, key, obj, opts...)
		}}).Build()
	timers := &manualTimers{}
	r := &VirtualMachineReconciler{Client: c, LeaseGrace: 5 * time.Second, Now: func() time.Time { return now }, stale: newStaleTimers()}
	r.stale.afterFunc = timers.afterFunc
	return r, timers
}

func vmObj(name, node string) *vmv1.VirtualMachine {
	return &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: vmv1.VirtualMachineSpec{NodeName: node}}
}

func queued(q workqueue.TypedRateLimitingInterface[reconcile.Request]) []string {
	var names []string
	for q.Len() > 0 {
		req, _ := q.Get()
		names = append(names, req.Name)
		q.Done(req)
	}
	return names
}

func newQueue() workqueue.TypedRateLimitingInterface[reconcile.Request] {
	return workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
}

// A Lease event sets the Lease's timer for its stale moment; an event
// bringing a stale Lease says whether the VMs were still waiting on a timer.
func TestTrackLease(t *testing.T) {
	now := t0
	for _, c := range []struct {
		name    string
		pending bool // a timer was set before
		lease   *coordinationv1.Lease
		want    []time.Duration
		news    bool
	}{
		{"fresh: a timer for when it goes stale", false, agentLease("n1", now.Add(-10*time.Second), 40), []time.Duration{35 * time.Second}, false},
		{"a renewal moves the timer", true, agentLease("n1", now, 40), []time.Duration{10 * time.Second, 45 * time.Second}, false},
		{"stale, nothing pending: the event itself tells", false, agentLease("n1", now.Add(-time.Minute), 40), nil, false},
		{"stale before its timer fired: news for the VMs", true, agentLease("n1", now.Add(-time.Minute), 40), []time.Duration{10 * time.Second}, true},
		{"never renewed: stale", false, agentLease("n1", time.Time{}, 40), nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, timers := leaseReconciler(t, now, nil)
			q := newQueue()
			if c.pending {
				r.armStale(context.Background(), client.ObjectKeyFromObject(c.lease), now.Add(10*time.Second), q)
			}
			if news := r.trackLease(context.Background(), c.lease, q); news != c.news {
				t.Errorf("trackLease says news %v, want %v", news, c.news)
			}
			if !slices.Equal(timers.after, c.want) {
				t.Errorf("timers set %v, want %v", timers.after, c.want)
			}
			if pending := len(r.stale.timers); pending > 1 {
				t.Errorf("%d timers pending for one Lease", pending)
			}
		})
	}
}

// When a Lease's timer fires, the VMs of its node are reconciled, unless
// the Lease is fresh again (set again for what is left), gone, or cannot
// be read (tried again).
func TestStaleTimerFires(t *testing.T) {
	now := t0
	set := agentLease("n1", now.Add(-50*time.Second), 40) // stale at now-5s: what the timer was set for
	key := client.ObjectKeyFromObject(set)
	vms := []client.Object{vmObj("a", "n1"), vmObj("b", "n1"), vmObj("other", "n2")}
	for _, c := range []struct {
		name   string
		cached client.Object // the Lease in the cache when the timer fires
		getErr error
		want   []string
		rearm  time.Duration // the timer set again after, 0: none
	}{
		{"stale: the node's VMs, urgently", set, nil, []string{"a", "b"}, 0},
		{"renewed meanwhile: set again for what is left", agentLease("n1", now.Add(-10*time.Second), 40), nil, nil, 35 * time.Second},
		{"deleted: its Delete event tells", nil, nil, nil, 0},
		{"the cache cannot be read: try again", set, errors.New("cache broken"), nil, staleRetry},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := append([]client.Object{}, vms...)
			if c.cached != nil {
				objs = append(objs, c.cached)
			}
			r, timers := leaseReconciler(t, now, c.getErr, objs...)
			q := newQueue()
			r.armStale(context.Background(), key, now, q)
			timers.fireLast()
			if got := queued(q); !slices.Equal(got, c.want) {
				t.Errorf("reconciled %v, want %v", got, c.want)
			}
			rearmed := timers.after[1:]
			switch {
			case c.rearm == 0 && len(rearmed) > 0:
				t.Errorf("set again after %v, want not", rearmed)
			case c.rearm != 0 && !slices.Equal(rearmed, []time.Duration{c.rearm}):
				t.Errorf("set again after %v, want %s", rearmed, c.rearm)
			}
		})
	}
}

// One timer per Lease: a newer replaces an older, a fired one forgets
// itself, and cancel says whether one was still pending.
func TestStaleTimersKeepOnePerLease(t *testing.T) {
	timers := newStaleTimers()
	m := &manualTimers{}
	timers.afterFunc = m.afterFunc
	l1, l2 := types.NamespacedName{Name: "l1"}, types.NamespacedName{Name: "l2"}
	woken := 0
	wake := func() { woken++ }
	timers.set(l1, time.Second, wake)
	timers.set(l2, time.Second, wake)
	timers.set(l1, 2*time.Second, wake) // a renewal moves l1's timer
	if want := []bool{false, true, true}; !slices.Equal(m.live, want) {
		t.Fatalf("after a renewal, live timers %v, want %v", m.live, want)
	}
	m.fireLast() // l1's
	if woken != 1 || len(timers.timers) != 1 {
		t.Fatalf("after l1 fired: woken %d, %d timers kept; want 1 and 1 (l2's)", woken, len(timers.timers))
	}
	if timers.cancel(l1) {
		t.Errorf("cancel of a fired timer says it was pending")
	}
	if !timers.cancel(l2) {
		t.Errorf("cancel of a pending timer says it was not")
	}
	if timers.cancel(types.NamespacedName{Name: "none"}) {
		t.Errorf("cancel of no timer says it was pending")
	}
}

func TestLivenessChanged(t *testing.T) {
	now := t0
	fresh := agentLease("n1", now.Add(-10*time.Second), 40)
	fresher := agentLease("n1", now, 40)
	stale := agentLease("n1", now.Add(-time.Minute), 40)
	moved := agentLease("n2", now, 40)
	moved.Name = fresh.Name
	r := &VirtualMachineReconciler{LeaseGrace: 5 * time.Second, Now: func() time.Time { return now }}
	for _, c := range []struct {
		name     string
		old, new *coordinationv1.Lease
		want     bool
	}{
		{"a routine renewal of a fresh Lease", fresh, fresher, false},
		{"the agent came back", stale, fresh, true},
		{"a renewal already stale when written", fresh, stale, true},
		{"the Lease speaks for another node now", fresh, moved, true},
	} {
		if got := r.livenessChanged(c.old, c.new); got != c.want {
			t.Errorf("%s: livenessChanged = %v, want %v", c.name, got, c.want)
		}
	}
}

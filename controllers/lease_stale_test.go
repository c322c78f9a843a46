package controllers

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vmevents/vmevents/internal/heartbeat"
)

// agentLease is node's agent Lease, last renewed at renew (never when
// zero), for seconds.
func agentLease(node string, renew time.Time, seconds int32) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "vmevents-system", Name: heartbeat.LeaseName(node), Labels: heartbeat.Labels(node)}}
	l.Spec.LeaseDurationSeconds = ptr.To(seconds)
	if !renew.IsZero() {
		l.Spec.RenewTime = &metav1.MicroTime{Time: renew}
	}
	return l
}

func TestTrackLeaseSetsTheNodesTimer(t *testing.T) {
	const grace = 5 * time.Second
	now := t0
	for _, c := range []struct {
		name      string
		lease     *coordinationv1.Lease
		wantTimer bool
		want      time.Duration
	}{
		{"fresh: wake when it goes stale", agentLease("n1", now.Add(-10*time.Second), 40), true, 35 * time.Second},
		{"stale already: no timer (the event reconciles)", agentLease("n1", now.Add(-time.Minute), 40), false, 0},
		{"never renewed: stale, no timer", agentLease("n1", time.Time{}, 40), false, 0},
		{"not an agent Lease: nothing", &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &VirtualMachineReconciler{LeaseGrace: grace, Now: func() time.Time { return now }, stale: newStaleTimers()}
			var got []time.Duration
			var wakes []func()
			r.stale.afterFunc = func(d time.Duration, f func()) func() bool {
				got, wakes = append(got, d), append(wakes, f)
				return func() bool { return true }
			}
			woken := 0
			enqueue := handler.Funcs{GenericFunc: func(context.Context, event.GenericEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				woken++
			}}
			r.trackLease(context.Background(), c.lease, enqueue, nil)
			if !c.wantTimer {
				if len(got) != 0 {
					t.Fatalf("timer set for %v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0] != c.want {
				t.Fatalf("timers set %v, want one for %s", got, c.want)
			}
			wakes[0]()
			if woken != 1 {
				t.Fatalf("the timer woke the node's VMs %d times, want once", woken)
			}
		})
	}
}

func TestStaleTimersKeepOnePerNode(t *testing.T) {
	timers := newStaleTimers()
	live := map[int]bool{}
	n := 0
	timers.afterFunc = func(time.Duration, func()) func() bool {
		id := n
		n++
		live[id] = true
		return func() bool { was := live[id]; live[id] = false; return was }
	}
	timers.set("n1", time.Second, func() {})
	timers.set("n2", time.Second, func() {})
	timers.set("n1", 2*time.Second, func() {}) // a renewal moves n1's timer
	if want := map[int]bool{0: false, 1: true, 2: true}; !equalBools(live, want) {
		t.Fatalf("after a renewal, live timers %v, want %v", live, want)
	}
	timers.cancel("n2")
	timers.cancel("n3") // none: nothing happens
	if want := map[int]bool{0: false, 1: false, 2: true}; !equalBools(live, want) {
		t.Fatalf("after cancel, live timers %v, want %v", live, want)
	}
}

func equalBools(a, b map[int]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestLivenessChanged(t *testing.T) {
	const grace = 5 * time.Second
	now := t0
	fresh := agentLease("n1", now.Add(-10*time.Second), 40)
	fresher := agentLease("n1", now, 40)
	stale := agentLease("n1", now.Add(-time.Minute), 40)
	moved := agentLease("n2", now, 40)
	moved.Name = fresh.Name
	r := &VirtualMachineReconciler{LeaseGrace: grace, Now: func() time.Time { return now }}
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

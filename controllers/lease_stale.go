package controllers

import (
	"context"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vmevents/vmevents/internal/heartbeat"
)

// staleTimers holds one timer per agent Lease, set for the moment it goes
// stale. When it fires, the VMs of the Lease's node are reconciled and find
// their agent not reporting. One timer per Lease instead of a requeue per
// VM: a renewal (every ~10 s per node) only moves the timer, so idle VMs
// cost no reconcile at all, where each used to be requeued every ~40 s
// (1,000 nodes x 100 VMs: 2,600 reconciles/s and almost 4 cores for
// nothing; docs/benchmarks.md, scenario 7).
type staleTimers struct {
	// afterFunc is time.AfterFunc, returning the timer's Stop.
	afterFunc func(d time.Duration, f func()) (stop func() bool)

	mu     sync.Mutex
	timers map[types.NamespacedName]staleTimer
	next   uint64
}

type staleTimer struct {
	stop func() bool
	id   uint64
}

func newStaleTimers() *staleTimers {
	return &staleTimers{
		afterFunc: func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop },
		timers:    map[types.NamespacedName]staleTimer{},
	}
}

// set replaces the Lease's timer with one calling wake after d. The timer
// forgets itself when it fires, unless a newer one replaced it meanwhile.
func (t *staleTimers) set(lease types.NamespacedName, d time.Duration, wake func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.timers[lease]; ok {
		old.stop()
	}
	t.next++
	id := t.next
	t.timers[lease] = staleTimer{id: id, stop: t.afterFunc(max(d, minRequeue), func() {
		t.mu.Lock()
		if cur, ok := t.timers[lease]; ok && cur.id == id {
			delete(t.timers, lease)
		}
		t.mu.Unlock()
		wake()
	})}
}

// cancel stops the Lease's timer and says whether it was still pending:
// then nobody has told the node's VMs that the Lease went stale yet.
func (t *staleTimers) cancel(lease types.NamespacedName) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.timers[lease]
	if !ok {
		return false
	}
	delete(t.timers, lease)
	return old.stop()
}

// staleRetry is how soon a stale timer tries again after it could not read
// the cache.
const staleRetry = time.Second

// leaseChanges handles agent Lease events: it reconciles the node's VMs,
// in the urgent lane, when the Lease appears, goes away, moves to another
// node or turns fresh or stale, and keeps the Lease's stale timer at its
// stale moment. A routine renewal of a fresh Lease reconciles nothing.
func (r *VirtualMachineReconciler) leaseChanges() handler.EventHandler {
	enqueue := urgentHandler(handler.EnqueueRequestsFromMapFunc(r.vmsForLease))
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.trackLease(ctx, e.Object, q)
			enqueue.Create(ctx, e, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if r.trackLease(ctx, e.ObjectNew, q) || r.livenessChanged(e.ObjectOld, e.ObjectNew) {
				enqueue.Update(ctx, e, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.stale.cancel(client.ObjectKeyFromObject(e.Object))
			enqueue.Delete(ctx, e, q)
		},
	}
}

// trackLease sets obj's stale timer for its stale moment. A Lease already
// stale needs no timer: the event that brought it reconciles the node's
// VMs if its staleness is news. It says whether it is news only because a
// timer was still pending (the Lease went stale between two events, and
// the timer had not fired yet).
func (r *VirtualMachineReconciler) trackLease(ctx context.Context, obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) bool {
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return false
	}
	key := client.ObjectKeyFromObject(lease)
	at, ok := heartbeat.StaleAt(lease, r.LeaseGrace)
	if now := r.now(); !ok || !now.Before(at) {
		return r.stale.cancel(key)
	}
	// controller-runtime cancels a handler's ctx when the handler returns;
	// the timer fires long after. Once the controller stops, its queue
	// takes nothing more, so a late timer adds nothing.
	r.armStale(context.WithoutCancel(ctx), key, at, q)
	return false
}

// armStale sets the Lease's timer for at. When it fires it reads the Lease
// again, as the VMs will: the timer runs on the monotonic clock and the
// Lease on the wall clock, and a renewal may have come meanwhile. Still
// fresh, the timer is set again for what is left.
func (r *VirtualMachineReconciler) armStale(ctx context.Context, key types.NamespacedName, at time.Time, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	r.stale.set(key, at.Sub(r.now()), func() {
		var lease coordinationv1.Lease
		err := r.Client.Get(ctx, key, &lease)
		switch {
		case apierrors.IsNotFound(err):
			return // its Delete event reconciles the VMs
		case err != nil:
			r.armStale(ctx, key, r.now().Add(staleRetry), q)
			return
		}
		if next, ok := heartbeat.StaleAt(&lease, r.LeaseGrace); ok && r.now().Before(next) {
			r.armStale(ctx, key, next, q)
			return
		}
		node, ok := heartbeat.Node(&lease)
		if !ok {
			return
		}
		reqs, err := r.vmsOnNode(ctx, node)
		if err != nil {
			r.armStale(ctx, key, r.now().Add(staleRetry), q)
			return
		}
		urgent := urgently(q)
		for _, req := range reqs {
			urgent.Add(req)
		}
	})
}

// livenessChanged says whether a Lease update can change a condition by
// itself: it speaks for another node now, or turned fresh or stale. A
// renewal that only moves the stale moment is the timer's business.
func (r *VirtualMachineReconciler) livenessChanged(old, new client.Object) bool {
	oldL, ok1 := old.(*coordinationv1.Lease)
	newL, ok2 := new.(*coordinationv1.Lease)
	if !ok1 || !ok2 {
		return true
	}
	oldNode, _ := heartbeat.Node(oldL)
	newNode, _ := heartbeat.Node(newL)
	if oldNode != newNode {
		return true
	}
	now := r.now()
	return heartbeat.Stale(oldL, now, r.LeaseGrace) != heartbeat.Stale(newL, now, r.LeaseGrace)
}

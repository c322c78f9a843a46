package controllers

import (
	"context"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vmevents/vmevents/internal/heartbeat"
)

// staleTimers holds one timer per node, set for the moment its agent Lease
// goes stale. When it fires, the node's VMs are reconciled and find their
// agent not reporting. One timer per node instead of a requeue per VM: a
// renewal (every ~10 s per node) only moves the node's timer, so idle VMs
// cost no reconcile at all, where each used to be requeued every ~40 s
// (1,000 nodes x 100 VMs: 2,600 reconciles/s and almost 4 cores for
// nothing; docs/benchmarks.md, scenario 7).
type staleTimers struct {
	// afterFunc is time.AfterFunc, returning the timer's Stop.
	afterFunc func(d time.Duration, f func()) (stop func() bool)

	mu    sync.Mutex
	stops map[string]func() bool
}

func newStaleTimers() *staleTimers {
	return &staleTimers{
		afterFunc: func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop },
		stops:     map[string]func() bool{},
	}
}

// set replaces node's timer with one calling wake after d.
func (t *staleTimers) set(node string, d time.Duration, wake func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if stop, ok := t.stops[node]; ok {
		stop()
	}
	t.stops[node] = t.afterFunc(max(d, minRequeue), wake)
}

// cancel stops node's timer, if it has one.
func (t *staleTimers) cancel(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if stop, ok := t.stops[node]; ok {
		stop()
		delete(t.stops, node)
	}
}

// leaseChanges handles agent Lease events: it reconciles the node's VMs,
// in the urgent lane, when the Lease appears, goes away or turns fresh or
// stale, and keeps the node's stale timer at the Lease's stale moment. A
// routine renewal of a fresh Lease reconciles nothing.
func (r *VirtualMachineReconciler) leaseChanges() handler.EventHandler {
	enqueue := urgentHandler(handler.EnqueueRequestsFromMapFunc(r.vmsForLease))
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.trackLease(ctx, e.Object, enqueue, q)
			enqueue.Create(ctx, e, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			r.trackLease(ctx, e.ObjectNew, enqueue, q)
			if r.livenessChanged(e.ObjectOld, e.ObjectNew) {
				enqueue.Update(ctx, e, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if node, ok := leaseNode(e.Object); ok {
				r.stale.cancel(node)
			}
			enqueue.Delete(ctx, e, q)
		},
	}
}

// trackLease sets the stale timer of obj's node: at its stale moment, the
// node's VMs are reconciled. A Lease already stale needs no timer; the
// event that brought it reconciles them.
func (r *VirtualMachineReconciler) trackLease(ctx context.Context, obj client.Object, enqueue handler.EventHandler, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	node, ok := leaseNode(obj)
	if !ok {
		return
	}
	at, ok := heartbeat.StaleAt(obj.(*coordinationv1.Lease), r.LeaseGrace)
	now := r.now()
	if !ok || !now.Before(at) {
		r.stale.cancel(node)
		return
	}
	// controller-runtime cancels a handler's ctx when the handler returns;
	// the timer fires long after. Once the controller stops, its queue
	// takes nothing more, so a late timer adds nothing.
	ctx = context.WithoutCancel(ctx)
	r.stale.set(node, at.Sub(now), func() {
		enqueue.Generic(ctx, event.GenericEvent{Object: obj}, q)
	})
}

// leaseNode is the node an agent Lease speaks for.
func leaseNode(obj client.Object) (string, bool) {
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return "", false
	}
	return heartbeat.Node(lease)
}

// livenessChanged says whether a Lease update can change a condition by
// itself: it moved to another node, or turned fresh or stale. A renewal
// that only moves the stale moment is the timer's business.
func (r *VirtualMachineReconciler) livenessChanged(old, new client.Object) bool {
	oldL, ok1 := old.(*coordinationv1.Lease)
	newL, ok2 := new.(*coordinationv1.Lease)
	if !ok1 || !ok2 {
		return true
	}
	if oldL.Labels[heartbeat.NodeLabel] != newL.Labels[heartbeat.NodeLabel] {
		return true
	}
	now := r.now()
	return heartbeat.Stale(oldL, now, r.LeaseGrace) != heartbeat.Stale(newL, now, r.LeaseGrace)
}

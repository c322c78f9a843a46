package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// The controller's queue has lanes, as the agent's writers do: a change
// that may flip a condition (a panic, a watchdog, a pause, an I/O error,
// the monitor or the agent's liveness, the spec) is reconciled before
// every routine one (counters, the controller's own writes). Under a load
// of a thousand VMs whose counters move all the time, a panic then waits
// for the reconciles in flight, not for the whole queue.

// urgentPriority is the urgent lane's priority in the controller's
// priority queue; routine changes have the default, 0, and the initial
// list controller-runtime's handler.LowPriority.
const urgentPriority = 1

// vmChanges enqueues a VirtualMachine as controller-runtime's
// EnqueueRequestForObject does, an update in the urgent lane when
// urgentChange says so.
func vmChanges() handler.EventHandler {
	enqueue := &handler.EnqueueRequestForObject{}
	return handler.Funcs{
		CreateFunc: enqueue.Create,
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if urgentChange(e.ObjectOld, e.ObjectNew) {
				q = urgently(q)
			}
			enqueue.Update(ctx, e, q)
		},
		DeleteFunc:  enqueue.Delete,
		GenericFunc: enqueue.Generic,
	}
}

// urgentHandler is h with every request it adds in the urgent lane.
func urgentHandler(h handler.EventHandler) handler.EventHandler {
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Create(ctx, e, urgently(q))
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Update(ctx, e, urgently(q))
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Delete(ctx, e, urgently(q))
		},
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Generic(ctx, e, urgently(q))
		},
	}
}

// urgently is q adding in the urgent lane what is added without a
// priority; q itself if it is not a priority queue.
func urgently(q workqueue.TypedRateLimitingInterface[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		return urgentQueue{pq}
	}
	return q
}

type urgentQueue struct {
	priorityqueue.PriorityQueue[reconcile.Request]
}

func (q urgentQueue) AddWithOpts(o priorityqueue.AddOpts, items ...reconcile.Request) {
	if o.Priority == nil {
		o.Priority = ptr.To(urgentPriority)
	}
	q.PriorityQueue.AddWithOpts(o, items...)
}

func (q urgentQueue) Add(item reconcile.Request) { q.AddWithOpts(priorityqueue.AddOpts{}, item) }

// urgentChange says whether a VM's update may change a condition: its spec
// or deletion, or any status fact but the routine ones (routineFree).
func urgentChange(old, new client.Object) bool {
	o, ok1 := old.(*vmv1.VirtualMachine)
	n, ok2 := new.(*vmv1.VirtualMachine)
	if !ok1 || !ok2 {
		return true
	}
	if o.Generation != n.Generation || !o.DeletionTimestamp.Equal(n.DeletionTimestamp) {
		return true
	}
	return !equality.Semantic.DeepEqual(routineFree(o.Status), routineFree(n.Status))
}

// routineFree is a status without what moves all the time and decides no
// condition: the counters the agent writes in its routine lane (as
// qmpagent/model's Urgent leaves them out) and the controller's own fields,
// whose writes come back as updates.
func routineFree(s vmv1.VirtualMachineStatus) vmv1.VirtualMachineStatus {
	s.EventCounts = nil
	s.Delivery = nil
	s.RTCOffsetSeconds = nil
	s.BalloonActualBytes = nil
	s.Conditions = nil
	s.ObservedGeneration = 0
	if s.Monitor != nil {
		m := *s.Monitor
		m.LastEventTime = nil
		s.Monitor = &m
	}
	// More errors of a kind a device already had: the agent writes them
	// with its counters when they repeat within a minute (qmpagent/model's
	// RepeatWindow). One that comes back after the I/O error window closed
	// does flip IOError, and is reconciled after the urgent changes only.
	if s.BlockErrors != nil {
		errs := make([]vmv1.BlockError, len(s.BlockErrors))
		for i, b := range s.BlockErrors {
			b.Count, b.LastTime = 0, nil
			errs[i] = b
		}
		s.BlockErrors = errs
	}
	return s
}

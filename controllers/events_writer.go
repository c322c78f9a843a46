package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// eventWriter creates the transition and remediation Events off the
// reconcile. A reconcile that flipped a condition used to wait for its
// apply and then for one or two Event creates; under a saturated API server
// each is a round trip of hundreds of milliseconds, and the faults queued
// behind it waited for all three. Now the reconcile plans the Events from
// the VM as persisted (cheap, in memory) and hands them to the writer.
//
// Nothing is lost by not waiting. The Events are planned when the state is
// persisted, so a condition that flips again before the writer gets to the
// VM still has both flips told. The writer keeps them until created and
// retries with backoff; Event names are deterministic (events.go), so a
// retry or a second writer never duplicates. What a process exit leaves
// unwritten is repaired by the next leader's first reconcile of each VM
// (within the repair window), as before.
type eventWriter struct {
	rec     *eventRecorder
	now     func() time.Time
	workers int
	queue   workqueue.TypedRateLimitingInterface[types.NamespacedName]
	// pacer holds the workers back while the API server answers slowly.
	pacer *eventPacer

	mu sync.Mutex
	// pending are the planned Events of each VM not yet created, oldest
	// first.
	pending map[types.NamespacedName][]plannedEvent
	// busy counts the VMs whose Events a worker is creating: with pending
	// and the queue, it tells when the writer is idle.
	busy int
}

// eventWriterWorkers is how many VMs' Events the writer creates at once.
const eventWriterWorkers = 4

func newEventWriter(rec *eventRecorder, now func() time.Time, workers int) *eventWriter {
	return &eventWriter{
		rec:     rec,
		now:     now,
		workers: workers,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName](),
			workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: "transition_events"}),
		pending: map[types.NamespacedName][]plannedEvent{},
		pacer:   newEventPacer(workers),
	}
}

// submit plans the Events of vm as persisted at now (conds its owned
// conditions) and queues those not already pending.
func (w *eventWriter) submit(vm *vmv1.VirtualMachine, conds []metav1.Condition, now time.Time) {
	planned := w.rec.plan(vm, conds, now)
	if len(planned) == 0 {
		return
	}
	key := types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}
	w.mu.Lock()
	w.pending[key] = appendNew(w.pending[key], planned)
	w.mu.Unlock()
	w.queue.Add(key)
}

// appendNew appends to list the Events of more it does not hold yet.
func appendNew(list, more []plannedEvent) []plannedEvent {
	for _, p := range more {
		dup := false
		for _, q := range list {
			if q.ev.Name == p.ev.Name {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, p)
		}
	}
	return list
}

// Start runs the workers until ctx ends (manager.Runnable; it needs the
// leader election, as the reconciler does).
func (w *eventWriter) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range w.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w.next(ctx) {
			}
		}()
	}
	w.pacer.stopWhen(ctx)
	w.queue.ShutDown()
	wg.Wait()
	return nil
}

// next creates the pending Events of one VM; false once the queue is shut
// down.
func (w *eventWriter) next(ctx context.Context) bool {
	key, shutdown := w.queue.Get()
	if shutdown {
		return false
	}
	defer w.queue.Done(key)
	w.mu.Lock()
	todo := w.pending[key]
	delete(w.pending, key)
	w.busy++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.busy--
		w.mu.Unlock()
	}()

	for i, p := range todo {
		err := w.create(ctx, p)
		switch {
		case err == nil:
		case errors.Is(err, errWriterStopped):
			// Left for the next leader's repair, as a crash leaves them.
			return false
		case refused(err):
			// Asking again would be refused again.
			reconcileErrorsTotal.WithLabelValues("events").Inc()
			ctrl.LoggerFrom(ctx).Error(err, "the API server refused an Event; not retrying", "VirtualMachine", key)
		default:
			reconcileErrorsTotal.WithLabelValues("events").Inc()
			ctrl.LoggerFrom(ctx).Error(err, "recording Events; will retry", "VirtualMachine", key)
			w.mu.Lock()
			w.pending[key] = appendNew(todo[i:], w.pending[key])
			w.mu.Unlock()
			w.queue.AddRateLimited(key)
			return true
		}
	}
	w.queue.Forget(key)
	return true
}

// errWriterStopped is a create not made because the writer stops.
var errWriterStopped = errors.New("the event writer stops")

// create creates one planned Event when the pacer gives it a place.
func (w *eventWriter) create(ctx context.Context, p plannedEvent) error {
	if !w.pacer.enter() {
		return errWriterStopped
	}
	start := time.Now()
	err := w.rec.record(ctx, p, w.now())
	w.pacer.leave(time.Since(start))
	return err
}

// refused says whether the API server refused a write for what it is, not
// for a passing condition.
func refused(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err)
}

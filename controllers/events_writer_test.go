package controllers

import (
	"context"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/test/framework/poll"
)

// TestEventWriter: the writer creates the Events a reconcile hands it,
// retries what failed for a passing reason, and gives up on what the API
// server refused.
func TestEventWriter(t *testing.T) {
	events := schema.GroupResource{Resource: "events"}
	for _, tc := range []struct {
		name string
		// errs are the answers to the first creates, one each; then nil.
		errs        []error
		wantEvents  int
		wantCreates int
	}{
		{name: "written", wantEvents: 2, wantCreates: 2},
		{name: "retried after a timeout", errs: []error{apierrors.NewServerTimeout(events, "create", 1)}, wantEvents: 2, wantCreates: 3},
		{name: "refused: that one dropped, not retried", errs: []error{apierrors.NewInvalid(schema.GroupKind{Kind: "Event"}, "x", nil)}, wantEvents: 1, wantCreates: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t0)
			var mu sync.Mutex
			creates, errs := 0, tc.errs
			api.WithWatch = interceptor.NewClient(api.WithWatch, interceptor.Funcs{
				Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					mu.Lock()
					defer mu.Unlock()
					creates++
					if len(errs) > 0 {
						err := errs[0]
						errs = errs[1:]
						return err
					}
					return cl.Create(ctx, obj, opts...)
				},
			})
			w := newEventWriter(newEventRecorder(api, api, "pod-1", 15*time.Minute), func() time.Time { return t0 }, 1)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = w.Start(ctx) }()
			defer func() { cancel(); <-done }()

			vm, conds := recorderVM()
			w.submit(vm, conds, t0)
			poll.Until(t, "the writer is done with the VM", func() bool { return writerIdle(w) })
			mu.Lock()
			defer mu.Unlock()
			if got := api.events(t); got != tc.wantEvents || creates != tc.wantCreates {
				t.Fatalf("%d Events after %d creates; want %d after %d", got, creates, tc.wantEvents, tc.wantCreates)
			}
		})
	}
}

// A condition that flips back before the writer gets to the VM still has
// both flips told: the Events are planned from each persisted state.
func TestEventWriterTellsEveryFlip(t *testing.T) {
	api := newFakeAPI(t0)
	w := newEventWriter(newEventRecorder(api, api, "pod-1", 15*time.Minute), func() time.Time { return t0 }, 1)
	vm, conds := recorderVM()
	w.submit(vm, conds, t0) // GuestPanicked True, Ready False
	recovered := append([]metav1.Condition(nil), conds...)
	recovered[0] = metav1.Condition{Type: panics, Status: "False", Reason: vmv1.ReasonRecovered, LastTransitionTime: metav1.NewTime(t0)}
	recovered[1] = metav1.Condition{Type: ready, Status: "True", Reason: vmv1.ReasonReady, LastTransitionTime: metav1.NewTime(t0)}
	w.submit(vm, recovered, t0)
	w.submit(vm, recovered, t0) // the same state again plans nothing new

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Start(ctx) }()
	defer func() { cancel(); <-done }()
	poll.Until(t, "the writer is done with the VM", func() bool { return writerIdle(w) })
	if got := api.events(t); got != 4 || api.creates != 4 {
		t.Fatalf("%d Events after %d creates; want both flips of both conditions: 4 after 4", got, api.creates)
	}
}

// writerIdle: nothing pending, queued or being created.
func writerIdle(w *eventWriter) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending) == 0 && w.busy == 0 && w.queue.Len() == 0
}

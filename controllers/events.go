package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// Transition Events.
//
// Every condition flip is recorded once as an events.k8s.io/v1 Event on the
// VM, also across controller restarts and leader changes. The Event's name
// is derived from (VM uid, condition type, status, lastTransitionTime), so
// creating it a second time fails with AlreadyExists instead of making a
// duplicate: the API server itself is the deduplication. The status is
// patched first and the Events are ensured afterwards from the persisted
// conditions, so a crash in between is repaired by the next reconcile (by
// this process or the next leader) without duplicates.
//
// Why not controller-runtime's mgr.GetEventRecorder (client-go's
// tools/events recorder)? It names Events "<object>.<unix nanoseconds>",
// so two processes recording the same flip make two Events; it is
// fire-and-forget (a broadcaster with a bounded queue that drops, errors
// never reach the caller), so a failed write cannot be retried by the
// reconcile; and it folds "isomorphic" events into a series, discarding the
// later notes. None of that can give "once per flip". Creating the Event
// with the client is one synchronous call whose outcome is known.
const (
	// ReportingController is the reportingController of the controller's Events.
	ReportingController = "vmevents.dev/controller"
	// EventAction is the action of every transition Event.
	EventAction = "ConditionChanged"
	// LabelConditionType and LabelConditionStatus label each transition
	// Event with the condition it records, for `kubectl get events -l`.
	LabelConditionType   = "vmevents.dev/condition-type"
	LabelConditionStatus = "vmevents.dev/condition-status"

	// DefaultEventRepairWindow is how far back the controller makes sure
	// transitions have their Event. It must stay below the API server's
	// --event-ttl (1h by default): past the TTL the Event is gone and
	// creating it again would be a duplicate. A crash between the status
	// patch and the Event is repaired within seconds, so minutes suffice.
	DefaultEventRepairWindow = 15 * time.Minute

	// noteLimit is the API server's limit on an Event's note.
	noteLimit = 1024
)

// faultPauses are the Paused reasons that are faults (Warning Events); the
// others (user, migration, suspend, shutdown...) are operations (Normal).
var faultPauses = map[string]bool{
	ReasonIOError: true, ReasonWatchdog: true, ReasonGuestPanicked: true,
	ReasonDebug: true, ReasonInternalError: true, ReasonUnknownCause: true,
}

// eventTypeFor says which Event a condition in its current state deserves:
// Warning when entering a fault, Normal when leaving it or for an
// operational change, "" when the state is not a flip worth telling. It
// depends only on the persisted condition, so that a restarted controller
// judges a transition it did not see exactly as the one that made it.
//
// States that are not worth an Event are those a condition starts in:
// AwaitingFacts, and False with "never happened" reasons (NoPanic,
// NotExpired, NoIOError, Paused False Running). Leaving a fault uses
// reasons of its own (Recovered, Resumed) so it stays distinguishable.
func eventTypeFor(c metav1.Condition) string {
	if c.Reason == ReasonAwaitingFacts {
		return ""
	}
	switch c.Type {
	case vmv1.ConditionReady, vmv1.ConditionMonitorConnected:
		if c.Status == metav1.ConditionTrue {
			return corev1.EventTypeNormal
		}
		return corev1.EventTypeWarning
	case vmv1.ConditionPaused:
		switch {
		case c.Status == metav1.ConditionTrue && faultPauses[c.Reason]:
			return corev1.EventTypeWarning
		case c.Status == metav1.ConditionTrue:
			return corev1.EventTypeNormal
		case c.Status == metav1.ConditionUnknown:
			return corev1.EventTypeWarning
		case c.Reason == ReasonResumed:
			return corev1.EventTypeNormal
		}
		return ""
	default: // GuestPanicked, WatchdogExpired, IOError
		switch {
		case c.Status == metav1.ConditionTrue:
			return corev1.EventTypeWarning
		case c.Status == metav1.ConditionFalse && c.Reason == ReasonRecovered:
			return corev1.EventTypeNormal
		}
		return ""
	}
}

// eventName is the deterministic name of the Event for c's current state:
// "<vm>.<hash of uid, type, status, lastTransitionTime>". The reason is
// left out on purpose: it may change in place without a flip.
func eventName(vm *vmv1.VirtualMachine, c metav1.Condition) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", vm.UID, c.Type, c.Status, c.LastTransitionTime.UTC().Format(time.RFC3339))
	suffix := "." + hex.EncodeToString(h.Sum(nil))[:20]
	name := vm.Name
	if max := 253 - len(suffix); len(name) > max {
		name = name[:max]
	}
	return name + suffix
}

// transitionEvent builds the Event recording c's latest flip on vm.
func transitionEvent(vm *vmv1.VirtualMachine, c metav1.Condition, eventType, instance string) *eventsv1.Event {
	note := summary(&c)
	if len(note) > noteLimit {
		// Cut on bytes, then drop a rune the cut may have split.
		note = strings.ToValidUTF8(note[:noteLimit-3], "") + "..."
	}
	return &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      eventName(vm, c),
			Namespace: vm.Namespace,
			Labels:    map[string]string{LabelConditionType: c.Type, LabelConditionStatus: string(c.Status)},
		},
		// The flip's own time, also when a restarted controller records
		// it late.
		EventTime:           metav1.NewMicroTime(c.LastTransitionTime.Time),
		ReportingController: ReportingController,
		ReportingInstance:   instance,
		Action:              EventAction,
		// "<Type><Status>", e.g. GuestPanickedTrue, ReadyFalse: what
		// `kubectl get events` shows and what field selectors match.
		Reason: c.Type + string(c.Status),
		Regarding: corev1.ObjectReference{
			APIVersion: vmv1.GroupVersion.String(),
			Kind:       "VirtualMachine",
			Namespace:  vm.Namespace,
			Name:       vm.Name,
			UID:        vm.UID,
		},
		Note: note,
		Type: eventType,
	}
}

// eventRecorder makes sure each recent transition has its Event.
type eventRecorder struct {
	client   client.Client
	instance string
	window   time.Duration

	mu sync.Mutex
	// known are the Events this process knows exist, by name, with the
	// transition time: they need no API call until they leave the window.
	known     map[string]time.Time
	lastPrune time.Time
}

func newEventRecorder(c client.Client, instance string, window time.Duration) *eventRecorder {
	return &eventRecorder{client: c, instance: instance, window: window, known: map[string]time.Time{}}
}

// ensure creates the Events for the transitions in conds (as persisted on
// vm) that happened within the repair window and may not have one yet.
func (r *eventRecorder) ensure(ctx context.Context, vm *vmv1.VirtualMachine, conds []metav1.Condition, now time.Time) error {
	r.prune(now)
	for _, c := range conds {
		eventType := eventTypeFor(c)
		at := c.LastTransitionTime.Time
		if eventType == "" || now.Sub(at) > r.window {
			continue
		}
		name := eventName(vm, c)
		if r.isKnown(name) {
			continue
		}
		err := r.client.Create(ctx, transitionEvent(vm, c, eventType, r.instance))
		switch {
		case err == nil:
			transitionEventsTotal.WithLabelValues("created").Inc()
		case apierrors.IsAlreadyExists(err):
			transitionEventsTotal.WithLabelValues("already_exists").Inc()
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			// The namespace, VM included, is going away: nobody will read it.
			transitionEventsTotal.WithLabelValues("skipped").Inc()
		default:
			transitionEventsTotal.WithLabelValues("failed").Inc()
			return fmt.Errorf("recording the %s=%s transition Event: %w", c.Type, c.Status, err)
		}
		r.remember(name, at)
	}
	return nil
}

func (r *eventRecorder) isKnown(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.known[name]
	return ok
}

func (r *eventRecorder) remember(name string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.known[name] = at
}

// prune forgets Events older than the window, at most once a minute, so
// the memory stays proportional to recent transitions.
func (r *eventRecorder) prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastPrune) < time.Minute {
		return
	}
	r.lastPrune = now
	for name, at := range r.known {
		if now.Sub(at) > r.window {
			delete(r.known, name)
		}
	}
}

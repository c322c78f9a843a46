package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// Transition Events.
//
// Every condition flip is recorded once as an Event (core/v1 with the
// events.k8s.io/v1 fields, see transitionEvent) on the
// VM, also across controller restarts and leader changes. The Event's name
// is derived from (VM uid, condition type, status, lastTransitionTime), so
// creating it a second time fails with AlreadyExists instead of making a
// duplicate: the API server itself is the deduplication. The status is
// patched first and the Events are ensured afterwards from the persisted
// conditions, so a crash in between is repaired by the next reconcile (by
// this process or the next leader) without duplicates.
//
// AlreadyExists is the guarantee, not the routine: a controller learns once
// which transition Events exist and then POSTs only those that may be
// missing (events_known.go), so a restart costs one paginated LIST instead
// of a create per recent transition.
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
	// SourceComponent is the deprecatedSource.component of the controller's
	// Events: what core/v1 readers (`kubectl describe`, `kubectl get
	// events`) show in "From".
	SourceComponent = "vmevents-controller"
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
// others (user, migration, suspend, shutdown, prelaunch, snapshot, dump)
// are operations (Normal).
var faultPauses = map[string]bool{
	vmv1.ReasonIOError: true, vmv1.ReasonWatchdog: true, vmv1.ReasonGuestPanicked: true,
	vmv1.ReasonDebug: true, vmv1.ReasonInternalError: true, vmv1.ReasonUnknownCause: true,
	vmv1.ReasonPostCopyFailed: true, vmv1.ReasonAPIError: true,
}

// eventTypeFor says which Event a condition in its current state deserves:
// Warning when entering a fault, Normal when leaving it or for an
// operational change, "" when the state is not a flip worth telling. It
// depends only on what is persisted on the VM (the condition, and whether
// the agent's facts are there), so that a restarted controller judges a
// transition it did not see exactly as the one that made it.
//
// Ready False is a Warning only when a fault makes it so: a VM stopped for
// an operation (Paused True with a reason not in faultPauses: an operator's
// pause, Prelaunch, a clean Shutdown, Migration, Snapshot, Suspended) is
// not Ready, and that is Normal, so that alerting on Warnings stays useful.
// conds are the VM's persisted conditions, Ready's cause among them.
//
// Stalled is a fault condition (Warning, Recovered Normal).
//
// States that are not worth an Event are those a condition starts in:
// AwaitingFacts; MonitorConnected and Ready Unknown (NoAgent,
// AgentNotReporting) while the agent has reported nothing on the VM, as
// they were never known and an absent condition is Unknown too; and False
// with "never happened" reasons (NoPanic, NotExpired, NoIOError, Paused
// False Running). Leaving a fault uses reasons of its own (Recovered,
// Resumed) so it stays distinguishable.
//
// Without the agentReported rule, every VM created on a node without an
// agent told the same thing twice (MonitorConnectedUnknown and
// ReadyUnknown, both "is the agent running?") before anything was known
// about it: 18,000 Warnings for 9,000 such VMs. The conditions still say
// it; once the agent has reported, losing it is news and is told.
func eventTypeFor(c metav1.Condition, conds []metav1.Condition, agentReported bool) string {
	if c.Reason == vmv1.ReasonAwaitingFacts {
		return ""
	}
	switch c.Type {
	case vmv1.ConditionReady, vmv1.ConditionMonitorConnected:
		switch {
		case c.Status == metav1.ConditionTrue:
			return corev1.EventTypeNormal
		case c.Status == metav1.ConditionUnknown && !agentReported:
			return ""
		case c.Type == vmv1.ConditionReady && c.Status == metav1.ConditionFalse && !readyFalseIsFault(c, conds):
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
		case c.Reason == vmv1.ReasonResumed:
			return corev1.EventTypeNormal
		}
		return ""
	default: // GuestPanicked, WatchdogExpired, IOError, HardwareError, StorageDegraded, Stalled
		switch {
		case c.Status == metav1.ConditionTrue:
			return corev1.EventTypeWarning
		case c.Status == metav1.ConditionFalse && c.Reason == vmv1.ReasonRecovered:
			return corev1.EventTypeNormal
		}
		return ""
	}
}

// readyFalseIsFault says whether Ready False (ready) is caused by a fault:
// anything but a pause for an operation.
func readyFalseIsFault(ready metav1.Condition, conds []metav1.Condition) bool {
	if ready.Reason != vmv1.ConditionPaused {
		return true
	}
	p := meta.FindStatusCondition(conds, vmv1.ConditionPaused)
	return p == nil || p.Status != metav1.ConditionTrue || faultPauses[p.Reason]
}

// eventName is the deterministic name of the Event for c's current state:
// "<vm>.<hash of uid, type, status, lastTransitionTime>". The reason is
// left out on purpose: it may change in place without a flip.
func eventName(vm *vmv1.VirtualMachine, c metav1.Condition) string {
	return hashedEventName(vm, fmt.Sprintf("%s\x00%s\x00%s\x00%s", vm.UID, c.Type, c.Status, c.LastTransitionTime.UTC().Format(time.RFC3339)))
}

// hashedEventName is "<vm>.<hash of key>", within the 253 characters of a name.
func hashedEventName(vm *vmv1.VirtualMachine, key string) string {
	h := sha256.Sum256([]byte(key))
	suffix := "." + hex.EncodeToString(h[:])[:20]
	name := vm.Name
	if max := 253 - len(suffix); len(name) > max {
		name = name[:max]
	}
	return name + suffix
}

// transitionEvent builds the Event recording c's latest flip on vm.
//
// It is written through the core/v1 Events API, with the events.k8s.io/v1
// fields (eventTime, reportingController, reportingInstance, action) and
// the ones older readers sort and count by: firstTimestamp, lastTimestamp,
// count and source (events.k8s.io/v1's deprecated* fields). `kubectl
// describe` sorts Events by lastTimestamp and `kubectl get events` shows
// the count; without them every Event sorts as equal. The events.k8s.io/v1
// API refuses to create an Event with them set ("needs to be unset"); the
// core/v1 API takes both, and it is the same object either way, so readers
// of either API see all of it. A flip happens once: its count is 1, its
// first and last time the flip's own time (also when a restarted
// controller records it late).
func transitionEvent(vm *vmv1.VirtualMachine, c metav1.Condition, eventType, instance string) *corev1.Event {
	return vmEvent(vm, vmEventFields{
		name:   eventName(vm, c),
		labels: map[string]string{LabelConditionType: c.Type, LabelConditionStatus: string(c.Status)},
		at:     c.LastTransitionTime.Time,
		action: EventAction,
		// "<Type><Status>", e.g. GuestPanickedTrue, ReadyFalse: what
		// `kubectl get events` shows and what field selectors match.
		reason:    c.Type + string(c.Status),
		note:      transitionNote(&c),
		eventType: eventType,
	}, instance)
}

// vmEventFields are what differs between the controller's Events.
type vmEventFields struct {
	name, action, reason, note, eventType string
	labels                                map[string]string
	// at is when it happened.
	at time.Time
}

// vmEvent builds one of the controller's Events on vm, happened once at
// e.at (see transitionEvent for the choice of fields).
func vmEvent(vm *vmv1.VirtualMachine, e vmEventFields, instance string) *corev1.Event {
	at := metav1.NewTime(e.at)
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      e.name,
			Namespace: vm.Namespace,
			Labels:    e.labels,
		},
		EventTime:           metav1.NewMicroTime(e.at),
		FirstTimestamp:      at,
		LastTimestamp:       at,
		Count:               1,
		Source:              corev1.EventSource{Component: SourceComponent},
		ReportingController: ReportingController,
		ReportingInstance:   instance,
		Action:              e.action,
		Reason:              e.reason,
		InvolvedObject: corev1.ObjectReference{
			APIVersion: vmv1.GroupVersion.String(),
			Kind:       "VirtualMachine",
			Namespace:  vm.Namespace,
			Name:       vm.Name,
			UID:        vm.UID,
		},
		Message: e.note,
		Type:    e.eventType,
	}
}

// transitionNote is the note of c's transition Event: its summary, within
// the API server's limit.
func transitionNote(c *metav1.Condition) string {
	return bound(summary(c))
}

// eventRecorder makes sure each recent transition has its Event.
type eventRecorder struct {
	client   client.Client
	instance string
	window   time.Duration
	// known are the Events that exist: they need no API call.
	known *knownEvents
}

// newEventRecorder creates Events with c; reader lists the existing ones
// once (knownEvents).
func newEventRecorder(c client.Client, reader client.Reader, instance string, window time.Duration) *eventRecorder {
	return &eventRecorder{client: c, instance: instance, window: window, known: newKnownEvents(reader, window)}
}

// plannedEvent is an Event a persisted state deserves: the writer creates
// it later (events_writer.go), so it carries what to say about it then.
type plannedEvent struct {
	ev *corev1.Event
	// at is when what ev records happened.
	at time.Time
	// what names it in errors.
	what string
	// created logs the incident line once ev is created.
	created func()
}

// plan lists the Events the transitions in conds (as persisted on vm,
// status.remediation too) deserve that happened within the repair window
// and are not known to exist.
func (r *eventRecorder) plan(vm *vmv1.VirtualMachine, conds []metav1.Condition, now time.Time) []plannedEvent {
	r.known.prune(now)
	reported := agentReported(&vm.Status)
	var out []plannedEvent
	for _, c := range conds {
		eventType := eventTypeFor(c, conds, reported)
		if c.Type == vmv1.ConditionRemediationExhausted {
			eventType = exhaustedEventType(c)
		}
		if eventType == "" || now.Sub(c.LastTransitionTime.Time) > r.window {
			continue
		}
		ev := transitionEvent(vm, c, eventType, r.instance)
		if r.known.has(types.NamespacedName{Namespace: ev.Namespace, Name: ev.Name}) {
			continue
		}
		out = append(out, plannedEvent{
			ev: ev, at: c.LastTransitionTime.Time,
			what:    fmt.Sprintf("the %s=%s transition Event", c.Type, c.Status),
			created: func() { logCondition(incidentLog, vm, c, eventType) },
		})
	}
	return append(out, r.planRemediation(vm, now)...)
}

// record creates a planned Event unless it is known to exist, and counts
// how it went.
func (r *eventRecorder) record(ctx context.Context, p plannedEvent, now time.Time) error {
	result, err := r.create(ctx, p.ev, p.at, now)
	if result != "" && p.ev.Action == EventAction {
		transitionEventsTotal.WithLabelValues(result).Inc()
	}
	if err != nil {
		return fmt.Errorf("recording %s: %w", p.what, err)
	}
	if result == "created" && p.created != nil {
		p.created()
	}
	return nil
}

// create creates ev unless it is known to exist, and says how it went:
// created, already_exists, skipped, failed, or "" when known. at is when
// what ev records happened.
func (r *eventRecorder) create(ctx context.Context, ev *corev1.Event, at, now time.Time) (string, error) {
	key := types.NamespacedName{Namespace: ev.Namespace, Name: ev.Name}
	exists, err := r.known.exists(ctx, key, now)
	if err != nil || exists {
		return "", err
	}
	err = r.client.Create(ctx, ev)
	result := "created"
	switch {
	case err == nil:
	case apierrors.IsAlreadyExists(err):
		// Created since the list (by a replica that was leader a
		// moment ago): the name still keeps it single.
		result = "already_exists"
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// The namespace, VM included, is going away: nobody will read it.
		result = "skipped"
	default:
		return "failed", err
	}
	r.known.add(key, at)
	return result, nil
}

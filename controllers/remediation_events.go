package controllers

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// Remediation Events.
//
// Each attempt is told as Events on the VM: RemediationRequested when it is
// requested, then RemediationSucceeded or RemediationFailed (also for
// Unknown and Expired) when its outcome is recorded; a dry run is one
// RemediationDryRun. Like the transition Events (events.go), they are
// ensured after the status apply from the persisted attempts, and named
// after (VM uid, attempt ID, what), so a controller that restarts, or the
// next leader, replays them into AlreadyExists instead of duplicates.
const (
	// EventActionRemediate is the action of the remediation Events.
	EventActionRemediate = "Remediate"
	// LabelRemediationAttempt labels each remediation Event with its
	// attempt ID, for `kubectl get events -l`.
	LabelRemediationAttempt = "vmevents.dev/remediation-attempt"
)

// planRemediation lists the Events of the attempts in vm's (persisted)
// status.remediation that happened within the repair window and are not
// known to exist.
func (r *eventRecorder) planRemediation(vm *vmv1.VirtualMachine, now time.Time) []plannedEvent {
	if vm.Status.Remediation == nil {
		return nil
	}
	var out []plannedEvent
	for _, a := range vm.Status.Remediation.Attempts {
		for _, e := range attemptEvents(vm, a) {
			if now.Sub(e.at) > r.window {
				continue
			}
			ev := vmEvent(vm, e, r.instance)
			if r.known.has(types.NamespacedName{Namespace: ev.Namespace, Name: ev.Name}) {
				continue
			}
			out = append(out, plannedEvent{
				ev: ev, at: e.at,
				what:    fmt.Sprintf("the %s Event of remediation attempt %d", e.reason, a.ID),
				created: func() { logRemediation(incidentLog, vm, a, e) },
			})
		}
	}
	return out
}

// attemptEvents are the Events that tell attempt a so far.
func attemptEvents(vm *vmv1.VirtualMachine, a vmv1.RemediationAttempt) []vmEventFields {
	finished := a.RequestedAt.Time
	if a.FinishedAt != nil {
		finished = a.FinishedAt.Time
	}
	if a.Result == vmv1.RemediationDryRunResult {
		return []vmEventFields{attemptEvent(vm, a, vmv1.ReasonRemediationDryRun, corev1.EventTypeNormal, finished, a.Message)}
	}
	out := []vmEventFields{attemptEvent(vm, a, vmv1.ReasonRemediationRequested, corev1.EventTypeNormal, a.RequestedAt.Time,
		fmt.Sprintf("attempt %d: requested %s because %s is True (fault %s)", a.ID, a.Action, a.Condition, a.Fault))}
	switch a.Result {
	case vmv1.RemediationSucceeded:
		// The agent's message says what was done and through what
		// ("Reset done through qmp"); without one, the action.
		done := a.Message
		if done == "" {
			done = fmt.Sprintf("%s done", a.Action)
		}
		out = append(out, attemptEvent(vm, a, vmv1.ReasonRemediationSucceeded, corev1.EventTypeNormal, finished,
			fmt.Sprintf("attempt %d: %s", a.ID, done)))
	case vmv1.RemediationFailed, vmv1.RemediationUnknown, vmv1.RemediationExpired:
		out = append(out, attemptEvent(vm, a, vmv1.ReasonRemediationFailed, corev1.EventTypeWarning, finished,
			withDetail(fmt.Sprintf("attempt %d: %s %s", a.ID, a.Action, a.Result), a.Message)))
	}
	return out
}

// attemptEvent is one Event about attempt a.
func attemptEvent(vm *vmv1.VirtualMachine, a vmv1.RemediationAttempt, reason, eventType string, at time.Time, note string) vmEventFields {
	return vmEventFields{
		name:      remediationEventName(vm, a.ID, reason),
		labels:    map[string]string{LabelRemediationAttempt: strconv.FormatInt(a.ID, 10)},
		at:        at,
		action:    EventActionRemediate,
		reason:    reason,
		note:      bound(note),
		eventType: eventType,
	}
}

// withDetail appends detail, when there is one, to s.
func withDetail(s, detail string) string {
	if detail == "" {
		return s
	}
	return s + ": " + detail
}

// remediationEventName is the deterministic name of the Event telling what
// (an Event reason) of attempt id: "<vm>.<hash of uid, id, what>".
func remediationEventName(vm *vmv1.VirtualMachine, id int64, what string) string {
	return hashedEventName(vm, fmt.Sprintf("%s\x00remediation\x00%d\x00%s", vm.UID, id, what))
}

// exhaustedEventType says which Event RemediationExhausted in its
// persisted state c deserves: True is a Warning, the end of an exhaustion
// (False, Recovered) Normal, and the state it starts in (False,
// AttemptsLeft) none.
func exhaustedEventType(c metav1.Condition) string {
	switch {
	case c.Status == metav1.ConditionTrue:
		return corev1.EventTypeWarning
	case c.Reason == vmv1.ReasonRecovered:
		return corev1.EventTypeNormal
	}
	return ""
}

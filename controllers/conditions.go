package controllers

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// conditionTypes are the conditions this controller owns, in the order they
// are computed: Ready summarises the others and comes last.
var conditionTypes = []string{
	vmv1.ConditionMonitorConnected,
	vmv1.ConditionPaused,
	vmv1.ConditionGuestPanicked,
	vmv1.ConditionWatchdogExpired,
	vmv1.ConditionIOError,
	vmv1.ConditionHardwareError,
	vmv1.ConditionStorageDegraded,
	vmv1.ConditionStalled,
	vmv1.ConditionReady,
}

// optionalConditionTypes are owned conditions present on some VMs only:
// RemediationExhausted on those whose spec.remediation names an action
// (set with the remediation plan, remediation.go).
var optionalConditionTypes = []string{
	vmv1.ConditionRemediationExhausted,
}

// ownedConditionTypes are all the conditions this controller owns.
var ownedConditionTypes = slices.Concat(conditionTypes, optionalConditionTypes)

// computeConditions sets every condition the controller owns on vm from the
// facts, as of now. It only touches vm.Status.Conditions.
func computeConditions(vm *vmv1.VirtualMachine, f facts, now time.Time) {
	setMonitorConnectedCondition(vm, f, now)
	setPausedCondition(vm, f, now)
	setGuestPanickedCondition(vm, f, now)
	setWatchdogExpiredCondition(vm, f, now)
	setIOErrorCondition(vm, f, now)
	setHardwareErrorCondition(vm, f, now)
	setStorageDegradedCondition(vm, f, now)
	setStalledCondition(vm, f, now)
	setReadyCondition(vm, f, now)
}

// setCondition records c on vm the way metav1.Condition is meant to be
// used: lastTransitionTime moves only when the status flips, reason and
// message are updated in place, observedGeneration is the VM's generation.
func setCondition(vm *vmv1.VirtualMachine, c metav1.Condition, now time.Time) {
	c.ObservedGeneration = vm.Generation
	// The API server keeps whole seconds; using the stored value here makes
	// the in-memory condition equal to the persisted one, which the Event
	// names (events.go) are derived from.
	c.LastTransitionTime = metav1.NewTime(now.UTC().Truncate(time.Second))
	meta.SetStatusCondition(&vm.Status.Conditions, c)
}

// flipsTooSoon returns how long to hold back the change from before to
// after: until the next second when a condition would flip again within the
// second of its previous flip, zero otherwise.
//
// lastTransitionTime has whole seconds, and (type, status,
// lastTransitionTime) must name exactly one flip, because the flip's Event
// is named after it. Allowing at most one flip per condition per second
// keeps that true without ever writing a lastTransitionTime in the future;
// a condition flapping faster than that is reported at most a second late.
// The first flip out of AwaitingFacts is exempt: nothing came before it.
func flipsTooSoon(before, after []metav1.Condition, now time.Time) time.Duration {
	var wait time.Duration
	for _, a := range after {
		b := meta.FindStatusCondition(before, a.Type)
		if b == nil || b.Status == a.Status || b.Reason == vmv1.ReasonAwaitingFacts {
			continue
		}
		next := b.LastTransitionTime.Add(time.Second)
		// A lastTransitionTime far ahead of this clock is another
		// replica's skew, not a recent flip: do not wait for it.
		if d := next.Sub(now); d > 0 && d <= 2*time.Second && d > wait {
			wait = d
		}
	}
	return wait
}

// previous returns the condition of type t as it was before this reconcile
// (setters run before anything else touches that type), or nil.
func previous(vm *vmv1.VirtualMachine, t string) *metav1.Condition {
	return meta.FindStatusCondition(vm.Status.Conditions, t)
}

// recoveredMessage is msg, the message of condition t recovering from the
// fault of time at, unless t already is Recovered from that fault: then the
// message it has. The message names the reset, restart or resume that
// ended the fault; every later reset moves lastReset, and telling the
// latest one instead would rewrite the condition (a status write) on each.
func recoveredMessage(vm *vmv1.VirtualMachine, t string, at time.Time, msg string) string {
	if recoveredFrom(vm, t, at) {
		return previous(vm, t).Message
	}
	return msg
}

// recoveredFrom says whether condition t already recovered from the fault
// of time at: it is False/Recovered since then. A guest that ran again
// after a reset stays recovered when it is paused or shut down later: that
// is told by Paused and Ready, it is not the old fault coming back.
func recoveredFrom(vm *vmv1.VirtualMachine, t string, at time.Time) bool {
	c := previous(vm, t)
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == vmv1.ReasonRecovered &&
		!c.LastTransitionTime.Time.Before(at.Truncate(time.Second))
}

// wasFaulted says whether a fault condition was True, or had already
// recovered, before this reconcile: then going (or staying) False is a
// recovery, which must be told apart from "never happened" so the Event
// for it survives a restart (see eventFor).
func wasFaulted(vm *vmv1.VirtualMachine, t string) bool {
	c := previous(vm, t)
	return c != nil && (c.Status == metav1.ConditionTrue || c.Reason == vmv1.ReasonRecovered)
}

// conditionsEqual compares two condition lists as the API server stores them.
func conditionsEqual(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		c := meta.FindStatusCondition(b, a[i].Type)
		if c == nil || c.Status != a[i].Status || c.Reason != a[i].Reason || c.Message != a[i].Message ||
			c.ObservedGeneration != a[i].ObservedGeneration || !c.LastTransitionTime.Equal(&a[i].LastTransitionTime) {
			return false
		}
	}
	return true
}

// ownedConditions returns the conditions of the types this controller owns,
// in a stable order; others (if anybody adds some) are left to their owners.
func ownedConditions(conds []metav1.Condition) []metav1.Condition {
	out := make([]metav1.Condition, 0, len(ownedConditionTypes))
	for _, t := range ownedConditionTypes {
		if c := meta.FindStatusCondition(conds, t); c != nil {
			out = append(out, *c)
		}
	}
	return out
}

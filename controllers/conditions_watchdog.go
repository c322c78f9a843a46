package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// watchdogClear says what ends a watchdog expiry for each action.
type watchdogClear int

const (
	// clearOnRestart: only a reset or a restart of the hypervisor process
	// after the expiry (the guest's watchdog daemon is dead or the guest
	// hung; running proves nothing).
	clearOnRestart watchdogClear = iota
	// clearOnResume: also running again after the stop the action caused.
	clearOnResume
)

// watchdogActions maps WATCHDOG's action to the condition reason, what it
// did, and what clears it.
var watchdogActions = map[string]struct {
	reason, did string
	clear       watchdogClear
}{
	"reset":    {vmv1.ReasonReset, "QEMU reset the VM", clearOnRestart},
	"shutdown": {vmv1.ReasonShutdown, "QEMU asked the guest to shut down", clearOnRestart},
	"poweroff": {vmv1.ReasonPoweroff, "QEMU powered the VM off", clearOnRestart},
	"pause":    {vmv1.ReasonPause, "QEMU paused the VM", clearOnResume},
	"debug":    {vmv1.ReasonDebug, "QEMU stopped the VM for a debugger", clearOnResume},
	// none and inject-nmi leave the guest running; it may be hung, so only
	// a reset or a restart proves it healthy again.
	"none":       {vmv1.ReasonNone, "QEMU took no action; the guest may be hung", clearOnRestart},
	"inject-nmi": {vmv1.ReasonInjectNMI, "QEMU injected an NMI into the guest", clearOnRestart},
}

// setWatchdogExpiredCondition is True from a watchdog expiry until the
// guest runs again after the action took effect: after a reset or restart
// (every action), or after being resumed (pause, debug).
func setWatchdogExpiredCondition(vm *vmv1.VirtualMachine, f facts, now time.Time) {
	c := metav1.Condition{Type: vmv1.ConditionWatchdogExpired}
	w := f.status.LastWatchdog
	// QEMU's watchdog run state proves a pause by the watchdog even when
	// the agent missed the WATCHDOG event: trust the run state.
	cause, paused, _ := f.pauseCause()
	stoppedByWatchdog := paused && cause == vmv1.ReasonWatchdog
	switch {
	case !f.reported() && w == nil:
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonAwaitingFacts
		c.Message = "the agent has not reported on the VM yet"
	case stoppedByWatchdog && (w == nil || w.Action != "pause"):
		c.Status, c.Reason = metav1.ConditionTrue, vmv1.ReasonPause
		c.Message = "QEMU paused the VM in its watchdog run state (the agent did not see the WATCHDOG event itself)"
	case w == nil:
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonNotExpired
		c.Message = "no watchdog expiry reported"
		if wasFaulted(vm, vmv1.ConditionWatchdogExpired) {
			c.Reason, c.Message = vmv1.ReasonRecovered, "the agent no longer reports a watchdog expiry"
		}
	default:
		at := w.Time.Time
		action, ok := watchdogActions[w.Action]
		if !ok {
			action.reason, action.did, action.clear = vmv1.ReasonOtherAction, fmt.Sprintf("QEMU's action was %q", w.Action), clearOnRestart
		}
		how, restarted := f.restartedAfter(at)
		switch {
		case restarted && (f.running() || recoveredFrom(vm, vmv1.ConditionWatchdogExpired, at)):
			c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonRecovered
			c.Message = recoveredMessage(vm, c.Type, at, fmt.Sprintf("the watchdog expired at %s (action %s); %s and runs again", stamp(at), w.Action, how))
		case action.clear == clearOnResume && (f.resumedAfter(at) || recoveredFrom(vm, vmv1.ConditionWatchdogExpired, at)):
			// Resumed after the expiry: a pause later (by a user, for a
			// migration) is told by Paused, not the old expiry again.
			c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonRecovered
			c.Message = recoveredMessage(vm, c.Type, at, fmt.Sprintf("the watchdog expired at %s (action %s); the VM runs again since %s", stamp(at), w.Action, stamp(f.status.RunStateSince.Time)))
		default:
			c.Status, c.Reason = metav1.ConditionTrue, action.reason
			c.Message = fmt.Sprintf("the watchdog expired at %s; %s", stamp(at), action.did)
		}
	}
	setCondition(vm, c, now)
}

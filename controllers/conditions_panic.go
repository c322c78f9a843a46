package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// panicActions maps GUEST_PANICKED's action to the condition reason and
// what it means for the VM.
var panicActions = map[string]struct{ reason, did string }{
	"pause":    {vmv1.ReasonPause, "QEMU paused the VM"},
	"poweroff": {vmv1.ReasonPoweroff, "QEMU powered the VM off"},
	"run":      {vmv1.ReasonRun, "QEMU let the VM run on (the guest may be dumping or rebooting)"},
}

// setGuestPanickedCondition is True from a guest panic until the guest has
// been reset or its hypervisor restarted after the panic, and runs again.
// Resuming a VM paused by a panic does not clear it: the guest kernel is
// still dead.
func setGuestPanickedCondition(vm *vmv1.VirtualMachine, f facts, now time.Time) {
	c := metav1.Condition{Type: vmv1.ConditionGuestPanicked}
	p := f.status.LastPanic
	// QEMU's guest-panicked run state proves a panic even when the agent
	// missed the event (it connected after it): trust the run state.
	cause, paused, _ := f.pauseCause()
	stoppedByPanic := paused && cause == vmv1.ReasonGuestPanicked
	_, restartedSince := restartedSincePanic(f, p)
	switch {
	case !f.reported() && p == nil:
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonAwaitingFacts
		c.Message = "the agent has not reported on the VM yet"
	case stoppedByPanic && (p == nil || restartedSince):
		c.Status, c.Reason = metav1.ConditionTrue, vmv1.ReasonPause
		c.Message = "QEMU stopped the VM in its guest-panicked run state (the agent did not see the panic event itself)"
	case p == nil:
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonNoPanic
		c.Message = "no guest panic reported"
		if wasFaulted(vm, vmv1.ConditionGuestPanicked) {
			// The agent dropped the panic (a new VM behind the same
			// object): still a recovery, not "never".
			c.Reason, c.Message = vmv1.ReasonRecovered, "the agent no longer reports a guest panic"
		}
	default:
		at := p.Time.Time
		how, restarted := restartedSincePanic(f, p)
		if restarted && (f.running() || recoveredFrom(vm, vmv1.ConditionGuestPanicked, at)) {
			c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonRecovered
			c.Message = recoveredMessage(vm, c.Type, at, fmt.Sprintf("the guest panicked at %s; %s and runs again", stamp(at), how))
			break
		}
		action, ok := panicActions[p.Action]
		if !ok {
			action.reason, action.did = vmv1.ReasonOtherAction, fmt.Sprintf("QEMU's action was %q", p.Action)
		}
		if p.CrashLoaded {
			// The reason says more than the action (always run): the
			// crash kernel is dumping; its reboot will clear this.
			action.reason = vmv1.ReasonCrashLoaded
			action.did = fmt.Sprintf("its crash kernel took over (GUEST_CRASHLOADED, QEMU action %s); the guest reboots once the dump is written", p.Action)
		}
		c.Status, c.Reason = metav1.ConditionTrue, action.reason
		c.Message = fmt.Sprintf("the guest panicked at %s; %s", stamp(at), action.did)
		if p.Info != "" {
			c.Message += ": " + p.Info
		}
	}
	setCondition(vm, c, now)
}

// restartedSincePanic says whether the guest was reset or restarted after
// the last reported panic.
func restartedSincePanic(f facts, p *vmv1.PanicInfo) (string, bool) {
	if p == nil {
		return "", false
	}
	return f.restartedAfter(p.Time.Time)
}

package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// memoryFailureActions maps MEMORY_FAILURE's action to the condition reason
// and what QEMU did.
var memoryFailureActions = map[string]struct{ reason, did string }{
	"inject": {vmv1.ReasonMemoryErrorInjected, "QEMU injected a machine check into the guest"},
	"ignore": {vmv1.ReasonMemoryErrorIgnored, "QEMU ignored it (the memory was not in use)"},
	"fatal":  {vmv1.ReasonMemoryErrorFatal, "QEMU could not recover and exited"},
	"reset":  {vmv1.ReasonMemoryErrorReset, "QEMU reset the VM"},
}

// setHardwareErrorCondition is True after a host memory failure hit the VM
// until the guest was reset or its hypervisor restarted after it, and runs:
// a reset makes QEMU remap the poisoned pages, a restart gives new ones.
// An ignored failure (memory not in use) did not touch the guest: it counts
// for the fault window only, like an I/O error the guest was told of.
func setHardwareErrorCondition(vm *vmv1.VirtualMachine, f facts, now time.Time) {
	c := metav1.Condition{Type: vmv1.ConditionHardwareError}
	m := f.status.LastMemoryFailure
	switch {
	case !f.reported() && m == nil:
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonAwaitingFacts
		c.Message = "the agent has not reported on the VM yet"
	case m == nil:
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonNoHardwareError
		c.Message = "no host memory failure reported"
		if wasFaulted(vm, vmv1.ConditionHardwareError) {
			c.Reason, c.Message = vmv1.ReasonRecovered, "the agent no longer reports a memory failure"
		}
	default:
		at := m.Time.Time
		what := fmt.Sprintf("a host memory failure hit the %s memory at %s (action %s, action required %t, %d failure(s))",
			m.Recipient, stamp(at), m.Action, m.ActionRequired, m.Count)
		how, restarted := f.restartedAfter(at)
		switch {
		case restarted && f.running():
			c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonRecovered
			c.Message = fmt.Sprintf("%s; %s and runs again", what, how)
		case m.Action == "ignore" && !f.recent(at, now):
			c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonRecovered
			c.Message = fmt.Sprintf("%s; none since for %s", what, f.ioErrorWindow)
		default:
			action, ok := memoryFailureActions[m.Action]
			if !ok {
				action.reason, action.did = vmv1.ReasonOtherAction, fmt.Sprintf("QEMU's action was %q", m.Action)
			}
			c.Status, c.Reason = metav1.ConditionTrue, action.reason
			c.Message = what + "; " + action.did
		}
	}
	setCondition(vm, c, now)
}

// hardwareErrorRecheck is when HardwareError may clear by the passing of
// time alone (an ignored failure leaving the window), or zero.
func (f facts) hardwareErrorRecheck(now time.Time) time.Time {
	m := f.status.LastMemoryFailure
	if m == nil || m.Action != "ignore" || !f.recent(m.Time.Time, now) {
		return time.Time{}
	}
	return m.Time.Add(f.ioErrorWindow)
}

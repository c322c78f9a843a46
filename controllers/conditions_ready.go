package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// faultConditions are the conditions that make a VM not Ready when True, in
// the order Ready names them: the most specific cause first (a panic also
// pauses the VM; the panic is what the user needs to know).
var faultConditions = []string{
	vmv1.ConditionGuestPanicked,
	vmv1.ConditionWatchdogExpired,
	vmv1.ConditionHardwareError,
	vmv1.ConditionIOError,
	vmv1.ConditionStorageDegraded,
	vmv1.ConditionPaused,
}

// setReadyCondition summarises the others, kstatus style, so that `kubectl
// wait --for=condition=Ready` and GitOps tools understand a VM: True only
// when the monitor is connected, the VM runs and no fault condition is
// True. It is present from the first reconcile on, Unknown until facts
// arrive. It must run after the other setters.
func setReadyCondition(vm *vmv1.VirtualMachine, f facts, now time.Time) {
	c := metav1.Condition{Type: vmv1.ConditionReady}
	conds := vm.Status.Conditions
	mon := meta.FindStatusCondition(conds, vmv1.ConditionMonitorConnected)
	fault := firstTrue(conds, faultConditions)
	switch {
	case mon == nil:
		// Not reachable: setMonitorConnectedCondition always runs first.
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, vmv1.ReasonAwaitingFacts, "not evaluated yet"
	case mon.Status == metav1.ConditionUnknown:
		// Without a live agent nothing below can be trusted.
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, mon.Reason, mon.Message
	case !f.reported():
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, vmv1.ReasonAwaitingFacts, "the agent has not reported on the VM yet"
	case mon.Status == metav1.ConditionFalse:
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonMonitorNotConnected
		c.Message = summary(mon)
	case fault != nil:
		c.Status, c.Reason = metav1.ConditionFalse, fault.Type
		c.Message = summary(fault)
	case !f.running():
		// Not paused, not running: the run state itself is unknown.
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonNotRunning
		c.Message = fmt.Sprintf("the VM is not running (run state %q)", f.status.RunState)
	default:
		c.Status, c.Reason = metav1.ConditionTrue, vmv1.ReasonReady
		c.Message = "the VM is running and its monitor is connected"
	}
	setCondition(vm, c, now)
}

// firstTrue returns the first condition of types that is True, or nil.
func firstTrue(conds []metav1.Condition, types []string) *metav1.Condition {
	for _, t := range types {
		if c := meta.FindStatusCondition(conds, t); c != nil && c.Status == metav1.ConditionTrue {
			return c
		}
	}
	return nil
}

// summary is "<Type> is <Status> (<Reason>): <message>".
func summary(c *metav1.Condition) string {
	return fmt.Sprintf("%s is %s (%s): %s", c.Type, c.Status, c.Reason, c.Message)
}

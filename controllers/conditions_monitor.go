package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// setMonitorConnectedCondition says whether the agent is connected to the
// hypervisor and still reporting. The Lease comes first: the agent cannot
// report its own death, so facts from an agent whose Lease has lapsed are
// not believed, however "Connected" they look.
func setMonitorConnectedCondition(vm *vmv1.VirtualMachine, f facts, now time.Time) {
	c := metav1.Condition{Type: vmv1.ConditionMonitorConnected}
	mon := f.status.Monitor
	switch {
	case f.agent.state == agentMissing:
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonNoAgent
		c.Message = fmt.Sprintf("no agent heartbeat: Lease %s does not exist; is the vmevents agent running on node %s?", f.agent.lease, f.agent.node)
	case f.agent.state == agentStale:
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonAgentNotReporting
		c.Message = fmt.Sprintf("the agent on node %s stopped renewing its Lease %s", f.agent.node, f.agent.lease)
		if !f.agent.lastRenew.IsZero() {
			c.Message += fmt.Sprintf(" (last renewed %s)", stamp(f.agent.lastRenew))
		}
		c.Message += "; the VM's facts may be out of date"
	case mon == nil:
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonAwaitingFacts
		c.Message = fmt.Sprintf("the agent on node %s has not reported the monitor connection yet", f.agent.node)
	case mon.State == vmv1.MonitorConnected:
		c.Status, c.Reason = metav1.ConditionTrue, vmv1.ReasonConnected
		c.Message = "the agent is connected to the hypervisor"
		if mon.Endpoint != "" {
			c.Message += " at " + mon.Endpoint
		}
		if mon.QEMUVersion != "" {
			c.Message += " (QEMU " + mon.QEMUVersion + ")"
		}
	case mon.State == vmv1.MonitorRefused:
		// The agent will not retry: tell the user what to fix.
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonRefused
		c.Message = orDefault(mon.LastError, "the agent refused to connect to the monitor")
	case mon.State == vmv1.MonitorConnecting:
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonConnecting
		c.Message = orDefault(mon.LastError, "the agent is connecting to the monitor")
	default: // Disconnected, or a state newer than this controller
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonDisconnected
		c.Message = orDefault(mon.LastError, "the agent lost the connection to the monitor and retries")
	}
	setCondition(vm, c, now)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

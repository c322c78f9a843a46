package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// kstatus (sigs.k8s.io/cli-utils, used by Flux and other GitOps tools)
// computes a custom resource from its conditions: Stalled True is Failed;
// otherwise Ready True is Current, and Ready False or Unknown is InProgress
// (a VM still AwaitingFacts, or with a runtime fault: kstatus cannot tell a
// fault that may heal from progress). Stalled is what tells it that waiting
// will not help.

// setStalledCondition is True when the VM's spec cannot work as written:
// the agent refuses its monitor (MonitorConnected False Refused: a socket
// outside the agent's trusted roots, a UUID that is not the hypervisor's).
// The agent will not retry; the spec or the agent's configuration has to
// change. Unlike MonitorConnected it does not depend on the agent's Lease:
// the refusal judges the spec, and an agent that stopped reporting does
// not make the spec work.
func setStalledCondition(vm *vmv1.VirtualMachine, f facts, now time.Time) {
	c := metav1.Condition{Type: vmv1.ConditionStalled}
	switch mon := f.status.Monitor; {
	case mon != nil && mon.State == vmv1.MonitorRefused:
		c.Status, c.Reason = metav1.ConditionTrue, vmv1.ReasonMonitorRefused
		c.Message = "the agent refuses the VM's monitor and will not retry; fix the spec or the agent's configuration: " +
			orDefault(mon.LastError, "no reason given")
	case !f.reported():
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonAwaitingFacts
		c.Message = "the agent has not reported on the VM yet"
	case wasFaulted(vm, vmv1.ConditionStalled):
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonRecovered
		c.Message = "the agent no longer refuses the VM's monitor"
	default:
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonNotStalled
		c.Message = "the agent accepts the VM's spec"
	}
	setCondition(vm, c, now)
}

package controllers

import (
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// IncidentLogger is the logger name of the incident history: one line per
// condition flip, with the keys docs/logging.md lists, written when the
// flip's transition Event is created. A transition Event lives an hour (the
// apiserver's --event-ttl); these lines live as long as the cluster's log
// pipeline keeps them.
const IncidentLogger = "incident"

// ConditionMessage is the message of every condition line.
const ConditionMessage = "condition"

// RemediationMessage is the message of every remediation line: one per
// remediation Event (docs/remediation.md).
const RemediationMessage = "remediation"

// incidentLog is where the event recorder writes the lines; the manager's
// logger, so the binary's -zap-* flags (JSON in production) apply.
var incidentLog = ctrl.Log.WithName(IncidentLogger)

// logCondition writes one line for c's flip on vm. It is called where the
// flip's Event is created and only then, so there is one line per Event:
// a replica that finds the Event already made (AlreadyExists) or a
// restarted controller that finds it known logs nothing again. The message
// is bounded as the Event's note is.
func logCondition(log logr.Logger, vm *vmv1.VirtualMachine, c metav1.Condition, eventType string) {
	log.Info(ConditionMessage,
		"vm", vm.Name,
		"namespace", vm.Namespace,
		"node", vm.Spec.NodeName,
		"type", eventType,
		"condition", c.Type,
		"status", string(c.Status),
		"reason", c.Reason,
		"message", transitionNote(&c),
		"lastTransitionTime", c.LastTransitionTime.UTC().Format(time.RFC3339),
	)
}

// logRemediation writes one line for the remediation Event e about attempt
// a on vm, where the Event is created and only then, as logCondition does.
func logRemediation(log logr.Logger, vm *vmv1.VirtualMachine, a vmv1.RemediationAttempt, e vmEventFields) {
	log.Info(RemediationMessage,
		"vm", vm.Name,
		"namespace", vm.Namespace,
		"node", vm.Spec.NodeName,
		"type", e.eventType,
		"reason", e.reason,
		"attempt", a.ID,
		"action", string(a.Action),
		"condition", a.Condition,
		"fault", a.Fault,
		"result", string(a.Result),
		"message", e.note,
		"time", e.at.UTC().Format(time.RFC3339Nano),
	)
}

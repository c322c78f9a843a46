package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/test/framework/logtest"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// conditionKeys are the keys docs/logging.md documents for a condition
// line, besides zap's own (level, ts, logger, msg).
var conditionKeys = []string{"vm", "namespace", "node", "type", "condition", "status", "reason", "message", "lastTransitionTime"}

func TestConditionLines(t *testing.T) {
	vm := &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web-1"}, Spec: vmv1.VirtualMachineSpec{NodeName: "node-a"}}
	at := metav1.NewTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600)))
	cases := []struct {
		name      string
		cond      metav1.Condition
		eventType string
		want      map[string]any
	}{{
		name:      "a guest panic",
		cond:      metav1.Condition{Type: vmv1.ConditionGuestPanicked, Status: metav1.ConditionTrue, Reason: "Pause", Message: "the guest panicked", LastTransitionTime: at},
		eventType: corev1.EventTypeWarning,
		want: map[string]any{"vm": "web-1", "namespace": "prod", "node": "node-a", "type": "Warning", "condition": "GuestPanicked",
			"status": "True", "reason": "Pause", "lastTransitionTime": "2026-03-04T04:06:07Z",
			"message": "GuestPanicked is True (Pause): the guest panicked"},
	}, {
		name:      "a long message is cut as the Event's note",
		cond:      metav1.Condition{Type: vmv1.ConditionIOError, Status: metav1.ConditionFalse, Reason: vmv1.ReasonRecovered, Message: strings.Repeat("é", 2000), LastTransitionTime: at},
		eventType: corev1.EventTypeNormal,
		want:      map[string]any{"type": "Normal", "status": "False"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, buf := logtest.Capture()
			logCondition(log.WithName(IncidentLogger), vm, tc.cond, tc.eventType)
			line := logtest.One(t, buf, IncidentLogger, ConditionMessage, conditionKeys, tc.want)
			if m := line["message"].(string); len(m) > noteLimit || m != transitionEvent(vm, tc.cond, tc.eventType, "x").Message {
				t.Errorf("message %q is not the Event's note", m)
			}
		})
	}
}

// TestConditionKeysAreDocumented: every key a line has is in docs/logging.md.
func TestConditionKeysAreDocumented(t *testing.T) {
	logtest.Documented(t, testenv.RepoRoot(), append(conditionKeys, IncidentLogger, ConditionMessage)...)
}

// remediationKeys are the keys docs/logging.md documents for a remediation
// line, besides zap's own.
var remediationKeys = []string{"vm", "namespace", "node", "type", "reason", "attempt", "action", "condition", "fault", "result", "message", "time"}

func TestRemediationLines(t *testing.T) {
	vm := &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web-1"}, Spec: vmv1.VirtualMachineSpec{NodeName: "node-a"}}
	at := metav1.NewMicroTime(time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC))
	a := vmv1.RemediationAttempt{ID: 2, Action: vmv1.RemediationReset, Condition: vmv1.ConditionGuestPanicked,
		Fault: "GuestPanicked/2026-03-04T05:06:07.891011Z", RequestedAt: at, Result: vmv1.RemediationFailed, FinishedAt: &at, Message: "no verified connection"}
	for _, e := range attemptEvents(vm, a) {
		t.Run(e.reason, func(t *testing.T) {
			log, buf := logtest.Capture()
			logRemediation(log.WithName(IncidentLogger), vm, a, e)
			logtest.One(t, buf, IncidentLogger, RemediationMessage, remediationKeys, map[string]any{
				"vm": "web-1", "namespace": "prod", "node": "node-a", "type": e.eventType, "reason": e.reason,
				"attempt": float64(2), "action": "Reset", "condition": "GuestPanicked", "fault": a.Fault, "result": "Failed",
				"message": e.note, "time": "2026-03-04T05:06:07.891011Z",
			})
		})
	}
}

// TestRemediationKeysAreDocumented: every key a line has is in docs/logging.md.
func TestRemediationKeysAreDocumented(t *testing.T) {
	logtest.Documented(t, testenv.RepoRoot(), append(remediationKeys, RemediationMessage)...)
}

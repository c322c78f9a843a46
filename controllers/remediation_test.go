package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// The remediation tests drive planRemediation with the persisted spec,
// status and conditions, as a reconcile at t0+now sees them. The fault in
// most rows is a guest panic at t0 (GuestPanicked True since t0, the VM
// paused by it, its monitor connected).

// panicFault is the identity of the panic at t0.
var panicFault = "GuestPanicked/" + t0.Format(time.RFC3339Nano)

// remCond is a condition that flipped at t0+at.
func remCond(typ string, status metav1.ConditionStatus, reason string, at time.Duration) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, LastTransitionTime: metav1.NewTime(t0.Add(at))}
}

// panicConds are the conditions of a VM paused by the panic at t0; muts
// replace conditions by type.
func panicConds(muts ...metav1.Condition) []metav1.Condition {
	conds := []metav1.Condition{
		remCond(mon, metav1.ConditionTrue, vmv1.ReasonConnected, -time.Hour),
		remCond(paused, metav1.ConditionTrue, vmv1.ReasonGuestPanicked, 0),
		remCond(panics, metav1.ConditionTrue, vmv1.ReasonPause, 0),
		remCond(wdog, metav1.ConditionFalse, vmv1.ReasonNotExpired, -time.Hour),
		remCond(ioerr, metav1.ConditionFalse, vmv1.ReasonNoIOError, -time.Hour),
	}
	for _, m := range muts {
		meta.SetStatusCondition(&conds, m)
	}
	return conds
}

// panicFacts are the agent's facts of the panic at t0.
func panicFacts() vmv1.VirtualMachineStatus {
	return with(stopped("guest-panicked", 0), func(st *vmv1.VirtualMachineStatus) {
		st.LastPanic = &vmv1.PanicInfo{Time: micro(0), Action: "pause"}
	})
}

// resetPolicy resets panicked guests; muts change it.
func resetPolicy(muts ...func(*vmv1.RemediationSpec)) *vmv1.RemediationSpec {
	s := &vmv1.RemediationSpec{
		GuestPanicked: vmv1.RemediationReset, DelaySeconds: ptr.To[int32](10),
		BackoffSeconds: 30, MaxBackoffSeconds: 600, MaxAttempts: 3, WindowSeconds: 3600,
	}
	for _, m := range muts {
		m(s)
	}
	return s
}

// att is an attempt for fault requested at t0+at.
func att(id int64, fault string, r vmv1.RemediationResult, at time.Duration) vmv1.RemediationAttempt {
	a := vmv1.RemediationAttempt{ID: id, Action: vmv1.RemediationReset, Condition: strings.SplitN(fault, "/", 2)[0], Fault: fault, RequestedAt: micro(at), Result: r}
	if r != vmv1.RemediationPending {
		a.FinishedAt = microp(at + time.Second)
	}
	return a
}

// outstanding is a record with request id (requested at t0+at) pending,
// after the attempts before.
func outstanding(id int64, at time.Duration, before ...vmv1.RemediationAttempt) *vmv1.RemediationStatus {
	return &vmv1.RemediationStatus{
		Request:       &vmv1.RemediationRequest{ID: id, Action: vmv1.RemediationReset, Condition: panics, Fault: panicFault, RequestedAt: micro(at)},
		Attempts:      append(before, att(id, panicFault, vmv1.RemediationPending, at)),
		TotalAttempts: id,
	}
}

// record is a record of past attempts, no request outstanding.
func record(attempts ...vmv1.RemediationAttempt) *vmv1.RemediationStatus {
	rs := &vmv1.RemediationStatus{Attempts: attempts}
	for _, a := range attempts {
		rs.TotalAttempts = max(rs.TotalAttempts, a.ID)
	}
	return rs
}

// executed is rs with the agent's report phase on request id.
func executed(rs *vmv1.RemediationStatus, id int64, phase vmv1.ExecutionPhase, msg string) *vmv1.RemediationStatus {
	rs.Execution = &vmv1.RemediationExecution{RequestID: id, Phase: phase, StartedAt: micro(11 * time.Second), Message: msg}
	if phase != vmv1.ExecutionExecuting {
		rs.Execution.FinishedAt = microp(12 * time.Second)
	}
	return rs
}

// describeRecord renders rs as "request <id> <action> <fault>; <id>:<result> ...; total <n>".
func describeRecord(rs *vmv1.RemediationStatus) string {
	if rs == nil {
		return "none"
	}
	var parts []string
	if r := rs.Request; r != nil {
		parts = append(parts, fmt.Sprintf("request %d %s %s", r.ID, r.Action, r.Fault))
	}
	var as []string
	for _, a := range rs.Attempts {
		as = append(as, fmt.Sprintf("%d:%s", a.ID, a.Result))
	}
	parts = append(parts, strings.Join(as, " "), fmt.Sprintf("total %d", rs.TotalAttempts))
	return strings.Join(parts, "; ")
}

func TestPlanRemediation(t *testing.T) {
	never := time.Duration(-1)
	cases := []struct {
		name   string
		spec   *vmv1.RemediationSpec
		status *vmv1.RemediationStatus
		conds  []metav1.Condition
		facts  vmv1.VirtualMachineStatus
		now    time.Duration
		// want is describeRecord of the planned record.
		want string
		// exhausted is RemediationExhausted's "Status/Reason", "" absent.
		exhausted string
		// recheck is when time alone changes the plan, relative to t0; never: zero.
		recheck time.Duration
		// finished are the attempts whose result was recorded, "<id>:<result>".
		finished string
	}{
		{name: "no remediation: nothing recorded, no condition",
			spec: nil, conds: panicConds(), now: time.Minute,
			want: "none", recheck: never},
		{name: "every action None: off",
			spec: resetPolicy(func(s *vmv1.RemediationSpec) { s.GuestPanicked = vmv1.RemediationNone }), conds: panicConds(), now: time.Minute,
			want: "none", recheck: never},
		{name: "delay not over: wait for it",
			spec: resetPolicy(), conds: panicConds(), now: 5 * time.Second,
			want: "none", exhausted: "False/AttemptsLeft", recheck: 10 * time.Second},
		{name: "delay over: the first request",
			spec: resetPolicy(), conds: panicConds(), now: 10 * time.Second,
			want:      "request 1 Reset " + panicFault + "; 1:Pending; total 1",
			exhausted: "False/AttemptsLeft", recheck: 10*time.Second + requestTimeout},
		{name: "no delay: at once",
			spec: resetPolicy(func(s *vmv1.RemediationSpec) { s.DelaySeconds = ptr.To[int32](0) }), conds: panicConds(), now: 0,
			want:      "request 1 Reset " + panicFault + "; 1:Pending; total 1",
			exhausted: "False/AttemptsLeft", recheck: requestTimeout},
		{name: "the delay defaults to 10 s",
			spec: resetPolicy(func(s *vmv1.RemediationSpec) { s.DelaySeconds = nil }), conds: panicConds(), now: 9 * time.Second,
			want: "none", exhausted: "False/AttemptsLeft", recheck: 10 * time.Second},
		{name: "monitor not connected: no request, nothing to wait for",
			spec: resetPolicy(), conds: panicConds(remCond(mon, metav1.ConditionFalse, vmv1.ReasonDisconnected, 0)), now: time.Minute,
			want: "none", exhausted: "False/AttemptsLeft", recheck: never},
		{name: "agent not reporting: no request",
			spec: resetPolicy(), conds: panicConds(remCond(mon, metav1.ConditionUnknown, vmv1.ReasonAgentNotReporting, 0)), now: time.Minute,
			want: "none", exhausted: "False/AttemptsLeft", recheck: never},
		{name: "migrating: no request",
			spec: resetPolicy(), conds: panicConds(remCond(paused, metav1.ConditionTrue, vmv1.ReasonMigration, 0)), now: time.Minute,
			want: "none", exhausted: "False/AttemptsLeft", recheck: never},
		{name: "shut down on purpose: no request",
			spec: resetPolicy(), conds: panicConds(remCond(paused, metav1.ConditionTrue, vmv1.ReasonShutdown, 0)), now: time.Minute,
			want: "none", exhausted: "False/AttemptsLeft", recheck: never},
		{name: "powered off by the panic: a fault, acted on",
			spec: resetPolicy(), conds: panicConds(remCond(paused, metav1.ConditionTrue, vmv1.ReasonShutdown, 0), remCond(panics, metav1.ConditionTrue, vmv1.ReasonPoweroff, 0)), now: time.Minute,
			want:      "request 1 Reset " + panicFault + "; 1:Pending; total 1",
			exhausted: "False/AttemptsLeft", recheck: time.Minute + requestTimeout},
		{name: "no fault: nothing",
			spec: resetPolicy(), conds: panicConds(remCond(panics, metav1.ConditionFalse, vmv1.ReasonNoPanic, 0)), now: time.Minute,
			want: "none", exhausted: "False/AttemptsLeft", recheck: never},
		{name: "request outstanding, not taken up: wait until it expires",
			spec: resetPolicy(), status: outstanding(1, 10*time.Second), conds: panicConds(), now: time.Minute,
			want:      "request 1 Reset " + panicFault + "; 1:Pending; total 1",
			exhausted: "False/AttemptsLeft", recheck: 10*time.Second + requestTimeout},
		{name: "request timeout: Expired",
			spec: resetPolicy(), status: outstanding(1, 10*time.Second), conds: panicConds(), now: 10*time.Second + requestTimeout,
			// Expired is retried: the backoff after it is over.
			want:      "request 2 Reset " + panicFault + "; 1:Expired 2:Pending; total 2",
			exhausted: "False/AttemptsLeft", finished: "1:Expired", recheck: 10*time.Second + 2*requestTimeout},
		{name: "executing: wait for the agent, no deadline",
			spec: resetPolicy(), status: executed(outstanding(1, 10*time.Second), 1, vmv1.ExecutionExecuting, ""), conds: panicConds(), now: time.Hour - time.Second,
			want:      "request 1 Reset " + panicFault + "; 1:Pending; total 1",
			exhausted: "False/AttemptsLeft", recheck: never},
		{name: "an execution report on an older request is not this one's",
			spec: resetPolicy(), status: executed(outstanding(2, 50*time.Second, att(1, panicFault, vmv1.RemediationFailed, 10*time.Second)), 1, vmv1.ExecutionFailed, "no"), conds: panicConds(), now: time.Minute,
			want:      "request 2 Reset " + panicFault + "; 1:Failed 2:Pending; total 2",
			exhausted: "False/AttemptsLeft", recheck: 50*time.Second + requestTimeout},
		{name: "succeeded: recorded, the fault is not acted on again",
			spec: resetPolicy(), status: executed(outstanding(1, 10*time.Second), 1, vmv1.ExecutionSucceeded, "system_reset and cont done"), conds: panicConds(), now: 13 * time.Second,
			want: "1:Succeeded; total 1", exhausted: "False/AttemptsLeft", finished: "1:Succeeded",
			recheck: never},
		{name: "failed: recorded, retried after the backoff",
			spec: resetPolicy(), status: executed(outstanding(1, 10*time.Second), 1, vmv1.ExecutionFailed, "QMP error"), conds: panicConds(), now: 13 * time.Second,
			want: "1:Failed; total 1", exhausted: "False/AttemptsLeft", finished: "1:Failed", recheck: 40 * time.Second},
		{name: "unknown: recorded, never repeated",
			spec: resetPolicy(), status: executed(outstanding(1, 10*time.Second), 1, vmv1.ExecutionUnknown, "the agent restarted"), conds: panicConds(), now: 13 * time.Second,
			want: "1:Unknown; total 1", exhausted: "False/AttemptsLeft", finished: "1:Unknown",
			recheck: never},
		{name: "expired by the agent: recorded",
			spec: resetPolicy(), status: executed(outstanding(1, 10*time.Second), 1, vmv1.ExecutionExpired, "too old"), conds: panicConds(), now: 13 * time.Second,
			want: "1:Expired; total 1", exhausted: "False/AttemptsLeft", finished: "1:Expired", recheck: 40 * time.Second},
		{name: "failed is retried once the backoff is over",
			spec: resetPolicy(), status: record(att(1, panicFault, vmv1.RemediationFailed, 10*time.Second)), conds: panicConds(), now: 40 * time.Second,
			want:      "request 2 Reset " + panicFault + "; 1:Failed 2:Pending; total 2",
			exhausted: "False/AttemptsLeft", recheck: 40*time.Second + requestTimeout},
		{name: "expired is retried once the backoff is over",
			spec: resetPolicy(), status: record(att(1, panicFault, vmv1.RemediationExpired, 10*time.Second)), conds: panicConds(), now: 40 * time.Second,
			want:      "request 2 Reset " + panicFault + "; 1:Expired 2:Pending; total 2",
			exhausted: "False/AttemptsLeft", recheck: 40*time.Second + requestTimeout},
		{name: "backoff doubles: the third attempt waits 60 s after the second",
			spec:   resetPolicy(),
			status: record(att(1, panicFault, vmv1.RemediationFailed, 10*time.Second), att(2, panicFault, vmv1.RemediationFailed, 40*time.Second)),
			conds:  panicConds(), now: 99 * time.Second,
			want: "1:Failed 2:Failed; total 2", exhausted: "False/AttemptsLeft", recheck: 100 * time.Second},
		{name: "backoff doubled is over: the third attempt",
			spec:   resetPolicy(),
			status: record(att(1, panicFault, vmv1.RemediationFailed, 10*time.Second), att(2, panicFault, vmv1.RemediationFailed, 40*time.Second)),
			conds:  panicConds(), now: 100 * time.Second,
			want:      "request 3 Reset " + panicFault + "; 1:Failed 2:Failed 3:Pending; total 3",
			exhausted: "False/AttemptsLeft", recheck: 100*time.Second + requestTimeout},
		{name: "backoff is capped",
			spec:   resetPolicy(func(s *vmv1.RemediationSpec) { s.MaxBackoffSeconds = 45 }),
			status: record(att(1, panicFault, vmv1.RemediationFailed, 10*time.Second), att(2, panicFault, vmv1.RemediationFailed, 40*time.Second)),
			conds:  panicConds(), now: 60 * time.Second,
			want: "1:Failed 2:Failed; total 2", exhausted: "False/AttemptsLeft", recheck: 85 * time.Second},
		{name: "max attempts in the window: exhausted until the oldest leaves it",
			spec:   resetPolicy(),
			status: record(att(1, panicFault, vmv1.RemediationFailed, 10*time.Second), att(2, panicFault, vmv1.RemediationFailed, 40*time.Second), att(3, panicFault, vmv1.RemediationFailed, 100*time.Second)),
			conds:  panicConds(), now: 30 * time.Minute,
			want: "1:Failed 2:Failed 3:Failed; total 3", exhausted: "True/MaxAttemptsReached", recheck: 10*time.Second + time.Hour},
		{name: "attempts spent, the last one succeeded, the facts not in yet: not given up",
			spec:   resetPolicy(func(s *vmv1.RemediationSpec) { s.MaxAttempts = 1 }),
			status: executed(outstanding(1, 10*time.Second), 1, vmv1.ExecutionSucceeded, "done"), conds: panicConds(), now: 13 * time.Second,
			want: "1:Succeeded; total 1", exhausted: "False/AttemptsLeft", finished: "1:Succeeded", recheck: 10*time.Second + time.Hour},
		{name: "attempts spent on an older fault, a new one: given up",
			spec:   resetPolicy(func(s *vmv1.RemediationSpec) { s.MaxAttempts = 1 }),
			status: record(att(1, "GuestPanicked/2026-03-01T11:59:00Z", vmv1.RemediationSucceeded, -50*time.Second)), conds: panicConds(), now: 10 * time.Second,
			want: "1:Succeeded; total 1", exhausted: "True/MaxAttemptsReached", recheck: -50*time.Second + time.Hour},
		{name: "window slides: the next attempt",
			spec:   resetPolicy(),
			status: record(att(1, panicFault, vmv1.RemediationFailed, 10*time.Second), att(2, panicFault, vmv1.RemediationFailed, 40*time.Second), att(3, panicFault, vmv1.RemediationFailed, 100*time.Second)),
			conds:  panicConds(), now: 10*time.Second + time.Hour,
			// Attempt 1 left the window (it is kept: its fault is still True).
			want:      "request 4 Reset " + panicFault + "; 1:Failed 2:Failed 3:Failed 4:Pending; total 4",
			exhausted: "False/AttemptsLeft", recheck: 10*time.Second + time.Hour + requestTimeout},
		{name: "attempts for an old fault leave with the window",
			spec:   resetPolicy(),
			status: record(att(1, "GuestPanicked/2026-03-01T10:00:00Z", vmv1.RemediationSucceeded, -2*time.Hour), att(2, "GuestPanicked/2026-03-01T11:30:00Z", vmv1.RemediationSucceeded, -30*time.Minute)),
			conds:  panicConds(), now: 10 * time.Second,
			// Attempt 2 is in the window: the backoff after it is over.
			want:      "request 3 Reset " + panicFault + "; 2:Succeeded 3:Pending; total 3",
			exhausted: "False/AttemptsLeft", recheck: 10*time.Second + requestTimeout},
		{name: "the fault was acted on: never twice",
			spec: resetPolicy(), status: record(att(1, panicFault, vmv1.RemediationSucceeded, 10*time.Second)), conds: panicConds(), now: 20 * time.Minute,
			want: "1:Succeeded; total 1", exhausted: "False/AttemptsLeft", recheck: never},
		{name: "a new fault after an acted-on one: acted on after the backoff",
			spec:   resetPolicy(),
			status: record(att(1, "GuestPanicked/2026-03-01T11:59:00Z", vmv1.RemediationSucceeded, -50*time.Second)), conds: panicConds(), now: 10 * time.Second,
			want:      "request 2 Reset " + panicFault + "; 1:Succeeded 2:Pending; total 2",
			exhausted: "False/AttemptsLeft", recheck: 10*time.Second + requestTimeout},
		{name: "dry run: an attempt, no request",
			spec: resetPolicy(func(s *vmv1.RemediationSpec) { s.DryRun = true }), conds: panicConds(), now: 10 * time.Second,
			want: "1:DryRun; total 1", exhausted: "False/AttemptsLeft", finished: "1:DryRun", recheck: never},
		{name: "dry run: once per fault",
			spec: resetPolicy(func(s *vmv1.RemediationSpec) { s.DryRun = true }), status: record(att(1, panicFault, vmv1.RemediationDryRunResult, 10*time.Second)),
			conds: panicConds(), now: 20 * time.Minute,
			want: "1:DryRun; total 1", exhausted: "False/AttemptsLeft", recheck: never},
		{name: "IOError while errors keep arriving: not paused on it, nothing",
			spec:  &vmv1.RemediationSpec{IOError: vmv1.RemediationResume, DelaySeconds: ptr.To[int32](0)},
			conds: panicConds(remCond(panics, metav1.ConditionFalse, vmv1.ReasonNoPanic, 0), remCond(ioerr, metav1.ConditionTrue, vmv1.ReasonRecentErrors, 0)), now: time.Minute,
			want: "none", exhausted: "False/AttemptsLeft", recheck: never},
		{name: "IOError paused on the error: Resume, the fault is the stop",
			spec: &vmv1.RemediationSpec{IOError: vmv1.RemediationResume, DelaySeconds: ptr.To[int32](0)},
			conds: panicConds(remCond(panics, metav1.ConditionFalse, vmv1.ReasonNoPanic, 0), remCond(ioerr, metav1.ConditionTrue, vmv1.ReasonPausedOnError, 0),
				remCond(paused, metav1.ConditionTrue, vmv1.ReasonIOError, 0)),
			facts: with(stopped("io-error", 3*time.Second)), now: time.Minute,
			want:      "request 1 Resume IOError/" + t0.Add(3*time.Second).Format(time.RFC3339Nano) + "; 1:Pending; total 1",
			exhausted: "False/AttemptsLeft", recheck: time.Minute + requestTimeout},
		{name: "two faults: GuestPanicked first",
			spec:  resetPolicy(func(s *vmv1.RemediationSpec) { s.WatchdogExpired = vmv1.RemediationReset }),
			conds: panicConds(remCond(wdog, metav1.ConditionTrue, vmv1.ReasonPause, 0)), now: time.Minute,
			want:      "request 1 Reset " + panicFault + "; 1:Pending; total 1",
			exhausted: "False/AttemptsLeft", recheck: time.Minute + requestTimeout},
		{name: "spec removed while a request is outstanding: its outcome is still recorded",
			spec: nil, status: executed(outstanding(1, 10*time.Second), 1, vmv1.ExecutionSucceeded, "done"), conds: panicConds(), now: 13 * time.Second,
			want: "1:Succeeded; total 1", finished: "1:Succeeded", recheck: never},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			facts := c.facts
			if facts.RunState == "" {
				facts = panicFacts()
			}
			var before string
			if c.status != nil {
				before = describeRecord(c.status)
			}
			now := t0.Add(c.now)
			plan := planRemediation(c.spec, c.status, c.conds, &facts, now)
			if got := describeRecord(plan.status); got != c.want {
				t.Errorf("record: %s\nwant:   %s", got, c.want)
			}
			if c.status != nil && describeRecord(c.status) != before {
				t.Errorf("the persisted record was changed in place: %s", describeRecord(c.status))
			}
			exhausted := ""
			if plan.exhausted != nil {
				exhausted = string(plan.exhausted.Status) + "/" + plan.exhausted.Reason
			}
			if exhausted != c.exhausted {
				t.Errorf("RemediationExhausted: %q, want %q", exhausted, c.exhausted)
			}
			wantRecheck := time.Time{}
			if c.recheck != never {
				wantRecheck = t0.Add(c.recheck)
			}
			if !plan.recheck.Equal(wantRecheck) {
				t.Errorf("recheck at %s, want %s", plan.recheck, wantRecheck)
			}
			var finished []string
			for _, a := range plan.finished {
				finished = append(finished, fmt.Sprintf("%d:%s", a.ID, a.Result))
			}
			if got := strings.Join(finished, " "); got != c.finished {
				t.Errorf("finished: %q, want %q", got, c.finished)
			}
		})
	}
}

// TestPlanIsStable: a plan applied and read back is planned again the same
// way: nothing more is requested for the same state, which is what makes a
// restarted controller (or the next leader) make no second request.
func TestPlanIsStable(t *testing.T) {
	facts := panicFacts()
	spec := resetPolicy()
	first := planRemediation(spec, nil, panicConds(), &facts, t0.Add(10*time.Second))
	if first.status == nil || first.status.Request == nil {
		t.Fatalf("no request: %s", describeRecord(first.status))
	}
	for _, later := range []time.Duration{10 * time.Second, 11 * time.Second, time.Minute} {
		again := planRemediation(spec, first.status, panicConds(), &facts, t0.Add(later))
		if !remediationEqual(first.status, again.status) {
			t.Errorf("at +%s the plan changed: %s, was %s", later, describeRecord(again.status), describeRecord(first.status))
		}
	}
}

func TestRecordOutcomeKeepsTheAgentsWords(t *testing.T) {
	facts := panicFacts()
	rs := executed(outstanding(1, 10*time.Second), 1, vmv1.ExecutionFailed, "QMP error: "+strings.Repeat("x", 2000))
	plan := planRemediation(resetPolicy(), rs, panicConds(), &facts, t0.Add(13*time.Second))
	a := plan.status.Attempts[0]
	if !strings.HasPrefix(a.Message, "QMP error: x") || len(a.Message) > noteLimit {
		t.Errorf("message %q (%d bytes)", a.Message[:20], len(a.Message))
	}
	if a.FinishedAt == nil || !a.FinishedAt.Equal(rs.Execution.FinishedAt) {
		t.Errorf("finishedAt %v, want the agent's %v", a.FinishedAt, rs.Execution.FinishedAt)
	}
	if plan.status.Execution == nil || plan.status.Execution.RequestID != 1 {
		t.Errorf("the agent's execution report must stay as read: %+v", plan.status.Execution)
	}
}

func TestBackoffAfter(t *testing.T) {
	p := remediationPolicy{backoff: 30 * time.Second, maxBackoff: 200 * time.Second}
	for n, want := range []time.Duration{0, 30 * time.Second, 60 * time.Second, 120 * time.Second, 200 * time.Second, 200 * time.Second} {
		if got := p.backoffAfter(n); got != want {
			t.Errorf("after %d attempts: %s, want %s", n, got, want)
		}
	}
	if got := p.backoffAfter(100); got != p.maxBackoff {
		t.Errorf("after 100 attempts: %s, want the cap", got)
	}
}

func TestExhaustedMessage(t *testing.T) {
	facts := panicFacts()
	rs := record(att(1, panicFault, vmv1.RemediationFailed, 10*time.Second), att(2, panicFault, vmv1.RemediationFailed, 40*time.Second), att(3, panicFault, vmv1.RemediationFailed, 100*time.Second))
	plan := planRemediation(resetPolicy(), rs, panicConds(), &facts, t0.Add(30*time.Minute))
	for _, want := range []string{"3 attempts since 2026-03-01T12:00:10Z", "at most 3 in 1h0m0s", panicFault, "before 2026-03-01T13:00:10Z"} {
		if !strings.Contains(plan.exhausted.Message, want) {
			t.Errorf("message %q lacks %q", plan.exhausted.Message, want)
		}
	}
}

// TestAttemptEvents: each attempt is told by Events named after the VM,
// the attempt and what they tell, so a replay cannot duplicate them.
func TestAttemptEvents(t *testing.T) {
	vm := &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "vm", UID: "uid-1"}}
	cases := []struct {
		a    vmv1.RemediationAttempt
		want []string // "Reason/Type"
	}{
		{att(1, panicFault, vmv1.RemediationPending, 0), []string{"RemediationRequested/Normal"}},
		{att(1, panicFault, vmv1.RemediationSucceeded, 0), []string{"RemediationRequested/Normal", "RemediationSucceeded/Normal"}},
		{att(1, panicFault, vmv1.RemediationFailed, 0), []string{"RemediationRequested/Normal", "RemediationFailed/Warning"}},
		{att(1, panicFault, vmv1.RemediationUnknown, 0), []string{"RemediationRequested/Normal", "RemediationFailed/Warning"}},
		{att(1, panicFault, vmv1.RemediationExpired, 0), []string{"RemediationRequested/Normal", "RemediationFailed/Warning"}},
		{att(1, panicFault, vmv1.RemediationDryRunResult, 0), []string{"RemediationDryRun/Normal"}},
	}
	names := map[string]string{}
	for _, c := range cases {
		var got []string
		for _, e := range attemptEvents(vm, c.a) {
			got = append(got, e.reason+"/"+e.eventType)
			if n := remediationEventName(vm, c.a.ID, e.reason); e.name != n {
				t.Errorf("%s: name %s, want %s", e.reason, e.name, n)
			}
			if prev, ok := names[e.reason]; ok && prev != e.name {
				t.Errorf("%s of attempt 1 has two names: %s, %s", e.reason, prev, e.name)
			}
			names[e.reason] = e.name
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: %v, want %v", c.a.Result, got, c.want)
		}
	}
	if remediationEventName(vm, 1, vmv1.ReasonRemediationRequested) == remediationEventName(vm, 2, vmv1.ReasonRemediationRequested) {
		t.Error("two attempts share an Event name")
	}
}

func TestExhaustedEventType(t *testing.T) {
	cases := []struct {
		name   string
		status metav1.ConditionStatus
		reason string
		want   string
	}{
		{"given up: Warning", metav1.ConditionTrue, vmv1.ReasonMaxAttemptsReached, corev1.EventTypeWarning},
		{"where it starts: nothing", metav1.ConditionFalse, vmv1.ReasonAttemptsLeft, ""},
		{"the end of an exhaustion: Normal", metav1.ConditionFalse, vmv1.ReasonRecovered, corev1.EventTypeNormal},
	}
	for _, c := range cases {
		got := exhaustedEventType(remCond(vmv1.ConditionRemediationExhausted, c.status, c.reason, time.Minute))
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

package controllers

import (
	"fmt"
	"strings"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// remediationPlan is what one reconcile does about remediation.
type remediationPlan struct {
	// status is status.remediation as it should be (the execution as
	// read); nil when there is nothing to record.
	status *vmv1.RemediationStatus
	// exhausted is RemediationExhausted, nil when it must be absent.
	exhausted *metav1.Condition
	// finished are the attempts that got their result in this reconcile
	// (outcomes and dry runs), for the metrics once the status is applied.
	finished []vmv1.RemediationAttempt
	// recheck is when time alone changes the plan (a delay or backoff
	// ends, a request times out, an attempt leaves the window); zero when
	// only a change to the VM can.
	recheck time.Time
}

// planRemediation decides, from the persisted spec.remediation and
// status.remediation, the conditions just computed (conds) and the agent's
// facts, what status.remediation becomes at now.
func planRemediation(spec *vmv1.RemediationSpec, persisted *vmv1.RemediationStatus, conds []metav1.Condition, facts *vmv1.VirtualMachineStatus, now time.Time) remediationPlan {
	rs := &vmv1.RemediationStatus{}
	if persisted != nil {
		rs = persisted.DeepCopy()
	}
	var plan remediationPlan
	// An outstanding request is seen through to its outcome even when the
	// spec no longer asks for anything: the agent may be acting on it.
	if a, ok := recordOutcome(rs, now); ok {
		plan.finished = append(plan.finished, a)
	}

	p, on := policyOf(spec)
	faults := activeFaults(p, conds, facts)
	pruneAttempts(rs, p.window, faults, now)
	if on {
		for _, f := range faults {
			a, due := nextAttempt(rs, p, f, conds, now)
			plan.recheck = earliest(plan.recheck, due)
			if a == nil {
				continue
			}
			if a.Result == vmv1.RemediationDryRunResult {
				plan.finished = append(plan.finished, *a)
				continue
			}
			break // a request is outstanding now: one at a time
		}
		plan.exhausted = exhaustedCondition(rs, p, faults, now)
		if n, oldest, _ := inWindow(rs, p.window, now); n >= p.maxAttempts && len(faults) > 0 && rs.Request == nil {
			// The oldest attempt leaving the window ends the exhaustion.
			plan.recheck = earliest(plan.recheck, oldest.Add(p.window))
		}
	}
	plan.recheck = earliest(plan.recheck, requestDeadline(rs))
	if rs.Request != nil || len(rs.Attempts) > 0 || rs.TotalAttempts > 0 || rs.Execution != nil {
		plan.status = rs
	}
	return plan
}

// recordOutcome records the outcome of the outstanding request as its
// attempt's result, and clears the request: the agent's execution report
// for it when that is final, or Expired when no agent took it up within
// requestTimeout. It returns the finished attempt.
func recordOutcome(rs *vmv1.RemediationStatus, now time.Time) (vmv1.RemediationAttempt, bool) {
	req := rs.Request
	if req == nil {
		return vmv1.RemediationAttempt{}, false
	}
	var result vmv1.RemediationResult
	var message string
	finished := microNow(now)
	ex := rs.Execution
	switch {
	case ex != nil && ex.RequestID == req.ID:
		result = executionResults[ex.Phase]
		if result == "" { // Executing: the agent is acting.
			return vmv1.RemediationAttempt{}, false
		}
		message = ex.Message
		if ex.FinishedAt != nil {
			finished = *ex.FinishedAt
		}
	case now.Sub(req.RequestedAt.Time) >= requestTimeout:
		result = vmv1.RemediationExpired
		message = fmt.Sprintf("no agent took the request up within %s; it was not carried out", requestTimeout)
	default:
		return vmv1.RemediationAttempt{}, false
	}
	i := attemptIndex(rs, req.ID)
	if i < 0 {
		// Somebody removed the Pending attempt: put it back.
		rs.Attempts = append(rs.Attempts, attemptOf(req, vmv1.RemediationPending))
		i = len(rs.Attempts) - 1
	}
	a := &rs.Attempts[i]
	a.Result, a.FinishedAt, a.Message = result, &finished, bound(message)
	rs.Request = nil
	return *a, true
}

// executionResults maps the agent's final phases to attempt results.
var executionResults = map[vmv1.ExecutionPhase]vmv1.RemediationResult{
	vmv1.ExecutionSucceeded: vmv1.RemediationSucceeded,
	vmv1.ExecutionFailed:    vmv1.RemediationFailed,
	vmv1.ExecutionUnknown:   vmv1.RemediationUnknown,
	vmv1.ExecutionExpired:   vmv1.RemediationExpired,
}

// requestDeadline is when the outstanding request expires if no agent takes
// it up, or zero.
func requestDeadline(rs *vmv1.RemediationStatus) time.Time {
	if rs.Request == nil || (rs.Execution != nil && rs.Execution.RequestID == rs.Request.ID) {
		return time.Time{}
	}
	return rs.Request.RequestedAt.Add(requestTimeout)
}

// pruneAttempts drops the attempts requested before the window, except the
// Pending one and those that keep a fault still True from being acted on
// twice (dropping them would make it look new), and keeps at most
// maxAttemptsKept (the newest).
func pruneAttempts(rs *vmv1.RemediationStatus, window time.Duration, faults []activeFault, now time.Time) {
	current := map[string]bool{}
	for _, f := range faults {
		current[f.id] = true
	}
	from := now.Add(-window)
	kept := rs.Attempts[:0]
	for _, a := range rs.Attempts {
		if a.RequestedAt.Time.After(from) || a.Result == vmv1.RemediationPending || current[a.Fault] {
			kept = append(kept, a)
		}
	}
	if extra := len(kept) - maxAttemptsKept; extra > 0 {
		kept = kept[extra:]
	}
	if len(kept) == 0 {
		kept = nil
	}
	rs.Attempts = kept
}

// nextAttempt makes the request (or, in a dry run, records the attempt)
// for f if everything allows it now; otherwise it returns nil and when
// waiting alone may allow it (zero if waiting will not).
func nextAttempt(rs *vmv1.RemediationStatus, p remediationPolicy, f activeFault, conds []metav1.Condition, now time.Time) (*vmv1.RemediationAttempt, time.Time) {
	if rs.Request != nil || actedOn(rs, f.id) || blockedBy(f, conds) != "" {
		return nil, time.Time{}
	}
	if at := f.since.Add(p.delay); now.Before(at) {
		return nil, at
	}
	n, oldest, newest := inWindow(rs, p.window, now)
	if n >= p.maxAttempts {
		return nil, oldest.Add(p.window)
	}
	if at := newest.Add(p.backoffAfter(n)); n > 0 && now.Before(at) {
		return nil, at
	}
	rs.TotalAttempts++
	req := &vmv1.RemediationRequest{
		ID: rs.TotalAttempts, Action: f.action, Condition: f.condition, Fault: f.id, RequestedAt: microNow(now),
	}
	if p.dryRun {
		a := attemptOf(req, vmv1.RemediationDryRunResult)
		a.FinishedAt = &req.RequestedAt
		a.Message = bound(fmt.Sprintf("would have %s: %s is True (%s) since %s; dry run, nothing was done",
			verb(f.action), f.condition, f.reason, stamp(f.since)))
		rs.Attempts = append(rs.Attempts, a)
		return &a, time.Time{}
	}
	rs.Request = req
	a := attemptOf(req, vmv1.RemediationPending)
	rs.Attempts = append(rs.Attempts, a)
	return &a, time.Time{}
}

// exhaustedCondition is RemediationExhausted: True when a fault that still
// needs an attempt is True, nothing is outstanding and the window's
// attempts are spent. A fault already acted on (its reset succeeded, and
// the agent's facts have yet to show it) needs none: nothing was given up.
func exhaustedCondition(rs *vmv1.RemediationStatus, p remediationPolicy, faults []activeFault, now time.Time) *metav1.Condition {
	c := &metav1.Condition{Type: vmv1.ConditionRemediationExhausted, Status: metav1.ConditionFalse, Reason: vmv1.ReasonAttemptsLeft}
	var waiting []activeFault
	for _, f := range faults {
		if !actedOn(rs, f.id) {
			waiting = append(waiting, f)
		}
	}
	n, oldest, _ := inWindow(rs, p.window, now)
	switch {
	case rs.Request != nil:
		c.Message = fmt.Sprintf("attempt %d (%s for %s) is outstanding", rs.Request.ID, rs.Request.Action, rs.Request.Condition)
	case len(waiting) == 0 && len(faults) > 0:
		c.Message = fmt.Sprintf("%s was acted on; it is not acted on again", faults[0].id)
	case len(waiting) == 0:
		c.Message = "no fault needs remediation"
	case n < p.maxAttempts:
		c.Message = fmt.Sprintf("%d of %d attempts in %s made", n, p.maxAttempts, p.window)
	default:
		f := waiting[0]
		c.Status, c.Reason = metav1.ConditionTrue, vmv1.ReasonMaxAttemptsReached
		c.Message = fmt.Sprintf("%d attempts since %s, at most %d in %s; %s is still True (fault %s); nothing more is tried before %s, when the oldest attempt leaves the window",
			n, stamp(oldest), p.maxAttempts, p.window, f.condition, f.id, stamp(oldest.Add(p.window)))
	}
	return c
}

// attemptOf is the attempt recording req with result r.
func attemptOf(req *vmv1.RemediationRequest, r vmv1.RemediationResult) vmv1.RemediationAttempt {
	return vmv1.RemediationAttempt{
		ID: req.ID, Action: req.Action, Condition: req.Condition, Fault: req.Fault, RequestedAt: req.RequestedAt, Result: r,
	}
}

// attemptIndex is the index of attempt id, or -1.
func attemptIndex(rs *vmv1.RemediationStatus, id int64) int {
	for i := range rs.Attempts {
		if rs.Attempts[i].ID == id {
			return i
		}
	}
	return -1
}

// remediationEqual says whether the controller's fields of a and b are the
// same as the API server stores them.
func remediationEqual(a, b *vmv1.RemediationStatus) bool {
	return apiequality.Semantic.DeepEqual(controllerFields(a), controllerFields(b))
}

// controllerFields are rs's fields the controller owns; zero for nil.
func controllerFields(rs *vmv1.RemediationStatus) vmv1.RemediationStatus {
	if rs == nil {
		return vmv1.RemediationStatus{}
	}
	out := vmv1.RemediationStatus{Request: rs.Request, Attempts: rs.Attempts, TotalAttempts: rs.TotalAttempts}
	if len(out.Attempts) == 0 {
		out.Attempts = nil
	}
	return out
}

// bound keeps a message within the API's 1024 bytes.
func bound(s string) string {
	if len(s) <= noteLimit {
		return s
	}
	return strings.ToValidUTF8(s[:noteLimit-3], "") + "..."
}

// earliest is the earlier of two times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

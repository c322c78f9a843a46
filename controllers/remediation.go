package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// Remediation, the controller's side (docs/remediation.md).
//
// The controller decides, the node agent acts. Every reconcile computes
// status.remediation's controller fields (request, attempts, totalAttempts)
// from what is persisted (the VM's spec, its status, the conditions just
// computed) and the clock, and writes them with the conditions in the one
// resourceVersion-conditional status apply. The decision reads nothing
// else, and the request it makes is in the status before anybody can act on
// it: a restarted controller, or the next leader, reads the outstanding
// request back and makes no second one for the same state.
//
// The functions below are pure, one per concern: the policy with its
// defaults (policyOf), the faults that ask for an action (activeFaults),
// what forbids acting (blockedBy), the outcome of a request (recordOutcome),
// pruning (pruneAttempts), the next request (nextAttempt), giving up
// (exhaustedCondition); planRemediation puts them together.

const (
	// requestTimeout is how long a request may go without the agent taking
	// it up before it counts as Expired: the agent refuses requests older
	// than its accept window (60 s), so past this nobody will carry it out.
	requestTimeout = 2 * time.Minute

	// Defaults of spec.remediation, as the CRD declares them, for objects
	// written before the defaults existed.
	defaultRemediationDelay      = 10 * time.Second
	defaultRemediationBackoff    = 30 * time.Second
	defaultRemediationMaxBackoff = 600 * time.Second
	defaultRemediationAttempts   = 3
	defaultRemediationWindow     = time.Hour

	// maxAttemptsKept is status.remediation.attempts' MaxItems.
	maxAttemptsKept = 100
)

// remediationFaults are the fault conditions remediation acts on, in the
// order they are considered.
var remediationFaults = []string{
	vmv1.ConditionGuestPanicked,
	vmv1.ConditionWatchdogExpired,
	vmv1.ConditionIOError,
}

// specAction is the action spec names for fault condition cond.
func specAction(spec *vmv1.RemediationSpec, cond string) vmv1.RemediationAction {
	switch cond {
	case vmv1.ConditionGuestPanicked:
		return spec.GuestPanicked
	case vmv1.ConditionWatchdogExpired:
		return spec.WatchdogExpired
	case vmv1.ConditionIOError:
		return spec.IOError
	}
	return ""
}

// remediationPolicy is spec.remediation with its defaults filled in.
type remediationPolicy struct {
	// actions are the actions by fault condition; None is left out.
	actions                            map[string]vmv1.RemediationAction
	delay, backoff, maxBackoff, window time.Duration
	maxAttempts                        int
	dryRun                             bool
}

// policyOf returns spec's policy, and whether it names any action at all
// (only then does the controller act, and only then is
// RemediationExhausted present).
func policyOf(spec *vmv1.RemediationSpec) (remediationPolicy, bool) {
	p := remediationPolicy{
		actions: map[string]vmv1.RemediationAction{},
		delay:   defaultRemediationDelay, backoff: defaultRemediationBackoff, maxBackoff: defaultRemediationMaxBackoff,
		maxAttempts: defaultRemediationAttempts, window: defaultRemediationWindow,
	}
	if spec == nil {
		return p, false
	}
	for _, cond := range remediationFaults {
		if a := specAction(spec, cond); a != "" && a != vmv1.RemediationNone {
			p.actions[cond] = a
		}
	}
	if spec.DelaySeconds != nil {
		p.delay = seconds(*spec.DelaySeconds)
	}
	if spec.BackoffSeconds > 0 {
		p.backoff = seconds(spec.BackoffSeconds)
	}
	if spec.MaxBackoffSeconds > 0 {
		p.maxBackoff = seconds(spec.MaxBackoffSeconds)
	}
	if spec.MaxAttempts > 0 {
		p.maxAttempts = int(spec.MaxAttempts)
	}
	if spec.WindowSeconds > 0 {
		p.window = seconds(spec.WindowSeconds)
	}
	p.dryRun = spec.DryRun
	return p, len(p.actions) > 0
}

func seconds(s int32) time.Duration { return time.Duration(s) * time.Second }

// backoffAfter is the least time between the newest attempt and the next
// when n attempts are in the window: backoff doubled per attempt after the
// first, capped at maxBackoff; none before the first.
func (p remediationPolicy) backoffAfter(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := p.backoff
	for i := 1; i < n && d < p.maxBackoff; i++ {
		d *= 2
	}
	return min(d, p.maxBackoff)
}

// activeFault is a fault condition that is True and has an action.
type activeFault struct {
	condition string
	action    vmv1.RemediationAction
	// id identifies the fault: "<Condition>/<time RFC3339Nano UTC>".
	id string
	// since is when the fault started for the delay: the later of the
	// fault's own time (microseconds) and the condition's flip (whole
	// seconds, so up to a second before the flip really happened).
	since time.Time
	// reason is the condition's reason.
	reason string
}

// activeFaults returns the faults of p's conditions that are True in conds,
// in remediationFaults' order. IOError counts only while the VM is paused
// on the error: resuming a VM that runs on with errors would do nothing.
func activeFaults(p remediationPolicy, conds []metav1.Condition, st *vmv1.VirtualMachineStatus) []activeFault {
	var out []activeFault
	for _, t := range remediationFaults {
		action, ok := p.actions[t]
		c := meta.FindStatusCondition(conds, t)
		if !ok || c == nil || c.Status != metav1.ConditionTrue {
			continue
		}
		if t == vmv1.ConditionIOError && c.Reason != vmv1.ReasonPausedOnError {
			continue
		}
		at := faultTime(t, st, c)
		since := c.LastTransitionTime.Time
		if at.After(since) {
			since = at
		}
		out = append(out, activeFault{
			condition: t, action: action, reason: c.Reason, since: since,
			id: t + "/" + at.UTC().Format(time.RFC3339Nano),
		})
	}
	return out
}

// faultTime is when the fault behind c happened, from the agent's facts:
// the panic's or the watchdog's time, the stop for a VM paused on an I/O
// error. Without the fact (the agent connected after the fault), the stop,
// else the condition's own flip, stands for it.
func faultTime(t string, st *vmv1.VirtualMachineStatus, c *metav1.Condition) time.Time {
	switch {
	case t == vmv1.ConditionGuestPanicked && st.LastPanic != nil:
		return st.LastPanic.Time.Time
	case t == vmv1.ConditionWatchdogExpired && st.LastWatchdog != nil:
		return st.LastWatchdog.Time.Time
	case st.RunStateSince != nil:
		return st.RunStateSince.Time
	}
	return c.LastTransitionTime.Time
}

// blockedBy says why nothing may be done about f now, or "". The agent
// alone can tell the VM apart from another for sure, and only while it is
// connected to its monitor; a VM being migrated is owned by the migration;
// a VM shut down on purpose stays down (one a fault powered off, a panic or
// a watchdog with action poweroff or shutdown, may be acted on).
func blockedBy(f activeFault, conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, vmv1.ConditionMonitorConnected); c == nil || c.Status != metav1.ConditionTrue {
		return "the monitor is not connected"
	}
	p := meta.FindStatusCondition(conds, vmv1.ConditionPaused)
	if p == nil || p.Status != metav1.ConditionTrue {
		return ""
	}
	switch {
	case p.Reason == vmv1.ReasonMigration:
		return "the VM is being migrated"
	case p.Reason == vmv1.ReasonShutdown && f.reason != vmv1.ReasonPoweroff && f.reason != vmv1.ReasonShutdown:
		return "the VM was shut down on purpose"
	}
	return ""
}

// actedOn says whether fault id already had an attempt that must not be
// repeated: one that succeeded, may still succeed, may have been carried
// out (Unknown), or was a dry run. Failed and Expired ones were not carried
// out and may be retried.
func actedOn(rs *vmv1.RemediationStatus, id string) bool {
	for _, a := range rs.Attempts {
		if a.Fault != id {
			continue
		}
		switch a.Result {
		case vmv1.RemediationSucceeded, vmv1.RemediationPending, vmv1.RemediationUnknown, vmv1.RemediationDryRunResult:
			return true
		}
	}
	return false
}

// inWindow returns the attempts requested within the window ending at now,
// and the oldest and newest request times among them.
func inWindow(rs *vmv1.RemediationStatus, window time.Duration, now time.Time) (n int, oldest, newest time.Time) {
	from := now.Add(-window)
	for _, a := range rs.Attempts {
		t := a.RequestedAt.Time
		if !t.After(from) {
			continue
		}
		n++
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
		if t.After(newest) {
			newest = t
		}
	}
	return n, oldest, newest
}

// setRemediationExhausted sets RemediationExhausted on vm to c, or removes
// it when c is nil (the VM's spec names no action).
func setRemediationExhausted(vm *vmv1.VirtualMachine, c *metav1.Condition, now time.Time) {
	if c == nil {
		meta.RemoveStatusCondition(&vm.Status.Conditions, vmv1.ConditionRemediationExhausted)
		return
	}
	if c.Status == metav1.ConditionFalse && wasFaulted(vm, vmv1.ConditionRemediationExhausted) {
		// The end of an exhaustion, as every fault condition's: Recovered
		// until it is True again.
		c.Reason = vmv1.ReasonRecovered
	}
	setCondition(vm, *c, now)
}

// actionVerbs are the actions in words: "would have reset the guest".
var actionVerbs = map[vmv1.RemediationAction]string{
	vmv1.RemediationReset:      "reset the guest",
	vmv1.RemediationResume:     "resumed the guest",
	vmv1.RemediationPowerCycle: "power-cycled the guest",
}

// verb is what action does, in words.
func verb(a vmv1.RemediationAction) string {
	if v, ok := actionVerbs[a]; ok {
		return v
	}
	return fmt.Sprintf("done %s", a)
}

// microNow is now as the API server keeps a MicroTime, so that what is
// computed compares equal to what is read back.
func microNow(now time.Time) metav1.MicroTime {
	return metav1.NewMicroTime(now.UTC().Truncate(time.Microsecond))
}

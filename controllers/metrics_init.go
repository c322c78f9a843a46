package controllers

import vmv1 "github.com/vmevents/vmevents/api/v1alpha1"

// The series of the label values the controller knows before anything
// happens are made at start, at zero, as the agent's are
// (qmpagent/metrics/init.go): a scrape shows every metric the alerts and
// the dashboard name, and increase() sees a first error. The values are
// those events.go, reconciler.go and remediation*.go pass; keep them in
// step.
func init() {
	for _, r := range []string{"created", "already_exists", "skipped", "failed"} {
		transitionEventsTotal.WithLabelValues(r)
	}
	for _, s := range []string{"read", "apply", "events"} {
		reconcileErrorsTotal.WithLabelValues(s)
	}
	for _, c := range remediationFaults {
		for _, a := range []vmv1.RemediationAction{vmv1.RemediationReset, vmv1.RemediationResume, vmv1.RemediationPowerCycle} {
			for _, r := range []vmv1.RemediationResult{vmv1.RemediationSucceeded, vmv1.RemediationFailed,
				vmv1.RemediationUnknown, vmv1.RemediationExpired, vmv1.RemediationDryRunResult} {
				remediationAttemptsTotal.WithLabelValues(c, string(a), string(r))
			}
		}
	}
}

package controllers

// The series of the label values the controller knows before anything
// happens are made at start, at zero, as the agent's are
// (qmpagent/metrics/init.go): a scrape shows every metric the alerts and
// the dashboard name, and increase() sees a first error. The values are
// those events.go and reconciler.go pass; keep them in step.
func init() {
	for _, r := range []string{"created", "already_exists", "skipped", "failed"} {
		transitionEventsTotal.WithLabelValues(r)
	}
	for _, s := range []string{"read", "apply", "events"} {
		reconcileErrorsTotal.WithLabelValues(s)
	}
}

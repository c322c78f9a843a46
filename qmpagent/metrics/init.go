package metrics

// The series of the label values the agent knows before anything happens
// are made at start, at zero: a scrape then shows every metric the alerts
// and the dashboard of config/components/prometheus name from the first
// scrape on, and increase() and rate() see a fault's first count (a counter
// series that first appears at 1 reads as no increase to Prometheus).
//
// The values are those the code passes; keep them in step: model's
// Occurrence.EventType (types), qmpsource's sink (shed reason), events.go
// (refused reasons), model.Facts.Bound and facts.go (dropped fields),
// spool_setup.go's spoolErrors and publisher.go's observe (kinds), the
// sources' names (silenced, remediations) and the API's remediation
// actions and execution phases.
func init() {
	for _, t := range []string{"Normal", "Warning"} {
		EventsPublished.WithLabelValues(t)
	}
	EventsShed.WithLabelValues("queue-overflow")
	for _, r := range []string{"invalid", "namespace-gone"} {
		EventsRefused.WithLabelValues(r)
	}
	for _, f := range []string{"eventCounts", "displaySessions", "blockErrors", "quorumFaults", "resources", "invalid"} {
		FactsDropped.WithLabelValues(f)
	}
	for _, k := range []string{"status", "event"} {
		SpoolErrors.WithLabelValues(k)
	}
	for _, src := range []string{"qmp", "libvirt", "lxd"} {
		EventsSilenced.WithLabelValues(src)
		for _, a := range []string{"Reset", "Resume", "PowerCycle"} {
			for _, r := range []string{"Succeeded", "Failed", "Unknown", "Expired"} {
				Remediations.WithLabelValues(src, a, r)
			}
		}
	}
	for _, k := range []string{"status", "event", "lease"} {
		for _, r := range []string{"ok", "error"} {
			APIWriteSeconds.WithLabelValues(k, r)
		}
	}
}

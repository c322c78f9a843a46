// Package metrics holds the node agent's Prometheus metrics, registered with
// controller-runtime's registry so they are served on the manager's /metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// EventsReceived counts hypervisor events by source and event name.
	EventsReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_events_received_total",
		Help: "Hypervisor events received, by source and event name.",
	}, []string{"source", "event"})
	// EventsPublished counts occurrences that started a Kubernetes Event.
	EventsPublished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_events_published_total",
		Help: "Occurrences that started a new Kubernetes Event, by type.",
	}, []string{"type"})
	// EventsCoalesced counts occurrences folded into an existing Event series.
	EventsCoalesced = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_events_coalesced_total",
		Help: "Occurrences folded into an existing Kubernetes Event series (its count says how many).",
	})
	// EventsShed counts events the agent could not keep, by reason.
	EventsShed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_events_shed_total",
		Help: "Events shed before publishing, by reason; each is still counted in the VM's eventCounts.",
	}, []string{"reason"})
	// EventsRefused counts Events the apiserver refused for good, dropped.
	EventsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_events_refused_total",
		Help: "Kubernetes Events the apiserver refused for good and the agent dropped, by reason (invalid, namespace-gone).",
	}, []string{"reason"})
	// FactsDropped counts what the agent left out of VM statuses to keep
	// them within the schema.
	FactsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_facts_dropped_total",
		Help: "Status entries left out to fit the VirtualMachine schema, by field (displaySessions, blockErrors, quorumFaults, eventCounts, resources), and status writes the apiserver refused as invalid (invalid), then written without their lists.",
	}, []string{"field"})
	// EventsSuppressed counts occurrences past a VM's cap of open Event
	// series, folded into its EventsSuppressed series.
	EventsSuppressed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_events_suppressed_total",
		Help: "Occurrences past an object's cap of open Event series, counted in its EventsSuppressed series instead of a series of their own.",
	})
	// SessionsConnected is the number of monitors connected now.
	SessionsConnected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vmevents_agent_sessions_connected",
		Help: "Hypervisor monitor sessions connected now.",
	})
	// Sessions is the number of sessions the agent runs, connected or not.
	Sessions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vmevents_agent_sessions",
		Help: "Hypervisor monitor sessions the agent runs, connected or not.",
	})
	// Reconnects counts connections made after a session's first.
	Reconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_reconnects_total",
		Help: "Monitor connections made after a session's first.",
	})
	// Discovered counts VirtualMachines created by discovery.
	Discovered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_discovered_total",
		Help: "VirtualMachines created by discovery.",
	})
	// DiscoveredDeleted counts discovered VirtualMachines deleted because
	// their VM was gone for good.
	DiscoveredDeleted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_discovered_deleted_total",
		Help: "Discovered VirtualMachines deleted because their VM (its QMP socket) was gone for longer than the grace.",
	})
	// SpoolErrors counts what the node-local spool could not keep.
	SpoolErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_spool_errors_total",
		Help: "Values the node-local spool could not keep (disk full, spool full, I/O error), by kind (status, event); they stay in memory.",
	}, []string{"kind"})
	// Remediations counts the remediation requests the agent reported on.
	Remediations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_remediations_total",
		Help: "Remediation requests the agent reported on, by source, action and result (Succeeded, Failed, Unknown, Expired).",
	}, []string{"source", "action", "result"})
	// APIWriteSeconds measures the agent's writes to the Kubernetes API.
	APIWriteSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "vmevents_agent_api_write_duration_seconds",
		Help:    "Duration of the agent's Kubernetes API writes, by kind (status, event, lease) and result.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"kind", "result"})
)

func init() {
	crmetrics.Registry.MustRegister(EventsReceived, EventsPublished, EventsCoalesced, EventsShed, EventsRefused, FactsDropped, EventsSuppressed,
		SessionsConnected, Sessions, Reconnects, Discovered, DiscoveredDeleted, SpoolErrors, APIWriteSeconds,
		Remediations)
}

// EventsSilenced counts occurrences the event policy kept from becoming
// Kubernetes Events (spec.eventPolicy and the agent's --silence-events).
var EventsSilenced = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "vmevents_agent_events_silenced_total",
	Help: "Occurrences the event policy (spec.eventPolicy, --silence-events) kept from becoming Kubernetes Events, by source; each is still counted in the VM's eventCounts and delivery.silenced.",
}, []string{"source"})

func init() { crmetrics.Registry.MustRegister(EventsSilenced) }

// The write-ahead journal of the spool (qmpagent/journal): what it costs.
var (
	// JournalAppends counts the records appended (saves and deletes).
	JournalAppends = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_journal_appends_total",
		Help: "Records (saves and deletes of status facts and Event series) appended to the node-local spool's write-ahead journal.",
	})
	// JournalBytes counts the bytes appended.
	JournalBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_journal_bytes_total",
		Help: "Bytes appended to the node-local spool's write-ahead journal (compactions not counted).",
	})
	// JournalFsyncs counts the fsyncs of the journal and its folder.
	JournalFsyncs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_journal_fsyncs_total",
		Help: "fsyncs of the node-local spool's write-ahead journal (grouped, at most about one a second while it is written, more during an apiserver outage, and two per compaction).",
	})
)

func init() {
	crmetrics.Registry.MustRegister(JournalAppends, JournalBytes, JournalFsyncs)
}

// RoutineWritePlaces is how many of the agent's writes in flight the
// routine lanes (Normal Events, counter-only status) may hold now: the
// window the agent keeps to the apiserver's answer times.
var RoutineWritePlaces = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "vmevents_agent_routine_write_places",
	Help: "Places in flight the agent's routine writes (Normal Events, counter-only status) may hold now; it shrinks while the apiserver answers slower than 50 ms and grows back while it answers quickly. Fault Events and the status facts conditions depend on are never held back by it.",
})

func init() { crmetrics.Registry.MustRegister(RoutineWritePlaces) }

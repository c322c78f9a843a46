package lxdsource

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// framesReceived counts the stream's messages by event type.
	framesReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_lxd_frames_total",
		Help: "Messages read from LXD's event stream, by event type (lifecycle, operation, logging, other).",
	}, []string{"type"})
	// framesMalformed counts messages skipped because they made no sense.
	framesMalformed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_lxd_malformed_frames_total",
		Help: "Messages from LXD's event stream skipped as malformed, by reason (json, metadata, action, too-large).",
	}, []string{"reason"})
	// unmatched counts instance events for instances no VirtualMachine watches.
	unmatched = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_lxd_unmatched_events_total",
		Help: "LXD instance events for instances that no VirtualMachine of this node names in spec.lxd.",
	})
	// connected is 1 while the stream is up.
	connected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vmevents_agent_lxd_connected",
		Help: "1 while the agent follows LXD's event stream, else 0.",
	})
	// reconnects counts connections after the first.
	reconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_lxd_reconnects_total",
		Help: "Connections to LXD's event stream made after the first.",
	})
)

func init() {
	crmetrics.Registry.MustRegister(framesReceived, framesMalformed, unmatched, connected, reconnects)
}

// frameTypes bounds the label values of framesReceived.
var frameTypes = map[string]bool{"lifecycle": true, "operation": true, "logging": true}

func frameTypeLabel(t string) string {
	if frameTypes[t] {
		return t
	}
	return "other"
}

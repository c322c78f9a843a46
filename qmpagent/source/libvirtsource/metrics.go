package libvirtsource

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// auditRecords counts libvirt audit records read, by type and result.
	auditRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_libvirt_audit_records_total",
		Help: "libvirt audit records read from the audit log, by record type and result (success, failed).",
	}, []string{"type", "result"})
	// malformed counts lines the agent could not parse.
	malformed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_libvirt_malformed_total",
		Help: "Audit log lines or libvirt events the agent could not parse, by source (audit, monitor); each is logged and skipped.",
	}, []string{"source"})
	// unmatched counts records and events of domains no VirtualMachine names.
	unmatched = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_agent_libvirt_unmatched_total",
		Help: "libvirt audit records and events about a domain no VirtualMachine of this node names (by spec.uuid or spec.libvirt.domain), by source (audit, monitor, lifecycle).",
	}, []string{"source"})
	// discovered counts VirtualMachines created for unknown domains.
	discovered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_libvirt_discovered_total",
		Help: "VirtualMachines created for libvirt domains no VirtualMachine named.",
	})
	// connected is 1 while the agent is connected to libvirtd.
	connected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vmevents_agent_libvirt_connected",
		Help: "1 while the agent is connected to libvirtd, else 0.",
	})
	// reconnects counts connections to libvirtd after the first.
	reconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vmevents_agent_libvirt_reconnects_total",
		Help: "Connections to libvirtd made after the first.",
	})
	// subscriptions is the number of domains whose QEMU monitor events the agent follows.
	subscriptions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vmevents_agent_libvirt_monitor_subscriptions",
		Help: "Domains whose QEMU monitor events the agent follows through libvirtd.",
	})
)

func init() {
	crmetrics.Registry.MustRegister(auditRecords, malformed, unmatched, discovered, connected, reconnects, subscriptions)
}

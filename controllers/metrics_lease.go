package controllers

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vmevents/vmevents/internal/heartbeat"
)

// leaseAgeDesc is the age of each agent's heartbeat Lease. It is computed
// when scraped, from the manager's cache, so it grows while an agent is
// silent (a gauge set on Lease events would freeze at its last value, the
// very moment it matters) and a deleted Lease's series goes with it.
var leaseAgeDesc = prometheus.NewDesc("vmevents_agent_lease_age_seconds",
	"Seconds since the agent on the node last renewed its heartbeat Lease (acquired it, if never renewed), as the controller's cache sees it.",
	[]string{"node"}, nil)

// leaseSource is what the collector reads Leases from.
type leaseSource struct {
	reader    client.Reader
	namespace string
	now       func() time.Time
}

// leaseAges collects leaseAgeDesc from the current leaseSource. One
// collector for the process: a controller set up again (a restart in tests)
// replaces the source rather than registering a second collector.
type leaseAges struct{ src atomic.Pointer[leaseSource] }

var leaseAgeCollector = &leaseAges{}

func init() { metrics.Registry.MustRegister(leaseAgeCollector) }

// Describe implements prometheus.Collector.
func (l *leaseAges) Describe(ch chan<- *prometheus.Desc) { ch <- leaseAgeDesc }

// Collect implements prometheus.Collector: one sample per agent Lease.
func (l *leaseAges) Collect(ch chan<- prometheus.Metric) {
	src := l.src.Load()
	if src == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var leases coordinationv1.LeaseList
	if err := src.reader.List(ctx, &leases, client.InNamespace(src.namespace), client.HasLabels{heartbeat.NodeLabel}); err != nil {
		ch <- prometheus.NewInvalidMetric(leaseAgeDesc, err)
		return
	}
	for node, age := range leaseAgesAt(leases.Items, src.now()) {
		ch <- prometheus.MustNewConstMetric(leaseAgeDesc, prometheus.GaugeValue, age, node)
	}
}

// leaseAgesAt is the age in seconds of each agent Lease at now, by node.
// A Lease never renewed nor acquired has no age and is left out (the
// controller's NoAgent/AgentNotReporting conditions cover it).
func leaseAgesAt(leases []coordinationv1.Lease, now time.Time) map[string]float64 {
	ages := map[string]float64{}
	for i := range leases {
		node, ok := heartbeat.Node(&leases[i])
		if !ok {
			continue
		}
		if last, ok := heartbeat.LastRenewal(&leases[i]); ok {
			ages[node] = now.Sub(last).Seconds()
		}
	}
	return ages
}

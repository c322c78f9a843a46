package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics, on controller-runtime's registry (served at /metrics). Labels
// are low-cardinality on purpose: condition types, statuses and reasons are
// fixed sets; VMs are counted, never labelled.
var (
	conditionsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vmevents_virtualmachine_conditions",
		Help: "Number of VirtualMachines by condition type, status and reason.",
	}, []string{"type", "status", "reason"})

	transitionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_condition_transitions_total",
		Help: "Condition status flips written by this controller, by type and new status.",
	}, []string{"type", "status"})

	transitionEventsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_transition_events_total",
		Help: "Transition Event writes by result: created, already_exists (deduplicated), skipped, failed.",
	}, []string{"result"})

	reconcileErrorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_reconcile_errors_total",
		Help: "Reconcile errors by step: read (VM or Lease), apply (status), events.",
	}, []string{"step"})
)

func init() {
	metrics.Registry.MustRegister(conditionsGauge, transitionsTotal, transitionEventsTotal, reconcileErrorsTotal)
}

// conditionKey is one label set of conditionsGauge.
type conditionKey struct{ typ, status, reason string }

// conditionCounter keeps conditionsGauge equal to the number of VMs in each
// (type, status, reason), from what each reconcile computed.
type conditionCounter struct {
	mu     sync.Mutex
	byVM   map[types.NamespacedName][]conditionKey
	counts map[conditionKey]int
}

// newConditionCounter starts counting from zero (also after a controller
// restart inside one process, as in tests).
func newConditionCounter() *conditionCounter {
	conditionsGauge.Reset()
	return &conditionCounter{byVM: map[types.NamespacedName][]conditionKey{}, counts: map[conditionKey]int{}}
}

// set records vm's current conditions.
func (c *conditionCounter) set(vm types.NamespacedName, conds []metav1.Condition) {
	keys := make([]conditionKey, 0, len(conds))
	for _, cond := range conds {
		keys = append(keys, conditionKey{cond.Type, string(cond.Status), cond.Reason})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(vm)
	c.byVM[vm] = keys
	for _, k := range keys {
		c.counts[k]++
		conditionsGauge.WithLabelValues(k.typ, k.status, k.reason).Set(float64(c.counts[k]))
	}
}

// forget removes a deleted VM.
func (c *conditionCounter) forget(vm types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(vm)
}

func (c *conditionCounter) dropLocked(vm types.NamespacedName) {
	for _, k := range c.byVM[vm] {
		c.counts[k]--
		if c.counts[k] <= 0 {
			delete(c.counts, k)
			// Drop the series rather than export zeros for every reason
			// ever seen.
			conditionsGauge.DeleteLabelValues(k.typ, k.status, k.reason)
		} else {
			conditionsGauge.WithLabelValues(k.typ, k.status, k.reason).Set(float64(c.counts[k]))
		}
	}
	delete(c.byVM, vm)
}

// countTransitions counts the status flips from before to after.
func countTransitions(before, after []metav1.Condition) {
	for _, a := range after {
		var prev metav1.ConditionStatus
		for _, b := range before {
			if b.Type == a.Type {
				prev = b.Status
			}
		}
		if prev != a.Status {
			transitionsTotal.WithLabelValues(a.Type, string(a.Status)).Inc()
		}
	}
}

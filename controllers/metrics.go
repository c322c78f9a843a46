package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// Metrics, on controller-runtime's registry (served at /metrics). Labels
// are low-cardinality on purpose: condition types, statuses and reasons are
// fixed sets. VMs are labelled only in vmConditionGauge, and there only for
// the fault conditions an alert names (one series per VM and condition,
// deleted with the VM), so the series grow with the fleet, not with time.
var (
	conditionsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vmevents_virtualmachine_conditions",
		Help: "Number of VirtualMachines by condition type, status and reason.",
	}, []string{"type", "status", "reason"})

	vmConditionGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vmevents_virtualmachine_condition",
		Help: "1 for each VirtualMachine and fault condition (MonitorConnected, GuestPanicked, WatchdogExpired, IOError, HardwareError, StorageDegraded), labelled with the condition's current status and reason; the series goes with the VM.",
	}, []string{"namespace", "name", "type", "status", "reason"})

	transitionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_condition_transitions_total",
		Help: "Condition status flips written by this controller, by type and new status.",
	}, []string{"type", "status"})

	transitionEventsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_transition_events_total",
		Help: "Transition Event writes by result: created, already_exists (deduplicated), skipped, failed.",
	}, []string{"result"})

	transitionEventPlaces = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vmevents_controller_transition_event_places",
		Help: "Transition Event creates the controller keeps in flight now: fewer while the API server answers slowly (events_pace.go).",
	})

	reconcileErrorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vmevents_reconcile_errors_total",
		Help: "Reconcile errors by step: read (VM or Lease), apply (status), events.",
	}, []string{"step"})
)

func init() {
	metrics.Registry.MustRegister(conditionsGauge, vmConditionGauge, transitionsTotal, transitionEventsTotal, transitionEventPlaces, reconcileErrorsTotal)
}

// remediationAttemptsTotal counts remediation attempts by their outcome.
var remediationAttemptsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "vmevents_controller_remediation_attempts_total",
	Help: "Remediation attempts by fault condition, action and result (Succeeded, Failed, Unknown, Expired, DryRun), counted when the result is recorded.",
}, []string{"condition", "action", "result"})

func init() { metrics.Registry.MustRegister(remediationAttemptsTotal) }

// countRemediationAttempts counts the attempts whose result was just recorded.
func countRemediationAttempts(finished []vmv1.RemediationAttempt) {
	for _, a := range finished {
		remediationAttemptsTotal.WithLabelValues(a.Condition, string(a.Action), string(a.Result)).Inc()
	}
}

// conditionKey is one label set of conditionsGauge.
type conditionKey struct{ typ, status, reason string }

// alertedConditions are the conditions exported per VM in vmConditionGauge:
// those the alerts of config/components/prometheus page on.
var alertedConditions = map[string]bool{
	vmv1.ConditionMonitorConnected: true,
	vmv1.ConditionGuestPanicked:    true,
	vmv1.ConditionWatchdogExpired:  true,
	vmv1.ConditionIOError:          true,
	vmv1.ConditionHardwareError:    true,
	vmv1.ConditionStorageDegraded:  true,
	// Present only on VMs with spec.remediation.
	vmv1.ConditionRemediationExhausted: true,
}

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
	vmConditionGauge.Reset()
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
		if alertedConditions[k.typ] {
			vmConditionGauge.WithLabelValues(vm.Namespace, vm.Name, k.typ, k.status, k.reason).Set(1)
		}
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
		if alertedConditions[k.typ] {
			vmConditionGauge.DeleteLabelValues(vm.Namespace, vm.Name, k.typ, k.status, k.reason)
		}
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

// Package controllers holds the vmevents controller: it turns the facts the
// node agents write into VirtualMachine status (run state, monitor
// connection, last panic, watchdog, resets, block errors) and the agents'
// heartbeat Leases into conditions (Ready, MonitorConnected, Paused,
// GuestPanicked, WatchdogExpired, IOError, HardwareError, StorageDegraded,
// and kstatus's Stalled), and records every condition flip as a Kubernetes
// Event. The agent reports; the controller judges.
//
// The state machine is documented in docs/conditions.md.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/heartbeat"
)

const (
	// FieldManager is the server-side apply field manager of the
	// controller: it owns status.conditions, status.observedGeneration and
	// status.remediation's request, attempts and totalAttempts, and
	// nothing else (the agent owns remediation.execution).
	FieldManager = "vmevents-controller"
	// ControllerName names the controller in logs and metrics.
	ControllerName = "virtualmachine"

	// DefaultLeaseGrace is how long past its duration an agent Lease may go
	// unrenewed before the agent counts as not reporting.
	DefaultLeaseGrace = 20 * time.Second
	// DefaultIOErrorWindow is how long a block I/O error keeps IOError True
	// on a VM that keeps running (QEMU action report or ignore).
	DefaultIOErrorWindow = 5 * time.Minute

	// conflictRetry is the requeue after the VM changed under a status
	// apply; the change's own watch event usually comes first.
	conflictRetry = time.Second
)

// VirtualMachineReconciler computes the conditions of VirtualMachines.
type VirtualMachineReconciler struct {
	// Client reads VMs and Leases from the manager's cache and writes status
	// and Events.
	Client client.Client
	// APIReader reads from the API server, bypassing the cache: the
	// existing transition Events, listed once (events_known.go). Nil
	// means the manager's.
	APIReader client.Reader
	// AgentNamespace is where the agents keep their heartbeat Leases.
	AgentNamespace string
	// LeaseGrace is added to a Lease's duration before it counts as stale.
	LeaseGrace time.Duration
	// IOErrorWindow: see DefaultIOErrorWindow.
	IOErrorWindow time.Duration
	// EventRepairWindow: see DefaultEventRepairWindow.
	EventRepairWindow time.Duration
	// ReportingInstance identifies this replica in Events (the pod name).
	ReportingInstance string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	events *eventWriter
	counts *conditionCounter
	// stale wakes a node's VMs when its agent Lease goes stale: one timer
	// per Lease (lease_stale.go).
	stale *staleTimers
}

func (r *VirtualMachineReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager fills in defaults, indexes VMs by node and registers the
// controller: it watches VirtualMachines, and agent Leases mapped to the
// VMs of their node. The manager's cache should be built with
// CacheOptions(r.AgentNamespace).
func (r *VirtualMachineReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts controller.Options) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.AgentNamespace == "" {
		r.AgentNamespace = heartbeat.DefaultNamespace
	}
	if r.IOErrorWindow <= 0 {
		r.IOErrorWindow = DefaultIOErrorWindow
	}
	if r.EventRepairWindow <= 0 {
		r.EventRepairWindow = DefaultEventRepairWindow
	}
	if r.LeaseGrace < 0 {
		return fmt.Errorf("the agent lease grace must not be negative, got %s", r.LeaseGrace)
	}
	if r.ReportingInstance == "" {
		return errors.New("ReportingInstance is required: it names this replica in Events")
	}
	r.events = newEventWriter(newEventRecorder(r.Client, r.APIReader, r.ReportingInstance, r.EventRepairWindow), r.now, eventWriterWorkers)
	if err := mgr.Add(r.events); err != nil {
		return fmt.Errorf("adding the Event writer: %w", err)
	}
	r.counts = newConditionCounter()
	r.stale = newStaleTimers()
	leaseAgeCollector.src.Store(&leaseSource{reader: mgr.GetCache(), namespace: r.AgentNamespace, now: r.now})

	if err := mgr.GetFieldIndexer().IndexField(ctx, &vmv1.VirtualMachine{}, NodeNameField, indexNodeName); err != nil {
		return fmt.Errorf("indexing VirtualMachines by node: %w", err)
	}
	if opts.LogConstructor == nil {
		opts.LogConstructor = reconcileLog(mgr.GetLogger())
	}
	// VMs are watched with a handler of their own (lanes.go), not For,
	// which takes no handler.
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		Watches(&vmv1.VirtualMachine{}, vmChanges()).
		Watches(&coordinationv1.Lease{}, r.leaseChanges()).
		WithOptions(opts).
		Complete(r)
}

// reconcileLog gives each reconcile's log the keys For would have given
// it: the controller, its kind and the VM.
func reconcileLog(base logr.Logger) func(*reconcile.Request) logr.Logger {
	log := base.WithValues("controller", ControllerName, "controllerGroup", vmv1.GroupVersion.Group, "controllerKind", "VirtualMachine")
	return func(req *reconcile.Request) logr.Logger {
		if req == nil {
			return log
		}
		return log.WithValues("VirtualMachine", klog.KRef(req.Namespace, req.Name), "namespace", req.Namespace, "name", req.Name)
	}
}

// Reconcile computes a VM's conditions from its facts and its agent's
// Lease, applies them if they changed, records the transitions as Events,
// and comes back when time alone would change a condition.
func (r *VirtualMachineReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)

	vm := &vmv1.VirtualMachine{}
	if err := r.Client.Get(ctx, req.NamespacedName, vm); err != nil {
		if apierrors.IsNotFound(err) {
			r.counts.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, r.failed("read", err)
	}
	if !vm.DeletionTimestamp.IsZero() {
		// Nothing to clean up (no finalizer); the object is going away.
		r.counts.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	now := r.now()
	agent, err := r.liveness(ctx, vm.Spec.NodeName, now)
	if err != nil {
		return ctrl.Result{}, r.failed("read", err)
	}
	f := newFacts(vm, agent, r.IOErrorWindow)

	desired := vm.DeepCopy()
	computeConditions(desired, f, now)
	rem := planRemediation(vm.Spec.Remediation, vm.Status.Remediation, desired.Status.Conditions, &f.status, now)
	setRemediationExhausted(desired, rem.exhausted, now)
	before := ownedConditions(vm.Status.Conditions)
	after := ownedConditions(desired.Status.Conditions)

	if wait := flipsTooSoon(before, after, now); wait > 0 {
		log.V(1).Info("a condition flipped less than a second ago; holding the next flip back", "wait", wait)
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if !conditionsEqual(before, after) || vm.Status.ObservedGeneration != vm.Generation || !remediationEqual(vm.Status.Remediation, rem.status) {
		// One apply for conditions and remediation: a request is only ever
		// made by an apply conditional on the version it was decided from.
		start := time.Now()
		err := r.Client.Status().Apply(ctx, newStatusApply(vm, after, rem.status), client.FieldOwner(FieldManager), client.ForceOwnership)
		// The transition Events make way while the conditions' own writes
		// are answered slowly (events_pace.go).
		r.events.pacer.observe(time.Since(start))
		switch {
		case apierrors.IsConflict(err):
			// Computed from a version that is no longer current: compute
			// again from the new one rather than risk a second flip.
			log.V(1).Info("VM changed while applying its conditions; recomputing")
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		case apierrors.IsNotFound(err):
			r.counts.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		case err != nil:
			return ctrl.Result{}, r.failed("apply", fmt.Errorf("applying conditions: %w", err))
		}
		countTransitions(before, after)
		countRemediationAttempts(rem.finished)
		log.V(1).Info("conditions applied", "conditions", after, "remediation", rem.status)
	}
	// What is persisted now: the Events below are ensured from it.
	vm.Status.Remediation = rem.status
	r.counts.set(req.NamespacedName, after)

	// After the status: an Event is only ever recorded for a transition
	// that is persisted, and a crash before the writer has it is repaired
	// by the next reconcile (events.go). The writer creates the Events off
	// this worker (events_writer.go).
	r.events.submit(vm, after, now)
	return ctrl.Result{RequeueAfter: sooner(requeueAfter(f, now), rem.recheck, now)}, nil
}

// sooner is the requeue after d, or until at when that comes first (zero
// at: none).
func sooner(d time.Duration, at time.Time, now time.Time) time.Duration {
	if at.IsZero() {
		return d
	}
	wait := max(at.Sub(now), minRequeue)
	if d == 0 || wait < d {
		return wait
	}
	return d
}

// failed counts a reconcile error by step and returns it for a backoff retry.
func (r *VirtualMachineReconciler) failed(step string, err error) error {
	reconcileErrorsTotal.WithLabelValues(step).Inc()
	return err
}

// minRequeue keeps a requeue that is due from spinning.
const minRequeue = 10 * time.Millisecond

// requeueAfter is how long until time alone changes a condition: a recent
// fault (I/O error, quorum fault, ignored memory failure) leaving its
// window; zero when only a watch event can. The agent Lease going stale is
// not here: the Lease's stale timer wakes all the node's VMs then
// (lease_stale.go).
func requeueAfter(f facts, now time.Time) time.Duration {
	var at time.Time
	for _, t := range []time.Time{f.ioErrorRecheck(now), f.storageRecheck(now), f.hardwareErrorRecheck(now)} {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if at.IsZero() {
		return 0
	}
	return max(at.Sub(now), minRequeue)
}

package qmpagent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/backoff"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// The agent's part of remediation (docs/remediation.md): the controller
// writes a request into a VM's status; the agent on the VM's node, which
// alone holds its monitor, carries it out at most once through the VM's
// source (source.Remediator) and reports in status.remediation.execution.

// RemediationFieldManager owns status.remediation.execution and nothing
// else: applying the execution alone never drops the facts the agent
// writes under FieldManager, nor the controller's request.
const RemediationFieldManager = "vmevents-agent-remediation"

const (
	// remediationAcceptWindow is how old a request may be when the agent
	// takes it up: an older one was made about a state that may be gone
	// (the agent was away), so it is reported Expired, not carried out.
	remediationAcceptWindow = 60 * time.Second
	// remediationTimeout bounds one action at the hypervisor.
	remediationTimeout = 30 * time.Second
	// reportTimeout bounds the retries of the outcome's write. The
	// controller gives a request up after two minutes anyway.
	reportTimeout = 2 * time.Minute
)

// messageUnknown is the outcome of a request this agent process finds
// taken up but did not take up itself.
const messageUnknown = "the agent restarted while carrying out the request; it is not repeated"

// remediations is what the agent process remembers of the requests it
// took up. Only what this process took up may still be running: an
// Executing mark it does not know was left by a process that stopped.
type remediations struct {
	mu sync.Mutex
	// tookUp is, per VM UID, the request this process took up last.
	tookUp  map[types.UID]int64
	stopped bool
	// running counts the actions (and their reports) in flight.
	running sync.WaitGroup
}

// begin records that this process takes request id of uid up, unless the
// agent is stopping.
func (r *remediations) begin(uid types.UID, id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	if r.tookUp == nil {
		r.tookUp = map[types.UID]int64{}
	}
	r.tookUp[uid] = id
	r.running.Add(1)
	return true
}

// abandon undoes begin when the Executing mark did not land.
func (r *remediations) abandon(uid types.UID) {
	r.mu.Lock()
	delete(r.tookUp, uid)
	r.mu.Unlock()
	r.running.Done()
}

// took reports whether this process took request id of uid up.
func (r *remediations) took(uid types.UID, id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	got, ok := r.tookUp[uid]
	return ok && got == id
}

// forget drops what is remembered of a VM that is gone.
func (r *remediations) forget(uid types.UID) {
	r.mu.Lock()
	delete(r.tookUp, uid)
	r.mu.Unlock()
}

// stop takes no request up any more and waits for those in flight to be
// carried out and reported.
func (r *remediations) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.running.Wait()
}

// remediate carries out vm's outstanding remediation request, if there is
// one this agent has not reported on, as the protocol says: expired if too
// old; else marked Executing, conditionally on the resourceVersion just
// read, and only then acted on; an Executing mark this process did not
// make is reported Unknown and never acted on.
func (a *Agent) remediate(ctx context.Context, vm *vmv1.VirtualMachine) (ctrl.Result, error) {
	rs := vm.Status.Remediation
	if rs == nil || rs.Request == nil || a.remediating.took(vm.UID, rs.Request.ID) {
		// Nothing asked, or this process took the request up: it runs or
		// ran, and its own report says how it went.
		return ctrl.Result{}, nil
	}
	req := *rs.Request
	now := metav1.NowMicro()
	exec := vmv1.RemediationExecution{RequestID: req.ID, StartedAt: now, Source: sourceOf(vm)}
	var result vmv1.ExecutionPhase
	switch prev := rs.Execution; {
	case prev != nil && prev.RequestID == req.ID && prev.Phase != vmv1.ExecutionExecuting:
		return ctrl.Result{}, nil // reported
	case prev != nil && prev.RequestID == req.ID:
		exec = *prev
		result, exec.Message = vmv1.ExecutionUnknown, messageUnknown
	case now.Sub(req.RequestedAt.Time) > remediationAcceptWindow:
		result = vmv1.ExecutionExpired
		exec.Message = fmt.Sprintf("the request was %s old when the agent saw it, more than the %s it accepts; not carried out",
			now.Sub(req.RequestedAt.Time).Round(time.Second), remediationAcceptWindow)
	}
	rem := a.remediator(exec.Source)
	if result == "" && rem == nil {
		result = vmv1.ExecutionFailed
		exec.Message = fmt.Sprintf("%s: no source of this agent can act on the VM (its source: %q)", req.Action, exec.Source)
	}
	if result != "" {
		exec.Phase, exec.FinishedAt = result, &now
		return a.reportNow(ctx, vm, req, exec)
	}

	// Take it up: the Executing mark must land before anything is done,
	// and only on the VM as just read, so that of two readers (a stale
	// cache, an agent restarting) one only acts.
	if !a.remediating.begin(vm.UID, req.ID) {
		return ctrl.Result{}, nil // stopping: the next agent takes it up
	}
	exec.Phase = vmv1.ExecutionExecuting
	if err := applyExecution(ctx, a.client, vm, exec); err != nil {
		a.remediating.abandon(vm.UID)
		return requeueOnConflict(err)
	}
	ctrl.LoggerFrom(ctx).Info("remediating", "request", req.ID, "action", req.Action, "condition", req.Condition, "source", exec.Source)
	// The action runs beside the reconcile worker, not in it: the agent
	// reconciles every VM of its node in one worker, and an action may
	// take up to remediationTimeout at a wedged monitor, during which no
	// other VM would be followed or forgotten. At most one runs per VM:
	// the next reconcile of this VM finds the request taken up (took).
	vm = vm.DeepCopy()
	vm.ResourceVersion = "" // the report reads the VM again
	go a.execute(vm, req, exec, rem)
	return ctrl.Result{}, nil
}

// execute carries the request out and reports the outcome.
func (a *Agent) execute(vm *vmv1.VirtualMachine, req vmv1.RemediationRequest, exec vmv1.RemediationExecution, rem source.Remediator) {
	defer a.remediating.running.Done()
	ctx, cancel := context.WithTimeout(context.Background(), remediationTimeout)
	err := actWhenConnected(ctx, rem, vm, req.Action)
	cancel()
	now := metav1.NowMicro()
	exec.FinishedAt = &now
	if err != nil {
		exec.Phase = vmv1.ExecutionFailed
		exec.Message = fmt.Sprintf("%s through %s failed: %v", req.Action, exec.Source, err)
	} else {
		exec.Phase = vmv1.ExecutionSucceeded
		exec.Message = fmt.Sprintf("%s done through %s", req.Action, exec.Source)
	}
	a.report(vm, req, exec)
}

// connectPoll spaces the tries of an action whose source has no verified
// connection yet.
const connectPoll = 250 * time.Millisecond

// actWhenConnected carries action out through rem. A source with no
// verified connection to the VM yet has done nothing (source.Remediator):
// an agent that just started takes a request up before its session has
// connected, so it is asked again until it has one or ctx ends, instead of
// the request failing and costing an attempt.
func actWhenConnected(ctx context.Context, rem source.Remediator, vm *vmv1.VirtualMachine, action vmv1.RemediationAction) error {
	for {
		err := rem.Remediate(ctx, vm, action)
		if !errors.Is(err, source.ErrNotConnected) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(connectPoll):
		}
	}
}

// report writes the outcome of a request this process took up, until it
// lands, the VM is gone, the apiserver refuses it as invalid or forbidden,
// the report's time is up, or the VM no longer shows the request as taken
// up by this process (then another process reported Unknown first).
func (a *Agent) report(vm *vmv1.VirtualMachine, req vmv1.RemediationRequest, exec vmv1.RemediationExecution) {
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	log := ctrl.Log.WithName("remediation").WithValues("vm", client.ObjectKeyFromObject(vm).String(), "request", req.ID)
	for attempt := 0; ; attempt++ {
		var cur vmv1.VirtualMachine
		err := a.client.Get(ctx, client.ObjectKeyFromObject(vm), &cur)
		if apierrors.IsNotFound(err) || (err == nil && cur.UID != vm.UID) {
			return
		}
		if err == nil {
			switch at := executionOf(&cur); {
			case at == nil || at.RequestID < req.ID:
				// The cache is behind the Executing mark that landed.
				err = apierrors.NewConflict(vmv1.GroupVersion.WithResource("virtualmachines").GroupResource(), cur.Name, errors.New("the cache is behind"))
			case at.RequestID > req.ID || at.Phase != vmv1.ExecutionExecuting:
				log.Info("the request's outcome was reported by another agent process; not overwritten", "outcome", exec.Phase)
				return
			default:
				err = applyExecution(ctx, a.client, &cur, exec)
			}
			if err == nil {
				count(exec, req)
				log.Info("remediated", "outcome", exec.Phase, "message", exec.Message)
				return
			}
		}
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			// Refused for what it is, not for when: retrying cannot help.
			log.Error(err, "the apiserver refused the remediation's outcome; not retried", "outcome", exec.Phase)
			return
		}
		// A conflict is the cache behind the apiserver: read again.
		if !apierrors.IsConflict(err) {
			log.Error(err, "writing the remediation's outcome")
		}
		if !backoff.Sleep(ctx, backoff.Delay(attempt, 50*time.Millisecond, 5*time.Second)) {
			log.Error(ctx.Err(), "the remediation's outcome was not written", "outcome", exec.Phase)
			return
		}
	}
}

// executionOf is vm's status.remediation.execution, nil when it has none.
func executionOf(vm *vmv1.VirtualMachine) *vmv1.RemediationExecution {
	if vm.Status.Remediation == nil {
		return nil
	}
	return vm.Status.Remediation.Execution
}

// reportNow writes an outcome reached without acting, conditionally on
// the VM as read.
func (a *Agent) reportNow(ctx context.Context, vm *vmv1.VirtualMachine, req vmv1.RemediationRequest, exec vmv1.RemediationExecution) (ctrl.Result, error) {
	if err := applyExecution(ctx, a.client, vm, exec); err != nil {
		return requeueOnConflict(err)
	}
	count(exec, req)
	ctrl.LoggerFrom(ctx).Info("remediation not carried out", "request", req.ID, "outcome", exec.Phase, "message", exec.Message)
	return ctrl.Result{}, nil
}

// requeueOnConflict reads the VM again soon after a conflict (the cache
// was behind): the request is decided on the newest VM only.
func requeueOnConflict(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	if apierrors.IsNotFound(err) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}

// applyExecution writes exec as status.remediation.execution, and nothing
// else, under RemediationFieldManager. It applies only if the VM is still
// at vm's resourceVersion (a Conflict error otherwise), so that what was
// decided on it still holds.
func applyExecution(ctx context.Context, c client.Client, vm *vmv1.VirtualMachine, exec vmv1.RemediationExecution) error {
	exec.Message = model.Clean(exec.Message, 1024)
	e, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&exec)
	if err != nil {
		return fmt.Errorf("converting the execution: %w", err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"status": map[string]any{"remediation": map[string]any{"execution": e}},
	}}
	u.SetAPIVersion(vmv1.GroupVersion.String())
	u.SetKind("VirtualMachine")
	u.SetNamespace(vm.Namespace)
	u.SetName(vm.Name)
	if vm.ResourceVersion == "" {
		return errors.New("applying the execution: the VM's resourceVersion is unknown")
	}
	u.SetResourceVersion(vm.ResourceVersion)
	return c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(RemediationFieldManager), client.ForceOwnership)
}

// count counts an outcome in the remediations metric.
func count(exec vmv1.RemediationExecution, req vmv1.RemediationRequest) {
	metrics.Remediations.WithLabelValues(exec.Source, string(req.Action), string(exec.Phase)).Inc()
}

// sourceOf is the source that follows vm: the one that connected its
// monitor, or, before any did, the one its spec names.
func sourceOf(vm *vmv1.VirtualMachine) string {
	if m := vm.Status.Monitor; m != nil && m.Source != "" {
		return m.Source
	}
	switch {
	case vm.Spec.QMP != nil:
		return vmv1.SourceQMP
	case vm.Spec.Libvirt != nil:
		return vmv1.SourceLibvirt
	case vm.Spec.LXD != nil:
		return vmv1.SourceLXD
	}
	return ""
}

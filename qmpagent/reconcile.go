package qmpagent

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// Reconcile tells the sources that follow single VMs (source.Follower)
// about one VirtualMachine of the node and carries out its remediation
// request (remediate.go), and forgets everything of one that is gone or
// moved to another node.
func (a *Agent) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var vm vmv1.VirtualMachine
	err := a.client.Get(ctx, req.NamespacedName, &vm)
	if apierrors.IsNotFound(err) || (err == nil && (!vm.DeletionTimestamp.IsZero() || vm.Spec.NodeName != a.cfg.NodeName)) {
		a.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	a.factsMu.Lock()
	a.uids[req.NamespacedName] = vm.UID
	a.factsMu.Unlock()
	a.rememberPolicy(req.NamespacedName, vm.Spec.EventPolicy)
	for _, f := range a.followers() {
		f.Follow(&vm)
	}
	return a.remediate(ctx, &vm)
}

// forget ends everything the agent keeps for a VM that is gone or moved to
// another node: what its sources follow, its facts, its pending status
// write and its Event series.
func (a *Agent) forget(key types.NamespacedName) {
	for _, f := range a.followers() {
		f.Forget(key)
	}
	a.factsMu.Lock()
	delete(a.facts, key)
	uid, ok := a.uids[key]
	delete(a.uids, key)
	delete(a.policies, key)
	a.factsMu.Unlock()
	a.status.Forget(key)
	if ok {
		a.events.Forget(uid)
		a.remediating.forget(uid)
	}
}

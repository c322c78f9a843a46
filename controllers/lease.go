package controllers

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/heartbeat"
)

// NodeNameField is the cache index of VirtualMachines by spec.nodeName,
// used to find the VMs an agent Lease speaks for.
const NodeNameField = ".spec.nodeName"

// CacheOptions restricts the manager's cache to what the controller reads:
// agent Leases only from the agent namespace and only with the agent label
// (the leader election Lease, renewed every few seconds, stays out), and no
// managedFields on anything (they are the bulk of a VM's size and unused).
func CacheOptions(agentNamespace string) cache.Options {
	hasNode, err := labels.NewRequirement(heartbeat.NodeLabel, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key: a programming error
	}
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&coordinationv1.Lease{}: {
				Namespaces: map[string]cache.Config{agentNamespace: {}},
				Label:      labels.NewSelector().Add(*hasNode),
			},
		},
	}
}

// indexNodeName is the NodeNameField indexer.
func indexNodeName(obj client.Object) []string {
	vm, ok := obj.(*vmv1.VirtualMachine)
	if !ok || vm.Spec.NodeName == "" {
		return nil
	}
	return []string{vm.Spec.NodeName}
}

// vmsForLease maps an agent Lease to the VMs on its node.
func (r *VirtualMachineReconciler) vmsForLease(ctx context.Context, obj client.Object) []reconcile.Request {
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return nil
	}
	node, ok := heartbeat.Node(lease)
	if !ok {
		return nil
	}
	reqs, err := r.vmsOnNode(ctx, node)
	if err != nil {
		// Only a cache failure, and the event is gone: the Lease's stale
		// timer still wakes the VMs when it goes stale (lease_stale.go).
		return nil
	}
	return reqs
}

// vmsOnNode lists the VMs of node from the cache, as requests.
func (r *VirtualMachineReconciler) vmsOnNode(ctx context.Context, node string) ([]reconcile.Request, error) {
	var vms vmv1.VirtualMachineList
	if err := r.Client.List(ctx, &vms, client.MatchingFields{NodeNameField: node}); err != nil {
		reconcileErrorsTotal.WithLabelValues("read").Inc()
		return nil, err
	}
	reqs := make([]reconcile.Request, 0, len(vms.Items))
	for _, vm := range vms.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}})
	}
	return reqs, nil
}

// liveness reads the agent Lease of node from the cache and judges it.
func (r *VirtualMachineReconciler) liveness(ctx context.Context, node string, now time.Time) (agentLiveness, error) {
	var lease coordinationv1.Lease
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: r.AgentNamespace, Name: heartbeat.LeaseName(node)}, &lease)
	switch {
	case apierrors.IsNotFound(err):
		return livenessOf(node, r.AgentNamespace, nil, now, r.LeaseGrace), nil
	case err != nil:
		return agentLiveness{}, err
	}
	return livenessOf(node, r.AgentNamespace, &lease, now, r.LeaseGrace), nil
}

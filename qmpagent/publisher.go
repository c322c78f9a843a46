package qmpagent

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/publish"
)

// Publisher is how an event source reaches Kubernetes. The agent keeps one
// set of facts per VM, whichever sources feed it, and writes it coalesced.
type Publisher interface {
	// UpdateFacts changes a VM's facts and schedules the status write. The
	// first update of a VM starts from the status it has, so counters
	// continue across agent restarts.
	UpdateFacts(key types.NamespacedName, update func(f *model.Facts))
	// Publish tells an occurrence about an object (a VirtualMachine, or
	// the Node for events that concern no VM); source ("qmp", "libvirt",
	// "lxd") labels the metrics. It reports whether the occurrence was
	// folded into an existing Event series.
	Publish(regarding corev1.ObjectReference, occ model.Occurrence, source string) (coalesced bool)
	// VirtualMachines lists this node's VirtualMachines (from the cache).
	VirtualMachines(ctx context.Context) ([]vmv1.VirtualMachine, error)
	// Node is the reference of the node the agent runs on.
	Node() corev1.ObjectReference
	// CreateVirtualMachine creates a VirtualMachine for discovery, labelled
	// as discovered; one that exists already is not an error.
	CreateVirtualMachine(ctx context.Context, vm *vmv1.VirtualMachine) error
}

var _ Publisher = (*Agent)(nil)

// UpdateFacts implements Publisher.
func (a *Agent) UpdateFacts(key types.NamespacedName, update func(f *model.Facts)) {
	f, urgent := a.updateFacts(key, update)
	if !urgent {
		a.status.PutLater(key, f, a.cfg.RoutineStatusDelay)
		return
	}
	a.status.Put(key, f)
}

// updateFacts applies update under the lock and returns a snapshot to write
// and whether the update changed a fact that cannot wait (model.Urgent).
func (a *Agent) updateFacts(key types.NamespacedName, update func(f *model.Facts)) (model.Facts, bool) {
	a.factsMu.Lock()
	defer a.factsMu.Unlock()
	f, ok := a.facts[key]
	if !ok {
		var vm vmv1.VirtualMachine
		if err := a.client.Get(context.Background(), key, &vm); err == nil {
			f = publish.FactsFromStatus(vm.Status)
		}
	}
	before := f.Clone()
	update(&f)
	a.facts[key] = f
	return f.Clone(), !ok || f.Urgent(before)
}

// Publish implements Publisher.
func (a *Agent) Publish(regarding corev1.ObjectReference, occ model.Occurrence, source string) bool {
	coalesced := a.events.Publish(regarding, occ)
	if coalesced {
		metrics.EventsCoalesced.Inc()
	} else {
		metrics.EventsPublished.WithLabelValues(occ.EventType()).Inc()
	}
	return coalesced
}

// VirtualMachines implements Publisher.
func (a *Agent) VirtualMachines(ctx context.Context) ([]vmv1.VirtualMachine, error) {
	var list vmv1.VirtualMachineList
	if err := a.client.List(ctx, &list); err != nil {
		return nil, err
	}
	out := list.Items[:0]
	for _, vm := range list.Items {
		if vm.Spec.NodeName == a.cfg.NodeName {
			out = append(out, vm)
		}
	}
	return out, nil
}

// Node implements Publisher.
func (a *Agent) Node() corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: a.cfg.NodeName, UID: types.UID(a.cfg.NodeName)}
}

// CreateVirtualMachine implements Publisher.
func (a *Agent) CreateVirtualMachine(ctx context.Context, vm *vmv1.VirtualMachine) error {
	if vm.Labels == nil {
		vm.Labels = map[string]string{}
	}
	vm.Labels[DiscoveredLabel] = "true"
	err := a.client.Create(ctx, vm)
	switch {
	case apierrors.IsAlreadyExists(err):
		return nil
	case err != nil:
		return fmt.Errorf("creating VirtualMachine %s/%s: %w", vm.Namespace, vm.Name, err)
	}
	metrics.Discovered.Inc()
	ctrl.Log.WithName("discovery").Info("created", "vm", vm.Namespace+"/"+vm.Name)
	return nil
}

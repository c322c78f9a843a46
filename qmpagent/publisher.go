package qmpagent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// The agent is what its sources publish through.
var _ source.Publisher = (*Agent)(nil)

// Publish implements source.Publisher.
// Every occurrence is also logged (logOccurrence), as the incident history
// that outlives its Event, even one the event policy silences (Silences):
// that one becomes no Event and is counted as silenced instead.
func (a *Agent) Publish(regarding corev1.ObjectReference, occ model.Occurrence, source string) bool {
	if occ.Time.IsZero() {
		occ.Time = time.Now()
	}
	if Silences(a.cfg.SilenceEvents, a.policyOf(regarding), occ) {
		logOccurrence(incidentLog, a.cfg.NodeName, regarding, occ, source, false, true)
		n := max(1, occ.Repeat)
		metrics.EventsSilenced.WithLabelValues(source).Add(float64(n))
		if key, ok := vmKey(regarding); ok {
			a.countSilenced(key, n)
		}
		return false
	}
	coalesced := a.events.Publish(regarding, occ)
	logOccurrence(incidentLog, a.cfg.NodeName, regarding, occ, source, coalesced, false)
	if coalesced {
		metrics.EventsCoalesced.Inc()
	} else {
		metrics.EventsPublished.WithLabelValues(occ.EventType()).Inc()
	}
	return coalesced
}

// VirtualMachines implements source.Publisher.
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

// Node implements source.Publisher.
func (a *Agent) Node() corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: a.cfg.NodeName, UID: types.UID(a.cfg.NodeName)}
}

// CreateVirtualMachine implements source.Publisher.
func (a *Agent) CreateVirtualMachine(ctx context.Context, vm *vmv1.VirtualMachine) error {
	if vm.Labels == nil {
		vm.Labels = map[string]string{}
	}
	vm.Labels[source.DiscoveredLabel] = "true"
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

// DeleteVirtualMachine implements source.Publisher. It deletes only a VM
// labelled as discovered, and only the one discovery saw (its UID): never
// one a user wrote, nor one created again since under the same name.
func (a *Agent) DeleteVirtualMachine(ctx context.Context, vm *vmv1.VirtualMachine) error {
	if vm.Labels[source.DiscoveredLabel] != "true" {
		return fmt.Errorf("VirtualMachine %s/%s was not discovered: not deleting it", vm.Namespace, vm.Name)
	}
	err := a.client.Delete(ctx, vm, client.Preconditions{UID: &vm.UID})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("deleting VirtualMachine %s/%s: %w", vm.Namespace, vm.Name, err)
	}
	metrics.DiscoveredDeleted.Inc()
	ctrl.Log.WithName("discovery").Info("deleted, its VM is gone", "vm", vm.Namespace+"/"+vm.Name)
	return nil
}

// observe records the duration and result of one API write of a kind.
func observe(kind string) func(time.Duration, error) {
	return func(d time.Duration, err error) {
		result := "ok"
		if err != nil {
			result = "error"
		}
		metrics.APIWriteSeconds.WithLabelValues(kind, result).Observe(d.Seconds())
	}
}

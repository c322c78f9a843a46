// Package source is the one contract between the node agent's core (package
// qmpagent) and its event sources: qmpsource (QMP sockets), libvirtsource
// (libvirt's audit records and libvirtd) and lxdsource (LXD's event stream).
//
// A source follows one kind of hypervisor event stream on the node and tells
// what it reads through the Publisher it is built with: facts (the VM's
// state, kept per VirtualMachine and written as its status) and occurrences
// (told as Kubernetes Events). It never writes to Kubernetes itself, and it
// imports neither the core nor another source: it sees only this package,
// the model (package model) and the API's vocabulary.
//
// The package also holds what every source needs the same way: the
// reference of a VirtualMachine (TargetOf), the one UUID check (ValidUUID)
// and the one way a discovered VM is named and created (Discover).
package source

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// Source is one hypervisor event stream on the node.
type Source interface {
	// Name says which, in logs: "qmp", "libvirt-audit", "libvirt", "lxd".
	Name() string
	// Start follows the stream until ctx ends. It returns only then, or
	// on a failure retrying cannot mend: a lost connection is retried
	// inside, never returned.
	Start(ctx context.Context) error
}

// Follower is a Source that acts on each VirtualMachine of the node as it
// changes (the QMP source runs one session per VM's socket). The agent calls
// Follow when a VirtualMachine of its node appears or changes and Forget
// when it is deleted or moves to another node; neither may block for long.
// Sources that only need the list of VMs now and then call
// Publisher.VirtualMachines instead.
type Follower interface {
	Source
	Follow(vm *vmv1.VirtualMachine)
	Forget(key types.NamespacedName)
}

// Publisher is how a source reaches Kubernetes: the agent core keeps one
// set of facts per VM, whichever sources feed it, writes it as the VM's
// status, and tells occurrences as Events.
type Publisher interface {
	// UpdateFacts changes a VM's facts and schedules the status write. The
	// first update of a VM starts from the status it has, so counters
	// continue across agent restarts.
	UpdateFacts(key types.NamespacedName, update func(f *model.Facts))
	// Facts returns a copy of what the agent knows of vm: its own facts,
	// or, before any update, those vm's status holds.
	Facts(vm *vmv1.VirtualMachine) model.Facts
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
	// DeleteVirtualMachine deletes a VirtualMachine discovery created
	// (labelled as discovered, still with vm's UID) once its hypervisor VM
	// is gone for good; one already deleted is not an error.
	DeleteVirtualMachine(ctx context.Context, vm *vmv1.VirtualMachine) error
}

// Target is the VirtualMachine an occurrence or a fact is about: its key
// for facts and its reference for Events.
type Target struct {
	Key types.NamespacedName
	Ref corev1.ObjectReference
}

// TargetOf is vm as a Target.
func TargetOf(vm *vmv1.VirtualMachine) Target {
	return Target{
		Key: types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name},
		Ref: corev1.ObjectReference{
			APIVersion: vmv1.GroupVersion.String(), Kind: "VirtualMachine",
			Namespace: vm.Namespace, Name: vm.Name, UID: vm.UID,
		},
	}
}

// Tell publishes an occurrence about t and counts it in t's facts when it
// was folded into an existing Event series, so that status accounts for
// every occurrence that did not get an Event of its own.
func Tell(p Publisher, t Target, occ model.Occurrence, source string) {
	if p.Publish(t.Ref, occ, source) {
		p.UpdateFacts(t.Key, func(f *model.Facts) { f.Delivery.Coalesced++ })
	}
}

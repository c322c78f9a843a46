// Package publishtest has a Recorder: an in-memory stand-in for the agent's
// source.Publisher that event-source unit tests use to see what a source
// publishes without a Kubernetes API. (Sources are also tested against a real
// apiserver in the agent's suite.)
package publishtest

import (
	"context"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// The sources' unit tests stand the Recorder in for the agent.
var _ source.Publisher = (*Recorder)(nil)

// Published is one occurrence a source published, and about what.
type Published struct {
	Regarding  corev1.ObjectReference
	Occurrence model.Occurrence
}

// Recorder records facts, occurrences and created VirtualMachines. It is
// safe for concurrent use. Its node is "n1".
type Recorder struct {
	mu        sync.Mutex
	vms       []vmv1.VirtualMachine
	facts     map[types.NamespacedName]model.Facts
	published []Published
	created   []vmv1.VirtualMachine
	deleted   []vmv1.VirtualMachine
}

// NewRecorder returns a Recorder whose node has vms.
func NewRecorder(vms ...vmv1.VirtualMachine) *Recorder {
	return &Recorder{vms: vms, facts: map[types.NamespacedName]model.Facts{}}
}

// AddVM adds a VirtualMachine to the node, as if just created.
func (r *Recorder) AddVM(vm vmv1.VirtualMachine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.vms = append(r.vms, vm)
}

// UpdateFacts implements the Publisher.
func (r *Recorder) UpdateFacts(key types.NamespacedName, update func(f *model.Facts)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.facts[key]
	update(&f)
	r.facts[key] = f
}

// Publish implements the Publisher; nothing is ever coalesced.
func (r *Recorder) Publish(regarding corev1.ObjectReference, occ model.Occurrence, _ string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, Published{regarding, occ})
	return false
}

// VirtualMachines implements the Publisher.
func (r *Recorder) VirtualMachines(context.Context) ([]vmv1.VirtualMachine, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]vmv1.VirtualMachine(nil), r.vms...), nil
}

// Node implements the Publisher.
func (r *Recorder) Node() corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "n1"}
}

// CreateVirtualMachine implements the Publisher: the VM is recorded and,
// with a UID, joins the node's VMs.
func (r *Recorder) CreateVirtualMachine(_ context.Context, vm *vmv1.VirtualMachine) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	vm.UID = "created-" + types.UID(vm.Name)
	r.created = append(r.created, *vm)
	r.vms = append(r.vms, *vm)
	return nil
}

// Facts implements the Publisher: the VM's recorded facts (a VM's status is
// not read back here).
func (r *Recorder) Facts(vm *vmv1.VirtualMachine) model.Facts {
	return r.FactsOf(vm.Namespace, vm.Name)
}

// FactsOf returns the facts of a VM.
func (r *Recorder) FactsOf(namespace, name string) model.Facts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.facts[types.NamespacedName{Namespace: namespace, Name: name}].Clone()
}

// AllFacts returns every VM's facts.
func (r *Recorder) AllFacts() []model.Facts {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]model.Facts, 0, len(r.facts))
	for _, f := range r.facts {
		out = append(out, f.Clone())
	}
	return out
}

// Published returns what was published, in order.
func (r *Recorder) Published() []Published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Published(nil), r.published...)
}

// Occurrences returns the occurrences published, in order.
func (r *Recorder) Occurrences() []model.Occurrence {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]model.Occurrence, 0, len(r.published))
	for _, p := range r.published {
		out = append(out, p.Occurrence)
	}
	return out
}

// Created returns the VirtualMachines created through the Publisher.
func (r *Recorder) Created() []vmv1.VirtualMachine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]vmv1.VirtualMachine(nil), r.created...)
}

// DeleteVirtualMachine implements the Publisher: the VM is recorded and
// leaves the node's VMs.
func (r *Recorder) DeleteVirtualMachine(_ context.Context, vm *vmv1.VirtualMachine) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deleted = append(r.deleted, *vm)
	r.vms = slices.DeleteFunc(r.vms, func(v vmv1.VirtualMachine) bool { return v.UID == vm.UID })
	return nil
}

// Deleted returns the VirtualMachines deleted through the Publisher.
func (r *Recorder) Deleted() []vmv1.VirtualMachine {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]vmv1.VirtualMachine(nil), r.deleted...)
}

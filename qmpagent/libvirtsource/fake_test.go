package libvirtsource

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// fakePublisher records what a source publishes.
type fakePublisher struct {
	mu    sync.Mutex
	vms   []vmv1.VirtualMachine
	facts map[types.NamespacedName]model.Facts
	occs  []model.Occurrence
}

func (p *fakePublisher) UpdateFacts(key types.NamespacedName, fn func(f *model.Facts)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.facts == nil {
		p.facts = map[types.NamespacedName]model.Facts{}
	}
	f := p.facts[key]
	fn(&f)
	p.facts[key] = f
}

func (p *fakePublisher) Publish(_ corev1.ObjectReference, occ model.Occurrence, _ string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.occs = append(p.occs, occ)
	return false
}

func (p *fakePublisher) VirtualMachines(context.Context) ([]vmv1.VirtualMachine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.vms, nil
}

func (p *fakePublisher) CreateVirtualMachine(_ context.Context, vm *vmv1.VirtualMachine) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	vm.UID = "created-" + types.UID(vm.Name)
	p.vms = append(p.vms, *vm)
	return nil
}

func (p *fakePublisher) Node() corev1.ObjectReference { return corev1.ObjectReference{Name: "n1"} }

func (p *fakePublisher) occurrences() []model.Occurrence {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]model.Occurrence(nil), p.occs...)
}

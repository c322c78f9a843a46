package libvirtsource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// Source labels the metrics and the monitor facts of this package.
const Source = "libvirt"

// Discovery creates a VirtualMachine for a domain that no VirtualMachine
// of the node names, as the agent's QMP discovery does for sockets.
type Discovery struct {
	// Namespace is where they are created (through the Publisher, which
	// needs the vmevents-agent-discovery role).
	Namespace string
}

// target is a VirtualMachine a record or event is about.
type target struct {
	key types.NamespacedName
	ref corev1.ObjectReference
}

func targetOf(vm *vmv1.VirtualMachine) target {
	return target{
		key: types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name},
		ref: corev1.ObjectReference{
			APIVersion: vmv1.GroupVersion.String(), Kind: "VirtualMachine",
			Namespace: vm.Namespace, Name: vm.Name, UID: vm.UID,
		},
	}
}

// resolver finds the VirtualMachine of a domain, by spec.uuid or
// spec.libvirt.domain, creating one when discovery is on.
type resolver struct {
	pub       qmpagent.Publisher
	discovery *Discovery

	mu sync.Mutex
	// created are the VMs discovery made, used until the cache has them.
	created map[string]target
}

// Matches reports whether a VirtualMachine names the domain.
func Matches(vm *vmv1.VirtualMachine, uuid, name string) bool {
	if uuid != "" && vm.Spec.UUID != "" && strings.EqualFold(vm.Spec.UUID, uuid) {
		return true
	}
	return name != "" && vm.Spec.Libvirt != nil && vm.Spec.Libvirt.Domain == name
}

// resolve returns the VM of a domain, or false (counted) when there is none.
func (r *resolver) resolve(ctx context.Context, uuid, name, source string) (target, bool) {
	vms, err := r.pub.VirtualMachines(ctx)
	if err == nil {
		// A VM naming the UUID wins over one naming the domain name: names
		// can be reused by another domain, UUIDs are not.
		for i := range vms {
			if uuid != "" && strings.EqualFold(vms[i].Spec.UUID, uuid) && vms[i].DeletionTimestamp.IsZero() {
				return targetOf(&vms[i]), true
			}
		}
		for i := range vms {
			if Matches(&vms[i], "", name) && vms[i].DeletionTimestamp.IsZero() {
				return targetOf(&vms[i]), true
			}
		}
	}
	unmatched.WithLabelValues(source).Inc()
	if r.discovery == nil || name == "" {
		return target{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.created[name]; ok {
		return t, true
	}
	vm, err := r.discover(ctx, uuid, name)
	if err != nil {
		return target{}, false
	}
	t := targetOf(vm)
	if r.created == nil {
		r.created = map[string]target{}
	}
	r.created[name] = t
	return t, true
}

// discover creates (or finds, when an earlier run created it) the VM of a domain.
func (r *resolver) discover(ctx context.Context, uuid, name string) (*vmv1.VirtualMachine, error) {
	node := r.pub.Node().Name
	vm := &vmv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.discovery.Namespace,
			Name:      qmpagent.DiscoveredName(name, "libvirt:"+name, node),
		},
		Spec: vmv1.VirtualMachineSpec{NodeName: node, Libvirt: &vmv1.LibvirtSource{Domain: name}},
	}
	if uuidPattern(uuid) {
		vm.Spec.UUID = strings.ToLower(uuid)
	}
	if err := r.pub.CreateVirtualMachine(ctx, vm); err != nil {
		return nil, err
	}
	if vm.UID == "" {
		// It existed already (an earlier run made it): the agent's cache
		// will have it for the next record.
		return nil, fmt.Errorf("VirtualMachine %s/%s exists but is not in the cache yet", vm.Namespace, vm.Name)
	}
	discovered.Inc()
	return vm, nil
}

// publish tells an occurrence, counting a coalesced one in the facts.
func publish(p qmpagent.Publisher, t target, occ model.Occurrence) {
	if p.Publish(t.ref, occ, Source) {
		p.UpdateFacts(t.key, func(f *model.Facts) { f.Delivery.Coalesced++ })
	}
}

func uuidPattern(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return s != "00000000-0000-0000-0000-000000000000"
}

// All runs several runnables as one, until ctx ends.
func All(runs ...manager.Runnable) manager.Runnable { return group(runs) }

type group []manager.Runnable

func (g group) NeedLeaderElection() bool { return false }

func (g group) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(g))
	for i, r := range g {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = r.Start(ctx) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

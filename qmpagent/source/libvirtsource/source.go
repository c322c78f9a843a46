package libvirtsource

import (
	"context"
	"fmt"
	"strings"
	"sync"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// Discovery creates a VirtualMachine for a domain that no VirtualMachine
// of the node names, as the QMP source's discovery does for sockets.
type Discovery struct {
	// Namespace is where they are created (through the Publisher, which
	// needs the vmevents-agent-discovery role).
	Namespace string
}

// resolver finds the VirtualMachine of a domain, by spec.uuid or
// spec.libvirt.domain, creating one when discovery is on.
type resolver struct {
	pub       source.Publisher
	discovery *Discovery
	// tenancy says which domains a VM's namespace may be told of.
	tenancy source.Tenancy

	mu sync.Mutex
	// created are the VMs discovery made, used until the cache has them.
	created map[string]source.Target
}

// Matches reports whether a VirtualMachine names the domain.
func Matches(vm *vmv1.VirtualMachine, uuid, name string) bool {
	if uuid != "" && vm.Spec.UUID != "" && strings.EqualFold(vm.Spec.UUID, uuid) {
		return true
	}
	return name != "" && vm.Spec.Libvirt != nil && vm.Spec.Libvirt.Domain == name
}

// resolve returns the VM of a domain, or false (counted) when there is none.
func (r *resolver) resolve(ctx context.Context, uuid, name, kind string) (source.Target, bool) {
	vms, err := r.pub.VirtualMachines(ctx)
	if err == nil {
		// A VM naming the UUID wins over one naming the domain name: names
		// can be reused by another domain, UUIDs are not. Either way, only
		// a VM the domain is granted to (source.Tenancy) is told.
		for i := range vms {
			if uuid != "" && strings.EqualFold(vms[i].Spec.UUID, uuid) && vms[i].DeletionTimestamp.IsZero() && r.granted(&vms[i], uuid, name) {
				return source.TargetOf(&vms[i]), true
			}
		}
		for i := range vms {
			if Matches(&vms[i], "", name) && vms[i].DeletionTimestamp.IsZero() && r.granted(&vms[i], uuid, name) {
				return source.TargetOf(&vms[i]), true
			}
		}
	}
	unmatched.WithLabelValues(kind).Inc()
	if r.discovery == nil || name == "" || r.tenancy.LibvirtDomain(r.discovery.Namespace, name) != nil {
		// Discovery creates VMs only for the domains its namespace is
		// granted: a VM it made is told of its domain without a look.
		return source.Target{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.created[name]; ok {
		return t, true
	}
	vm, err := r.discover(ctx, uuid, name)
	if err != nil {
		return source.Target{}, false
	}
	t := source.TargetOf(vm)
	if r.created == nil {
		r.created = map[string]source.Target{}
	}
	r.created[name] = t
	return t, true
}

// discover creates (or finds, when an earlier run created it) the VM of a domain.
func (r *resolver) discover(ctx context.Context, uuid, name string) (*vmv1.VirtualMachine, error) {
	vm, err := source.Discover(ctx, r.pub, r.discovery.Namespace, source.Found{
		Name: name, Identity: "libvirt:" + name, UUID: uuid,
		Spec: vmv1.VirtualMachineSpec{Libvirt: &vmv1.LibvirtSource{Domain: name}},
	})
	if err != nil {
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

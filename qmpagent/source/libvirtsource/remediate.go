package libvirtsource

import (
	"context"
	"fmt"
	"sync"

	libvirt "github.com/digitalocean/go-libvirt"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// liveConn holds the session's libvirtd connection while it is up: the
// session's goroutine sets it, Remediate (the agent core's goroutine)
// reads it.
type liveConn struct {
	mu sync.Mutex
	l  *libvirt.Libvirt
}

func (c *liveConn) set(l *libvirt.Libvirt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.l = l
}

func (c *liveConn) get() *libvirt.Libvirt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.l
}

// Remediate implements source.Remediator through libvirtd: Reset is
// virDomainReset, then virDomainResume when the domain is paused (a guest
// paused by a panic or a watchdog stays paused across a reset); Resume is
// virDomainResume; PowerCycle is virDomainDestroy (when the domain runs)
// then virDomainCreate. It acts only on the domain vm holds: its namespace
// is granted the domain's name, vm claimed it (no other VirtualMachine
// follows it) and, when spec.uuid is set, libvirt reports that UUID for it
// now.
func (m *Monitor) Remediate(ctx context.Context, vm *vmv1.VirtualMachine, action vmv1.RemediationAction) error {
	switch action {
	case vmv1.RemediationReset, vmv1.RemediationResume, vmv1.RemediationPowerCycle:
	default:
		return fmt.Errorf("libvirt: action %q: %w", model.Clean(string(action), 64), source.ErrNotSupported)
	}
	l := m.live.get()
	if l == nil {
		return fmt.Errorf("libvirt: not connected to libvirtd at %s: %w", model.Clean(m.cfg.URI, 512), source.ErrNotConnected)
	}
	dom, err := m.domainOf(l, vm)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// go-libvirt's calls take no context: when ctx ends first, say so;
	// libvirtd may still carry the action out.
	done := make(chan error, 1)
	go func() { done <- act(l, dom, action) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("libvirt: %s of domain %s: no answer from libvirtd in time (it may still be carried out): %w",
			action, model.Clean(vm.Spec.Libvirt.Domain, model.MaxFieldBytes), ctx.Err())
	}
}

// domainOf returns the domain vm holds, or why it holds none (wrapping
// source.ErrNotConnected).
func (m *Monitor) domainOf(l *libvirt.Libvirt, vm *vmv1.VirtualMachine) (libvirt.Domain, error) {
	refused := func(err error) (libvirt.Domain, error) {
		return libvirt.Domain{}, fmt.Errorf("libvirt: %w: %w", source.ErrNotConnected, err)
	}
	if vm.Spec.Libvirt == nil || vm.Spec.Libvirt.Domain == "" {
		return refused(fmt.Errorf("VirtualMachine %s/%s names no libvirt domain", vm.Namespace, vm.Name))
	}
	name := vm.Spec.Libvirt.Domain
	if err := m.cfg.Tenancy.LibvirtDomain(vm.Namespace, name); err != nil {
		return refused(err)
	}
	object := "libvirt domain " + name
	if h, ok := m.claims.Holder(object); !ok || h != (types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}) {
		return refused(fmt.Errorf("this VirtualMachine does not follow %s", model.Clean(object, model.MaxFieldBytes)))
	}
	dom, err := l.DomainLookupByName(name)
	if err != nil {
		return refused(fmt.Errorf("looking up domain %s: %s", model.Clean(name, model.MaxFieldBytes), model.Clean(err.Error(), 512)))
	}
	if err := source.CheckUUID(vm.Spec.UUID, formatUUID(dom.UUID), "libvirt (domain "+name+")"); err != nil {
		return refused(err)
	}
	return dom, nil
}

// act carries out action on dom.
func act(l *libvirt.Libvirt, dom libvirt.Domain, action vmv1.RemediationAction) error {
	switch action {
	case vmv1.RemediationReset:
		if err := l.DomainReset(dom, 0); err != nil {
			return failed("virDomainReset", err)
		}
		state, _, err := l.DomainGetState(dom, 0)
		if err != nil {
			return failed("virDomainGetState after the reset", err)
		}
		if libvirt.DomainState(state) == libvirt.DomainPaused {
			return failed("virDomainResume after the reset", l.DomainResume(dom))
		}
		return nil
	case vmv1.RemediationResume:
		return failed("virDomainResume", l.DomainResume(dom))
	default: // PowerCycle
		state, _, err := l.DomainGetState(dom, 0)
		if err != nil {
			return failed("virDomainGetState", err)
		}
		if libvirt.DomainState(state) != libvirt.DomainShutoff {
			if err := l.DomainDestroy(dom); err != nil {
				return failed("virDomainDestroy", err)
			}
		}
		return failed("virDomainCreate", l.DomainCreate(dom))
	}
}

// failed words libvirt's refusal of a call, bounded; nil stays nil.
func failed(call string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("libvirt: %s: %s", call, model.Clean(err.Error(), 768))
}

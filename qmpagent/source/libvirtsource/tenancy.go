package libvirtsource

import (
	libvirt "github.com/digitalocean/go-libvirt"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// admit says why vm may not follow the domain it names, or nil: its
// namespace is not granted the domain's name (MonitorConfig.Tenancy),
// spec.uuid is not the domain's UUID (when libvirt knows the domain), or
// another VirtualMachine claimed the domain first. A VM refused for what
// it names holds no domain.
func (m *Monitor) admit(l *libvirt.Libvirt, vm *vmv1.VirtualMachine) error {
	key := types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}
	domain := vm.Spec.Libvirt.Domain
	err := m.cfg.Tenancy.LibvirtDomain(vm.Namespace, domain)
	if err == nil && vm.Spec.UUID != "" {
		if dom, lerr := l.DomainLookupByName(domain); lerr == nil {
			err = source.CheckUUID(vm.Spec.UUID, formatUUID(dom.UUID), "libvirt (domain "+domain+")")
		}
	}
	if err != nil {
		m.claims.Release(key)
		return err
	}
	return m.claims.Claim("libvirt domain "+domain, key)
}

// refuse tells vm it is refused, once for each reason.
func (m *Monitor) refuse(vm *vmv1.VirtualMachine, err error) {
	key := types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}
	if m.refused[key] == err.Error() {
		return
	}
	m.refused[key] = err.Error()
	now := m.now()
	m.pub.UpdateFacts(key, func(f *model.Facts) {
		f.SetMonitorState(vmv1.MonitorRefused, now)
		f.Monitor.Source = vmv1.SourceLibvirt
		f.Monitor.Endpoint = model.Clean(m.cfg.URI, 512)
		f.Monitor.LastError = model.Clean(err.Error(), 1024)
	})
}

// granted reports whether vm may be told of the domain named name (UUID
// uuid, when known) that a record or event is about: its namespace is
// granted the name, and its spec.uuid, when set, is the domain's.
func (r *resolver) granted(vm *vmv1.VirtualMachine, uuid, name string) bool {
	if r.tenancy.LibvirtDomain(vm.Namespace, name) != nil {
		return false
	}
	return uuid == "" || source.CheckUUID(vm.Spec.UUID, uuid, "libvirt") == nil
}

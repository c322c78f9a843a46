package source

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vmevents/vmevents/qmpagent/model"
)

// Tenancy is the one rule that says which hypervisor objects a
// VirtualMachine may reach from its namespace. Whoever may create a
// VirtualMachine in a namespace names a socket, an LXD instance or a
// libvirt domain in its spec; the agent runs as root on the node, so
// without this rule a tenant could name another tenant's VM and read its
// state (and lock its owner out: QEMU serves one client per monitor).
//
// With namespace tenancy (the default), the cluster admin grants objects
// to a namespace N by where they are, never by what a spec says:
//
//   - QMP sockets beneath the folder N of a socket root (<root>/N/...);
//   - LXD instances of the LXD project named N;
//   - libvirt domains whose name begins with "N." (a namespace name has no
//     dot, so no namespace's prefix is another's: with "N-", namespace
//     "team" would reach the domains of namespace "team-a").
//
// Shared tenancy turns the rule off, for nodes with one tenant: any
// VirtualMachine of the node may name any object under the socket roots,
// any instance, any domain.
type Tenancy struct {
	// Shared turns the rule off.
	Shared bool
}

// The values of the agent's --tenancy flag.
const (
	TenancyNamespace = "namespace"
	TenancyShared    = "shared"
)

// TenancyFlag names the agent's flag in refusal messages, so that a user
// reading one knows what the admin chose.
const TenancyFlag = "--tenancy"

// ParseTenancy reads a --tenancy value.
func ParseTenancy(s string) (Tenancy, error) {
	switch s {
	case TenancyNamespace, "":
		return Tenancy{}, nil
	case TenancyShared:
		return Tenancy{Shared: true}, nil
	}
	return Tenancy{}, fmt.Errorf("--tenancy %q: want %s or %s", s, TenancyNamespace, TenancyShared)
}

// String is the flag value of t.
func (t Tenancy) String() string {
	if t.Shared {
		return TenancyShared
	}
	return TenancyNamespace
}

// Refusals: the agent will not connect a VirtualMachine to the object it
// names; the monitor is Refused with the error's words as lastError.
var (
	// ErrNotGranted: the object is not granted to the VM's namespace.
	ErrNotGranted = errors.New("not granted to this namespace")
	// ErrInUse: another VirtualMachine claimed the object first.
	ErrInUse = errors.New("in use by another VirtualMachine")
	// ErrUUIDMismatch: spec.uuid is set and the hypervisor reports
	// another UUID for the object.
	ErrUUIDMismatch = errors.New("UUID mismatch")
)

// Refused reports whether err is one of the refusals above.
func Refused(err error) bool {
	return errors.Is(err, ErrNotGranted) || errors.Is(err, ErrInUse) || errors.Is(err, ErrUUIDMismatch)
}

// SocketFolder is the folder, relative to each socket root, beneath which
// a VirtualMachine of namespace ns may use QMP sockets: ns, or "" (the
// whole root) with shared tenancy. A namespace name is a DNS label, so the
// folder is one path element.
func (t Tenancy) SocketFolder(ns string) string {
	if t.Shared {
		return ""
	}
	return ns
}

// LXDProject says whether a VirtualMachine of namespace ns may reach the
// instances of LXD project: only those of the project named like the
// namespace. LXD's "default" project is therefore the "default"
// namespace's, and a VM elsewhere that leaves spec.lxd.project empty is
// told to set it.
func (t Tenancy) LXDProject(ns, project string) error {
	if t.Shared || project == ns {
		return nil
	}
	return fmt.Errorf("%w: VirtualMachines in namespace %q may reach only instances of LXD project %q (the agent runs with %s=%s), and this one names project %q",
		ErrNotGranted, ns, ns, TenancyFlag, TenancyNamespace, model.Clean(project, model.MaxFieldBytes))
}

// LibvirtDomain says whether a VirtualMachine of namespace ns may reach the
// libvirt domain named domain: only one whose name begins with ns + ".".
func (t Tenancy) LibvirtDomain(ns, domain string) error {
	if t.Shared || strings.HasPrefix(domain, ns+".") {
		return nil
	}
	return fmt.Errorf("%w: VirtualMachines in namespace %q may reach only libvirt domains named %q (the agent runs with %s=%s), and this one names %q",
		ErrNotGranted, ns, ns+".*", TenancyFlag, TenancyNamespace, model.Clean(domain, model.MaxFieldBytes))
}

// nilUUID is what QEMU reports when it was started without -uuid.
const nilUUID = "00000000-0000-0000-0000-000000000000"

// CheckUUID compares a VirtualMachine's spec.uuid with the UUID the
// hypervisor (who, e.g. "QEMU") reports for the object it names: nil when
// spec.uuid is empty or they are equal (in any case), ErrUUIDMismatch with
// both UUIDs otherwise — including when the hypervisor reports none, since
// the VM the spec describes has one.
func CheckUUID(spec, reported, who string) error {
	if spec == "" || strings.EqualFold(spec, reported) {
		return nil
	}
	spec = model.Clean(spec, 64)
	if reported == "" || reported == nilUUID {
		return fmt.Errorf("%w: spec.uuid is %s, but %s reports no UUID: this is not the VM the spec describes", ErrUUIDMismatch, spec, who)
	}
	return fmt.Errorf("%w: spec.uuid is %s, but %s reports %s: this is another VM", ErrUUIDMismatch, spec, who, model.Clean(reported, 64))
}

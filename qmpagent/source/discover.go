package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// DiscoveredLabel marks the VirtualMachines discovery created.
const DiscoveredLabel = "vmevents.dev/discovered"

// Found is a VM a source found on the node that no VirtualMachine names.
type Found struct {
	// Name is the hypervisor's name for it (QEMU's -name, the libvirt
	// domain, the LXD instance); may be empty.
	Name string
	// Identity tells it apart from every other VM of the node: the QMP
	// socket path, "libvirt:<domain>", "lxd:<project>/<instance>". When
	// Name is empty the VirtualMachine is named after its last element.
	Identity string
	// UUID is the hypervisor's UUID for it, kept when ValidUUID.
	UUID string
	// Spec is the source's part of the spec (QMP, Libvirt or LXD);
	// NodeName and UUID are filled in by Discover.
	Spec vmv1.VirtualMachineSpec
}

// Discover creates the VirtualMachine of a found VM in namespace, for the
// agent's node, and returns it (without a UID when it existed already).
func Discover(ctx context.Context, p Publisher, namespace string, found Found) (*vmv1.VirtualMachine, error) {
	node := p.Node().Name
	vm := &vmv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: DiscoveredName(found.Name, found.Identity, node)},
		Spec:       found.Spec,
	}
	vm.Spec.NodeName = node
	if ValidUUID(found.UUID) {
		vm.Spec.UUID = strings.ToLower(found.UUID)
	}
	if err := p.CreateVirtualMachine(ctx, vm); err != nil {
		return nil, err
	}
	return vm, nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidUUID reports whether s is a UUID worth keeping in spec.uuid: the
// canonical 8-4-4-4-12 hex form, and not the nil UUID QEMU reports when it
// was started without -uuid.
func ValidUUID(s string) bool {
	return uuidPattern.MatchString(s) && s != "00000000-0000-0000-0000-000000000000"
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// DiscoveredName makes a DNS-1123 label from the hypervisor's name for a
// VM, or the last element of its identity when it has none, with a short
// hash of node and identity so that the same name on two nodes, or two
// VMs, never collide.
func DiscoveredName(name, identity, node string) string {
	base := name
	if base == "" {
		base = strings.TrimSuffix(filepath.Base(identity), filepath.Ext(identity))
	}
	base = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if base == "" {
		base = "vm"
	}
	sum := sha256.Sum256([]byte(node + "\x00" + filepath.Clean(identity)))
	suffix := "-" + hex.EncodeToString(sum[:])[:8]
	if len(base) > 63-len(suffix) {
		base = strings.TrimRight(base[:63-len(suffix)], "-")
	}
	return base + suffix
}

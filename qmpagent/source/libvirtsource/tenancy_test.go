package libvirtsource

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/test/framework/publishtest"
)

// A domain's records and events reach only a VirtualMachine its name is
// granted to, whether the VM names the domain or its UUID, and never one
// whose spec.uuid is another's.
func TestResolverTenancy(t *testing.T) {
	const webUUID, otherUUID = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20", "11111111-2222-4333-8444-555555555555"
	vm := func(ns, name, uuid, domain string) vmv1.VirtualMachine {
		return vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name)},
			Spec: vmv1.VirtualMachineSpec{NodeName: "n1", UUID: uuid, Libvirt: &vmv1.LibvirtSource{Domain: domain}}}
	}
	for _, tc := range []struct {
		name    string
		tenancy source.Tenancy
		vms     []vmv1.VirtualMachine
		want    string // namespace/name told, "" none
	}{
		{"the namespace's domain, by name", source.Tenancy{}, []vmv1.VirtualMachine{vm("victim", "web", "", "victim.web")}, "victim/web"},
		{"the namespace's domain, by UUID", source.Tenancy{}, []vmv1.VirtualMachine{vm("victim", "web", webUUID, "")}, "victim/web"},
		{"another namespace naming the domain", source.Tenancy{}, []vmv1.VirtualMachine{vm("intruder", "thief", "", "victim.web")}, ""},
		{"another namespace naming its UUID", source.Tenancy{}, []vmv1.VirtualMachine{vm("intruder", "thief", webUUID, "")}, ""},
		{"the intruder listed first does not take the victim's", source.Tenancy{},
			[]vmv1.VirtualMachine{vm("intruder", "thief", webUUID, "victim.web"), vm("victim", "web", "", "victim.web")}, "victim/web"},
		{"a VM of the namespace whose spec.uuid is another's", source.Tenancy{}, []vmv1.VirtualMachine{vm("victim", "copy", otherUUID, "victim.web")}, ""},
		{"shared tenancy: any namespace", source.Tenancy{Shared: true}, []vmv1.VirtualMachine{vm("intruder", "thief", "", "victim.web")}, "intruder/thief"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &resolver{pub: publishtest.NewRecorder(tc.vms...), tenancy: tc.tenancy}
			got, ok := r.resolve(context.Background(), webUUID, "victim.web", "test")
			if told := got.Key.String(); ok != (tc.want != "") || (ok && told != tc.want) {
				t.Errorf("told %q (%v), want %q", told, ok, tc.want)
			}
		})
	}
}

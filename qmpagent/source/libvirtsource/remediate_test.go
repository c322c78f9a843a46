package libvirtsource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmevents/vmevents/test/framework/poll"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/test/framework/privatelibvirt"
	"github.com/vmevents/vmevents/test/framework/publishtest"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

func domainVM(ns, name, uuid, domain string) vmv1.VirtualMachine {
	return vmv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)},
		Spec:       vmv1.VirtualMachineSpec{NodeName: "n1", UUID: uuid, Libvirt: &vmv1.LibvirtSource{Domain: domain}},
	}
}

// TestRemediate resets, resumes and power-cycles a domain of a real private
// libvirtd through the Monitor that follows it, and refuses the VMs that do
// not hold the domain. Run it under `flock /tmp/libvirt-test.lock` with the
// other libvirt tests (one auditd per machine).
func TestRemediate(t *testing.T) {
	ctrl.SetLogger(logr.Discard())
	const uuid = "6a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	const domain = "ns1.remedy"
	d, err := privatelibvirt.Start(context.Background(), testenv.RepoRoot(), t.TempDir(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	virsh := func(args ...string) string {
		t.Helper()
		out, err := privatelibvirt.Virsh(d.URI, args...)
		if err != nil {
			t.Fatalf("virsh %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	state := func() string {
		out, _ := privatelibvirt.Virsh(d.URI, "domstate", domain)
		return strings.TrimSpace(out)
	}
	disk, xml := filepath.Join(d.Dir, "boot.img"), filepath.Join(d.Dir, "remedy.xml")
	if err := privatelibvirt.BootDisk(disk); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(xml, []byte(privatelibvirt.DomainXML(domain, uuid, disk)), 0o600); err != nil {
		t.Fatal(err)
	}
	virsh("define", xml)
	virsh("start", domain)

	holder := domainVM("ns1", "holder", uuid, domain)
	vms := map[string]vmv1.VirtualMachine{
		"holder": holder,
		// Its namespace is not granted ns1.* domains.
		"not granted": domainVM("ns2", "other-tenant", "", domain),
		// Names the domain too, after holder claimed it.
		"second claim": domainVM("ns1", "second", "", domain),
		// spec.uuid is another machine's.
		"wrong uuid": domainVM("ns1", "wrong-uuid", "6a1d2c3b-4e5f-4a6b-8c7d-000000000000", domain),
		// libvirt has no such domain: admitted, but nothing to act on.
		"no such domain": domainVM("ns1", "missing", "", "ns1.missing"),
	}
	p := publishtest.NewRecorder(holder)
	m, err := NewMonitor(p, MonitorConfig{URI: d.URI, Rescan: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := m.Remediate(ctx, &holder, vmv1.RemediationReset); !errors.Is(err, source.ErrNotConnected) {
		t.Errorf("before the monitor connects: %v, want ErrNotConnected", err)
	}
	stopMonitor := publishtest.Run(t, m)
	poll.Until(t, "the holder follows the domain", func() bool {
		return p.Facts(&holder).Monitor.State == vmv1.MonitorConnected && p.Facts(&holder).RunState == vmv1.RunStateRunning
	})
	for name, vm := range vms {
		if name != "holder" {
			p.AddVM(vm)
		}
	}
	poll.Until(t, "the other VMs are looked at", func() bool {
		for _, name := range []string{"not granted", "second claim", "wrong uuid"} {
			if vm := vms[name]; p.Facts(&vm).Monitor.State != vmv1.MonitorRefused {
				return false
			}
		}
		return true
	})

	// resets counts the resets the host asked for (the firmware may reset
	// the guest by itself too: those are the guest's).
	resets := func() int {
		n := 0
		for _, e := range p.Published() {
			if e.Regarding.Name == "holder" && e.Occurrence.Reason == "Reset" && strings.Contains(e.Occurrence.Note, "host-qmp-system-reset") {
				n++
			}
		}
		return n
	}
	domid := func() string { return virsh("domid", domain) }

	t.Run("Reset resets the running domain", func(t *testing.T) {
		before, id := resets(), domid()
		if err := m.Remediate(ctx, &holder, vmv1.RemediationReset); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, "QEMU tells of the reset", func() bool { return resets() == before+1 })
		if s, now := state(), domid(); s != "running" || now != id {
			t.Errorf("after the reset: %q, id %s (was %s), want the same QEMU running", s, now, id)
		}
	})

	t.Run("Reset of a paused domain lets it run", func(t *testing.T) {
		virsh("suspend", domain)
		poll.Until(t, "the domain is paused", func() bool { return p.Facts(&holder).RunState == vmv1.RunStatePaused })
		before := resets()
		if err := m.Remediate(ctx, &holder, vmv1.RemediationReset); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, "QEMU tells of the reset", func() bool { return resets() == before+1 })
		poll.Until(t, "the domain runs", func() bool {
			return state() == "running" && p.Facts(&holder).RunState == vmv1.RunStateRunning
		})
	})

	t.Run("Resume lets a paused domain run", func(t *testing.T) {
		virsh("suspend", domain)
		poll.Until(t, "the domain is paused", func() bool { return p.Facts(&holder).RunState == vmv1.RunStatePaused })
		if err := m.Remediate(ctx, &holder, vmv1.RemediationResume); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, "the domain runs", func() bool {
			return state() == "running" && p.Facts(&holder).RunState == vmv1.RunStateRunning
		})
	})

	t.Run("PowerCycle starts a new QEMU", func(t *testing.T) {
		id := domid()
		if err := m.Remediate(ctx, &holder, vmv1.RemediationPowerCycle); err != nil {
			t.Fatal(err)
		}
		if s, now := state(), domid(); s != "running" || now == id {
			t.Errorf("after the power cycle: %q, id %s (was %s), want a new QEMU running", s, now, id)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			vm     vmv1.VirtualMachine
			action vmv1.RemediationAction
			want   error
		}{
			{"an action libvirt has no call for", holder, "Hibernate", source.ErrNotSupported},
			{"no action", holder, vmv1.RemediationNone, source.ErrNotSupported},
			{"a namespace not granted the domain", vms["not granted"], vmv1.RemediationReset, source.ErrNotConnected},
			{"a VM whose domain another VM holds", vms["second claim"], vmv1.RemediationReset, source.ErrNotConnected},
			{"a VM whose spec.uuid is not the domain's", vms["wrong uuid"], vmv1.RemediationReset, source.ErrNotConnected},
			{"a domain libvirt does not have", vms["no such domain"], vmv1.RemediationResume, source.ErrNotConnected},
			{"a VM naming no domain", vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "qmp"}}, vmv1.RemediationReset, source.ErrNotConnected},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := domid()
				err := m.Remediate(ctx, &tc.vm, tc.action)
				if !errors.Is(err, tc.want) {
					t.Errorf("%v, want %v", err, tc.want)
				}
				t.Log(err)
				if s, now := state(), domid(); s != "running" || now != id {
					t.Errorf("the domain was acted on: %q, id %s (was %s)", s, now, id)
				}
			})
		}
	})

	t.Run("no action once the caller gave up", func(t *testing.T) {
		id := domid()
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if err := m.Remediate(gone, &holder, vmv1.RemediationPowerCycle); !errors.Is(err, context.Canceled) {
			t.Errorf("%v, want context.Canceled", err)
		}
		if s, now := state(), domid(); s != "running" || now != id {
			t.Errorf("the domain was acted on: %q, id %s (was %s)", s, now, id)
		}
	})

	t.Run("no action once the connection is gone", func(t *testing.T) {
		stopMonitor()
		if err := m.Remediate(ctx, &holder, vmv1.RemediationReset); !errors.Is(err, source.ErrNotConnected) {
			t.Errorf("%v, want ErrNotConnected", err)
		}
	})
}

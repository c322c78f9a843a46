package lxdsource

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/test/framework/publishtest"
)

// Each VirtualMachine is told it is refused, and why, or connected; an
// instance's events reach only the VM it is granted to.
func TestTenancyRefusals(t *testing.T) {
	withUUID := func(vm vmv1.VirtualMachine, uuid string) vmv1.VirtualMachine { vm.Spec.UUID = uuid; return vm }
	inNamespace := func(vm vmv1.VirtualMachine, ns string) vmv1.VirtualMachine { vm.Namespace = ns; return vm }
	const c2UUID = "11111111-2222-4333-8444-555555555555"
	owner := lxdVM("owner", "c1", "")
	vms := []vmv1.VirtualMachine{
		owner,
		lxdVM("copy", "c1", ""),
		inNamespace(lxdVM("intruder", "c1", ""), "intruder"),
		inNamespace(lxdVM("thief", "c1", "default"), "thief"),
		withUUID(lxdVM("wrong-uuid", "c2", ""), "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20"),
		withUUID(lxdVM("right-uuid", "c2", ""), strings.ToUpper(c2UUID)),
	}
	for _, tc := range []struct {
		tenancy source.Tenancy
		want    map[string][]string // VM name: "" connected, else words of its refusal
	}{
		{source.Tenancy{}, map[string][]string{
			"owner":      nil,
			"copy":       {"in use by another VirtualMachine", "LXD instance default/c1", "VirtualMachine default/owner"},
			"intruder":   {"not granted", `namespace "intruder"`, `LXD project "intruder"`},
			"thief":      {"not granted", `namespace "thief"`},
			"wrong-uuid": {"UUID mismatch", "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20", c2UUID},
			"right-uuid": nil,
		}},
		{source.Tenancy{Shared: true}, map[string][]string{
			"owner":    nil,
			"copy":     {"in use by another VirtualMachine"},
			"intruder": {"in use by another VirtualMachine"},
		}},
	} {
		t.Run(tc.tenancy.String(), func(t *testing.T) {
			p := publishtest.NewRecorder(slices.Clone(vms)...) // the Recorder keeps the slice it is given
			s := New(p, Config{Socket: "/run/lxd.socket", Tenancy: tc.tenancy, Log: logr.Discard()})
			s.up = true
			s.uuids[Instance{Project: DefaultProject, Name: "c2"}] = c2UUID
			s.refresh(context.Background())
			for _, vm := range vms {
				want, ok := tc.want[vm.Name]
				if !ok {
					continue
				}
				f := p.FactsOf(vm.Namespace, vm.Name)
				if want == nil {
					if f.Monitor.State != vmv1.MonitorConnected {
						t.Errorf("%s: %s (%s), want Connected", vm.Name, f.Monitor.State, f.Monitor.LastError)
					}
					continue
				}
				if f.Monitor.State != vmv1.MonitorRefused {
					t.Errorf("%s: %s, want Refused", vm.Name, f.Monitor.State)
				}
				for _, w := range want {
					if !strings.Contains(f.Monitor.LastError, w) {
						t.Errorf("%s: %q does not say %q", vm.Name, f.Monitor.LastError, w)
					}
				}
			}
			// The instance's events reach its holder only.
			s.Handle(context.Background(), []byte(`{"metadata":{"action":"instance-paused","source":"/1.0/instances/c1"},"project":"default","timestamp":"2026-11-29T01:24:15Z","type":"lifecycle","location":"none"}`), received)
			for _, e := range p.Published() {
				if e.Regarding.Name != owner.Name {
					t.Errorf("an event of c1 reached %s/%s", e.Regarding.Namespace, e.Regarding.Name)
				}
			}
			if n := p.FactsOf(owner.Namespace, owner.Name).EventCounts["instance-paused"]; n != 1 {
				t.Errorf("the holder counted %d instance-paused, want 1", n)
			}

			// The holder gone, the next VM naming the instance gets it: one
			// look lets go of the claim of the VM no longer there, the next
			// gives the instance to the first VM naming it.
			_ = p.DeleteVirtualMachine(context.Background(), &owner)
			s.refresh(context.Background())
			s.refresh(context.Background())
			if f := p.FactsOf("default", "copy"); f.Monitor.State != vmv1.MonitorConnected {
				t.Errorf("copy after the holder went: %s (%s), want Connected", f.Monitor.State, f.Monitor.LastError)
			}
		})
	}
}

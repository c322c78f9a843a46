package lxdsource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmevents/vmevents/test/framework/poll"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/test/framework/privatelxd"
	"github.com/vmevents/vmevents/test/framework/publishtest"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

func instanceVM(ns, name, uuid, project, instance string) vmv1.VirtualMachine {
	return vmv1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)},
		Spec:       vmv1.VirtualMachineSpec{NodeName: "n1", UUID: uuid, LXD: &vmv1.LXDSource{Instance: instance, Project: project}},
	}
}

// TestRemediate restarts, unfreezes and power-cycles a container of a real
// private LXD through the Source that follows it, in the project of the
// VM's namespace, and refuses the VMs that do not hold the instance.
func TestRemediate(t *testing.T) {
	var out bytes.Buffer
	lxd, err := privatelxd.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		lxd.Stop()
		if t.Failed() {
			t.Logf("lxd output:\n%s", out.String())
		}
	})
	if err := lxd.Start(&out); err != nil {
		t.Fatal(err)
	}
	if err := lxd.Prepare(testenv.RepoRoot()); err != nil {
		t.Fatal(err)
	}
	lxc := func(args ...string) string {
		t.Helper()
		o, err := lxd.Run("lxc", args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(o)
	}
	// The project of namespace ns1, sharing the default project's image
	// and profile.
	lxc("project", "create", "ns1", "-c", "features.images=false", "-c", "features.profiles=false")
	lxc("launch", privatelxd.Image, "c1", "--project", "ns1")
	uuid := lxc("config", "get", "c1", "volatile.uuid", "--project", "ns1")
	// state is the container's status and init PID, as LXD tells them.
	state := func() (string, int) {
		t.Helper()
		var st struct {
			Status string `json:"status"`
			PID    int    `json:"pid"`
		}
		if err := json.Unmarshal([]byte(lxc("query", "/1.0/instances/c1/state?project=ns1")), &st); err != nil {
			t.Fatal(err)
		}
		return st.Status, st.PID
	}

	holder := instanceVM("ns1", "holder", uuid, "ns1", "c1")
	vms := map[string]vmv1.VirtualMachine{
		// Its namespace is not granted project ns1.
		"not granted": instanceVM("ns2", "other-tenant", "", "ns1", "c1"),
		// Names the instance too, after holder claimed it.
		"second claim": instanceVM("ns1", "second", "", "ns1", "c1"),
		// spec.uuid is another machine's.
		"wrong uuid": instanceVM("ns1", "wrong-uuid", "6a1d2c3b-4e5f-4a6b-8c7d-000000000000", "ns1", "c1"),
		// LXD has no such instance: admitted, but nothing to act on.
		"no such instance": instanceVM("ns1", "missing", "", "ns1", "c9"),
	}
	p := publishtest.NewRecorder(holder)
	s := New(p, Config{Socket: lxd.Socket(), RefreshInterval: 100 * time.Millisecond, Log: logr.Discard()})
	ctx := context.Background()
	if err := s.Remediate(ctx, &holder, vmv1.RemediationReset); !errors.Is(err, source.ErrNotConnected) {
		t.Errorf("before the source follows LXD: %v, want ErrNotConnected", err)
	}
	stopSource := publishtest.Run(t, s)
	poll.Until(t, "the holder follows the instance", func() bool {
		f := p.Facts(&holder)
		return f.Monitor.State == vmv1.MonitorConnected && f.RunState == vmv1.RunStateRunning
	})
	for _, vm := range vms {
		p.AddVM(vm)
	}
	poll.Until(t, "the other VMs are looked at", func() bool {
		for _, name := range []string{"not granted", "second claim", "wrong uuid"} {
			if vm := vms[name]; p.Facts(&vm).Monitor.State != vmv1.MonitorRefused {
				return false
			}
		}
		vm := vms["no such instance"]
		return p.Facts(&vm).Monitor.State == vmv1.MonitorConnected
	})
	count := func(reason string) int {
		n := 0
		for _, e := range p.Published() {
			if e.Regarding.Name == "holder" && e.Occurrence.Reason == reason {
				n++
			}
		}
		return n
	}
	pause := func() {
		t.Helper()
		lxc("pause", "c1", "--project", "ns1")
		poll.Until(t, "the instance is frozen", func() bool { return p.Facts(&holder).RunState == vmv1.RunStatePaused })
	}

	t.Run("Reset restarts the container", func(t *testing.T) {
		_, pid := state()
		restarts := count("InstanceRestarted")
		if err := s.Remediate(ctx, &holder, vmv1.RemediationReset); err != nil {
			t.Fatal(err)
		}
		if st, now := state(); st != "Running" || now == pid {
			t.Errorf("after the reset: %s, pid %d (was %d), want a new init running", st, now, pid)
		}
		poll.Until(t, "LXD tells of the restart", func() bool { return count("InstanceRestarted") == restarts+1 })
	})

	t.Run("Reset of a frozen container lets it run", func(t *testing.T) {
		pause()
		_, pid := state()
		if err := s.Remediate(ctx, &holder, vmv1.RemediationReset); err != nil {
			t.Fatal(err)
		}
		if st, now := state(); st != "Running" || now == pid {
			t.Errorf("after the reset: %s, pid %d (was %d), want a new init running", st, now, pid)
		}
	})

	t.Run("Resume unfreezes the container", func(t *testing.T) {
		pause()
		_, pid := state()
		if err := s.Remediate(ctx, &holder, vmv1.RemediationResume); err != nil {
			t.Fatal(err)
		}
		if st, now := state(); st != "Running" || now != pid {
			t.Errorf("after the resume: %s, pid %d (was %d), want the same init running", st, now, pid)
		}
		poll.Until(t, "the source tells it runs", func() bool { return p.Facts(&holder).RunState == vmv1.RunStateRunning })
	})

	t.Run("PowerCycle stops and starts the container", func(t *testing.T) {
		_, pid := state()
		stops, starts := count("InstanceStopped"), count("InstanceStarted")
		if err := s.Remediate(ctx, &holder, vmv1.RemediationPowerCycle); err != nil {
			t.Fatal(err)
		}
		if st, now := state(); st != "Running" || now == pid {
			t.Errorf("after the power cycle: %s, pid %d (was %d), want a new init running", st, now, pid)
		}
		poll.Until(t, "LXD tells of the stop and the start", func() bool {
			return count("InstanceStopped") == stops+1 && count("InstanceStarted") == starts+1
		})
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			vm     vmv1.VirtualMachine
			action vmv1.RemediationAction
			want   error
		}{
			{"an action LXD has no state change for", holder, "Hibernate", source.ErrNotSupported},
			{"no action", holder, vmv1.RemediationNone, source.ErrNotSupported},
			{"a namespace not granted the project", vms["not granted"], vmv1.RemediationReset, source.ErrNotConnected},
			{"a VM whose instance another VM holds", vms["second claim"], vmv1.RemediationReset, source.ErrNotConnected},
			{"a VM whose spec.uuid is not the instance's", vms["wrong uuid"], vmv1.RemediationReset, source.ErrNotConnected},
			{"an instance LXD does not have", vms["no such instance"], vmv1.RemediationReset, source.ErrNotConnected},
			{"a VM naming no instance", vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns1", Name: "qmp", UID: "uid-qmp"}}, vmv1.RemediationReset, source.ErrNotConnected},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, pid := state()
				err := s.Remediate(ctx, &tc.vm, tc.action)
				if !errors.Is(err, tc.want) {
					t.Errorf("%v, want %v", err, tc.want)
				}
				t.Log(err)
				if st, now := state(); st != "Running" || now != pid {
					t.Errorf("the instance was acted on: %s, pid %d (was %d)", st, now, pid)
				}
			})
		}
	})

	t.Run("no action once the caller gave up", func(t *testing.T) {
		_, pid := state()
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Remediate(gone, &holder, vmv1.RemediationPowerCycle); !errors.Is(err, context.Canceled) {
			t.Errorf("%v, want context.Canceled", err)
		}
		if st, now := state(); st != "Running" || now != pid {
			t.Errorf("the instance was acted on: %s, pid %d (was %d)", st, now, pid)
		}
	})

	t.Run("no action once the source stops following", func(t *testing.T) {
		stopSource()
		if err := s.Remediate(ctx, &holder, vmv1.RemediationReset); !errors.Is(err, source.ErrNotConnected) {
			t.Errorf("%v, want ErrNotConnected", err)
		}
	})
}

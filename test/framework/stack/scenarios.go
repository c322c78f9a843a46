package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/test/framework/qemuvm"
)

// Scenario is a real QEMU VM that does something users care about once the
// agent watches it: the demo's and the end-to-end suite's VMs.
type Scenario struct {
	// Name is the VM's name, in QEMU and in Kubernetes.
	Name string
	// Story says in a line what the VM does.
	Story string
	// QEMU is how it starts (always paused, so nothing happens unwatched).
	QEMU qemuvm.Options
	// Act makes it happen, through the VM's second monitor.
	Act func(ctx context.Context, vm *qemuvm.VM, mon *qmp.Conn) error
	// Condition is the condition it ends with True, if any.
	Condition string
	// Spec is YAML added under the VirtualMachine's spec, indented by two
	// spaces (for example a remediation).
	Spec string
}

// Scenarios are three VMs, each in its own folder under dir: web-1 has a VNC
// session and then a guest panic; db-1 is paused and resumed by the
// operator, then its watchdog expires; batch-1 hits a disk read error.
func Scenarios(dir string) ([]Scenario, error) {
	dirs := map[string]string{}
	for _, name := range []string{"web-1", "db-1", "batch-1"} {
		dirs[name] = filepath.Join(dir, "vms", name)
		if err := os.MkdirAll(dirs[name], 0o700); err != nil {
			return nil, err
		}
	}
	disk, err := qemuvm.ReadErrorDisk(dirs["batch-1"], "disk0")
	if err != nil {
		return nil, err
	}
	cont := func(commands ...string) func(ctx context.Context, _ *qemuvm.VM, mon *qmp.Conn) error {
		return func(ctx context.Context, _ *qemuvm.VM, mon *qmp.Conn) error {
			for _, c := range commands {
				if err := mon.Execute(ctx, c, nil, nil); err != nil {
					return fmt.Errorf("%s: %w", c, err)
				}
			}
			return nil
		}
	}
	return []Scenario{
		{
			Name:  "web-1",
			Story: "a VNC client connects and leaves; then the guest runs and panics (pvpanic)",
			QEMU: qemuvm.Options{Dir: dirs["web-1"], Name: "web-1", Boot: qemuvm.Panic, Paused: true, VNC: true, PrettyMonitor: true,
				Args: []string{"-device", "pvpanic"}},
			Act: func(ctx context.Context, vm *qemuvm.VM, mon *qmp.Conn) error {
				hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if _, err := qemuvm.VNCHandshake(hctx, vm.VNCAddr); err != nil {
					return err
				}
				return cont("cont")(ctx, vm, mon)
			},
			Condition: "GuestPanicked",
		},
		{
			Name:  "db-1",
			Story: "runs, is paused and resumed by the operator; its watchdog then expires (action pause)",
			QEMU: qemuvm.Options{Dir: dirs["db-1"], Name: "db-1", Boot: qemuvm.Watchdog, Paused: true, PrettyMonitor: true,
				Args: []string{"-device", "ib700", "-watchdog-action", "pause"}},
			Act:       cont("cont", "stop", "cont"),
			Condition: "WatchdogExpired",
		},
		{
			Name:      "batch-1",
			Story:     "runs; its disk fails the BIOS's first read (EIO), which stops the VM",
			QEMU:      qemuvm.Options{Dir: dirs["batch-1"], Name: "batch-1", Paused: true, PrettyMonitor: true, Args: disk},
			Act:       cont("cont"),
			Condition: "IOError",
		},
	}, nil
}

// SelfHealing is the VM `make demo` shows curing itself: app-1's guest
// panics once (pvpanic, QEMU pauses it); its spec asks for a Reset five
// seconds after GuestPanicked went True, so the agent resets it and the
// guest runs again.
func SelfHealing(dir string) (Scenario, error) {
	folder := filepath.Join(dir, "vms", "app-1")
	if err := os.MkdirAll(folder, 0o700); err != nil {
		return Scenario{}, err
	}
	return Scenario{
		Name:  "app-1",
		Story: "the guest panics once; its spec.remediation resets it 5 s later and it runs again",
		QEMU: qemuvm.Options{Dir: folder, Name: "app-1", Boot: qemuvm.PanicOnce, Paused: true, PrettyMonitor: true,
			Args: []string{"-device", "pvpanic", "-action", "panic=pause"}},
		Act: func(ctx context.Context, _ *qemuvm.VM, mon *qmp.Conn) error {
			return mon.Execute(ctx, "cont", nil, nil)
		},
		// No Condition: it ends with GuestPanicked False (Recovered).
		Spec: "  remediation:\n    guestPanicked: Reset\n    delaySeconds: 5\n",
	}, nil
}

// Boot starts a scenario's QEMU with its QMP socket in the folder of the
// socket root the agent grants to the VirtualMachine's namespace (the
// default tenancy, as a cluster admin lays it out: <root>/<namespace>/),
// and creates its VirtualMachine.
func (s *Stack) Boot(ctx context.Context, sc *Scenario) (*qemuvm.VM, error) {
	folder := filepath.Join(s.SocketRoot, "default")
	if err := os.MkdirAll(folder, 0o700); err != nil {
		return nil, err
	}
	sc.QEMU.QMPPath = filepath.Join(folder, sc.Name+".qmp")
	vm, err := qemuvm.Launch(ctx, sc.QEMU)
	if err != nil {
		return nil, err
	}
	manifest := fmt.Sprintf("apiVersion: vmevents.dev/v1alpha1\nkind: VirtualMachine\nmetadata:\n  name: %s\n  namespace: default\nspec:\n  nodeName: %s\n  qmp:\n    socketPath: %s\n%s",
		sc.Name, s.Node, sc.QEMU.QMPPath, sc.Spec)
	if out, err := s.KubectlIn(manifest, "apply", "-f", "-"); err != nil {
		vm.Kill()
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	return vm, nil
}

// Play runs a scenario's actions through the VM's second monitor.
func Play(ctx context.Context, sc Scenario, vm *qemuvm.VM) error {
	mon, err := qmp.Dial(ctx, vm.PrettyQMPPath, qmp.Options{})
	if err != nil {
		return err
	}
	defer mon.Close()
	return sc.Act(ctx, vm, mon)
}

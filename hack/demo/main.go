// Command demo is `make demo`: the whole system on this machine, as users
// see it. A local control plane (real etcd and kube-apiserver, token
// authentication, RBAC), vmevents installed from config/default through the
// real kubectl, the controller and the agent as local processes under their
// service-account identities, and four real QEMU VMs that do things: a
// guest panic and a VNC session on web-1, a pause/resume and a watchdog
// expiry on db-1, a disk read error on batch-1, and a guest panic on app-1
// that its spec.remediation cures by itself (a reset by the agent). Then it shows what kubectl
// shows, keeps everything running, and stops every process on Ctrl-C.
//
// Usage: go run ./hack/demo -assets DIR -kustomize PATH -binary PATH
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/stack"
)

func main() {
	var opts stack.Options
	flag.StringVar(&opts.Assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "folder with etcd, kube-apiserver and kubectl")
	flag.StringVar(&opts.Kustomize, "kustomize", "kustomize", "the kustomize binary")
	flag.StringVar(&opts.Binary, "binary", "bin/vmevents", "the vmevents binary")
	flag.StringVar(&opts.Dir, "dir", "_demo", "folder for the demo's state (wiped at start)")
	flag.StringVar(&opts.Node, "node", "demo-node", "the node name the agent reports as")
	flag.Parse()
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(opts stack.Options) error {
	if opts.Assets == "" {
		return fmt.Errorf("no control plane binaries: run `make demo`, or pass -assets (hack/control-plane.sh prints the folder)")
	}
	var err error
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return err
	}
	if opts.Binary, err = filepath.Abs(opts.Binary); err != nil {
		return err
	}
	if opts.Repo, err = os.Getwd(); err != nil {
		return err
	}
	if err := os.RemoveAll(opts.Dir); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	step("starting etcd and kube-apiserver on loopback (token authentication, RBAC), installing config/default")
	s, err := stack.Up(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { step("stopping every process the demo started"); s.Down() }()

	step("starting the controller and the agent as local processes, as their service accounts")
	if err := s.StartController(); err != nil {
		return err
	}
	if err := s.StartAgent(); err != nil {
		return err
	}

	specs, err := stack.Scenarios(opts.Dir)
	if err != nil {
		return err
	}
	healing, err := stack.SelfHealing(opts.Dir)
	if err != nil {
		return err
	}
	specs = append(specs, healing)
	var vms []*qemuvm.VM
	defer func() {
		for _, vm := range vms {
			vm.Kill()
		}
	}()
	for i := range specs {
		step(fmt.Sprintf("booting QEMU VM %s (paused until the agent watches it)", specs[i].Name))
		vm, err := s.Boot(ctx, &specs[i])
		if err != nil {
			return err
		}
		vms = append(vms, vm)
	}
	for _, sc := range specs {
		if out, err := s.Kubectl("wait", "--for=jsonpath={.status.monitor.state}=Connected", "vm/"+sc.Name, "--timeout=120s"); err != nil {
			return fmt.Errorf("the agent did not connect to %s: %w\n%s\n(agent log: %s)", sc.Name, err, out, s.LogFile("agent"))
		}
	}
	for i, sc := range specs {
		step(sc.Name + ": " + sc.Story)
		if err := stack.Play(ctx, sc, vms[i]); err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
	}
	for _, sc := range specs {
		if sc.Condition == "" {
			continue
		}
		step("kubectl wait --for=condition=" + sc.Condition + " vm/" + sc.Name)
		if out, err := s.Kubectl("wait", "--for=condition="+sc.Condition, "vm/"+sc.Name, "--timeout=120s"); err != nil {
			return fmt.Errorf("%w\n%s\n(logs: %s, %s)", err, out, s.LogFile("agent"), s.LogFile("controller"))
		} else {
			fmt.Print(out)
		}
	}
	step("kubectl wait --for=condition=GuestPanicked=false vm/" + healing.Name + " (its remediation resets it)")
	if out, err := s.Kubectl("wait", "--for=condition=GuestPanicked=false", "vm/"+healing.Name, "--timeout=120s"); err != nil {
		return fmt.Errorf("%w\n%s\n(logs: %s, %s)", err, out, s.LogFile("agent"), s.LogFile("controller"))
	} else {
		fmt.Print(out)
	}
	// The agent's facts trail the conditions by a status write at most;
	// wait for the last of them so the outputs below tell the whole story.
	for _, w := range []struct{ vm, jsonpath string }{
		{"web-1", "{.status.eventCounts.VNC_DISCONNECTED}=1"},
		{"web-1", "{.status.runState}=Paused"}, {"db-1", "{.status.runState}=Paused"}, {"batch-1", "{.status.runState}=Paused"},
	} {
		_, _ = s.Kubectl("wait", "--for=jsonpath="+w.jsonpath, "vm/"+w.vm, "--timeout=30s")
	}

	for _, args := range [][]string{
		{"get", "vm", "-o", "wide"},
		{"get", "events", "--sort-by=.metadata.creationTimestamp"},
		{"describe", "vm", "web-1"},
		{"get", "vm", healing.Name, "-o", "jsonpath={range .status.remediation.attempts[*]}attempt {.id}: {.action} for {.condition}, requested {.requestedAt}: {.result} ({.message}){\"\\n\"}{end}"},
		{"describe", "vm", healing.Name},
	} {
		step("kubectl " + strings.Join(args, " "))
		out, err := s.Kubectl(args...)
		if err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		fmt.Print(out)
	}

	fmt.Printf("\nEverything keeps running. In another terminal:\n\n    export KUBECONFIG=%s\n    kubectl get vm\n    kubectl describe vm web-1\n\nLogs: %s\nPress Ctrl-C to stop every process the demo started.\n", s.Kubeconfig(), filepath.Join(opts.Dir, "logs"))
	<-ctx.Done()
	return nil
}

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }

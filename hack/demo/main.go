// Command demo is `make demo`: a local control plane on loopback with vmevents
// installed from config/default through the real kubectl, a sample
// VirtualMachine, and what kubectl shows. It keeps everything running until
// Ctrl-C, then stops every process it started.
//
// Usage: go run ./hack/demo -assets DIR -kustomize PATH
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vmevents/vmevents/internal/localcluster"
)

func main() {
	assets := flag.String("assets", os.Getenv("KUBEBUILDER_ASSETS"), "folder with etcd, kube-apiserver and kubectl")
	kustomize := flag.String("kustomize", "kustomize", "the kustomize binary")
	dir := flag.String("dir", "_demo", "folder for the demo's state (wiped at start)")
	flag.Parse()
	if err := run(*assets, *kustomize, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(assets, kustomize, dir string) error {
	if assets == "" {
		return fmt.Errorf("no control plane binaries: run `make demo`, or pass -assets (hack/control-plane.sh prints the folder)")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	step("starting etcd and kube-apiserver on loopback (token authentication, RBAC)")
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		Assets: assets, Dir: dir,
		Identities: []localcluster.Identity{localcluster.Controller, localcluster.Agent},
	})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	kc := cluster.Kubeconfig(localcluster.Admin)
	kubectl := func(args ...string) error { return runKubectl(cluster.Kubectl(), kc, "", args...) }

	step("installing vmevents: kustomize build config/default | kubectl apply -f -")
	manifests, err := exec.Command(kustomize, "build", "config/default").Output()
	if err != nil {
		return fmt.Errorf("kustomize build config/default: %w", err)
	}
	if err := runKubectl(cluster.Kubectl(), kc, string(manifests), "apply", "-f", "-"); err != nil {
		return err
	}
	if err := kubectl("wait", "--for=condition=Established", "crd/virtualmachines.vmevents.dev", "--timeout=60s"); err != nil {
		return err
	}

	step("applying the sample VirtualMachines (config/samples)")
	if err := kubectl("apply", "-k", "config/samples"); err != nil {
		return err
	}

	step("kubectl get vm")
	if err := kubectl("get", "vm", "-o", "wide"); err != nil {
		return err
	}

	fmt.Printf("\nThe control plane keeps running. In another terminal:\n\n    export KUBECONFIG=%s\n    kubectl get vm\n\nPress Ctrl-C to stop everything.\n", kc)
	<-ctx.Done()
	step("stopping")
	return nil
}

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }

func runKubectl(bin, kubeconfig, stdin string, args ...string) error {
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

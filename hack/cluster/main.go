// Command cluster is `make cluster`: the real single-node cluster the
// cluster suite runs on (test/framework/node), started alone for a developer
// to poke at. It prints how to reach it with kubectl, optionally imports an
// image archive (`make image` writes bin/vmevents-image.tar), and stops
// everything, leaving the host as it was, on Ctrl-C.
//
// Usage: go run ./hack/cluster -control-plane DIR -binaries DIR [-image ARCHIVE]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/vmevents/vmevents/test/framework/localcluster"
	"github.com/vmevents/vmevents/test/framework/node"
)

func main() {
	var opts node.Options
	var image string
	flag.StringVar(&opts.ControlPlane, "control-plane", "", "folder with etcd, kube-apiserver and kubectl (hack/control-plane.sh)")
	flag.StringVar(&opts.Binaries, "binaries", "", "folder with the kubelet, containerd and CNI plugins (hack/cluster-binaries.sh)")
	flag.StringVar(&opts.Dir, "dir", "_cluster", "folder for the node's state (wiped at start)")
	flag.StringVar(&image, "image", "", "an image archive to import into the node's runtime")
	flag.Parse()
	if err := run(opts, image); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run(opts node.Options, image string) error {
	if opts.ControlPlane == "" || opts.Binaries == "" {
		return fmt.Errorf("run `make cluster`, or pass -control-plane and -binaries")
	}
	var err error
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return err
	}
	if opts.RepoRoot, err = os.Getwd(); err != nil {
		return err
	}
	if err := os.RemoveAll(opts.Dir); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	fmt.Println(">> starting the node (etcd, kube-apiserver, containerd, kubelet, controller manager, scheduler, kube-proxy)")
	n, err := node.Start(ctx, opts)
	if n != nil {
		defer n.Stop()
	}
	if err != nil {
		return err
	}
	if image != "" {
		if err := n.ImportImage(ctx, image); err != nil {
			return err
		}
		fmt.Println(">> imported", image)
	}
	wrapper := filepath.Join(opts.Dir, "kubectl")
	script := fmt.Sprintf("#!/bin/sh\n# kubectl as the admin, inside the node's network namespace.\nexec nsenter --net=%s -- %s --kubeconfig %s \"$@\"\n",
		n.NetNS(), n.Cluster().Kubectl(), n.Cluster().Kubeconfig(localcluster.Admin))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		return err
	}
	fmt.Printf(`
The node %[1]s is Ready. Its pod and Service addresses exist only in its own
network namespace; the wrapper %[2]s runs kubectl there as the admin:

  %[2]s get nodes,pods -A
  bin/kustomize-* build config/default | %[2]s apply -f -    # install vmevents (make cluster imported its image)

or by hand: nsenter --net=%[3]s -- kubectl --kubeconfig %[4]s get pods -A

Logs: %[5]s/logs/. Ctrl-C stops the node and leaves the host as it was.
`, n.Name(), wrapper, n.NetNS(), n.Cluster().Kubeconfig(localcluster.Admin), opts.Dir)
	<-ctx.Done()
	fmt.Println("\n>> stopping the node")
	return nil
}

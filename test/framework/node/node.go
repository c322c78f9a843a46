// Package node runs a real single-node Kubernetes cluster for the suites
// that test vmevents as users deploy it: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kube-proxy, a kubelet and
// containerd with runc and the CNI bridge, all built from source by
// hack/control-plane.sh and hack/cluster-binaries.sh and cached.
//
// Everything runs inside a network and mount namespace of the node's own
// (see namespaces): the pod and Service ranges exist only there, the test
// reaches them through Dial and Kubectl, and teardown leaves the host as it
// was. Images come from archives (no registry): ImportImage.
package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmevents/vmevents/test/framework/localcluster"
	"github.com/vmevents/vmevents/test/framework/proc"
)

// Options configures a Node.
type Options struct {
	// ControlPlane is the folder with etcd, kube-apiserver and kubectl
	// (hack/control-plane.sh).
	ControlPlane string
	// Binaries is the folder hack/cluster-binaries.sh prints: the kubelet,
	// the other control-plane components, containerd and cni/.
	Binaries string
	// Dir holds everything the node writes.
	Dir string
	// Name is the node's name (default "vmevents-node").
	Name string
	// RepoRoot is the vmevents checkout, to build the sandbox image.
	RepoRoot string
	// Identities get a token and kubeconfig from the apiserver, as in
	// localcluster.
	Identities []localcluster.Identity
}

// Node is a running single-node cluster.
type Node struct {
	opts    Options
	ns      *namespaces
	host    *hostState
	cluster *localcluster.Cluster
	procs   []*proc.Process // in start order; stopped in reverse
}

// Component identities, as the apiserver's bootstrap RBAC names them.
var (
	controllerManager = localcluster.Identity{Name: "system:kube-controller-manager"}
	scheduler         = localcluster.Identity{Name: "system:kube-scheduler"}
	proxy             = localcluster.Identity{Name: "system:kube-proxy"}
)

func nodeIdentity(name string) localcluster.Identity {
	return localcluster.Identity{Name: "system:node:" + name, Groups: []string{"system:nodes"}}
}

// Start brings the node up and waits until it is Ready. On error, whatever
// started is stopped again.
func Start(ctx context.Context, opts Options) (n *Node, err error) {
	if opts.Name == "" {
		opts.Name = "vmevents-node"
	}
	for _, d := range []string{"logs", "containerd", "kubelet", "kubeconfigs"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	n = &Node{opts: opts, host: saveHostState(filepath.Base(opts.Dir))}
	defer func() {
		if err != nil {
			n.Stop()
		}
	}()
	ns, made, err := enterNamespaces(opts.Dir, NodeIP)
	n.host.madeFolders = made
	if err != nil {
		return n, err
	}
	n.ns = ns
	if err := waitFile(ctx, filepath.Join(opts.Dir, "namespaces.ready"), ns.holder); err != nil {
		return n, fmt.Errorf("setting up the node's namespaces (log: %s): %w", n.LogFile("namespaces"), err)
	}
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"control plane", n.startControlPlane},
		{"containerd", n.startContainerd},
		{"sandbox image", n.importPauseImage},
		{"kubelet", n.startKubelet},
		{"controller manager, scheduler and kube-proxy", n.startControllers},
		{"node Ready", n.waitReady},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			return n, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return n, nil
}

func (n *Node) startControlPlane(ctx context.Context) error {
	ids := append([]localcluster.Identity{nodeIdentity(n.opts.Name), controllerManager, scheduler, proxy}, n.opts.Identities...)
	c, err := localcluster.Start(ctx, localcluster.Options{
		Assets:     n.opts.ControlPlane,
		Dir:        filepath.Join(n.opts.Dir, "control-plane"),
		Identities: ids,
		Address:    NodeIP,
		Port:       APIServerPort,
		ServingIPs: []net.IP{net.ParseIP(kubernetesServiceIP)},
		APIServerArgs: []string{
			// The Node authorizer and NodeRestriction: the kubelet is a
			// real node, and pod-bound tokens carry its name.
			"--authorization-mode", "Node,RBAC",
			"--enable-admission-plugins", "NodeRestriction",
			// kubectl logs and exec: reach the kubelet at its address (the
			// node's name resolves nowhere).
			"--kubelet-preferred-address-types", "InternalIP",
		},
		Wrap: n.ns.wrap,
		Dial: n.ns.dial,
	})
	n.cluster = c
	return err
}

func (n *Node) startContainerd(ctx context.Context) error {
	dir := filepath.Join(n.opts.Dir, "containerd")
	cfg := filepath.Join(dir, "config.toml")
	if err := writeFile(cfg, containerdConfig(dir, filepath.Join(n.opts.Binaries, "cni"))); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "cni", "10-vmevents.conflist"), cniConfig()); err != nil {
		return err
	}
	// containerd finds its shim on PATH.
	path := "PATH=" + n.opts.Binaries + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if err := n.spawn("containerd", "env", path, filepath.Join(n.opts.Binaries, "containerd"), "--config", cfg); err != nil {
		return err
	}
	return poll(ctx, 30*time.Second, func() error {
		return n.ctr(ctx, "version")
	})
}

// ctr runs containerd's own client against the node's containerd, in the
// namespace the kubelet's images live in.
func (n *Node) ctr(ctx context.Context, args ...string) error {
	sock := socket(filepath.Join(n.opts.Dir, "containerd"))
	cmd := n.ns.command(ctx, filepath.Join(n.opts.Binaries, "ctr"), append([]string{"--address", sock, "--namespace", "k8s.io"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ImportImage loads an image archive (OCI layout or docker-archive, as
// hack/image writes) into the node's runtime, where the kubelet finds it
// with imagePullPolicy IfNotPresent or Never.
func (n *Node) ImportImage(ctx context.Context, archive string) error {
	abs, err := filepath.Abs(archive)
	if err != nil {
		return err
	}
	return n.ctr(ctx, "images", "import", abs)
}

// importPauseImage builds the sandbox image (test/framework/node/pause) the
// way `make image` builds the product's, and imports it.
func (n *Node) importPauseImage(ctx context.Context) error {
	bin := filepath.Join(n.opts.Dir, "pause")
	archive := filepath.Join(n.opts.Dir, "pause-image.tar")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./test/framework/node/pause")
	build.Dir, build.Env = n.opts.RepoRoot, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building pause: %w\n%s", err, out)
	}
	img := exec.CommandContext(ctx, "go", "run", "./hack/image", "-binary", bin, "-out", archive,
		"-name", PauseImage, "-path", "/pause", "-user", "65535:65535")
	img.Dir = n.opts.RepoRoot
	if out, err := img.CombinedOutput(); err != nil {
		return fmt.Errorf("building the pause image: %w\n%s", err, out)
	}
	return n.ImportImage(ctx, archive)
}

func (n *Node) startKubelet(ctx context.Context) error {
	dir := filepath.Join(n.opts.Dir, "kubelet")
	resolv := filepath.Join(dir, "resolv.conf")
	if err := writeFile(resolv, "nameserver 127.0.0.1\n"); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := makeCgroup(n.host.cgroup); err != nil {
		return err
	}
	if err := writeFile(cfg, kubeletConfig(n.cluster.PKI("ca.crt"), socket(filepath.Join(n.opts.Dir, "containerd")), resolv, "/"+n.host.cgroup)); err != nil {
		return err
	}
	return n.spawn("kubelet", filepath.Join(n.opts.Binaries, "kubelet"),
		"--config", cfg,
		"--kubeconfig", n.cluster.Kubeconfig(nodeIdentity(n.opts.Name)),
		"--hostname-override", n.opts.Name,
		"--node-ip", NodeIP,
		"--root-dir", filepath.Join(dir, "root"),
		"--cert-dir", filepath.Join(dir, "pki"),
	)
}

func (n *Node) startControllers(ctx context.Context) error {
	if err := n.spawn("kube-controller-manager", filepath.Join(n.opts.Binaries, "kube-controller-manager"),
		"--kubeconfig", n.cluster.Kubeconfig(controllerManager),
		"--root-ca-file", n.cluster.PKI("ca.crt"), // published to every namespace as kube-root-ca.crt
		"--service-account-private-key-file", n.cluster.PKI("sa.key"),
		// Each controller acts as its own service account, which the
		// bootstrap RBAC grants what it needs (the component's own user
		// may not create ReplicaSets or Pods).
		"--use-service-account-credentials",
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
	); err != nil {
		return err
	}
	if err := n.spawn("kube-scheduler", filepath.Join(n.opts.Binaries, "kube-scheduler"),
		"--kubeconfig", n.cluster.Kubeconfig(scheduler),
		"--leader-elect=false",
		"--secure-port=0",
	); err != nil {
		return err
	}
	cfg := filepath.Join(n.opts.Dir, "kube-proxy.yaml")
	if err := writeFile(cfg, kubeProxyConfig(n.cluster.Kubeconfig(proxy), n.opts.Name)); err != nil {
		return err
	}
	return n.spawn("kube-proxy", filepath.Join(n.opts.Binaries, "kube-proxy"), "--config", cfg)
}

func (n *Node) waitReady(ctx context.Context) error {
	return poll(ctx, 2*time.Minute, func() error {
		_, err := n.Kubectl(ctx, "wait", "--for=condition=Ready", "node/"+n.opts.Name, "--timeout=5s")
		return err
	})
}

// Kubectl runs kubectl as the cluster admin, inside the node's network.
func (n *Node) Kubectl(ctx context.Context, args ...string) (string, error) {
	return n.KubectlAs(ctx, localcluster.Admin, "", args...)
}

// KubectlAs runs kubectl as id (given at Start), with stdin.
func (n *Node) KubectlAs(ctx context.Context, id localcluster.Identity, stdin string, args ...string) (string, error) {
	cmd := n.ns.command(ctx, n.cluster.Kubectl(), append([]string{"--kubeconfig", n.cluster.Kubeconfig(id)}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Dial connects from inside the node's network: to a pod's IP, a Service,
// or the apiserver at NodeIP.
func (n *Node) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return n.ns.dial(ctx, network, addr)
}

// Cluster is the node's control plane: tokens, kubeconfigs and keys.
func (n *Node) Cluster() *localcluster.Cluster { return n.cluster }

// Name is the node's name.
func (n *Node) Name() string { return n.opts.Name }

// LogFile is the path of a component's log ("kubelet", "containerd"...).
func (n *Node) LogFile(component string) string {
	return filepath.Join(n.opts.Dir, "logs", component+".log")
}

func (n *Node) spawn(name, bin string, args ...string) error {
	_, err := n.Run(name, bin, args...)
	return err
}

// Run starts bin with args inside the node's namespaces, as the node's own
// components run: it reaches pod IPs and the apiserver at NodeIP, and the
// test reaches it through Dial. Its output goes to LogFile(name). Stop
// stops it with the node's components; the caller may stop it earlier.
func (n *Node) Run(name, bin string, args ...string) (*proc.Process, error) {
	b, a := n.ns.wrap(bin, args)
	p, err := proc.Start(name, n.LogFile(name), b, a...)
	if err != nil {
		return nil, err
	}
	n.procs = append(n.procs, p)
	return p, nil
}

// Stop stops every component, the containers and the namespaces, and puts
// the host back as it was. Safe to call on a node that failed to start.
func (n *Node) Stop() {
	for i := len(n.procs) - 1; i >= 0; i-- {
		n.procs[i].Stop(10 * time.Second)
	}
	// containerd's shims outlive it by design; the node's are the ones
	// that name its socket.
	killMatching(socket(filepath.Join(n.opts.Dir, "containerd")))
	killCgroup(n.host.cgroup)
	if n.cluster != nil {
		n.cluster.Stop()
	}
	if n.ns != nil {
		n.ns.holder.Kill()
	}
	n.host.restore()
}

func waitFile(ctx context.Context, path string, p *proc.Process) error {
	return poll(ctx, 30*time.Second, func() error {
		select {
		case <-p.Done():
			return errors.Join(errStopped, p.Err())
		default:
		}
		_, err := os.Stat(path)
		return err
	})
}

var errStopped = errors.New("process ended")

// poll calls fn until it succeeds, fn fails with errStopped, or timeout.
func poll(ctx context.Context, timeout time.Duration, fn func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := fn()
		if err == nil || errors.Is(err, errStopped) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %w", timeout, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// NetNS is the path of the node's network namespace, for
// `nsenter --net=PATH` (the kubectl wrapper `make cluster` writes uses it).
func (n *Node) NetNS() string { return n.ns.netPath }

// Bind makes the folder src appear at dst for the node's processes and pods
// only (a bind mount in the node's mount namespace): a peer the test runs
// privately, such as an LXD with its own LXD_DIR, is found by a pod's
// hostPath at the path the manifests name, while the host's own dst is left
// alone. dst is created if missing, and removed on Stop.
func (n *Node) Bind(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(dst); os.IsNotExist(err) {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		n.host.madeFolders = append(n.host.madeFolders, dst)
	}
	cmd := exec.CommandContext(ctx, "nsenter", "-t", fmt.Sprint(n.ns.holder.Pid()), "--mount", "--", "mount", "--bind", src, dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("binding %s at %s in the node: %w\n%s", src, dst, err, out)
	}
	return nil
}

// Package stack runs the whole vmevents system on one machine, as users see
// it: a real control plane with token authentication and RBAC
// (test/framework/localcluster), vmevents installed from config/default through the
// real kubectl, and the controller and the agent as local processes under the
// same service-account identities and RBAC they have in a cluster. `make
// demo` and the end-to-end suite (test/e2e) are both built on it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vmevents/vmevents/test/framework/localcluster"
	"github.com/vmevents/vmevents/test/framework/proc"
)

// Options configures a Stack.
type Options struct {
	// Assets holds etcd, kube-apiserver and kubectl (hack/control-plane.sh).
	Assets string
	// Kustomize is the kustomize binary.
	Kustomize string
	// Binary is the vmevents binary (make build).
	Binary string
	// Repo is the repository root (for config/).
	Repo string
	// Dir holds all state; it is created.
	Dir string
	// Node is the node name the agent reports as.
	Node string
	// AgentArgs are extra agent flags.
	AgentArgs []string
	// ControllerArgs are extra controller flags.
	ControllerArgs []string
}

// Stack is a running system.
type Stack struct {
	Options
	Cluster *localcluster.Cluster
	// SocketRoot is the folder the agent trusts QMP sockets under.
	SocketRoot string

	// controllers are the controller replicas running, oldest first.
	controllers []controllerReplica
	// pods counts the controller pods started, to name the next one;
	// lastPod is the pod of the replica that exited last.
	pods    int
	lastPod string
	agent   *proc.Process
	// nodeAgents are the agents StartAgentOn started, on nodes of their own.
	nodeAgents []*NodeAgent
	// agentKubeconfig holds the agent's pod-bound token, which names its
	// node as a kubelet-mounted token does (the admission policy in
	// config/policy reads it).
	agentKubeconfig string
}

// Up starts the control plane and installs vmevents into it. It does not
// start the controller or the agent: see StartController and StartAgent.
func Up(ctx context.Context, opts Options) (*Stack, error) {
	s := &Stack{Options: opts, SocketRoot: filepath.Join(opts.Dir, "sockets")}
	for _, d := range []string{opts.Dir, s.SocketRoot, s.logDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	c, err := localcluster.Start(ctx, localcluster.Options{
		Assets: opts.Assets, Dir: filepath.Join(opts.Dir, "cluster"),
		Identities: []localcluster.Identity{localcluster.Controller, localcluster.Agent},
	})
	if err != nil {
		return nil, err
	}
	s.Cluster = c
	if err := s.install(); err != nil {
		s.Down()
		return nil, err
	}
	s.agentKubeconfig, err = c.PodKubeconfig(ctx, localcluster.PodIdentity{Namespace: "vmevents-system", ServiceAccount: "vmevents-agent", Node: opts.Node})
	if err != nil {
		s.Down()
		return nil, err
	}
	return s, nil
}

// install applies `kustomize build config/default` through the real kubectl.
func (s *Stack) install() error {
	cmd := exec.Command(s.Kustomize, "build", filepath.Join(s.Repo, "config", "default"))
	manifests, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("kustomize build config/default: %w", err)
	}
	if out, err := s.KubectlIn(string(manifests), "apply", "-f", "-"); err != nil {
		return fmt.Errorf("installing vmevents: %w\n%s", err, out)
	}
	if out, err := s.Kubectl("wait", "--for=condition=Established", "crd/virtualmachines.vmevents.dev", "--timeout=60s"); err != nil {
		return fmt.Errorf("waiting for the CRD: %w\n%s", err, out)
	}
	return nil
}

// Kubeconfig is the admin kubeconfig.
func (s *Stack) Kubeconfig() string { return s.Cluster.Kubeconfig(localcluster.Admin) }

// Kubectl runs the real kubectl as the admin and returns its combined output.
func (s *Stack) Kubectl(args ...string) (string, error) { return s.KubectlIn("", args...) }

// KubectlIn runs kubectl as the admin with stdin.
func (s *Stack) KubectlIn(stdin string, args ...string) (string, error) {
	return s.KubectlAs(localcluster.Admin, stdin, args...)
}

// KubectlAs runs kubectl as one of the stack's identities.
func (s *Stack) KubectlAs(id localcluster.Identity, stdin string, args ...string) (string, error) {
	cmd := exec.Command(s.Cluster.Kubectl(), append([]string{"--kubeconfig", s.Cluster.Kubeconfig(id)}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *Stack) logDir() string { return filepath.Join(s.Dir, "logs") }

// LogFile is the log of "controller" or "agent".
func (s *Stack) LogFile(component string) string {
	return filepath.Join(s.logDir(), component+".log")
}

// controllerReplica is a running controller and the pod it plays.
type controllerReplica struct {
	p   *proc.Process
	pod string
}

// StartController starts a replica of `vmevents controller` as its service
// account, in a pod of its own ($POD_NAME, as its Deployment gives it).
// The first one started leads; one started while another runs waits for
// the leader Lease (a standby), and leads once the replicas started before
// it are stopped. All write to LogFile("controller").
func (s *Stack) StartController() error {
	s.pods++
	return s.startController(fmt.Sprintf("vmevents-controller-%d", s.pods))
}

func (s *Stack) startController(pod string) error {
	args := append([]string{"controller",
		"--kubeconfig", s.Cluster.Kubeconfig(localcluster.Controller),
		"--leader-elect", "--leader-election-namespace", "vmevents-controller",
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0",
	}, s.ControllerArgs...)
	p, err := proc.StartEnv("controller", s.LogFile("controller"), []string{"POD_NAME=" + pod}, s.Binary, args...)
	if err == nil {
		s.controllers = append(s.controllers, controllerReplica{p: p, pod: pod})
	}
	return err
}

// StartAgent starts `vmevents agent` as its service account, with the token
// a pod of the agent on the stack's node holds.
func (s *Stack) StartAgent() error {
	args := append(agentArgs(s.agentKubeconfig, s.Node, s.SocketRoot, s.SpoolDir()), s.AgentArgs...)
	p, err := proc.Start("agent", s.LogFile("agent"), s.Binary, args...)
	s.agent = p
	return err
}

// agentArgs are `vmevents agent`'s arguments for a node, as its DaemonSet
// pod on that node would run it.
func agentArgs(kubeconfig, node, socketRoot, spool string) []string {
	return []string{"agent",
		"--kubeconfig", kubeconfig,
		"--node-name", node, "--namespace", "vmevents-system",
		"--socket-root", socketRoot,
		"--spool-dir", spool,
		"--audit-log=", // no libvirt here: the host's audit log is not the stack's
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0",
	}
}

// SpoolDir is where the agent keeps what the apiserver has not accepted yet.
func (s *Stack) SpoolDir() string { return filepath.Join(s.Dir, "spool") }

// EnsureController starts a controller replica unless one runs, as the
// kubelet restarts the container of its pod after it exited (a controller
// exits when it loses its leader Lease, for example while the apiserver
// is down): in the pod of the replica that exited last.
func (s *Stack) EnsureController() error {
	running := s.controllers[:0]
	for _, r := range s.controllers {
		select {
		case <-r.p.Done():
			s.lastPod = r.pod
		default:
			running = append(running, r)
		}
	}
	s.controllers = running
	if len(running) > 0 {
		return nil
	}
	if s.lastPod == "" {
		return s.StartController()
	}
	return s.startController(s.lastPod)
}

// StopController stops the oldest controller replica gracefully: the
// leader, when replicas were started one after the other.
func (s *Stack) StopController() {
	if len(s.controllers) == 0 {
		return
	}
	s.controllers[0].p.Stop(15 * time.Second)
	s.controllers = s.controllers[1:]
}

// StopAgent stops the agent gracefully.
func (s *Stack) StopAgent() { s.agent.Stop(15 * time.Second); s.agent = nil }

// SignalAgent sends sig to the agent: SIGSTOP freezes it where it is (it
// reads and writes nothing until SIGCONT), to hold it between two steps.
func (s *Stack) SignalAgent(sig syscall.Signal) error {
	if s.agent == nil {
		return errors.New("the agent is not running")
	}
	return syscall.Kill(s.agent.Pid(), sig)
}

// KillAgent kills the agent with SIGKILL, as a crash would.
func (s *Stack) KillAgent() { s.agent.Kill(); s.agent = nil }

// Down stops every process the stack started.
func (s *Stack) Down() {
	s.agent.Stop(15 * time.Second)
	s.StopNodeAgents()
	for len(s.controllers) > 0 {
		s.StopController()
	}
	if s.Cluster != nil {
		s.Cluster.Stop()
	}
}

// Build compiles the vmevents binary of the repository at repo into dir and
// returns its path: suites run the binary users run, static and built as
// the Dockerfile and `make build` build it (the image has no C library).
func Build(repo, dir string) (string, error) {
	binary := filepath.Join(dir, "vmevents")
	build := exec.Command("go", "build", "-trimpath", "-o", binary, ".")
	build.Dir, build.Env = repo, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return binary, nil
}

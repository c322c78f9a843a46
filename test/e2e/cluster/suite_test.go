// Package cluster tests vmevents as users deploy it: the image built by
// hack/image, imported into a real node's containerd, and config/default
// applied unchanged with kubectl, so the DaemonSet and the Deployment run as
// pods on a real kubelet (test/framework/node). Real QEMU VMs run on the
// host with their QMP sockets where the DaemonSet's hostPath mounts them;
// every assertion goes through kubectl or the pods' own ports.
package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmevents/vmevents/test/framework/localcluster"
	"github.com/vmevents/vmevents/test/framework/node"
	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/stack"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real node (make test-cluster)")
	}
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(500 * time.Millisecond)
	RunSpecs(t, "Real cluster")
}

// The host folders config/manager's DaemonSet mounts.
const (
	socketRoot = "/var/run/vmevents"
	spoolDir   = "/var/lib/vmevents"
)

var (
	kube      *node.Node
	work      string
	repo      = testenv.RepoRoot()
	kustomize = os.Getenv("KUSTOMIZE")
)

var _ = BeforeSuite(func() {
	if os.Geteuid() != 0 {
		Fail("the real-cluster suite runs a kubelet and containerd, which need root")
	}
	assets, err := testenv.Assets()
	Expect(err).NotTo(HaveOccurred())
	binaries := os.Getenv("VMEVENTS_NODE_BINARIES")
	Expect(binaries).NotTo(BeEmpty(), "VMEVENTS_NODE_BINARIES must name the folder hack/cluster-binaries.sh prints (make test sets it)")
	Expect(kustomize).NotTo(BeEmpty(), "KUSTOMIZE must name the kustomize binary (make test sets it)")
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		Fail("qemu-system-x86_64 not found; install it with: " + qemuvm.InstallHint)
	}

	work, err = os.MkdirTemp("", "vmevents-cluster")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		if failed {
			fmt.Fprintf(GinkgoWriter, "\nkept the node's logs and state for a look: %s\n", work)
			return
		}
		os.RemoveAll(work)
	})
	// The host folders the pods mount are the host's: remove what the suite
	// made, keep what was there.
	for _, d := range []string{socketRoot, spoolDir} {
		if _, err := os.Stat(d); os.IsNotExist(err) {
			DeferCleanup(os.RemoveAll, d)
		}
	}

	By("building the binary and its image, as make image does")
	binary, err := stack.Build(repo, work)
	Expect(err).NotTo(HaveOccurred())
	archive := filepath.Join(work, "vmevents-image.tar")
	img := exec.Command("go", "run", "./hack/image", "-binary", binary, "-out", archive)
	img.Dir = repo
	out, err := img.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))

	By("starting a real node: kubelet, containerd, control plane")
	kube, err = node.Start(context.Background(), node.Options{
		ControlPlane: assets, Binaries: binaries, Dir: filepath.Join(work, "node"), RepoRoot: repo,
	})
	if kube != nil {
		DeferCleanup(kube.Stop)
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				failed = true
				diagnose()
			}
		})
	}
	Expect(err).NotTo(HaveOccurred())
	Expect(kube.ImportImage(context.Background(), archive)).To(Succeed())

	By("installing config/default, unchanged, with kubectl")
	install("config/default")
	kubectl("rollout", "status", "-n", "vmevents-system", "daemonset/vmevents-agent", "--timeout=120s")
	kubectl("rollout", "status", "-n", "vmevents-controller", "deployment/vmevents-controller", "--timeout=120s")
})

// On a failure, show what a person would look at.
var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() && kube != nil {
		failed = true
		diagnose()
	}
})

// failed keeps the work folder (the node's logs) for a person to read.
var failed bool

func diagnose() {
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
		{"logs", "-n", "vmevents-system", "daemonset/vmevents-agent", "--tail=60"},
		{"logs", "-n", "vmevents-controller", "deployment/vmevents-controller", "--tail=60"},
	} {
		out, _ := kube.Kubectl(context.Background(), args...)
		fmt.Fprintf(GinkgoWriter, "\n$ kubectl %s\n%s", strings.Join(args, " "), out)
	}
}

// install applies a kustomization of the repository through kustomize and
// kubectl, as the README tells users to.
func install(dir string) {
	GinkgoHelper()
	apply(filepath.Join(repo, dir))
}

// apply builds a kustomization with kustomize and applies it with kubectl.
func apply(dir string) {
	GinkgoHelper()
	manifests, err := exec.Command(kustomize, "build", dir).Output()
	Expect(err).NotTo(HaveOccurred(), "kustomize build %s", dir)
	_, err = kube.KubectlAs(context.Background(), admin, string(manifests), "apply", "-f", "-")
	Expect(err).NotTo(HaveOccurred())
}

// kubectl runs kubectl as the admin and fails the spec if it fails.
func kubectl(args ...string) string {
	GinkgoHelper()
	out, err := kube.Kubectl(context.Background(), args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// kubectlFn is kubectl for Eventually: the output, or the error.
func kubectlFn(args ...string) func() (string, error) {
	return func() (string, error) {
		out, err := kube.Kubectl(context.Background(), args...)
		return strings.TrimSpace(out), err
	}
}

// jsonpath reads one field of an object.
func jsonpath(kind, name, path string, extra ...string) func() (string, error) {
	return kubectlFn(append([]string{"get", kind, name, "-o", "jsonpath=" + path}, extra...)...)
}

func agentNS(args ...string) []string { return append(args, "-n", "vmevents-system") }

// controllerNS puts a kubectl command in the controller's namespace.
func controllerNS(args ...string) []string { return append(args, "-n", "vmevents-controller") }

// vmeventsPods is `kubectl get pods` of both components, across their two
// namespaces.
func vmeventsPods(args ...string) []string {
	return append([]string{"get", "pods", "-A", "-l", "app.kubernetes.io/name=vmevents"}, args...)
}

var admin = localcluster.Admin

// installWith applies config/default with kustomize components
// (config/components/NAME), through an overlay of the user's kind: a
// kustomization naming them, as docs/kind.md shows.
func installWith(components ...string) {
	GinkgoHelper()
	dir, err := os.MkdirTemp(work, "overlay")
	Expect(err).NotTo(HaveOccurred())
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(repo, p))
		Expect(err).NotTo(HaveOccurred())
		return r
	}
	k := "resources:\n- " + rel("config/default") + "\ncomponents:\n"
	for _, c := range components {
		k += "- " + rel(filepath.Join("config", "components", c)) + "\n"
	}
	Expect(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600)).To(Succeed())
	apply(dir)
	kubectl(agentNS("rollout", "status", "daemonset/vmevents-agent", "--timeout=120s")...)
}

// Package e2e runs the whole system as users run it and asserts through the
// real kubectl's output: a control plane with token authentication and RBAC,
// vmevents installed from config/default, the controller and the agent as
// processes under their service-account identities, and real QEMU VMs.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/stack"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system (make test-e2e)")
	}
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	RunSpecs(t, "End to end")
}

var (
	sys       *stack.Stack
	scenarios []stack.Scenario
	vms       = map[string]*qemuvm.VM{}
)

var _ = BeforeSuite(func() {
	assets, err := testenv.Assets()
	Expect(err).NotTo(HaveOccurred())
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		Fail("qemu-system-x86_64 not found; install it with: " + qemuvm.InstallHint)
	}
	kustomize := os.Getenv("KUSTOMIZE")
	Expect(kustomize).NotTo(BeEmpty(), "KUSTOMIZE must name the kustomize binary (make test-e2e sets it)")

	repo := testenv.RepoRoot()
	dir, err := os.MkdirTemp("", "vmevents-e2e")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	binary, err := stack.Build(repo, dir)
	Expect(err).NotTo(HaveOccurred())

	sys, err = stack.Up(context.Background(), stack.Options{
		Assets: assets, Kustomize: kustomize, Binary: binary, Repo: repo, Dir: dir, Node: "e2e-node",
		ControllerArgs: []string{"--agent-lease-grace", "5s"},
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(sys.Down)
	Expect(sys.StartController()).To(Succeed())
	Expect(sys.StartAgent()).To(Succeed())

	scenarios, err = stack.Scenarios(dir)
	Expect(err).NotTo(HaveOccurred())
	for i := range scenarios {
		vm, err := sys.Boot(context.Background(), &scenarios[i])
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(vm.Kill)
		vms[scenarios[i].Name] = vm
	}
})

// On a failure, show what a person would look at: the components' logs and
// the Events.
var _ = ReportAfterEach(func(r SpecReport) {
	if !r.Failed() || sys == nil {
		return
	}
	for _, c := range []string{"agent", "controller"} {
		data, _ := os.ReadFile(sys.LogFile(c))
		if len(data) > 20000 {
			data = data[len(data)-20000:]
		}
		fmt.Fprintf(GinkgoWriter, "\n----- %s log (tail) -----\n%s\n", c, data)
	}
	out, _ := sys.Kubectl("get", "events", "-A", "--sort-by=.metadata.creationTimestamp")
	fmt.Fprintf(GinkgoWriter, "\n----- kubectl get events -A -----\n%s\n", out)
	out, _ = sys.Kubectl("get", "vm", "-o", "yaml")
	fmt.Fprintf(GinkgoWriter, "\n----- kubectl get vm -o yaml -----\n%s\n", out)
})

// kubectl runs the real kubectl as the admin; it fails the spec on error.
func kubectl(args ...string) string {
	GinkgoHelper()
	out, err := sys.Kubectl(args...)
	Expect(err).NotTo(HaveOccurred(), "kubectl %v:\n%s", args, out)
	return out
}

// kubectlFn is kubectl for Eventually.
func kubectlFn(args ...string) func() (string, error) {
	return func() (string, error) { return sys.Kubectl(args...) }
}

// scenario returns the named scenario.
func scenario(name string) stack.Scenario {
	GinkgoHelper()
	for _, sc := range scenarios {
		if sc.Name == name {
			return sc
		}
	}
	Fail("no scenario " + name)
	return stack.Scenario{}
}

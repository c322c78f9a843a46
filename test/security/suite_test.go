// Package security tests the trust boundaries as the apiserver enforces
// them, with the shipped manifests (config/default) installed into a real
// control plane with token authentication and RBAC, and the agent's real
// credentials: the token a pod of the agent on a node is given.
package security

import (
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmevents/vmevents/internal/scheme"
	"github.com/vmevents/vmevents/test/framework/localcluster"
	"github.com/vmevents/vmevents/test/framework/stack"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

func TestSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane (make test)")
	}
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "Trust boundaries")
}

var (
	ctx   = context.Background()
	sys   *stack.Stack
	admin client.Client
)

var _ = BeforeSuite(func() {
	assets, err := testenv.Assets()
	Expect(err).NotTo(HaveOccurred())
	kustomize := os.Getenv("KUSTOMIZE")
	Expect(kustomize).NotTo(BeEmpty(), "KUSTOMIZE must name the kustomize binary (make test sets it)")
	dir, err := os.MkdirTemp("", "vmevents-security")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	// No controller, no agent: the tests are the agent, with its token.
	sys, err = stack.Up(ctx, stack.Options{Assets: assets, Kustomize: kustomize, Repo: testenv.RepoRoot(), Dir: dir, Node: "node-a"})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(sys.Down)
	admin = clientFor(sys.Kubeconfig())
})

// clientFor is a client with a kubeconfig's credentials.
func clientFor(kubeconfig string) client.Client {
	GinkgoHelper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// agentOn is the agent's client as a pod of the agent on node holds it.
func agentOn(node string) client.Client {
	GinkgoHelper()
	kubeconfig, err := sys.Cluster.PodKubeconfig(ctx, localcluster.PodIdentity{Namespace: "vmevents-system", ServiceAccount: "vmevents-agent", Node: node})
	Expect(err).NotTo(HaveOccurred())
	return clientFor(kubeconfig)
}

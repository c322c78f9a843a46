package qmpagent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vmevents/vmevents/internal/scheme"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/qmpsource"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// The agent suite runs the real agent against a real kube-apiserver, with
// QMP peers that speak the exact wire protocol: real QEMU where it can
// produce the behaviour, the qmptest server for what it cannot (storms).
func TestAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane (make test)")
	}
	suiteT = t
	RegisterFailHandler(Fail)
	// Generous: a 2-core CI machine may be busy; Eventually returns as soon
	// as the condition holds, so this costs nothing when things are fast.
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Node agent")
}

const node = "node-1"

var (
	suiteT *testing.T
	env    *testenv.Env
	ctx    context.Context
	// stopAgent stops the running agent and waits for it; tests that
	// restart the agent replace it.
	stopAgent func()
)

// discoverGlob is what the suite's agent discovers: sockets named
// discover-*.qmp in a folder of the temp dir, so no other test's QEMU is
// discovered behind its back.
var discoverGlob = filepath.Join(os.TempDir(), "*", "discover-*.qmp")

// spoolDir is the suite's agent spool; restarted agents take it up.
var spoolDir = filepath.Join(os.TempDir(), fmt.Sprintf("vmevents-agent-spool-%d", os.Getpid()))

// startAgent starts the suite's agent for its node, as `vmevents agent`
// does, and returns the function that stops it.
func startAgent() func() {
	return runAgent(qmpagent.Config{NodeName: node, SpoolDir: spoolDir}, func(p source.Publisher) (source.Source, error) {
		return qmpsource.New(p, qmpsource.Config{
			SocketRoots: []string{os.TempDir()},
			// The suite's QEMUs put their sockets in private folders of the
			// temp dir, not in a namespace's folder: its specs are not
			// about tenancy, which tenancy_test.go tests with an agent of
			// its own in the default (namespace) tenancy.
			Tenancy:           source.Tenancy{Shared: true},
			MinBackoff:        50 * time.Millisecond,
			MaxBackoff:        time.Second,
			DiscoverGlob:      discoverGlob,
			DiscoverNamespace: "default",
			DiscoverInterval:  200 * time.Millisecond,
			DiscoverGoneGrace: 3 * time.Second,
		}), nil
	})
}

// sourceFor builds one of a test agent's sources, with the agent as its
// Publisher.
type sourceFor func(p source.Publisher) (source.Source, error)

// runAgent starts an agent with cfg (plus the suite's lease namespace) and
// sources in a manager of its own and returns the function that stops it.
func runAgent(cfg qmpagent.Config, sources ...sourceFor) func() {
	return runAgentWith(cfg, nil, sources...)
}

// runAgentWith is runAgent with the agent's API client made by newClient
// (the manager's default when nil), for specs that count its writes.
func runAgentWith(cfg qmpagent.Config, newClient client.NewClientFunc, sources ...sourceFor) func() {
	cacheOpts, clientOpts := qmpagent.CacheOptions(cfg.NodeName)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		NewClient:              newClient,
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cacheOpts,
		Client:                 clientOpts,
		// Agents are started more than once in one process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	cfg.Namespace = "vmevents-system"
	agent, err := qmpagent.New(mgr, cfg)
	Expect(err).NotTo(HaveOccurred())
	for _, build := range sources {
		s, err := build(agent)
		Expect(err).NotTo(HaveOccurred())
		Expect(agent.Add(s)).To(Succeed())
	}
	return startManager(mgr)
}

// startManager starts mgr and returns the function that stops it and waits
// until it has stopped.
func startManager(mgr manager.Manager) func() {
	mctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	return func() { cancel(); <-done }
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })

	Expect(env.Client.Create(context.Background(), namespace("vmevents-system"))).To(Succeed())

	ctx = context.Background()
	DeferCleanup(os.RemoveAll, spoolDir)
	stopAgent = startAgent()
	DeferCleanup(func() { stopAgent() })
})

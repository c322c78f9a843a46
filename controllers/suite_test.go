package controllers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vmevents/vmevents/controllers"
	"github.com/vmevents/vmevents/internal/heartbeat"
	"github.com/vmevents/vmevents/internal/scheme"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// The controller suite runs the real controller in a manager against a real
// kube-apiserver; the tests play the agent: they write facts with
// server-side apply under the agent's field manager and renew Leases.
func TestControllers(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane (make test)")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "vmevents controller")
}

const (
	ns      = "default"
	agentNS = heartbeat.DefaultNamespace
	// leaseGrace and ioErrorWindow are short so the tests do not wait long.
	leaseGrace    = time.Second
	ioErrorWindow = 5 * time.Second
	// nodeA has a Lease that never goes stale during the suite.
	nodeA = "node-a"
)

var (
	env *testenv.Env
	ctx = context.Background()
	// stopController stops the running controller and waits for it.
	stopController func()
)

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)

	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })

	Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: agentNS}})).To(Succeed())
	renewLease(nodeA, time.Now(), 3600)

	stopController = startController("controller-1", nil)
	DeferCleanup(func() { stopController() })
})

// startController starts a manager running the controller as `vmevents
// controller` would, and returns a function that stops it and waits until
// it has stopped. When wrap is not nil, the controller's client is
// wrap(the manager's client), to watch what it sends.
func startController(instance string, wrap func(client.Client) client.Client) func() {
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 scheme.New(),
		Cache:                  controllers.CacheOptions(agentNS),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// A restarted controller registers the same name in this process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	mgrCtx, cancel := context.WithCancel(ctx)
	r := &controllers.VirtualMachineReconciler{
		AgentNamespace:    agentNS,
		LeaseGrace:        leaseGrace,
		IOErrorWindow:     ioErrorWindow,
		ReportingInstance: instance,
	}
	if wrap != nil {
		r.Client = wrap(mgr.GetClient())
	}
	Expect(r.SetupWithManager(mgrCtx, mgr, controller.Options{MaxConcurrentReconciles: 4})).To(Succeed())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	return func() {
		cancel()
		Eventually(done).Should(BeClosed())
	}
}

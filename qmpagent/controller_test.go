package qmpagent_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/controllers"
	"github.com/vmevents/vmevents/internal/scheme"
)

// startControllerFor runs the controller beside the agent, as a cluster
// does, for specs that assert what users wait on: conditions. It sees only
// the VMs of node, so the other specs' VMs get no conditions or Events of
// its making. It returns the function that stops it.
func startControllerFor(node string) func() {
	GinkgoHelper()
	opts := controllers.CacheOptions("vmevents-system")
	opts.ByObject[&vmv1.VirtualMachine{}] = cache.ByObject{Field: fields.OneTermEqualSelector("spec.nodeName", node)}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 scheme.New(),
		Cache:                  opts,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	r := &controllers.VirtualMachineReconciler{AgentNamespace: "vmevents-system", ReportingInstance: "controller-" + node}
	Expect(r.SetupWithManager(context.Background(), mgr, controller.Options{})).To(Succeed())
	return startManager(mgr)
}

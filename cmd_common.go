package main

import (
	"context"
	"flag"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// commonFlags are the flags every long-running subcommand has. A subcommand
// may preset qps and burst before bind to give them its own defaults.
type commonFlags struct {
	kubeconfig    string
	metricsAddr   string
	metricsSecure bool
	probeAddr     string
	pprofAddr     string
	qps           float64
	burst         int
	zap           zap.Options
}

func (c *commonFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "path to a kubeconfig; default: in-cluster config, then $KUBECONFIG, then ~/.kube/config")
	fs.StringVar(&c.metricsAddr, "metrics-bind-address", ":8443", "address the Prometheus /metrics endpoint listens on; 0 turns it off")
	fs.BoolVar(&c.metricsSecure, "metrics-secure", true, "serve /metrics over HTTPS to callers the apiserver authenticates (TokenReview) and authorizes (SubjectAccessReview: get on the non-resource URL /metrics, as the vmevents-metrics-reader ClusterRole grants); false serves plain HTTP to anyone who can reach the port")
	fs.StringVar(&c.probeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probes listen on; 0 turns them off")
	fs.StringVar(&c.pprofAddr, "pprof-bind-address", "0", "address for Go's /debug/pprof profiles, for diagnosis (e.g. 127.0.0.1:6060); 0, the default, turns it off")
	fs.Float64Var(&c.qps, "kube-api-qps", orDefault(c.qps, 50), "steady queries per second to the Kubernetes API (client side; the apiserver's priority and fairness protects it too)")
	fs.IntVar(&c.burst, "kube-api-burst", orDefault(c.burst, 100), "burst of queries to the Kubernetes API")
	c.zap.Development = false
	c.zap.TimeEncoder = nil
	c.zap.BindFlags(fs)
}

// metricsOptions is the metrics server the flags describe. Secure, it
// serves HTTPS with a certificate it makes itself (scrapers skip its
// verification or use the pod's service CA) and asks the apiserver who the
// caller is and whether it may read /metrics, so the node's and the VMs'
// facts in the metrics are not open to whoever reaches the pod.
func (c *commonFlags) metricsOptions() metricsserver.Options {
	opts := metricsserver.Options{BindAddress: c.metricsAddr}
	if c.metricsSecure {
		opts.SecureServing = true
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
}

// restConfig loads the cluster connection the flags point at.
func (c *commonFlags) restConfig() (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if c.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	} else {
		cfg, err = ctrl.GetConfig()
	}
	if err != nil {
		return nil, err
	}
	cfg.QPS = float32(c.qps)
	cfg.Burst = c.burst
	cfg.Timeout = 30 * time.Second
	return cfg, nil
}

// waitForAPIServer returns once the apiserver answers and serves the
// VirtualMachine API, retrying with a capped backoff: a component started
// during an apiserver outage (an agent restarted on a node while the
// control plane is down) waits for it instead of exiting, and then takes up
// what its spool kept. A starting apiserver answers /version before it
// serves custom resources; the manager cannot be built until it does.
func waitForAPIServer(ctx context.Context, cfg *rest.Config) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	log := ctrl.Log.WithName("startup")
	delay := 500 * time.Millisecond
	for {
		what := "the Kubernetes API"
		_, err := dc.ServerVersion()
		if err == nil {
			what = vmv1.GroupVersion.String() + " (is the VirtualMachine CRD installed? kubectl apply -k config/crd)"
			_, err = dc.ServerResourcesForGroupVersion(vmv1.GroupVersion.String())
		}
		if err == nil {
			return nil
		}
		log.Info("waiting for "+what, "server", cfg.Host, "error", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// setupLogging installs the zap logger the flags describe as controller-runtime's logger.
func (c *commonFlags) setupLogging() {
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&c.zap)))
}

// orDefault is v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

package main

import (
	"flag"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// commonFlags are the flags every long-running subcommand has.
type commonFlags struct {
	kubeconfig  string
	metricsAddr string
	probeAddr   string
	qps         float64
	burst       int
	zap         zap.Options
}

func (c *commonFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "path to a kubeconfig; default: in-cluster config, then $KUBECONFIG, then ~/.kube/config")
	fs.StringVar(&c.metricsAddr, "metrics-bind-address", ":8080", "address the Prometheus /metrics endpoint listens on; 0 turns it off")
	fs.StringVar(&c.probeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probes listen on; 0 turns them off")
	fs.Float64Var(&c.qps, "kube-api-qps", 50, "steady queries per second to the Kubernetes API")
	fs.IntVar(&c.burst, "kube-api-burst", 100, "burst of queries to the Kubernetes API")
	c.zap.Development = false
	c.zap.TimeEncoder = nil
	c.zap.BindFlags(fs)
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

// setupLogging installs the zap logger the flags describe as controller-runtime's logger.
func (c *commonFlags) setupLogging() {
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&c.zap)))
}

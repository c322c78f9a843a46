package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/vmevents/vmevents/controllers"
	"github.com/vmevents/vmevents/internal/heartbeat"
	"github.com/vmevents/vmevents/internal/scheme"
)

// controllerNamespace is where config/default installs the controller and
// its leader election Lease: a namespace of its own, apart from the agents'
// (vmevents-system), so that it can be held to PodSecurity's restricted
// level, which the agent's host folders and root would not pass.
const controllerNamespace = "vmevents-controller"

func runController(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vmevents controller", flag.ContinueOnError)
	// The controller's own client defaults, preset before bind: the agent
	// writes for its node's VMs, the controller for every VM in the
	// cluster. A new controller (or an agent's Lease lapsing on a big node)
	// owes one status apply per VM, over three minutes for 10,000 VMs at
	// 50/s. The API server's priority and fairness, not this
	// client-side limiter, is what protects the server.
	common := commonFlags{qps: 200, burst: 400}
	common.bind(fs)
	leaderElect := fs.Bool("leader-elect", true, "elect a leader so only one replica acts at a time")
	leaderNS := fs.String("leader-election-namespace", envOr("POD_NAMESPACE", controllerNamespace), "namespace of the leader election Lease (default $POD_NAMESPACE, else "+controllerNamespace+")")
	agentNS := fs.String("agent-namespace", heartbeat.DefaultNamespace, "namespace of the agents' heartbeat Leases")
	leaseGrace := fs.Duration("agent-lease-grace", controllers.DefaultLeaseGrace, "how long past its duration an agent Lease may go unrenewed before MonitorConnected turns Unknown (AgentNotReporting); absorbs clock skew")
	ioWindow := fs.Duration("io-error-window", controllers.DefaultIOErrorWindow, "how long a block I/O error keeps IOError True on a VM that keeps running")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vmevents controller [flags]\n\nTurns the facts the node agents report into VirtualMachine conditions\n(Ready, MonitorConnected, Paused, GuestPanicked, WatchdogExpired, IOError)\nand records every condition flip as an Event.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *leaseGrace < 0 || *ioWindow <= 0 {
		fmt.Fprintln(stderr, "--agent-lease-grace must not be negative and --io-error-window must be positive")
		return errUsage
	}
	common.setupLogging()
	cfg, err := common.restConfig()
	if err != nil {
		return fmt.Errorf("loading the cluster connection: %w", err)
	}
	// The Events name the replica that wrote them; in a pod the hostname
	// is the pod name.
	instance := os.Getenv("POD_NAME")
	if instance == "" {
		if instance, err = os.Hostname(); err != nil {
			return fmt.Errorf("naming this replica: %w", err)
		}
	}
	ctx := ctrl.SetupSignalHandler()
	if err := waitForAPIServer(ctx, cfg); err != nil {
		return err
	}
	gracePeriod := 10 * time.Second
	var lock resourcelock.Interface
	if *leaderElect {
		if lock, err = leaderLock(cfg, *leaderNS); err != nil {
			return err
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.New(),
		Cache:                   controllers.CacheOptions(*agentNS),
		Metrics:                 common.metricsOptions(),
		HealthProbeBindAddress:  common.probeAddr,
		PprofBindAddress:        common.pprofAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        leaderElectionID,
		LeaderElectionNamespace: *leaderNS,
		// The Lease under the pod's name: see leaderIdentity.
		LeaderElectionResourceLockInterface: lock,
		// Hand leadership over at once on a clean shutdown instead of
		// making the next replica wait for the lease to expire. Safe: the
		// process exits right after the manager stops.
		LeaderElectionReleaseOnCancel: true,
		// On SIGTERM, in-flight reconciles get this long to finish; a
		// reconcile cut short is harmless (status first, Events repaired
		// by the next leader).
		GracefulShutdownTimeout: &gracePeriod,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	r := &controllers.VirtualMachineReconciler{
		AgentNamespace:    *agentNS,
		LeaseGrace:        *leaseGrace,
		IOErrorWindow:     *ioWindow,
		ReportingInstance: instance,
	}
	// VMs are independent. A reconcile that records transitions makes
	// several round trips (an apply, an Event per transition), each as slow
	// as the apiserver is busy: at 200 events/s over 1,000 VMs on a 2-core
	// control plane, 4 workers made a few such reconciles a second while the
	// load asked for tens, and a panic's condition waited behind them; 16
	// took so much of the apiserver that the agent's fault Events waited
	// seconds (docs/benchmarks.md). The queue's urgent lane
	// (controllers/lanes.go) decides what goes first.
	if err := r.SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: reconcileWorkers}); err != nil {
		return fmt.Errorf("setting up the controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	// Ready once the caches are synced, so a rolling update does not
	// retire the old replica before the new one could act.
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("caches not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// reconcileWorkers is how many VMs the controller reconciles at once.
const reconcileWorkers = 16

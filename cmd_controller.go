package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vmevents/vmevents/internal/scheme"
)

func runController(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vmevents controller", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	leaderElect := fs.Bool("leader-elect", true, "elect a leader so only one replica acts at a time")
	leaderNS := fs.String("leader-election-namespace", "vmevents-system", "namespace of the leader election Lease")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vmevents controller [flags]\n\nTurns the facts the node agents report into VirtualMachine conditions\n(Ready, MonitorConnected, Paused, GuestPanicked, WatchdogExpired, IOError).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	common.setupLogging()
	cfg, err := common.restConfig()
	if err != nil {
		return fmt.Errorf("loading the cluster connection: %w", err)
	}
	gracePeriod := 10 * time.Second
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 metricsserver.Options{BindAddress: common.metricsAddr},
		HealthProbeBindAddress:  common.probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "vmevents-controller",
		LeaderElectionNamespace: *leaderNS,
		// Hand leadership over at once on a clean shutdown instead of
		// making the next replica wait for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &gracePeriod,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

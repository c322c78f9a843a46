package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/vmevents/vmevents/internal/heartbeat"
	"github.com/vmevents/vmevents/internal/scheme"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/qmpsource"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// defaultSocketRoot is where the DaemonSet mounts the node's QMP sockets.
const defaultSocketRoot = "/var/run/vmevents"

// agentGCPercent is the agent's GOGC unless the environment sets one. A
// node daemon's memory is taken from the node's workloads, and the agent's
// live heap is small and mostly long-lived (a session, its facts and
// Event series per VM): collecting at 50 % growth instead of 100 % keeps
// its heap, and the spans the collector cannot give back, smaller for a
// little more collector CPU.
const agentGCPercent = 50

func runAgent(args []string, stdout, stderr io.Writer) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(agentGCPercent)
	}
	fs := flag.NewFlagSet("vmevents agent", flag.ContinueOnError)
	common := commonFlags{qps: qmpagent.DefaultKubeAPIQPS, burst: qmpagent.DefaultKubeAPIBurst}
	common.bind(fs)
	nodeName := fs.String("node-name", os.Getenv("NODE_NAME"), "the node this agent runs on (default $NODE_NAME)")
	namespace := fs.String("namespace", envOr("POD_NAMESPACE", heartbeat.DefaultNamespace), "namespace of the agent's heartbeat Lease (default $POD_NAMESPACE, else vmevents-system)")
	var roots stringList
	fs.Var(&roots, "socket-root", "folder under which QMP sockets are trusted, after resolving symlinks; repeatable (default "+defaultSocketRoot+")")
	tenancyFlag := fs.String("tenancy", source.TenancyNamespace, "which monitors a VirtualMachine may reach from its namespace N: 'namespace' grants only QMP sockets beneath <socket-root>/N/, LXD project N and libvirt domains named N.*; 'shared' (a node with one tenant) grants every socket under the roots, every project and domain")
	maxMessage := fs.Int("qmp-max-message-bytes", qmp.DefaultMaxMessageBytes, "largest QMP message accepted; a larger one ends the connection")
	queueSize := fs.Int("qmp-event-queue", qmp.DefaultQueueSize, "events buffered per VM before the oldest are shed (counted, then re-synced)")
	statusInterval := fs.Duration("status-interval", qmpagent.DefaultStatusInterval, "least time between two status writes of one VM; later facts are merged into the next write")
	discover := fs.String("discover", "", "absolute glob of QMP sockets under a socket root (e.g. '/var/run/vmevents/default/*.qmp'; with --tenancy=namespace only those beneath the folder of --discover-namespace count); each one no VirtualMachine watches gets one created (needs the vmevents-agent-discovery role)")
	discoverNS := fs.String("discover-namespace", "default", "namespace of the VirtualMachines discovery creates")
	discoverGrace := fs.Duration("discover-gone-grace", qmpsource.DefaultGoneGrace, "how long the QMP socket of a discovered VirtualMachine may be gone before the VirtualMachine is deleted; 0 keeps them")
	spoolDir := fs.String("spool-dir", "/var/lib/vmevents/spool", "node-local folder of the write-ahead journal: every status fact and Event count the agent reads is written there before it goes to the apiserver, and published by the next agent if this one dies first; empty turns it off")
	silence := fs.String("silence-events", strings.Join(qmpagent.DefaultSilenceEvents, ","), "comma-separated occurrences that become no Kubernetes Event unless a VM's spec.eventPolicy.keep names them (QMP event names, LXD actions, libvirt audit kinds, or Event reasons); never a Warning; still counted in status.eventCounts and delivery.silenced; empty silences nothing")
	maxBackoff := fs.Duration("max-reconnect-backoff", 30*time.Second, "longest wait between two attempts to reach a VM's monitor")
	libvirtOpts := bindLibvirtFlags(fs)
	lxdOpts := bindLXDFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vmevents agent [flags]\n\nNode agent: follows the hypervisor event streams of the VirtualMachines on\nthis node and publishes them as VirtualMachine status and Kubernetes Events.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *nodeName == "" {
		fmt.Fprintln(stderr, "--node-name is required (or set $NODE_NAME, as the DaemonSet does from the downward API)")
		return errUsage
	}
	if len(roots) == 0 {
		roots = stringList{defaultSocketRoot}
	}
	for _, r := range roots {
		if !filepath.IsAbs(r) {
			fmt.Fprintf(stderr, "--socket-root %q must be an absolute path\n", r)
			return errUsage
		}
	}
	tenancy, err := source.ParseTenancy(*tenancyFlag)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	if *discover != "" && !filepath.IsAbs(*discover) {
		fmt.Fprintf(stderr, "--discover %q must be an absolute pattern\n", *discover)
		return errUsage
	}
	for _, validate := range []func() error{libvirtOpts.validate, lxdOpts.validate} {
		if err := validate(); err != nil {
			fmt.Fprintln(stderr, err)
			return errUsage
		}
	}
	common.setupLogging()
	cfg, err := common.restConfig()
	if err != nil {
		return fmt.Errorf("loading the cluster connection: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := waitForAPIServer(ctx, cfg); err != nil {
		return err
	}
	cacheOpts, clientOpts := qmpagent.CacheOptions(*nodeName)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 common.metricsOptions(),
		HealthProbeBindAddress:  common.probeAddr,
		PprofBindAddress:        common.pprofAddr,
		Cache:                   cacheOpts,
		Client:                  clientOpts,
		GracefulShutdownTimeout: ptrTo(10 * time.Second),
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	agent, err := qmpagent.New(mgr, qmpagent.Config{
		NodeName:       *nodeName,
		Namespace:      *namespace,
		StatusInterval: *statusInterval,
		SpoolDir:       *spoolDir,
		SilenceEvents:  splitList(*silence),
	})
	if err != nil {
		return err
	}
	// The event sources, peers behind one contract, each told through the
	// agent: QMP sockets always, libvirt and LXD when their flags say so.
	sources := []source.Source{qmpsource.New(agent, qmpsource.Config{
		SocketRoots:       roots,
		Tenancy:           tenancy,
		QMP:               qmp.Options{MaxMessageBytes: *maxMessage, QueueSize: *queueSize},
		MaxBackoff:        *maxBackoff,
		DiscoverGlob:      *discover,
		DiscoverNamespace: *discoverNS,
		DiscoverGoneGrace: goneGrace(*discoverGrace),
	})}
	libvirtSources, err := libvirtOpts.sources(agent, tenancy)
	if err != nil {
		return err
	}
	sources = append(sources, libvirtSources...)
	sources = append(sources, lxdOpts.sources(agent, tenancy)...)
	for _, s := range sources {
		if err := agent.Add(s); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("VirtualMachine cache not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	ctrl.Log.WithName("agent").Info("starting", "node", *nodeName, "socketRoots", []string(roots))
	return mgr.Start(ctx)
}

// goneGrace turns the flag's 0 ("keep them") into the source's negative
// grace; the source's zero is its default.
func goneGrace(flag time.Duration) time.Duration {
	if flag <= 0 {
		return -1
	}
	return flag
}

// splitList is a comma-separated flag's values, blanks trimmed; never nil,
// so that an empty flag means none rather than the default.
func splitList(s string) []string {
	out := []string{}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func ptrTo[T any](v T) *T { return &v }

// Command bench is `make bench`'s system benchmark (issue 9): it runs the
// real agent and controller (test/framework/stack: real etcd and kube-apiserver
// with token authentication and RBAC, vmevents installed from
// config/default) against test/loadgen, a wire-exact fake QEMU serving N
// QMP sockets, runs seven scenarios and prints docs/benchmarks.md.
//
// Usage: go run ./hack/bench -assets DIR -kustomize PATH -binary PATH -loadgen PATH [-quick] [-out FILE]
// (hack/bench.sh builds what it needs and passes all of that).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/scheme"
	"github.com/vmevents/vmevents/test/framework/stack"
	"github.com/vmevents/vmevents/test/loadgen/wire"
)

// params are a run's sizes and durations.
type params struct {
	VMs            int
	Idle           time.Duration // scenario 1's CPU window
	Rate           float64       // scenario 2's total events/s
	Run            time.Duration // scenario 2's duration
	StormRate      float64
	Storm          time.Duration
	OutageBefore   time.Duration
	Outage         time.Duration
	OutageAfter    time.Duration
	KillAfter      time.Duration
	KillRun        time.Duration
	ClusterVMs     int
	Drain          time.Duration // longest wait for the last events to show
	Stall          time.Duration // a drain ends early after this long without progress
	Reconcile      time.Duration // longest wait for the controller in scenario 6
	ConnectTimeout time.Duration
	// Scenario 7: Nodes agents with NodeVMs VMs each, idle for NodeIdle
	// (a minute, as long as a fresh Lease takes to go stale by default: a
	// controller that woke idle VMs when their Lease would go stale shows
	// it), then the scenario-2 mix at Rate in total for NodeRun.
	Nodes, NodeVMs    int
	NodeIdle, NodeRun time.Duration
}

var full = params{VMs: 1000, Idle: 30 * time.Second, Rate: 200, Run: 60 * time.Second,
	StormRate: 10000, Storm: 60 * time.Second,
	OutageBefore: 15 * time.Second, Outage: 60 * time.Second, OutageAfter: 15 * time.Second,
	KillAfter: 20 * time.Second, KillRun: 60 * time.Second, ClusterVMs: 10000,
	Drain: 150 * time.Second, Stall: 45 * time.Second, Reconcile: 5 * time.Minute, ConnectTimeout: 5 * time.Minute,
	Nodes: 20, NodeVMs: 50, NodeIdle: time.Minute, NodeRun: 60 * time.Second}

var quick = params{VMs: 100, Idle: 10 * time.Second, Rate: 50, Run: 10 * time.Second,
	StormRate: 10000, Storm: 10 * time.Second,
	OutageBefore: 5 * time.Second, Outage: 10 * time.Second, OutageAfter: 5 * time.Second,
	KillAfter: 5 * time.Second, KillRun: 15 * time.Second, ClusterVMs: 1000,
	Drain: 60 * time.Second, Stall: 15 * time.Second, Reconcile: 2 * time.Minute, ConnectTimeout: 2 * time.Minute,
	Nodes: 4, NodeVMs: 25, NodeIdle: 10 * time.Second, NodeRun: 10 * time.Second}

type options struct {
	stack.Options
	loadgen   string
	out       string
	quick     bool
	scenarios string
	sockets   string
	agentArgs string
	command   string
	// charts is the folder the latency charts are drawn in ("": none);
	// chartsLink the same folder as the markdown links it.
	charts, chartsLink string
	// nodes and nodeVMs override scenario 7's sizes (0: the mode's).
	nodes, nodeVMs int
}

// benchSilence is the agent's event policy in the bench: it silences
// nothing, so that every event of the mix is an Event write.
const benchSilence = "--silence-events="

func main() {
	var o options
	flag.StringVar(&o.Assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "folder with etcd, kube-apiserver and kubectl (hack/control-plane.sh)")
	flag.StringVar(&o.Kustomize, "kustomize", "kustomize", "the kustomize binary")
	flag.StringVar(&o.Binary, "binary", "bin/vmevents", "the vmevents binary")
	flag.StringVar(&o.loadgen, "loadgen", "", "the test/loadgen binary")
	flag.StringVar(&o.Dir, "dir", "_out/bench", "folder for the control plane's state and the logs (wiped at start)")
	flag.StringVar(&o.sockets, "sockets", "", "folder for the fake QEMUs' sockets (short: 107-byte limit; default /tmp/vmb-PID)")
	flag.StringVar(&o.out, "out", "", "also write the markdown to this file")
	flag.BoolVar(&o.quick, "quick", false, "small and short: 100 VMs, 10 s runs, 1,000 VMs in scenario 6")
	flag.StringVar(&o.scenarios, "scenarios", "1,2,3,4,5,6,7,8", "scenarios to run (1 always runs: it sets up the others)")
	flag.StringVar(&o.agentArgs, "agent-args", "", "extra agent flags, space-separated (default: the DaemonSet's)")
	flag.StringVar(&o.command, "command", "make bench", "the command to name in the report")
	flag.StringVar(&o.charts, "charts", "", "folder for the latency charts (PNG; default: bench/ beside -out, none without -out)")
	flag.IntVar(&o.nodes, "nodes", 0, "scenario 7's agents, one node each (default 20; 4 with -quick)")
	flag.IntVar(&o.nodeVMs, "node-vms", 0, "scenario 7's VMs per node (default 50; 25 with -quick)")
	flag.Parse()
	if o.charts == "" && o.out != "" {
		o.charts = filepath.Join(filepath.Dir(o.out), "bench")
	}
	o.chartsLink = o.charts
	if o.out != "" && o.charts != "" {
		if rel, err := filepath.Rel(filepath.Dir(o.out), o.charts); err == nil {
			o.chartsLink = rel
		}
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// bench is a run in progress.
type bench struct {
	o       options
	p       params
	st      *stack.Stack
	cl      client.WithWatch
	kc      *kubernetes.Clientset
	lg      *loadgen
	tr      *tracker
	w       *watchers
	ns      string
	agentM  string // the agent's /metrics URL
	ctrlM   string // the controller's
	agentS  sampler
	ctrlS   sampler
	rep     *report
	started time.Time
	// mix is what scenario 2 measured that scenario 8 prices.
	mix mixDemand
}

func run(o options) error {
	if o.Assets == "" || o.loadgen == "" {
		return fmt.Errorf("-assets and -loadgen are required (hack/bench.sh passes them)")
	}
	p := full
	if o.quick {
		p = quick
	}
	if o.nodes > 0 {
		p.Nodes = o.nodes
	}
	if o.nodeVMs > 0 {
		p.NodeVMs = o.nodeVMs
	}
	var err error
	for _, path := range []*string{&o.Dir, &o.Binary, &o.loadgen, &o.Kustomize} {
		if path != &o.Kustomize || strings.Contains(*path, "/") {
			if *path, err = filepath.Abs(*path); err != nil {
				return err
			}
		}
	}
	if o.Repo, err = os.Getwd(); err != nil {
		return err
	}
	if o.sockets == "" {
		o.sockets = fmt.Sprintf("/tmp/vmb-%d", os.Getpid())
	}
	if err := os.RemoveAll(o.Dir); err != nil {
		return err
	}
	defer os.RemoveAll(o.sockets)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	b := &bench{o: o, p: p, ns: "bench", tr: newTracker(), started: time.Now()}
	b.rep = newReport(o, p)
	agentPort, err := freePort()
	if err != nil {
		return err
	}
	ctrlPort, err := freePort()
	if err != nil {
		return err
	}
	b.agentM = fmt.Sprintf("http://127.0.0.1:%d/metrics", agentPort)
	b.ctrlM = fmt.Sprintf("http://127.0.0.1:%d/metrics", ctrlPort)
	o.Node = "bench-node"
	// Plain HTTP on loopback: the bench scrapes as a process on the node.
	// Nothing silenced (-agent-args may say otherwise): the bench measures
	// every event of its mix as an Event, RTC_CHANGE included.
	o.AgentArgs = append([]string{"--socket-root", o.sockets, "--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", agentPort), "--metrics-secure=false",
		benchSilence}, strings.Fields(o.agentArgs)...)
	o.ControllerArgs = []string{"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ctrlPort), "--metrics-secure=false"}

	logf("starting etcd and kube-apiserver, installing config/default (%s)", o.Dir)
	b.st, err = stack.Up(ctx, o.Options)
	if err != nil {
		return err
	}
	defer b.st.Down()
	cfg, err := clientcmd.BuildConfigFromFlags("", b.st.Kubeconfig())
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	if b.cl, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()}); err != nil {
		return err
	}
	if b.kc, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	b.rep.versions(ctx, b)
	if err := b.cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	b.w = &watchers{kc: b.kc, cl: b.cl, ns: b.ns, tr: b.tr}
	b.w.start(ctx)
	go b.agentS.run(ctx)
	go b.ctrlS.run(ctx)

	logf("starting the controller")
	if err := b.st.StartController(); err != nil {
		return err
	}
	b.trackController()
	logf("starting %d fake QEMUs under %s", p.VMs, o.sockets)
	// The default tenancy: the bench namespace's sockets in its folder.
	b.lg, err = startLoadgen(o.loadgen, filepath.Join(o.sockets, b.ns), p.VMs, b.tr, filepath.Join(o.Dir, "logs", "loadgen.log"))
	if err != nil {
		return err
	}
	defer b.lg.stop()
	logf("creating %d VirtualMachines", p.VMs)
	if _, err := b.createVMs(ctx, 0, p.VMs, o.Node); err != nil {
		return err
	}

	want := map[string]bool{}
	for _, s := range strings.Split(o.scenarios, ",") {
		want[strings.TrimSpace(s)] = true
	}
	scenarios := []struct {
		n   string
		run func(context.Context) error
	}{
		{"1", b.scenario1}, {"2", b.scenario2}, {"3", b.scenario3}, {"4", b.scenario4}, {"5", b.scenario5}, {"6", b.scenario6}, {"7", b.scenario7},
		{"8", b.scenario8},
	}
	for _, sc := range scenarios {
		if sc.n != "1" && !want[sc.n] {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		start := time.Now()
		logf("scenario %s", sc.n)
		if err := sc.run(ctx); err != nil {
			b.rep.failed(sc.n, err)
			logf("scenario %s failed: %v", sc.n, err)
		}
		logf("scenario %s took %s", sc.n, time.Since(start).Round(time.Second))
	}
	b.rep.total = time.Since(b.started)
	md := b.rep.markdown()
	fmt.Print(md)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(md), 0o644)
	}
	return nil
}

func (b *bench) trackAgent() {
	if pid, err := childPid(b.o.Binary, "agent"); err == nil {
		b.agentS.setPid(pid)
	} else {
		logf("%v", err)
	}
}

func (b *bench) trackController() {
	if pid, err := childPid(b.o.Binary, "controller"); err == nil {
		b.ctrlS.setPid(pid)
	} else {
		logf("%v", err)
	}
}

// createVMs creates VirtualMachines vm-from .. vm-(to-1) on node with 8
// writers and returns how long it took.
func (b *bench) createVMs(ctx context.Context, from, to int, node string) (time.Duration, error) {
	return b.createVMsWith(ctx, from, to, func(i int) *vmv1.VirtualMachine {
		return &vmv1.VirtualMachine{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vm-%04d", i), Namespace: b.ns},
			Spec: vmv1.VirtualMachineSpec{
				NodeName: node,
				UUID:     loadgenUUID(i),
				QMP:      &vmv1.QMPSource{SocketPath: filepath.Join(b.o.sockets, b.ns, strconv.Itoa(i)+".qmp")},
			},
		}
	})
}

// loadgenUUID is the UUID the load generator's socket i answers
// query-uuid with (test/loadgen's vmUUID): the agent checks it.
func loadgenUUID(i int) string { return fmt.Sprintf("5f0c3a3e-8d1b-4c55-9a4e-%012x", i) }

// createVMsWith creates the VirtualMachines vm(from) .. vm(to-1) with 8
// writers and returns how long it took.
func (b *bench) createVMsWith(ctx context.Context, from, to int, vmOf func(i int) *vmv1.VirtualMachine) (time.Duration, error) {
	start := time.Now()
	idx := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				err := b.cl.Create(ctx, vmOf(i))
				if err != nil && !apierrors.IsAlreadyExists(err) {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := from; i < to; i++ {
		idx <- i
	}
	close(idx)
	wg.Wait()
	return time.Since(start), firstErr
}

// waitFor polls cond every 100 ms until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// drain waits until every event of the phase shows as an Event and in
// status, or until nothing new showed for p.Stall, or p.Drain passed. It
// returns how many stayed missing.
func (b *bench) drain(ctx context.Context) (ev, st int) { return b.drainOf(ctx, b.tr) }

// drainOf is drain for the events tr follows.
func (b *bench) drainOf(ctx context.Context, tr *tracker) (ev, st int) {
	deadline := time.Now().Add(b.p.Drain)
	for ctx.Err() == nil {
		ev, st, last := tr.pending()
		if ev == 0 && st == 0 {
			return 0, 0
		}
		if time.Now().After(deadline) || time.Since(last) > b.p.Stall {
			return ev, st
		}
		time.Sleep(200 * time.Millisecond)
	}
	return tr.pendingCounts()
}

func (t *tracker) pendingCounts() (int, int) { ev, st, _ := t.pending(); return ev, st }

// snapshot is the counters at one moment: the agent's and the apiserver's
// metrics, the agent's /proc and the load generator's counters.
type snapshot struct {
	at    time.Time
	agent metrics
	api   metrics
	// ctrl is the controller's, empty when it could not be read.
	ctrl metrics
	proc procSample
	lg   wire.Stats
}

func (b *bench) snap(ctx context.Context) snapshot {
	s := snapshot{at: time.Now()}
	var err error
	if s.agent, err = scrapeHTTP(b.agentM); err != nil {
		logf("scraping the agent: %v", err)
		s.agent = metrics{}
	}
	if s.api, err = scrapeAPIServer(ctx, b.kc); err != nil {
		logf("scraping the apiserver: %v", err)
		s.api = metrics{}
	}
	if s.ctrl, err = scrapeHTTP(b.ctrlM); err != nil {
		s.ctrl = metrics{}
	}
	if pid := b.agentS.pidNow(); pid != 0 {
		s.proc, _ = readProc(pid)
	}
	s.lg = b.lg.Stats()
	return s
}

func (s *sampler) pidNow() int { s.mu.Lock(); defer s.mu.Unlock(); return s.pid }

// apiRequests is the apiserver's request counts between two snapshots by
// "VERB resource[/subresource]", long-running watches left out.
func apiRequests(a, b snapshot) map[string]float64 {
	return groupDelta(a.api, b.api, "apiserver_request_total", func(l map[string]string) string {
		if l["verb"] == "WATCH" || l["verb"] == "CONNECT" {
			return ""
		}
		r := l["resource"]
		if r == "" {
			return ""
		}
		if l["subresource"] != "" {
			r += "/" + l["subresource"]
		}
		return l["verb"] + " " + r
	})
}

// agentWrites is the agent's API writes between two snapshots by kind.
func agentWrites(a, b snapshot) map[string]float64 {
	return groupDelta(a.agent, b.agent, "vmevents_agent_api_write_duration_seconds_count", func(l map[string]string) string {
		return l["kind"] + " " + l["result"]
	})
}

func isWrite(verbResource string) bool {
	v, _, _ := strings.Cut(verbResource, " ")
	switch v {
	case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		return true
	}
	return false
}

func sumMap(m map[string]float64, keep func(string) bool) float64 {
	t := 0.0
	for k, v := range m {
		if keep == nil || keep(k) {
			t += v
		}
	}
	return t
}

// latencyOf gives the Event and status latencies of a phase's events,
// those of fault events apart, and how many never showed.
type latencyStats struct {
	ev, st, evFault, stFault latencies
	// evFaultFirst are the fault events that repeat no fault of theirs
	// (sentEv.repeat): the ones whose Event the agent writes first.
	evFaultFirst       latencies
	evUnseen, stUnseen int
	evUnseenFault      int
}

func latencyOf(events []*sentEv, keep func(*sentEv) bool) latencyStats {
	var l latencyStats
	for _, e := range events {
		if keep != nil && !keep(e) {
			continue
		}
		if e.evSeen.IsZero() {
			l.evUnseen++
			if faults[e.name] {
				l.evUnseenFault++
			}
		} else {
			d := e.evSeen.Sub(e.ts)
			l.ev = append(l.ev, d)
			if faults[e.name] {
				l.evFault = append(l.evFault, d)
				if !e.repeat {
					l.evFaultFirst = append(l.evFaultFirst, d)
				}
			}
		}
		if e.stSeen.IsZero() {
			l.stUnseen++
		} else {
			d := e.stSeen.Sub(e.ts)
			l.st = append(l.st, d)
			if faults[e.name] {
				l.stFault = append(l.stFault, d)
			}
		}
	}
	return l
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/heartbeat"
)

// nodesNS holds scenario 7's VirtualMachines, apart from the other
// scenarios' so that its tracker sees only its own.
const nodesNS = "bench-nodes"

// startFleet starts one agent per node, node j trusting the sockets under
// root/j (the load generator's -per-folder layout).
func (b *bench) startFleet(ctx context.Context, root string) (*fleet, error) {
	f := &fleet{}
	for j := range b.p.Nodes {
		port, err := freePort()
		if err != nil {
			return f, err
		}
		args := append([]string{"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port), "--metrics-secure=false", benchSilence}, strings.Fields(b.o.agentArgs)...)
		a, err := b.st.StartAgentOn(ctx, nodeName(j), filepath.Join(root, strconv.Itoa(j)), args...)
		if err != nil {
			return f, err
		}
		f.agents = append(f.agents, a)
		f.urls = append(f.urls, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	}
	return f, nil
}

func nodeName(j int) string { return fmt.Sprintf("node-%03d", j) }

// scenario7: many nodes, each with its own agent, Lease and VMs: the cost
// per node and per VM when idle and under the scenario-2 mix, and the
// controller with all of them; then the extrapolation to a large cluster.
func (b *bench) scenario7(ctx context.Context) error {
	n, m := b.p.Nodes, b.p.NodeVMs
	total := n * m
	if err := b.cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nodesNS}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The VMs of the scenarios above go first: their I/O-error windows
	// closing would change conditions during the idle window, which is not
	// what idle costs.
	logf("deleting the VirtualMachines of the scenarios above")
	if err := b.cl.DeleteAllOf(ctx, &vmv1.VirtualMachine{}, client.InNamespace(b.ns)); err != nil {
		return err
	}
	tr := newTracker()
	w := &watchers{kc: b.kc, cl: b.cl, ns: nodesNS, tr: tr}
	w.start(ctx)
	defer w.cancel()
	root := filepath.Join(b.o.sockets, "n")
	logf("starting %d fake QEMUs for %d nodes under %s", total, n, root)
	lg, err := startLoadgen(b.o.loadgen, root, total, tr, filepath.Join(b.o.Dir, "logs", "loadgen-nodes.log"),
		"-per-folder", strconv.Itoa(m), "-sub", nodesNS, "-seed", "7")
	if err != nil {
		return err
	}
	defer lg.stop()
	logf("creating %d VirtualMachines on %d nodes", total, n)
	if _, err := b.createVMsWith(ctx, 0, total, func(i int) *vmv1.VirtualMachine {
		return &vmv1.VirtualMachine{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vm-%04d", i), Namespace: nodesNS},
			Spec: vmv1.VirtualMachineSpec{
				NodeName: nodeName(i / m),
				UUID:     loadgenUUID(i),
				QMP:      &vmv1.QMPSource{SocketPath: filepath.Join(root, strconv.Itoa(i/m), nodesNS, strconv.Itoa(i)+".qmp")},
			},
		}
	}); err != nil {
		return err
	}
	// Let the controller finish with the new VMs before the fleet starts.
	b.ctrlQuiet(ctx)
	before, err := scrapeAPIServer(ctx, b.kc)
	if err != nil {
		return err
	}
	ctrl0, _ := scrapeHTTP(b.ctrlM)

	logf("starting %d agents", n)
	t0 := time.Now()
	f, err := b.startFleet(ctx, root)
	defer b.st.StopNodeAgents()
	if err != nil {
		return err
	}
	var tAPI time.Duration
	if !waitFor(ctx, b.p.ConnectTimeout, func() bool { c, _ := tr.connectedVMs(nil); return c >= total }) {
		c, _ := tr.connectedVMs(nil)
		var vm vmv1.VirtualMachine
		state := "unreadable"
		if err := b.cl.Get(ctx, client.ObjectKey{Namespace: nodesNS, Name: "vm-0000"}, &vm); err == nil && vm.Status.Monitor != nil {
			state = fmt.Sprintf("%s: %s", vm.Status.Monitor.State, vm.Status.Monitor.LastError)
		}
		return fmt.Errorf("after %s only %d of %d VMs show Connected (vm-0000's monitor: %s; agent logs: %s)", b.p.ConnectTimeout, c, total, state, f.agents[0].Log)
	}
	tAPI = time.Since(t0)
	quiet := b.ctrlQuiet(ctx)
	ctrl1, _ := scrapeHTTP(b.ctrlM)
	waveReconciles := ctrl1.sum("controller_runtime_reconcile_total", nil) - ctrl0.sum("controller_runtime_reconcile_total", nil)
	logf("all %d VMs on %d nodes connected after %s; the controller's queue was empty after %s", total, n, ms(tAPI), ms(quiet.Sub(t0)))

	settle := b.p.NodeIdle / 3
	sleepCtx(ctx, settle)
	s0 := b.fleetSnap(ctx, f)
	sleepCtx(ctx, b.p.NodeIdle)
	s1 := b.fleetSnap(ctx, f)
	idle := costOf(s0, s1)
	live, err := b.liveVMs(ctx)
	if err != nil {
		return err
	}

	logf("the scenario-2 mix at %g events/s over %d VMs for %s", b.p.Rate, total, b.p.NodeRun)
	tr.newPhase()
	lg.send("rate %g", b.p.Rate)
	sleepCtx(ctx, b.p.NodeRun)
	lg.send("rate 0")
	evMiss, stMiss := b.drainOf(ctx, tr)
	b.ctrlQuiet(ctx)
	s2 := b.fleetSnap(ctx, f)
	load := costOf(s1, s2)
	res := tr.result()
	lat := latencyOf(res.events, nil)

	open := watches(s2.api)
	for k, v := range watches(before) {
		open[k] -= v
	}
	rows := nodeRows(idle, load, n, m)
	rows = append(rows,
		[]string{"events written (the mix)", "-", fmt.Sprintf("%d (%s)", len(res.events), mapLineI(res.sent))},
		[]string{"QEMU timestamp to Event readable, p50 / p99 / max", "-", lat.ev.String()},
		[]string{"QEMU timestamp to VM status showing it, p50 / p99 / max", "-", lat.st.String()},
		[]string{"events never seen as an Event / in status (drain ended)", "-", fmt.Sprintf("%d / %d", evMiss, stMiss)},
	)
	body := fmt.Sprintf("%d agents, each a `vmevents agent` process with its node's identity (a token bound to a pod on its node, which the admission policy of config/policy reads), "+
		"its own heartbeat Lease, socket root and spool; %d VMs per node (%d in all, in namespace `%s`), played by one load generator. The agents of the scenarios above are stopped or idle on their own node, and their VirtualMachines deleted first. "+
		"**Idle**: %s after every VM showed `monitor.state: Connected` and the controller's queue was empty (plus %s of settling). "+
		"**Mix**: the scenario-2 mix at %g events/s in total over the %d VMs (%.3g events/s per VM) for %s; its window runs from the start of the load until the last event showed "+
		"and the controller's queue was empty again. Per-node figures are the total divided by %d. The apiserver's counts are all clients': the controller's (its leader Lease too), "+
		"the apiserver's own (endpoints, its identity Lease) and any other agent still running; the agents' own are their clients' `rest_client_requests_total`, the extrapolation's inputs.\n\n",
		n, m, total, nodesNS, b.p.NodeIdle, ms(settle), b.p.Rate, total, b.p.Rate/float64(total), b.p.NodeRun, n)
	body += table([]string{"measure", "idle", "mix"}, rows...)
	body += "\n" + table([]string{"connecting", "value"},
		[]string{fmt.Sprintf("first agent's start to all %d VMs showing `monitor.state: Connected` (the agents start one after the other, each once its Node, pod and token exist)", total), ms(tAPI)},
		[]string{"first agent's start to the controller's queue empty", ms(quiet.Sub(t0))},
		[]string{"controller reconciles in that wave (per VM)", fmt.Sprintf("%.0f (%.1f)", waveReconciles, waveReconciles/float64(total))},
		[]string{"watches the agents opened (apiserver's `apiserver_longrunning_requests`, per agent)", mapLineP(scaled(open, 1/float64(n)), 1)},
	)
	mdl := b.costModel(s2, idle, load, n, m, len(res.events), open, live)
	body += "\n" + mdl.markdown()
	b.rep.section("7", fmt.Sprintf("%d nodes x %d VMs", n, m), body)
	b.rep.finding("7", fmt.Sprintf("with %d agents idle, each node cost the apiserver %.2f requests/s (its Lease: %.2f renewals/s) and each agent used %.2f %% of a core and %s on average; "+
		"the mix cost %.2f apiserver requests and %.2f writes per event",
		n, sumMap(idle.agentReq, nil)/float64(n), mdl.leasePerNode, idle.agentCPU.mean, mib(int64(idle.agentRSS.mean)), mdl.reqPerEvent, mdl.writesPerEvent))
	return nil
}

// liveVMs is how many VirtualMachines in the cluster are on a node whose
// agent Lease is fresh: those the controller would reconcile when their
// node's Lease goes stale, and otherwise leaves alone while idle.
func (b *bench) liveVMs(ctx context.Context) (int, error) {
	var leases coordinationv1.LeaseList
	if err := b.cl.List(ctx, &leases, client.InNamespace(heartbeat.DefaultNamespace), client.HasLabels{heartbeat.NodeLabel}); err != nil {
		return 0, err
	}
	fresh := map[string]bool{}
	for i := range leases.Items {
		if node, ok := heartbeat.Node(&leases.Items[i]); ok && !heartbeat.Stale(&leases.Items[i], time.Now(), 0) {
			fresh[node] = true
		}
	}
	var vms vmv1.VirtualMachineList
	if err := b.cl.List(ctx, &vms); err != nil {
		return 0, err
	}
	n := 0
	for _, vm := range vms.Items {
		if fresh[vm.Spec.NodeName] {
			n++
		}
	}
	return n, nil
}

// ctrlQuiet waits until the controller's work queue has been empty for two
// seconds in a row (or p.Reconcile passed) and returns when it first was.
func (b *bench) ctrlQuiet(ctx context.Context) time.Time {
	var since time.Time
	waitFor(ctx, b.p.Reconcile, func() bool {
		m, err := scrapeHTTP(b.ctrlM)
		if err != nil || m.sum("workqueue_depth", nil) > 0 {
			since = time.Time{}
			return false
		}
		if since.IsZero() {
			since = time.Now()
		}
		return time.Since(since) >= 2*time.Second
	})
	return since
}

// nodeRows are the per-phase rows of scenario 7's table.
func nodeRows(idle, load phaseCost, n, m int) [][]string {
	perNode := 1 / float64(n)
	both := func(f func(p phaseCost) string) []string { return []string{f(idle), f(load)} }
	row := func(name string, f func(p phaseCost) string) []string { return append([]string{name}, both(f)...) }
	return [][]string{
		row("window", func(p phaseCost) string { return fmt.Sprintf("%.0f s", p.secs) }),
		row("apiserver requests/s per node, all clients (watches excluded)", func(p phaseCost) string { return f2(sumMap(p.api, nil) * perNode) }),
		row("... writes/s per node", func(p phaseCost) string { return f2(sumMap(p.api, isWrite) * perNode) }),
		row("... per node by verb and resource", func(p phaseCost) string { return mapLineP(scaled(p.api, perNode), 2) }),
		row("agent's requests/s per node, by method (its client)", func(p phaseCost) string { return mapLineP(scaled(p.agentReq, perNode), 2) }),
		row("agent's API writes/s per node, by kind and result", func(p phaseCost) string { return mapLineP(scaled(p.agentWrites, perNode), 2) }),
		row("agent's requests/s per VM", func(p phaseCost) string { return fmt.Sprintf("%.4f", sumMap(p.agentReq, nil)*perNode/float64(m)) }),
		row("controller's requests/s, by method (its client)", func(p phaseCost) string { return mapLineP(p.ctrlReq, 2) }),
		row("apiserver dispatches/s by priority level (flow schema)", func(p phaseCost) string { return mapLineP(p.apf, 2) }),
		row("apiserver mean latency, reads / writes", func(p phaseCost) string { return ms(p.readLatency) + " / " + ms(p.writeLatency) }),
		row("controller reconciles/s; mean queue wait; mean reconcile", func(p phaseCost) string {
			return fmt.Sprintf("%.2f; %s; %s", p.reconciles, ms(p.queueWait), ms(p.reconcileTime))
		}),
		row("agent CPU, share of one core: mean / max over agents", func(p phaseCost) string {
			return fmt.Sprintf("%.2f %% / %.2f %%", p.agentCPU.mean, p.agentCPU.max)
		}),
		row("agent RSS at the end: mean / max over agents", func(p phaseCost) string {
			return mib(int64(p.agentRSS.mean)) + " / " + mib(int64(p.agentRSS.max))
		}),
		row("controller CPU (share of one core); RSS at the end", func(p phaseCost) string { return fmt.Sprintf("%.1f %%; %s", p.ctrlCPU, mib(p.ctrlRSS)) }),
	}
}

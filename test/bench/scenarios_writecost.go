package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/scheme"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/test/framework/localcluster"
)

// Scenario 8 prices the writes the other scenarios spend: what one API
// write of each kind the agent makes costs the kube-apiserver, each kind
// alone, with as many writes in flight as the agent keeps at most. The
// cost is the apiserver's own CPU (process_cpu_seconds_total) over the
// bench's writes, less what it spent just before with nothing written.
// The VMs live on a node no agent serves, so only the bench writes them;
// the controller reads each change and writes nothing.
const (
	writeCostNS      = "bench-writes"
	writeCostNode    = "bench-writes-node"
	writeCostVMs     = 200
	writeCostWriters = 32 // the agent's writeConcurrency
	// writeCostLabel marks the Events a creation pass leaves, so that the
	// next pass does not run against a store they swelled.
	writeCostLabel = "vmevents.dev/bench-write-cost"
)

// mixDemand is scenario 2's mix in writes: its rate, the status applies
// (agent's and controller's) per event, and the CPU the apiserver had.
type mixDemand struct {
	rate, appliesPerEvent, cores float64
}

// writeCost is one kind of write, priced.
type writeCost struct {
	kind, as string
	// writes and failed are the bench's writes answered and refused in
	// window seconds; cores the apiserver's CPU meanwhile, idle its CPU
	// just before with nothing written.
	writes, failed int64
	window         float64
	cores, idle    float64
	// all is every client's writes the apiserver answered meanwhile, by
	// verb and resource: the controller's, if it wrote, show here.
	all map[string]float64
	err error
}

// perWrite is the apiserver CPU per write it answered, its idle CPU taken
// out: all clients' writes, so that a controller write in the window is
// not priced into the bench's.
func (w writeCost) perWrite() time.Duration {
	writes := sumMap(w.all, nil)
	if w.writes == 0 || writes == 0 {
		return 0
	}
	return time.Duration(max(0, w.cores-w.idle) * w.window / writes * float64(time.Second))
}

// ok says whether w measured anything.
func (w writeCost) ok() bool { return w.err == nil && w.writes > 0 }

// scenario8 measures each kind of write as the agent (its pod-bound token,
// so RBAC, API priority and fairness's service-account level and the
// node-restriction policy's validations all apply) and as the cluster
// admin (exempt from all of these but the policy's match condition).
func (b *bench) scenario8(ctx context.Context) error {
	run := 15 * time.Second
	if b.o.quick {
		run = 5 * time.Second
	}
	if err := b.cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: writeCostNS}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if _, err := b.createVMsWith(ctx, 0, writeCostVMs, func(i int) *vmv1.VirtualMachine {
		return &vmv1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("vm-%04d", i), Namespace: writeCostNS},
			Spec: vmv1.VirtualMachineSpec{NodeName: writeCostNode, QMP: &vmv1.QMPSource{SocketPath: fmt.Sprintf("/run/vmevents/writes/%d.qmp", i)}}}
	}); err != nil {
		return err
	}
	kubeconfig, err := b.st.Cluster.PodKubeconfig(ctx, localcluster.PodIdentity{Namespace: "vmevents-system", ServiceAccount: "vmevents-agent", Node: writeCostNode})
	if err != nil {
		return err
	}
	agent, err := unlimitedClient(kubeconfig)
	if err != nil {
		return err
	}
	admin, err := unlimitedClient(b.st.Kubeconfig())
	if err != nil {
		return err
	}
	// The series updates need an Event to update, one per VM.
	for i := range writeCostVMs {
		if err := admin.Create(ctx, costEvent(i, "series", 1)); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	kinds := []struct {
		name  string
		write func(ctx context.Context, c client.Client, as string, i int, n int64) error
	}{
		{"VirtualMachine status apply (the agent's facts)", func(ctx context.Context, c client.Client, _ string, i int, n int64) error {
			return applyCostFacts(ctx, c, i, n)
		}},
		{"Event creation", func(ctx context.Context, c client.Client, as string, i int, n int64) error {
			ev := costEvent(i, fmt.Sprintf("%s-%d", as, n), 1)
			ev.Labels = map[string]string{writeCostLabel: "created"}
			return c.Create(ctx, ev)
		}},
		{"Event series update (merge patch of its count and times)", func(ctx context.Context, c client.Client, _ string, i int, n int64) error {
			return patchCostSeries(ctx, c, i, n)
		}},
	}
	var costs []writeCost
	for _, kind := range kinds {
		// The agent and the admin in turn, kind by kind, so that both see
		// the same store.
		for _, who := range []struct {
			as string
			c  client.Client
		}{{"agent", agent}, {"admin", admin}} {
			logf("scenario 8: %s as %s for %s", kind.name, who.as, run)
			w := b.priceWrites(ctx, who.c, run, func(ctx context.Context, c client.Client, i int, n int64) error {
				return kind.write(ctx, c, who.as, i, n)
			})
			w.kind, w.as = kind.name, who.as
			costs = append(costs, w)
			if err := admin.DeleteAllOf(ctx, &corev1.Event{}, client.InNamespace(writeCostNS), client.HasLabels{writeCostLabel}); err != nil {
				return err
			}
		}
	}
	b.reportWriteCosts(costs)
	return nil
}

// unlimitedClient is a client of kubeconfig without client-side rate
// limiting: the apiserver alone decides how fast writes go.
func unlimitedClient(kubeconfig string) (client.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = -1, 0
	return client.New(cfg, client.Options{Scheme: scheme.New()})
}

// writeCostIdle is how long the apiserver's CPU is read with nothing
// written before each pass: its background (Leases, watches, the
// scrapes) is taken out of the writes' price.
const writeCostIdle = 5 * time.Second

// priceWrites runs write with writeCostWriters writers for d, over the VMs
// in turn, and reads the apiserver's CPU around it. One write per VM comes
// first, unmeasured, then what the controller does about it (the first
// status apply on a VM changes its conditions), then the idle reading.
func (b *bench) priceWrites(ctx context.Context, c client.Client, d time.Duration, write func(context.Context, client.Client, int, int64) error) writeCost {
	for i := range writeCostVMs {
		if err := write(ctx, c, i, int64(i)); err != nil {
			return writeCost{err: err}
		}
	}
	b.ctrlQuiet(ctx)
	idleFrom, err := scrapeAPIServer(ctx, b.kc)
	if err != nil {
		return writeCost{err: err}
	}
	idleStart := time.Now()
	sleepCtx(ctx, writeCostIdle)
	before, err := scrapeAPIServer(ctx, b.kc)
	if err != nil {
		return writeCost{err: err}
	}
	idle := (before.sum("process_cpu_seconds_total", nil) - idleFrom.sum("process_cpu_seconds_total", nil)) / time.Since(idleStart).Seconds()
	start := time.Now()
	var done, failed atomic.Int64
	var next atomic.Int64
	next.Store(writeCostVMs) // past the warm-up's names
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range writeCostWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d && ctx.Err() == nil {
				n := next.Add(1)
				if err := write(ctx, c, int(n%writeCostVMs), n); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	after, err := scrapeAPIServer(ctx, b.kc)
	if err != nil {
		return writeCost{err: err}
	}
	window := time.Since(start).Seconds()
	all := apiRequests(snapshot{api: before}, snapshot{api: after})
	for k := range all {
		if !isWrite(k) {
			delete(all, k)
		}
	}
	w := writeCost{writes: done.Load(), failed: failed.Load(), window: window, all: all, idle: idle,
		cores: (after.sum("process_cpu_seconds_total", nil) - before.sum("process_cpu_seconds_total", nil)) / window}
	if e := firstErr.Load(); e != nil && w.writes == 0 {
		w.err = *e
	} else if e != nil {
		logf("scenario 8: %d writes refused, the first: %v", w.failed, *e)
	}
	return w
}

// costEpoch is when the VMs' faults happened, once: the applies move only
// counters, as most of the agent's do, so the controller has no condition
// to change and writes nothing.
var costEpoch = time.Now().Add(-time.Hour)

// applyCostFacts applies facts of the shape the agent writes under the
// scenario-2 mix, with the counters moved, through the agent's own code.
func applyCostFacts(ctx context.Context, c client.Client, i int, n int64) error {
	t := costEpoch
	f := model.Facts{
		RunState: vmv1.RunStateRunning, RunStateReason: "running", RunStateSince: t, StartTime: t,
		Monitor: model.Monitor{State: vmv1.MonitorConnected, Source: "qmp", Endpoint: fmt.Sprintf("/run/vmevents/writes/%d.qmp", i),
			QEMUVersion: "9.2.0", VMName: fmt.Sprintf("vm-%04d", i), VMUUID: loadgenUUID(i), Since: t, LastEventTime: time.Now()},
		EventCounts:  map[string]int64{"RTC_CHANGE": n, "RESET": n / 2, "BLOCK_IO_ERROR": n / 3, "WATCHDOG": n / 4},
		LastWatchdog: &model.Watchdog{Time: t, Action: "reset"},
		LastReset:    &model.Reset{Time: t.Add(time.Second), Guest: true, Reason: "guest-reset"},
		BlockErrors:  map[string]model.BlockError{"drive0": {Device: "drive0", Operation: "write", Action: "report", Count: n/3 + 1, LastTime: t}},
	}
	return qmpagent.ApplyFacts(ctx, c, types.NamespacedName{Namespace: writeCostNS, Name: fmt.Sprintf("vm-%04d", i)}, f)
}

// costEvent is an Event as the agent creates one about VM i, reported by
// the node the VMs are on.
func costEvent(i int, suffix string, count int32) *corev1.Event {
	now := metav1.NowMicro()
	vm := fmt.Sprintf("vm-%04d", i)
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: vm + "." + suffix, Namespace: writeCostNS},
		InvolvedObject: corev1.ObjectReference{Kind: "VirtualMachine", APIVersion: vmv1.GroupVersion.String(), Namespace: writeCostNS, Name: vm},
		EventTime:      now, ReportingController: qmpagent.ReportingController, ReportingInstance: writeCostNode,
		Action: "Reset", Reason: "Reset", Message: "The guest reset the VM (guest-reset).", Type: corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: qmpagent.SourceComponent, Host: writeCostNode},
		FirstTimestamp: metav1.NewTime(now.Time), LastTimestamp: metav1.NewTime(now.Time), Count: count,
	}
}

// patchCostSeries moves VM i's series Event on, as the agent's patchSeries
// does.
func patchCostSeries(ctx context.Context, c client.Client, i int, n int64) error {
	now := time.Now()
	count := int32(n%1_000_000 + 2)
	patch := fmt.Sprintf(`{"series":{"count":%d,"lastObservedTime":%q},"count":%d,"lastTimestamp":%q}`,
		count, now.UTC().Format(metav1.RFC3339Micro), count, now.UTC().Format(time.RFC3339))
	ev := costEvent(i, "series", 1)
	return c.Patch(ctx, &corev1.Event{ObjectMeta: ev.ObjectMeta}, client.RawPatch(types.MergePatchType, []byte(patch)))
}

func (b *bench) reportWriteCosts(costs []writeCost) {
	body := fmt.Sprintf("What one API write of each kind the agent makes costs the kube-apiserver, each kind alone for a while (%s with nothing written first), "+
		"with %d writes in flight, as many as the agent keeps at most: the apiserver's own CPU (`process_cpu_seconds_total`), less its CPU in the quiet before, "+
		"over the writes it answered (the bench's, and any other client's in the window: the table names them). %d VirtualMachines on a node no agent serves, so only the bench writes them; the controller reads each change and writes nothing "+
		"(the first write to each VM, which changes its conditions, comes before and is not counted). "+
		"**As agent**: the agent's pod-bound token, so the apiserver authenticates it, RBAC and API priority and fairness (its service-account level) apply, "+
		"and the node-restriction admission policy (config/policy) validates every write; **as admin**: the cluster admin, exempt from all of these but the policy's match condition. "+
		"On this machine the apiserver shares 2 cores with etcd, the controller and the bench, so these are its costs under that contention.\n\n",
		writeCostIdle, writeCostWriters, writeCostVMs)
	var rows [][]string
	for _, w := range costs {
		if !w.ok() {
			msg := "nothing written"
			if w.err != nil {
				msg = "failed: " + strings.ReplaceAll(w.err.Error(), "|", "/")
			}
			rows = append(rows, []string{w.kind, w.as, msg, "", "", "", ""})
			continue
		}
		rows = append(rows, []string{w.kind, w.as, fmt.Sprintf("%.0f (%d refused)", float64(w.writes)/w.window, w.failed),
			mapLineP(scaled(w.all, 1/w.window), 0), f2(w.cores), f2(w.idle), fmt.Sprintf("%.2f ms", w.perWrite().Seconds()*1000)})
	}
	body += table([]string{"write", "as", "bench writes/s", "apiserver writes/s, all clients", "apiserver CPU, cores", "... idle just before", "apiserver CPU per write (all clients' writes)"}, rows...)
	if b.mix.rate > 0 && len(costs) == 6 {
		apply, create, patch := costs[0], costs[2], costs[4] // the agent's
		if apply.ok() && create.ok() && patch.ok() {
			events := b.mix.rate * min(create.perWrite(), patch.perWrite()).Seconds()
			applies := b.mix.rate * b.mix.appliesPerEvent * apply.perWrite().Seconds()
			body += fmt.Sprintf("\nScenario 2's writes priced at the agent's costs: each event needs an Event write (a creation or a series update, whichever is cheaper; "+
				"at %.2g events/s per VM they rarely fold), at %g events/s at least %.2f cores of apiserver CPU; the %.2f status applies per event scenario 2 counted "+
				"(the agent's and the controller's, all priced as the agent's) add %.2f cores; together %.2f cores, before what the mixed load adds (watches, a bigger heap to collect). "+
				"In scenario 2 the apiserver had %.2f cores. When the writes need more than it has, they queue for as long as the load lasts, whatever order the agent sends them in.\n",
				b.mix.rate/float64(b.p.VMs), b.mix.rate, events, b.mix.appliesPerEvent, applies, events+applies, b.mix.cores)
		}
	}
	b.rep.section("8", "What one write costs the kube-apiserver", body)
	if len(costs) == 6 && costs[0].ok() && costs[2].ok() && costs[4].ok() {
		b.rep.finding("8", fmt.Sprintf("the apiserver spent %.2f ms of CPU per VirtualMachine status apply, %.2f ms per Event creation and %.2f ms per series update from the agent",
			costs[0].perWrite().Seconds()*1000, costs[2].perWrite().Seconds()*1000, costs[4].perWrite().Seconds()*1000))
	}
}

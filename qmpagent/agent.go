// Package qmpagent is the node agent (`vmevents agent`): for every
// VirtualMachine on its node it runs a session on the VM's hypervisor
// monitor and publishes what it learns as VirtualMachine status and
// Kubernetes Events. Sub-packages: qmp speaks QMP, qmpsource turns a QMP
// monitor into the plain-Go model, publish writes the model to Kubernetes.
package qmpagent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/publish"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/qmpsource"
)

// Config is the agent's configuration.
type Config struct {
	// NodeName is the node the agent runs on; it watches only VMs whose
	// spec.nodeName is this.
	NodeName string
	// SocketRoots are the folders QMP sockets are trusted under.
	SocketRoots []string
	// Namespace holds the agent's heartbeat Lease.
	Namespace string
	// StatusInterval is the least time between two status writes of a VM.
	StatusInterval time.Duration
	// RoutineStatusDelay is how long a status write may wait when only
	// routine facts changed (counters; model.Facts.Urgent): it rides along
	// with the VM's next urgent write or goes after this delay.
	RoutineStatusDelay time.Duration
	// QMP configures the QMP client.
	QMP qmp.Options
	// MinBackoff and MaxBackoff bound reconnect waits.
	MinBackoff, MaxBackoff time.Duration
	// DiscoverGlob, when set, turns discovery on: a VirtualMachine is
	// created in DiscoverNamespace for each matching QMP socket.
	DiscoverGlob      string
	DiscoverNamespace string
	// DiscoverInterval is the time between discovery scans.
	DiscoverInterval time.Duration
	// SpoolDir, when set, is a node-local folder where what the apiserver
	// has not accepted yet (status facts, Events) is kept across restarts.
	SpoolDir string
	// Sources are the event sources besides QMP sockets (libvirt, LXD),
	// each built with the agent as its Publisher and run by the manager.
	Sources []SourceFactory
}

// The agent's defaults, also those of its command line.
const (
	// DefaultStatusInterval spaces a busy VM's status writes: the first
	// change after a quiet second is written at once, a storm costs one
	// status write a second (and its Event series one more).
	DefaultStatusInterval = time.Second
	// DefaultRoutineStatusDelay lets counters wait: on a node where every
	// VM sees an event every few seconds, it takes most status writes off
	// the apiserver, whose most expensive request is a status apply.
	DefaultRoutineStatusDelay = 10 * time.Second
	// DefaultKubeAPIQPS and DefaultKubeAPIBurst bound the agent's client.
	// One agent speaks for every VM of its node, so its budget is a node's
	// worth of VMs: 200 events/s over 1,000 VMs need about 400 writes/s
	// (an Event and a status write each); a lower limit makes the writes
	// queue and the latency grow for as long as the load lasts
	// (docs/benchmarks.md). The apiserver's priority and fairness still
	// shields it from a runaway agent.
	DefaultKubeAPIQPS   = 500
	DefaultKubeAPIBurst = 1000
)

// SourceFactory builds an event source that publishes through p.
type SourceFactory func(p Publisher) (manager.Runnable, error)

// Agent runs the sessions of one node's VMs.
type Agent struct {
	cfg    Config
	client client.Client
	reader client.Reader
	events *publish.Events
	status *publish.Coalescer[types.NamespacedName, model.Facts]

	mu       sync.Mutex
	ctx      context.Context // the manager's, for sessions; set by Start
	sessions map[types.NamespacedName]*running

	factsMu sync.Mutex
	facts   map[types.NamespacedName]model.Facts
	// uids remembers each followed VM's UID, to forget its Event series
	// once it is deleted (a deleted VM can no longer be read).
	uids map[types.NamespacedName]types.UID
}

// running is a live session.
type running struct {
	socketPath string
	cancel     context.CancelFunc
	done       chan struct{}
}

// New wires an agent into the manager: the VM reconciler, the status and
// event writers and the heartbeat Lease.
func New(mgr manager.Manager, cfg Config) (*Agent, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("the node name is required")
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.RoutineStatusDelay <= 0 {
		cfg.RoutineStatusDelay = DefaultRoutineStatusDelay
	}
	a := &Agent{
		cfg:      cfg,
		client:   mgr.GetClient(),
		reader:   mgr.GetAPIReader(),
		events:   publish.NewEvents(mgr.GetClient(), cfg.NodeName),
		sessions: map[types.NamespacedName]*running{},
		facts:    map[types.NamespacedName]model.Facts{},
		uids:     map[types.NamespacedName]types.UID{},
	}
	a.events.Observe = observe("event")
	a.status = publish.NewCoalescer("status", cfg.StatusInterval, a.writeStatus)
	if cfg.SpoolDir != "" {
		if err := a.useSpool(cfg.SpoolDir); err != nil {
			return nil, err
		}
	}
	if err := mgr.Add(a); err != nil {
		return nil, err
	}
	if err := mgr.Add(&Heartbeat{Client: a.reader, Writer: a.client, Node: cfg.NodeName, Namespace: cfg.Namespace}); err != nil {
		return nil, err
	}
	for _, build := range cfg.Sources {
		src, err := build(a)
		if err != nil {
			return nil, err
		}
		if err := mgr.Add(src); err != nil {
			return nil, err
		}
	}
	if cfg.DiscoverGlob != "" {
		if err := mgr.Add(&Discovery{
			Publisher: a, Glob: cfg.DiscoverGlob, Roots: cfg.SocketRoots, Node: cfg.NodeName,
			Namespace: cfg.DiscoverNamespace, Interval: cfg.DiscoverInterval, QMP: cfg.QMP,
		}); err != nil {
			return nil, err
		}
	}
	return a, ctrl.NewControllerManagedBy(mgr).
		For(&vmv1.VirtualMachine{}).
		Named("agent").
		Complete(a)
}

// Start runs the writers until ctx ends, then stops every session and only
// then the writers, so that what the sessions told last is flushed (or
// spooled) too.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
	writers, stopWriters := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWriters()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.status.Run(writers, statusWorkers) }()
	go func() { defer wg.Done(); a.events.Run(writers) }()
	<-ctx.Done()
	a.mu.Lock()
	for key, r := range a.sessions {
		r.cancel()
		<-r.done
		delete(a.sessions, key)
	}
	a.mu.Unlock()
	stopWriters()
	wg.Wait()
	return nil
}

// statusWorkers is how many status writes may be in flight at once; far
// fewer than the Event writers (publish.Events): a status apply costs the
// apiserver more, and a VM's status coalesces while it waits, so under an
// overloaded apiserver status lags (counters first: they wait anyway) while
// Events stay prompt.
const statusWorkers = 2

// NeedLeaderElection is false: every node's agent runs.
func (a *Agent) NeedLeaderElection() bool { return false }

// Reconcile starts, restarts or stops the session of one VM.
func (a *Agent) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var vm vmv1.VirtualMachine
	err := a.client.Get(ctx, req.NamespacedName, &vm)
	if apierrors.IsNotFound(err) || (err == nil && (!vm.DeletionTimestamp.IsZero() || vm.Spec.NodeName != a.cfg.NodeName)) {
		a.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	a.factsMu.Lock()
	a.uids[req.NamespacedName] = vm.UID
	a.factsMu.Unlock()
	if vm.Spec.QMP == nil {
		a.stop(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	a.ensure(&vm)
	return ctrl.Result{}, nil
}

// ensure runs a session for the VM's current socket path, replacing one that
// follows an old path.
func (a *Agent) ensure(vm *vmv1.VirtualMachine) {
	key := types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}
	path := vm.Spec.QMP.SocketPath
	a.mu.Lock()
	if r, ok := a.sessions[key]; ok && r.socketPath == path {
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	a.stop(key)

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx == nil || a.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(a.ctx)
	r := &running{socketPath: path, cancel: cancel, done: make(chan struct{})}
	a.sessions[key] = r
	metrics.Sessions.Inc()
	ref := corev1.ObjectReference{
		APIVersion: vmv1.GroupVersion.String(), Kind: "VirtualMachine",
		Namespace: vm.Namespace, Name: vm.Name, UID: vm.UID,
	}
	sk := &sink{agent: a, key: key, ref: ref}
	s := &qmpsource.Session{
		SocketPath: path,
		Roots:      a.cfg.SocketRoots,
		Sink:       sk,
		Facts:      a.startingFacts(key, vm),
		QMP:        a.cfg.QMP,
		MinBackoff: a.cfg.MinBackoff,
		MaxBackoff: a.cfg.MaxBackoff,
		Log:        ctrl.Log.WithName("session").WithValues("vm", key.String()),
	}
	go func() {
		defer close(r.done)
		defer metrics.Sessions.Dec()
		defer sk.close()
		s.Run(ctx)
	}()
}

// stop ends a VM's session and waits for it.
func (a *Agent) stop(key types.NamespacedName) {
	a.mu.Lock()
	r, ok := a.sessions[key]
	delete(a.sessions, key)
	a.mu.Unlock()
	if !ok {
		return
	}
	r.cancel()
	<-r.done
}

func (a *Agent) writeStatus(ctx context.Context, key types.NamespacedName, f model.Facts) error {
	start := time.Now()
	err := publish.ApplyFacts(ctx, a.client, key, f)
	observe("status")(time.Since(start), err)
	if err != nil {
		return fmt.Errorf("writing the status of %s: %w", key, err)
	}
	return nil
}

func observe(kind string) func(time.Duration, error) {
	return func(d time.Duration, err error) {
		result := "ok"
		if err != nil {
			result = "error"
		}
		metrics.APIWriteSeconds.WithLabelValues(kind, result).Observe(d.Seconds())
	}
}

// startingFacts are the facts a new session continues from: the agent's own
// if it has them (newer than its cache), else what the VM's status says.
func (a *Agent) startingFacts(key types.NamespacedName, vm *vmv1.VirtualMachine) model.Facts {
	a.factsMu.Lock()
	defer a.factsMu.Unlock()
	if f, ok := a.facts[key]; ok {
		return f.Clone()
	}
	return publish.FactsFromStatus(vm.Status)
}

// forget ends everything the agent keeps for a VM that is gone or moved to
// another node: its session, facts, pending status write and Event series.
func (a *Agent) forget(key types.NamespacedName) {
	a.stop(key)
	a.factsMu.Lock()
	delete(a.facts, key)
	uid, ok := a.uids[key]
	delete(a.uids, key)
	a.factsMu.Unlock()
	a.status.Forget(key)
	if ok {
		a.events.Forget(uid)
	}
}

// spoolEntries bounds each spool folder: far more VMs than a node runs, and
// far more distinct Event series than an outage produces.
const spoolEntries = 100000

// spoolErrors counts what the spool could not keep, by kind, and logs it
// at most once per spoolLogEvery: a full disk during a storm fails a save
// many times a second, and the metric has the count.
func spoolErrors(kind string) func(error) {
	log := ctrl.Log.WithName("spool")
	var mu sync.Mutex
	var last time.Time
	return func(err error) {
		metrics.SpoolErrors.WithLabelValues(kind).Inc()
		mu.Lock()
		quiet := time.Since(last) < spoolLogEvery
		if !quiet {
			last = time.Now()
		}
		mu.Unlock()
		if !quiet {
			log.Error(err, "could not keep a value on disk; it stays in memory (vmevents_agent_spool_errors_total counts every one)", "kind", kind)
		}
	}
}

// spoolLogEvery spaces the spool's error logs.
const spoolLogEvery = 10 * time.Second

// useSpool keeps unwritten facts and Events under dir and takes up what an
// earlier run kept there.
func (a *Agent) useSpool(dir string) error {
	log := ctrl.Log.WithName("spool")
	facts, err := publish.NewSpool[types.NamespacedName, model.Facts](filepath.Join(dir, "facts"), spoolEntries)
	if err != nil {
		return err
	}
	kept, errs := a.status.UseSpool(facts, spoolErrors("status"))
	for _, err := range errs {
		log.Error(err, "dropped an unreadable spool file")
	}
	a.factsMu.Lock()
	for key, f := range kept {
		a.facts[key] = f // newer than the VM's status: its write failed
	}
	a.factsMu.Unlock()
	for key, f := range kept {
		a.status.Put(key, f)
	}
	errs, err = a.events.UseSpool(filepath.Join(dir, "events"), spoolEntries, spoolErrors("event"))
	if err != nil {
		return err
	}
	for _, err := range errs {
		log.Error(err, "dropped an unreadable spool file")
	}
	if len(kept) > 0 {
		log.Info("publishing what an earlier run could not", "vms", len(kept))
	}
	return nil
}

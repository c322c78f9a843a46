// Package qmpagent is the node agent's core (`vmevents agent`): it keeps
// one set of facts per VirtualMachine of its node, whichever event sources
// feed it, and writes them to Kubernetes: the facts as the VM's status
// (server-side apply, coalesced per VM: status.go, coalescer.go), the
// occurrences as events.k8s.io Events (series with exact counts:
// events.go), and what the apiserver has not accepted yet to a node-local
// spool (spool.go, events_spool.go). It renews the node's heartbeat Lease
// (heartbeat.go), and carries out the controller's remediation requests,
// at most once each, through the VM's source (remediate.go).
//
// The sources (qmpagent/source/qmpsource, libvirtsource, lxdsource) are
// peers behind one contract, package source: the Agent is their
// source.Publisher, and it runs them (Add) so that what they tell last is
// written before it stops. The core imports no source.
package qmpagent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// Config is the agent core's configuration.
type Config struct {
	// NodeName is the node the agent runs on; it follows only VMs whose
	// spec.nodeName is this.
	NodeName string
	// Namespace holds the agent's heartbeat Lease.
	Namespace string
	// StatusInterval is the least time between two status writes of a VM.
	StatusInterval time.Duration
	// RoutineStatusDelay is how long a status write may wait when only
	// routine facts changed (counters; model.Facts.Urgent): it rides along
	// with the VM's next urgent write or goes after this delay.
	RoutineStatusDelay time.Duration
	// SpoolDir, when set, is a node-local folder where what the apiserver
	// has not accepted yet (status facts, Events) is kept across restarts.
	SpoolDir string
	// SilenceEvents are the occurrences that become no Event unless a VM's
	// spec.eventPolicy keeps them (Silences); nil is DefaultSilenceEvents,
	// an empty list silences nothing.
	SilenceEvents []string
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

// Agent is the core of one node's agent: the VM reconciler, the facts
// store, the writers and the sources it runs.
type Agent struct {
	cfg    Config
	client client.Client
	events *Events
	status *Coalescer[types.NamespacedName, model.Facts]

	mu      sync.Mutex
	sources []source.Source
	started bool

	factsMu sync.Mutex
	// vmLocks orders each VM's updates from its facts to their Put
	// (facts.go).
	vmLocks keyLocks[types.NamespacedName]
	facts   map[types.NamespacedName]model.Facts
	// dropped counts, per VM, what the core left out of its status
	// (facts.go), apart from its facts: a source may replace those whole.
	dropped map[types.NamespacedName]int64
	// uids remembers each followed VM's UID, to forget its Event series
	// once it is deleted (a deleted VM can no longer be read).
	uids map[types.NamespacedName]types.UID
	// silenced counts, per VM, the occurrences its event policy silenced,
	// apart from its facts as dropped is.
	silenced map[types.NamespacedName]int64
	// policies remembers each followed VM's spec.eventPolicy (eventpolicy.go).
	policies map[types.NamespacedName]*vmv1.EventPolicy
	// invalidLogged holds the VMs whose status the apiserver refused as
	// invalid, logged once each (statusInvalid).
	invalidLogged sync.Map
	// remediating remembers the remediation requests this process took
	// up (remediate.go).
	remediating remediations
}

// New wires an agent core into the manager: the VM reconciler, the status
// and Event writers (and their spool) and the heartbeat Lease. Sources are
// added with Add before the manager starts.
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
	if cfg.SilenceEvents == nil {
		cfg.SilenceEvents = DefaultSilenceEvents
	}
	a := &Agent{
		cfg:    cfg,
		client: mgr.GetClient(),
		events: NewEvents(mgr.GetClient(), cfg.NodeName),
		facts:  map[types.NamespacedName]model.Facts{},
		uids:   map[types.NamespacedName]types.UID{},
	}
	a.events.Observe = observe("event")
	a.events.Refused = a.countRefused
	a.status = NewCoalescer("status", cfg.StatusInterval, a.writeStatus)
	// One gate for both writers: their lanes are the agent's, not each
	// writer's (WriteGate).
	gate := NewWriteGate(writeConcurrency, counterConcurrency)
	a.status.UseGate(gate, LaneCounters)
	a.events.UseGate(gate)
	if cfg.SpoolDir != "" {
		if err := a.useSpool(mgr, cfg.SpoolDir); err != nil {
			return nil, err
		}
	}
	if err := mgr.Add(a); err != nil {
		return nil, err
	}
	if err := mgr.Add(&Heartbeat{Client: mgr.GetAPIReader(), Writer: a.client, Node: cfg.NodeName, Namespace: cfg.Namespace}); err != nil {
		return nil, err
	}
	return a, ctrl.NewControllerManagedBy(mgr).
		For(&vmv1.VirtualMachine{}).
		Named("agent").
		Complete(a)
}

// Add makes the agent run a source, built with the agent as its
// Publisher. It must be called before the manager starts.
func (a *Agent) Add(s source.Source) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("sources must be added before the agent starts")
	}
	a.sources = append(a.sources, s)
	return nil
}

// Start runs the writers and the sources until ctx ends, then stops every
// source and only then the writers, so that what the sources told last is
// written (or spooled) too.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	a.started = true
	sources := a.sources
	a.mu.Unlock()

	writers, stopWriters := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWriters()
	var writing sync.WaitGroup
	writing.Add(2)
	go func() { defer writing.Done(); a.status.Run(writers, statusWorkers) }()
	go func() { defer writing.Done(); a.events.Run(writers) }()

	// A source that fails for good stops the others and the agent, as any
	// runnable failing stops the manager.
	sctx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	failed := make(chan error, len(sources))
	var running sync.WaitGroup
	for _, s := range sources {
		running.Add(1)
		go func() {
			defer running.Done()
			if err := s.Start(sctx); err != nil && sctx.Err() == nil {
				failed <- fmt.Errorf("source %s: %w", s.Name(), err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
	}
	// An action in flight needs its source's connection, and its outcome
	// is worth writing: it is waited for (it is bounded) before the
	// sources stop.
	a.remediating.stop()
	stopSources()
	running.Wait()
	stopWriters()
	writing.Wait()
	a.closeSpool()
	return err
}

// statusWorkers is how many status writes may be under way at once,
// waiting at the agent's WriteGate or in flight. The gate, not this number,
// decides who is served when the apiserver cannot keep up: urgent facts
// and fault Events first, counters and Normal Events with what is left. A
// status apply costs the apiserver more than an Event, and a VM's status
// coalesces while it waits: half the Event writers. (As many as the gate's
// places, 32, was tried: the facts did not reach the status sooner in the
// bench's scenario 2, and the storm's conditions came later.)
const statusWorkers = 16

// NeedLeaderElection is false: every node's agent runs.
func (a *Agent) NeedLeaderElection() bool { return false }

// followers are the sources that act on each VirtualMachine.
func (a *Agent) followers() []source.Follower {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []source.Follower
	for _, s := range a.sources {
		if f, ok := s.(source.Follower); ok {
			out = append(out, f)
		}
	}
	return out
}

// remediator is the source named name that can act on VMs, or nil.
func (a *Agent) remediator(name string) source.Remediator {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.sources {
		if r, ok := s.(source.Remediator); ok && s.Name() == name {
			return r
		}
	}
	return nil
}

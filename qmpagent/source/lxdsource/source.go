package lxdsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/backoff"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// Config configures a Source.
type Config struct {
	// Socket is LXD's unix socket ($LXD_DIR/unix.socket).
	Socket string
	// IgnoreLogging does not follow LXD's logging events. They are
	// followed by default, and those at warning and above published
	// (LXD sends every level; the lower ones are dropped on arrival).
	IgnoreLogging bool
	// StateFile, when set, keeps the instances' renames across agent
	// restarts (see state.go); empty keeps them in memory only.
	StateFile string
	// MinBackoff and MaxBackoff bound the wait between connection
	// attempts (200 ms and 30 s when zero).
	MinBackoff, MaxBackoff time.Duration
	// RefreshInterval is how often VirtualMachines created since the last
	// look are told the stream's state (5 s when zero).
	RefreshInterval time.Duration
	// MaxMessageBytes bounds one message of the stream (1 MiB when zero);
	// a larger one is counted and skipped.
	MaxMessageBytes int
	// DiscoverNamespace, when set, turns discovery on: a VirtualMachine is
	// created there for every instance LXD has that none names (of the
	// projects the namespace is granted).
	DiscoverNamespace string
	// Tenancy says which projects a VM's namespace may reach (the zero
	// value: the project named like the namespace).
	Tenancy source.Tenancy
	// Log is the source's logger.
	Log logr.Logger
}

// Source follows LXD's event stream and publishes it. Its state is kept by
// the one goroutine that runs Start.
type Source struct {
	cfg Config
	pub source.Publisher

	up        bool
	lastError string
	// gen changes whenever the connection state does; told[uid] is what
	// a VM was last told, so each VM is told each state once.
	gen  int
	told map[types.UID]told
	// claims gives each instance to one VM.
	claims source.Claims
	// connectedIn[uid] is the connection a VM was last told Connected in,
	// to count its reconnects.
	connectedIn map[types.UID]int
	connections int

	// member is this LXD's cluster member name, "" when standalone.
	member string

	// aliases maps an instance's current name to the name it had when a
	// VirtualMachine could have named it: renames follow the instance.
	aliases map[Instance]alias
	// states are the instances' run states (LXD status word as reason),
	// and uuids their LXD UUIDs, by current name.
	states map[Instance]runState
	uuids  map[Instance]string

	// remedies are the instances Remediate may act on (remediate.go).
	remedies remedies
}

// New returns a source publishing through pub.
func New(pub source.Publisher, cfg Config) *Source {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 5 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 1 << 20
	}
	return &Source{
		cfg: cfg, pub: pub,
		told: map[types.UID]told{}, connectedIn: map[types.UID]int{},
		aliases: map[Instance]alias{}, states: map[Instance]runState{}, uuids: map[Instance]string{},
	}
}

var (
	_ source.Source     = (*Source)(nil)
	_ source.Remediator = (*Source)(nil)
)

// Name implements source.Source.
func (s *Source) Name() string { return vmv1.SourceLXD }

// eventsPath is the stream's request path.
func (s *Source) eventsPath() string {
	types := "lifecycle,operation"
	if !s.cfg.IgnoreLogging {
		types += ",logging"
	}
	return "/1.0/events?type=" + types + "&all-projects=true"
}

// Start follows the stream until ctx ends, reconnecting with capped
// exponential backoff and jitter. Nothing LXD sends ends it.
func (s *Source) Start(ctx context.Context) error {
	s.loadState()
	// Once it stops following, Remediate acts on nothing.
	defer s.remedies.set(nil, "")
	for attempt := 0; ; attempt++ {
		err := s.connectOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			attempt = 0
			err = errors.New("LXD closed the event stream")
		}
		s.setDown(ctx, err)
		if !s.wait(ctx, backoff.Delay(attempt, s.cfg.MinBackoff, s.cfg.MaxBackoff)) {
			return nil
		}
	}
}

type message struct {
	data []byte
	err  error
}

// connectOnce runs one connection. It returns nil when the stream was up
// and then ended, else why it could not be opened.
func (s *Source) connectOnce(ctx context.Context) (err error) {
	ws, err := dialEvents(ctx, s.cfg.Socket, s.eventsPath(), s.cfg.MaxMessageBytes)
	if err != nil {
		return err
	}
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	defer stop()

	s.connections++
	if s.connections > 1 {
		reconnects.Inc()
	}
	connected.Set(1)
	defer connected.Set(0)
	s.cfg.Log.Info("following LXD events", "socket", s.cfg.Socket, "connection", s.connections)

	// The stream is up before the member and the states are read: no
	// change is missed between the two.
	s.readMember(ctx)
	if err := s.syncStates(ctx); err != nil {
		s.cfg.Log.Info("could not read the instances' states; events will tell them", "error", err.Error())
	}
	s.up, s.lastError = true, ""
	s.gen++
	s.refresh(ctx)

	msgs := make(chan message, 64)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			data, err := ws.ReadMessage()
			select {
			case msgs <- message{data, err}:
			case <-done:
				return
			}
			if err != nil && !errors.Is(err, ErrMessageTooLarge) {
				return
			}
		}
	}()
	tick := time.NewTicker(s.cfg.RefreshInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.refresh(ctx)
		case m := <-msgs:
			if errors.Is(m.err, ErrMessageTooLarge) {
				framesMalformed.WithLabelValues("too-large").Inc()
				s.cfg.Log.Info("skipping an LXD event over the size limit", "limit", s.cfg.MaxMessageBytes)
				continue
			}
			if m.err != nil {
				s.cfg.Log.Info("LXD event stream ended", "reason", m.err.Error())
				return nil
			}
			s.Handle(ctx, m.data, time.Now())
		}
	}
}

// Handle publishes one message of the stream. It never panics on input: a
// message it cannot understand is counted and logged.
func (s *Source) Handle(ctx context.Context, data []byte, received time.Time) {
	out, err := Translate(data, received)
	framesReceived.WithLabelValues(frameTypeLabel(out.Type)).Inc()
	if err != nil {
		framesMalformed.WithLabelValues("invalid").Inc()
		s.cfg.Log.Info("skipping a malformed LXD event", "error", err.Error(), "message", model.Clean(string(data), 256))
		return
	}
	if out.Target == TargetNone {
		return
	}
	occ := out.Occurrence
	if out.Type == "lifecycle" && clusterChange(occ.Action) {
		// Clustering enabled or this member renamed: its events may
		// carry a new location from now on.
		was := s.member
		s.readMember(ctx)
		if out.Location == was && was != "" {
			out.Location = s.member
		}
	}
	if !s.ours(out.Location) {
		otherMember.Inc()
		return
	}
	metrics.EventsReceived.WithLabelValues(vmv1.SourceLXD, MetricName(occ.Action)).Inc()
	if out.Target == TargetNode {
		s.pub.Publish(s.pub.Node(), occ, vmv1.SourceLXD)
		return
	}
	inst := out.Instance
	if out.OldName != "" {
		s.renamed(Instance{Project: inst.Project, Name: out.OldName}, inst)
	}
	if out.RunState != "" {
		s.states[inst] = runState{out.RunState, out.RunStateReason}
	}
	vm, ok := s.find(ctx, inst)
	if occ.Action == "instance-deleted" {
		s.forget(inst)
	}
	if !ok {
		unmatched.Inc()
		return
	}
	if vm.Spec.LXD.Instance != inst.Name {
		occ.Note = model.Clean(fmt.Sprintf("%s; this VirtualMachine names the instance %s (spec.lxd.instance) and follows it under its new name",
			occ.Note, vm.Spec.LXD.Instance), model.MaxNoteBytes)
	}
	t := source.TargetOf(&vm)
	coalesced := s.pub.Publish(t.Ref, occ, vmv1.SourceLXD)
	s.pub.UpdateFacts(t.Key, func(f *model.Facts) {
		f.Count(occ.Action, 1)
		if coalesced {
			f.Delivery.Coalesced++
		}
		if out.RunState != "" {
			f.SetRunState(out.RunState, out.RunStateReason, occ.Time)
		}
		if occ.Time.After(f.Monitor.LastEventTime) {
			f.Monitor.LastEventTime = occ.Time
		}
		s.monitorFacts(f, inst.Name)
	})
}

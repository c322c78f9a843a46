package lxdsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/backoff"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// Publisher is the agent as the source uses it (qmpagent.Publisher).
type Publisher interface {
	UpdateFacts(key types.NamespacedName, update func(f *model.Facts))
	Publish(regarding corev1.ObjectReference, occ model.Occurrence, source string) (coalesced bool)
	VirtualMachines(ctx context.Context) ([]vmv1.VirtualMachine, error)
	Node() corev1.ObjectReference
	CreateVirtualMachine(ctx context.Context, vm *vmv1.VirtualMachine) error
}

// Config configures a Source.
type Config struct {
	// Socket is LXD's unix socket ($LXD_DIR/unix.socket).
	Socket string
	// Logging also follows logging events, publishing those at warning
	// and above.
	Logging bool
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
	// created there for every instance LXD has that none names.
	DiscoverNamespace string
	// Log is the source's logger.
	Log logr.Logger
}

// SourceName labels the facts and metrics of this source.
const SourceName = "lxd"

// Source follows LXD's event stream and publishes it. Its state is kept by
// the one goroutine that runs Start.
type Source struct {
	cfg Config
	pub Publisher

	up        bool
	lastError string
	// gen changes whenever the connection state does; told[uid] is the
	// gen a VM was last told, so each VM is told each state once.
	gen  int
	told map[types.UID]int
	// connectedIn[uid] is the connection a VM was last told Connected in,
	// to count its reconnects.
	connectedIn map[types.UID]int
	connections int

	// aliases maps an instance's current name to the name it had when a
	// VirtualMachine could have named it: renames follow the instance.
	aliases map[Instance]Instance
	// states are the instances' run states (LXD status word as reason),
	// by current name.
	states map[Instance]runState
}

// New returns a source publishing through pub.
func New(pub Publisher, cfg Config) *Source {
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
		told: map[types.UID]int{}, connectedIn: map[types.UID]int{},
		aliases: map[Instance]Instance{}, states: map[Instance]runState{},
	}
}

// NeedLeaderElection is false: every node follows its own LXD.
func (s *Source) NeedLeaderElection() bool { return false }

// eventsPath is the stream's request path.
func (s *Source) eventsPath() string {
	types := "lifecycle,operation"
	if s.cfg.Logging {
		types += ",logging"
	}
	return "/1.0/events?type=" + types + "&all-projects=true"
}

// Start follows the stream until ctx ends, reconnecting with capped
// exponential backoff and jitter. Nothing LXD sends ends it.
func (s *Source) Start(ctx context.Context) error {
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

	// The stream is up before the states are read: no change is missed
	// between the two.
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
	out, err := Translate(data, received, Options{Logging: s.cfg.Logging})
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
	metrics.EventsReceived.WithLabelValues(SourceName, MetricName(occ.Action)).Inc()
	if out.Target == TargetNode {
		s.pub.Publish(s.pub.Node(), occ, SourceName)
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
		delete(s.states, inst)
		delete(s.aliases, inst)
	}
	if !ok {
		unmatched.Inc()
		return
	}
	if vm.Spec.LXD.Instance != inst.Name {
		occ.Note = model.Clean(fmt.Sprintf("%s; this VirtualMachine names the instance %s (spec.lxd.instance) and follows it under its new name",
			occ.Note, vm.Spec.LXD.Instance), model.MaxNoteBytes)
	}
	ref := corev1.ObjectReference{
		APIVersion: vmv1.GroupVersion.String(), Kind: "VirtualMachine",
		Namespace: vm.Namespace, Name: vm.Name, UID: vm.UID,
	}
	coalesced := s.pub.Publish(ref, occ, SourceName)
	s.pub.UpdateFacts(types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}, func(f *model.Facts) {
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

// renamed moves what is known of an instance to its new name.
func (s *Source) renamed(old, cur Instance) {
	orig := old
	if a, ok := s.aliases[old]; ok {
		orig = a
		delete(s.aliases, old)
	}
	if orig != cur {
		s.aliases[cur] = orig
	} else {
		delete(s.aliases, cur)
	}
	if st, ok := s.states[old]; ok {
		s.states[cur] = st
		delete(s.states, old)
	}
}

// find returns the VirtualMachine of an instance: the one naming the name
// the instance had before renames, else the one naming its current name.
func (s *Source) find(ctx context.Context, inst Instance) (vmv1.VirtualMachine, bool) {
	vms, err := s.pub.VirtualMachines(ctx)
	if err != nil {
		s.cfg.Log.Info("could not list VirtualMachines", "error", err.Error())
		return vmv1.VirtualMachine{}, false
	}
	names := []Instance{inst}
	if orig, ok := s.aliases[inst]; ok {
		names = []Instance{orig, inst}
	}
	for _, want := range names {
		for _, vm := range vms {
			if vm.DeletionTimestamp.IsZero() && vm.Spec.LXD != nil && instanceOf(&vm) == want {
				return vm, true
			}
		}
	}
	return vmv1.VirtualMachine{}, false
}

func instanceOf(vm *vmv1.VirtualMachine) Instance {
	p := vm.Spec.LXD.Project
	if p == "" {
		p = DefaultProject
	}
	return Instance{Project: p, Name: vm.Spec.LXD.Instance}
}

// currentName is the name an instance a VM names goes by now.
func (s *Source) currentName(spec Instance) Instance {
	for cur, orig := range s.aliases {
		if orig == spec {
			return cur
		}
	}
	return spec
}

// monitorFacts records the stream's state in a VM's facts.
func (s *Source) monitorFacts(f *model.Facts, name string) {
	f.Monitor.Source = SourceName
	f.Monitor.Endpoint = model.Clean(s.cfg.Socket, 512)
	if name != "" {
		f.Monitor.VMName = model.Clean(name, 256)
	}
	if s.up {
		f.SetMonitorState(vmv1.MonitorConnected, time.Now())
		f.Monitor.LastError = ""
	} else {
		f.SetMonitorState(vmv1.MonitorDisconnected, time.Now())
		f.Monitor.LastError = s.lastError
	}
}

// setDown marks the stream down for every VM.
func (s *Source) setDown(ctx context.Context, err error) {
	if s.up || s.lastError == "" {
		s.cfg.Log.Info("LXD event stream down; retrying", "socket", s.cfg.Socket, "error", err.Error())
	}
	msg := model.Clean(err.Error(), 1024)
	if s.up || msg != s.lastError {
		s.gen++
	}
	s.up, s.lastError = false, msg
	s.refresh(ctx)
}

// refresh tells the stream's state (and, when up, the instance's run
// state) to every LXD VirtualMachine not yet told it.
func (s *Source) refresh(ctx context.Context) {
	vms, err := s.pub.VirtualMachines(ctx)
	if err != nil {
		return
	}
	present := make(map[types.UID]bool, len(vms))
	for i := range vms {
		vm := &vms[i]
		if vm.Spec.LXD == nil || !vm.DeletionTimestamp.IsZero() {
			continue
		}
		present[vm.UID] = true
		if s.told[vm.UID] == s.gen {
			continue
		}
		s.told[vm.UID] = s.gen
		cur := s.currentName(instanceOf(vm))
		st, known := s.states[cur]
		reconnected := false
		if s.up {
			reconnected = s.connectedIn[vm.UID] != 0 && s.connectedIn[vm.UID] != s.connections
			s.connectedIn[vm.UID] = s.connections
		}
		up := s.up
		s.pub.UpdateFacts(types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}, func(f *model.Facts) {
			if reconnected {
				f.Monitor.Reconnects++
			}
			if up && known {
				f.SetRunState(st.state, st.reason, time.Now())
			} else if up && f.RunState == "" {
				// LXD does not know the instance (yet).
				f.SetRunState(vmv1.RunStateUnknown, "NotFound", time.Now())
			}
			s.monitorFacts(f, cur.Name)
		})
	}
	for uid := range s.told {
		if !present[uid] {
			delete(s.told, uid)
			delete(s.connectedIn, uid)
		}
	}
	s.discover(ctx, vms)
}

// discover creates a VirtualMachine for every instance LXD has that no
// VirtualMachine of this node names (opt-in: Config.DiscoverNamespace).
func (s *Source) discover(ctx context.Context, vms []vmv1.VirtualMachine) {
	if s.cfg.DiscoverNamespace == "" || !s.up {
		return
	}
	watched := map[Instance]bool{}
	for i := range vms {
		if vms[i].Spec.LXD != nil {
			watched[s.currentName(instanceOf(&vms[i]))] = true
		}
	}
	node := s.pub.Node().Name
	for inst, st := range s.states {
		if watched[inst] || st.reason == "Deleted" {
			continue
		}
		vm := &vmv1.VirtualMachine{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: s.cfg.DiscoverNamespace,
				Name:      qmpagent.DiscoveredName(inst.Name, "lxd:"+inst.Project+"/"+inst.Name, node),
			},
			Spec: vmv1.VirtualMachineSpec{NodeName: node, LXD: &vmv1.LXDSource{Instance: inst.Name, Project: inst.Project}},
		}
		if err := s.pub.CreateVirtualMachine(ctx, vm); err != nil {
			s.cfg.Log.Info("not discovered", "instance", inst.Project+"/"+inst.Name, "reason", err.Error())
		}
	}
}

// syncStates reads every instance's status from LXD's REST API.
func (s *Source) syncStates(ctx context.Context) error {
	var d net.Dialer
	hc := &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", s.cfg.Socket)
			},
			DisableKeepAlives: true,
		},
		Timeout: 30 * time.Second,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://lxd/1.0/instances?recursion=1&all-projects=true", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /1.0/instances: %s", resp.Status)
	}
	var body struct {
		Metadata []struct {
			Name    string `json:"name"`
			Project string `json:"project"`
			Status  string `json:"status"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body); err != nil {
		return fmt.Errorf("reading GET /1.0/instances: %w", err)
	}
	states := make(map[Instance]runState, len(body.Metadata))
	for _, i := range body.Metadata {
		p := i.Project
		if p == "" {
			p = DefaultProject
		}
		if i.Name == "" || len(i.Name) > maxName || len(p) > maxName {
			continue
		}
		status := model.Clean(i.Status, 32)
		states[Instance{Project: model.Clean(p, maxName), Name: model.Clean(i.Name, maxName)}] = runState{RunStateOf(i.Status), status}
	}
	s.states = states
	return nil
}

// wait sleeps d, still telling new VMs the stream is down; false when ctx ended.
func (s *Source) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(s.cfg.RefreshInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-tick.C:
			s.refresh(ctx)
		}
	}
}

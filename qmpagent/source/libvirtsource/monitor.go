package libvirtsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/backoff"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// MonitorConfig configures the libvirtd connection.
type MonitorConfig struct {
	// URI is libvirtd's, e.g. qemu:///system or
	// qemu:///system?socket=/run/libvirt/libvirt-sock.
	URI string
	// MinBackoff and MaxBackoff bound reconnect waits (200 ms and 30 s
	// when zero); each wait has ±50% jitter.
	MinBackoff, MaxBackoff time.Duration
	// Rescan is how often the VirtualMachines are looked at for domains
	// to subscribe to (2 s when zero); domain definitions also trigger it.
	Rescan time.Duration
	// AuditOn says the audit log source runs too: libvirt's own start and
	// stop events then only update facts, the audit records tell them.
	AuditOn bool
	// Discovery, when set, creates VirtualMachines for unknown domains
	// that libvirt's lifecycle events tell of.
	Discovery *Discovery
	// Tenancy says which domains a VM's namespace may reach (the zero
	// value: those named "<namespace>.*").
	Tenancy source.Tenancy
}

// Monitor follows libvirtd: the QEMU monitor events of every domain a
// VirtualMachine of the node names in spec.libvirt.domain, fed through the
// same mapping as a direct QMP socket (model.ApplyQMP), and libvirt's
// lifecycle and other domain events for what QMP does not tell (definition,
// start, stop, control errors, device changes).
type Monitor struct {
	cfg      MonitorConfig
	pub      source.Publisher
	resolver *resolver
	log      logr.Logger
	now      func() time.Time
	// claims gives each domain to one VM; refused is why each VM refused
	// was told it was (state of the session's goroutine).
	claims  source.Claims
	refused map[types.NamespacedName]string
	// live is the session's connection while it is up, for Remediate.
	live liveConn
}

var (
	_ source.Source     = (*Monitor)(nil)
	_ source.Remediator = (*Monitor)(nil)
)

// NewMonitor builds the libvirtd source.
func NewMonitor(p source.Publisher, cfg MonitorConfig) (*Monitor, error) {
	if _, err := url.Parse(cfg.URI); err != nil || cfg.URI == "" {
		return nil, fmt.Errorf("bad libvirt URI %q", cfg.URI)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Rescan <= 0 {
		cfg.Rescan = 2 * time.Second
	}
	return &Monitor{cfg: cfg, pub: p, resolver: &resolver{pub: p, discovery: cfg.Discovery, tenancy: cfg.Tenancy},
		log: ctrl.Log.WithName("libvirt"), now: time.Now, refused: map[types.NamespacedName]string{}}, nil
}

// Name implements source.Source.
func (m *Monitor) Name() string { return vmv1.SourceLibvirt }

// Start connects, follows and reconnects until ctx ends.
func (m *Monitor) Start(ctx context.Context) error {
	connectedBefore := false
	for attempt := 0; ; attempt++ {
		made, err := m.session(ctx, connectedBefore)
		if ctx.Err() != nil {
			return nil
		}
		if made {
			connectedBefore, attempt = true, 0
		}
		m.log.Info("libvirtd connection lost or refused; retrying", "uri", m.cfg.URI, "reason", errString(err))
		if !backoff.Sleep(ctx, backoff.Delay(attempt, m.cfg.MinBackoff, m.cfg.MaxBackoff)) {
			return nil
		}
	}
}

// subscription is one domain's QEMU monitor event stream.
type subscription struct {
	domain string
	t      source.Target
	cancel context.CancelFunc
	done   chan struct{}
}

// qemuEvent is a QEMU monitor event of a subscribed domain.
type qemuEvent struct {
	sub *subscription
	ev  libvirt.DomainEvent
}

// session runs one connection; made says whether it was made.
func (m *Monitor) session(ctx context.Context, reconnect bool) (made bool, err error) {
	l, err := connect(m.cfg.URI)
	if err != nil {
		return false, err
	}
	sctx, cancel := context.WithCancel(ctx)
	subs := map[string]*subscription{}
	var wg sync.WaitGroup
	m.live.set(l)
	defer func() {
		m.live.set(nil)
		cancel()
		_ = l.Disconnect()
		wg.Wait()
		connected.Set(0)
		for _, s := range subs {
			<-s.done
			subscriptions.Dec()
			m.setMonitor(s, vmv1.MonitorDisconnected, err)
		}
	}()
	connected.Set(1)
	if reconnect {
		reconnects.Inc()
	}
	m.log.Info("connected to libvirtd", "uri", m.cfg.URI)

	lifecycle, err := l.LifecycleEvents(sctx)
	if err != nil {
		return true, fmt.Errorf("subscribing to lifecycle events: %w", err)
	}
	domainEvents, err := subscribeDomainEvents(sctx, l, &wg)
	if err != nil {
		return true, err
	}
	events := make(chan qemuEvent)
	ended := make(chan *subscription)
	rescan := time.NewTicker(m.cfg.Rescan)
	defer rescan.Stop()

	subscribe := func(force map[string]bool) {
		vms, err := m.pub.VirtualMachines(sctx)
		if err != nil {
			return
		}
		wanted := map[string]source.Target{}
		present := map[types.NamespacedName]bool{}
		for i := range vms {
			vm := &vms[i]
			if d := vm.Spec.Libvirt; d == nil || d.Domain == "" || !vm.DeletionTimestamp.IsZero() {
				continue
			}
			key := types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}
			present[key] = true
			if err := m.admit(l, vm); err != nil {
				m.refuse(vm, err)
				continue
			}
			delete(m.refused, key)
			wanted[vm.Spec.Libvirt.Domain] = source.TargetOf(vm)
		}
		m.claims.Retain(present)
		for key := range m.refused {
			if !present[key] {
				delete(m.refused, key)
			}
		}
		for name, s := range subs {
			if t, ok := wanted[name]; !ok || force[name] || t.Ref.UID != s.t.Ref.UID {
				s.cancel()
			}
		}
		for name, t := range wanted {
			if _, ok := subs[name]; ok {
				continue
			}
			s, err := m.subscribe(sctx, l, name, t, events, ended, &wg)
			if err != nil {
				m.log.V(1).Info("not subscribed yet", "domain", name, "reason", err.Error())
				continue
			}
			subs[name] = s
			subscriptions.Inc()
		}
	}
	subscribe(nil)
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case <-l.Disconnected():
			return true, errors.New("libvirtd closed the connection")
		case <-rescan.C:
			subscribe(nil)
		case s := <-ended:
			if subs[s.domain] == s {
				delete(subs, s.domain)
				subscriptions.Dec()
				m.setMonitor(s, vmv1.MonitorDisconnected, nil)
			}
		case qe := <-events:
			m.handleQEMU(sctx, l, qe)
		case msg := <-domainEvents:
			if e, ok := readDomainEvent(l, msg); ok {
				_, followed := subs[e.dom.Name]
				m.handleDomainEvent(sctx, e, followed)
			}
		case ev, ok := <-lifecycle:
			if !ok {
				return true, errors.New("the lifecycle event stream ended")
			}
			if m.handleLifecycle(sctx, l, ev) {
				// A domain was (re)defined: its UUID may be new.
				subscribe(map[string]bool{ev.Dom.Name: true})
			}
		}
	}
}

// subscribe starts one domain's QEMU monitor event stream.
func (m *Monitor) subscribe(ctx context.Context, l *libvirt.Libvirt, name string, t source.Target,
	events chan<- qemuEvent, ended chan<- *subscription, wg *sync.WaitGroup) (*subscription, error) {
	dctx, cancel := context.WithCancel(ctx)
	ch, err := l.SubscribeQEMUEvents(dctx, name)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &subscription{domain: name, t: t, cancel: cancel, done: make(chan struct{})}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(s.done)
		// Drain until the library closes the stream, so that its sender
		// never blocks.
		for ev := range ch {
			select {
			case events <- qemuEvent{sub: s, ev: ev}:
			case <-ctx.Done():
			}
		}
		select {
		case ended <- s:
		case <-ctx.Done():
		}
	}()
	m.sync(l, s)
	return s, nil
}

// sync records the domain's identity and run state when its stream starts.
func (m *Monitor) sync(l *libvirt.Libvirt, s *subscription) {
	dom, err := l.DomainLookupByName(s.domain)
	state, reason := int32(-1), int32(0)
	if err == nil {
		state, reason, _ = l.DomainGetState(dom, 0)
	}
	now := m.now()
	m.pub.UpdateFacts(s.t.Key, func(f *model.Facts) {
		m.monitorFacts(f, s, vmv1.MonitorConnected, nil, now)
		if err == nil {
			f.Monitor.VMUUID = formatUUID(dom.UUID)
		}
		if rs, why := runState(state, reason); rs != "" {
			f.SetRunState(rs, why, now)
		}
	})
}

func (m *Monitor) setMonitor(s *subscription, state vmv1.MonitorState, err error) {
	now := m.now()
	m.pub.UpdateFacts(s.t.Key, func(f *model.Facts) { m.monitorFacts(f, s, state, err, now) })
}

func (m *Monitor) monitorFacts(f *model.Facts, s *subscription, state vmv1.MonitorState, err error, now time.Time) {
	if f.Monitor.Source == vmv1.SourceLibvirt && state == vmv1.MonitorConnected && f.Monitor.State != vmv1.MonitorConnected && !f.Monitor.Since.IsZero() {
		f.Monitor.Reconnects++
	}
	f.SetMonitorState(state, now)
	f.Monitor.Source = vmv1.SourceLibvirt
	f.Monitor.Endpoint = model.Clean(m.cfg.URI, 512)
	f.Monitor.VMName = model.Clean(s.domain, model.MaxFieldBytes)
	if err != nil {
		f.Monitor.LastError = model.Clean(err.Error(), 1024)
	}
	if state == vmv1.MonitorConnected {
		f.Monitor.LastError = ""
	}
}

// handleQEMU feeds a QEMU monitor event through the QMP mapping.
func (m *Monitor) handleQEMU(ctx context.Context, l *libvirt.Libvirt, qe qemuEvent) {
	ev := qmp.Event{
		Name:      qe.ev.Event,
		Timestamp: qmp.Timestamp{Seconds: int64(qe.ev.Seconds), Microseconds: int64(qe.ev.Microseconds)},
	}
	if d := strings.TrimSpace(string(qe.ev.Details)); d != "" && d != "null" {
		if json.Valid([]byte(d)) {
			ev.Data = json.RawMessage(d)
		} else {
			malformed.WithLabelValues("monitor").Inc()
			m.log.Info("QEMU event with details that are not JSON", "domain", qe.sub.domain, "event", model.Clean(qe.ev.Event, 64))
		}
	}
	if ev.Name == "" {
		malformed.WithLabelValues("monitor").Inc()
		return
	}
	m.log.V(1).Info("QEMU event", "domain", qe.sub.domain, "event", model.Clean(ev.Name, 64))
	var res model.QMPResult
	m.pub.UpdateFacts(qe.sub.t.Key, func(f *model.Facts) { res = model.ApplyQMP(f, ev, m.now()) })
	metrics.EventsReceived.WithLabelValues(vmv1.SourceLibvirt, model.QMPMetricName(ev.Name)).Inc()
	source.Tell(m.pub, qe.sub.t, res.Occurrence, vmv1.SourceLibvirt)
	if res.Resync {
		// QMP would be asked query-status; libvirt knows the state.
		m.syncRunState(l, qe.sub.domain, qe.sub.t.Key)
	}
}

// syncRunState reads a domain's run state from libvirt into its facts.
func (m *Monitor) syncRunState(l *libvirt.Libvirt, domain string, key types.NamespacedName) {
	dom, err := l.DomainLookupByName(domain)
	if err != nil {
		return
	}
	state, reason, err := l.DomainGetState(dom, 0)
	if err != nil {
		return
	}
	if rs, why := runState(state, reason); rs != "" {
		now := m.now()
		m.pub.UpdateFacts(key, func(f *model.Facts) {
			f.SetRunState(rs, why, now)
			f.Delivery.Resyncs++
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "closed"
	}
	return err.Error()
}

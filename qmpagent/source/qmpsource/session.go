package qmpsource

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/backoff"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// Sink receives what a session learns.
type Sink interface {
	// Facts receives a snapshot of the facts after every change; the sink
	// owns it.
	Facts(f model.Facts)
	// Occurred publishes an occurrence and reports whether it was folded
	// into an existing Event series.
	Occurred(o model.Occurrence) (coalesced bool)
}

// Session follows one VM's QMP socket until its context ends: connect,
// re-sync, stream events; when QEMU goes away, mark the monitor disconnected
// and reconnect with capped exponential backoff and jitter.
type Session struct {
	// SocketPath is the QMP socket from the VM's spec.
	SocketPath string
	// Roots are the folders sockets are trusted under, and Folder the
	// one beneath each root the VM's namespace is granted ("" for the
	// whole root: source.Tenancy.SocketFolder).
	Roots  []string
	Folder string
	// UUID is the VM's spec.uuid: when set, a QEMU reporting another
	// UUID is refused before anything of it is read.
	UUID string
	// Claims, when set, gives each resolved socket to one VM, Key: a
	// socket another VM claimed first is refused.
	Claims *source.Claims
	Key    types.NamespacedName
	// Sink receives facts and occurrences.
	Sink Sink
	// Facts are the facts to start from: what was published before, so
	// counters continue.
	Facts model.Facts
	// QMP configures the client.
	QMP qmp.Options
	// MinBackoff and MaxBackoff bound the wait between connection attempts.
	MinBackoff, MaxBackoff time.Duration
	// Log is the session's logger.
	Log logr.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Live, when set, holds the connection while it is up and verified
	// (its socket trusted and claimed, its UUID checked): the one a
	// remediation may act through (Source.Remediate).
	Live *atomic.Pointer[qmp.Conn]
}

func (s *Session) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Run follows the socket until ctx ends.
func (s *Session) Run(ctx context.Context) {
	if s.MinBackoff <= 0 {
		s.MinBackoff = 200 * time.Millisecond
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 30 * time.Second
	}
	f := s.startingFacts()
	connectedBefore := false
	for attempt := 0; ; attempt++ {
		err := s.connectOnce(ctx, f, connectedBefore)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			connectedBefore, attempt = true, 0
		}
		state := vmv1.MonitorDisconnected
		if errors.Is(err, ErrUntrusted) || source.Refused(err) {
			state = vmv1.MonitorRefused
			if s.Claims != nil && !errors.Is(err, source.ErrInUse) {
				// A VM refused for what it names holds nothing.
				s.Claims.Release(s.Key)
			}
		}
		s.setMonitor(f, state, err)
		if !backoff.Sleep(ctx, backoff.Delay(attempt, s.MinBackoff, s.MaxBackoff)) {
			return
		}
	}
}

// startingFacts returns a copy of the facts to start from, for Run to
// update.
//
// It is never inlined into Run: a Facts value passed and returned by value
// takes hundreds of bytes of the caller's stack frame, and Run's frame
// stays on the stack for the session's whole life, beneath every wait for
// an event. Kept small, the stack of an idle session can shrink to a few
// kilobytes, which matters with a thousand sessions.
//
//go:noinline
func (s *Session) startingFacts() *model.Facts {
	f := s.Facts.Clone()
	f.Monitor.Source, f.Monitor.Endpoint = vmv1.SourceQMP, s.SocketPath
	return &f
}

// connectOnce runs one connection from dial to its end. It returns nil when
// a connection was made and later lost, ctx's error when the session was
// told to stop, otherwise why no connection was made.
//
// The session waits for events beneath this frame for as long as the
// connection lasts, so the work that needs large frames (setting up,
// logging, publishing) is done in the functions it calls: an idle
// session's stack can then shrink to a few kilobytes, which matters with
// a thousand sessions.
func (s *Session) connectOnce(ctx context.Context, f *model.Facts, reconnect bool) error {
	conn, path, err := s.connect(ctx, f, reconnect)
	if err != nil {
		return err
	}
	// No defers: their records would sit in this frame for the
	// connection's life (and a panic ends the agent anyway).
	if s.Live != nil {
		s.Live.Store(conn)
	}
	err = s.follow(ctx, conn, f)
	if s.Live != nil {
		s.Live.CompareAndSwap(conn, nil) // before Close: never hand out a closing conn
	}
	_ = conn.Close()
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.disconnected(conn, path, f)
	return nil
}

// follow handles the connection's events until it ends (nil) or handling
// one fails.
func (s *Session) follow(ctx context.Context, conn *qmp.Conn, f *model.Facts) error {
	// NextEvent rather than Events: the channel would cost every session a
	// goroutine and a buffer.
	for {
		ev, err := conn.NextEvent(ctx)
		if err != nil {
			return nil // the connection ended, or the session was told to stop
		}
		if err := s.handle(ctx, conn, f, ev); err != nil {
			return err
		}
	}
}

// connect dials the socket and reads QEMU's present state into f. It
// returns the connection and the socket's resolved path. Whatever would
// refuse the VM is checked before anything of QEMU's is read: the socket's
// place (OpenSocket), its holder (claimed before dialling: QEMU serves one
// client per monitor, so a second would lock the holder out) and the UUID.
func (s *Session) connect(ctx context.Context, f *model.Facts, reconnect bool) (*qmp.Conn, string, error) {
	sock, err := OpenSocket(s.SocketPath, s.Roots, s.Folder)
	if err != nil {
		return nil, "", err
	}
	defer sock.Close()
	path := sock.Path
	if s.Claims != nil {
		if err := s.Claims.Claim(path, s.Key); err != nil {
			return nil, "", err
		}
	}
	conn, err := sock.QMP(ctx, s.QMP)
	if err != nil {
		return nil, "", err
	}
	if err := s.checkUUID(ctx, conn, path); err != nil {
		_ = conn.Close()
		return nil, "", err
	}
	if reconnect {
		f.Monitor.Reconnects++
	}
	// QEMU creates its QMP socket at start-up: the socket's time tells a
	// restarted QEMU from a reconnecting agent.
	f.StartTime = sock.ModTime
	f.Delivery.Resyncs++
	if err := s.resync(ctx, conn, f, model.SyncQMP); err != nil {
		_ = conn.Close()
		return nil, "", err
	}
	s.setMonitor(f, vmv1.MonitorConnected, nil)
	s.Log.V(1).Info("connected", "socket", path, "qemu", f.Monitor.QEMUVersion)
	return conn, path, nil
}

// checkUUID compares spec.uuid, when set, with the UUID QEMU reports.
func (s *Session) checkUUID(ctx context.Context, conn *qmp.Conn, path string) error {
	if s.UUID == "" {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	uuid, err := conn.QueryUUID(qctx)
	if err != nil {
		return fmt.Errorf("query-uuid: %w", err)
	}
	return source.CheckUUID(s.UUID, uuid, "QEMU at "+path)
}

// disconnected records why a connection that was made ended.
func (s *Session) disconnected(conn *qmp.Conn, path string, f *model.Facts) {
	if err := conn.Err(); err != nil && !errors.Is(err, qmp.ErrClosed) {
		f.Monitor.LastError = model.Clean(err.Error(), 1024)
	}
	s.Log.V(1).Info("disconnected", "socket", path, "reason", conn.Err())
}

// handle applies one event (or gap) and publishes what changed.
func (s *Session) handle(ctx context.Context, conn *qmp.Conn, f *model.Facts, ev qmp.Event) error {
	if ev.Gap != nil {
		return s.handleGap(ctx, conn, f, ev.Gap)
	}
	res := model.ApplyQMP(f, ev, s.now())
	if s.Sink.Occurred(res.Occurrence) {
		f.Delivery.Coalesced++
	}
	if res.Resync {
		if err := s.resync(ctx, conn, f, model.SyncQMPStatus); err != nil {
			return err
		}
		return nil
	}
	s.tell(f)
	return nil
}

// handleGap accounts for events the QMP client shed because this session
// fell behind: counters get the exact numbers, the last event of each kind
// is applied and published (a fault in a storm still gets its Event), and
// the state is re-synced from QEMU.
func (s *Session) handleGap(ctx context.Context, conn *qmp.Conn, f *model.Facts, gap *qmp.Gap) error {
	for _, name := range gap.Names() {
		lost := int64(gap.Lost[name])
		last, ok := gap.Last[name]
		if name == qmp.OtherEvents || !ok {
			f.Count("OTHER", lost)
			f.Delivery.Shed += lost
			continue
		}
		res := model.ApplyQMP(f, last, s.now())
		res.Occurrence.Repeat = lost
		if s.Sink.Occurred(res.Occurrence) {
			f.Delivery.Coalesced++
		}
		f.Count(res.Occurrence.Action, lost-1)
		f.Delivery.Shed += lost - 1
	}
	f.Delivery.Resyncs++
	return s.resync(ctx, conn, f, model.SyncQMP)
}

// resync runs a sync function and publishes the result.
func (s *Session) resync(ctx context.Context, conn *qmp.Conn, f *model.Facts, sync func(context.Context, model.QMPMonitor, *model.Facts, time.Time) error) error {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sync(qctx, conn, f, s.now()); err != nil {
		return err
	}
	s.tell(f)
	return nil
}

func (s *Session) setMonitor(f *model.Facts, state vmv1.MonitorState, err error) {
	f.SetMonitorState(state, s.now())
	if err != nil {
		f.Monitor.LastError = model.Clean(err.Error(), 1024)
	}
	if state == vmv1.MonitorConnected {
		f.Monitor.LastError = ""
	}
	s.tell(f)
}

// tell bounds the session's facts to the status schema, counting what it
// drops once (the session keeps its facts and sends them whole each time,
// so they are bounded here, where they are kept), and hands a copy to the
// sink.
func (s *Session) tell(f *model.Facts) {
	for field, n := range f.Bound() {
		metrics.FactsDropped.WithLabelValues(field).Add(float64(n))
		f.Delivery.Dropped += n
	}
	s.Sink.Facts(f.Clone())
}

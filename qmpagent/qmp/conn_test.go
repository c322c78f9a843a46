package qmp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/qmp/qmptest"
)

// testTimeout bounds every wait in these tests. It is a safety net against
// hangs, never a measurement: no test asserts how long anything took.
const testTimeout = 30 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// script runs handler for the first client of s in a goroutine; the
// returned function waits for it and fails the test on a handler error.
func script(t *testing.T, s *qmptest.Server, handler func(*qmptest.Peer) error) (wait func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		p, err := s.Accept(ctx)
		if err != nil {
			errc <- err
			return
		}
		defer p.Close()
		errc <- handler(p)
	}()
	waited := false
	wait = func() {
		t.Helper()
		if waited {
			return
		}
		waited = true
		select {
		case err := <-errc:
			if err != nil && !qmptest.IsDisconnect(err) {
				t.Errorf("server script: %v", err)
			}
		case <-time.After(testTimeout):
			t.Errorf("server script did not finish")
		}
	}
	t.Cleanup(wait)
	return wait
}

func dial(t *testing.T, s *qmptest.Server, opts qmp.Options) *qmp.Conn {
	t.Helper()
	c, err := qmp.Dial(testContext(t), s.Path, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// receiver is one way of receiving a connection's events: ok is false
// once the stream has ended.
type receiver struct {
	name    string
	receive func(t *testing.T, c *qmp.Conn) (ev qmp.Event, ok bool)
}

// receivers are the two ways: the Events channel and NextEvent. Tests of
// the event stream run with both.
var receivers = []receiver{
	{"Events", func(t *testing.T, c *qmp.Conn) (qmp.Event, bool) {
		t.Helper()
		select {
		case ev, ok := <-c.Events():
			return ev, ok
		case <-time.After(testTimeout):
			t.Fatalf("no event and the channel did not close")
			return qmp.Event{}, false
		}
	}},
	{"NextEvent", func(t *testing.T, c *qmp.Conn) (qmp.Event, bool) {
		t.Helper()
		ev, err := c.NextEvent(testContext(t))
		switch {
		case err == nil:
			return ev, true
		case errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("no event and the stream did not end")
		case !errors.Is(err, c.Err()):
			t.Fatalf("NextEvent at the end returned %v, Err() %v", err, c.Err())
		}
		return qmp.Event{}, false
	}},
}

// next receives one event from the Events channel or fails the test.
func next(t *testing.T, c *qmp.Conn) qmp.Event {
	t.Helper()
	return receivers[0].next(t, c)
}

// drain receives from the Events channel until it closes and returns what
// it got.
func drain(t *testing.T, c *qmp.Conn) []qmp.Event {
	t.Helper()
	return receivers[0].drain(t, c)
}

// next receives one event or fails the test.
func (r receiver) next(t *testing.T, c *qmp.Conn) qmp.Event {
	t.Helper()
	ev, ok := r.receive(t, c)
	if !ok {
		t.Fatalf("event stream ended early; Err() = %v", c.Err())
	}
	return ev
}

// drain receives until the stream ends and returns what it got.
func (r receiver) drain(t *testing.T, c *qmp.Conn) []qmp.Event {
	t.Helper()
	var evs []qmp.Event
	for {
		ev, ok := r.receive(t, c)
		if !ok {
			return evs
		}
		evs = append(evs, ev)
	}
}

func names(evs []qmp.Event) string {
	var s []string
	for _, ev := range evs {
		if ev.Gap != nil {
			s = append(s, fmt.Sprintf("GAP%v", ev.Gap.Lost))
			continue
		}
		s = append(s, ev.Name)
	}
	return strings.Join(s, " ")
}

func TestHandshakeDeliversEarlyEventsInOrder(t *testing.T) {
	tests := []struct {
		name   string
		script func(p *qmptest.Peer) error
		want   string
	}{
		{
			name: "events before the greeting",
			script: func(p *qmptest.Peer) error {
				if err := p.Write(qmptest.Event("STOP", nil, 1, 1) + qmptest.Event("RESUME", nil, 1, 2)); err != nil {
					return err
				}
				return p.Handshake()
			},
			want: "STOP RESUME",
		},
		{
			name: "event in the same write as the greeting",
			script: func(p *qmptest.Peer) error {
				if err := p.Write(qmptest.Greeting(qmptest.DefaultVersion, "oob") + qmptest.Event("STOP", nil, 1, 1)); err != nil {
					return err
				}
				c, err := p.Expect("qmp_capabilities")
				if err != nil {
					return err
				}
				return p.Reply(c, nil)
			},
			want: "STOP",
		},
		{
			name: "events during negotiation and in the same write as the reply",
			script: func(p *qmptest.Peer) error {
				if err := p.Greet(); err != nil {
					return err
				}
				c, err := p.Expect("qmp_capabilities")
				if err != nil {
					return err
				}
				return p.Write(qmptest.Event("STOP", nil, 1, 1) + qmptest.Return(c.ID, nil) +
					qmptest.Event("RESUME", nil, 1, 2) + qmptest.Event("RESET", map[string]any{"guest": false, "reason": "host-qmp-system-reset"}, 1, 3))
			},
			want: "STOP RESUME RESET",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := qmptest.NewServer(t)
			wait := script(t, s, func(p *qmptest.Peer) error {
				if err := tt.script(p); err != nil {
					return err
				}
				return p.CloseWrite()
			})
			c := dial(t, s, qmp.Options{})
			got := drain(t, c)
			wait()
			if names(got) != tt.want {
				t.Errorf("events = %q, want %q", names(got), tt.want)
			}
			if !errors.Is(c.Err(), io.EOF) {
				t.Errorf("Err() = %v, want io.EOF", c.Err())
			}
			if g := c.Greeting(); g.Version.QEMU != (qmp.VersionTriple{Major: 7, Minor: 2, Micro: 22}) || g.Capabilities[0] != "oob" {
				t.Errorf("Greeting() = %+v", g)
			}
		})
	}
}

func TestEventBetweenCommandAndReply(t *testing.T) {
	s := qmptest.NewServer(t)
	script(t, s, func(p *qmptest.Peer) error {
		if err := p.Handshake(); err != nil {
			return err
		}
		c, err := p.Expect("stop")
		if err != nil {
			return err
		}
		// What QEMU does: the event is written before the reply.
		if err := p.Write(qmptest.Event("STOP", nil, 1795271121, 29652) + qmptest.Return(c.ID, nil)); err != nil {
			return err
		}
		c, err = p.Expect("system_reset")
		if err != nil {
			return err
		}
		if err := p.Event("RESET", map[string]any{"guest": false, "reason": "host-qmp-system-reset"}); err != nil {
			return err
		}
		return p.Reply(c, nil)
	})
	c := dial(t, s, qmp.Options{})
	ctx := testContext(t)
	if err := c.Execute(ctx, "stop", nil, nil); err != nil {
		t.Fatalf("stop: %v", err)
	}
	ev := next(t, c)
	if ev.Name != "STOP" || ev.Timestamp != (qmp.Timestamp{Seconds: 1795271121, Microseconds: 29652}) || ev.Data != nil {
		t.Errorf("event = %+v", ev)
	}
	if err := c.Execute(ctx, "system_reset", nil, nil); err != nil {
		t.Fatalf("system_reset: %v", err)
	}
	ev = next(t, c)
	v, err := ev.Decode()
	if err != nil || v != (qmp.ResetEvent{Guest: false, Reason: qmp.ShutdownCauseHostQMPSystemReset}) {
		t.Errorf("RESET decoded to %#v, %v", v, err)
	}
}

func TestPrettyMonitor(t *testing.T) {
	s := qmptest.NewServer(t)
	script(t, s, func(p *qmptest.Peer) error {
		if err := p.Write(qmptest.Pretty(qmptest.Greeting(qmptest.DefaultVersion, "oob"))); err != nil {
			return err
		}
		c, err := p.Expect("qmp_capabilities")
		if err != nil {
			return err
		}
		if err := p.Write(qmptest.Pretty(qmptest.Return(c.ID, nil))); err != nil {
			return err
		}
		c, err = p.Expect("query-status")
		if err != nil {
			return err
		}
		reset := qmptest.Pretty(qmptest.Event("RESET", map[string]any{"guest": true, "reason": "guest-reset"}, 1795271118, 746231))
		// Split the pretty event across writes mid-line as well.
		if err := p.Write(reset[:17]); err != nil {
			return err
		}
		return p.Write(reset[17:] + qmptest.Pretty(qmptest.Return(c.ID, map[string]any{"status": "running", "singlestep": false, "running": true})))
	})
	c := dial(t, s, qmp.Options{})
	st, err := c.QueryStatus(testContext(t))
	if err != nil {
		t.Fatalf("QueryStatus: %v", err)
	}
	if st != (qmp.StatusInfo{Running: true, Status: qmp.RunStateRunning}) {
		t.Errorf("QueryStatus = %+v", st)
	}
	ev := next(t, c)
	if v, err := ev.Decode(); err != nil || v != (qmp.ResetEvent{Guest: true, Reason: qmp.ShutdownCauseGuestReset}) {
		t.Errorf("event = %+v, decoded %#v, %v", ev, v, err)
	}
	if ev.Timestamp != (qmp.Timestamp{Seconds: 1795271118, Microseconds: 746231}) {
		t.Errorf("timestamp = %+v", ev.Timestamp)
	}
}

// schemaReply builds a query-qmp-schema reply of at least size bytes on
// one line, as QEMU sends it.
func schemaReply(size int) []map[string]any {
	var entries []map[string]any
	n := 0
	for i := 0; n < size; i++ {
		e := map[string]any{"name": fmt.Sprintf("%d", i), "meta-type": "object",
			"members": []map[string]any{{"name": "some-member-name", "type": "str"}, {"name": "another", "default": nil, "type": "int"}}}
		entries = append(entries, e)
		b, _ := json.Marshal(e)
		n += len(b)
	}
	entries = append(entries, map[string]any{"name": "SHUTDOWN", "meta-type": "event", "arg-type": "42"})
	return entries
}

func TestLargeAndOversizedMessages(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		size    int
		wantErr error
	}{
		{"200 KB reply on one line passes the default cap", 0, 200 << 10, nil},
		{"reply over the cap ends the connection", 64 << 10, 200 << 10, qmp.ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := qmptest.NewServer(t)
			reply := schemaReply(tt.size)
			script(t, s, func(p *qmptest.Peer) error {
				if err := p.Handshake(); err != nil {
					return err
				}
				c, err := p.Expect("query-qmp-schema")
				if err != nil {
					return err
				}
				line := qmptest.Return(c.ID, reply)
				if !strings.HasSuffix(line, "}\r\n") || strings.Count(line, "\n") != 1 || len(line) < tt.size {
					return fmt.Errorf("reply is not one line of %d+ bytes", tt.size)
				}
				if err := p.Write(line + qmptest.Event("STOP", nil, 1, 1)); err != nil && !qmptest.IsDisconnect(err) {
					return err
				}
				return p.WaitClosed()
			})
			c := dial(t, s, qmp.Options{MaxMessageBytes: tt.max})
			schema, err := c.QueryQMPSchema(testContext(t))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("QueryQMPSchema error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				if len(schema) != len(reply) || schema[len(schema)-1].Name != "SHUTDOWN" || schema[len(schema)-1].MetaType != "event" {
					t.Fatalf("schema has %d entries, last %+v", len(schema), schema[len(schema)-1])
				}
				if ev := next(t, c); ev.Name != "STOP" {
					t.Errorf("event after the large reply = %+v", ev)
				}
				return
			}
			evs := drain(t, c)
			if len(evs) != 0 {
				t.Errorf("events after an oversized message: %q", names(evs))
			}
			if !errors.Is(c.Err(), qmp.ErrMessageTooLarge) {
				t.Errorf("Err() = %v, want ErrMessageTooLarge", c.Err())
			}
		})
	}
}

func TestConnectionEnds(t *testing.T) {
	tests := []struct {
		name       string
		afterHello string // raw bytes sent after the handshake and one event
		wantErr    error
	}{
		{"clean close", "", io.EOF},
		{"closed mid-message", `{"timestamp": {"seconds": 1, "micros`, io.ErrUnexpectedEOF},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", qmp.ErrProtocol},
		{"invalid JSON", `{"event": "STOP", "timestamp": {"seconds": 1 "microseconds": 2}}` + "\r\n", qmp.ErrProtocol},
		{"non-object message", `"hello"` + "\r\n", qmp.ErrProtocol},
	}
	for _, r := range receivers {
		for _, tt := range tests {
			t.Run(r.name+"/"+tt.name, func(t *testing.T) {
				s := qmptest.NewServer(t)
				script(t, s, func(p *qmptest.Peer) error {
					if err := p.Handshake(); err != nil {
						return err
					}
					if err := p.Write(qmptest.Event("STOP", nil, 1, 1) + tt.afterHello); err != nil {
						return err
					}
					return p.CloseWrite()
				})
				c := dial(t, s, qmp.Options{})
				if evs := r.drain(t, c); names(evs) != "STOP" {
					t.Errorf("events = %q, want the one before the end", names(evs))
				}
				<-c.Done()
				if !errors.Is(c.Err(), tt.wantErr) {
					t.Errorf("Err() = %v, want %v", c.Err(), tt.wantErr)
				}
				err := c.Execute(testContext(t), "query-status", nil, nil)
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Execute after the end = %v, want an error wrapping %v", err, tt.wantErr)
				}
			})
		}
	}
}

func TestDialFailures(t *testing.T) {
	tests := []struct {
		name    string
		script  func(p *qmptest.Peer) error
		wantErr error
	}{
		{"peer never greets (monitor busy)", func(p *qmptest.Peer) error { return p.WaitClosed() }, qmp.ErrMonitorBusy},
		{"peer closes before greeting", func(p *qmptest.Peer) error { return nil }, io.EOF},
		{"garbage instead of a greeting", func(p *qmptest.Peer) error {
			return p.Write("SSH-2.0-OpenSSH_9.2\r\n")
		}, qmp.ErrProtocol},
		{"greeting without version", func(p *qmptest.Peer) error {
			return p.Write(`{"QMP": {"capabilities": []}}` + "\r\n")
		}, qmp.ErrProtocol},
		{"greeting with a non-numeric version", func(p *qmptest.Peer) error {
			return p.Write(`{"QMP": {"version": {"qemu": {"major": "7", "minor": 2, "micro": 0}, "package": ""}, "capabilities": []}}` + "\r\n")
		}, qmp.ErrProtocol},
		{"capabilities refused", func(p *qmptest.Peer) error {
			if err := p.Greet(); err != nil {
				return err
			}
			c, err := p.Expect("qmp_capabilities")
			if err != nil {
				return err
			}
			return p.ReplyError(c, "GenericError", "Capabilities negotiation is already complete, command ignored")
		}, qmp.ErrGenericError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := qmptest.NewServer(t)
			wait := script(t, s, tt.script)
			opts := qmp.Options{}
			if tt.wantErr == qmp.ErrMonitorBusy {
				// Only the case that must time out gets a short timeout,
				// so that a loaded machine cannot turn the others into
				// timeouts too.
				opts.GreetingTimeout = 500 * time.Millisecond
			}
			c, err := qmp.Dial(testContext(t), s.Path, opts)
			if err == nil {
				c.Close()
				t.Fatalf("Dial succeeded")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Dial error = %v, want %v", err, tt.wantErr)
			}
			s.Close() // lets the never-greeting script see the client is gone
			wait()
		})
	}
}

func TestDialNoSocket(t *testing.T) {
	_, err := qmp.Dial(testContext(t), t.TempDir()+"/missing.sock", qmp.Options{})
	if err == nil || errors.Is(err, qmp.ErrMonitorBusy) {
		t.Fatalf("Dial error = %v, want a dial error", err)
	}
}

func TestSlowConsumerOverflow(t *testing.T) {
	for _, r := range receivers {
		t.Run(r.name, func(t *testing.T) {
			const queue = 4
			type ev struct {
				name string
				data any
			}
			sent := []ev{
				{"STOP", nil}, {"RESUME", nil}, {"RTC_CHANGE", map[string]int{"offset": 1}}, {"STOP", nil}, // queued
				{"RESUME", nil}, {"RTC_CHANGE", map[string]int{"offset": 2}}, {"STOP", nil}, {"RTC_CHANGE", map[string]int{"offset": 3}},
				{"WATCHDOG", map[string]string{"action": "pause"}}, {"RESUME", nil}, // shed
			}
			s := qmptest.NewServer(t)
			release := make(chan struct{})
			script(t, s, func(p *qmptest.Peer) error {
				if err := p.Handshake(); err != nil {
					return err
				}
				for i, e := range sent {
					if err := p.Write(qmptest.Event(e.name, e.data, int64(100+i), 0)); err != nil {
						return err
					}
				}
				// A command is still answered while the consumer reads nothing.
				c, err := p.Expect("query-status")
				if err != nil {
					return err
				}
				if err := p.Reply(c, map[string]any{"status": "running", "running": true}); err != nil {
					return err
				}
				<-release
				// After the gap, events flow again.
				if err := p.Event("SHUTDOWN", map[string]any{"guest": true, "reason": "guest-shutdown"}); err != nil {
					return err
				}
				return p.CloseWrite()
			})
			c := dial(t, s, qmp.Options{QueueSize: queue})
			// The reply comes after all the events on the wire, so once it is
			// here the reader has processed every event: the counts are final.
			if _, err := c.QueryStatus(testContext(t)); err != nil {
				t.Fatalf("QueryStatus with a stalled consumer: %v", err)
			}
			st := c.Stats()
			if st.EventsRead != uint64(len(sent)) || st.EventsDropped != uint64(len(sent)-queue) || st.Gaps != 1 || st.EventsQueued != queue {
				t.Errorf("stats = %+v, want %d read, %d dropped, 1 gap, %d queued", st, len(sent), len(sent)-queue, queue)
			}
			var got []qmp.Event
			for i := 0; i < queue+1; i++ {
				got = append(got, r.next(t, c))
			}
			close(release)
			got = append(got, r.drain(t, c)...)
			if want := "STOP RESUME RTC_CHANGE STOP GAP" + "map[RESUME:2 RTC_CHANGE:2 STOP:1 WATCHDOG:1] SHUTDOWN"; names(got) != want {
				t.Fatalf("events = %q, want %q", names(got), want)
			}
			gap := got[queue].Gap
			if gap.Total() != uint64(len(sent)-queue) {
				t.Errorf("gap total = %d", gap.Total())
			}
			last := gap.Last["RTC_CHANGE"]
			if rtc, err := last.Decode(); err != nil || rtc.(qmp.RTCChangeEvent).Offset != 3 || last.Timestamp.Seconds != 107 {
				t.Errorf("last shed RTC_CHANGE = %+v (%v)", last, err)
			}
			if got[queue].Timestamp.Seconds != 109 {
				t.Errorf("gap timestamp = %+v, want that of the last shed event", got[queue].Timestamp)
			}
			for i, e := range got[:queue] {
				if e.Timestamp.Seconds != int64(100+i) {
					t.Errorf("event %d out of order: %+v", i, e)
				}
			}
		})
	}
}

func TestCommands(t *testing.T) {
	s := qmptest.NewServer(t)
	uuidSeen, gotLate := make(chan struct{}), make(chan struct{})
	script(t, s, func(p *qmptest.Peer) error {
		if err := p.Handshake(); err != nil {
			return err
		}
		// Two concurrent commands, answered in reverse order, plus
		// replies nobody asked for.
		a, err := p.ReadCommand()
		if err != nil {
			return err
		}
		b, err := p.ReadCommand()
		if err != nil {
			return err
		}
		lines := qmptest.Return(json.RawMessage(`999`), nil) +
			qmptest.Error(nil, "GenericError", "JSON parse error, invalid keyword 'garbage'") +
			qmptest.Return(json.RawMessage(`"not-ours"`), nil)
		for _, c := range []qmptest.Command{b, a} {
			switch c.Execute {
			case "query-name":
				lines += qmptest.Return(c.ID, map[string]string{"name": "vm1"})
			case "query-spice":
				lines += qmptest.Error(c.ID, "CommandNotFound", "The command query-spice has not been found")
			}
		}
		if err := p.Write(lines); err != nil {
			return err
		}
		// A command whose caller gives up before the reply.
		late, err := p.Expect("query-uuid")
		if err != nil {
			return err
		}
		close(uuidSeen)
		<-gotLate
		if err := p.Reply(late, map[string]string{"UUID": "x"}); err != nil {
			return err
		}
		// Arguments are passed through.
		c, err := p.Expect("watchdog-set-action")
		if err != nil {
			return err
		}
		if string(c.Arguments) != `{"action":"inject-nmi"}` {
			return fmt.Errorf("arguments = %s", c.Arguments)
		}
		return p.Reply(c, nil)
	})
	c := dial(t, s, qmp.Options{})
	ctx := testContext(t)

	nameCh := make(chan error, 1)
	go func() {
		name, err := c.QueryName(ctx)
		if err == nil && name != "vm1" {
			err = fmt.Errorf("name = %q", name)
		}
		nameCh <- err
	}()
	// Whichever order the two arrive in, the server answers in reverse.
	_, err := c.QuerySPICE(ctx)
	var qerr *qmp.Error
	if !errors.As(err, &qerr) || !errors.Is(err, qmp.ErrCommandNotFound) || qerr.Command != "query-spice" {
		t.Errorf("QuerySPICE error = %v, want a CommandNotFound *Error", err)
	}
	if err := <-nameCh; err != nil {
		t.Errorf("QueryName: %v", err)
	}

	short, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := c.QueryUUID(short); errc <- err }()
	// Cancel once the server has the command; it holds the reply until
	// the caller has given up.
	<-uuidSeen
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled QueryUUID error = %v", err)
	}
	close(gotLate)

	if err := c.Execute(ctx, "watchdog-set-action", map[string]string{"action": "inject-nmi"}, nil); err != nil {
		t.Errorf("watchdog-set-action: %v", err)
	}
	// The late reply is on the wire before the last reply, so the counts
	// are final.
	if st := c.Stats(); st.RepliesUnmatched != 3 || st.RepliesLate != 1 {
		t.Errorf("stats = %+v, want 3 unmatched and 1 late reply", st)
	}
}

// TestQueries decodes real QEMU 7.2 replies.
func TestQueries(t *testing.T) {
	tests := []struct {
		command string
		reply   string
		call    func(context.Context, *qmp.Conn) (any, error)
		want    any
	}{
		{"query-status", `{"status": "running", "singlestep": false, "running": true}`,
			func(ctx context.Context, c *qmp.Conn) (any, error) { return c.QueryStatus(ctx) },
			qmp.StatusInfo{Running: true, Status: qmp.RunStateRunning}},
		{"query-status", `{"status": "io-error", "running": false}`,
			func(ctx context.Context, c *qmp.Conn) (any, error) { return c.QueryStatus(ctx) },
			qmp.StatusInfo{Status: qmp.RunStateIOError}},
		{"query-name", `{}`,
			func(ctx context.Context, c *qmp.Conn) (any, error) { return c.QueryName(ctx) }, ""},
		{"query-uuid", `{"UUID": "00000000-0000-0000-0000-000000000000"}`,
			func(ctx context.Context, c *qmp.Conn) (any, error) { return c.QueryUUID(ctx) }, "00000000-0000-0000-0000-000000000000"},
		{"query-version", `{"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}`,
			func(ctx context.Context, c *qmp.Conn) (any, error) { return c.QueryVersion(ctx) },
			qmp.VersionInfo{QEMU: qmp.VersionTriple{Major: 7, Minor: 2, Micro: 22}, Package: "Debian 1:7.2+dfsg-7+deb12u18+b3"}},
		{"query-balloon", `{"actual": 67108864}`,
			func(ctx context.Context, c *qmp.Conn) (any, error) { return c.QueryBalloon(ctx) }, qmp.BalloonInfo{Actual: 67108864}},
		{"query-spice", `{"migrated": false, "enabled": false, "mouse-mode": "client"}`,
			func(ctx context.Context, c *qmp.Conn) (any, error) {
				v, err := c.QuerySPICE(ctx)
				return fmt.Sprintf("%v %v %v %v", v.Enabled, v.MouseMode, v.Port == nil, len(v.Channels)), err
			}, "false client true 0"},
		{"query-vnc", `{"enabled": true, "auth": "none", "family": "ipv4", "clients": [{"host": "127.0.0.1", "service": "50401", "family": "ipv4", "websocket": false}], "service": "5977", "host": "127.0.0.1"}`,
			func(ctx context.Context, c *qmp.Conn) (any, error) {
				v, err := c.QueryVNC(ctx)
				return fmt.Sprintf("%+v", v), err
			}, fmt.Sprintf("%+v", qmp.VNCInfo{Enabled: true, Host: "127.0.0.1", Family: "ipv4", Service: "5977", Auth: "none",
				Clients: []qmp.VNCClientInfo{{VNCBasicInfo: qmp.VNCBasicInfo{Host: "127.0.0.1", Service: "50401", Family: "ipv4"}}}})},
		{"query-block", `[{"io-status": "nospace", "device": "ide0-hd0", "locked": false, "removable": false, "inserted": {"iops_rd": 0, "detect_zeroes": "off", "image": {"virtual-size": 512, "filename": "boot.img", "format": "raw"}, "ro": false, "node-name": "#block118", "backing_file_depth": 0, "drv": "raw", "encrypted": false, "write_threshold": 0, "file": "boot.img"}, "qdev": "/machine/unattached/device[24]", "type": "unknown"}, {"io-status": "ok", "device": "ide1-cd0", "locked": false, "removable": true, "qdev": "/machine/unattached/device[25]", "tray_open": false, "type": "unknown"}]`,
			func(ctx context.Context, c *qmp.Conn) (any, error) {
				v, err := c.QueryBlock(ctx)
				if err != nil || len(v) != 2 {
					return v, err
				}
				return fmt.Sprintf("%s %s %s %s %s %s %v %v", v[0].Device, v[0].QDev, v[0].IOStatus, v[0].Inserted.File, v[0].Inserted.NodeName,
					v[1].IOStatus, v[1].Inserted == nil, *v[1].TrayOpen), nil
			}, "ide0-hd0 /machine/unattached/device[24] nospace boot.img #block118 ok true false"},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			s := qmptest.NewServer(t)
			script(t, s, func(p *qmptest.Peer) error {
				if err := p.Handshake(); err != nil {
					return err
				}
				c, err := p.Expect(tt.command)
				if err != nil {
					return err
				}
				return p.Reply(c, json.RawMessage(tt.reply))
			})
			c := dial(t, s, qmp.Options{})
			got, err := tt.call(testContext(t), c)
			if err != nil {
				t.Fatalf("%s: %v", tt.command, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("%s = %+v, want %+v", tt.command, got, tt.want)
			}
		})
	}
}

func TestQueryBalloonWithoutDevice(t *testing.T) {
	s := qmptest.NewServer(t)
	script(t, s, func(p *qmptest.Peer) error {
		if err := p.Handshake(); err != nil {
			return err
		}
		c, err := p.Expect("query-balloon")
		if err != nil {
			return err
		}
		return p.ReplyError(c, "DeviceNotActive", "No balloon device has been activated")
	})
	c := dial(t, s, qmp.Options{})
	_, err := c.QueryBalloon(testContext(t))
	if !errors.Is(err, qmp.ErrDeviceNotActive) || errors.Is(err, qmp.ErrCommandNotFound) {
		t.Errorf("QueryBalloon error = %v, want DeviceNotActive", err)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	s := qmptest.NewServer(t)
	script(t, s, func(p *qmptest.Peer) error {
		if err := p.Handshake(); err != nil {
			return err
		}
		if err := p.Event("STOP", nil); err != nil {
			return err
		}
		return p.WaitClosed()
	})
	c := dial(t, s, qmp.Options{})
	if ev := next(t, c); ev.Name != "STOP" {
		t.Fatalf("event = %+v", ev)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	<-c.Done()
	if !errors.Is(c.Err(), qmp.ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", c.Err())
	}
	if _, ok := <-c.Events(); ok {
		t.Errorf("events channel still open after Close")
	}
	if _, err := c.NextEvent(testContext(t)); !errors.Is(err, qmp.ErrClosed) {
		t.Errorf("NextEvent after Close = %v, want ErrClosed", err)
	}
	if err := c.Execute(testContext(t), "query-status", nil, nil); !errors.Is(err, qmp.ErrClosed) {
		t.Errorf("Execute after Close = %v", err)
	}
}

// TestNextEvent checks what NextEvent adds to the stream's contract: a
// context that ends only ends the wait, Close ends a wait in progress and
// discards what is queued, and a connection read with NextEvent alone
// runs no goroutine besides its reader.
func TestNextEvent(t *testing.T) {
	s := qmptest.NewServer(t)
	sendMore, sent := make(chan struct{}), make(chan struct{})
	script(t, s, func(p *qmptest.Peer) error {
		if err := p.Handshake(); err != nil {
			return err
		}
		<-sendMore
		if err := p.Write(qmptest.Event("STOP", nil, 1, 0) + qmptest.Event("RESUME", nil, 2, 0) + qmptest.Event("STOP", nil, 3, 0)); err != nil {
			return err
		}
		close(sent)
		return p.WaitClosed()
	})
	c := dial(t, s, qmp.Options{})
	// Earlier tests' goroutines may still be a few instructions from
	// exiting; this connection's reader is there to stay.
	eventually(t, "the reader to be the only client goroutine", func() bool {
		got := clientGoroutines()
		return len(got) == 1 && strings.Contains(got[0], "readLoop")
	})

	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	if _, err := c.NextEvent(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("NextEvent with an ended context = %v, want context.Canceled", err)
	}
	close(sendMore)
	if ev, err := c.NextEvent(testContext(t)); err != nil || ev.Name != "STOP" {
		t.Fatalf("NextEvent after an ended wait = %+v, %v; want STOP", ev, err)
	}

	// Close while another caller waits: it returns ErrClosed, and so does
	// every later call, though events are still queued.
	<-sent
	eventually(t, "the other events to be queued", func() bool { return c.Stats().EventsQueued == 2 })
	if ev, err := c.NextEvent(testContext(t)); err != nil || ev.Name != "RESUME" {
		t.Fatalf("NextEvent = %+v, %v; want RESUME", ev, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 2 {
		if ev, err := c.NextEvent(testContext(t)); !errors.Is(err, qmp.ErrClosed) {
			t.Errorf("NextEvent after Close = %+v, %v; want ErrClosed", ev, err)
		}
	}
}

// TestNextEventWaitingAtClose checks that Close ends a NextEvent that is
// waiting.
func TestNextEventWaitingAtClose(t *testing.T) {
	s := qmptest.NewServer(t)
	script(t, s, func(p *qmptest.Peer) error {
		if err := p.Handshake(); err != nil {
			return err
		}
		return p.WaitClosed()
	})
	c := dial(t, s, qmp.Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.NextEvent(context.Background())
		errc <- err
	}()
	eventually(t, "NextEvent to wait", func() bool {
		for _, g := range allGoroutines() {
			if strings.Contains(g, "qmpagent/qmp.(*Conn).NextEvent") && strings.Contains(g, "[select") {
				return true
			}
		}
		return false
	})
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, qmp.ErrClosed) {
			t.Errorf("waiting NextEvent returned %v, want ErrClosed", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Close did not end a waiting NextEvent")
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp/qmptest"
)

// session is one fake QEMU: a socket that serves one client at a time.
type session struct {
	g        *Generator
	id       int
	ln       *net.UnixListener
	storming atomic.Bool

	mu          sync.Mutex
	cond        *sync.Cond
	conn        *net.UnixConn
	gen         int // connection generation, to tell a writer its client is gone
	commandMode bool
	buf         []byte      // bytes queued for the client
	recs        []queuedRec // the reported events in buf
	// sent counts the bytes written to the current client; tail holds its
	// last reported events with where they end in that stream (unread.go).
	sent         int64
	tail         []sentRec
	counts       map[string]int64
	stormQueued  int64
	writing      bool
	handshakes   int64
	written      map[string]int64
	stormWritten int64
	unwritten    int64
	closed       bool
	runState     string // QEMU's run state for query-status; "" is running
}

func (s *session) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	s.closed = true
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

// serve accepts clients one after the other.
func (s *session) serve() {
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.handle(c)
	}
}

// handle runs one client connection: greeting, commands, events.
func (s *session) handle(c *net.UnixConn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conn, s.commandMode = c, false
	s.gen++
	gen := s.gen
	s.buf, s.recs, s.counts, s.stormQueued = s.buf[:0], nil, map[string]int64{}, 0
	s.sent, s.tail = 0, nil
	s.mu.Unlock()
	done := make(chan struct{})
	go s.writer(c, gen, done)

	s.queue(qmptest.Greeting(qmptest.DefaultVersion, "oob"))
	dec := json.NewDecoder(c)
	for {
		var cmd qmptest.Command
		if err := dec.Decode(&cmd); err != nil {
			break
		}
		reply := s.answer(cmd)
		if cmd.Execute == "qmp_capabilities" {
			s.mu.Lock()
			s.buf = append(s.buf, reply...)
			s.commandMode = true
			s.handshakes++
			s.cond.Broadcast()
			s.mu.Unlock()
			s.g.out.line(fmt.Sprintf("C %d %d", s.id, time.Now().UnixNano()))
			continue
		}
		s.queue(reply)
	}
	s.mu.Lock()
	wasCommand := s.commandMode
	s.conn, s.commandMode = nil, false
	s.unwritten += int64(len(s.recs)) + s.stormQueued
	s.buf, s.recs, s.counts, s.stormQueued = s.buf[:0], nil, map[string]int64{}, 0
	s.cond.Broadcast()
	s.mu.Unlock()
	_ = c.Close()
	<-done
	if wasCommand {
		s.g.out.line(fmt.Sprintf("D %d %d", s.id, time.Now().UnixNano()))
	}
}

// answer is QEMU's reply to a command: the handshake and the queries a
// client makes after connecting, for a running VM named after the socket
// with one virtio disk, no VNC, no SPICE, no balloon.
func (s *session) answer(c qmptest.Command) string {
	switch c.Execute {
	case "qmp_capabilities":
		return qmptest.Return(c.ID, nil)
	case "query-status":
		s.mu.Lock()
		st := s.runState
		s.mu.Unlock()
		if st == "" {
			return qmptest.Return(c.ID, json.RawMessage(`{"status":"running","singlestep":false,"running":true}`))
		}
		return qmptest.Return(c.ID, json.RawMessage(fmt.Sprintf(`{"status":%q,"singlestep":false,"running":false}`, st)))
	case "query-name":
		return qmptest.Return(c.ID, map[string]string{"name": vmName(s.id)})
	case "query-uuid":
		return qmptest.Return(c.ID, map[string]string{"UUID": vmUUID(s.id)})
	case "query-version":
		v := qmptest.DefaultVersion
		return qmptest.Return(c.ID, json.RawMessage(fmt.Sprintf(`{"qemu":{"micro":%d,"minor":%d,"major":%d},"package":%q}`, v.Micro, v.Minor, v.Major, v.Package)))
	case "query-vnc":
		return qmptest.Return(c.ID, json.RawMessage(`{"enabled":false}`))
	case "query-block":
		return qmptest.Return(c.ID, json.RawMessage(`[{"io-status":"ok","device":"drive-virtio-disk0","locked":false,"removable":false,"qdev":"/machine/peripheral/virtio-disk0/virtio-backend","type":"unknown"}]`))
	case "query-spice":
		return qmptest.Error(c.ID, "CommandNotFound", "The command query-spice has not been found")
	case "query-balloon":
		return qmptest.Error(c.ID, "DeviceNotActive", "No balloon device has been activated")
	default:
		return qmptest.Error(c.ID, "CommandNotFound", "The command "+c.Execute+" has not been found")
	}
}

// queue appends bytes for the client.
func (s *session) queue(b string) {
	s.mu.Lock()
	s.buf = append(s.buf, b...)
	s.cond.Broadcast()
	s.mu.Unlock()
}

// emit queues one event stamped now, if a client is in command mode, and
// reports it as an E line once written when record says so.
func (s *session) emit(name string, data json.RawMessage, record bool) {
	kind := ""
	if record {
		kind = "E"
	}
	s.emitKind(name, data, kind)
}

// emitKind is emit reporting the event as a line of kind (E, F; "": none).
func (s *session) emitKind(name string, data json.RawMessage, kind string) {
	now := time.Now()
	sec, usec := now.Unix(), int64(now.Nanosecond()/1000)
	line := qmptest.Event(name, data, sec, usec)
	s.mu.Lock()
	if s.conn == nil || !s.commandMode {
		s.mu.Unlock()
		s.g.noMonitor.Add(1)
		return
	}
	s.buf = append(s.buf, line...)
	s.counts[name]++
	if kind != "" {
		s.recs = append(s.recs, queuedRec{line: fmt.Sprintf("%s %d %s %d %d", kind, s.id, name, sec, usec), end: len(s.buf)})
	}
	s.cond.Broadcast()
	s.mu.Unlock()
}

// emitN queues k storm events, each stamped with its own microsecond.
func (s *session) emitN(name string, data json.RawMessage, k int) {
	if k == 0 {
		return
	}
	now := time.Now()
	var b strings.Builder
	for i := range k {
		// Spread the batch over the microseconds before now, as QEMU
		// would have stamped them one by one.
		t := now.Add(-time.Duration(k-1-i) * time.Microsecond)
		b.WriteString(qmptest.Event(name, data, t.Unix(), int64(t.Nanosecond()/1000)))
	}
	s.mu.Lock()
	if s.conn == nil || !s.commandMode {
		s.mu.Unlock()
		s.g.noMonitor.Add(int64(k))
		return
	}
	s.buf = append(s.buf, b.String()...)
	s.stormQueued += int64(k)
	s.cond.Broadcast()
	s.mu.Unlock()
}

// flushed waits until the current client's queue is written (or gone).
func (s *session) flushed() {
	s.mu.Lock()
	for len(s.buf) > 0 || s.writing {
		s.cond.Wait()
	}
	s.mu.Unlock()
}

// writer writes what is queued for one client, in as few writes as it can,
// and reports the events it wrote.
func (s *session) writer(c *net.UnixConn, gen int, done chan struct{}) {
	defer close(done)
	var out []byte
	for {
		s.mu.Lock()
		for (len(s.buf) == 0 || s.g.held.Load()) && s.gen == gen && s.conn != nil && !s.closed {
			s.cond.Wait()
		}
		if s.gen != gen || s.conn == nil || s.closed {
			s.mu.Unlock()
			return
		}
		out = append(out[:0], s.buf...)
		recs, counts, storm := s.recs, s.counts, s.stormQueued
		s.buf, s.recs, s.counts, s.stormQueued = s.buf[:0], nil, map[string]int64{}, 0
		s.writing = true
		s.mu.Unlock()

		_, err := c.Write(out)

		s.mu.Lock()
		s.writing = false
		if err != nil {
			s.unwritten += int64(len(recs)) + storm
		} else {
			for k, v := range counts {
				s.written[k] += v
			}
			s.written[qmpBlockIOError] += storm
			s.stormWritten += storm
			s.wroteLocked(recs, len(out))
		}
		s.cond.Broadcast()
		s.mu.Unlock()
		if err != nil {
			_ = c.Close()
			return
		}
		s.g.out.lines(lines(recs))
	}
}

// Command loadgen is a fake QEMU for load tests: it serves N QMP monitor
// sockets with QEMU 7.2's exact wire format (the greeting, the
// qmp_capabilities handshake, answers to the queries the agent makes after
// connecting) and then emits events with real timestamps (seconds and
// microseconds of the wall clock at emission, as QEMU does), at a total rate
// spread over the sockets with a configurable mix, plus storms: one socket
// emitting one event at a high rate for a while.
//
// Like QEMU, it emits an event only to a monitor that finished the
// capabilities negotiation; an event emitted while no client is connected is
// dropped (and counted). Each socket serves one client at a time.
//
// It is not part of the product: hack/bench drives it, and it can be used
// alone. It reads commands on stdin, one per line:
//
//	rate R                      total events/s of the normal mix over all non-storming sockets
//	storm VM RATE SECONDS       socket VM emits BLOCK_IO_ERROR at RATE/s for SECONDS
//	stats                       print an "S {json}" line
//	quit                        close every socket and exit
//
// and writes lines on stdout:
//
//	READY N                     all sockets listen
//	C VM UNIXNANO               a client finished the capabilities negotiation
//	D VM UNIXNANO               a client went away
//	E VM EVENT SECONDS MICROS   a normal-mix event was written to the client
//	STORMDONE VM WRITTEN        a storm ended; WRITTEN events reached the socket
//	S {json}                    statistics (see wire.Stats)
//
// Usage: go run ./test/loadgen -dir /tmp/vmb -n 1000 [-rate 200] [-mix ...]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp/qmptest"
	"github.com/vmevents/vmevents/test/loadgen/wire"
)

func main() {
	dir := flag.String("dir", "", "folder for the sockets, created; socket i is DIR/i.qmp (keep it short: 107 bytes at most)")
	n := flag.Int("n", 1000, "number of fake QEMUs (sockets)")
	rate := flag.Float64("rate", 0, "initial total events/s of the normal mix")
	mix := flag.String("mix", DefaultMix, "normal event mix: NAME=WEIGHT,... (names: "+strings.Join(knownEvents(), ", ")+")")
	seed := flag.Uint64("seed", 1, "random seed for the choice of socket and event")
	flag.Parse()
	if *dir == "" || *n <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -dir and -n are required")
		os.Exit(2)
	}
	m, err := ParseMix(*mix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	out := newOutput(os.Stdout)
	g, err := NewGenerator(*dir, *n, m, *seed, out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	defer g.Close()
	g.SetRate(*rate)
	go g.Run()
	out.line(fmt.Sprintf("READY %d", *n))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
		close(cmds)
	}()
	for {
		select {
		case <-sig:
			return
		case c, ok := <-cmds:
			if !ok {
				return
			}
			if quit := g.command(c); quit {
				return
			}
		}
	}
}

// command runs one control line and reports whether to quit.
func (g *Generator) command(line string) bool {
	f := strings.Fields(line)
	if len(f) == 0 {
		return false
	}
	bad := func(err error) { fmt.Fprintf(os.Stderr, "loadgen: %q: %v\n", line, err) }
	switch f[0] {
	case "rate":
		if len(f) != 2 {
			bad(fmt.Errorf("want: rate R"))
			break
		}
		r, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			bad(err)
			break
		}
		g.SetRate(r)
	case "storm":
		if len(f) != 4 {
			bad(fmt.Errorf("want: storm VM RATE SECONDS"))
			break
		}
		vm, err1 := strconv.Atoi(f[1])
		r, err2 := strconv.ParseFloat(f[2], 64)
		secs, err3 := strconv.ParseFloat(f[3], 64)
		if err1 != nil || err2 != nil || err3 != nil || vm < 0 || vm >= len(g.sessions) {
			bad(fmt.Errorf("bad arguments"))
			break
		}
		go g.Storm(vm, r, time.Duration(secs*float64(time.Second)))
	case "stats":
		b, _ := json.Marshal(g.Stats())
		g.out.line("S " + string(b))
	case "quit":
		return true
	default:
		bad(fmt.Errorf("unknown command"))
	}
	return false
}

// output serialises the lines written to stdout.
type output struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func newOutput(f *os.File) *output { return &output{w: bufio.NewWriterSize(f, 1<<16)} }

func (o *output) line(s string) {
	o.mu.Lock()
	o.w.WriteString(s)
	o.w.WriteByte('\n')
	o.w.Flush()
	o.mu.Unlock()
}

func (o *output) lines(ls []string) {
	if len(ls) == 0 {
		return
	}
	o.mu.Lock()
	for _, s := range ls {
		o.w.WriteString(s)
		o.w.WriteByte('\n')
	}
	o.w.Flush()
	o.mu.Unlock()
}

// Generator runs the fake QEMUs.
type Generator struct {
	sessions []*session
	mix      Mix
	out      *output
	rng      *rand.Rand

	rate     atomic.Uint64 // math.Float64bits of events/s
	stop     chan struct{}
	stopOnce sync.Once

	noMonitor atomic.Int64 // events emitted while no client was connected
}

// NewGenerator listens on n sockets under dir.
func NewGenerator(dir string, n int, mix Mix, seed uint64, out *output) (*Generator, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	g := &Generator{mix: mix, out: out, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), stop: make(chan struct{})}
	for i := range n {
		path := filepath.Join(dir, strconv.Itoa(i)+".qmp")
		if len(path) > 107 {
			g.Close()
			return nil, fmt.Errorf("socket path %s is longer than 107 bytes", path)
		}
		_ = os.Remove(path)
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			g.Close()
			return nil, err
		}
		// QEMU's chardev socket has a backlog of 1 and serves one client;
		// the kernel still queues a few connects.
		s := &session{g: g, id: i, ln: ln, written: map[string]int64{}}
		s.cond = sync.NewCond(&s.mu)
		g.sessions = append(g.sessions, s)
		go s.serve()
	}
	return g, nil
}

// Close stops the generator and closes every socket.
func (g *Generator) Close() {
	g.stopOnce.Do(func() { close(g.stop) })
	for _, s := range g.sessions {
		s.close()
	}
}

// SetRate sets the total normal-mix rate.
func (g *Generator) SetRate(r float64) { g.rate.Store(uint64(max(0, r) * 1e6)) }

func (g *Generator) currentRate() float64 { return float64(g.rate.Load()) / 1e6 }

// Run emits the normal mix until Close: every tick, as many events as the
// rate owes since the last one, each to a socket chosen uniformly among
// those not storming.
func (g *Generator) Run() {
	const tick = 5 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	owed := 0.0
	for {
		select {
		case <-g.stop:
			return
		case now := <-t.C:
			owed += g.currentRate() * now.Sub(last).Seconds()
			last = now
			for ; owed >= 1; owed-- {
				s := g.sessions[g.rng.IntN(len(g.sessions))]
				if s.storming.Load() {
					// storming sockets emit their storm only; pick again.
					s = g.sessions[g.rng.IntN(len(g.sessions))]
					if s.storming.Load() {
						continue
					}
				}
				name, data := g.mix.pick(g.rng, s.id)
				s.emit(name, data, true)
			}
		}
	}
}

// Storm makes socket vm emit BLOCK_IO_ERROR (a disk failing under a guest
// with werror=report: one event per failed request, which QEMU does not
// rate-limit) at rate/s for d.
func (g *Generator) Storm(vm int, rate float64, d time.Duration) {
	s := g.sessions[vm]
	s.storming.Store(true)
	defer s.storming.Store(false)
	data := blockIOError(vm)
	const tick = 2 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	s.mu.Lock()
	before := s.stormWritten
	s.mu.Unlock()
	last, owed := start, 0.0
	for now := range t.C {
		end := now.Sub(start) >= d
		if end {
			now = start.Add(d)
		}
		owed += rate * now.Sub(last).Seconds()
		last = now
		var k int
		for k = 0; owed >= 1; owed-- {
			k++
		}
		s.emitN(qmpBlockIOError, data, k)
		if end {
			break
		}
	}
	// Wait for the writer to finish what was queued.
	s.flushed()
	s.mu.Lock()
	written := s.stormWritten - before
	s.mu.Unlock()
	g.out.line(fmt.Sprintf("STORMDONE %d %d", vm, written))
}

// Stats returns the counters.
func (g *Generator) Stats() wire.Stats {
	st := wire.Stats{Sockets: len(g.sessions), Written: map[string]int64{}, StormWritten: map[int]int64{}, NoMonitor: g.noMonitor.Load()}
	for _, s := range g.sessions {
		s.mu.Lock()
		if s.conn != nil && s.commandMode {
			st.Connected++
		}
		st.Handshakes += s.handshakes
		for k, v := range s.written {
			st.Written[k] += v
		}
		st.Unwritten += s.unwritten
		if s.stormWritten > 0 {
			st.StormWritten[s.id] = s.stormWritten
		}
		s.mu.Unlock()
	}
	return st
}

// session is one fake QEMU: a listening socket and at most one client.
type session struct {
	g        *Generator
	id       int
	ln       *net.UnixListener
	storming atomic.Bool

	mu           sync.Mutex
	cond         *sync.Cond
	conn         *net.UnixConn
	gen          int // connection generation, to tell a writer its client is gone
	commandMode  bool
	buf          []byte   // bytes queued for the client
	recs         []string // E lines of the events in buf
	counts       map[string]int64
	stormQueued  int64
	writing      bool
	handshakes   int64
	written      map[string]int64
	stormWritten int64
	unwritten    int64
	closed       bool
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
		return qmptest.Return(c.ID, json.RawMessage(`{"status":"running","singlestep":false,"running":true}`))
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

// emit queues one event stamped now, if a client is in command mode.
func (s *session) emit(name string, data json.RawMessage, record bool) {
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
	if record {
		s.recs = append(s.recs, fmt.Sprintf("E %d %s %d %d", s.id, name, sec, usec))
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
		for len(s.buf) == 0 && s.gen == gen && s.conn != nil && !s.closed {
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
		}
		s.cond.Broadcast()
		s.mu.Unlock()
		if err != nil {
			_ = c.Close()
			return
		}
		s.g.out.lines(recs)
	}
}

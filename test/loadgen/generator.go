package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmevents/vmevents/test/loadgen/wire"
)

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
	// held stops every session's writer after its current write (hold).
	held atomic.Bool
}

// Layout places the sockets: socket i is Dir/i.qmp or, with PerFolder set,
// Dir/<i/PerFolder>/Sub/i.qmp, so that consecutive groups of sockets sit
// under one folder each: one node's socket root each, with the default
// tenancy's namespace folder (Sub) below it.
type Layout struct {
	Dir       string
	PerFolder int
	Sub       string
}

// Path is socket i's path.
func (l Layout) Path(i int) string {
	if l.PerFolder <= 0 {
		return filepath.Join(l.Dir, strconv.Itoa(i)+".qmp")
	}
	return filepath.Join(l.Dir, strconv.Itoa(i/l.PerFolder), l.Sub, strconv.Itoa(i)+".qmp")
}

// NewGenerator listens on n sockets laid out by l.
func NewGenerator(l Layout, n int, mix Mix, seed uint64, out *output) (*Generator, error) {
	g := &Generator{mix: mix, out: out, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), stop: make(chan struct{})}
	for i := range n {
		path := l.Path(i)
		if len(path) > 107 {
			g.Close()
			return nil, fmt.Errorf("socket path %s is longer than 107 bytes", path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			g.Close()
			return nil, err
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

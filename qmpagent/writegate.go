package qmpagent

import (
	"context"
	"errors"
	"sync"

	"github.com/vmevents/vmevents/internal/pace"
)

// ErrCalledBack is a wait at the gate ended by its call-back channel
// (EnterUnless).
var ErrCalledBack = errors.New("called back before a place was free")

// WriteGate bounds how many of the agent's API writes are in flight at
// once, across its writers (status and Events), and hands a place that
// frees up to the oldest waiting write of the highest Lane. The apiserver
// knows nothing of the agent's lanes: when it cannot keep up, it serves
// the requests in flight in turn, whoever sent them. Keeping routine
// writes out of flight while urgent ones wait is what makes a panic's
// status and Event go first under any saturation; each writer's queue
// orders only its own keys.
type WriteGate struct {
	mu sync.Mutex
	// limit bounds the writes in flight, caps those of each lane.
	limit    int
	caps     [lanes]int
	inflight int
	in       [lanes]int
	// waiting holds the writes waiting for a place, by lane, oldest
	// first; a waiter's channel is closed when it gets one.
	waiting [lanes][]chan struct{}
	// routine bounds the routine lanes' writes in flight together; it
	// follows the apiserver's answer times (writegate_adapt.go).
	routine *pace.Window
}

// Lane is how soon a write must go when the apiserver cannot take every
// write asked of it: the writes of a higher lane take the places in flight
// first. Within a lane, the oldest goes first.
type Lane int

const (
	// LaneCounters holds status writes of facts nobody waits on
	// (counters, gauges: model.Facts.Urgent). They coalesce per VM while
	// they wait, so the longer they wait the fewer writes they cost.
	LaneCounters Lane = iota
	// LaneEvents holds Normal Events.
	LaneEvents
	// LaneUrgent holds the facts a condition depends on (run state,
	// panic, watchdog, I/O errors, monitor) and fault (Warning) Events.
	LaneUrgent

	lanes
)

// writeConcurrency is how many API writes the agent keeps in flight at
// most: enough to draw the apiserver's throughput (its answer takes tens of
// milliseconds under load; docs/benchmarks.md, scenario 2: 8 Event writes
// in flight gave a p99 of 9 s at 200 events/s, 32 about 0.3 s), few enough
// that an urgent write waits for a handful of answers, not for hundreds.
const writeConcurrency = 32

// counterConcurrency is how many of those places counter-only status
// writes may hold. A status apply is the apiserver's most expensive
// request: with every place free to them, a thousand VMs' counters filled
// the flight between two bursts of Events and each Event then waited for
// applies to finish. They coalesce while they wait, so a few places keep
// them current at no cost to the Events.
const counterConcurrency = 4

// NewWriteGate returns a gate letting limit writes through at once, at
// most counters of them in LaneCounters.
func NewWriteGate(limit, counters int) *WriteGate {
	g := &WriteGate{limit: max(1, limit)}
	for lane := range g.caps {
		g.caps[lane] = g.limit
	}
	g.caps[LaneCounters] = min(max(1, counters), g.limit)
	g.routine = newRoutineWindow(g.limit)
	return g
}

// roomLocked says whether a write of lane may go in flight now; g.mu is
// held.
func (g *WriteGate) roomLocked(lane Lane) bool {
	if g.inflight >= g.limit || g.in[lane] >= g.caps[lane] {
		return false
	}
	return lane == LaneUrgent || g.in[LaneEvents]+g.in[LaneCounters] < g.routine.Places()
}

// takeLocked puts a write of lane in flight; g.mu is held.
func (g *WriteGate) takeLocked(lane Lane) {
	g.inflight++
	g.in[lane]++
}

// Enter waits for a place for a write in lane and takes it; it gives up,
// taking nothing, when ctx ends first. Every Enter that returns nil is
// paired with a Leave.
func (g *WriteGate) Enter(ctx context.Context, lane Lane) error {
	return g.EnterUnless(ctx, lane, nil)
}

// EnterUnless is Enter that also gives up, with ErrCalledBack, when
// callBack is closed first (a nil callBack never is).
func (g *WriteGate) EnterUnless(ctx context.Context, lane Lane, callBack <-chan struct{}) error {
	lane = min(max(lane, LaneCounters), LaneUrgent)
	g.mu.Lock()
	// A write waits behind every waiting write of its lane and above.
	ahead := 0
	for l := lane; l < lanes; l++ {
		ahead += len(g.waiting[l])
	}
	if ahead == 0 && g.roomLocked(lane) {
		g.takeLocked(lane)
		g.mu.Unlock()
		return nil
	}
	granted := make(chan struct{})
	g.waiting[lane] = append(g.waiting[lane], granted)
	g.mu.Unlock()

	var gaveUp error
	select {
	case <-granted:
		return nil
	case <-ctx.Done():
		gaveUp = ctx.Err()
	case <-callBack:
		gaveUp = ErrCalledBack
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, ch := range g.waiting[lane] {
		if ch == granted {
			g.waiting[lane] = append(g.waiting[lane][:i], g.waiting[lane][i+1:]...)
			return gaveUp
		}
	}
	// Granted as it gave up: pass the place on.
	g.leaveLocked(lane)
	return gaveUp
}

// Leave gives back the place an Enter of lane took.
func (g *WriteGate) Leave(lane Lane) {
	lane = min(max(lane, LaneCounters), LaneUrgent)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.leaveLocked(lane)
}

// leaveLocked frees a place of lane and hands what room there is to the
// waiting writes, highest lane first; g.mu is held.
func (g *WriteGate) leaveLocked(lane Lane) {
	g.inflight--
	g.in[lane]--
	g.grantLocked()
}

// grantLocked hands what room there is to the waiting writes, highest lane
// first; g.mu is held.
func (g *WriteGate) grantLocked() {
	for l := LaneUrgent; l >= LaneCounters; l-- {
		for len(g.waiting[l]) > 0 && g.roomLocked(l) {
			g.takeLocked(l)
			close(g.waiting[l][0])
			g.waiting[l] = g.waiting[l][1:]
		}
	}
}

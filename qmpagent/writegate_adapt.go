package qmpagent

import (
	"time"

	"github.com/vmevents/vmevents/qmpagent/metrics"
)

// The routine lanes' share of the flight follows the apiserver.
//
// An apiserver that cannot answer every write asked of it answers each of
// those in flight later (on a 2-core machine each write costs it a few
// milliseconds of CPU: Little's law makes the answer time the number in
// flight over its throughput). Ordering the agent's own queue cannot help
// a fault's write that goes in flight behind thirty routine ones, nor the
// controller's condition write behind them: both wait for the routine
// writes already there. So the routine lanes together get only as many
// places as keep the answers quick, found as TCP finds its window
// (additive increase, multiplicative decrease): an answer slower than
// routineTarget cuts their places by a quarter, at most once per answer
// time, and each quick one adds 1/places (one place per round of quick
// answers). Urgent writes are never held back by it. What the routine
// lanes are refused waits in the writers' queues, where Event occurrences
// fold into series counts and counters into one status write per VM, so a
// saturated apiserver is asked for fewer writes, not more.
type routineBound struct {
	limit  int
	window float64
	// lastCut is when the window was last cut.
	lastCut time.Time
}

const (
	// routineTarget is the answer time the routine lanes are kept to.
	// An idle apiserver answers a write in a few milliseconds; past 50 ms
	// the requests in flight are queueing for its CPU (docs/benchmarks.md,
	// scenario 2: at 50 ms the pausing faults became conditions after
	// p50 225 ms, at 100 ms after 254 ms to 540 ms).
	routineTarget = 50 * time.Millisecond
	// routineMin are the places the routine lanes keep however slow the
	// apiserver answers, so that they always move.
	routineMin = 2
	// routineCut is what a slow answer leaves of the window.
	routineCut = 0.75
)

func newRoutineBound(limit int) routineBound {
	b := routineBound{limit: limit, window: float64(limit)}
	metrics.RoutineWritePlaces.Set(b.window)
	return b
}

// places are the routine lanes' places in flight now.
func (b *routineBound) places() int {
	return max(min(routineMin, b.limit), int(b.window))
}

// observe takes a write's answer time (took) at now; it says whether the
// window grew.
func (b *routineBound) observe(took time.Duration, now time.Time) bool {
	before := b.places()
	if took > routineTarget {
		if now.Sub(b.lastCut) >= took {
			b.window = max(routineMin, b.window*routineCut)
			b.lastCut = now
			metrics.RoutineWritePlaces.Set(b.window)
		}
		return false
	}
	b.window = min(float64(b.limit), b.window+1/b.window)
	metrics.RoutineWritePlaces.Set(b.window)
	return b.places() > before
}

// Observe tells the gate how long a write it let through took to be
// answered (from going in flight to the apiserver's answer, whatever the
// answer), so that the routine lanes' places follow the apiserver (see
// routineBound). A write given up for shutdown should not be observed.
func (g *WriteGate) Observe(took time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.routine.observe(took, time.Now()) {
		g.grantLocked()
	}
}

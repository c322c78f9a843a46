// Package pace holds how many writes a client of a saturated apiserver
// keeps in flight: a window found as TCP finds its own, from the answer
// times. The agent's routine writes and the controller's transition Events
// use it, so that what cannot wait (a panic's status, a condition) finds
// the apiserver answering.
package pace

import "time"

// An apiserver that cannot answer every write asked of it answers each of
// those in flight later (on a 2-core machine each write costs it a few
// milliseconds of CPU: Little's law makes the answer time the number in
// flight over its throughput). A write that must go first cannot overtake
// writes already in flight, so writes that can wait get only as many
// places as keep the answers quick: additive increase, multiplicative
// decrease. An answer slower than Target cuts the window by a quarter, at
// most once per answer time, and each quick one adds 1/window (one place
// per round of quick answers).
const (
	// Target is the answer time a Window keeps its writes to. An idle
	// apiserver answers a write in a few milliseconds; past 50 ms the
	// requests in flight are queueing for its CPU (docs/benchmarks.md,
	// scenario 2: at 50 ms the pausing faults became conditions after
	// p50 225 ms, at 100 ms after 254 ms to 540 ms).
	Target = 50 * time.Millisecond
	// cut is what a slow answer leaves of the window.
	cut = 0.75
)

// Window is how many writes may be in flight now, between a minimum (so
// that the writes always move) and a limit. It is not safe for concurrent
// use: its owner's lock guards it.
type Window struct {
	limit, min float64
	window     float64
	// lastCut is when the window was last cut.
	lastCut time.Time
}

// NewWindow returns a window open to limit places, never closing below
// minimum (nor above limit).
func NewWindow(limit, minimum int) *Window {
	limit = max(1, limit)
	return &Window{limit: float64(limit), min: float64(min(max(1, minimum), limit)), window: float64(limit)}
}

// Places are the places in flight now.
func (w *Window) Places() int { return int(max(w.min, w.window)) }

// Size is the window as a number, for a gauge.
func (w *Window) Size() float64 { return w.window }

// Observe takes a write's answer time (took) at now, and says whether a
// place was added.
func (w *Window) Observe(took time.Duration, now time.Time) bool {
	before := w.Places()
	if took > Target {
		if now.Sub(w.lastCut) >= took {
			w.window = max(w.min, w.window*cut)
			w.lastCut = now
		}
		return false
	}
	w.window = min(w.limit, w.window+1/w.window)
	return w.Places() > before
}

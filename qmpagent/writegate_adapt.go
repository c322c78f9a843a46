package qmpagent

import (
	"time"

	"github.com/vmevents/vmevents/internal/pace"
	"github.com/vmevents/vmevents/qmpagent/metrics"
)

// The routine lanes' share of the flight follows the apiserver (a
// pace.Window over the answer times of all the agent's writes). Ordering
// the agent's own queue cannot help a fault's write that goes in flight
// behind thirty routine ones, nor the controller's condition write behind
// them: both wait for the routine writes already there. So the routine
// lanes together get only as many places as keep the answers quick;
// urgent writes are never held back by it. What the routine lanes are
// refused waits in the writers' queues, where Event occurrences fold into
// series counts and counters into one status write per VM, so a saturated
// apiserver is asked for fewer writes, not more.
//
// Fault Events stay urgent, with the facts. Paced with the Normal Events
// (tried in the bench's scenario 2), the facts of a load's first faults
// reached the apiserver sooner but all at once, the controller's queue
// backed up behind their flips, and the conditions came later, not
// sooner; the faults' Events came seconds late besides.

// routineMin are the places the routine lanes keep however slow the
// apiserver answers, so that they always move.
const routineMin = 2

func newRoutineWindow(limit int) *pace.Window {
	w := pace.NewWindow(limit, routineMin)
	metrics.RoutineWritePlaces.Set(w.Size())
	return w
}

// Observe tells the gate how long a write it let through took to be
// answered (from going in flight to the apiserver's answer, whatever the
// answer), so that the routine lanes' places follow the apiserver. A write
// given up for shutdown should not be observed.
func (g *WriteGate) Observe(took time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	grew := g.routine.Observe(took, time.Now())
	metrics.RoutineWritePlaces.Set(g.routine.Size())
	if grew {
		g.grantLocked()
	}
}

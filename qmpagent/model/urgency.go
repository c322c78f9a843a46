package model

import (
	"reflect"
	"time"
)

// Urgent reports whether f differs from before in a fact that someone waits
// on: run state, monitor connection, panic, watchdog, memory failure,
// display sessions, block errors, quorum faults, devices: what conditions
// are computed from and what `kubectl get vm` shows. Counters, delivery
// statistics, the last event's time and gauges that routine events move
// (RTC offset, balloon size, the last reset) are not: a status write may
// wait for them, so that a busy node spends its API budget on Events and
// on the facts that matter.
func (f Facts) Urgent(before Facts) bool {
	return !reflect.DeepEqual(f.withoutRoutine(), before.withoutRoutine())
}

// withoutRoutine is f without the facts routine events move.
func (f Facts) withoutRoutine() Facts {
	f.EventCounts = nil
	f.Delivery = Delivery{}
	f.RTCOffsetSeconds = nil
	f.BalloonActualBytes = nil
	f.LastReset = nil
	f.Monitor.LastEventTime = time.Time{}
	return f
}

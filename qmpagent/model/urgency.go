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
// on the facts that matter. Nor is a fault repeating soon after the same
// one (repeat): it changes no condition, only its count and time.
func (f Facts) Urgent(before Facts) bool {
	return !reflect.DeepEqual(f.withoutRoutine(before), before.withoutRoutine(before))
}

// RepeatWindow is how soon after a fault the same fault again is a repeat:
// far shorter than any window a condition keeps a fault for (the
// controller's I/O error window is 5 minutes), so that a repeat never
// turns a condition True again; it only moves the fault's count and time.
const RepeatWindow = time.Minute

// withoutRoutine is f without the facts routine events move; repeats of
// before's faults are taken back to before's value.
func (f Facts) withoutRoutine(before Facts) Facts {
	if repeatsWatchdog(f, before) { // before LastReset goes: it tells
		f.LastWatchdog = before.LastWatchdog
	}
	f.EventCounts = nil
	f.Delivery = Delivery{}
	f.RTCOffsetSeconds = nil
	f.BalloonActualBytes = nil
	f.LastReset = nil
	f.Monitor.LastEventTime = time.Time{}
	if f.BlockErrors != nil {
		errs := make(map[string]BlockError, len(f.BlockErrors))
		for dev, b := range f.BlockErrors {
			if old, ok := before.BlockErrors[dev]; ok && repeatsBlockError(b, old) {
				b = old
			}
			errs[dev] = b
		}
		f.BlockErrors = errs
	}
	return f
}

// repeatsWatchdog says whether f's watchdog expiry repeats before's: the
// same action, soon after, with no reset, restart or run-state change
// between them (each may have ended the condition the first one set).
func repeatsWatchdog(f, before Facts) bool {
	w, old := f.LastWatchdog, before.LastWatchdog
	if w == nil || old == nil || w.Action != old.Action || !soonAfter(w.Time, old.Time) {
		return false
	}
	if r := f.LastReset; r != nil && !r.Time.Before(old.Time) {
		return false
	}
	return f.RunState == before.RunState && f.StartTime.Equal(before.StartTime)
}

// repeatsBlockError says whether b is old again: the same error on the
// same device, soon after; only its count and time moved.
func repeatsBlockError(b, old BlockError) bool {
	if !soonAfter(b.LastTime, old.LastTime) {
		return false
	}
	b.Count, b.LastTime = old.Count, old.LastTime
	return b == old
}

// soonAfter says whether t is at most RepeatWindow after a known earlier.
func soonAfter(t, earlier time.Time) bool {
	return !earlier.IsZero() && !t.Before(earlier) && t.Sub(earlier) <= RepeatWindow
}

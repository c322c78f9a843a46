package qmpagent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vmevents/vmevents/qmpagent/model"
)

func TestEventsSeriesKeysAndPruning(t *testing.T) {
	e := NewEvents(nil, "node-1") // not run: nothing is written
	vm := corev1.ObjectReference{Namespace: "default", Name: "web-1", UID: "u1"}
	t0 := time.Unix(1700000000, 0)
	occ := func(series string, at time.Time) model.Occurrence {
		return model.Occurrence{Time: at, Action: "BLOCK_IO_ERROR", Reason: "BlockIOError", Warning: true, Series: series}
	}
	if e.Publish(vm, occ("disk0/read/stop", t0)) {
		t.Error("the first occurrence was coalesced")
	}
	if !e.Publish(vm, occ("disk0/read/stop", t0.Add(time.Second))) {
		t.Error("a repeat on the same disk started a new Event")
	}
	if e.Publish(vm, occ("disk1/read/stop", t0.Add(time.Second))) {
		t.Error("another disk was folded into the first disk's Event")
	}
	late := t0.Add(SeriesWindow + 2*time.Second)
	if !e.Publish(vm, occ("disk0/read/stop", late)) {
		t.Error("a repeat after the series window started a new Event while the old one is not written")
	}
	markWritten(e)
	if e.Publish(vm, occ("disk0/read/stop", late.Add(SeriesWindow+time.Second))) {
		t.Error("a repeat after the series window joined the old, written Event")
	}

	markWritten(e)
	e.mu.Lock()
	e.pruneLocked(t0.Add(4 * SeriesWindow))
	left := len(e.series)
	e.mu.Unlock()
	if left != 0 {
		t.Errorf("%d series left after their windows closed", left)
	}
}

// markWritten makes every series look written, as after a successful write.
func markWritten(e *Events) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.series {
		s.created = true
		e.writer.Forget(seriesKeyOf(e, s))
	}
}

// seriesKeyOf finds the map key of s.
func seriesKeyOf(e *Events, s *series) string {
	for k, v := range e.series {
		if v == s {
			return k
		}
	}
	return ""
}

// A fault's Event is urgent, unless it only moves the count of a series
// written less than model.RepeatWindow before; a Normal Event never is.
func TestEventsFaultRepeatsAreRoutine(t *testing.T) {
	vm := corev1.ObjectReference{Namespace: "default", Name: "web-1", UID: "u1"}
	t0 := time.Unix(1700000000, 0)
	fault := func(at time.Time) model.Occurrence {
		return model.Occurrence{Time: at, Action: "WATCHDOG", Reason: "Watchdog", Warning: true, Series: "none"}
	}
	urgent := func(e *Events) bool {
		e.writer.mu.Lock()
		defer e.writer.mu.Unlock()
		for _, u := range e.writer.urgent {
			if u {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		name    string
		written bool          // the first Event is written before the second occurrence
		after   time.Duration // the second occurrence, after the first
		want    bool
	}{
		{name: "a repeat within the window", written: true, after: 10 * time.Second, want: false},
		{name: "a repeat before the first is written stays urgent", written: false, after: 10 * time.Second, want: true},
		{name: "the same fault after the window", written: true, after: model.RepeatWindow + time.Second, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEvents(nil, "node-1") // not run: nothing is written
			e.Publish(vm, fault(t0))
			if !urgent(e) {
				t.Fatal("a fault's first Event is not urgent")
			}
			if tc.written {
				markWritten(e)
			}
			e.Publish(vm, fault(t0.Add(tc.after)))
			if got := urgent(e); got != tc.want {
				t.Fatalf("urgent %v, want %v", got, tc.want)
			}
		})
	}
}

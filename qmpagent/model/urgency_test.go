package model

import (
	"testing"
	"time"
)

func TestUrgent(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	base := func() Facts {
		return Facts{
			RunState:    "running",
			Monitor:     Monitor{State: "Connected"},
			EventCounts: map[string]int64{"RTC_CHANGE": 3},
			BlockErrors: map[string]BlockError{"disk0": {Device: "disk0", Count: 1}},
		}
	}
	one := int64(1)
	for _, tc := range []struct {
		name   string
		change func(f *Facts)
		urgent bool
	}{
		{"nothing", func(*Facts) {}, false},
		{"a counter and the last event's time", func(f *Facts) { f.EventCounts["RTC_CHANGE"]++; f.Monitor.LastEventTime = t0 }, false},
		{"a new counter", func(f *Facts) { f.EventCounts["RESET"] = 1 }, false},
		{"delivery", func(f *Facts) { f.Delivery.Coalesced++ }, false},
		{"rtc offset", func(f *Facts) { f.RTCOffsetSeconds = &one }, false},
		{"balloon", func(f *Facts) { f.BalloonActualBytes = &one }, false},
		{"last reset", func(f *Facts) { f.LastReset = &Reset{Time: t0} }, false},
		{"run state", func(f *Facts) { f.RunState = "paused" }, true},
		{"monitor", func(f *Facts) { f.Monitor.State = "Disconnected" }, true},
		{"panic", func(f *Facts) { f.LastPanic = &Panic{Time: t0} }, true},
		{"watchdog", func(f *Facts) { f.LastWatchdog = &Watchdog{Time: t0} }, true},
		{"block error count", func(f *Facts) { f.BlockErrors["disk0"] = BlockError{Device: "disk0", Count: 2} }, true},
		{"memory failure", func(f *Facts) { f.LastMemoryFailure = &MemoryFailure{Time: t0, Count: 1} }, true},
		{"quorum fault", func(f *Facts) { f.QuorumFaults = map[string]QuorumFault{"NoQuorum/q0": {Node: "q0", Count: 1}} }, true},
		{"display", func(f *Facts) { f.Display = map[string]DisplaySession{"vnc/1": {}} }, true},
	} {
		before := base()
		after := before.Clone()
		tc.change(&after)
		if got := after.Urgent(before); got != tc.urgent {
			t.Errorf("%s: Urgent() = %v, want %v", tc.name, got, tc.urgent)
		}
	}
}

package model

import (
	"testing"
	"time"
)

func TestUrgent(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	base := func() Facts {
		return Facts{
			RunState:     "running",
			Monitor:      Monitor{State: "Connected"},
			EventCounts:  map[string]int64{"RTC_CHANGE": 3},
			BlockErrors:  map[string]BlockError{"disk0": {Device: "disk0", Action: "report", Count: 1, LastTime: t0}},
			LastWatchdog: &Watchdog{Time: t0, Action: "none"},
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
		{"the watchdog gone", func(f *Facts) { f.LastWatchdog = nil }, true},
		{"the same watchdog again soon", func(f *Facts) { f.LastWatchdog = &Watchdog{Time: t0.Add(time.Second), Action: "none"} }, false},
		{"the same watchdog again after a while", func(f *Facts) { f.LastWatchdog = &Watchdog{Time: t0.Add(2 * RepeatWindow), Action: "none"} }, true},
		{"another watchdog action", func(f *Facts) { f.LastWatchdog = &Watchdog{Time: t0.Add(time.Second), Action: "pause"} }, true},
		{"a watchdog again after a reset", func(f *Facts) {
			f.LastReset = &Reset{Time: t0.Add(time.Second)}
			f.LastWatchdog = &Watchdog{Time: t0.Add(2 * time.Second), Action: "none"}
		}, true},
		{"a watchdog again with the run state", func(f *Facts) {
			f.RunState = "paused"
			f.LastWatchdog = &Watchdog{Time: t0.Add(time.Second), Action: "none"}
		}, true},
		{"the same block error again soon", func(f *Facts) {
			f.BlockErrors["disk0"] = BlockError{Device: "disk0", Action: "report", Count: 2, LastTime: t0.Add(time.Second)}
		}, false},
		{"the same block error after a while", func(f *Facts) {
			f.BlockErrors["disk0"] = BlockError{Device: "disk0", Action: "report", Count: 2, LastTime: t0.Add(2 * RepeatWindow)}
		}, true},
		{"another block error action", func(f *Facts) {
			f.BlockErrors["disk0"] = BlockError{Device: "disk0", Action: "stop", Count: 2, LastTime: t0.Add(time.Second)}
		}, true},
		{"a block error on another disk", func(f *Facts) { f.BlockErrors["disk1"] = BlockError{Device: "disk1", Count: 1, LastTime: t0} }, true},
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

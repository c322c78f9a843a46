package model

import (
	"testing"
	"time"
)

// Routine events may wait for the VM's next status write; the ones that
// change what conditions are computed from may not (Facts.Urgent).
func TestApplyUrgency(t *testing.T) {
	for _, tc := range []struct {
		line   string
		urgent bool
	}{
		{`{"event": "RTC_CHANGE", "data": {"offset": 2, "qom-path": "/machine/unattached/device[8]"}, ` + ts + `}`, false},
		{`{"event": "RESET", "data": {"guest": true, "reason": "guest-reset"}, ` + ts + `}`, false},
		{`{"event": "BALLOON_CHANGE", "data": {"actual": 1073741824}, ` + ts + `}`, false},
		{`{"event": "WATCHDOG", "data": {"action": "reset"}, ` + ts + `}`, true},
		{`{"event": "BLOCK_IO_ERROR", "data": {"device": "disk0", "node-name": "n0", "operation": "read", "action": "report", "nospace": false, "reason": "Input/output error"}, ` + ts + `}`, true},
		{`{"event": "STOP", ` + ts + `}`, true},
		{`{"event": "GUEST_PANICKED", "data": {"action": "pause"}, ` + ts + `}`, true},
	} {
		before := Facts{RunState: "running", Monitor: Monitor{State: "Connected", LastEventTime: time.Unix(1, 0)},
			EventCounts: map[string]int64{"RTC_CHANGE": 1}}
		after := before.Clone()
		ev := event(t, tc.line)
		ApplyQMP(&after, ev, time.Now())
		if got := after.Urgent(before); got != tc.urgent {
			t.Errorf("%s: Urgent() = %v, want %v", ev.Name, got, tc.urgent)
		}
	}
}

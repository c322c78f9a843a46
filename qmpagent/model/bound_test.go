package model

import (
	"fmt"
	"strings"
	"testing"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// poisoned returns facts as a hostile or broken peer could make them: n VNC
// clients, n failing disks, n quorum faults, names distinct event names
// counted once each, and action strings of long bytes.
func poisoned(n, names, long int) Facts {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := Facts{Display: map[string]DisplaySession{}, BlockErrors: map[string]BlockError{}, QuorumFaults: map[string]QuorumFault{}}
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second)
		d := DisplaySession{Protocol: "vnc", Client: fmt.Sprintf("10.0.0.%d:5900", i), Since: at}
		f.Display[d.Key()] = d
		dev := fmt.Sprintf("disk%d", i)
		f.BlockErrors[dev] = BlockError{Device: dev, Operation: "write", Action: "stop", Count: 1, LastTime: at}
		q := QuorumFault{Node: fmt.Sprintf("child%d", i), Kind: vmv1.QuorumFaultBadChild, Count: 1, LastTime: at}
		f.QuorumFaults[q.Key()] = q
	}
	for i := range names {
		f.Count(fmt.Sprintf("EVENT_%d", i), 1)
	}
	f.Count("GUEST_PANICKED", 1)
	action := strings.Repeat("x", long)
	f.LastPanic = &Panic{Time: t0, Action: action, Info: action}
	f.LastWatchdog = &Watchdog{Time: t0, Action: action}
	f.LastReset = &Reset{Time: t0, Reason: action}
	return f
}

func TestBound(t *testing.T) {
	for _, tc := range []struct {
		name        string
		in          Facts
		wantDropped map[string]int64
	}{
		{"within the schema", poisoned(64, 100, 32), nil},
		{"65 of each", poisoned(65, 0, 32), map[string]int64{"displaySessions": 1, "blockErrors": 1, "quorumFaults": 1}},
		{"thousands of event names", poisoned(0, 5000, 0), map[string]int64{"eventCounts": 5001 - (MaxEventNames - 1)}},
		{"long actions", poisoned(1, 0, 100000), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.in.Clone()
			var sum int64
			for _, n := range f.EventCounts {
				sum += n
			}
			dropped := f.Bound()
			if fmt.Sprint(dropped) != fmt.Sprint(tc.wantDropped) {
				t.Errorf("dropped %v, want %v", dropped, tc.wantDropped)
			}
			if len(f.Display) > MaxDisplaySessions || len(f.BlockErrors) > MaxBlockErrors || len(f.QuorumFaults) > MaxQuorumFaults || len(f.EventCounts) > MaxEventNames {
				t.Errorf("over a cap: %d sessions, %d block errors, %d quorum faults, %d event names",
					len(f.Display), len(f.BlockErrors), len(f.QuorumFaults), len(f.EventCounts))
			}
			// The oldest entries went; the newest stayed.
			if _, ok := f.BlockErrors["disk0"]; ok && len(tc.in.BlockErrors) > MaxBlockErrors {
				t.Error("the oldest block error was kept")
			}
			if _, ok := f.BlockErrors[fmt.Sprintf("disk%d", len(tc.in.BlockErrors)-1)]; !ok && len(tc.in.BlockErrors) > 0 {
				t.Error("the newest block error was dropped")
			}
			// Folding keeps the counts exact and the names users read.
			var after int64
			for _, n := range f.EventCounts {
				after += n
			}
			if after != sum || f.EventCounts["GUEST_PANICKED"] != 1 {
				t.Errorf("counts sum %d (was %d), GUEST_PANICKED %d", after, sum, f.EventCounts["GUEST_PANICKED"])
			}
			if len(f.LastPanic.Action) > 32 || len(f.LastPanic.Info) > 1024 || len(f.LastWatchdog.Action) > 32 || len(f.LastReset.Reason) > 64 {
				t.Errorf("a string over its maxLength: %+v %+v %+v", f.LastPanic, f.LastWatchdog, f.LastReset)
			}
			if again := f.Bound(); again != nil {
				t.Errorf("bounded facts bounded again dropped %v", again)
			}
		})
	}
}

// TestBoundMergesCutKeys: two devices whose names differ only past the cut
// become one entry, since the status lists one per device.
func TestBoundMergesCutKeys(t *testing.T) {
	long := strings.Repeat("d", 300)
	t0 := time.Now()
	f := Facts{BlockErrors: map[string]BlockError{
		long + "1": {Device: long + "1", Count: 2, LastTime: t0},
		long + "2": {Device: long + "2", Count: 3, LastTime: t0.Add(time.Second)},
	}}
	f.Bound()
	if len(f.BlockErrors) != 1 {
		t.Fatalf("%d block errors, want 1", len(f.BlockErrors))
	}
	for k, b := range f.BlockErrors {
		if k != b.Device || len(b.Device) > 256 || b.Count != 5 || !b.LastTime.Equal(t0.Add(time.Second)) {
			t.Errorf("merged %q: %+v", k, b)
		}
	}
}

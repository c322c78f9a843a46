package model

import (
	"reflect"
	"testing"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// The facts the fault events leave for the controller's conditions
// (GuestPanicked, HardwareError, StorageDegraded): each line is applied in
// order to the same facts, as QEMU would send them (qapi/run-state.json,
// qapi/block-core.json), and the facts after the last one are compared.
func TestApplyFaultFacts(t *testing.T) {
	at2 := at.Add(time.Second)
	ts2 := `"timestamp": {"seconds": 1700000001, "microseconds": 250000}`
	for _, tc := range []struct {
		name  string
		lines []string
		want  Facts
	}{
		{
			name:  "GUEST_CRASHLOADED is a panic whose crash kernel took over",
			lines: []string{`{"event": "GUEST_CRASHLOADED", "data": {"action": "run", "info": {"type": "s390", "core": 0, "psw-mask": 1, "psw-addr": 2, "reason": "disabled-wait"}}, ` + ts + `}`},
			want: Facts{LastPanic: &Panic{Time: at, Action: "run", CrashLoaded: true,
				Info: "s390 core 0, PSW mask 0x1, PSW address 0x2, reason disabled-wait"}},
		},
		{
			name: "GUEST_PANICKED after GUEST_CRASHLOADED is a plain panic again",
			lines: []string{
				`{"event": "GUEST_CRASHLOADED", "data": {"action": "run"}, ` + ts + `}`,
				`{"event": "GUEST_PANICKED", "data": {"action": "run"}, ` + ts2 + `}`,
			},
			want: Facts{LastPanic: &Panic{Time: at2, Action: "run"}},
		},
		{
			name: "MEMORY_FAILURE keeps the latest and counts them",
			lines: []string{
				`{"event": "MEMORY_FAILURE", "data": {"recipient": "hypervisor", "action": "ignore", "flags": {"action-required": false, "recursive": false}}, ` + ts + `}`,
				`{"event": "MEMORY_FAILURE", "data": {"recipient": "guest", "action": "inject", "flags": {"action-required": true, "recursive": true}}, ` + ts2 + `}`,
			},
			want: Facts{LastMemoryFailure: &MemoryFailure{Time: at2, Recipient: "guest", Action: "inject", ActionRequired: true, Recursive: true, Count: 2}},
		},
		{
			name: "QUORUM_FAILURE and QUORUM_REPORT_BAD: one entry per node and kind",
			lines: []string{
				`{"event": "QUORUM_FAILURE", "data": {"reference": "usr1", "sector-num": 345435, "sectors-count": 5}, ` + ts + `}`,
				`{"event": "QUORUM_REPORT_BAD", "data": {"node-name": "1.raw", "sector-num": 10, "sectors-count": 2, "type": "read", "error": "Input/output error"}, ` + ts + `}`,
				`{"event": "QUORUM_FAILURE", "data": {"reference": "usr1", "sector-num": 8, "sectors-count": 1}, ` + ts2 + `}`,
			},
			want: Facts{QuorumFaults: map[string]QuorumFault{
				"NoQuorum/usr1": {Node: "usr1", Kind: vmv1.QuorumFaultNoQuorum, SectorNum: 8, SectorsCount: 1, Count: 2, LastTime: at2},
				"BadChild/1.raw": {Node: "1.raw", Kind: vmv1.QuorumFaultBadChild, Operation: "read", Error: "Input/output error",
					SectorNum: 10, SectorsCount: 2, Count: 1, LastTime: at},
			}},
		},
		{
			name:  "a forged node name is cleaned",
			lines: []string{`{"event": "QUORUM_REPORT_BAD", "data": {"node-name": "n\u001b[2J", "sector-num": 0, "sectors-count": 1, "type": "write"}, ` + ts + `}`},
			want: Facts{QuorumFaults: map[string]QuorumFault{
				"BadChild/n?[2J": {Node: "n?[2J", Kind: vmv1.QuorumFaultBadChild, Operation: "write", SectorsCount: 1, Count: 1, LastTime: at},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f Facts
			for _, l := range tc.lines {
				ApplyQMP(&f, event(t, l), time.Now())
			}
			got := Facts{LastPanic: f.LastPanic, LastMemoryFailure: f.LastMemoryFailure, QuorumFaults: f.QuorumFaults}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("facts:\n got %+v %+v %+v\nwant %+v %+v %+v", got.LastPanic, got.LastMemoryFailure, got.QuorumFaults,
					tc.want.LastPanic, tc.want.LastMemoryFailure, tc.want.QuorumFaults)
			}
		})
	}
}

// Clone must not share the new fault facts with the original.
func TestCloneFaultFacts(t *testing.T) {
	f := Facts{
		LastMemoryFailure: &MemoryFailure{Count: 1},
		QuorumFaults:      map[string]QuorumFault{"NoQuorum/q": {Node: "q", Count: 1}},
	}
	c := f.Clone()
	c.LastMemoryFailure.Count = 2
	c.QuorumFaults["NoQuorum/q"] = QuorumFault{Count: 2}
	if f.LastMemoryFailure.Count != 1 || f.QuorumFaults["NoQuorum/q"].Count != 1 {
		t.Errorf("Clone shares the fault facts: %+v %+v", f.LastMemoryFailure, f.QuorumFaults)
	}
}

package qmpagent

import (
	"reflect"
	"testing"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// The fault facts survive a trip through the status and back, which is how a
// restarted agent continues them (FactsFromStatus).
func TestFaultFactsRoundTrip(t *testing.T) {
	t1 := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	for _, tc := range []struct {
		name string
		in   model.Facts
	}{
		{"crash loaded panic", model.Facts{LastPanic: &model.Panic{Time: t1, Action: "run", Info: "s390", CrashLoaded: true}}},
		{"memory failure", model.Facts{LastMemoryFailure: &model.MemoryFailure{
			Time: t1, Recipient: "guest", Action: "inject", ActionRequired: true, Recursive: true, Count: 3}}},
		{"quorum faults", model.Facts{QuorumFaults: map[string]model.QuorumFault{
			"NoQuorum/usr1": {Node: "usr1", Kind: vmv1.QuorumFaultNoQuorum, SectorNum: 8, SectorsCount: 1, Count: 2, LastTime: t1},
			"BadChild/1.raw": {Node: "1.raw", Kind: vmv1.QuorumFaultBadChild, Operation: "read", Error: "EIO",
				SectorNum: 10, SectorsCount: 2, Count: 1, LastTime: t1},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := StatusFromFacts(tc.in)
			out := FactsFromStatus(st)
			got := model.Facts{LastPanic: out.LastPanic, LastMemoryFailure: out.LastMemoryFailure, QuorumFaults: out.QuorumFaults}
			if !reflect.DeepEqual(got, tc.in) {
				t.Errorf("round trip:\n got %+v %+v %+v\nwant %+v %+v %+v", got.LastPanic, got.LastMemoryFailure, got.QuorumFaults,
					tc.in.LastPanic, tc.in.LastMemoryFailure, tc.in.QuorumFaults)
			}
		})
	}
}

// Quorum faults are written in a stable order, so that equal facts make
// equal applies.
func TestQuorumFaultsInStableOrder(t *testing.T) {
	f := model.Facts{QuorumFaults: map[string]model.QuorumFault{
		"NoQuorum/b": {Node: "b", Kind: vmv1.QuorumFaultNoQuorum, Count: 1},
		"BadChild/a": {Node: "a", Kind: vmv1.QuorumFaultBadChild, Count: 1},
		"NoQuorum/a": {Node: "a", Kind: vmv1.QuorumFaultNoQuorum, Count: 1},
	}}
	var got []string
	for _, q := range StatusFromFacts(f).QuorumFaults {
		got = append(got, string(q.Kind)+"/"+q.Node)
	}
	if want := []string{"BadChild/a", "NoQuorum/a", "NoQuorum/b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

package main

import (
	"math"
	"testing"
	"time"
)

func TestThousands(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"}, {999.4, "999"}, {1000, "1,000"}, {1234567.8, "1,234,568"}, {-1500, "-1,500"}, {-0.2, "0"},
	} {
		if got := thousands(tc.in); got != tc.want {
			t.Errorf("thousands(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The extrapolation adds the per-node, per-VM and per-event costs, and
// maxRate is the event rate at which its writes reach a budget.
func TestCostModel(t *testing.T) {
	c := costModel{leasePerNode: 0.1, vmReq: 0.001, vmWrites: 0.0005, ctrlIdle: 0.5,
		reqPerEvent: 2, writesPerEvent: 1.5, createsPerEvent: 1, reconcilesPerEvent: 0.7, ctrlReqPerEvent: 0.6,
		vmReconciles: 0.01, nodeIdleCPU: 0.0005, eventCPU: 0.002,
		readLat: 10 * time.Millisecond, writeLat: 30 * time.Millisecond}
	vms := float64(bigNodes * bigVMsPerNode)
	for _, tc := range []struct {
		rate float64
		want bigLoad
	}{
		{0, bigLoad{reqs: bigNodes*0.1 + vms*0.001 + 0.5, writes: bigNodes*0.1 + vms*0.0005, ctrlReqs: 0.5,
			reconciles: vms * 0.01, ctrlCores: bigNodes * 0.0005}},
		{0.01, bigLoad{events: vms * 0.01, reqs: bigNodes*0.1 + vms*0.001 + 0.5 + vms*0.01*2, writes: bigNodes*0.1 + vms*0.0005 + vms*0.01*1.5,
			reconciles: vms*0.01 + vms*0.01*0.7, ctrlReqs: 0.5 + vms*0.01*0.6, ctrlCores: bigNodes*0.0005 + vms*0.01*0.002, alive: vms * 0.01 * 3600}},
	} {
		got := c.at(tc.rate)
		tc.want.seats = ((tc.want.reqs-tc.want.writes)*0.010 + tc.want.writes*0.030) / apiservers
		for _, f := range []struct {
			name      string
			got, want float64
		}{
			{"events", got.events, tc.want.events}, {"reqs", got.reqs, tc.want.reqs}, {"writes", got.writes, tc.want.writes},
			{"reconciles", got.reconciles, tc.want.reconciles}, {"ctrlReqs", got.ctrlReqs, tc.want.ctrlReqs}, {"ctrlCores", got.ctrlCores, tc.want.ctrlCores},
			{"seats", got.seats, tc.want.seats}, {"alive", got.alive, tc.want.alive},
		} {
			if math.Abs(f.got-f.want) > 1e-6*max(1, math.Abs(f.want)) {
				t.Errorf("at(%v).%s = %v, want %v", tc.rate, f.name, f.got, f.want)
			}
		}
	}
	if r := c.maxRate(writeBudget); math.Abs(c.at(r).writes-writeBudget) > 1e-6 {
		t.Errorf("at(maxRate(%v)).writes = %v", writeBudget, c.at(r).writes)
	}
	if r := c.maxRate(1); r != 0 {
		t.Errorf("maxRate below the idle writes = %v, want 0", r)
	}
}

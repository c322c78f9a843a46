package controllers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// setStorageDegradedCondition is True while quorum faults keep arriving: a
// quorum device or child had one less than the fault window
// (--io-error-window) ago, in the current run. QEMU tells of faults only
// (rate-limited, per node) and never of a repair, so quiet for the window
// is what clears it. NoQuorum (the guest got an error) wins over
// QuorumChildBad (the quorum held).
func setStorageDegradedCondition(vm *vmv1.VirtualMachine, f facts, now time.Time) {
	c := metav1.Condition{Type: vmv1.ConditionStorageDegraded}
	all := f.status.QuorumFaults
	recent := f.recentQuorumFaults(now)
	switch {
	case !f.reported() && len(all) == 0:
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonAwaitingFacts
		c.Message = "the agent has not reported on the VM yet"
	case len(recent) > 0:
		c.Status, c.Reason = metav1.ConditionTrue, vmv1.ReasonQuorumChildBad
		for _, q := range recent {
			if q.Kind == vmv1.QuorumFaultNoQuorum {
				c.Reason = vmv1.ReasonNoQuorum
			}
		}
		c.Message = fmt.Sprintf("quorum faults in the last %s: %s", f.ioErrorWindow, describeQuorumFaults(recent))
	case len(all) > 0 || wasFaulted(vm, vmv1.ConditionStorageDegraded):
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonRecovered
		c.Message = fmt.Sprintf("no quorum fault in the last %s", f.ioErrorWindow)
		if last := newestQuorumFaults(all); len(last) > 0 {
			c.Message += "; last: " + describeQuorumFaults(last[:1])
		}
	default:
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonNoStorageFault
		c.Message = "no quorum fault reported"
	}
	setCondition(vm, c, now)
}

// recentQuorumFaults are the quorum faults that still count at now, newest first.
func (f facts) recentQuorumFaults(now time.Time) []vmv1.QuorumFault {
	var out []vmv1.QuorumFault
	for _, q := range f.status.QuorumFaults {
		if f.recent(microTime(q.LastTime), now) {
			out = append(out, q)
		}
	}
	return newestQuorumFaults(out)
}

// storageRecheck is when StorageDegraded may change by the passing of time
// alone (its oldest recent fault leaving the window), or zero.
func (f facts) storageRecheck(now time.Time) time.Time {
	recent := f.recentQuorumFaults(now)
	if len(recent) == 0 {
		return time.Time{}
	}
	return recent[len(recent)-1].LastTime.Add(f.ioErrorWindow)
}

// newestQuorumFaults returns a copy of qs, newest first.
func newestQuorumFaults(qs []vmv1.QuorumFault) []vmv1.QuorumFault {
	out := append([]vmv1.QuorumFault(nil), qs...)
	sort.SliceStable(out, func(i, j int) bool { return microTime(out[i].LastTime).After(microTime(out[j].LastTime)) })
	return out
}

// describeQuorumFaults tells which quorum nodes failed how.
func describeQuorumFaults(qs []vmv1.QuorumFault) string {
	var parts []string
	for i, q := range qs {
		if i == maxDevicesInMessage {
			parts = append(parts, fmt.Sprintf("and %d more", len(qs)-i))
			break
		}
		var s string
		switch {
		case q.Kind == vmv1.QuorumFaultNoQuorum:
			s = "quorum " + q.Node + " lost its majority"
		case q.Error != "":
			s = fmt.Sprintf("quorum child %s failed (%s): %s", q.Node, orDefault(q.Operation, "I/O"), q.Error)
		default:
			// No error: the child's data was outvoted by the others.
			s = fmt.Sprintf("quorum child %s returned bad data (%s)", q.Node, orDefault(q.Operation, "I/O"))
		}
		s += fmt.Sprintf(" (sectors %d+%d, %d time(s)", q.SectorNum, q.SectorsCount, q.Count)
		if q.LastTime != nil {
			s += ", last at " + stamp(q.LastTime.Time)
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, "; ")
}

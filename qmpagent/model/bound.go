package model

import (
	"cmp"
	"maps"
	"slices"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// The VirtualMachine status schema's bounds (the kubebuilder markers of
// api/v1alpha1/status_types.go) for what the agent writes. A status past
// any of them is refused by the apiserver as a whole, so Bound keeps facts
// within them: one guest cannot freeze its own status.
const (
	MaxDisplaySessions = 64
	MaxBlockErrors     = 64
	MaxQuorumFaults    = 64
	// MaxEventNames is status.eventCounts' maxProperties; past it, the
	// least counted names fold into OtherEvents.
	MaxEventNames = 128
	// MaxEventNameBytes bounds an eventCounts key.
	MaxEventNameBytes = 64
	// MaxResourceItems is resources.disks' and resources.nics' maxItems.
	MaxResourceItems = 256
	// MaxResourceItemBytes is the maxLength of one disk or NIC.
	MaxResourceItemBytes = 1024
)

// OtherEvents is the eventCounts bucket of the names that do not fit.
const OtherEvents = "OTHER"

// keptEventNames are never folded into OtherEvents: the printer columns
// of kubectl get and the faults users alert on read them by name.
var keptEventNames = map[string]bool{
	"GUEST_PANICKED": true, "GUEST_CRASHLOADED": true, "WATCHDOG": true,
	"BLOCK_IO_ERROR": true, "MEMORY_FAILURE": true, "SHUTDOWN": true, "RESET": true,
	OtherEvents: true,
}

// Bound makes f fit the status schema: strings cut to their maxLength,
// values outside an enum cleared (or their entry dropped), each list and
// map cut to its maxItems/maxProperties by dropping the least recent
// entries (the least counted event names, folded into OtherEvents). It
// returns how many entries it dropped or folded, by status field; nil when
// f already fit.
func (f *Facts) Bound() map[string]int64 {
	var dropped map[string]int64
	drop := func(field string, n int) {
		if n <= 0 {
			return
		}
		if dropped == nil {
			dropped = map[string]int64{}
		}
		dropped[field] += int64(n)
	}
	if !validRunState(f.RunState) {
		f.RunState = vmv1.RunStateUnknown
	}
	f.RunStateReason = Clean(f.RunStateReason, 64)
	f.boundMonitor()
	f.boundLast()
	drop("eventCounts", f.boundEventCounts())
	drop("displaySessions", f.boundDisplay())
	drop("blockErrors", f.boundBlockErrors())
	drop("quorumFaults", f.boundQuorumFaults())
	drop("resources", f.boundResources())
	return dropped
}

func validRunState(s vmv1.RunState) bool {
	switch s {
	case "", vmv1.RunStateRunning, vmv1.RunStatePaused, vmv1.RunStateShutdown,
		vmv1.RunStateSuspended, vmv1.RunStateCrashed, vmv1.RunStateUnknown:
		return true
	}
	return false
}

func (f *Facts) boundMonitor() {
	m := &f.Monitor
	switch m.State {
	case "", vmv1.MonitorConnected, vmv1.MonitorConnecting, vmv1.MonitorDisconnected, vmv1.MonitorRefused:
	default:
		m.State = vmv1.MonitorConnecting
	}
	switch m.Source {
	case "", vmv1.SourceQMP, vmv1.SourceLibvirt, vmv1.SourceLXD:
	default:
		m.Source = ""
	}
	m.Endpoint = Clean(m.Endpoint, 512)
	m.QEMUVersion = Clean(m.QEMUVersion, 64)
	m.VMName = Clean(m.VMName, 256)
	m.VMUUID = Clean(m.VMUUID, 36)
	m.LastError = Clean(m.LastError, 1024)
}

func (f *Facts) boundLast() {
	if p := f.LastPanic; p != nil {
		p.Action, p.Info = Clean(p.Action, 32), Clean(p.Info, 1024)
	}
	if m := f.LastMemoryFailure; m != nil {
		m.Recipient, m.Action = Clean(m.Recipient, 32), Clean(m.Action, 32)
	}
	if w := f.LastWatchdog; w != nil {
		w.Action = Clean(w.Action, 32)
	}
	if r := f.LastReset; r != nil {
		r.Reason = Clean(r.Reason, 64)
	}
}

// boundEventCounts cleans the names and folds the least counted ones past
// MaxEventNames into OtherEvents; it returns how many names it folded.
func (f *Facts) boundEventCounts() int {
	folded := 0
	for name, n := range f.EventCounts {
		if clean := Clean(name, MaxEventNameBytes); clean != name {
			delete(f.EventCounts, name)
			f.EventCounts[clean] += n
		}
	}
	if len(f.EventCounts) <= MaxEventNames {
		return 0
	}
	names := slices.Collect(maps.Keys(f.EventCounts))
	// Kept names first, then the most counted; ties by name, so the choice
	// is the same on every write.
	slices.SortFunc(names, func(a, b string) int {
		if keptEventNames[a] != keptEventNames[b] {
			if keptEventNames[a] {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(f.EventCounts[b], f.EventCounts[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	_, hasOther := f.EventCounts[OtherEvents]
	keep := MaxEventNames
	if !hasOther {
		keep-- // room for the bucket
	}
	for _, name := range names[keep:] {
		if name == OtherEvents {
			continue
		}
		f.EventCounts[OtherEvents] += f.EventCounts[name]
		delete(f.EventCounts, name)
		folded++
	}
	return folded
}

// boundDisplay cleans the sessions and keeps the MaxDisplaySessions most
// recent.
func (f *Facts) boundDisplay() int {
	n := 0
	for k, d := range f.Display {
		if d.Protocol != "vnc" && d.Protocol != "spice" {
			delete(f.Display, k)
			n++
			continue
		}
		d.Client, d.Auth, d.Username = Clean(d.Client, 300), Clean(d.Auth, 64), Clean(d.Username, 256)
		f.Display[k] = d
	}
	return n + keepRecent(f.Display, MaxDisplaySessions, func(d DisplaySession) time.Time { return d.Since })
}

// boundBlockErrors cleans the errors (merging devices whose cut names
// collide: the status lists one entry per device) and keeps the
// MaxBlockErrors most recent.
func (f *Facts) boundBlockErrors() int {
	n := 0
	for k, b := range f.BlockErrors {
		b.Device, b.Operation, b.Action, b.Reason = Clean(b.Device, 256), Clean(b.Operation, 16), Clean(b.Action, 16), Clean(b.Reason, 256)
		if b.Device == k {
			f.BlockErrors[k] = b
			continue
		}
		delete(f.BlockErrors, k)
		if old, ok := f.BlockErrors[b.Device]; ok {
			n++
			if old.LastTime.After(b.LastTime) {
				old.Count += b.Count
				b = old
			} else {
				b.Count += old.Count
			}
		}
		f.BlockErrors[b.Device] = b
	}
	return n + keepRecent(f.BlockErrors, MaxBlockErrors, func(b BlockError) time.Time { return b.LastTime })
}

// boundQuorumFaults is boundBlockErrors for quorum faults, one per node and
// kind.
func (f *Facts) boundQuorumFaults() int {
	n := 0
	for k, q := range f.QuorumFaults {
		q.Node, q.Operation, q.Error = Clean(q.Node, 256), Clean(q.Operation, 16), Clean(q.Error, 256)
		if q.Kind != vmv1.QuorumFaultNoQuorum && q.Kind != vmv1.QuorumFaultBadChild {
			delete(f.QuorumFaults, k)
			n++
			continue
		}
		if q.Key() == k {
			f.QuorumFaults[k] = q
			continue
		}
		delete(f.QuorumFaults, k)
		if old, ok := f.QuorumFaults[q.Key()]; ok {
			n++
			if old.LastTime.After(q.LastTime) {
				old.Count += q.Count
				q = old
			} else {
				q.Count += old.Count
			}
		}
		f.QuorumFaults[q.Key()] = q
	}
	return n + keepRecent(f.QuorumFaults, MaxQuorumFaults, func(q QuorumFault) time.Time { return q.LastTime })
}

// boundResources cleans the disks and NICs, drops repeats (the lists are
// sets) and keeps the first MaxResourceItems of each.
func (f *Facts) boundResources() int {
	n := 0
	for _, list := range []*[]string{&f.Resources.Disks, &f.Resources.NICs} {
		if *list == nil {
			continue
		}
		seen := map[string]bool{}
		out := make([]string, 0, min(len(*list), MaxResourceItems))
		for _, v := range *list {
			v = Clean(v, MaxResourceItemBytes)
			if seen[v] || len(out) == MaxResourceItems {
				n++
				continue
			}
			seen[v] = true
			out = append(out, v)
		}
		*list = out
	}
	return n
}

// keepRecent deletes from m all but its limit most recent values (ties by
// key, so the choice is stable) and returns how many it deleted.
func keepRecent[V any](m map[string]V, limit int, at func(V) time.Time) int {
	if len(m) <= limit {
		return 0
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if c := at(m[b]).Compare(at(m[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for _, k := range keys[limit:] {
		delete(m, k)
	}
	return len(keys) - limit
}

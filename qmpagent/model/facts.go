package model

import (
	"maps"
	"slices"
	"time"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// Facts is everything the agent knows about one VM. It is a value: Clone
// before handing it to another goroutine.
type Facts struct {
	RunState       vmv1.RunState
	RunStateReason string
	RunStateSince  time.Time
	StartTime      time.Time

	Monitor Monitor

	// EventCounts counts events by name; exact, whatever is coalesced.
	EventCounts map[string]int64
	Delivery    Delivery

	LastPanic    *Panic
	LastWatchdog *Watchdog
	LastReset    *Reset
	// LastMemoryFailure is the latest MEMORY_FAILURE.
	LastMemoryFailure *MemoryFailure
	// QuorumFaults are QUORUM_FAILURE and QUORUM_REPORT_BAD, keyed by
	// QuorumFault.Key.
	QuorumFaults map[string]QuorumFault

	// Display holds the connected VNC/SPICE clients, keyed by protocol+client.
	Display     map[string]DisplaySession
	BlockErrors map[string]BlockError

	BalloonActualBytes *int64
	RTCOffsetSeconds   *int64

	// Resources are the VM's devices, as libvirt's audit records tell them.
	Resources Resources
}

// Resources are a VM's devices.
type Resources struct {
	VCPUs       *int32
	MemoryBytes *int64
	Disks       []string
	NICs        []string
}

// Monitor is the agent's connection to the hypervisor.
type Monitor struct {
	State         vmv1.MonitorState
	Source        string
	Endpoint      string
	QEMUVersion   string
	VMName        string
	VMUUID        string
	Since         time.Time
	LastEventTime time.Time
	LastError     string
	Reconnects    int64
}

// Delivery accounts for events not published one for one.
type Delivery struct {
	Coalesced int64
	Shed      int64
	Resyncs   int64
	// Refused counts Events the apiserver refused as invalid.
	Refused int64
	// Dropped counts the entries Bound dropped or folded to keep the
	// status within its schema, and the status writes the apiserver
	// refused as invalid all the same.
	Dropped int64
	// Silenced counts the occurrences the event policy kept from
	// becoming Events (counted in EventCounts all the same).
	Silenced int64
}

// Panic is a guest panic.
type Panic struct {
	Time   time.Time
	Action string
	Info   string
	// CrashLoaded: the guest told of its crash kernel taking over
	// (GUEST_CRASHLOADED) rather than of the panic (GUEST_PANICKED).
	CrashLoaded bool
}

// MemoryFailure is a host memory failure (MEMORY_FAILURE).
type MemoryFailure struct {
	Time           time.Time
	Recipient      string
	Action         string
	ActionRequired bool
	Recursive      bool
	// Count counts the memory failures seen.
	Count int64
}

// QuorumFault summarises the faults of one quorum device or child.
type QuorumFault struct {
	Node         string
	Kind         vmv1.QuorumFaultKind
	Operation    string
	Error        string
	SectorNum    int64
	SectorsCount int64
	Count        int64
	LastTime     time.Time
}

// Key identifies a quorum fault among the others.
func (q QuorumFault) Key() string { return string(q.Kind) + "/" + q.Node }

// Watchdog is a watchdog expiry.
type Watchdog struct {
	Time   time.Time
	Action string
}

// Reset is a VM reset.
type Reset struct {
	Time   time.Time
	Guest  bool
	Reason string
}

// DisplaySession is a connected VNC or SPICE client.
type DisplaySession struct {
	Protocol string
	// Client is the client's address; for SPICE, that of its main channel.
	Client   string
	Since    time.Time
	Auth     string
	Username string
	// Connection is SPICE's connection-id: one client session, whose
	// channels (display, inputs, cursor...) are each a TCP connection of
	// their own. Empty for VNC, and for a session read back from status.
	Connection string
	// Channels are the addresses of a SPICE session's channels.
	Channels []string
}

// Key identifies a session among the others: a SPICE session by its
// connection-id, any other by its client's address.
func (d DisplaySession) Key() string {
	if d.Connection != "" {
		return d.Protocol + "/connection/" + d.Connection
	}
	return d.Protocol + "/" + d.Client
}

// BlockError summarises the I/O errors of one device.
type BlockError struct {
	Device    string
	Operation string
	Action    string
	NoSpace   bool
	Reason    string
	Count     int64
	LastTime  time.Time
}

// Count adds n to the counter of an event name.
func (f *Facts) Count(name string, n int64) {
	if f.EventCounts == nil {
		f.EventCounts = map[string]int64{}
	}
	f.EventCounts[name] += n
}

// SetRunState records a run state, moving RunStateSince only when it changes.
func (f *Facts) SetRunState(state vmv1.RunState, reason string, at time.Time) {
	if f.RunState != state || f.RunStateReason != reason {
		f.RunStateSince = at
	}
	f.RunState, f.RunStateReason = state, reason
}

// SetMonitorState records the connection state, moving Since only when it changes.
func (f *Facts) SetMonitorState(state vmv1.MonitorState, at time.Time) {
	if f.Monitor.State != state {
		f.Monitor.Since = at
	}
	f.Monitor.State = state
}

// Clone returns a deep copy.
func (f Facts) Clone() Facts {
	c := f
	c.EventCounts = maps.Clone(f.EventCounts)
	c.Display = maps.Clone(f.Display)
	for k, d := range c.Display {
		d.Channels = slices.Clone(d.Channels)
		c.Display[k] = d
	}
	c.BlockErrors = maps.Clone(f.BlockErrors)
	c.LastPanic = clonePtr(f.LastPanic)
	c.LastWatchdog = clonePtr(f.LastWatchdog)
	c.LastReset = clonePtr(f.LastReset)
	c.LastMemoryFailure = clonePtr(f.LastMemoryFailure)
	c.QuorumFaults = maps.Clone(f.QuorumFaults)
	c.BalloonActualBytes = clonePtr(f.BalloonActualBytes)
	c.RTCOffsetSeconds = clonePtr(f.RTCOffsetSeconds)
	c.Resources.VCPUs = clonePtr(f.Resources.VCPUs)
	c.Resources.MemoryBytes = clonePtr(f.Resources.MemoryBytes)
	c.Resources.Disks = slices.Clone(f.Resources.Disks)
	c.Resources.NICs = slices.Clone(f.Resources.NICs)
	return c
}

// DisplaySessions returns the sessions in a stable order.
func (f Facts) DisplaySessions() []DisplaySession {
	keys := slices.Sorted(maps.Keys(f.Display))
	out := make([]DisplaySession, 0, len(keys))
	for _, k := range keys {
		out = append(out, f.Display[k])
	}
	return out
}

// BlockErrorList returns the block errors in a stable order.
func (f Facts) BlockErrorList() []BlockError {
	keys := slices.Sorted(maps.Keys(f.BlockErrors))
	out := make([]BlockError, 0, len(keys))
	for _, k := range keys {
		out = append(out, f.BlockErrors[k])
	}
	return out
}

// QuorumFaultList returns the quorum faults in a stable order.
func (f Facts) QuorumFaultList() []QuorumFault {
	keys := slices.Sorted(maps.Keys(f.QuorumFaults))
	out := make([]QuorumFault, 0, len(keys))
	for _, k := range keys {
		out = append(out, f.QuorumFaults[k])
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualMachineStatus is what is known about a VM. Two writers share it, each
// with server-side apply under its own field manager, so neither clobbers the
// other: the node agent owns the facts (everything but conditions and
// observedGeneration) and the controller owns conditions and
// observedGeneration.
type VirtualMachineStatus struct {
	// ObservedGeneration is the spec generation the controller last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// RunState is the VM's run state, summarised.
	// +optional
	RunState RunState `json:"runState,omitempty"`

	// RunStateReason is the hypervisor's own name for the state, for example
	// QEMU's "io-error", "guest-panicked", "watchdog" or "paused". The words
	// each source writes are listed by the types QEMURunState,
	// LibvirtPausedReason, LibvirtStoppedReason and LXDStatus.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	RunStateReason string `json:"runStateReason,omitempty"`

	// RunStateSince is when the run state last changed, as far as the agent saw.
	// +optional
	RunStateSince *metav1.MicroTime `json:"runStateSince,omitempty"`

	// StartTime is when the VM's hypervisor process last started, as far as
	// the agent can tell (for QEMU, when the QMP socket was created; for
	// libvirt and LXD, their start events). A panic or watchdog expiry before
	// StartTime belongs to an earlier run.
	// +optional
	StartTime *metav1.MicroTime `json:"startTime,omitempty"`

	// Monitor describes the agent's connection to the hypervisor.
	// +optional
	Monitor *MonitorStatus `json:"monitor,omitempty"`

	// EventCounts counts the events received, keyed by event name (QMP event
	// names such as GUEST_PANICKED, or a source's action name). Counts are
	// exact even when Kubernetes Events are coalesced. At most 128 names:
	// past that the least counted fold into OTHER.
	// +optional
	// +kubebuilder:validation:MaxProperties=128
	EventCounts map[string]int64 `json:"eventCounts,omitempty"`

	// Delivery accounts for every event the agent received but did not
	// publish one for one: nothing is dropped silently.
	// +optional
	Delivery *DeliveryStatus `json:"delivery,omitempty"`

	// LastPanic is the most recent guest panic.
	// +optional
	LastPanic *PanicInfo `json:"lastPanic,omitempty"`

	// LastMemoryFailure is the most recent host memory failure that hit the
	// VM or its hypervisor (QEMU's MEMORY_FAILURE).
	// +optional
	LastMemoryFailure *MemoryFailureInfo `json:"lastMemoryFailure,omitempty"`

	// QuorumFaults are the faults of quorum block devices (QEMU's
	// QUORUM_FAILURE and QUORUM_REPORT_BAD), one entry per node and kind.
	// +optional
	// +listType=map
	// +listMapKey=node
	// +listMapKey=kind
	// +kubebuilder:validation:MaxItems=64
	QuorumFaults []QuorumFault `json:"quorumFaults,omitempty"`

	// LastWatchdog is the most recent watchdog expiry.
	// +optional
	LastWatchdog *WatchdogInfo `json:"lastWatchdog,omitempty"`

	// LastReset is the most recent reset of the VM (guest- or host-initiated).
	// +optional
	LastReset *ResetInfo `json:"lastReset,omitempty"`

	// DisplaySessions are the VNC and SPICE clients connected now.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	DisplaySessions []DisplaySession `json:"displaySessions,omitempty"`

	// BlockErrors are the I/O errors seen, one entry per block device.
	// +optional
	// +listType=map
	// +listMapKey=device
	// +kubebuilder:validation:MaxItems=64
	BlockErrors []BlockError `json:"blockErrors,omitempty"`

	// BalloonActualBytes is the guest memory size the balloon driver reports.
	// +optional
	BalloonActualBytes *int64 `json:"balloonActualBytes,omitempty"`

	// RTCOffsetSeconds is the guest real-time clock's offset from host UTC.
	// +optional
	RTCOffsetSeconds *int64 `json:"rtcOffsetSeconds,omitempty"`

	// Resources are the VM's devices as the hypervisor reported them.
	// +optional
	Resources *ResourceFacts `json:"resources,omitempty"`

	// Remediation is the record of the actions taken on faults
	// (spec.remediation): the controller's requests and attempts, the
	// agent's execution.
	// +optional
	Remediation *RemediationStatus `json:"remediation,omitempty"`

	// Conditions are the controller's judgement of the facts above; Ready is
	// always present.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// RunState is the summarised run state of a VM.
// +kubebuilder:validation:Enum=Running;Paused;Shutdown;Suspended;Crashed;Unknown
type RunState string

// Run states. Each source maps its own states onto these and keeps its own
// word in runStateReason.
const (
	// RunStateRunning: the guest runs.
	RunStateRunning RunState = "Running"
	// RunStatePaused: the guest is stopped but can go on: paused by a user, or
	// by an I/O error, a watchdog, a guest panic, a migration or a debugger;
	// runStateReason says which.
	RunStatePaused RunState = "Paused"
	// RunStateShutdown: the guest shut down, powered off or was suspended to
	// disk.
	RunStateShutdown RunState = "Shutdown"
	// RunStateSuspended: the guest is suspended to RAM.
	RunStateSuspended RunState = "Suspended"
	// RunStateCrashed: the guest or its hypervisor crashed (for example a
	// shutdown caused by a guest panic, or QEMU's internal-error).
	RunStateCrashed RunState = "Crashed"
	// RunStateUnknown: the source reported a state the agent does not know,
	// or the VM is gone from its hypervisor.
	RunStateUnknown RunState = "Unknown"
)

// QEMURunState is QEMU's own name for a run state (query-status, the
// RunState enum of QEMU's qapi/run-state.json). The agent reports it in
// status.runStateReason for VMs it follows over QMP; the controller reads
// the cause of a pause from it. Other sources write their own words there
// (libvirt's state reasons, LXD's status).
type QEMURunState string

// QEMU's run states.
const (
	QEMURunStateRunning       QEMURunState = "running"
	QEMURunStatePaused        QEMURunState = "paused"
	QEMURunStateIOError       QEMURunState = "io-error"
	QEMURunStateWatchdog      QEMURunState = "watchdog"
	QEMURunStateGuestPanicked QEMURunState = "guest-panicked"
	QEMURunStateDebug         QEMURunState = "debug"
	QEMURunStateSuspended     QEMURunState = "suspended"
	QEMURunStateShutdown      QEMURunState = "shutdown"
	QEMURunStateInMigrate     QEMURunState = "inmigrate"
	QEMURunStatePostMigrate   QEMURunState = "postmigrate"
	QEMURunStateFinishMigrate QEMURunState = "finish-migrate"
	QEMURunStatePrelaunch     QEMURunState = "prelaunch"
	QEMURunStateSaveVM        QEMURunState = "save-vm"
	QEMURunStateRestoreVM     QEMURunState = "restore-vm"
	QEMURunStateInternalError QEMURunState = "internal-error"
	QEMURunStateColo          QEMURunState = "colo"
)

// LibvirtPausedReason is libvirt's reason for a paused domain
// (virDomainPausedReason), as the libvirt source reports it in
// status.runStateReason while runState is Paused and monitor.source is
// libvirt. The controller reads the cause of a pause from it.
type LibvirtPausedReason string

// libvirt's paused reasons, in virDomainPausedReason's order.
const (
	LibvirtPausedUnknown        LibvirtPausedReason = "unknown"
	LibvirtPausedUser           LibvirtPausedReason = "paused"
	LibvirtPausedMigration      LibvirtPausedReason = "migrate"
	LibvirtPausedSave           LibvirtPausedReason = "save"
	LibvirtPausedDump           LibvirtPausedReason = "dump"
	LibvirtPausedIOError        LibvirtPausedReason = "io-error"
	LibvirtPausedWatchdog       LibvirtPausedReason = "watchdog"
	LibvirtPausedFromSnapshot   LibvirtPausedReason = "restore-vm"
	LibvirtPausedShuttingDown   LibvirtPausedReason = "shutdown"
	LibvirtPausedSnapshot       LibvirtPausedReason = "snapshot"
	LibvirtPausedCrashed        LibvirtPausedReason = "crashed"
	LibvirtPausedStartingUp     LibvirtPausedReason = "starting-up"
	LibvirtPausedPostcopy       LibvirtPausedReason = "postcopy"
	LibvirtPausedPostcopyFailed LibvirtPausedReason = "postcopy-failed"
	LibvirtPausedAPIError       LibvirtPausedReason = "api-error"
)

// LibvirtStoppedReason is libvirt's reason for a stopped domain as the
// libvirt source reports it in status.runStateReason (the detail of
// libvirt's stopped lifecycle event) while runState is Shutdown or Crashed.
type LibvirtStoppedReason string

// libvirt's stopped reasons that the controller tells apart from a plain
// shutdown.
const (
	// LibvirtStoppedCrashed: the guest crashed (VIR_DOMAIN_EVENT_STOPPED_CRASHED).
	LibvirtStoppedCrashed LibvirtStoppedReason = "crashed"
	// LibvirtStoppedFailed: the hypervisor failed (VIR_DOMAIN_EVENT_STOPPED_FAILED).
	LibvirtStoppedFailed LibvirtStoppedReason = "failed"
)

// LXDStatus is LXD's own word for an instance's status (the status of GET
// /1.0/instances, or the state a lifecycle event moves it into), as the LXD
// source reports it in status.runStateReason when monitor.source is lxd.
type LXDStatus string

// LXD's instance statuses, each with the runState the agent maps it to.
const (
	// LXDStatusRunning: the instance runs (runState Running).
	LXDStatusRunning LXDStatus = "Running"
	// LXDStatusFrozen: LXD froze the instance (runState Paused).
	LXDStatusFrozen LXDStatus = "Frozen"
	// LXDStatusFreezing: LXD is freezing the instance (runState Paused).
	LXDStatusFreezing LXDStatus = "Freezing"
	// LXDStatusThawed: the instance was just unfrozen and runs (runState
	// Running).
	LXDStatusThawed LXDStatus = "Thawed"
	// LXDStatusStopped: the instance is stopped (runState Shutdown).
	LXDStatusStopped LXDStatus = "Stopped"
	// LXDStatusStopping: the instance is stopping (runState Shutdown).
	LXDStatusStopping LXDStatus = "Stopping"
	// LXDStatusError: LXD reports the instance in error (runState Crashed).
	LXDStatusError LXDStatus = "Error"
	// LXDStatusAborting: LXD is aborting the instance (runState Crashed).
	LXDStatusAborting LXDStatus = "Aborting"
	// LXDStatusDeleted is the agent's word for an instance LXD deleted
	// (instance-deleted); LXD itself then has no status for it (runState
	// Shutdown).
	LXDStatusDeleted LXDStatus = "Deleted"
)

// MonitorState is the state of the agent's connection to the hypervisor.
// +kubebuilder:validation:Enum=Connected;Connecting;Disconnected;Refused
type MonitorState string

// Monitor states.
const (
	// MonitorConnected: the agent is connected and streaming events.
	MonitorConnected MonitorState = "Connected"
	// MonitorConnecting: the agent is trying to connect.
	MonitorConnecting MonitorState = "Connecting"
	// MonitorDisconnected: the connection was lost; the agent retries.
	MonitorDisconnected MonitorState = "Disconnected"
	// MonitorRefused: the agent will not connect, for example because the
	// socket is outside its trusted roots; lastError says why.
	MonitorRefused MonitorState = "Refused"
)

// The event sources, as status.monitor.source names them.
const (
	SourceQMP     = "qmp"
	SourceLibvirt = "libvirt"
	SourceLXD     = "lxd"
)

// MonitorStatus describes the agent's connection to the hypervisor.
type MonitorStatus struct {
	// State is the connection state.
	State MonitorState `json:"state"`
	// Connected is true while the agent is connected and streaming events.
	Connected bool `json:"connected"`
	// Source is the event source: qmp, libvirt or lxd.
	// +optional
	// +kubebuilder:validation:Enum=qmp;libvirt;lxd
	Source string `json:"source,omitempty"`
	// Endpoint is where the agent connects, for example the QMP socket path.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Endpoint string `json:"endpoint,omitempty"`
	// QEMUVersion is the version the hypervisor reported.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	QEMUVersion string `json:"qemuVersion,omitempty"`
	// VMName is the name the hypervisor knows the VM by (QEMU's -name).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	VMName string `json:"vmName,omitempty"`
	// VMUUID is the UUID the hypervisor reported.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	VMUUID string `json:"vmUUID,omitempty"`
	// Since is when State last changed.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// LastEventTime is the hypervisor's timestamp of the last event received.
	// +optional
	LastEventTime *metav1.MicroTime `json:"lastEventTime,omitempty"`
	// LastError is the last connection error, in words.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`
	// Reconnects counts the connections made after the first.
	// +optional
	Reconnects int64 `json:"reconnects,omitempty"`
}

// DeliveryStatus accounts for events received but not published one for one.
type DeliveryStatus struct {
	// Coalesced counts events folded into another Kubernetes Event's series
	// or into a later status write.
	// +optional
	Coalesced int64 `json:"coalesced,omitempty"`
	// Shed counts events the agent could not keep (for example when its
	// queue overflowed); state was re-synced from the hypervisor each time.
	// +optional
	Shed int64 `json:"shed,omitempty"`
	// Resyncs counts full state re-syncs from the hypervisor.
	// +optional
	Resyncs int64 `json:"resyncs,omitempty"`
	// Refused counts Events about the VM the apiserver refused as invalid:
	// they were dropped, not retried (see the agent's
	// vmevents_agent_events_refused_total metric).
	// +optional
	Refused int64 `json:"refused,omitempty"`
	// Dropped counts the facts the agent left out so the status fits its
	// schema (the oldest display sessions, block errors and quorum faults
	// past 64, the least counted event names past 128 folded into OTHER),
	// and the status writes the apiserver refused as invalid all the same,
	// then written without their lists (see the agent's
	// vmevents_agent_facts_dropped_total metric).
	// +optional
	Dropped int64 `json:"dropped,omitempty"`
	// Silenced counts occurrences the event policy (spec.eventPolicy and
	// the agent's default) kept from becoming Events; they are counted in
	// eventCounts all the same (see the agent's
	// vmevents_agent_events_silenced_total metric).
	// +optional
	Silenced int64 `json:"silenced,omitempty"`
}

// PanicInfo is a guest panic as QEMU reported it.
type PanicInfo struct {
	// Time is QEMU's timestamp of the panic.
	Time metav1.MicroTime `json:"time"`
	// Action is what QEMU did: pause, poweroff or run.
	// +kubebuilder:validation:MaxLength=32
	Action string `json:"action"`
	// Info is the guest's panic information, when the guest gave it
	// (Hyper-V crash registers or s390 reason), in words.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Info string `json:"info,omitempty"`
	// CrashLoaded is true when the guest reported that its crash kernel
	// took over after the panic (GUEST_CRASHLOADED) rather than the panic
	// itself (GUEST_PANICKED).
	// +optional
	CrashLoaded bool `json:"crashLoaded,omitempty"`
}

// MemoryFailureInfo is a host memory failure as QEMU reported it
// (MEMORY_FAILURE).
type MemoryFailureInfo struct {
	// Time is QEMU's timestamp of the failure.
	Time metav1.MicroTime `json:"time"`
	// Recipient is whose memory failed: hypervisor (QEMU's own) or guest.
	// +kubebuilder:validation:MaxLength=32
	Recipient string `json:"recipient"`
	// Action is what QEMU did: ignore, inject (a machine check into the
	// guest), fatal (QEMU exits) or reset.
	// +kubebuilder:validation:MaxLength=32
	Action string `json:"action"`
	// ActionRequired is true when the memory was in use (the failure could
	// not be deferred).
	// +optional
	ActionRequired bool `json:"actionRequired,omitempty"`
	// Recursive is true when the failure happened while QEMU was handling
	// a previous one.
	// +optional
	Recursive bool `json:"recursive,omitempty"`
	// Count is the number of memory failures recorded for this VM, this one
	// included.
	Count int64 `json:"count"`
}

// QuorumFaultKind tells the two quorum faults apart.
// +kubebuilder:validation:Enum=NoQuorum;BadChild
type QuorumFaultKind string

// Quorum fault kinds.
const (
	// QuorumFaultNoQuorum is QUORUM_FAILURE: the quorum device could not
	// reach a majority; the guest got an error.
	QuorumFaultNoQuorum QuorumFaultKind = "NoQuorum"
	// QuorumFaultBadChild is QUORUM_REPORT_BAD: one child returned data
	// the others outvoted, or failed; the quorum held.
	QuorumFaultBadChild QuorumFaultKind = "BadChild"
)

// QuorumFault summarises the faults of one quorum device (NoQuorum) or one
// quorum child (BadChild).
type QuorumFault struct {
	// Node is the quorum device's name (QUORUM_FAILURE's reference) or the
	// child's node name (QUORUM_REPORT_BAD's node-name).
	// +kubebuilder:validation:MaxLength=256
	Node string `json:"node"`
	// Kind is NoQuorum or BadChild.
	Kind QuorumFaultKind `json:"kind"`
	// Operation is read, write or flush, for the last BadChild report.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	Operation string `json:"operation,omitempty"`
	// Error is the child's error in words, when it failed (BadChild).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Error string `json:"error,omitempty"`
	// SectorNum is the first sector of the last faulty operation.
	// +optional
	SectorNum int64 `json:"sectorNum,omitempty"`
	// SectorsCount is the number of sectors of the last faulty operation.
	// +optional
	SectorsCount int64 `json:"sectorsCount,omitempty"`
	// Count is the number of faults seen on this node.
	Count int64 `json:"count"`
	// LastTime is the hypervisor's timestamp of the last fault.
	// +optional
	LastTime *metav1.MicroTime `json:"lastTime,omitempty"`
}

// WatchdogInfo is a watchdog expiry as QEMU reported it.
type WatchdogInfo struct {
	// Time is QEMU's timestamp of the expiry.
	Time metav1.MicroTime `json:"time"`
	// Action is what QEMU did: reset, shutdown, poweroff, pause, debug,
	// none or inject-nmi.
	// +kubebuilder:validation:MaxLength=32
	Action string `json:"action"`
}

// ResetInfo is a reset of the VM.
type ResetInfo struct {
	// Time is the hypervisor's timestamp of the reset.
	Time metav1.MicroTime `json:"time"`
	// Guest is true when the guest asked for the reset.
	// +optional
	Guest bool `json:"guest,omitempty"`
	// Reason is QEMU's shutdown cause, for example host-qmp-system-reset.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`
}

// DisplaySession is a VNC or SPICE client connected to the VM's console.
type DisplaySession struct {
	// Protocol is vnc or spice.
	// +kubebuilder:validation:Enum=vnc;spice
	Protocol string `json:"protocol"`
	// Client is the client's address, host:port.
	// +kubebuilder:validation:MaxLength=300
	Client string `json:"client"`
	// Since is when the client connected (or when the agent first saw it).
	// +optional
	Since *metav1.MicroTime `json:"since,omitempty"`
	// Auth is the authentication scheme, when known.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Auth string `json:"auth,omitempty"`
	// Username is the authenticated user (VNC x509 dname or SASL username), when known.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Username string `json:"username,omitempty"`
}

// BlockError summarises the I/O errors of one block device.
type BlockError struct {
	// Device is the block device (QEMU's device name or node name).
	// +kubebuilder:validation:MaxLength=256
	Device string `json:"device"`
	// Operation is read or write, for the last error.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	Operation string `json:"operation,omitempty"`
	// Action is what QEMU did about the last error: ignore, report or stop.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	Action string `json:"action,omitempty"`
	// NoSpace is true when the last error was ENOSPC.
	// +optional
	NoSpace bool `json:"nospace,omitempty"`
	// Reason is the error in words (strerror), for the last error.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Reason string `json:"reason,omitempty"`
	// Count is the number of errors seen on this device.
	Count int64 `json:"count"`
	// LastTime is the hypervisor's timestamp of the last error.
	// +optional
	LastTime *metav1.MicroTime `json:"lastTime,omitempty"`
}

// ResourceFacts are the VM's devices as the hypervisor reported them.
type ResourceFacts struct {
	// VCPUs is the number of virtual CPUs.
	// +optional
	VCPUs *int32 `json:"vcpus,omitempty"`
	// MemoryBytes is the guest memory size.
	// +optional
	MemoryBytes *int64 `json:"memoryBytes,omitempty"`
	// Disks are the disk images or devices attached.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=1024
	Disks []string `json:"disks,omitempty"`
	// NICs are the network interfaces (MAC addresses) attached.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=1024
	NICs []string `json:"nics,omitempty"`
}

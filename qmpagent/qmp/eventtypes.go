package qmp

import (
	"encoding/json"
	"fmt"
)

// Event names. QEMU's names are the source of truth; these constants only
// save callers from typos.
const (
	EventShutdown               = "SHUTDOWN"
	EventPowerdown              = "POWERDOWN"
	EventReset                  = "RESET"
	EventStop                   = "STOP"
	EventResume                 = "RESUME"
	EventSuspend                = "SUSPEND"
	EventSuspendDisk            = "SUSPEND_DISK"
	EventWakeup                 = "WAKEUP"
	EventWatchdog               = "WATCHDOG"
	EventGuestPanicked          = "GUEST_PANICKED"
	EventGuestCrashloaded       = "GUEST_CRASHLOADED"
	EventGuestPVShutdown        = "GUEST_PVSHUTDOWN"
	EventMemoryFailure          = "MEMORY_FAILURE"
	EventRTCChange              = "RTC_CHANGE"
	EventBlockIOError           = "BLOCK_IO_ERROR"
	EventBlockImageCorrupted    = "BLOCK_IMAGE_CORRUPTED"
	EventBlockJobCompleted      = "BLOCK_JOB_COMPLETED"
	EventBlockJobCancelled      = "BLOCK_JOB_CANCELLED"
	EventBlockJobError          = "BLOCK_JOB_ERROR"
	EventBlockJobReady          = "BLOCK_JOB_READY"
	EventBlockJobPending        = "BLOCK_JOB_PENDING"
	EventBlockWriteThreshold    = "BLOCK_WRITE_THRESHOLD"
	EventBlockExportDeleted     = "BLOCK_EXPORT_DELETED"
	EventQuorumFailure          = "QUORUM_FAILURE"
	EventQuorumReportBad        = "QUORUM_REPORT_BAD"
	EventDeviceTrayMoved        = "DEVICE_TRAY_MOVED"
	EventPRManagerStatusChanged = "PR_MANAGER_STATUS_CHANGED"
	EventJobStatusChange        = "JOB_STATUS_CHANGE"
	EventSpiceConnected         = "SPICE_CONNECTED"
	EventSpiceInitialized       = "SPICE_INITIALIZED"
	EventSpiceDisconnected      = "SPICE_DISCONNECTED"
	EventSpiceMigrateCompleted  = "SPICE_MIGRATE_COMPLETED"
	EventVNCConnected           = "VNC_CONNECTED"
	EventVNCInitialized         = "VNC_INITIALIZED"
	EventVNCDisconnected        = "VNC_DISCONNECTED"
	EventBalloonChange          = "BALLOON_CHANGE"
	EventMemoryDeviceSizeChange = "MEMORY_DEVICE_SIZE_CHANGE"
	EventACPIDeviceOST          = "ACPI_DEVICE_OST"
	EventDeviceDeleted          = "DEVICE_DELETED"
	EventDeviceUnplugGuestError = "DEVICE_UNPLUG_GUEST_ERROR"
	EventNICRxFilterChanged     = "NIC_RX_FILTER_CHANGED"
	EventFailoverNegotiated     = "FAILOVER_NEGOTIATED"
	EventNetdevStreamConnected  = "NETDEV_STREAM_CONNECTED"
	EventNetdevStreamDisconn    = "NETDEV_STREAM_DISCONNECTED"
	EventVSERPortChange         = "VSERPORT_CHANGE"
	EventMigration              = "MIGRATION"
	EventMigrationPass          = "MIGRATION_PASS"
	EventCOLOExit               = "COLO_EXIT"
	EventUnplugPrimary          = "UNPLUG_PRIMARY"
	EventDumpCompleted          = "DUMP_COMPLETED"
)

func init() {
	register[ShutdownEvent](EventShutdown)
	register[PowerdownEvent](EventPowerdown)
	register[ResetEvent](EventReset)
	register[StopEvent](EventStop)
	register[ResumeEvent](EventResume)
	register[SuspendEvent](EventSuspend)
	register[SuspendDiskEvent](EventSuspendDisk)
	register[WakeupEvent](EventWakeup)
	register[WatchdogEvent](EventWatchdog)
	register[GuestPanickedEvent](EventGuestPanicked)
	register[GuestCrashloadedEvent](EventGuestCrashloaded)
	register[GuestPVShutdownEvent](EventGuestPVShutdown)
	register[MemoryFailureEvent](EventMemoryFailure)
	register[RTCChangeEvent](EventRTCChange)
	register[BlockIOErrorEvent](EventBlockIOError)
	register[BlockImageCorruptedEvent](EventBlockImageCorrupted)
	register[BlockJobCompletedEvent](EventBlockJobCompleted)
	register[BlockJobCancelledEvent](EventBlockJobCancelled)
	register[BlockJobErrorEvent](EventBlockJobError)
	register[BlockJobReadyEvent](EventBlockJobReady)
	register[BlockJobPendingEvent](EventBlockJobPending)
	register[BlockWriteThresholdEvent](EventBlockWriteThreshold)
	register[BlockExportDeletedEvent](EventBlockExportDeleted)
	register[QuorumFailureEvent](EventQuorumFailure)
	register[QuorumReportBadEvent](EventQuorumReportBad)
	register[DeviceTrayMovedEvent](EventDeviceTrayMoved)
	register[PRManagerStatusChangedEvent](EventPRManagerStatusChanged)
	register[JobStatusChangeEvent](EventJobStatusChange)
	register[SpiceConnectedEvent](EventSpiceConnected)
	register[SpiceInitializedEvent](EventSpiceInitialized)
	register[SpiceDisconnectedEvent](EventSpiceDisconnected)
	register[SpiceMigrateCompletedEvent](EventSpiceMigrateCompleted)
	register[VNCConnectedEvent](EventVNCConnected)
	register[VNCInitializedEvent](EventVNCInitialized)
	register[VNCDisconnectedEvent](EventVNCDisconnected)
	register[BalloonChangeEvent](EventBalloonChange)
	register[MemoryDeviceSizeChangeEvent](EventMemoryDeviceSizeChange)
	register[ACPIDeviceOSTEvent](EventACPIDeviceOST)
	register[DeviceDeletedEvent](EventDeviceDeleted)
	register[DeviceUnplugGuestErrorEvent](EventDeviceUnplugGuestError)
	register[NICRxFilterChangedEvent](EventNICRxFilterChanged)
	register[FailoverNegotiatedEvent](EventFailoverNegotiated)
	register[NetdevStreamConnectedEvent](EventNetdevStreamConnected)
	register[NetdevStreamDisconnectedEvent](EventNetdevStreamDisconn)
	register[VSERPortChangeEvent](EventVSERPortChange)
	register[MigrationEvent](EventMigration)
	register[MigrationPassEvent](EventMigrationPass)
	register[COLOExitEvent](EventCOLOExit)
	register[UnplugPrimaryEvent](EventUnplugPrimary)
	register[DumpCompletedEvent](EventDumpCompleted)
}

// --- Run state (qapi/run-state.json) ---

// ShutdownEvent is SHUTDOWN: the VM has shut down. With -no-shutdown QEMU
// stays alive and a STOP follows.
type ShutdownEvent struct {
	// Guest is true when the guest asked for the shutdown.
	Guest bool `json:"guest"`
	// Reason is the shutdown cause (since QEMU 4.0).
	Reason ShutdownCause `json:"reason"`
}

// ResetEvent is RESET: the VM was reset.
type ResetEvent struct {
	// Guest is true when the guest asked for the reset (for example a
	// triple fault or an ACPI reboot).
	Guest bool `json:"guest"`
	// Reason is the reset cause (since QEMU 4.0).
	Reason ShutdownCause `json:"reason"`
}

// PowerdownEvent is POWERDOWN: an ACPI power-button request was sent to
// the guest (it may ignore it).
type PowerdownEvent struct{}

// StopEvent is STOP: the VM's vCPUs stopped. query-status says why.
type StopEvent struct{}

// ResumeEvent is RESUME: the VM's vCPUs run again.
type ResumeEvent struct{}

// SuspendEvent is SUSPEND: the guest entered S3 (suspend to RAM).
type SuspendEvent struct{}

// SuspendDiskEvent is SUSPEND_DISK: the guest entered S4 (hibernation);
// QEMU shuts down as for SHUTDOWN.
type SuspendDiskEvent struct{}

// WakeupEvent is WAKEUP: the guest woke from suspend and is running.
type WakeupEvent struct{}

// WatchdogEvent is WATCHDOG: the guest's watchdog timer expired. QEMU
// rate-limits it to one per second.
type WatchdogEvent struct {
	// Action is what QEMU did; reset, shutdown and pause are followed by
	// RESET, SHUTDOWN and STOP respectively.
	Action WatchdogAction `json:"action"`
}

// GuestPanickedEvent is GUEST_PANICKED: the guest reported a panic (for
// example through pvpanic or Hyper-V crash MSRs).
type GuestPanickedEvent struct {
	// Action is what QEMU did.
	Action GuestPanicAction `json:"action"`
	// Info carries hypervisor-specific details, when available.
	Info *GuestPanicInformation `json:"info,omitempty"`
}

// GuestCrashloadedEvent is GUEST_CRASHLOADED: the guest loaded a crash
// kernel after a panic.
type GuestCrashloadedEvent struct {
	// Action is what QEMU did (currently always "run").
	Action GuestPanicAction `json:"action"`
	// Info carries hypervisor-specific details, when available.
	Info *GuestPanicInformation `json:"info,omitempty"`
}

// GuestPVShutdownEvent is GUEST_PVSHUTDOWN: the guest asked for a shutdown
// through the pvpanic device (since QEMU 9.1).
type GuestPVShutdownEvent struct{}

// GuestPanicInformation is the flat union describing a guest panic. Type
// says which one of the pointers is set; for a type this package does not
// know, none is and Raw still holds the JSON.
type GuestPanicInformation struct {
	// Type is the union's discriminator.
	Type GuestPanicInformationType
	// HyperV is set when Type is "hyper-v".
	HyperV *GuestPanicInformationHyperV
	// S390 is set when Type is "s390".
	S390 *GuestPanicInformationS390
	// TDX is set when Type is "tdx".
	TDX *GuestPanicInformationTDX
	// SEV is set when Type is "sev".
	SEV *GuestPanicInformationSEV
	// Raw is the union exactly as QEMU sent it.
	Raw json.RawMessage
}

// GuestPanicInformationHyperV holds the Hyper-V crash MSRs.
type GuestPanicInformationHyperV struct {
	Arg1 uint64 `json:"arg1"`
	Arg2 uint64 `json:"arg2"`
	Arg3 uint64 `json:"arg3"`
	Arg4 uint64 `json:"arg4"`
	Arg5 uint64 `json:"arg5"`
}

// GuestPanicInformationS390 holds the PSW of a crashed s390 CPU.
type GuestPanicInformationS390 struct {
	Core    uint32          `json:"core"`
	PSWMask uint64          `json:"psw-mask"`
	PSWAddr uint64          `json:"psw-addr"`
	Reason  S390CrashReason `json:"reason"`
}

// GuestPanicInformationTDX holds a TDX guest's ReportFatalError (since
// QEMU 10.1).
type GuestPanicInformationTDX struct {
	ErrorCode uint32 `json:"error-code"`
	// Message comes from the guest and must not be trusted.
	Message string `json:"message"`
	// GPA is present when the guest supplied a page with more details.
	GPA *uint64 `json:"gpa,omitempty"`
}

// GuestPanicInformationSEV holds an AMD SEV-ES termination request (since
// QEMU 11.0).
type GuestPanicInformationSEV struct {
	Set  uint32 `json:"set"`
	Code uint32 `json:"code"`
}

// UnmarshalJSON decodes the flat union: the variant's members sit next to
// "type" in the same object.
func (g *GuestPanicInformation) UnmarshalJSON(b []byte) error {
	var head struct {
		Type GuestPanicInformationType `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	*g = GuestPanicInformation{Type: head.Type, Raw: append(json.RawMessage(nil), b...)}
	var err error
	switch head.Type {
	case GuestPanicInformationTypeHyperV:
		g.HyperV = new(GuestPanicInformationHyperV)
		err = json.Unmarshal(b, g.HyperV)
	case GuestPanicInformationTypeS390:
		g.S390 = new(GuestPanicInformationS390)
		err = json.Unmarshal(b, g.S390)
	case GuestPanicInformationTypeTDX:
		g.TDX = new(GuestPanicInformationTDX)
		err = json.Unmarshal(b, g.TDX)
	case GuestPanicInformationTypeSEV:
		g.SEV = new(GuestPanicInformationSEV)
		err = json.Unmarshal(b, g.SEV)
	}
	if err != nil {
		return fmt.Errorf("guest panic information of type %q: %w", head.Type, err)
	}
	return nil
}

// MarshalJSON re-emits the union as QEMU sent it.
func (g GuestPanicInformation) MarshalJSON() ([]byte, error) {
	if len(g.Raw) > 0 {
		return g.Raw, nil
	}
	return json.Marshal(struct {
		Type GuestPanicInformationType `json:"type"`
	}{g.Type})
}

// MemoryFailureEvent is MEMORY_FAILURE: a host memory error hit QEMU or
// guest memory.
type MemoryFailureEvent struct {
	Recipient MemoryFailureRecipient `json:"recipient"`
	Action    MemoryFailureAction    `json:"action"`
	Flags     MemoryFailureFlags     `json:"flags"`
}

// MemoryFailureFlags qualifies a MEMORY_FAILURE.
type MemoryFailureFlags struct {
	ActionRequired bool `json:"action-required"`
	Recursive      bool `json:"recursive"`
}

// --- Misc (qapi/misc.json) ---

// RTCChangeEvent is RTC_CHANGE: the guest set its real-time clock. QEMU
// rate-limits it to one per second.
type RTCChangeEvent struct {
	// Offset is the new RTC time minus the RTC base, in seconds.
	Offset int64 `json:"offset"`
	// QOMPath is the RTC device (sent by QEMU 7.2 and later; empty
	// before).
	QOMPath string `json:"qom-path,omitempty"`
}

// --- Block (qapi/block-core.json, qapi/block.json, qapi/block-export.json) ---

// BlockIOErrorEvent is BLOCK_IO_ERROR: a disk I/O failed. With action
// "stop" a STOP follows and query-status reports io-error.
type BlockIOErrorEvent struct {
	// QOMPath is the guest device (since QEMU 9.2; empty before).
	QOMPath string `json:"qom-path,omitempty"`
	// Device is the drive name; it can be empty.
	Device string `json:"device"`
	// NodeName is the block node, absent for an empty drive.
	NodeName string `json:"node-name,omitempty"`
	// Operation is read or write.
	Operation IOOperationType `json:"operation"`
	// Action is what QEMU did.
	Action BlockErrorAction `json:"action"`
	// NoSpace is set when query-block reports io-status; true means the
	// error was ENOSPC.
	NoSpace *bool `json:"nospace,omitempty"`
	// Reason is a human-readable cause, for logs only.
	Reason string `json:"reason"`
}

// BlockImageCorruptedEvent is BLOCK_IMAGE_CORRUPTED: an image was found
// corrupt.
type BlockImageCorruptedEvent struct {
	Device   string `json:"device"`
	NodeName string `json:"node-name,omitempty"`
	// Msg is for humans and not stable.
	Msg    string `json:"msg"`
	Offset *int64 `json:"offset,omitempty"`
	Size   *int64 `json:"size,omitempty"`
	// Fatal means the image is now unusable until repaired.
	Fatal bool `json:"fatal"`
}

// BlockJobCompletedEvent is BLOCK_JOB_COMPLETED.
type BlockJobCompletedEvent struct {
	Type   JobType `json:"type"`
	Device string  `json:"device"`
	Len    int64   `json:"len"`
	Offset int64   `json:"offset"`
	Speed  int64   `json:"speed"`
	// Error is set only when the job failed.
	Error string `json:"error,omitempty"`
}

// BlockJobCancelledEvent is BLOCK_JOB_CANCELLED.
type BlockJobCancelledEvent struct {
	Type   JobType `json:"type"`
	Device string  `json:"device"`
	Len    int64   `json:"len"`
	Offset int64   `json:"offset"`
	Speed  int64   `json:"speed"`
}

// BlockJobErrorEvent is BLOCK_JOB_ERROR.
type BlockJobErrorEvent struct {
	Device    string           `json:"device"`
	Operation IOOperationType  `json:"operation"`
	Action    BlockErrorAction `json:"action"`
}

// BlockJobReadyEvent is BLOCK_JOB_READY: the job can be completed.
type BlockJobReadyEvent struct {
	Type   JobType `json:"type"`
	Device string  `json:"device"`
	Len    int64   `json:"len"`
	Offset int64   `json:"offset"`
	Speed  int64   `json:"speed"`
}

// BlockJobPendingEvent is BLOCK_JOB_PENDING: the job waits for
// block-job-finalize.
type BlockJobPendingEvent struct {
	Type JobType `json:"type"`
	ID   string  `json:"id"`
}

// BlockWriteThresholdEvent is BLOCK_WRITE_THRESHOLD: writes crossed the
// configured threshold of a node.
type BlockWriteThresholdEvent struct {
	NodeName       string `json:"node-name"`
	AmountExceeded uint64 `json:"amount-exceeded"`
	WriteThreshold uint64 `json:"write-threshold"`
}

// BlockExportDeletedEvent is BLOCK_EXPORT_DELETED.
type BlockExportDeletedEvent struct {
	ID string `json:"id"`
}

// QuorumFailureEvent is QUORUM_FAILURE: the quorum driver could not reach
// a quorum. QEMU rate-limits it.
type QuorumFailureEvent struct {
	Reference    string `json:"reference"`
	SectorNum    int64  `json:"sector-num"`
	SectorsCount int64  `json:"sectors-count"`
}

// QuorumReportBadEvent is QUORUM_REPORT_BAD: one quorum child returned
// bad data or failed. QEMU rate-limits it per node.
type QuorumReportBadEvent struct {
	Type QuorumOpType `json:"type"`
	// Error is set only on failure; for humans only.
	Error        string `json:"error,omitempty"`
	NodeName     string `json:"node-name"`
	SectorNum    int64  `json:"sector-num"`
	SectorsCount int64  `json:"sectors-count"`
}

// DeviceTrayMovedEvent is DEVICE_TRAY_MOVED: a removable medium's tray
// opened or closed.
type DeviceTrayMovedEvent struct {
	Device   string `json:"device"`
	ID       string `json:"id"`
	TrayOpen bool   `json:"tray-open"`
}

// PRManagerStatusChangedEvent is PR_MANAGER_STATUS_CHANGED.
type PRManagerStatusChangedEvent struct {
	ID        string `json:"id"`
	Connected bool   `json:"connected"`
}

// --- Jobs (qapi/job.json) ---

// JobStatusChangeEvent is JOB_STATUS_CHANGE.
type JobStatusChangeEvent struct {
	ID     string    `json:"id"`
	Status JobStatus `json:"status"`
}

// --- Display (qapi/ui.json) ---

// SpiceBasicInfo is one end of a SPICE connection.
type SpiceBasicInfo struct {
	Host   string               `json:"host"`
	Port   string               `json:"port"`
	Family NetworkAddressFamily `json:"family"`
}

// SpiceServerInfo is the server end of a SPICE connection.
type SpiceServerInfo struct {
	SpiceBasicInfo
	Auth string `json:"auth,omitempty"`
}

// SpiceChannel is one SPICE client channel.
type SpiceChannel struct {
	SpiceBasicInfo
	ConnectionID int64 `json:"connection-id"`
	// ChannelType 1 is the main channel: track only those to follow
	// sessions.
	ChannelType int64 `json:"channel-type"`
	ChannelID   int64 `json:"channel-id"`
	TLS         bool  `json:"tls"`
}

// SpiceConnectedEvent is SPICE_CONNECTED.
type SpiceConnectedEvent struct {
	Server SpiceBasicInfo `json:"server"`
	Client SpiceBasicInfo `json:"client"`
}

// SpiceInitializedEvent is SPICE_INITIALIZED: a channel is up.
type SpiceInitializedEvent struct {
	Server SpiceServerInfo `json:"server"`
	Client SpiceChannel    `json:"client"`
}

// SpiceDisconnectedEvent is SPICE_DISCONNECTED.
type SpiceDisconnectedEvent struct {
	Server SpiceBasicInfo `json:"server"`
	Client SpiceBasicInfo `json:"client"`
}

// SpiceMigrateCompletedEvent is SPICE_MIGRATE_COMPLETED.
type SpiceMigrateCompletedEvent struct{}

// VNCBasicInfo is one end of a VNC connection.
type VNCBasicInfo struct {
	Host      string               `json:"host"`
	Service   string               `json:"service"`
	Family    NetworkAddressFamily `json:"family"`
	Websocket bool                 `json:"websocket"`
}

// VNCServerInfo is the server end of a VNC connection.
type VNCServerInfo struct {
	VNCBasicInfo
	Auth string `json:"auth,omitempty"`
}

// VNCClientInfo is a VNC client.
type VNCClientInfo struct {
	VNCBasicInfo
	X509DName    string `json:"x509_dname,omitempty"`
	SASLUsername string `json:"sasl_username,omitempty"`
}

// VNCConnectedEvent is VNC_CONNECTED, sent before authentication.
type VNCConnectedEvent struct {
	Server VNCServerInfo `json:"server"`
	Client VNCBasicInfo  `json:"client"`
}

// VNCInitializedEvent is VNC_INITIALIZED: the session is active.
type VNCInitializedEvent struct {
	Server VNCServerInfo `json:"server"`
	Client VNCClientInfo `json:"client"`
}

// VNCDisconnectedEvent is VNC_DISCONNECTED.
type VNCDisconnectedEvent struct {
	Server VNCServerInfo `json:"server"`
	Client VNCClientInfo `json:"client"`
}

// --- Machine (qapi/machine.json, qapi/acpi.json, qapi/qdev.json) ---

// BalloonChangeEvent is BALLOON_CHANGE. QEMU rate-limits it.
type BalloonChangeEvent struct {
	// Actual is the guest's memory size in bytes as the balloon sees it.
	Actual int64 `json:"actual"`
}

// MemoryDeviceSizeChangeEvent is MEMORY_DEVICE_SIZE_CHANGE (virtio-mem).
type MemoryDeviceSizeChangeEvent struct {
	ID      string `json:"id,omitempty"`
	Size    uint64 `json:"size"`
	QOMPath string `json:"qom-path"`
}

// ACPIOSTInfo is an ACPI _OST status report.
type ACPIOSTInfo struct {
	Device   string       `json:"device,omitempty"`
	Slot     string       `json:"slot"`
	SlotType ACPISlotType `json:"slot-type"`
	Source   int64        `json:"source"`
	Status   int64        `json:"status"`
}

// ACPIDeviceOSTEvent is ACPI_DEVICE_OST: the guest ran an _OST method.
type ACPIDeviceOSTEvent struct {
	Info ACPIOSTInfo `json:"info"`
}

// DeviceDeletedEvent is DEVICE_DELETED: a device unplug completed.
type DeviceDeletedEvent struct {
	// Device is the device ID, if it has one (deprecated in favour of
	// Path).
	Device string `json:"device,omitempty"`
	// Path is the device's QOM path.
	Path string `json:"path"`
}

// DeviceUnplugGuestErrorEvent is DEVICE_UNPLUG_GUEST_ERROR.
type DeviceUnplugGuestErrorEvent struct {
	Device string `json:"device,omitempty"`
	Path   string `json:"path"`
}

// --- Network and character devices (qapi/net.json, qapi/char.json) ---

// NICRxFilterChangedEvent is NIC_RX_FILTER_CHANGED.
type NICRxFilterChangedEvent struct {
	Name string `json:"name,omitempty"`
	Path string `json:"path"`
}

// FailoverNegotiatedEvent is FAILOVER_NEGOTIATED.
type FailoverNegotiatedEvent struct {
	DeviceID string `json:"device-id"`
}

// NetdevStreamConnectedEvent is NETDEV_STREAM_CONNECTED.
type NetdevStreamConnectedEvent struct {
	NetdevID string `json:"netdev-id"`
	// Addr is a SocketAddress union, kept raw.
	Addr json.RawMessage `json:"addr"`
}

// NetdevStreamDisconnectedEvent is NETDEV_STREAM_DISCONNECTED.
type NetdevStreamDisconnectedEvent struct {
	NetdevID string `json:"netdev-id"`
}

// VSERPortChangeEvent is VSERPORT_CHANGE: a guest opened or closed a
// virtio-serial port.
type VSERPortChangeEvent struct {
	ID   string `json:"id"`
	Open bool   `json:"open"`
}

// --- Migration and dump (qapi/migration.json, qapi/dump.json) ---

// MigrationEvent is MIGRATION: the migration status changed.
type MigrationEvent struct {
	Status MigrationStatus `json:"status"`
}

// MigrationPassEvent is MIGRATION_PASS: a RAM pass started.
type MigrationPassEvent struct {
	Pass int64 `json:"pass"`
}

// COLOExitEvent is COLO_EXIT.
type COLOExitEvent struct {
	Mode   COLOMode       `json:"mode"`
	Reason COLOExitReason `json:"reason"`
}

// UnplugPrimaryEvent is UNPLUG_PRIMARY.
type UnplugPrimaryEvent struct {
	DeviceID string `json:"device-id"`
}

// DumpQueryResult is the progress of a guest memory dump.
type DumpQueryResult struct {
	Status    DumpStatus `json:"status"`
	Completed int64      `json:"completed"`
	Total     int64      `json:"total"`
}

// DumpCompletedEvent is DUMP_COMPLETED.
type DumpCompletedEvent struct {
	Result DumpQueryResult `json:"result"`
	Error  string          `json:"error,omitempty"`
}

package qmp

// Enumerations from QEMU's QAPI schema. Each is a string type so that a
// value a newer QEMU adds still decodes (and can be logged) instead of
// failing; the constants list the values the schema defines today.

// RunState is the VM run state reported by query-status (qapi/run-state.json).
type RunState string

// RunState values.
const (
	RunStateDebug         RunState = "debug"
	RunStateInMigrate     RunState = "inmigrate"
	RunStateInternalError RunState = "internal-error"
	RunStateIOError       RunState = "io-error"
	RunStatePaused        RunState = "paused"
	RunStatePostMigrate   RunState = "postmigrate"
	RunStatePrelaunch     RunState = "prelaunch"
	RunStateFinishMigrate RunState = "finish-migrate"
	RunStateRestoreVM     RunState = "restore-vm"
	RunStateRunning       RunState = "running"
	RunStateSaveVM        RunState = "save-vm"
	RunStateShutdown      RunState = "shutdown"
	RunStateSuspended     RunState = "suspended"
	RunStateWatchdog      RunState = "watchdog"
	RunStateGuestPanicked RunState = "guest-panicked"
	RunStateColo          RunState = "colo"
)

// ShutdownCause is why a SHUTDOWN or RESET happened (qapi/run-state.json).
type ShutdownCause string

// ShutdownCause values.
const (
	ShutdownCauseNone               ShutdownCause = "none"
	ShutdownCauseHostError          ShutdownCause = "host-error"
	ShutdownCauseHostQMPQuit        ShutdownCause = "host-qmp-quit"
	ShutdownCauseHostQMPSystemReset ShutdownCause = "host-qmp-system-reset"
	ShutdownCauseHostSignal         ShutdownCause = "host-signal"
	ShutdownCauseHostUI             ShutdownCause = "host-ui"
	ShutdownCauseGuestShutdown      ShutdownCause = "guest-shutdown"
	ShutdownCauseGuestReset         ShutdownCause = "guest-reset"
	ShutdownCauseGuestPanic         ShutdownCause = "guest-panic"
	ShutdownCauseSubsystemReset     ShutdownCause = "subsystem-reset"
	ShutdownCauseSnapshotLoad       ShutdownCause = "snapshot-load"
)

// WatchdogAction is what QEMU did when the watchdog expired
// (qapi/run-state.json).
type WatchdogAction string

// WatchdogAction values.
const (
	WatchdogActionReset     WatchdogAction = "reset"
	WatchdogActionShutdown  WatchdogAction = "shutdown"
	WatchdogActionPoweroff  WatchdogAction = "poweroff"
	WatchdogActionPause     WatchdogAction = "pause"
	WatchdogActionDebug     WatchdogAction = "debug"
	WatchdogActionNone      WatchdogAction = "none"
	WatchdogActionInjectNMI WatchdogAction = "inject-nmi"
)

// GuestPanicAction is what QEMU did when the guest panicked
// (qapi/run-state.json).
type GuestPanicAction string

// GuestPanicAction values.
const (
	GuestPanicActionPause    GuestPanicAction = "pause"
	GuestPanicActionPoweroff GuestPanicAction = "poweroff"
	GuestPanicActionRun      GuestPanicAction = "run"
)

// GuestPanicInformationType discriminates GuestPanicInformation.
type GuestPanicInformationType string

// GuestPanicInformationType values.
const (
	GuestPanicInformationTypeHyperV GuestPanicInformationType = "hyper-v"
	GuestPanicInformationTypeS390   GuestPanicInformationType = "s390"
	GuestPanicInformationTypeTDX    GuestPanicInformationType = "tdx"
	GuestPanicInformationTypeSEV    GuestPanicInformationType = "sev"
)

// S390CrashReason is why an s390 CPU is in a crashed state.
type S390CrashReason string

// S390CrashReason values.
const (
	S390CrashReasonUnknown      S390CrashReason = "unknown"
	S390CrashReasonDisabledWait S390CrashReason = "disabled-wait"
	S390CrashReasonExtintLoop   S390CrashReason = "extint-loop"
	S390CrashReasonPgmintLoop   S390CrashReason = "pgmint-loop"
	S390CrashReasonOpintLoop    S390CrashReason = "opint-loop"
)

// MemoryFailureRecipient says whose memory failed (qapi/run-state.json).
type MemoryFailureRecipient string

// MemoryFailureRecipient values.
const (
	MemoryFailureRecipientHypervisor MemoryFailureRecipient = "hypervisor"
	MemoryFailureRecipientGuest      MemoryFailureRecipient = "guest"
)

// MemoryFailureAction is what QEMU did about a memory failure.
type MemoryFailureAction string

// MemoryFailureAction values.
const (
	MemoryFailureActionIgnore MemoryFailureAction = "ignore"
	MemoryFailureActionInject MemoryFailureAction = "inject"
	MemoryFailureActionFatal  MemoryFailureAction = "fatal"
	MemoryFailureActionReset  MemoryFailureAction = "reset"
)

// BlockErrorAction is what QEMU did about a disk I/O error
// (qapi/block-core.json).
type BlockErrorAction string

// BlockErrorAction values.
const (
	BlockErrorActionIgnore BlockErrorAction = "ignore"
	BlockErrorActionReport BlockErrorAction = "report"
	BlockErrorActionStop   BlockErrorAction = "stop"
)

// IOOperationType is the kind of I/O that failed (qapi/common.json).
type IOOperationType string

// IOOperationType values.
const (
	IOOperationRead  IOOperationType = "read"
	IOOperationWrite IOOperationType = "write"
)

// IOStatus is a block device's I/O status in query-block
// (BlockDeviceIoStatus in qapi/block-core.json).
type IOStatus string

// IOStatus values.
const (
	IOStatusOK      IOStatus = "ok"
	IOStatusFailed  IOStatus = "failed"
	IOStatusNoSpace IOStatus = "nospace"
)

// JobType is the kind of a block job (qapi/job.json).
type JobType string

// JobType values.
const (
	JobTypeCommit         JobType = "commit"
	JobTypeStream         JobType = "stream"
	JobTypeMirror         JobType = "mirror"
	JobTypeBackup         JobType = "backup"
	JobTypeCreate         JobType = "create"
	JobTypeAmend          JobType = "amend"
	JobTypeSnapshotLoad   JobType = "snapshot-load"
	JobTypeSnapshotSave   JobType = "snapshot-save"
	JobTypeSnapshotDelete JobType = "snapshot-delete"
)

// JobStatus is a job's state (qapi/job.json).
type JobStatus string

// JobStatus values.
const (
	JobStatusUndefined JobStatus = "undefined"
	JobStatusCreated   JobStatus = "created"
	JobStatusRunning   JobStatus = "running"
	JobStatusPaused    JobStatus = "paused"
	JobStatusReady     JobStatus = "ready"
	JobStatusStandby   JobStatus = "standby"
	JobStatusWaiting   JobStatus = "waiting"
	JobStatusPending   JobStatus = "pending"
	JobStatusAborting  JobStatus = "aborting"
	JobStatusConcluded JobStatus = "concluded"
	JobStatusNull      JobStatus = "null"
)

// QuorumOpType is the operation a quorum report is about
// (qapi/block-core.json).
type QuorumOpType string

// QuorumOpType values.
const (
	QuorumOpRead  QuorumOpType = "read"
	QuorumOpWrite QuorumOpType = "write"
	QuorumOpFlush QuorumOpType = "flush"
)

// NetworkAddressFamily is the address family of a VNC or SPICE endpoint
// (qapi/sockets.json).
type NetworkAddressFamily string

// NetworkAddressFamily values.
const (
	NetworkAddressFamilyIPv4    NetworkAddressFamily = "ipv4"
	NetworkAddressFamilyIPv6    NetworkAddressFamily = "ipv6"
	NetworkAddressFamilyUnix    NetworkAddressFamily = "unix"
	NetworkAddressFamilyVsock   NetworkAddressFamily = "vsock"
	NetworkAddressFamilyUnknown NetworkAddressFamily = "unknown"
)

// MigrationStatus is the state of a migration (qapi/migration.json).
type MigrationStatus string

// MigrationStatus values.
const (
	MigrationStatusNone                 MigrationStatus = "none"
	MigrationStatusSetup                MigrationStatus = "setup"
	MigrationStatusCancelling           MigrationStatus = "cancelling"
	MigrationStatusCancelled            MigrationStatus = "cancelled"
	MigrationStatusActive               MigrationStatus = "active"
	MigrationStatusPostcopyActive       MigrationStatus = "postcopy-active"
	MigrationStatusPostcopyPaused       MigrationStatus = "postcopy-paused"
	MigrationStatusPostcopyRecoverSetup MigrationStatus = "postcopy-recover-setup"
	MigrationStatusPostcopyRecover      MigrationStatus = "postcopy-recover"
	MigrationStatusCompleted            MigrationStatus = "completed"
	MigrationStatusFailed               MigrationStatus = "failed"
	MigrationStatusColo                 MigrationStatus = "colo"
	MigrationStatusPreSwitchover        MigrationStatus = "pre-switchover"
	MigrationStatusDevice               MigrationStatus = "device"
	MigrationStatusWaitUnplug           MigrationStatus = "wait-unplug"
)

// COLOMode is a COLO replication role (qapi/migration.json).
type COLOMode string

// COLOMode values.
const (
	COLOModeNone      COLOMode = "none"
	COLOModePrimary   COLOMode = "primary"
	COLOModeSecondary COLOMode = "secondary"
)

// COLOExitReason is why COLO ended (qapi/migration.json).
type COLOExitReason string

// COLOExitReason values.
const (
	COLOExitReasonNone       COLOExitReason = "none"
	COLOExitReasonRequest    COLOExitReason = "request"
	COLOExitReasonError      COLOExitReason = "error"
	COLOExitReasonProcessing COLOExitReason = "processing"
)

// ACPISlotType is the kind of slot in an ACPI _OST report (qapi/acpi.json).
type ACPISlotType string

// ACPISlotType values.
const (
	ACPISlotTypeDIMM ACPISlotType = "DIMM"
	ACPISlotTypeCPU  ACPISlotType = "CPU"
)

// SpiceQueryMouseMode is the SPICE mouse mode (qapi/ui.json).
type SpiceQueryMouseMode string

// SpiceQueryMouseMode values.
const (
	SpiceMouseModeClient  SpiceQueryMouseMode = "client"
	SpiceMouseModeServer  SpiceQueryMouseMode = "server"
	SpiceMouseModeUnknown SpiceQueryMouseMode = "unknown"
)

// DumpStatus is the state of a guest memory dump (qapi/dump.json).
type DumpStatus string

// DumpStatus values.
const (
	DumpStatusNone      DumpStatus = "none"
	DumpStatusActive    DumpStatus = "active"
	DumpStatusCompleted DumpStatus = "completed"
	DumpStatusFailed    DumpStatus = "failed"
)

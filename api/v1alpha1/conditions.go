package v1alpha1

// Condition types the controller maintains on every VirtualMachine.
const (
	// ConditionReady is True only when the monitor is connected, the VM runs
	// and no fault condition is True.
	ConditionReady = "Ready"
	// ConditionMonitorConnected says whether the agent is connected to the
	// hypervisor and still reporting.
	ConditionMonitorConnected = "MonitorConnected"
	// ConditionPaused is True while the VM is paused, with the cause as reason.
	ConditionPaused = "Paused"
	// ConditionGuestPanicked is True after a guest panic until the guest has
	// been reset or restarted and runs again.
	ConditionGuestPanicked = "GuestPanicked"
	// ConditionWatchdogExpired is True after the watchdog fired until the
	// guest runs again after the watchdog's action.
	ConditionWatchdogExpired = "WatchdogExpired"
	// ConditionIOError is True while the VM is paused on a block I/O error or
	// errors keep arriving.
	ConditionIOError = "IOError"
	// ConditionHardwareError is True after a host memory failure hit the VM
	// (MEMORY_FAILURE) until the guest was reset or its hypervisor restarted
	// and it runs again.
	ConditionHardwareError = "HardwareError"
	// ConditionStorageDegraded is True while a quorum block device lost its
	// quorum or one of its children returns bad data (QUORUM_FAILURE,
	// QUORUM_REPORT_BAD) recently.
	ConditionStorageDegraded = "StorageDegraded"
	// ConditionStalled (kstatus) is True when the VM's spec cannot work as
	// written: the agent refuses its monitor (a socket outside the trusted
	// roots, a UUID that is not the hypervisor's). Retrying will not help;
	// the spec or the agent's configuration must change. kstatus computes
	// such a VM as Failed.
	ConditionStalled = "Stalled"
	// ConditionRemediationExhausted is present on VMs with
	// spec.remediation: True when a fault condition is still True and the
	// attempts allowed in the window are spent, so the controller has
	// given up; False otherwise.
	ConditionRemediationExhausted = "RemediationExhausted"
)

// Condition reasons. They are part of the user-facing contract
// (docs/conditions.md): `kubectl wait`, alerts and scripts match on them,
// so they are declared here, beside the condition types, once for every reader.
const (
	// ReasonAwaitingFacts: the agent has not reported anything about the VM
	// yet. It is the only state a new VM starts in, and the only one that
	// never produces an Event.
	ReasonAwaitingFacts = "AwaitingFacts"
	// ReasonRecovered: a fault condition went back to False after having
	// been True (as opposed to NoPanic, NotExpired, NoIOError: never True).
	ReasonRecovered = "Recovered"

	// MonitorConnected.
	ReasonConnected         = "Connected"
	ReasonConnecting        = "Connecting"
	ReasonDisconnected      = "Disconnected"
	ReasonRefused           = "Refused"
	ReasonNoAgent           = "NoAgent"
	ReasonAgentNotReporting = "AgentNotReporting"

	// Paused: False.
	ReasonRunning = "Running"
	ReasonResumed = "Resumed"
	// Paused: True, the cause.
	ReasonPausedByUser  = "PausedByUser"
	ReasonIOError       = "IOError"
	ReasonWatchdog      = "Watchdog"
	ReasonGuestPanicked = "GuestPanicked"
	ReasonDebug         = "Debug"
	ReasonSuspended     = "Suspended"
	ReasonMigration     = "Migration"
	ReasonShutdown      = "Shutdown"
	ReasonPrelaunch     = "Prelaunch"
	ReasonSnapshot      = "Snapshot"
	ReasonInternalError = "InternalError"
	ReasonUnknownCause  = "UnknownCause"
	// ReasonDump: libvirt paused the VM to write a core dump (virsh dump).
	ReasonDump = "Dump"
	// ReasonPostCopyFailed: a post-copy migration failed; the VM's memory is
	// split between two hosts and it cannot run (libvirt's postcopy-failed).
	ReasonPostCopyFailed = "PostCopyFailed"
	// ReasonAPIError: libvirt paused the VM after an API call failed
	// (libvirt's api-error).
	ReasonAPIError = "APIError"
	// Paused: Unknown, the agent itself does not know the run state.
	ReasonRunStateUnknown = "RunStateUnknown"

	// GuestPanicked and WatchdogExpired: True, QEMU's action. Shutdown and
	// Debug are shared with Paused.
	ReasonPause     = "Pause"
	ReasonPoweroff  = "Poweroff"
	ReasonRun       = "Run"
	ReasonReset     = "Reset"
	ReasonNone      = "None"
	ReasonInjectNMI = "InjectNMI"
	// ReasonOtherAction: an action this controller does not know (a newer QEMU).
	ReasonOtherAction = "OtherAction"
	// ReasonCrashLoaded: GuestPanicked True because the guest panicked and
	// its crash kernel took over (GUEST_CRASHLOADED: kdump runs; the guest
	// reboots once the dump is written).
	ReasonCrashLoaded = "CrashLoaded"
	// GuestPanicked / WatchdogExpired: False, never happened (in the facts kept).
	ReasonNoPanic    = "NoPanic"
	ReasonNotExpired = "NotExpired"

	// IOError.
	ReasonPausedOnError = "PausedOnError"
	ReasonRecentErrors  = "RecentErrors"
	ReasonNoIOError     = "NoIOError"

	// HardwareError: True, what QEMU did about the memory failure
	// (MEMORY_FAILURE's action).
	ReasonMemoryErrorInjected = "MemoryErrorInjected"
	ReasonMemoryErrorIgnored  = "MemoryErrorIgnored"
	ReasonMemoryErrorFatal    = "MemoryErrorFatal"
	ReasonMemoryErrorReset    = "MemoryErrorReset"
	// HardwareError: False, never happened (in the facts kept).
	ReasonNoHardwareError = "NoHardwareError"

	// StorageDegraded: True. NoQuorum: a quorum device could not reach a
	// majority (the guest got an error); QuorumChildBad: a child returned
	// bad data or failed, the quorum held.
	ReasonNoQuorum       = "NoQuorum"
	ReasonQuorumChildBad = "QuorumChildBad"
	// StorageDegraded: False, never happened (in the facts kept).
	ReasonNoStorageFault = "NoStorageFault"

	// Stalled: True, the agent refuses the VM's monitor
	// (status.monitor.state Refused); the message is the agent's lastError.
	ReasonMonitorRefused = "MonitorRefused"
	// Stalled: False.
	ReasonNotStalled = "NotStalled"

	// RemediationExhausted: True, the attempts in the window are spent.
	ReasonMaxAttemptsReached = "MaxAttemptsReached"
	// RemediationExhausted: False, attempts are left (or no fault needs
	// one) and it was never True; after it was True, False is Recovered.
	ReasonAttemptsLeft = "AttemptsLeft"

	// Remediation Events (reasons of the controller's Events about
	// attempts; docs/remediation.md).
	ReasonRemediationRequested = "RemediationRequested"
	ReasonRemediationSucceeded = "RemediationSucceeded"
	ReasonRemediationFailed    = "RemediationFailed"
	ReasonRemediationDryRun    = "RemediationDryRun"

	// Ready. When a fault condition is True, Ready's reason is that
	// condition's type (GuestPanicked, WatchdogExpired, HardwareError,
	// IOError, StorageDegraded, Paused);
	// when MonitorConnected is Unknown, it is MonitorConnected's reason.
	ReasonReady               = "Running"
	ReasonMonitorNotConnected = "MonitorNotConnected"
	ReasonNotRunning          = "NotRunning"
)

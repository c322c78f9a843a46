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
	// GuestPanicked / WatchdogExpired: False, never happened (in the facts kept).
	ReasonNoPanic    = "NoPanic"
	ReasonNotExpired = "NotExpired"

	// IOError.
	ReasonPausedOnError = "PausedOnError"
	ReasonRecentErrors  = "RecentErrors"
	ReasonNoIOError     = "NoIOError"

	// Ready. When a fault condition is True, Ready's reason is that
	// condition's type (GuestPanicked, WatchdogExpired, IOError, Paused);
	// when MonitorConnected is Unknown, it is MonitorConnected's reason.
	ReasonReady               = "Running"
	ReasonMonitorNotConnected = "MonitorNotConnected"
	ReasonNotRunning          = "NotRunning"
)

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

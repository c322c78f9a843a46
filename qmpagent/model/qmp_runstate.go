package model

import (
	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// summarise maps QEMU's RunState (query-status) to the API's run state. QEMU's
// own name stays in runStateReason, so nothing is lost: the controller reads
// the pause cause from it.
func summarise(s qmp.RunState) vmv1.RunState {
	switch s {
	case qmp.RunStateRunning:
		return vmv1.RunStateRunning
	case qmp.RunStateSuspended:
		return vmv1.RunStateSuspended
	case qmp.RunStateShutdown:
		return vmv1.RunStateShutdown
	case qmp.RunStateInternalError:
		return vmv1.RunStateCrashed
	case qmp.RunStatePaused, qmp.RunStateIOError, qmp.RunStateWatchdog, qmp.RunStateGuestPanicked,
		qmp.RunStateDebug, qmp.RunStateInMigrate, qmp.RunStatePostMigrate, qmp.RunStateFinishMigrate,
		qmp.RunStatePrelaunch, qmp.RunStateSaveVM, qmp.RunStateRestoreVM, qmp.RunStateColo:
		return vmv1.RunStatePaused
	default:
		return vmv1.RunStateUnknown
	}
}

package qmpsource

import (
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// summarise maps QEMU's RunState (query-status) to the API's run state. QEMU's
// own name stays in runStateReason, so nothing is lost: the controller reads
// the pause cause from it.
func summarise(s qmp.RunState) string {
	switch s {
	case qmp.RunStateRunning:
		return model.RunStateRunning
	case qmp.RunStateSuspended:
		return model.RunStateSuspended
	case qmp.RunStateShutdown:
		return model.RunStateShutdown
	case qmp.RunStateInternalError:
		return model.RunStateCrashed
	case qmp.RunStatePaused, qmp.RunStateIOError, qmp.RunStateWatchdog, qmp.RunStateGuestPanicked,
		qmp.RunStateDebug, qmp.RunStateInMigrate, qmp.RunStatePostMigrate, qmp.RunStateFinishMigrate,
		qmp.RunStatePrelaunch, qmp.RunStateSaveVM, qmp.RunStateRestoreVM, qmp.RunStateColo:
		return model.RunStatePaused
	default:
		return model.RunStateUnknown
	}
}

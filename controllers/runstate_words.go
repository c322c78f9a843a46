package controllers

import (
	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// Each source writes its own words into status.runStateReason; the cause of
// a stop is read from them with status.monitor.source, because the same
// word may mean different things to two sources.

// qemuCauses maps QEMU's run states to the Paused reason (Running for
// running).
var qemuCauses = map[vmv1.QEMURunState]string{
	vmv1.QEMURunStateRunning:       vmv1.ReasonRunning,
	vmv1.QEMURunStatePaused:        vmv1.ReasonPausedByUser,
	vmv1.QEMURunStateIOError:       vmv1.ReasonIOError,
	vmv1.QEMURunStateWatchdog:      vmv1.ReasonWatchdog,
	vmv1.QEMURunStateGuestPanicked: vmv1.ReasonGuestPanicked,
	vmv1.QEMURunStateDebug:         vmv1.ReasonDebug,
	vmv1.QEMURunStateSuspended:     vmv1.ReasonSuspended,
	vmv1.QEMURunStateShutdown:      vmv1.ReasonShutdown,
	vmv1.QEMURunStateInMigrate:     vmv1.ReasonMigration,
	vmv1.QEMURunStatePostMigrate:   vmv1.ReasonMigration,
	vmv1.QEMURunStateFinishMigrate: vmv1.ReasonMigration,
	// COLO (coarse-grained lock-stepping) replication pauses the VM for
	// each checkpoint over the migration stream.
	vmv1.QEMURunStateColo:          vmv1.ReasonMigration,
	vmv1.QEMURunStatePrelaunch:     vmv1.ReasonPrelaunch,
	vmv1.QEMURunStateSaveVM:        vmv1.ReasonSnapshot,
	vmv1.QEMURunStateRestoreVM:     vmv1.ReasonSnapshot,
	vmv1.QEMURunStateInternalError: vmv1.ReasonInternalError,
}

// libvirtPausedCauses maps libvirt's virDomainPausedReason (runState
// Paused) to the Paused reason.
var libvirtPausedCauses = map[vmv1.LibvirtPausedReason]string{
	vmv1.LibvirtPausedUnknown:      vmv1.ReasonUnknownCause,
	vmv1.LibvirtPausedUser:         vmv1.ReasonPausedByUser,
	vmv1.LibvirtPausedMigration:    vmv1.ReasonMigration,
	vmv1.LibvirtPausedSave:         vmv1.ReasonSnapshot,
	vmv1.LibvirtPausedDump:         vmv1.ReasonDump,
	vmv1.LibvirtPausedIOError:      vmv1.ReasonIOError,
	vmv1.LibvirtPausedWatchdog:     vmv1.ReasonWatchdog,
	vmv1.LibvirtPausedFromSnapshot: vmv1.ReasonSnapshot,
	vmv1.LibvirtPausedShuttingDown: vmv1.ReasonShutdown,
	vmv1.LibvirtPausedSnapshot:     vmv1.ReasonSnapshot,
	vmv1.LibvirtPausedCrashed:      vmv1.ReasonGuestPanicked,
	// libvirt starts a domain paused and resumes it once set up: QEMU's
	// prelaunch, seen through libvirt.
	vmv1.LibvirtPausedStartingUp: vmv1.ReasonPrelaunch,
	// The source side of a post-copy migration: the guest runs on the
	// destination.
	vmv1.LibvirtPausedPostcopy:       vmv1.ReasonMigration,
	vmv1.LibvirtPausedPostcopyFailed: vmv1.ReasonPostCopyFailed,
	vmv1.LibvirtPausedAPIError:       vmv1.ReasonAPIError,
}

// libvirtStoppedCauses are libvirt's stopped reasons (runState Shutdown or
// Crashed) that are not a plain shutdown.
var libvirtStoppedCauses = map[vmv1.LibvirtStoppedReason]string{
	vmv1.LibvirtStoppedCrashed: vmv1.ReasonGuestPanicked,
	// The hypervisor failed, not the guest: no guest panic.
	vmv1.LibvirtStoppedFailed: vmv1.ReasonInternalError,
}

// lxdCauses maps LXD's instance statuses to the Paused reason. LXD pauses
// (freezes) an instance only when asked to (`lxc pause`).
var lxdCauses = map[vmv1.LXDStatus]string{
	vmv1.LXDStatusRunning:  vmv1.ReasonRunning,
	vmv1.LXDStatusThawed:   vmv1.ReasonRunning,
	vmv1.LXDStatusFrozen:   vmv1.ReasonPausedByUser,
	vmv1.LXDStatusFreezing: vmv1.ReasonPausedByUser,
	vmv1.LXDStatusError:    vmv1.ReasonInternalError,
	vmv1.LXDStatusAborting: vmv1.ReasonInternalError,
}

// causeOfWord is the Paused reason (or Running) that st's runStateReason
// names for its source, and whether this controller knows the word. A
// status without a source is QEMU's (agents before monitor.source).
func causeOfWord(st *vmv1.VirtualMachineStatus) (string, bool) {
	word := st.RunStateReason
	if word == "" {
		return "", false
	}
	switch sourceOf(st) {
	case vmv1.SourceLXD:
		r, ok := lxdCauses[vmv1.LXDStatus(word)]
		return r, ok
	case vmv1.SourceLibvirt:
		switch st.RunState {
		case vmv1.RunStatePaused:
			if r, ok := libvirtPausedCauses[vmv1.LibvirtPausedReason(word)]; ok {
				return r, true
			}
		case vmv1.RunStateShutdown, vmv1.RunStateCrashed:
			if r, ok := libvirtStoppedCauses[vmv1.LibvirtStoppedReason(word)]; ok {
				return r, true
			}
		}
		// libvirt relays QEMU's monitor events, which the agent records
		// with QEMU's words until it has asked libvirt for the state.
	}
	r, ok := qemuCauses[vmv1.QEMURunState(word)]
	return r, ok
}

// sourceOf is the source that reports the VM's facts; "" when unknown.
func sourceOf(st *vmv1.VirtualMachineStatus) string {
	if st.Monitor == nil {
		return ""
	}
	return st.Monitor.Source
}

// wordKind names runStateReason's vocabulary in messages.
func wordKind(st *vmv1.VirtualMachineStatus) string {
	switch sourceOf(st) {
	case vmv1.SourceLibvirt:
		return "libvirt state reason"
	case vmv1.SourceLXD:
		return "LXD status"
	}
	return "QEMU run state"
}

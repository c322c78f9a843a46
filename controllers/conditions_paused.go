package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// pauseMessages explain each Paused reason to a person.
var pauseMessages = map[string]string{
	vmv1.ReasonPausedByUser:   "the VM was paused by an operator (QEMU stop, virsh suspend, lxc pause)",
	vmv1.ReasonIOError:        "QEMU paused the VM on a block I/O error (werror/rerror=stop); see the IOError condition",
	vmv1.ReasonWatchdog:       "QEMU paused the VM because its watchdog expired (action pause); see the WatchdogExpired condition",
	vmv1.ReasonGuestPanicked:  "QEMU stopped the VM after a guest panic; see the GuestPanicked condition",
	vmv1.ReasonDebug:          "the VM is stopped for a debugger (gdbstub or watchdog action debug)",
	vmv1.ReasonSuspended:      "the guest suspended itself (ACPI S3)",
	vmv1.ReasonMigration:      "the VM is stopped for a migration",
	vmv1.ReasonShutdown:       "the guest shut down",
	vmv1.ReasonPrelaunch:      "the VM was started stopped (QEMU -S, or libvirt starting it up) and waits to be continued",
	vmv1.ReasonSnapshot:       "the VM is stopped while a snapshot is saved or restored",
	vmv1.ReasonInternalError:  "the hypervisor stopped the VM on an internal error (for example a KVM failure)",
	vmv1.ReasonDump:           "libvirt paused the VM to write a core dump",
	vmv1.ReasonPostCopyFailed: "a post-copy migration failed: the VM cannot run until it is recovered (virsh migrate-postcopy recovery or destroy)",
	vmv1.ReasonAPIError:       "libvirt paused the VM after one of its API calls failed",
	vmv1.ReasonUnknownCause:   "the VM is paused and the agent did not report why",
}

// setPausedCondition says whether the VM is stopped, with the cause as
// reason (KubeVirt only knows User, Migration and IOError and loses the
// rest to "unknown"; here every QEMU run state, libvirt paused reason and
// LXD status has a reason: runstate_words.go).
func setPausedCondition(vm *vmv1.VirtualMachine, f facts, now time.Time) {
	c := metav1.Condition{Type: vmv1.ConditionPaused}
	reason, paused, unknown := f.pauseCause()
	switch {
	case !f.reported():
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonAwaitingFacts
		c.Message = "the agent has not reported the run state yet"
	case unknown:
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonRunStateUnknown
		c.Message = fmt.Sprintf("the agent does not know the run state (%q)", f.status.RunState)
	case paused:
		c.Status, c.Reason = metav1.ConditionTrue, reason
		c.Message = pauseMessages[reason]
		if r := f.status.RunStateReason; r != "" {
			c.Message += fmt.Sprintf(" (%s %q)", wordKind(&f.status), r)
		}
		if s := f.status.RunStateSince; s != nil {
			c.Message += fmt.Sprintf(", since %s", stamp(s.Time))
		}
	default:
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonRunning
		// Resumed is sticky while the VM runs, so that the Event for the
		// resume can be told from "was never paused" after a restart.
		if p := previous(vm, vmv1.ConditionPaused); p != nil &&
			(p.Status == metav1.ConditionTrue || (p.Status == metav1.ConditionFalse && p.Reason == vmv1.ReasonResumed)) {
			c.Reason = vmv1.ReasonResumed
		}
		c.Message = "the VM is running"
		if s := f.status.RunStateSince; s != nil {
			c.Message += fmt.Sprintf(" since %s", stamp(s.Time))
		}
	}
	setCondition(vm, c, now)
}

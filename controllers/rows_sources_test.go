package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// More rows of docs/conditions.md: the pause words of libvirt and LXD, and
// the conditions of GUEST_CRASHLOADED, MEMORY_FAILURE and the quorum events.

// stoppedBy is a stop as source reports it: run state rs and the source's
// own word, since d.
func stoppedBy(source string, rs vmv1.RunState, word string, d time.Duration) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		st.Monitor.Source = source
		st.RunState, st.RunStateReason, st.RunStateSince = rs, word, tl.at(d)
	}
}

// resumedBy is the source's word for running again, at d.
func resumedBy(source, word string, d time.Duration) mut {
	return stoppedBy(source, vmv1.RunStateRunning, word, d)
}

func crashLoadedAt(d time.Duration) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		st.LastPanic = &vmv1.PanicInfo{Time: *tl.at(d), Action: "run", CrashLoaded: true}
		st.EventCounts["GUEST_CRASHLOADED"]++
	}
}

func memoryFailureAt(action string, d time.Duration) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		st.LastMemoryFailure = &vmv1.MemoryFailureInfo{Time: *tl.at(d), Recipient: "guest", Action: action, ActionRequired: true, Count: 1}
		st.EventCounts["MEMORY_FAILURE"]++
	}
}

// quorumFaultNow is a quorum fault that QEMU timestamps as the agent first
// writes it (the fault window runs on real time); *at keeps that time.
func quorumFaultNow(kind vmv1.QuorumFaultKind, node string, at *time.Time) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		if at.IsZero() {
			*at = time.Now()
		}
		t := microAt(*at)
		st.QuorumFaults = append(st.QuorumFaults, vmv1.QuorumFault{Node: node, Kind: kind, SectorNum: 345435, SectorsCount: 5, Count: 1, LastTime: &t})
	}
}

var noQuorumAt, badChildAt time.Time

var _ = Describe("conditions from the sources' own words and the new faults (docs/conditions.md)", func() {
	DescribeTable("Paused: libvirt's and LXD's words",
		func(source string, rs vmv1.RunState, word, reason, eventType, resumeWord string) {
			stop := report(stoppedBy(source, rs, word, time.Second)).
				expect(sPaused, "True/"+reason, sReady, "False/Paused").
				records("Paused=True:"+eventType, "Ready=False:"+eventType)
			resume := report(resumedBy(source, resumeWord, 2*time.Second)).healthy().expect(sPaused, "False/Resumed").
				records("Paused=False:Normal", "Ready=True:Normal")
			runScenario(stop, resume)
		},
		Entry("lxc pause: Frozen", vmv1.SourceLXD, vmv1.RunStatePaused, string(vmv1.LXDStatusFrozen), "PausedByUser", "Normal", "Running"),
		Entry("virsh suspend: paused", vmv1.SourceLibvirt, vmv1.RunStatePaused, string(vmv1.LibvirtPausedUser), "PausedByUser", "Normal", "running"),
		Entry("libvirt migrate", vmv1.SourceLibvirt, vmv1.RunStatePaused, string(vmv1.LibvirtPausedMigration), "Migration", "Normal", "running"),
		Entry("libvirt snapshot", vmv1.SourceLibvirt, vmv1.RunStatePaused, string(vmv1.LibvirtPausedSnapshot), "Snapshot", "Normal", "running"),
		Entry("libvirt starting-up", vmv1.SourceLibvirt, vmv1.RunStatePaused, string(vmv1.LibvirtPausedStartingUp), "Prelaunch", "Normal", "running"),
		Entry("libvirt dump", vmv1.SourceLibvirt, vmv1.RunStatePaused, string(vmv1.LibvirtPausedDump), "Dump", "Normal", "running"),
		Entry("libvirt api-error", vmv1.SourceLibvirt, vmv1.RunStatePaused, string(vmv1.LibvirtPausedAPIError), "APIError", "Warning", "running"),
		Entry("libvirt postcopy-failed", vmv1.SourceLibvirt, vmv1.RunStatePaused, string(vmv1.LibvirtPausedPostcopyFailed), "PostCopyFailed", "Warning", "running"),
	)

	DescribeTable("the new fault conditions",
		func(phases ...phase) { runScenario(phases...) },
		Entry("GUEST_CRASHLOADED: GuestPanicked CrashLoaded until the guest reboots",
			report(crashLoadedAt(time.Second)).
				expect(sPanic, "True/CrashLoaded", sPaused, "False/Running", sReady, "False/GuestPanicked").
				saying(sPanic, "crash kernel took over").
				records("GuestPanicked=True:Warning", "Ready=False:Warning"),
			report(crashLoadedAt(time.Second), resetAt(2*time.Second)).healthy().expect(sPanic, "False/Recovered").
				records("GuestPanicked=False:Normal", "Ready=True:Normal")),
		Entry("MEMORY_FAILURE inject: HardwareError until a reset",
			report(memoryFailureAt("inject", time.Second)).
				expect(sHW, "True/MemoryErrorInjected", sReady, "False/HardwareError").
				saying(sHW, "hit the guest memory").
				records("HardwareError=True:Warning", "Ready=False:Warning"),
			report(memoryFailureAt("inject", time.Second), resetAt(2*time.Second)).healthy().expect(sHW, "False/Recovered").
				records("HardwareError=False:Normal", "Ready=True:Normal")),
		Entry("QUORUM_FAILURE: StorageDegraded NoQuorum, then the window passes",
			report(quorumFaultNow(vmv1.QuorumFaultNoQuorum, "usr1", &noQuorumAt)).
				expect(sStore, "True/NoQuorum", sReady, "False/StorageDegraded").
				saying(sStore, "quorum usr1 lost its majority").
				records("StorageDegraded=True:Warning", "Ready=False:Warning"),
			// The same facts: only time passes.
			report(quorumFaultNow(vmv1.QuorumFaultNoQuorum, "usr1", &noQuorumAt)).healthy().expect(sStore, "False/Recovered").
				records("StorageDegraded=False:Normal", "Ready=True:Normal")),
		Entry("QUORUM_REPORT_BAD: StorageDegraded QuorumChildBad",
			report(quorumFaultNow(vmv1.QuorumFaultBadChild, "1.raw", &badChildAt)).
				expect(sStore, "True/QuorumChildBad", sReady, "False/StorageDegraded").
				records("StorageDegraded=True:Warning", "Ready=False:Warning")),
	)
})

func microAt(t time.Time) metav1.MicroTime { return metav1.NewMicroTime(t) }

package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// fromSource is a stop as the given source reports it: its run state and
// its own word for it.
func fromSource(source string, rs vmv1.RunState, word string, since time.Duration) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		st.Monitor.Source = source
		st.RunState, st.RunStateReason, st.RunStateSince = rs, word, secs(since)
	}
}

// The cause of a stop, keyed on monitor.source and the source's own word
// (api/v1alpha1: LibvirtPausedReason, LibvirtStoppedReason, LXDStatus),
// and the Event types of Paused and Ready it leads to.
func TestPausedCausesBySource(t *testing.T) {
	const lv, lxd = vmv1.SourceLibvirt, vmv1.SourceLXD
	cases := []struct {
		source string
		rs     vmv1.RunState
		word   string
		want   string // Paused
		ready  string // Ready's reason
		event  string // of Paused and Ready
	}{
		{lxd, vmv1.RunStatePaused, string(vmv1.LXDStatusFrozen), "True/PausedByUser", "Paused", "Normal"},
		{lxd, vmv1.RunStatePaused, string(vmv1.LXDStatusFreezing), "True/PausedByUser", "Paused", "Normal"},
		{lxd, vmv1.RunStatePaused, string(vmv1.LXDStatusThawed), "False/Running", "Running", ""},
		{lxd, vmv1.RunStateRunning, string(vmv1.LXDStatusRunning), "False/Running", "Running", ""},
		{lxd, vmv1.RunStateShutdown, string(vmv1.LXDStatusStopped), "True/Shutdown", "Paused", "Normal"},
		{lxd, vmv1.RunStateCrashed, string(vmv1.LXDStatusError), "True/InternalError", "Paused", "Warning"},
		// An LXD word that is also QEMU's does not mean QEMU's thing.
		{lxd, vmv1.RunStatePaused, "io-error", "True/UnknownCause", "Paused", "Warning"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedUser), "True/PausedByUser", "Paused", "Normal"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedUnknown), "True/UnknownCause", "Paused", "Warning"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedMigration), "True/Migration", "Paused", "Normal"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedSave), "True/Snapshot", "Paused", "Normal"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedDump), "True/Dump", "Paused", "Normal"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedIOError), "True/IOError", "IOError", "Warning"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedWatchdog), "True/Watchdog", "WatchdogExpired", "Warning"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedFromSnapshot), "True/Snapshot", "Paused", "Normal"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedShuttingDown), "True/Shutdown", "Paused", "Normal"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedSnapshot), "True/Snapshot", "Paused", "Normal"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedCrashed), "True/GuestPanicked", "GuestPanicked", "Warning"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedStartingUp), "True/Prelaunch", "Paused", "Normal"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedPostcopy), "True/Migration", "Paused", "Normal"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedPostcopyFailed), "True/PostCopyFailed", "Paused", "Warning"},
		{lv, vmv1.RunStatePaused, string(vmv1.LibvirtPausedAPIError), "True/APIError", "Paused", "Warning"},
		{lv, vmv1.RunStateCrashed, string(vmv1.LibvirtStoppedCrashed), "True/GuestPanicked", "GuestPanicked", "Warning"},
		{lv, vmv1.RunStateCrashed, string(vmv1.LibvirtStoppedFailed), "True/InternalError", "Paused", "Warning"},
		{lv, vmv1.RunStateShutdown, "shutoff", "True/Shutdown", "Paused", "Normal"},
		{lv, vmv1.RunStateRunning, "blocked", "False/Running", "Running", ""},
		// QEMU's words, which the relayed monitor events leave until libvirt
		// is asked for the state.
		{lv, vmv1.RunStatePaused, string(vmv1.QEMURunStateGuestPanicked), "True/GuestPanicked", "GuestPanicked", "Warning"},
		{lv, vmv1.RunStateRunning, string(vmv1.QEMURunStateRunning), "False/Running", "Running", ""},
		// No source (an agent from before monitor.source): QEMU's words.
		{"", vmv1.RunStatePaused, string(vmv1.QEMURunStatePrelaunch), "True/Prelaunch", "Paused", "Normal"},
	}
	for _, c := range cases {
		t.Run(c.source+"/"+c.word, func(t *testing.T) {
			vm := evaluate(at(0, running()), at(time.Minute, with(fromSource(c.source, c.rs, c.word, time.Minute))))
			w := want{paused: c.want, ready: "False/" + c.ready}
			if c.ready == "Running" {
				w[ready] = "True/Running"
			}
			check(t, vm, w)
			if c.event == "" {
				return
			}
			for _, typ := range []string{paused, ready} {
				if got := eventTypeFor(*meta.FindStatusCondition(vm.Status.Conditions, typ), vm.Status.Conditions, true); got != c.event {
					t.Errorf("%s Event type %q, want %q", typ, got, c.event)
				}
			}
		})
	}
}

func TestPausedMessageNamesTheSourcesWord(t *testing.T) {
	for source, text := range map[string]string{
		vmv1.SourceQMP:     `QEMU run state "paused"`,
		vmv1.SourceLibvirt: `libvirt state reason "paused"`,
		vmv1.SourceLXD:     `LXD status "Frozen"`,
	} {
		word := "paused"
		if source == vmv1.SourceLXD {
			word = "Frozen"
		}
		vm := evaluate(at(0, with(fromSource(source, vmv1.RunStatePaused, word, 0))))
		check(t, vm, want{paused: "True/PausedByUser"}, paused, text)
	}
}

func crashLoaded(at time.Duration) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		panicked("run", at, "")(st)
		st.LastPanic.CrashLoaded = true
	}
}

func memoryFailure(action string, at time.Duration) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		st.LastMemoryFailure = &vmv1.MemoryFailureInfo{Time: micro(at), Recipient: "guest", Action: action, ActionRequired: true, Count: 1}
	}
}

func quorumFault(kind vmv1.QuorumFaultKind, node string, at time.Duration) func(*vmv1.VirtualMachineStatus) {
	return func(st *vmv1.VirtualMachineStatus) {
		q := vmv1.QuorumFault{Node: node, Kind: kind, SectorNum: 345435, SectorsCount: 5, Count: 1, LastTime: microp(at)}
		if kind == vmv1.QuorumFaultBadChild {
			q.Operation, q.Error = "read", "Input/output error"
		}
		st.QuorumFaults = append(st.QuorumFaults, q)
	}
}

func TestFaultConditions(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
		want  want
		msg   []string
	}{
		// GUEST_CRASHLOADED
		{"crash kernel took over", []step{at(0, with(crashLoaded(0)))},
			want{panics: "True/CrashLoaded", paused: "False/Running", ready: "False/GuestPanicked"}, []string{panics, "crash kernel took over"}},
		{"crash kernel rebooted the guest", []step{at(0, with(crashLoaded(0))), at(time.Minute, with(crashLoaded(0), reset(30*time.Second)))},
			want{panics: "False/Recovered", ready: "True/Running"}, nil},

		// MEMORY_FAILURE
		{"memory failure injected", []step{at(0, with(memoryFailure("inject", 0)))},
			want{hwerr: "True/MemoryErrorInjected", ready: "False/HardwareError"}, []string{hwerr, "hit the guest memory", ready, "HardwareError is True"}},
		{"memory failure injected, a minute later: still", []step{at(0, with(memoryFailure("inject", 0))), at(time.Hour, with(memoryFailure("inject", 0)))},
			want{hwerr: "True/MemoryErrorInjected"}, nil},
		{"memory failure injected, then reset", []step{at(0, with(memoryFailure("inject", 0))), at(time.Minute, with(memoryFailure("inject", 0), reset(time.Minute)))},
			want{hwerr: "False/Recovered", ready: "True/Running"}, []string{hwerr, "the guest was reset"}},
		{"memory failure fatal: QEMU exited", []step{at(0, with(memoryFailure("fatal", 0), monitor(vmv1.MonitorDisconnected, "EOF")))},
			want{hwerr: "True/MemoryErrorFatal", ready: "False/MonitorNotConnected"}, nil},
		{"memory failure fatal, restarted", []step{at(0, with(memoryFailure("fatal", 0))), at(time.Minute, with(memoryFailure("fatal", 0), restarted(time.Minute)))},
			want{hwerr: "False/Recovered"}, nil},
		{"memory failure reset: the RESET follows", []step{at(0, with(memoryFailure("reset", 0), reset(time.Millisecond)))},
			want{hwerr: "False/Recovered"}, nil},
		{"memory failure ignored: within the window", []step{at(time.Minute, with(memoryFailure("ignore", 0)))},
			want{hwerr: "True/MemoryErrorIgnored"}, nil},
		{"memory failure ignored: the window passed", []step{at(0, with(memoryFailure("ignore", 0))), at(6*time.Minute, with(memoryFailure("ignore", 0)))},
			want{hwerr: "False/Recovered", ready: "True/Running"}, nil},
		{"memory failure, an action newer than the controller", []step{at(0, with(memoryFailure("quarantine", 0)))},
			want{hwerr: "True/OtherAction"}, nil},
		{"memory failure of an earlier run", []step{at(0, with(memoryFailure("inject", -2*time.Hour)))},
			want{hwerr: "False/Recovered"}, nil},

		// QUORUM_FAILURE, QUORUM_REPORT_BAD
		{"a child returned bad data", []step{at(time.Minute, with(quorumFault(vmv1.QuorumFaultBadChild, "1.raw", 0)))},
			want{storage: "True/QuorumChildBad", ready: "False/StorageDegraded"}, []string{storage, "quorum child 1.raw failed (read): Input/output error"}},
		{"no quorum wins over a bad child", []step{at(time.Minute, with(quorumFault(vmv1.QuorumFaultBadChild, "1.raw", 0), quorumFault(vmv1.QuorumFaultNoQuorum, "usr1", 0)))},
			want{storage: "True/NoQuorum"}, []string{storage, "quorum usr1 lost its majority (sectors 345435+5"}},
		{"quiet for the window: recovered", []step{at(0, with(quorumFault(vmv1.QuorumFaultNoQuorum, "usr1", 0))), at(6*time.Minute, with(quorumFault(vmv1.QuorumFaultNoQuorum, "usr1", 0)))},
			want{storage: "False/Recovered", ready: "True/Running"}, []string{storage, "last: quorum usr1"}},
		{"a quorum fault of an earlier run", []step{at(time.Minute, with(restarted(30*time.Second), quorumFault(vmv1.QuorumFaultNoQuorum, "usr1", 0)))},
			want{storage: "False/Recovered"}, nil},
		{"the agent dropped the faults: still a recovery", []step{at(0, with(quorumFault(vmv1.QuorumFaultNoQuorum, "usr1", 0))), at(time.Minute, running())},
			want{storage: "False/Recovered"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, evaluate(c.steps...), c.want, c.msg...) })
	}
}

// kstatus's Stalled: a spec that cannot work.
func TestStalled(t *testing.T) {
	const refused = "/tmp/evil.qmp is outside the trusted socket roots [/run/vmevents]"
	cases := []struct {
		name  string
		steps []step
		want  want
		msg   []string
	}{
		{"new VM", []step{{agent: alive}}, want{stalled: "Unknown/AwaitingFacts"}, nil},
		{"healthy", []step{at(0, running())}, want{healthy: ""}, nil},
		{"refused", []step{at(0, with(monitor(vmv1.MonitorRefused, refused)))},
			want{stalled: "True/MonitorRefused", mon: "False/Refused", ready: "False/MonitorNotConnected"}, []string{stalled, refused}},
		{"refused, agent gone: still stalled", []step{{agent: stale, facts: with(monitor(vmv1.MonitorRefused, refused))}},
			want{stalled: "True/MonitorRefused", mon: "Unknown/AgentNotReporting"}, nil},
		{"refused, then fixed", []step{at(0, with(monitor(vmv1.MonitorRefused, refused))), at(time.Minute, running())},
			want{stalled: "False/Recovered", ready: "True/Running"}, nil},
		{"disconnected is a runtime fault, not stalled", []step{at(0, with(monitor(vmv1.MonitorDisconnected, "EOF")))},
			want{stalled: "False/NotStalled", ready: "False/MonitorNotConnected"}, nil},
		{"a panic is a runtime fault, not stalled", []step{at(0, with(panicked("pause", 0, ""), stopped("guest-panicked", 0)))},
			want{stalled: "False/NotStalled", ready: "False/GuestPanicked"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, evaluate(c.steps...), c.want, c.msg...) })
	}
}

func TestRequeueForFaultWindows(t *testing.T) {
	for name, c := range map[string]struct {
		facts vmv1.VirtualMachineStatus
		want  time.Duration
	}{
		"recent quorum fault":             {with(quorumFault(vmv1.QuorumFaultNoQuorum, "q", -time.Minute)), 4 * time.Minute},
		"the older of two quorum faults":  {with(quorumFault(vmv1.QuorumFaultNoQuorum, "q", -2*time.Minute), quorumFault(vmv1.QuorumFaultBadChild, "c", -time.Minute)), 3 * time.Minute},
		"recent ignored memory failure":   {with(memoryFailure("ignore", -time.Minute)), 4 * time.Minute},
		"injected memory failure: no end": {with(memoryFailure("inject", -time.Minute)), 0},
	} {
		f := newFacts(&vmv1.VirtualMachine{Status: c.facts}, alive, 5*time.Minute)
		if got := requeueAfter(f, t0); got != c.want {
			t.Errorf("%s: requeue after %s, want %s", name, got, c.want)
		}
	}
}

package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/controllers"
)

// One envtest case per row of docs/conditions.md: the test writes the facts
// the agent would write for each QEMU event, then checks the conditions,
// their reasons, and the transition Events the controller recorded.

// timeline gives a scenario's QEMU timestamps, relative to its start.
type timeline struct{ base time.Time }

// newTimeline starts at now, in the microseconds the API keeps.
func newTimeline() timeline { return timeline{base: time.Now().Truncate(time.Microsecond)} }

func (tl timeline) at(d time.Duration) *metav1.MicroTime {
	t := metav1.NewMicroTime(tl.base.Add(d))
	return &t
}

// mut changes the agent's facts of a healthy running VM.
type mut func(tl timeline, st *vmv1.VirtualMachineStatus)

// healthyFacts is a VM that started an hour ago, running and connected.
func healthyFacts(tl timeline) vmv1.VirtualMachineStatus {
	return vmv1.VirtualMachineStatus{
		RunState: vmv1.RunStateRunning, RunStateReason: "running",
		RunStateSince: tl.at(-time.Hour), StartTime: tl.at(-time.Hour),
		Monitor:     &vmv1.MonitorStatus{State: vmv1.MonitorConnected, Connected: true, Source: "qmp", QEMUVersion: "7.2.15"},
		EventCounts: map[string]int64{},
	}
}

var healthyConditions = map[string]string{
	vmv1.ConditionMonitorConnected: "True/Connected",
	vmv1.ConditionPaused:           "False/Running",
	vmv1.ConditionGuestPanicked:    "False/NoPanic",
	vmv1.ConditionWatchdogExpired:  "False/NotExpired",
	vmv1.ConditionIOError:          "False/NoIOError",
	vmv1.ConditionHardwareError:    "False/NoHardwareError",
	vmv1.ConditionStorageDegraded:  "False/NoStorageFault",
	vmv1.ConditionStalled:          "False/NotStalled",
	vmv1.ConditionReady:            "True/Running",
}

// stoppedIn is a STOP into QEMU run state reason at d.
func stoppedIn(reason string, d time.Duration) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		st.RunState, st.RunStateReason, st.RunStateSince = controllers.RunStateFor(reason), reason, tl.at(d)
	}
}

// summarised is a run state without QEMU's reason, since d.
func summarised(rs vmv1.RunState, d time.Duration) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		st.RunState, st.RunStateReason, st.RunStateSince = rs, "", tl.at(d)
	}
}

// resumedAt is a RESUME at d.
func resumedAt(d time.Duration) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		st.RunState, st.RunStateReason, st.RunStateSince = vmv1.RunStateRunning, "running", tl.at(d)
	}
}

// restartedAt is a new hypervisor process at d, running.
func restartedAt(d time.Duration) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		st.StartTime = tl.at(d)
		resumedAt(d)(tl, st)
	}
}

func panickedAt(action string, d time.Duration, info string) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		st.LastPanic = &vmv1.PanicInfo{Time: *tl.at(d), Action: action, Info: info}
		st.EventCounts["GUEST_PANICKED"]++
	}
}

func watchdogAt(action string, d time.Duration) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		st.LastWatchdog = &vmv1.WatchdogInfo{Time: *tl.at(d), Action: action}
		st.EventCounts["WATCHDOG"]++
	}
}

func resetAt(d time.Duration) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		st.LastReset = &vmv1.ResetInfo{Time: *tl.at(d), Reason: "host-qmp-system-reset"}
		st.EventCounts["RESET"]++
	}
}

func monitorIn(state vmv1.MonitorState, lastError string) mut {
	return func(_ timeline, st *vmv1.VirtualMachineStatus) {
		st.Monitor = &vmv1.MonitorStatus{State: state, Connected: state == vmv1.MonitorConnected, Source: "qmp", LastError: lastError}
	}
}

// blockErrorAt is a BLOCK_IO_ERROR on drive0 at d.
func blockErrorAt(action string, d time.Duration, nospace bool) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		be := vmv1.BlockError{Device: "drive0", Operation: "write", Action: action, Reason: "Input/output error", Count: 1, LastTime: tl.at(d)}
		if nospace {
			be.NoSpace, be.Reason = true, "No space left on device"
		}
		st.BlockErrors = []vmv1.BlockError{be}
		st.EventCounts["BLOCK_IO_ERROR"]++
	}
}

// blockErrorNow is a BLOCK_IO_ERROR that QEMU timestamps as the agent
// first writes it (the I/O error window runs on real time); *at keeps that
// time for later reports of the same error.
func blockErrorNow(action string, at *time.Time) mut {
	return func(tl timeline, st *vmv1.VirtualMachineStatus) {
		if at.IsZero() {
			*at = time.Now()
		}
		t := metav1.NewMicroTime(*at)
		st.BlockErrors = []vmv1.BlockError{{Device: "drive1", Operation: "read", Action: action, Reason: "Input/output error", Count: 7, LastTime: &t}}
	}
}

// The times of the recent-error scenarios' errors.
var reportErrorAt, ignoreErrorAt time.Time

// phase is one agent report and what the controller must make of it.
type phase struct {
	muts   []mut
	want   map[string]string
	says   map[string]string
	events []string
}

// report starts a phase: the healthy facts changed by muts.
func report(muts ...mut) phase {
	return phase{muts: muts, want: map[string]string{}, says: map[string]string{}}
}

// expect adds type, "Status/Reason" pairs.
func (p phase) expect(pairs ...string) phase {
	for i := 0; i+1 < len(pairs); i += 2 {
		p.want[pairs[i]] = pairs[i+1]
	}
	return p
}

// healthy expects the conditions of a healthy VM, except those set already.
func (p phase) healthy() phase {
	for k, v := range healthyConditions {
		if _, ok := p.want[k]; !ok {
			p.want[k] = v
		}
	}
	return p
}

// saying expects the condition's message to contain text.
func (p phase) saying(typ, text string) phase {
	p.says[typ] = text
	return p
}

// records expects exactly these new Events, as "Type=Status:EventType".
func (p phase) records(events ...string) phase {
	p.events = events
	return p
}

// runScenario creates a VM on nodeA (live agent), checks the initial and
// healthy states, then plays the phases.
func runScenario(phases ...phase) {
	GinkgoHelper()
	vm := newVM("vm", nodeA)
	tl := newTimeline()

	// A new VM gets every condition at once, Ready included, and no Event.
	expectConditions(vm, map[string]string{
		vmv1.ConditionMonitorConnected: "Unknown/AwaitingFacts", vmv1.ConditionPaused: "Unknown/AwaitingFacts",
		vmv1.ConditionGuestPanicked: "Unknown/AwaitingFacts", vmv1.ConditionWatchdogExpired: "Unknown/AwaitingFacts",
		vmv1.ConditionIOError: "Unknown/AwaitingFacts", vmv1.ConditionHardwareError: "Unknown/AwaitingFacts",
		vmv1.ConditionStorageDegraded: "Unknown/AwaitingFacts", vmv1.ConditionStalled: "Unknown/AwaitingFacts",
		vmv1.ConditionReady: "Unknown/AwaitingFacts",
	})
	Expect(transitionEvents(Default, vm)).To(BeEmpty())

	all := append([]phase{report().healthy().records("MonitorConnected=True:Normal", "Ready=True:Normal")}, phases...)
	for i, p := range all {
		By("phase " + string(rune('0'+i)))
		before := transitionEvents(Default, vm)
		st := healthyFacts(tl)
		for _, m := range p.muts {
			m(tl, &st)
		}
		applyFacts(vm, st)
		expectConditions(vm, p.want)
		for typ, text := range p.says {
			Eventually(func(g Gomega) string {
				for _, c := range getVM(g, vm).Status.Conditions {
					if c.Type == typ {
						return c.Message
					}
				}
				return ""
			}).Should(ContainSubstring(text))
		}
		Eventually(func(g Gomega) []string { return minus(transitionEvents(g, vm), before) }).Should(ConsistOf(p.events))
	}
	noDuplicateEvents(vm)
}

const (
	sMon    = vmv1.ConditionMonitorConnected
	sPaused = vmv1.ConditionPaused
	sPanic  = vmv1.ConditionGuestPanicked
	sWdog   = vmv1.ConditionWatchdogExpired
	sIO     = vmv1.ConditionIOError
	sReady  = vmv1.ConditionReady
	sHW     = vmv1.ConditionHardwareError
	sStore  = vmv1.ConditionStorageDegraded
	sStall  = vmv1.ConditionStalled
)

// pauseRow is a stop into a QEMU run state and the resume after it.
func pauseRow(runState, reason, eventType, faultCond, faultReason string) []phase {
	stop := report(stoppedIn(runState, time.Second)).
		expect(sPaused, "True/"+reason, sMon, "True/Connected").
		saying(sPaused, `QEMU run state "`+runState+`"`)
	resume := report(resumedAt(2*time.Second)).healthy().expect(sPaused, "False/Resumed")
	// Ready False is a Warning only when a fault stopped the VM.
	stopEvents := []string{"Paused=True:" + eventType, "Ready=False:" + eventType}
	resumeEvents := []string{"Paused=False:Normal", "Ready=True:Normal"}
	if faultCond != "" {
		stop = stop.expect(faultCond, "True/"+faultReason, sReady, "False/"+faultCond)
		resume = resume.expect(faultCond, "False/Recovered")
		stopEvents = append(stopEvents, faultCond+"=True:Warning")
		resumeEvents = append(resumeEvents, faultCond+"=False:Normal")
	} else {
		stop = stop.expect(sReady, "False/Paused")
	}
	return []phase{stop.records(stopEvents...), resume.records(resumeEvents...)}
}

var _ = Describe("conditions from the agent's facts (docs/conditions.md)", func() {
	DescribeTable("the monitor connection",
		func(state vmv1.MonitorState, reason, lastError string) {
			lost := report(monitorIn(state, lastError)).
				expect(sMon, "False/"+reason, sReady, "False/MonitorNotConnected", sStall, "False/NotStalled").
				saying(sMon, lastError).
				records("MonitorConnected=False:Warning", "Ready=False:Warning")
			back := report().healthy().records("MonitorConnected=True:Normal", "Ready=True:Normal")
			if state == vmv1.MonitorRefused {
				// A spec that cannot work: kstatus's Stalled, until fixed.
				lost = lost.expect(sStall, "True/MonitorRefused").saying(sStall, lastError).
					records("MonitorConnected=False:Warning", "Ready=False:Warning", "Stalled=True:Warning")
				back = back.expect(sStall, "False/Recovered").
					records("MonitorConnected=True:Normal", "Ready=True:Normal", "Stalled=False:Normal")
			}
			runScenario(lost, back)
		},
		Entry("Connecting", vmv1.MonitorConnecting, "Connecting", "dial unix /run/vm.qmp: connect: no such file or directory"),
		Entry("Disconnected", vmv1.MonitorDisconnected, "Disconnected", "read unix /run/vm.qmp: connection reset by peer"),
		Entry("Refused: socket outside the trusted roots", vmv1.MonitorRefused, "Refused", "/tmp/evil.qmp is outside the trusted socket roots [/run/vmevents]"),
	)

	DescribeTable("Paused: the cause of a stop, from QEMU's run state",
		func(runState, reason, eventType, faultCond, faultReason string) {
			runScenario(pauseRow(runState, reason, eventType, faultCond, faultReason)...)
		},
		Entry("paused (stop command)", "paused", "PausedByUser", "Normal", "", ""),
		Entry("io-error (agent missed BLOCK_IO_ERROR)", "io-error", "IOError", "Warning", sIO, "PausedOnError"),
		Entry("watchdog (agent missed WATCHDOG)", "watchdog", "Watchdog", "Warning", sWdog, "Pause"),
		Entry("guest-panicked (agent missed GUEST_PANICKED)", "guest-panicked", "GuestPanicked", "Warning", sPanic, "Pause"),
		Entry("debug", "debug", "Debug", "Warning", "", ""),
		Entry("suspended", "suspended", "Suspended", "Normal", "", ""),
		Entry("shutdown (-no-shutdown)", "shutdown", "Shutdown", "Normal", "", ""),
		Entry("inmigrate", "inmigrate", "Migration", "Normal", "", ""),
		Entry("postmigrate", "postmigrate", "Migration", "Normal", "", ""),
		Entry("finish-migrate", "finish-migrate", "Migration", "Normal", "", ""),
		Entry("colo", "colo", "Migration", "Normal", "", ""),
		Entry("prelaunch", "prelaunch", "Prelaunch", "Normal", "", ""),
		Entry("save-vm", "save-vm", "Snapshot", "Normal", "", ""),
		Entry("restore-vm", "restore-vm", "Snapshot", "Normal", "", ""),
		Entry("internal-error", "internal-error", "InternalError", "Warning", "", ""),
	)

	DescribeTable("Paused: without QEMU's reason",
		func(phases ...phase) { runScenario(phases...) },
		Entry("Paused after a pause watchdog: Watchdog",
			report(watchdogAt("pause", time.Second), summarised(vmv1.RunStatePaused, time.Second)).
				expect(sPaused, "True/Watchdog", sWdog, "True/Pause", sReady, "False/WatchdogExpired").
				records("Paused=True:Warning", "WatchdogExpired=True:Warning", "Ready=False:Warning")),
		Entry("Paused after a stop I/O error: IOError",
			report(blockErrorAt("stop", time.Second, false), summarised(vmv1.RunStatePaused, time.Second)).
				expect(sPaused, "True/IOError", sIO, "True/PausedOnError", sReady, "False/IOError").
				records("Paused=True:Warning", "IOError=True:Warning", "Ready=False:Warning")),
		Entry("Paused after a pause panic: GuestPanicked",
			report(panickedAt("pause", time.Second, ""), summarised(vmv1.RunStatePaused, time.Second)).
				expect(sPaused, "True/GuestPanicked", sPanic, "True/Pause", sReady, "False/GuestPanicked").
				records("Paused=True:Warning", "GuestPanicked=True:Warning", "Ready=False:Warning")),
		Entry("Paused, no fault: UnknownCause",
			report(summarised(vmv1.RunStatePaused, time.Second)).
				expect(sPaused, "True/UnknownCause", sReady, "False/Paused").
				records("Paused=True:Warning", "Ready=False:Warning"),
			report(resumedAt(2*time.Second)).healthy().expect(sPaused, "False/Resumed").
				records("Paused=False:Normal", "Ready=True:Normal")),
		Entry("Suspended",
			report(summarised(vmv1.RunStateSuspended, time.Second)).expect(sPaused, "True/Suspended").
				records("Paused=True:Normal", "Ready=False:Normal")),
		Entry("Shutdown",
			report(summarised(vmv1.RunStateShutdown, time.Second)).expect(sPaused, "True/Shutdown").
				records("Paused=True:Normal", "Ready=False:Normal")),
		Entry("Crashed",
			report(summarised(vmv1.RunStateCrashed, time.Second)).expect(sPaused, "True/GuestPanicked", sPanic, "True/Pause").
				records("Paused=True:Warning", "GuestPanicked=True:Warning", "Ready=False:Warning")),
		Entry("Unknown",
			report(summarised(vmv1.RunStateUnknown, time.Second)).expect(sPaused, "Unknown/RunStateUnknown", sReady, "False/NotRunning").
				records("Paused=Unknown:Warning", "Ready=False:Warning")),
	)

	DescribeTable("GuestPanicked: one row per GUEST_PANICKED action",
		func(phases ...phase) { runScenario(phases...) },
		Entry("pause: stopped; a resume alone does not clear it; reset + running does",
			report(panickedAt("pause", time.Second, "Hyper-V crash 0x1e"), stoppedIn("guest-panicked", time.Second)).
				expect(sPanic, "True/Pause", sPaused, "True/GuestPanicked", sReady, "False/GuestPanicked").
				saying(sPanic, "Hyper-V crash 0x1e").
				records("GuestPanicked=True:Warning", "Paused=True:Warning", "Ready=False:Warning"),
			report(panickedAt("pause", time.Second, "Hyper-V crash 0x1e"), resumedAt(2*time.Second)).
				expect(sPanic, "True/Pause", sPaused, "False/Resumed", sReady, "False/GuestPanicked").
				records("Paused=False:Normal"),
			report(panickedAt("pause", time.Second, "Hyper-V crash 0x1e"), resetAt(3*time.Second), resumedAt(3*time.Second)).
				healthy().expect(sPanic, "False/Recovered", sPaused, "False/Resumed").
				records("GuestPanicked=False:Normal", "Ready=True:Normal")),
		Entry("poweroff: QEMU exits; a restart clears it",
			report(panickedAt("poweroff", time.Second, ""), stoppedIn("shutdown", time.Second), monitorIn(vmv1.MonitorDisconnected, "EOF")).
				expect(sPanic, "True/Poweroff", sMon, "False/Disconnected", sPaused, "True/Shutdown", sReady, "False/MonitorNotConnected").
				records("GuestPanicked=True:Warning", "MonitorConnected=False:Warning", "Paused=True:Normal", "Ready=False:Warning"),
			report(panickedAt("poweroff", time.Second, ""), restartedAt(5*time.Second)).
				healthy().expect(sPanic, "False/Recovered", sPaused, "False/Resumed").
				records("GuestPanicked=False:Normal", "MonitorConnected=True:Normal", "Paused=False:Normal", "Ready=True:Normal")),
		Entry("run: the guest runs on; its reboot clears it",
			report(panickedAt("run", time.Second, "")).
				expect(sPanic, "True/Run", sPaused, "False/Running", sReady, "False/GuestPanicked").
				records("GuestPanicked=True:Warning", "Ready=False:Warning"),
			report(panickedAt("run", time.Second, ""), resetAt(4*time.Second)).
				healthy().expect(sPanic, "False/Recovered").
				records("GuestPanicked=False:Normal", "Ready=True:Normal")),
		Entry("an action newer than the controller",
			report(panickedAt("hibernate", time.Second, "")).expect(sPanic, "True/OtherAction").
				records("GuestPanicked=True:Warning", "Ready=False:Warning")),
	)

	DescribeTable("WatchdogExpired: one row per WATCHDOG action",
		func(phases ...phase) { runScenario(phases...) },
		Entry("reset: cleared by the RESET that follows",
			report(watchdogAt("reset", time.Second)).expect(sWdog, "True/Reset", sReady, "False/WatchdogExpired").
				records("WatchdogExpired=True:Warning", "Ready=False:Warning"),
			report(watchdogAt("reset", time.Second), resetAt(time.Second+time.Millisecond)).healthy().expect(sWdog, "False/Recovered").
				records("WatchdogExpired=False:Normal", "Ready=True:Normal")),
		Entry("shutdown: cleared by a reset and running",
			report(watchdogAt("shutdown", time.Second), stoppedIn("shutdown", time.Second)).
				expect(sWdog, "True/Shutdown", sPaused, "True/Shutdown", sReady, "False/WatchdogExpired").
				records("WatchdogExpired=True:Warning", "Paused=True:Normal", "Ready=False:Warning"),
			report(watchdogAt("shutdown", time.Second), resetAt(3*time.Second), resumedAt(3*time.Second)).
				healthy().expect(sWdog, "False/Recovered", sPaused, "False/Resumed").
				records("WatchdogExpired=False:Normal", "Paused=False:Normal", "Ready=True:Normal")),
		Entry("poweroff: cleared by a restart",
			report(watchdogAt("poweroff", time.Second), stoppedIn("shutdown", time.Second), monitorIn(vmv1.MonitorDisconnected, "EOF")).
				expect(sWdog, "True/Poweroff", sMon, "False/Disconnected", sReady, "False/MonitorNotConnected").
				records("WatchdogExpired=True:Warning", "Paused=True:Normal", "MonitorConnected=False:Warning", "Ready=False:Warning"),
			report(watchdogAt("poweroff", time.Second), restartedAt(5*time.Second)).
				healthy().expect(sWdog, "False/Recovered", sPaused, "False/Resumed").
				records("WatchdogExpired=False:Normal", "Paused=False:Normal", "MonitorConnected=True:Normal", "Ready=True:Normal")),
		Entry("pause: cleared by the resume",
			report(watchdogAt("pause", time.Second), stoppedIn("watchdog", time.Second)).
				expect(sWdog, "True/Pause", sPaused, "True/Watchdog", sReady, "False/WatchdogExpired").
				records("WatchdogExpired=True:Warning", "Paused=True:Warning", "Ready=False:Warning"),
			report(watchdogAt("pause", time.Second), resumedAt(2*time.Second)).
				healthy().expect(sWdog, "False/Recovered", sPaused, "False/Resumed").
				records("WatchdogExpired=False:Normal", "Paused=False:Normal", "Ready=True:Normal")),
		Entry("debug: cleared by the resume",
			report(watchdogAt("debug", time.Second), stoppedIn("debug", time.Second)).
				expect(sWdog, "True/Debug", sPaused, "True/Debug", sReady, "False/WatchdogExpired").
				records("WatchdogExpired=True:Warning", "Paused=True:Warning", "Ready=False:Warning"),
			report(watchdogAt("debug", time.Second), resumedAt(2*time.Second)).
				healthy().expect(sWdog, "False/Recovered", sPaused, "False/Resumed").
				records("WatchdogExpired=False:Normal", "Paused=False:Normal", "Ready=True:Normal")),
		Entry("none: running proves nothing; a reset clears it",
			report(watchdogAt("none", time.Second)).expect(sWdog, "True/None", sPaused, "False/Running", sReady, "False/WatchdogExpired").
				records("WatchdogExpired=True:Warning", "Ready=False:Warning"),
			report(watchdogAt("none", time.Second), stoppedIn("paused", 2*time.Second)).expect(sWdog, "True/None", sPaused, "True/PausedByUser").
				records("Paused=True:Normal"),
			report(watchdogAt("none", time.Second), resumedAt(3*time.Second)).expect(sWdog, "True/None", sPaused, "False/Resumed").
				records("Paused=False:Normal"),
			report(watchdogAt("none", time.Second), resetAt(4*time.Second)).healthy().expect(sWdog, "False/Recovered", sPaused, "False/Resumed").
				records("WatchdogExpired=False:Normal", "Ready=True:Normal")),
		Entry("inject-nmi: a restart clears it",
			report(watchdogAt("inject-nmi", time.Second)).expect(sWdog, "True/InjectNMI").
				records("WatchdogExpired=True:Warning", "Ready=False:Warning"),
			report(watchdogAt("inject-nmi", time.Second), restartedAt(5*time.Second)).healthy().expect(sWdog, "False/Recovered").
				records("WatchdogExpired=False:Normal", "Ready=True:Normal")),
		Entry("an action newer than the controller",
			report(watchdogAt("explode", time.Second)).expect(sWdog, "True/OtherAction").
				records("WatchdogExpired=True:Warning", "Ready=False:Warning")),
	)

	DescribeTable("IOError",
		func(phases ...phase) { runScenario(phases...) },
		Entry("action stop: paused on the error until resumed",
			report(blockErrorAt("stop", time.Second, false), stoppedIn("io-error", time.Second)).
				expect(sIO, "True/PausedOnError", sPaused, "True/IOError", sReady, "False/IOError").
				saying(sIO, "device drive0 write error: Input/output error, action stop").
				records("IOError=True:Warning", "Paused=True:Warning", "Ready=False:Warning"),
			report(blockErrorAt("stop", time.Second, false), resumedAt(2*time.Second)).
				healthy().expect(sIO, "False/Recovered", sPaused, "False/Resumed").
				records("IOError=False:Normal", "Paused=False:Normal", "Ready=True:Normal")),
		Entry("nospace: ENOSPC in the message",
			report(blockErrorAt("stop", time.Second, true), stoppedIn("io-error", time.Second)).
				expect(sIO, "True/PausedOnError").saying(sIO, "No space left on device (ENOSPC)").
				records("IOError=True:Warning", "Paused=True:Warning", "Ready=False:Warning")),
		Entry("action report: errors keep arriving, then the window passes",
			report(blockErrorNow("report", &reportErrorAt)).expect(sIO, "True/RecentErrors", sPaused, "False/Running", sReady, "False/IOError").
				saying(sIO, "device drive1 read error").
				records("IOError=True:Warning", "Ready=False:Warning"),
			// The same facts: only time passes.
			report(blockErrorNow("report", &reportErrorAt)).healthy().expect(sIO, "False/Recovered").
				records("IOError=False:Normal", "Ready=True:Normal")),
		Entry("action ignore: errors keep arriving",
			report(blockErrorNow("ignore", &ignoreErrorAt)).expect(sIO, "True/RecentErrors").
				records("IOError=True:Warning", "Ready=False:Warning")),
	)
})

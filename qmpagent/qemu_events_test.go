package qmpagent_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	gtypes "github.com/onsi/gomega/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp/qemutest"
)

// scenario is one thing a real QEMU does, and what the agent must make of it.
type scenario struct {
	qemu func() qemutest.Options
	// act makes it happen, with the test's own monitor on the VM.
	act    func(in *qemutest.Instance)
	status gtypes.GomegaMatcher
	events []gtypes.GomegaMatcher
	// policy is the VM's spec.eventPolicy (none: the agent's default).
	policy *vmv1.EventPolicy
}

// event matches a published Event by reason, type and note.
func event(reason, typ string, note gtypes.GomegaMatcher) gtypes.GomegaMatcher {
	return And(HaveField("Reason", reason), HaveField("Type", typ), HaveField("Note", note),
		HaveField("ReportingController", "vmevents.dev/agent"), HaveField("ReportingInstance", node))
}

func command(name string) func(in *qemutest.Instance) {
	return func(in *qemutest.Instance) {
		Expect(monitor(in).Execute(context.Background(), name, nil, nil)).To(Succeed())
	}
}

// guest starts a paused QEMU with boot code and extra arguments; act lets it run.
func guest(boot []byte, args ...string) func() qemutest.Options {
	return func() qemutest.Options {
		return qemutest.Options{Boot: boot, Paused: true, PrettyMonitor: true, Args: args}
	}
}

func idle(vnc bool) func() qemutest.Options {
	return func() qemutest.Options {
		return qemutest.Options{Boot: qemutest.Idle, PrettyMonitor: true, VNC: vnc}
	}
}

var _ = DescribeTable("every event a real QEMU produces here reaches status and Events",
	func(sc scenario) {
		in := qemutest.Start(suiteT, sc.qemu())
		vm := createVMWithPolicy(in.QMPPath, sc.policy)
		Eventually(getVM(vm)).Should(HaveField("Monitor.State", vmv1.MonitorConnected))
		sc.act(in)
		Eventually(getVM(vm)).Should(sc.status)
		Eventually(eventsOf(vm)).Should(ContainElements(sc.events))
	},
	Entry("a watchdog expiry that pauses the VM", scenario{
		qemu: guest(qemutest.Watchdog, "-device", "ib700", "-watchdog-action", "pause"),
		act:  command("cont"),
		status: And(HaveField("LastWatchdog.Action", "pause"), HaveField("RunState", vmv1.RunStatePaused),
			HaveField("RunStateReason", "watchdog"), HaveField("EventCounts", HaveKeyWithValue("WATCHDOG", int64(1)))),
		events: []gtypes.GomegaMatcher{
			event("Watchdog", "Warning", Equal("Watchdog expired; QEMU action: pause")),
			event("Stop", "Normal", Equal("VM paused")),
		},
	}),
	Entry("a guest setting its clock, kept though silenced by default", scenario{
		qemu:   guest(qemutest.RTC),
		act:    command("cont"),
		policy: &vmv1.EventPolicy{Keep: []string{"RTC_CHANGE"}},
		status: HaveField("RTCOffsetSeconds", Not(BeNil())),
		events: []gtypes.GomegaMatcher{event("RTCChange", "Normal", HavePrefix("Guest set its real-time clock to host UTC"))},
	}),
	Entry("a disk read error that stops the VM", scenario{
		qemu: func() qemutest.Options {
			return qemutest.Options{Paused: true, PrettyMonitor: true, Args: qemutest.BlkdebugReadErrorDisk(suiteT, "disk0")}
		},
		act: command("cont"),
		status: And(HaveField("RunStateReason", "io-error"), HaveField("BlockErrors", ContainElement(And(
			HaveField("Device", "disk0"), HaveField("Operation", "read"), HaveField("Action", "stop"),
			HaveField("Reason", "Input/output error"), HaveField("Count", BeNumerically(">=", 1)))))),
		events: []gtypes.GomegaMatcher{event("BlockIOError", "Warning", Equal("Read error on disk0: Input/output error; VM stopped"))},
	}),
	Entry("a VNC client connecting and leaving", scenario{
		qemu: idle(true),
		act: func(in *qemutest.Instance) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := qemutest.VNCHandshake(ctx, in.VNCAddr)
			Expect(err).NotTo(HaveOccurred())
		},
		status: And(HaveField("EventCounts", HaveKeyWithValue("VNC_DISCONNECTED", int64(1))), HaveField("DisplaySessions", BeEmpty())),
		events: []gtypes.GomegaMatcher{
			event("VNCConnected", "Normal", MatchRegexp(`^VNC client 127\.0\.0\.1:\d+ connected$`)),
			event("VNCInitialized", "Normal", MatchRegexp(`^VNC client 127\.0\.0\.1:\d+ authenticated \(none\)$`)),
			event("VNCDisconnected", "Normal", MatchRegexp(`^VNC client 127\.0\.0\.1:\d+ disconnected$`)),
		},
	}),
	Entry("a reset from the host", scenario{
		qemu:   idle(false),
		act:    command("system_reset"),
		status: HaveField("LastReset.Reason", "host-qmp-system-reset"),
		events: []gtypes.GomegaMatcher{event("Reset", "Normal", Equal("VM reset (host-initiated, host-qmp-system-reset)"))},
	}),
	Entry("an ACPI power-button press", scenario{
		qemu:   idle(false),
		act:    command("system_powerdown"),
		status: HaveField("EventCounts", HaveKeyWithValue("POWERDOWN", int64(1))),
		events: []gtypes.GomegaMatcher{event("Powerdown", "Normal", Equal("ACPI power-button request sent to the guest"))},
	}),
	Entry("a shutdown (quit), after which the monitor is gone", scenario{
		qemu: idle(false),
		act:  command("quit"),
		status: And(HaveField("EventCounts", HaveKeyWithValue("SHUTDOWN", int64(1))),
			HaveField("Monitor.State", vmv1.MonitorDisconnected)),
		events: []gtypes.GomegaMatcher{event("Shutdown", "Normal", Equal("VM shut down (host-initiated, host-qmp-quit)"))},
	}),
)

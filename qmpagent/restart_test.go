package qmpagent_test

import (
	"context"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp/qemutest"
)

// seriesOf summarises Events as name -> count, to compare before and after.
func seriesOf(events []eventsv1.Event) map[string]int32 {
	out := map[string]int32{}
	for _, e := range events {
		out[e.Name+" "+e.Reason] = seriesCount(e)
	}
	return out
}

var _ = Describe("restarts", func() {
	It("an agent restarted while the VM is paused and panicked re-syncs and publishes nothing twice", func() {
		in := qemutest.Start(suiteT, qemutest.Options{
			Boot: qemutest.Panic, Paused: true, PrettyMonitor: true, Args: []string{"-device", "pvpanic"},
		})
		vm := createVM(in.QMPPath)
		Eventually(getVM(vm)).Should(HaveField("Monitor.State", vmv1.MonitorConnected))
		Expect(monitor(in).Execute(context.Background(), "cont", nil, nil)).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElement(HaveField("Reason", "GuestPanicked")))
		// Everything the agent had to say is written before the restart:
		// the panic, and the STOP that follows it.
		Eventually(getVM(vm)).Should(And(HaveField("RunStateReason", "guest-panicked"),
			HaveField("EventCounts", HaveKeyWithValue("STOP", int64(1)))))
		Eventually(func() map[string]int32 { return seriesOf(eventsOf(vm)()) }).Should(HaveKey(ContainSubstring("Stop")))
		before := getVM(vm)()
		published := seriesOf(eventsOf(vm)())

		stopAgent()
		stopAgent = startAgent()

		// The new agent has connected and re-synced from QEMU...
		Eventually(getVM(vm)).Should(And(
			HaveField("Delivery.Resyncs", BeNumerically(">", before.Delivery.Resyncs)),
			HaveField("Monitor.State", vmv1.MonitorConnected),
		))
		after := getVM(vm)()
		// ...and tells the same story: paused by the panic, counters
		// continued rather than reset, no Event published again.
		Expect(after.RunState).To(Equal(vmv1.RunStatePaused))
		Expect(after.RunStateReason).To(Equal("guest-panicked"))
		Expect(after.LastPanic).To(Equal(before.LastPanic))
		Expect(after.EventCounts).To(Equal(before.EventCounts))
		Expect(seriesOf(eventsOf(vm)())).To(Equal(published))
	})

	It("QEMU killed and started again on the same socket: disconnected, then reconnected and re-synced", func() {
		socket := filepath.Join(suiteT.TempDir(), "restart.qmp")
		first := qemutest.Start(suiteT, qemutest.Options{Boot: qemutest.Idle, QMPPath: socket})
		vm := createVM(socket)
		Eventually(getVM(vm)).Should(And(HaveField("Monitor.State", vmv1.MonitorConnected), HaveField("RunState", vmv1.RunStateRunning)))
		started := getVM(vm)().StartTime

		first.Kill()
		Eventually(getVM(vm)).Should(HaveField("Monitor.State", vmv1.MonitorDisconnected))

		// The new QEMU waits paused (-S) while the agent is away.
		qemutest.Start(suiteT, qemutest.Options{Boot: qemutest.Idle, QMPPath: socket, Paused: true})
		Eventually(getVM(vm)).Should(And(
			HaveField("Monitor.State", vmv1.MonitorConnected),
			HaveField("Monitor.Reconnects", BeNumerically(">=", 1)),
			HaveField("RunState", vmv1.RunStatePaused),
			HaveField("RunStateReason", "prelaunch"),
			HaveField("StartTime.Time", BeTemporally(">", started.Time)),
		))
	})
})

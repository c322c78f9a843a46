package qmpagent_test

import (
	"context"
	"net"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/qmp/qemutest"
)

// monitor opens the test's own QMP connection on QEMU's second monitor: the
// agent holds the first, and QEMU serves one client per socket.
func monitor(in *qemutest.Instance) *qmp.Conn {
	conn, err := qmp.Dial(context.Background(), in.PrettyQMPPath, qmp.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(conn.Close)
	return conn
}

var _ = Describe("a real QEMU", func() {
	It("publishes a guest panic, the pause and resume around it, and the monitor going away", func() {
		in := qemutest.Start(suiteT, qemutest.Options{
			Boot: qemutest.Panic, Paused: true, PrettyMonitor: true, Args: []string{"-device", "pvpanic"},
		})
		vm := createVM(in.QMPPath)
		Eventually(getVM(vm)).Should(And(
			HaveField("Monitor.State", vmv1.MonitorConnected),
			HaveField("Monitor.QEMUVersion", Not(BeEmpty())),
			HaveField("RunState", vmv1.RunStatePaused),
			HaveField("RunStateReason", "prelaunch"),
		))

		// Let the guest run: it panics at once through pvpanic.
		mon := monitor(in)
		Expect(mon.Execute(context.Background(), "cont", nil, nil)).To(Succeed())
		Eventually(getVM(vm)).Should(And(
			HaveField("RunState", vmv1.RunStatePaused),
			HaveField("RunStateReason", "guest-panicked"),
			HaveField("LastPanic.Action", "pause"),
			HaveField("EventCounts", HaveKeyWithValue("GUEST_PANICKED", int64(1))),
		))
		Eventually(eventsOf(vm)).Should(ContainElements(
			And(HaveField("Reason", "GuestPanicked"), HaveField("Type", "Warning"),
				HaveField("Action", "GUEST_PANICKED"), HaveField("Note", "Guest panicked; QEMU action: pause"),
				HaveField("ReportingController", "vmevents.dev/agent"), HaveField("ReportingInstance", node)),
			And(HaveField("Reason", "Resume"), HaveField("Type", "Normal"), HaveField("Note", "VM resumed")),
		))

		// The user pauses and resumes it by hand.
		Expect(mon.Execute(context.Background(), "stop", nil, nil)).To(Succeed())
		Eventually(getVM(vm)).Should(HaveField("EventCounts", HaveKeyWithValue("STOP", BeNumerically(">=", 1))))
		Eventually(eventsOf(vm)).Should(ContainElement(And(HaveField("Reason", "Stop"), HaveField("Note", "VM paused"))))

		// QEMU killed: the monitor is marked disconnected, with the reason.
		in.Kill()
		Eventually(getVM(vm)).Should(And(
			HaveField("Monitor.State", vmv1.MonitorDisconnected),
			HaveField("Monitor.Connected", false),
		))
	})

	It("refuses a socket outside the trusted roots, through a symlink or not, and says why", func() {
		outside, err := os.MkdirTemp("/run", "vmevents-outside")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, outside)
		sock := filepath.Join(outside, "runtime.sock")
		l, err := net.Listen("unix", sock)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(l.Close)
		link := filepath.Join(suiteT.TempDir(), "escape.qmp")
		Expect(os.Symlink(sock, link)).To(Succeed())

		for _, path := range []string{sock, link} {
			vm := createVM(path)
			Eventually(getVM(vm)).Should(And(
				HaveField("Monitor.State", vmv1.MonitorRefused),
				HaveField("Monitor.LastError", ContainSubstring("is not under a trusted socket root")),
			))
		}
		// Nobody ever connected to the foreign socket.
		Expect(l.(*net.UnixListener).SetDeadline(deadlineNow())).To(Succeed())
		_, err = l.Accept()
		Expect(err).To(HaveOccurred())
	})
})

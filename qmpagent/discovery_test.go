package qmpagent_test

import (
	"context"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp/qemutest"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/qmpsource"
)

var _ = Describe("discovery", func() {
	It("creates a VirtualMachine for a QEMU started with only -qmp, which the agent then follows", func() {
		dir, err := os.MkdirTemp("", "disc")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		socket := filepath.Join(dir, "discover-Build_Box.qmp")
		qemutest.Start(suiteT, qemutest.Options{QMPPath: socket})

		name := source.DiscoveredName("", socket, node)
		vm := &vmv1.VirtualMachine{}
		Eventually(func() error {
			return env.Client.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, vm)
		}).Should(Succeed())
		Expect(vm.Spec.NodeName).To(Equal(node))
		Expect(vm.Spec.QMP.SocketPath).To(Equal(socket))
		Expect(vm.Labels).To(HaveKeyWithValue(source.DiscoveredLabel, "true"))
		DeferCleanup(env.Client.Delete, context.Background(), vm)

		Eventually(getVM(vm)).Should(And(
			HaveField("Monitor.State", vmv1.MonitorConnected),
			HaveField("Monitor.QEMUVersion", Not(BeEmpty())),
		))
	})

	It("marks a discovered VirtualMachine whose QEMU is gone, then deletes it after the grace", func() {
		dir, err := os.MkdirTemp("", "disc")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		socket := filepath.Join(dir, "discover-gone.qmp")
		qemu := qemutest.Start(suiteT, qemutest.Options{QMPPath: socket})

		vm := &vmv1.VirtualMachine{}
		key := client.ObjectKey{Namespace: "default", Name: source.DiscoveredName("", socket, node)}
		Eventually(func() error { return env.Client.Get(context.Background(), key, vm) }).Should(Succeed())
		Eventually(getVM(vm)).Should(HaveField("Monitor.State", vmv1.MonitorConnected))

		// The VM ends for good: QEMU exits and its socket is gone.
		qemu.Kill()
		Expect(os.Remove(socket)).To(Or(Succeed(), MatchError(os.ErrNotExist)))

		Eventually(eventsOf(vm)).Should(ContainElement(And(
			HaveField("Reason", qmpsource.ReasonSocketGone),
			HaveField("Note", ContainSubstring(socket)),
		)))
		Eventually(func() error { return env.Client.Get(context.Background(), key, &vmv1.VirtualMachine{}) }).
			Should(Satisfy(apierrors.IsNotFound))
	})
})

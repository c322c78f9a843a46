package qmpagent_test

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/qmp/qemutest"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/qmpsource"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// Tenant isolation with real QEMUs, through an agent of its own in the
// default tenancy (namespace): its socket root holds one folder per
// namespace, as a cluster admin lays it out, and each QEMU's socket is in
// its tenant's folder.
var _ = Describe("tenant isolation of monitors", Ordered, func() {
	const (
		tenancyNode = "node-tenancy"
		victimUUID  = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20"
		otherUUID   = "11111111-2222-4333-8444-555555555555"
	)
	var (
		root    string
		victim  *qemutest.Instance
		victimV *vmv1.VirtualMachine
	)
	// tenantVM creates a VirtualMachine of the test agent's node.
	tenantVM := func(ns, name, socket, uuid string) *vmv1.VirtualMachine {
		vm := testenv.VirtualMachine(ns, name, vmv1.VirtualMachineSpec{
			NodeName: tenancyNode, UUID: uuid, QMP: &vmv1.QMPSource{SocketPath: socket},
		})
		Expect(env.Client.Create(ctx, vm)).To(Succeed())
		DeferCleanup(func() { _ = env.Client.Delete(context.Background(), vm) })
		return vm
	}
	// alive shows the victim's session still streams: a pause through
	// QEMU's second monitor reaches the victim's VM.
	alive := func() {
		mon := monitor(victim)
		Expect(mon.Execute(ctx, "stop", nil, nil)).To(Succeed())
		Eventually(getVM(victimV)).Should(And(
			HaveField("Monitor.State", vmv1.MonitorConnected),
			HaveField("RunState", vmv1.RunStatePaused),
		))
		Expect(mon.Execute(ctx, "cont", nil, nil)).To(Succeed())
		Eventually(getVM(victimV)).Should(HaveField("RunState", vmv1.RunStateRunning))
	}

	BeforeAll(func() {
		// Short: a unix socket path has at most 107 bytes.
		var err error
		root, err = os.MkdirTemp("", "tenancy")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, root)
		for _, ns := range []string{"victim", "intruder"} {
			Expect(os.Mkdir(filepath.Join(root, ns), 0o755)).To(Succeed())
			if err := env.Client.Create(ctx, namespace(ns)); !apierrors.IsAlreadyExists(err) {
				Expect(err).NotTo(HaveOccurred())
			}
		}
		DeferCleanup(runAgent(qmpagent.Config{NodeName: tenancyNode}, func(p source.Publisher) (source.Source, error) {
			return qmpsource.New(p, qmpsource.Config{
				SocketRoots: []string{root}, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
			}), nil
		}))

		victim = qemutest.Start(suiteT, qemutest.Options{
			Boot: qemutest.Idle, Name: "victim-web", PrettyMonitor: true,
			QMPPath: filepath.Join(root, "victim", "web.qmp"), Args: []string{"-uuid", victimUUID},
		})
		victimV = tenantVM("victim", "web", victim.QMPPath, victimUUID)
		Eventually(getVM(victimV)).Should(And(
			HaveField("Monitor.State", vmv1.MonitorConnected),
			HaveField("Monitor.VMUUID", victimUUID),
		))
	})

	It("refuses a VM of another namespace naming the victim's socket, directly or through a symlink in its own folder, and the victim's VM stays connected", func() {
		stolen := filepath.Join(root, "intruder", "stolen.qmp")
		Expect(os.Symlink(victim.QMPPath, stolen)).To(Succeed())
		for i, path := range []string{victim.QMPPath, stolen} {
			intruder := tenantVM("intruder", "thief-"+string(rune('a'+i)), path, "")
			Eventually(getVM(intruder)).Should(HaveField("Monitor.State", vmv1.MonitorRefused))
			st := getVM(intruder)()
			Expect(st.Monitor.LastError).To(And(
				ContainSubstring(`namespace "intruder" may use only sockets beneath `+filepath.Join(root, "intruder")+"/"),
				ContainSubstring("--tenancy=namespace"),
			))
			// Nothing of the victim's VM reached the intruder's status.
			Expect(st.Monitor.VMUUID).To(BeEmpty())
			Expect(st.Monitor.VMName).To(BeEmpty())
			Expect(st.RunState).To(BeEmpty())
		}
		alive()
		Expect(getVM(victimV)().Monitor.Reconnects).To(BeZero())
	})

	It("refuses a VM whose spec.uuid is not the UUID QEMU reports, naming both, before reading anything of it", func() {
		other := qemutest.Start(suiteT, qemutest.Options{
			Boot: qemutest.Idle, Name: "other", QMPPath: filepath.Join(root, "victim", "other.qmp"), Args: []string{"-uuid", otherUUID},
		})
		vm := tenantVM("victim", "claims-other", other.QMPPath, victimUUID)
		Eventually(getVM(vm)).Should(HaveField("Monitor.State", vmv1.MonitorRefused))
		st := getVM(vm)()
		Expect(st.Monitor.LastError).To(And(
			ContainSubstring("UUID mismatch"), ContainSubstring(victimUUID), ContainSubstring(otherUUID),
		))
		Expect(st.Monitor.VMName).To(BeEmpty())
		Expect(st.RunState).To(BeEmpty())
	})

	It("gives one socket to one VM: a second VM naming it is refused, told the holder, and gets it once the holder is deleted", func() {
		second := tenantVM("victim", "web-copy", victim.QMPPath, "")
		Eventually(getVM(second)).Should(HaveField("Monitor.State", vmv1.MonitorRefused))
		Expect(getVM(second)().Monitor.LastError).To(And(
			ContainSubstring("in use by another VirtualMachine"), ContainSubstring("VirtualMachine victim/web"),
		))
		alive()

		Expect(env.Client.Delete(ctx, victimV)).To(Succeed())
		Eventually(getVM(second)).Should(And(
			HaveField("Monitor.State", vmv1.MonitorConnected),
			HaveField("Monitor.VMUUID", victimUUID),
		))
	})
})

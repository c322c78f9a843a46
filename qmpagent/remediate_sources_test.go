package qmpagent_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/lxdsource"
	"github.com/vmevents/vmevents/test/framework/privatelibvirt"
	"github.com/vmevents/vmevents/test/framework/privatelxd"
	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// The QMP specs (remediate_test.go) prove the protocol; these prove that
// the two other sources carry a request out on their real daemons, each
// with an agent of a node of its own.

// panickingDomainXML is a domain whose guest reports its panic on an ISA
// pvpanic device (the port qemuvm's boot code writes to) and which libvirt
// keeps, crashed, for someone to act on (on_crash preserve).
func panickingDomainXML(name, uuid, disk string) string {
	xml := privatelibvirt.DomainXML(name, uuid, disk)
	xml = strings.Replace(xml, "<devices>", "<on_crash>preserve</on_crash><devices>", 1)
	return strings.Replace(xml, "</devices>", "<panic model='isa'/></devices>", 1)
}

// agentRemediations is the agent's count of requests of src it reported
// with result.
func agentRemediations(src string, action vmv1.RemediationAction, result vmv1.ExecutionPhase) func() float64 {
	return func() float64 {
		return testutil.ToFloat64(metrics.Remediations.WithLabelValues(src, string(action), string(result)))
	}
}

// domainID is the id libvirtd gives the running QEMU of domain: a new
// QEMU process gets a new one.
func domainID(uri, domain string) string {
	GinkgoHelper()
	out, err := privatelibvirt.Virsh(uri, "domid", domain)
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(out)
}

// eventReasons lists the reasons of the Events regarding vm.
func eventReasons(vm *vmv1.VirtualMachine) func() []string {
	return func() []string {
		var out []string
		for _, e := range eventsOf(vm)() {
			out = append(out, e.Reason)
		}
		return out
	}
}

var _ = Describe("remediation through libvirt and LXD", func() {
	It("resets a libvirt domain whose guest panicked, as the real controller asks, and the guest recovers", func() {
		const (
			remedyNode = "node-remediation-libvirt"
			domain     = "panicky"
			uuid       = "7b2e4d6f-1a3c-4e5b-9d7f-0a1b2c3d4e5f"
		)
		dir, uri := privateLibvirt()
		disk := filepath.Join(dir, "panic-once.img")
		Expect(os.WriteFile(disk, qemuvm.BootSector(qemuvm.PanicOnce), 0o600)).To(Succeed())
		Expect(virsh(uri, "define", writeFile(filepath.Join(dir, "panicky.xml"), panickingDomainXML(domain, uuid, disk)))).To(Succeed())

		// Named by domain name: the libvirt source then follows QEMU's own
		// monitor events through libvirtd too (GUEST_PANICKED, RESET).
		vm := testenv.VirtualMachine("default", "libvirt-panicky", vmv1.VirtualMachineSpec{
			NodeName: remedyNode, UUID: uuid, Libvirt: &vmv1.LibvirtSource{Domain: domain},
			Remediation: &vmv1.RemediationSpec{GuestPanicked: vmv1.RemediationReset, DelaySeconds: ptr.To[int32](1)},
		})
		Expect(env.Client.Create(context.Background(), vm)).To(Succeed())
		DeferCleanup(runAgent(qmpagent.Config{NodeName: remedyNode}, libvirtSources(dir, uri, nil)...))
		DeferCleanup(startControllerFor(remedyNode))
		succeeded := agentRemediations(vmv1.SourceLibvirt, vmv1.RemediationReset, vmv1.ExecutionSucceeded)()

		// Started paused, so that the agent follows the domain before its
		// guest panics.
		Expect(virsh(uri, "start", domain, "--paused")).To(Succeed())
		DeferCleanup(func() { _ = virsh(uri, "destroy", domain) })
		Eventually(getVM(vm)).Should(HaveField("Monitor.State", vmv1.MonitorConnected))
		Eventually(condition(vm, vmv1.ConditionMonitorConnected)).Should(HaveField("Status", metav1.ConditionTrue))
		qemu := domainID(uri, domain)
		Expect(virsh(uri, "resume", domain)).To(Succeed())

		Eventually(condition(vm, vmv1.ConditionGuestPanicked)).Should(HaveField("Status", metav1.ConditionTrue))
		Eventually(remediationExecution(vm)).Should(And(Not(BeNil()), HaveField("RequestID", int64(1)),
			HaveField("Phase", vmv1.ExecutionSucceeded), HaveField("Source", vmv1.SourceLibvirt),
			HaveField("Message", "Reset done through libvirt")))
		Eventually(condition(vm, vmv1.ConditionGuestPanicked)).Should(And(HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", vmv1.ReasonRecovered)))
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateRunning),
			HaveField("Remediation.Request", BeNil()), HaveField("Remediation.TotalAttempts", int64(1)),
			HaveField("Remediation.Attempts", ConsistOf(And(HaveField("ID", int64(1)), HaveField("Action", vmv1.RemediationReset),
				HaveField("Condition", vmv1.ConditionGuestPanicked), HaveField("Result", vmv1.RemediationSucceeded))))))
		Eventually(eventReasons(vm)).Should(ContainElements("GuestPanicked", "GuestPanickedTrue", vmv1.ReasonRemediationRequested,
			vmv1.ReasonRemediationSucceeded, "Reset", "GuestPanickedFalse"))
		// A reset, not a new QEMU; the guest panics only on its first boot,
		// so it runs again.
		Expect(domainID(uri, domain)).To(Equal(qemu))
		out, err := privatelibvirt.Virsh(uri, "domstate", domain)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.TrimSpace(out)).To(Equal("running"))
		Eventually(agentRemediations(vmv1.SourceLibvirt, vmv1.RemediationReset, vmv1.ExecutionSucceeded)).Should(Equal(succeeded + 1))
	})

	It("restarts an LXD container on request, through the instance's LXD", func() {
		const remedyNode = "node-remediation-lxd"
		lxd, err := privatelxd.New()
		Expect(err).NotTo(HaveOccurred())
		Expect(lxd.Start(GinkgoWriter)).To(Succeed())
		DeferCleanup(lxd.Stop)
		Expect(lxd.Prepare(testenv.RepoRoot())).To(Succeed())
		_, err = lxd.Run("lxc", "launch", privatelxd.Image, "r1")
		Expect(err).NotTo(HaveOccurred())
		// initPID is the PID of the container's init as LXD tells it.
		initPID := func() int {
			out, err := lxd.Run("lxc", "query", "/1.0/instances/r1/state")
			Expect(err).NotTo(HaveOccurred())
			var st struct {
				PID int `json:"pid"`
			}
			Expect(json.Unmarshal([]byte(out), &st)).To(Succeed())
			return st.PID
		}

		vm := testenv.VirtualMachine("default", "lxd-r1", vmv1.VirtualMachineSpec{NodeName: remedyNode, LXD: &vmv1.LXDSource{Instance: "r1"}})
		Expect(env.Client.Create(context.Background(), vm)).To(Succeed())
		socket := lxd.Socket()
		DeferCleanup(runAgent(qmpagent.Config{NodeName: remedyNode}, func(p source.Publisher) (source.Source, error) {
			return lxdsource.New(p, lxdsource.Config{
				Socket: socket, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, RefreshInterval: 200 * time.Millisecond,
				StateFile: filepath.Join(lxd.Dir, "agent", "lxd-renames.json"),
				// Not about tenancy: the instance is in the default project.
				Tenancy: source.Tenancy{Shared: true},
			}), nil
		}))
		Eventually(getVM(vm)).Should(And(HaveField("Monitor.State", vmv1.MonitorConnected), HaveField("RunState", vmv1.RunStateRunning)))
		pid := initPID()
		Expect(pid).To(BeNumerically(">", 0))
		succeeded := agentRemediations(vmv1.SourceLXD, vmv1.RemediationReset, vmv1.ExecutionSucceeded)()

		// LXD reports no guest fault that a condition could go True for:
		// the spec plays the controller.
		askRemediation(vm, 1, vmv1.RemediationReset, time.Now())
		Eventually(remediationExecution(vm)).Should(And(Not(BeNil()), HaveField("RequestID", int64(1)),
			HaveField("Phase", vmv1.ExecutionSucceeded), HaveField("Source", vmv1.SourceLXD), HaveField("FinishedAt", Not(BeNil())),
			HaveField("Message", "Reset done through lxd")))
		Eventually(getVM(vm)).Should(And(HaveField("EventCounts", HaveKeyWithValue("instance-restarted", int64(1))),
			HaveField("RunState", vmv1.RunStateRunning)))
		Eventually(eventReasons(vm)).Should(ContainElement("InstanceRestarted"))
		Expect(initPID()).NotTo(Equal(pid))
		Eventually(agentRemediations(vmv1.SourceLXD, vmv1.RemediationReset, vmv1.ExecutionSucceeded)).Should(Equal(succeeded + 1))
	})
})

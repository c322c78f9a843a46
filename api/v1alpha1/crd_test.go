package v1alpha1_test

import (
	"os/exec"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

const ns = "default"

func qmpSpec(path string) vmv1.VirtualMachineSpec {
	return vmv1.VirtualMachineSpec{NodeName: "node-1", QMP: &vmv1.QMPSource{SocketPath: path}}
}

var _ = Describe("VirtualMachine validation", func() {
	DescribeTable("accepts valid specs",
		func(name string, spec vmv1.VirtualMachineSpec) {
			vm := testenv.VirtualMachine(ns, name, spec)
			Expect(env.Client.Create(ctx, vm)).To(Succeed())
			DeferCleanup(env.Client.Delete, ctx, vm)
		},
		Entry("a QMP socket", "qmp", qmpSpec("/var/run/vmevents/qmp.sock")),
		Entry("a socket path of exactly 107 bytes", "long-qmp", qmpSpec("/"+strings.Repeat("a", 106))),
		Entry("a libvirt domain with a uuid", "libvirt", vmv1.VirtualMachineSpec{
			NodeName: "node-1.example.com", UUID: "5F0C3A3E-8d1b-4c55-9a4e-2b7f6c1d9e20",
			Libvirt: &vmv1.LibvirtSource{Domain: "db 1"},
		}),
		Entry("an LXD instance", "lxd", vmv1.VirtualMachineSpec{NodeName: "n", LXD: &vmv1.LXDSource{Instance: "c1"}}),
	)

	It("refuses a spec without nodeName, as kubectl would send it", func() {
		vm := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": vmv1.GroupVersion.String(), "kind": "VirtualMachine",
			"metadata": map[string]any{"name": "no-node", "namespace": ns},
			"spec":     map[string]any{"qmp": map[string]any{"socketPath": "/run/a.sock"}},
		}}
		Expect(env.Client.Create(ctx, vm)).To(MatchError(ContainSubstring("spec.nodeName: Required value")))
	})

	It("defaults the LXD project to \"default\"", func() {
		vm := testenv.VirtualMachine(ns, "lxd-default", vmv1.VirtualMachineSpec{NodeName: "n", LXD: &vmv1.LXDSource{Instance: "c1"}})
		Expect(env.Client.Create(ctx, vm)).To(Succeed())
		DeferCleanup(env.Client.Delete, ctx, vm)
		Expect(vm.Spec.LXD.Project).To(Equal("default"))
	})

	DescribeTable("refuses invalid specs with a message a person understands",
		func(spec vmv1.VirtualMachineSpec, messages ...string) {
			err := env.Client.Create(ctx, testenv.VirtualMachine(ns, "invalid", spec))
			Expect(err).To(HaveOccurred())
			for _, m := range messages {
				Expect(err.Error()).To(ContainSubstring(m))
			}
		},
		Entry("an empty node name", vmv1.VirtualMachineSpec{QMP: &vmv1.QMPSource{SocketPath: "/run/a.sock"}},
			"spec.nodeName", "nodeName must be a node name"),
		Entry("a node name that is not one", vmv1.VirtualMachineSpec{NodeName: "Node_1", QMP: &vmv1.QMPSource{SocketPath: "/run/a.sock"}},
			"nodeName must be a node name"),
		Entry("a relative socket path", qmpSpec("run/vm.sock"),
			"spec.qmp.socketPath", "socketPath must be an absolute path (starting with /)"),
		Entry("a socket path of 108 bytes", qmpSpec("/"+strings.Repeat("a", 107)),
			"socketPath is too long: a unix socket path can be at most 107 bytes"),
		Entry("a socket path of 60 characters but 120 bytes", qmpSpec("/"+strings.Repeat("é", 60)),
			"socketPath is too long: a unix socket path can be at most 107 bytes"),
		Entry("an empty socket path", qmpSpec(""), "spec.qmp.socketPath"),
		Entry("a malformed uuid", vmv1.VirtualMachineSpec{NodeName: "n", UUID: "5f0c3a3e-8d1b-4c55-9a4e", QMP: &vmv1.QMPSource{SocketPath: "/a"}},
			"uuid must be 32 hex digits in the form 8-4-4-4-12"),
		Entry("no source at all", vmv1.VirtualMachineSpec{NodeName: "n", UUID: "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20"},
			"at least one event source must be set: spec.qmp.socketPath, spec.libvirt.domain or spec.lxd.instance"),
		Entry("libvirt without a domain", vmv1.VirtualMachineSpec{NodeName: "n", Libvirt: &vmv1.LibvirtSource{}},
			"spec.libvirt.domain"),
		Entry("lxd without an instance", vmv1.VirtualMachineSpec{NodeName: "n", LXD: &vmv1.LXDSource{}},
			"spec.lxd.instance"),
	)
})

var _ = Describe("the status subresource", func() {
	var vm *vmv1.VirtualMachine

	BeforeEach(func() {
		vm = testenv.VirtualMachine(ns, "subresource", qmpSpec("/var/run/vmevents/s.sock"))
		Expect(env.Client.Create(ctx, vm)).To(Succeed())
		DeferCleanup(env.Client.Delete, ctx, vm)
	})

	It("ignores status in writes to the main resource", func() {
		vm.Spec.UUID = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20"
		vm.Status.RunState = vmv1.RunStateCrashed
		Expect(env.Client.Update(ctx, vm)).To(Succeed())

		var got vmv1.VirtualMachine
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vm), &got)).To(Succeed())
		Expect(got.Spec.UUID).To(Equal("5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20"))
		Expect(got.Status.RunState).To(BeEmpty())
	})

	It("ignores spec in writes to status", func() {
		vm.Spec.NodeName = "another-node"
		vm.Status.RunState = vmv1.RunStatePaused
		Expect(env.Client.Status().Update(ctx, vm)).To(Succeed())

		var got vmv1.VirtualMachine
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vm), &got)).To(Succeed())
		Expect(got.Spec.NodeName).To(Equal("node-1"))
		Expect(got.Status.RunState).To(Equal(vmv1.RunStatePaused))
	})

	It("refuses a run state that is not one", func() {
		vm.Status.RunState = "Exploded"
		err := env.Client.Status().Update(ctx, vm)
		Expect(err).To(MatchError(ContainSubstring(`status.runState: Unsupported value: "Exploded"`)))
	})
})

var _ = Describe("kubectl get vm", func() {
	It("prints the printer columns", func() {
		vm := testenv.VirtualMachine(ns, "web-1", qmpSpec("/var/run/vmevents/web-1.qmp"))
		Expect(env.Client.Create(ctx, vm)).To(Succeed())
		DeferCleanup(env.Client.Delete, ctx, vm)
		vm.Status = vmv1.VirtualMachineStatus{
			RunState:       vmv1.RunStatePaused,
			RunStateReason: "guest-panicked",
			Monitor:        &vmv1.MonitorStatus{State: vmv1.MonitorConnected, Connected: true, QEMUVersion: "7.2.15"},
			EventCounts:    map[string]int64{"GUEST_PANICKED": 2, "WATCHDOG": 1},
			Conditions: []metav1.Condition{{
				Type: vmv1.ConditionReady, Status: metav1.ConditionFalse, Reason: "GuestPanicked",
				LastTransitionTime: metav1.Now(),
			}},
			BalloonActualBytes: ptr.To[int64](64 << 20),
		}
		Expect(env.Client.Status().Update(ctx, vm)).To(Succeed())

		kubeconfig, err := env.Kubeconfig(GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		kubectl := func(args ...string) string {
			out, err := exec.Command(env.Kubectl, append([]string{"--kubeconfig", kubeconfig, "-n", ns}, args...)...).CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), string(out))
			return string(out)
		}

		lines := strings.Split(strings.TrimSpace(kubectl("get", "vm", "web-1")), "\n")
		Expect(lines).To(HaveLen(2))
		Expect(strings.Fields(lines[0])).To(Equal([]string{"NAME", "NODE", "STATE", "READY", "MONITOR", "PANICS", "AGE"}))
		Expect(strings.Fields(lines[1])[:6]).To(Equal([]string{"web-1", "node-1", "Paused", "False", "Connected", "2"}))

		wide := strings.Split(kubectl("get", "virtualmachines", "-o", "wide"), "\n")
		Expect(strings.Fields(wide[0])).To(ContainElements("REASON", "WATCHDOGS", "IO-ERRORS", "QEMU", "LAST-EVENT"))
		Expect(wide[1]).To(ContainSubstring("guest-panicked"))
		Expect(wide[1]).To(ContainSubstring("7.2.15"))
	})
})

var _ = Describe("selecting VMs by node", func() {
	It("serves spec.nodeName as a field selector, so each agent lists only its node's VMs", func() {
		for _, n := range []string{"node-a", "node-b"} {
			vm := testenv.VirtualMachine(ns, "on-"+n, vmv1.VirtualMachineSpec{NodeName: n, Libvirt: &vmv1.LibvirtSource{Domain: n}})
			Expect(env.Client.Create(ctx, vm)).To(Succeed())
			DeferCleanup(env.Client.Delete, ctx, vm)
		}
		var list vmv1.VirtualMachineList
		Expect(env.Client.List(ctx, &list, client.MatchingFields{"spec.nodeName": "node-b"})).To(Succeed())
		Expect(list.Items).To(HaveLen(1))
		Expect(list.Items[0].Name).To(Equal("on-node-b"))
	})
})

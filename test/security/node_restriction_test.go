package security

import (
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/heartbeat"
	"github.com/vmevents/vmevents/test/framework/localcluster"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// The agent is root on every node; one node's token must not speak for
// another node (config/policy/agent_node_restriction.yaml). Each rule is
// tried both ways with the agent's real credentials: node-a's agent is
// refused for node-b and allowed for node-a.
var _ = Describe("An agent's token", Ordered, func() {
	var (
		agentA       client.Client
		vmA, vmB     *vmv1.VirtualMachine
		leaseB       *coordinationv1.Lease
		leaderLease  *coordinationv1.Lease
		refusedForB  = "may write only the VirtualMachines of its node"
		refusedEvent = "may publish only Events it reports as that node"
		refusedLease = "may keep only its own heartbeat Lease"
	)

	BeforeAll(func() {
		agentA = agentOn("node-a")
		_ = agentOn("node-b") // node-b exists, with an agent of its own
		vmA = testenv.VirtualMachine("default", "vm-a", vmv1.VirtualMachineSpec{NodeName: "node-a", QMP: &vmv1.QMPSource{SocketPath: "/var/run/vmevents/a.qmp"}})
		vmB = testenv.VirtualMachine("default", "vm-b", vmv1.VirtualMachineSpec{NodeName: "node-b", QMP: &vmv1.QMPSource{SocketPath: "/var/run/vmevents/b.qmp"}})
		Expect(admin.Create(ctx, vmA)).To(Succeed())
		Expect(admin.Create(ctx, vmB)).To(Succeed())
		now := metav1.NewMicroTime(time.Now())
		leaseB = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: "vmevents-system", Name: heartbeat.LeaseName("node-b"), Labels: heartbeat.Labels("node-b")},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-b"), RenewTime: &now, LeaseDurationSeconds: ptr.To(int32(40))},
		}
		leaderLease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: "vmevents-controller", Name: "vmevents-controller"},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("controller-0"), RenewTime: &now, LeaseDurationSeconds: ptr.To(int32(15))},
		}
		Expect(admin.Create(ctx, leaseB)).To(Succeed())
		Expect(admin.Create(ctx, leaderLease)).To(Succeed())
		// Discovery's right to create VirtualMachines, bound as a user who
		// turns discovery on binds it.
		out, err := exec.Command(sys.Cluster.Kubectl(), "--kubeconfig", sys.Kubeconfig(), "apply", "-f",
			filepath.Join(testenv.RepoRoot(), "config", "components", "discovery", "agent_discovery_binding.yaml")).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
	})

	// refused says the write was refused by the policy, with its message.
	refused := func(err error, message string) {
		GinkgoHelper()
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got %v", err)
		Expect(err.Error()).To(ContainSubstring(message))
	}

	It("writes the status of its node's VMs, not another node's", func() {
		Expect(statusPatchWith(agentA, vmA)).To(Succeed())
		refused(statusPatchWith(agentA, vmB), refusedForB)
	})

	event := func(name, reportingInstance string, regarding corev1.ObjectReference) *eventsv1.Event {
		return &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Namespace: "default", Name: name},
			EventTime:           metav1.NewMicroTime(time.Now()),
			ReportingController: "vmevents.dev/agent", ReportingInstance: reportingInstance,
			Action: "GUEST_PANICKED", Reason: "GuestPanicked", Type: corev1.EventTypeWarning,
			Regarding: regarding, Note: "a test",
		}
	}
	vmRef := func(vm *vmv1.VirtualMachine) corev1.ObjectReference {
		return corev1.ObjectReference{APIVersion: vmv1.GroupVersion.String(), Kind: "VirtualMachine", Namespace: vm.Namespace, Name: vm.Name, UID: vm.UID}
	}
	nodeRef := func(name string) corev1.ObjectReference {
		return corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: name, Namespace: "default"}
	}
	It("publishes Events as its own node only", func() {
		Expect(agentA.Create(ctx, event("as-a", "node-a", vmRef(vmA)))).To(Succeed())
		Expect(agentA.Create(ctx, event("about-node-a", "node-a", nodeRef("node-a")))).To(Succeed())
		refused(agentA.Create(ctx, event("as-b", "node-b", vmRef(vmB))), refusedEvent)
		refused(agentA.Create(ctx, event("about-node-b", "node-a", nodeRef("node-b"))), refusedEvent)

		// The same through core/v1, which the agent writes its Events with.
		legacy := func(name, reportingInstance string, about corev1.ObjectReference) *corev1.Event {
			return &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Namespace: "default", Name: name},
				InvolvedObject: about, Reason: "GuestPanicked", Message: "a test", Type: corev1.EventTypeWarning,
				EventTime:           metav1.NewMicroTime(time.Now()),
				ReportingController: "vmevents.dev/agent", ReportingInstance: reportingInstance, Action: "GUEST_PANICKED",
			}
		}
		Expect(agentA.Create(ctx, legacy("core-as-a", "node-a", vmRef(vmA)))).To(Succeed())
		refused(agentA.Create(ctx, legacy("core-as-b", "node-b", vmRef(vmB))), refusedEvent)
		refused(agentA.Create(ctx, legacy("core-about-node-b", "node-a", nodeRef("node-b"))), refusedEvent)
	})

	// takeOver updates a Lease (read by the admin) as node-a's agent, making
	// node-a its holder.
	takeOver := func(lease *coordinationv1.Lease) error {
		GinkgoHelper()
		var l coordinationv1.Lease
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(lease), &l)).To(Succeed())
		l.Spec.HolderIdentity = ptr.To("node-a")
		return agentA.Update(ctx, &l)
	}
	// ownLease is node-a's heartbeat Lease in namespace ns.
	ownLease := func(ns string) *coordinationv1.Lease {
		now := metav1.NewMicroTime(time.Now())
		return &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: heartbeat.LeaseName("node-a"), Labels: heartbeat.Labels("node-a")},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node-a"), RenewTime: &now, LeaseDurationSeconds: ptr.To(int32(40))},
		}
	}

	It("keeps its own heartbeat Lease, neither another node's nor the controller's", func() {
		own := ownLease("vmevents-system")
		Expect(agentA.Create(ctx, own)).To(Succeed())
		own.Spec.RenewTime = ptr.To(metav1.NewMicroTime(time.Now()))
		Expect(agentA.Update(ctx, own)).To(Succeed())

		refused(takeOver(leaseB), refusedLease)
		forged := leaseB.DeepCopy()
		forged.ResourceVersion, forged.Name = "", heartbeat.LeaseName("node-c")
		refused(agentA.Create(ctx, forged), refusedLease)
		// The controller's leader Lease is in the controller's namespace,
		// where the agent has no Role at all.
		err := takeOver(leaderLease)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got %v", err)
	})

	// RBAC keeps the agent out of the controller's namespace; the policy
	// holds even where an overlay (or a careless ClusterRole) grants the
	// agent Leases there.
	It("keeps the controller's Lease and its namespace even where RBAC lets it in", func() {
		for _, args := range [][]string{
			{"create", "role", "too-broad", "-n", "vmevents-controller", "--verb=get,create,update", "--resource=leases.coordination.k8s.io"},
			{"create", "rolebinding", "too-broad", "-n", "vmevents-controller", "--role=too-broad", "--serviceaccount=vmevents-system:vmevents-agent"},
		} {
			out, err := sys.Kubectl(args...)
			Expect(err).NotTo(HaveOccurred(), out)
		}
		DeferCleanup(func() {
			out, err := sys.Kubectl("delete", "rolebinding,role", "too-broad", "-n", "vmevents-controller")
			Expect(err).NotTo(HaveOccurred(), out)
		})
		// RBAC caches: the grant is in force once the agent can read the Lease.
		Eventually(func() error {
			return agentA.Get(ctx, client.ObjectKeyFromObject(leaderLease), &coordinationv1.Lease{})
		}).Should(Succeed())

		refused(takeOver(leaderLease), refusedLease)
		// Its own heartbeat's name and holder, in a namespace not its own.
		refused(agentA.Create(ctx, ownLease("vmevents-controller")), refusedLease)
	})

	It("creates discovered VMs for its node only", func() {
		Expect(agentA.Create(ctx, testenv.VirtualMachine("default", "found-a", vmv1.VirtualMachineSpec{NodeName: "node-a", QMP: &vmv1.QMPSource{SocketPath: "/var/run/vmevents/found.qmp"}}))).To(Succeed())
		refused(agentA.Create(ctx, testenv.VirtualMachine("default", "found-b", vmv1.VirtualMachineSpec{NodeName: "node-b", QMP: &vmv1.QMPSource{SocketPath: "/var/run/vmevents/found.qmp"}})), refusedForB)
	})

	It("may write nothing when it names no node", func() {
		// The agent's service account with a token not bound to a pod on a
		// node (a static token here, as a legacy Secret token would be).
		unbound := clientFor(sys.Cluster.Kubeconfig(localcluster.Agent))
		refused(statusPatchWith(unbound, vmA), "names no node")
	})
})

// statusPatchWith patches a VM's run state with c.
func statusPatchWith(c client.Client, vm *vmv1.VirtualMachine) error {
	patched := vm.DeepCopy()
	patched.Status.RunState = vmv1.RunStatePaused
	return c.Status().Patch(ctx, patched, client.MergeFrom(vm))
}

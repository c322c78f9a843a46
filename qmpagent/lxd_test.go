package qmpagent_test

import (
	"context"
	"net"
	"path/filepath"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/lxdsource"
	"github.com/vmevents/vmevents/test/framework/privatelxd"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// lxdOtherMemberEvents is the agent's count of LXD events skipped as
// another cluster member's.
func lxdOtherMemberEvents() float64 {
	families, err := crmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() == "vmevents_agent_lxd_other_member_events_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// The LXD specs run a private LXD daemon (its own LXD_DIR under a temp dir,
// never the system's) with an offline busybox image, and an agent for a
// node of their own following it.
var _ = Describe("LXD event source", Ordered, func() {
	const lxdNode = "node-lxd"
	var (
		lxd *privatelxd.Daemon
		vm  *vmv1.VirtualMachine
		vmP *vmv1.VirtualMachine
		// stopLXDAgent stops the running agent; specs restart it.
		stopLXDAgent func()
	)

	run := func(name string, args ...string) string {
		GinkgoHelper()
		out, err := lxd.Run(name, args...)
		Expect(err).NotTo(HaveOccurred())
		return out
	}
	lxc := func(args ...string) string { GinkgoHelper(); return run("lxc", args...) }
	startLXD := func() { GinkgoHelper(); Expect(lxd.Start(GinkgoWriter)).To(Succeed()) }
	// startLXDAgent starts an agent for lxdNode following the LXD, with
	// discovery into discoverNS when set. Its renames are kept in the
	// same state file from one agent to the next.
	startLXDAgent := func(discoverNS string) {
		socket := lxd.Socket()
		stopLXDAgent = runAgent(qmpagent.Config{NodeName: lxdNode}, func(p source.Publisher) (source.Source, error) {
			return lxdsource.New(p, lxdsource.Config{
				Socket: socket, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
				RefreshInterval: 200 * time.Millisecond, StateFile: filepath.Join(lxd.Dir, "agent", "lxd-renames.json"),
				DiscoverNamespace: discoverNS, Log: ctrl.Log.WithName("lxd"),
				// Not about tenancy (lxdsource's TestTenancyRefusals is): the
				// specs name projects from the default namespace.
				Tenancy: source.Tenancy{Shared: true},
			}), nil
		})
	}

	BeforeAll(func() {
		var err error
		lxd, err = privatelxd.New()
		Expect(err).NotTo(HaveOccurred())
		startLXD()
		DeferCleanup(lxd.Stop)
		Expect(lxd.Prepare(testenv.RepoRoot())).To(Succeed())
		// A project sharing the default project's images and profiles.
		lxc("project", "create", "p2", "-c", "features.images=false", "-c", "features.profiles=false")

		vm = testenv.VirtualMachine("default", "lxd-c1", vmv1.VirtualMachineSpec{NodeName: lxdNode, LXD: &vmv1.LXDSource{Instance: "c1"}})
		vmP = testenv.VirtualMachine("default", "lxd-p2", vmv1.VirtualMachineSpec{NodeName: lxdNode, LXD: &vmv1.LXDSource{Instance: "c1", Project: "p2"}})
		Expect(env.Client.Create(ctx, vm)).To(Succeed())
		Expect(env.Client.Create(ctx, vmP)).To(Succeed())

		startLXDAgent("")
		DeferCleanup(func() { stopLXDAgent() })
		Eventually(getVM(vm)).Should(HaveField("Monitor", And(
			HaveField("State", vmv1.MonitorConnected), HaveField("Source", "lxd"),
			HaveField("Endpoint", lxd.Socket()))))
	})

	// reasons lists the reasons of the Events regarding the VM.
	reasons := func(v *vmv1.VirtualMachine) func() []string {
		return func() []string {
			var out []string
			for _, e := range eventsOf(v)() {
				out = append(out, e.Reason)
			}
			return out
		}
	}
	event := func(v *vmv1.VirtualMachine, reason string) func() *eventsv1.Event {
		return func() *eventsv1.Event {
			for _, e := range eventsOf(v)() {
				if e.Reason == reason {
					return &e
				}
			}
			return nil
		}
	}
	counts := func(v *vmv1.VirtualMachine, action string) func() int64 {
		return func() int64 { return getVM(v)().EventCounts[action] }
	}

	It("tells a container's life on its VirtualMachine", func() {
		lxc("launch", privatelxd.Image, "c1")
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateRunning), HaveField("RunStateReason", "Running")))
		Eventually(reasons(vm)).Should(ContainElements("InstanceCreated", "InstanceStarted"))
		Expect(*event(vm, "InstanceStarted")()).To(And(
			HaveField("Action", "instance-started"), HaveField("Type", "Normal"),
			HaveField("Note", ContainSubstring("instance c1 (project default), requested by root via unix"))))

		// An operator's pause and resume: Paused (LXD's Frozen), then
		// Running, each a Normal Event; nothing a Warning. The controller
		// runs too: the conditions users wait on follow, as Normal Events.
		DeferCleanup(startControllerFor(lxdNode))
		Eventually(condition(vm, vmv1.ConditionReady)).Should(HaveField("Status", metav1.ConditionTrue))
		lxc("pause", "c1")
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStatePaused), HaveField("RunStateReason", "Frozen")))
		Eventually(event(vm, "InstancePaused")).Should(And(HaveField("Action", "instance-paused"), HaveField("Type", "Normal"),
			HaveField("Note", "LXD instance-paused: instance c1 (project default), requested by root via unix from @")))
		Eventually(condition(vm, vmv1.ConditionPaused)).Should(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", vmv1.ReasonPausedByUser)))
		Eventually(condition(vm, vmv1.ConditionReady)).Should(HaveField("Status", metav1.ConditionFalse))
		Eventually(event(vm, "PausedTrue")).Should(HaveField("Type", "Normal"))
		Eventually(event(vm, "ReadyFalse")).Should(HaveField("Type", "Normal"))
		lxc("start", "c1") // LXD 5.0's client resumes a frozen instance with start
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateRunning), HaveField("RunStateReason", "Running")))
		Eventually(event(vm, "InstanceResumed")).Should(And(HaveField("Action", "instance-resumed"), HaveField("Type", "Normal"),
			HaveField("Note", "LXD instance-resumed: instance c1 (project default), requested by root via unix from @")))
		Eventually(condition(vm, vmv1.ConditionPaused)).Should(And(HaveField("Status", metav1.ConditionFalse), HaveField("Reason", vmv1.ReasonResumed)))
		Eventually(condition(vm, vmv1.ConditionReady)).Should(HaveField("Status", metav1.ConditionTrue))
		Expect(eventsOf(vm)()).To(HaveEach(HaveField("Type", "Normal")))
		Expect(getVM(vm)().EventCounts).To(And(HaveKeyWithValue("instance-paused", BeEquivalentTo(1)), HaveKeyWithValue("instance-resumed", BeEquivalentTo(1))))

		lxc("restart", "c1")
		Eventually(counts(vm, "instance-restarted")).Should(BeEquivalentTo(1))
		lxc("exec", "c1", "--", "true")
		Eventually(event(vm, "InstanceExec")).Should(HaveField("Note", ContainSubstring(`command=["true"]`)))
		lxc("snapshot", "c1", "s0")
		Eventually(event(vm, "InstanceSnapshotCreated")).Should(HaveField("Note", ContainSubstring("snapshots/s0")))

		// A failed operation is a Warning with LXD's words.
		_, err := lxd.Run("lxc", "start", "c1")
		Expect(err).To(HaveOccurred())
		Eventually(event(vm, "OperationFailed")).Should(And(HaveField("Type", "Warning"),
			HaveField("Note", ContainSubstring("The instance is already running"))))

		// The instance of the same name in another project is another VM's.
		lxc("launch", privatelxd.Image, "c1", "--project", "p2")
		Eventually(getVM(vmP)).Should(HaveField("RunState", vmv1.RunStateRunning))
		Eventually(reasons(vmP)).Should(ContainElement("InstanceStarted"))
		Expect(getVM(vm)().EventCounts["instance-created"]).To(BeEquivalentTo(1))
	})

	It("reconnects when LXD restarts and loses nothing after", func() {
		before := getVM(vm)().Monitor.Reconnects
		Expect(lxd.Signal(syscall.SIGTERM)).To(Succeed()) // instances keep running
		Eventually(lxd.Exited()).Should(BeClosed())
		Eventually(getVM(vm)).Should(HaveField("Monitor", And(
			HaveField("State", vmv1.MonitorDisconnected), HaveField("LastError", Not(BeEmpty())))))
		startLXD()
		Eventually(getVM(vm)).Should(HaveField("Monitor", And(
			HaveField("State", vmv1.MonitorConnected), HaveField("Reconnects", BeNumerically(">", before)))))

		execs := getVM(vm)().EventCounts["instance-exec"]
		for range 3 {
			lxc("exec", "c1", "--", "true")
		}
		Eventually(counts(vm, "instance-exec")).Should(Equal(execs + 3))
	})

	It("follows a renamed instance, across an agent restart, and tells its end", func() {
		lxc("stop", "c1")
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateShutdown), HaveField("RunStateReason", "Stopped")))
		lxc("rename", "c1", "c1b")
		Eventually(event(vm, "InstanceRenamed")).Should(And(HaveField("Type", "Normal"), HaveField("Note",
			"LXD instance-renamed: instance c1 → c1b (project default); this VirtualMachine names the instance c1 (spec.lxd.instance) and follows it under its new name")))
		Eventually(getVM(vm)).Should(HaveField("Monitor.VMName", "c1b"))

		// A new agent knows the rename from its state file.
		stopLXDAgent()
		startLXDAgent("")
		lxc("start", "c1b")
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateRunning), HaveField("Monitor.VMName", "c1b")))
		Eventually(counts(vm, "instance-started")).Should(BeEquivalentTo(2))
		lxc("stop", "c1b", "--force")
		Eventually(counts(vm, "instance-stopped")).Should(BeEquivalentTo(1))
		lxc("delete", "c1b")
		Eventually(getVM(vm)).Should(And(HaveField("RunState", vmv1.RunStateShutdown), HaveField("RunStateReason", "Deleted")))
		Eventually(event(vm, "InstanceDeleted")).Should(HaveField("Note", ContainSubstring("follows it under its new name")))
	})

	It("tells what concerns no instance on the Node", func() {
		lxc("project", "create", "p3")
		lxc("profile", "create", "prof1")
		lxc("storage", "create", "pool2", "dir")
		nodeReasons := func() []string {
			var list eventsv1.EventList
			Expect(env.Client.List(context.Background(), &list)).To(Succeed())
			var out []string
			for _, e := range list.Items {
				if e.Regarding.Kind == "Node" && e.Regarding.Name == lxdNode {
					out = append(out, e.Reason)
				}
			}
			return out
		}
		Eventually(nodeReasons).Should(ContainElements("ProjectCreated", "ProfileCreated", "StoragePoolCreated"))
	})

	It("discovers an instance no VirtualMachine names", func() {
		Expect(env.Client.Create(ctx, namespace("lxd-found"))).To(Succeed())
		stopLXDAgent()
		startLXDAgent("lxd-found")
		lxc("launch", privatelxd.Image, "d1")
		var found vmv1.VirtualMachine
		Eventually(func() []vmv1.VirtualMachine {
			var list vmv1.VirtualMachineList
			Expect(env.Client.List(ctx, &list, client.InNamespace("lxd-found"))).To(Succeed())
			return list.Items
		}).Should(ContainElement(HaveField("Spec.LXD.Instance", "d1"), &found))
		Expect(found.Spec.NodeName).To(Equal(lxdNode))
		Expect(found.Spec.LXD.Project).To(Equal("default"))
		Expect(found.Labels).To(HaveKeyWithValue(source.DiscoveredLabel, "true"))
		Expect(found.Name).To(HavePrefix("d1-"))
		// Only the unnamed instance: c1 of p2 has its VirtualMachine.
		var list vmv1.VirtualMachineList
		Expect(env.Client.List(ctx, &list, client.InNamespace("lxd-found"))).To(Succeed())
		Expect(list.Items).To(HaveLen(1))
		Eventually(getVM(&found)).Should(And(HaveField("RunState", vmv1.RunStateRunning), HaveField("RunStateReason", "Running"),
			HaveField("Monitor.State", vmv1.MonitorConnected)))
		lxc("exec", "d1", "--", "true")
		Eventually(event(&found, "InstanceExec")).Should(And(HaveField("Type", "Normal"), HaveField("Note", ContainSubstring("instance d1 (project default)"))))
	})

	It("takes its cluster member's events once LXD is clustered", func() {
		// `lxc cluster enable` on the suite's LXD: from then on every
		// event carries the member's name in its location.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		addr := l.Addr().String()
		Expect(l.Close()).To(Succeed())
		skipped := lxdOtherMemberEvents()
		lxc("config", "set", "core.https_address", addr)
		lxc("cluster", "enable", "m1")
		Eventually(func() []string {
			var list eventsv1.EventList
			Expect(env.Client.List(ctx, &list)).To(Succeed())
			var out []string
			for _, e := range list.Items {
				if e.Regarding.Kind == "Node" && e.Regarding.Name == lxdNode {
					out = append(out, e.Reason)
				}
			}
			return out
		}).Should(ContainElement("ClusterEnabled"))
		Expect(run("lxc", "query", "/1.0")).To(ContainSubstring(`"server_name": "m1"`))

		execs := getVM(vmP)().EventCounts["instance-exec"]
		lxc("exec", "c1", "--project", "p2", "--", "true")
		Eventually(counts(vmP, "instance-exec")).Should(Equal(execs + 1))
		lxc("pause", "c1", "--project", "p2")
		Eventually(getVM(vmP)).Should(And(HaveField("RunState", vmv1.RunStatePaused), HaveField("RunStateReason", "Frozen")))
		Expect(lxdOtherMemberEvents()).To(Equal(skipped))
	})
})

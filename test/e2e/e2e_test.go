package e2e

import (
	"context"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmevents/vmevents/qmpagent/journal"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/test/framework/localcluster"
	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/stack"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// eventsOf lists the Events about a VM with a reason, as
// "TYPE REASON COUNT MESSAGE" lines, through field selectors.
func eventsOf(vm, reason string) func() (string, error) {
	return kubectlFn("get", "events", "--field-selector", "involvedObject.kind=VirtualMachine,involvedObject.name="+vm+",reason="+reason,
		"-o", "custom-columns=TYPE:.type,REASON:.reason,SOURCE:.reportingComponent,NOTE:.message", "--no-headers")
}

var _ = Describe("vmevents as users see it", Ordered, func() {
	It("installs: kubectl apply --dry-run=server -k config/default accepts the namespaces, CRD, RBAC, Deployment and DaemonSet", func() {
		out := kubectl("apply", "--dry-run=server", "-k", testenv.RepoRoot()+"/config/default")
		for _, want := range []string{
			"namespace/vmevents-system", "namespace/vmevents-controller",
			"customresourcedefinition.apiextensions.k8s.io/virtualmachines.vmevents.dev",
			"clusterrole.rbac.authorization.k8s.io/vmevents-agent", "clusterrole.rbac.authorization.k8s.io/vmevents-controller",
			"deployment.apps/vmevents-controller", "daemonset.apps/vmevents-agent",
		} {
			Expect(out).To(ContainSubstring(want))
		}
	})

	It("connects to every VM", func() {
		for _, sc := range scenarios {
			kubectl("wait", "--for=condition=MonitorConnected", "vm/"+sc.Name, "--timeout=120s")
		}
		Expect(kubectl("get", "vm")).To(MatchRegexp(`web-1\s+e2e-node\s+Paused\s+False\s+Connected`))
	})

	It("tells every event real QEMU produces: panic, VNC session, pause/resume, watchdog, disk error", func() {
		for _, sc := range scenarios {
			Expect(stack.Play(context.Background(), sc, vms[sc.Name])).To(Succeed(), sc.Name)
		}
		for _, sc := range scenarios {
			kubectl("wait", "--for=condition="+sc.Condition, "vm/"+sc.Name, "--timeout=120s")
		}
		kubectl("wait", "--for=condition=Ready=False", "vm/web-1", "--timeout=60s")

		Eventually(eventsOf("web-1", "GuestPanicked")).Should(MatchRegexp(`Warning\s+GuestPanicked\s+vmevents.dev/agent\s+Guest panicked; QEMU action: pause`))
		Eventually(eventsOf("web-1", "VNCConnected")).Should(MatchRegexp(`Normal\s+VNCConnected\s+\S+\s+VNC client 127\.0\.0\.1:\d+ connected`))
		Eventually(eventsOf("web-1", "VNCDisconnected")).Should(ContainSubstring("disconnected"))
		Eventually(eventsOf("db-1", "Stop")).Should(ContainSubstring("VM paused"))
		Eventually(eventsOf("db-1", "Resume")).Should(ContainSubstring("VM resumed"))
		Eventually(eventsOf("db-1", "Watchdog")).Should(MatchRegexp(`Warning\s+Watchdog\s+\S+\s+Watchdog expired; QEMU action: pause`))
		Eventually(eventsOf("batch-1", "BlockIOError")).Should(MatchRegexp(`Warning\s+BlockIOError\s+\S+\s+Read error on disk0: Input/output error; VM stopped`))
		Eventually(eventsOf("web-1", "GuestPanickedTrue")).Should(MatchRegexp(`Warning\s+GuestPanickedTrue\s+vmevents.dev/controller`))

		Eventually(kubectlFn("describe", "vm", "web-1")).Should(And(
			ContainSubstring("Guest panicked; QEMU action: pause"),
			MatchRegexp(`Run State:\s+Paused`), MatchRegexp(`Run State Reason:\s+guest-panicked`),
		))
		Eventually(kubectlFn("get", "vm", "-o", "wide")).Should(And(
			MatchRegexp(`web-1\s+e2e-node\s+Paused\s+False\s+Connected\s+1\s`),
			MatchRegexp(`batch-1\s+e2e-node\s+Paused\s+False\s+Connected\s.*io-error`),
			MatchRegexp(`db-1\s+e2e-node\s+Paused\s+False\s+Connected\s.*watchdog`),
		))
	})

	It("refuses the agent's identity when it tries to change a spec or delete a VM", func() {
		out, err := sys.KubectlAs(localcluster.Agent, "", "patch", "vm", "web-1", "--type=merge", "-p", `{"spec":{"nodeName":"elsewhere"}}`)
		Expect(err).To(HaveOccurred())
		Expect(out).To(ContainSubstring(`cannot patch resource "virtualmachines"`))
		out, err = sys.KubectlAs(localcluster.Agent, "", "delete", "vm", "web-1")
		Expect(err).To(HaveOccurred())
		Expect(out).To(ContainSubstring(`cannot delete resource "virtualmachines"`))
		Expect(kubectl("get", "vm", "web-1", "-o", "jsonpath={.spec.nodeName}")).To(Equal("e2e-node"))
	})

	It("survives the agent being killed: state right after re-sync, no Event twice", func() {
		before := kubectl("get", "events", "--field-selector", "involvedObject.name=web-1", "-o", "custom-columns=NAME:.metadata.name,COUNT:.count", "--no-headers")
		resyncs := kubectl("get", "vm", "web-1", "-o", "jsonpath={.status.delivery.resyncs}")
		sys.KillAgent()
		Expect(sys.StartAgent()).To(Succeed())
		Eventually(kubectlFn("get", "vm", "web-1", "-o", "jsonpath={.status.delivery.resyncs}")).ShouldNot(Equal(resyncs))
		Expect(kubectl("get", "vm", "web-1", "-o", "jsonpath={.status.runStateReason} {.status.monitor.state} {.status.eventCounts.GUEST_PANICKED}")).
			To(Equal("guest-panicked Connected 1"))
		after := kubectl("get", "events", "--field-selector", "involvedObject.name=web-1", "-o", "custom-columns=NAME:.metadata.name,COUNT:.count", "--no-headers")
		Expect(after).To(Equal(before))
	})

	It("survives a controller restart: no transition Event twice, conditions unchanged", func() {
		conditions := "jsonpath={range .status.conditions[*]}{.type}={.status}@{.lastTransitionTime} {end}"
		before := kubectl("get", "vm", "web-1", "-o", conditions)
		events := kubectl("get", "events", "--field-selector", "involvedObject.name=web-1,reportingComponent=vmevents.dev/controller", "-o", "name")
		sys.StopController()
		Expect(sys.StartController()).To(Succeed())
		// The new controller has taken over when it holds the leader Lease.
		Eventually(kubectlFn("get", "lease", "-n", "vmevents-controller", "vmevents-controller", "-o", "jsonpath={.spec.leaseTransitions}")).ShouldNot(Or(BeEmpty(), Equal("0")))
		Consistently(kubectlFn("get", "vm", "web-1", "-o", conditions), "5s").Should(Equal(before))
		Expect(kubectl("get", "events", "--field-selector", "involvedObject.name=web-1,reportingComponent=vmevents.dev/controller", "-o", "name")).To(Equal(events))
	})

	It("follows QEMU crashing and starting again on the same socket", func() {
		sc := scenario("batch-1")
		vms["batch-1"].Kill()
		kubectl("wait", "--for=condition=MonitorConnected=False", "vm/batch-1", "--timeout=60s")
		Expect(kubectl("get", "vm", "batch-1", "-o", "jsonpath={.status.monitor.state}")).To(Equal("Disconnected"))

		opts := sc.QEMU
		opts.Args, opts.Boot = nil, qemuvm.Idle
		vm, err := qemuvm.Launch(context.Background(), opts)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(vm.Kill)
		kubectl("wait", "--for=condition=MonitorConnected", "vm/batch-1", "--timeout=60s")
		// Started with -S: the new QEMU waits paused, and says so.
		Eventually(kubectlFn("get", "vm", "batch-1", "-o", "jsonpath={.status.runStateReason}")).Should(Equal("prelaunch"))
		Expect(strings.TrimSpace(kubectl("get", "vm", "batch-1", "-o", "jsonpath={.status.monitor.reconnects}"))).NotTo(Or(BeEmpty(), Equal("0")))
	})

	It("loses no fault event: what happened while the apiserver was down is published when it is back", func() {
		kubectl("wait", "--for=condition=GuestPanicked", "vm/web-1", "--timeout=120s")
		panics := kubectl("get", "vm", "web-1", "-o", "jsonpath={.status.eventCounts.GUEST_PANICKED}")
		Expect(panics).To(Equal("1"))

		sys.Cluster.StopAPIServer()
		panicAgain("web-1")
		Expect(sys.Cluster.StartAPIServer(context.Background())).To(Succeed())

		Eventually(kubectlFn("get", "vm", "web-1", "-o", "jsonpath={.status.eventCounts.GUEST_PANICKED}")).Should(Equal("2"))
		Expect(kubectl("get", "vm", "web-1", "-o", "jsonpath={.status.eventCounts.RESET}")).NotTo(BeEmpty())
		Eventually(kubectlFn("get", "events", "--field-selector", "involvedObject.name=web-1,reason=Reset", "--no-headers")).Should(ContainSubstring("VM reset"))
		// Both panics are told: one Event whose series counts 2, or two Events.
		Eventually(occurrencesOf("web-1", "GuestPanicked")).Should(Equal(2))
	})

	It("loses no fault event when the agent is also killed during the outage: its journal keeps what was not written", func() {
		sys.Cluster.StopAPIServer()
		panicAgain("web-1")
		// The agent journals the facts and the Event as it reads them,
		// before any write: this panic's own entries are on disk while the
		// apiserver is away.
		Eventually(journaled("facts")).Should(ContainElement(ContainSubstring(`"GUEST_PANICKED":3`)))
		Eventually(journaled("events")).Should(ContainElement(And(ContainSubstring("GuestPanicked"), ContainSubstring(`"count":`))))

		sys.KillAgent()
		Expect(sys.StartAgent()).To(Succeed())
		Expect(sys.Cluster.StartAPIServer(context.Background())).To(Succeed())

		Eventually(kubectlFn("get", "vm", "web-1", "-o", "jsonpath={.status.eventCounts.GUEST_PANICKED}")).Should(Equal("3"))
		Eventually(occurrencesOf("web-1", "GuestPanicked")).Should(Equal(3))
		// Written, so trimmed from the journal.
		Eventually(journaled("events")).Should(BeEmpty())
	})
})

// panicAgain makes vm's guest panic again (stack.PanicAgain), through the
// test's own monitor: Kubernetes may be away meanwhile.
func panicAgain(vm string) {
	GinkgoHelper()
	mon, err := qmp.Dial(context.Background(), vms[vm].PrettyQMPPath, qmp.Options{})
	Expect(err).NotTo(HaveOccurred())
	defer mon.Close()
	Expect(stack.PanicAgain(context.Background(), mon)).To(Succeed())
}

// occurrencesOf counts the occurrences the Events with reason about vm
// stand for, series included.
func occurrencesOf(vm, reason string) func() (int, error) {
	return func() (int, error) {
		out, err := sys.Kubectl("get", "events.events.k8s.io", "--field-selector", "regarding.name="+vm+",reason="+reason,
			"-o", stack.OccurrencesJSONPath)
		return stack.Occurrences(out), err
	}
}

// journaled is what the agent's journal in the stack's spool folder
// (facts or events) holds now, each live value as text.
func journaled(kind string) func() []string {
	return func() []string {
		live, _ := journal.Read(filepath.Join(sys.SpoolDir(), kind))
		var out []string
		for _, v := range live {
			out = append(out, string(v))
		}
		return out
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/stack"
)

// Remediation (docs/remediation.md) with real QEMU guests that panic, whose
// watchdog expires or whose disk fails, the real binaries, and QEMU itself
// counting the resets it was asked for.
var _ = Describe("remediation: a VM whose spec asks for it is reset or resumed by the agent", func() {
	// The controller decides: another spec's apiserver outage may have
	// ended it, as its Deployment would not let it stay.
	BeforeEach(func() { Expect(sys.EnsureController()).To(Succeed()) })

	It("resets a panicked guest after its delay; GuestPanicked goes False (Recovered) and the Events tell the story in order", func() {
		g := bootGuest("heal-panic", qemuvm.PanicOnce, []string{"-device", "pvpanic", "-action", "panic=pause"},
			"guestPanicked: Reset\n    delaySeconds: 2\n    backoffSeconds: 1")
		g.cont()
		Eventually(conditionOf("heal-panic", vmv1.ConditionGuestPanicked)).Should(Equal("False/Recovered"))
		Eventually(attemptsOf("heal-panic")).Should(ConsistOf(HaveField("Result", vmv1.RemediationSucceeded)))
		Expect(g.resets.Load()).To(Equal(int64(1)), "QEMU saw one system_reset")

		vm := getVM("heal-panic")
		at := vm.Status.Remediation.Attempts[0]
		Expect(at.Action).To(Equal(vmv1.RemediationReset))
		Expect(at.Condition).To(Equal(vmv1.ConditionGuestPanicked))
		Expect(at.RequestedAt.Time).To(BeTemporally(">=", vm.Status.LastPanic.Time.Add(2*time.Second)), "not before the delay")
		Expect(vm.Status.Remediation.Execution).To(HaveField("Phase", vmv1.ExecutionSucceeded))

		Eventually(happenedInOrder("heal-panic", "GuestPanicked", "GuestPanickedTrue", "RemediationRequested", "Reset", "GuestPanickedFalse")).Should(Succeed())
		Eventually(happenedInOrder("heal-panic", "RemediationRequested", "RemediationSucceeded")).Should(Succeed())
	})

	It("gives up on a guest that keeps panicking after maxAttempts: RemediationExhausted is True and nothing more is tried", func() {
		g := bootGuest("loop-panic", qemuvm.Panic, []string{"-device", "pvpanic", "-action", "panic=pause"},
			"guestPanicked: Reset\n    delaySeconds: 1\n    backoffSeconds: 1\n    maxBackoffSeconds: 1\n    maxAttempts: 2")
		g.cont()
		Eventually(conditionOf("loop-panic", vmv1.ConditionRemediationExhausted)).Should(Equal("True/MaxAttemptsReached"))
		vm := getVM("loop-panic")
		Expect(vm.Status.Remediation.Attempts).To(HaveLen(2))
		Expect(vm.Status.Remediation.TotalAttempts).To(Equal(int64(2)))
		Expect(vm.Status.Remediation.Request).To(BeNil())
		Expect(g.resets.Load()).To(Equal(int64(2)), "QEMU saw two system_resets")
		Expect(conditionOf("loop-panic", vmv1.ConditionGuestPanicked)()).To(HavePrefix("True/"))
		Eventually(eventsOf("loop-panic", "RemediationExhaustedTrue")).ShouldNot(BeEmpty())
	})

	It("resets a guest whose watchdog paused it", func() {
		g := bootGuest("heal-wd", qemuvm.WatchdogOnce, []string{"-device", "ib700", "-watchdog-action", "pause"},
			"watchdogExpired: Reset\n    delaySeconds: 1")
		g.cont()
		Eventually(conditionOf("heal-wd", vmv1.ConditionWatchdogExpired)).Should(Equal("False/Recovered"))
		Eventually(attemptsOf("heal-wd")).Should(ConsistOf(HaveField("Result", vmv1.RemediationSucceeded)))
		Expect(g.resets.Load()).To(Equal(int64(1)))
		Eventually(happenedInOrder("heal-wd", "Watchdog", "WatchdogExpiredTrue", "RemediationRequested", "Reset", "WatchdogExpiredFalse")).Should(Succeed())
	})

	It("resumes a VM paused on a disk error once the disk works again", func() {
		dir := guestDir("heal-io")
		disk, err := qemuvm.ReadErrorOnceDisk(dir, "disk0")
		Expect(err).NotTo(HaveOccurred())
		g := bootGuest("heal-io", nil, disk, "ioError: Resume\n    delaySeconds: 1")
		g.cont()
		Eventually(attemptsOf("heal-io")).Should(ConsistOf(And(
			HaveField("Action", vmv1.RemediationResume), HaveField("Result", vmv1.RemediationSucceeded))))
		Eventually(conditionOf("heal-io", vmv1.ConditionPaused)).Should(Equal("False/Resumed"))
		Expect(kubectl("get", "vm", "heal-io", "-o", "jsonpath={.status.runState}")).To(Equal("Running"))
		Expect(g.resets.Load()).To(BeZero())
		Eventually(happenedInOrder("heal-io", "BlockIOError", "IOErrorTrue", "RemediationRequested", "RemediationSucceeded")).Should(Succeed())
	})

	It("in a dry run records what it would have done, once, and does nothing", func() {
		g := bootGuest("dry-panic", qemuvm.Panic, []string{"-device", "pvpanic", "-action", "panic=pause"},
			"guestPanicked: Reset\n    delaySeconds: 1\n    dryRun: true")
		g.cont()
		Eventually(attemptsOf("dry-panic")).Should(ConsistOf(HaveField("Result", vmv1.RemediationDryRunResult)))
		Eventually(eventsOf("dry-panic", vmv1.ReasonRemediationDryRun)).ShouldNot(BeEmpty())
		vm := getVM("dry-panic")
		Expect(vm.Status.Remediation.Request).To(BeNil())
		Expect(vm.Status.Remediation.Execution).To(BeNil())
		Expect(vm.Status.RunStateReason).To(Equal("guest-panicked"))
		Expect(g.resets.Load()).To(BeZero())
	})

	It("never executes a request twice across a controller restart, a leader failover and an agent restart between request and execution", func() {
		g := bootGuest("hold-panic", qemuvm.PanicOnce, []string{"-device", "pvpanic", "-action", "panic=pause"},
			"guestPanicked: Reset\n    delaySeconds: 1")
		g.cont()
		Eventually(conditionOf("hold-panic", vmv1.ConditionGuestPanicked)).Should(HavePrefix("True/"))
		// Hold the agent where it is: the controller's request waits.
		Expect(sys.SignalAgent(syscall.SIGSTOP)).To(Succeed())
		Eventually(func() int64 {
			vm := getVM("hold-panic")
			if vm.Status.Remediation == nil || vm.Status.Remediation.Request == nil {
				return 0
			}
			return vm.Status.Remediation.Request.ID
		}).Should(Equal(int64(1)))

		By("restarting the controller")
		holder := leaseHolder()
		sys.StopController()
		Expect(sys.StartController()).To(Succeed())
		Eventually(leaseHolder).ShouldNot(Or(BeEmpty(), Equal(holder)))

		By("failing the leader over to a standby replica")
		holder = leaseHolder()
		Expect(sys.StartController()).To(Succeed())
		sys.StopController()
		Eventually(leaseHolder).ShouldNot(Or(BeEmpty(), Equal(holder)))
		Expect(getVM("hold-panic").Status.Remediation.TotalAttempts).To(Equal(int64(1)), "the new leaders made no second request")

		By("replacing the held agent")
		sys.KillAgent()
		Expect(sys.StartAgent()).To(Succeed())
		Eventually(attemptsOf("hold-panic")).Should(ConsistOf(HaveField("Result", vmv1.RemediationSucceeded)))
		Eventually(conditionOf("hold-panic", vmv1.ConditionGuestPanicked)).Should(Equal("False/Recovered"))
		Expect(g.resets.Load()).To(Equal(int64(1)))

		By("restarting the agent after it acted")
		resyncs := kubectl("get", "vm", "hold-panic", "-o", "jsonpath={.status.delivery.resyncs}")
		sys.KillAgent()
		Expect(sys.StartAgent()).To(Succeed())
		Eventually(kubectlFn("get", "vm", "hold-panic", "-o", "jsonpath={.status.delivery.resyncs}")).ShouldNot(Equal(resyncs))
		Expect(g.resets.Load()).To(Equal(int64(1)), "QEMU saw one system_reset in all")
		Expect(getVM("hold-panic").Status.Remediation.TotalAttempts).To(Equal(int64(1)))
	})
})

// guest is a QEMU VM booted for a remediation spec, with QEMU's own count
// of the resets it was asked for through QMP.
type guest struct {
	vm     *qemuvm.VM
	mon    *qmp.Conn
	resets atomic.Int64
}

// guestDir is a fresh folder for a guest's files.
func guestDir(name string) string {
	GinkgoHelper()
	dir := filepath.Join(sys.Dir, "vms", name)
	Expect(os.MkdirAll(dir, 0o700)).To(Succeed())
	return dir
}

// bootGuest boots a paused guest whose VirtualMachine has the given
// remediation (YAML under spec.remediation, indented for it), waits for the
// agent to connect, and counts the resets QEMU reports through a second
// monitor: RESET events with reason host-qmp-system-reset, which only a
// QMP system_reset causes.
func bootGuest(name string, boot []byte, args []string, remediation string) *guest {
	GinkgoHelper()
	sc := stack.Scenario{
		Name: name,
		QEMU: qemuvm.Options{Dir: guestDir(name), Name: name, Boot: boot, Paused: true, PrettyMonitor: true, Args: args},
		Spec: "  remediation:\n    " + remediation + "\n",
	}
	vm, err := sys.Boot(context.Background(), &sc)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(vm.Kill)
	DeferCleanup(kubectl, "delete", "vm", name, "--wait=false")
	mon, err := qmp.Dial(context.Background(), vm.PrettyQMPPath, qmp.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(mon.Close)
	g := &guest{vm: vm, mon: mon}
	go func() {
		for ev := range mon.Events() {
			var data struct {
				Reason string `json:"reason"`
			}
			if ev.Name == qmp.EventReset && json.Unmarshal(ev.Data, &data) == nil && data.Reason == "host-qmp-system-reset" {
				g.resets.Add(1)
			}
		}
	}()
	Eventually(kubectlFn("get", "vm", name, "-o", "jsonpath={.status.monitor.state}")).Should(Equal("Connected"))
	return g
}

// cont lets the guest run into its fault.
func (g *guest) cont() {
	GinkgoHelper()
	Expect(g.mon.Execute(context.Background(), "cont", nil, nil)).To(Succeed())
}

// getVM reads a VirtualMachine through kubectl.
func getVM(name string) *vmv1.VirtualMachine {
	GinkgoHelper()
	vm := &vmv1.VirtualMachine{}
	Expect(json.Unmarshal([]byte(kubectl("get", "vm", name, "-o", "json")), vm)).To(Succeed())
	return vm
}

// conditionOf reads a condition as "Status/Reason".
func conditionOf(vm, condition string) func() string {
	return func() string {
		out, _ := sys.Kubectl("get", "vm", vm, "-o",
			`jsonpath={.status.conditions[?(@.type=="`+condition+`")].status}/{.status.conditions[?(@.type=="`+condition+`")].reason}`)
		return out
	}
}

// attemptsOf reads a VM's remediation attempts.
func attemptsOf(name string) func() []vmv1.RemediationAttempt {
	return func() []vmv1.RemediationAttempt {
		vm := &vmv1.VirtualMachine{}
		out, err := sys.Kubectl("get", "vm", name, "-o", "json")
		if err != nil || json.Unmarshal([]byte(out), vm) != nil || vm.Status.Remediation == nil {
			return nil
		}
		return vm.Status.Remediation.Attempts
	}
}

// happenedInOrder checks that vm has an Event for each reason (the agent's
// or the controller's), whose first eventTimes come in the order given. The
// controller's transition Events carry their condition's
// lastTransitionTime, to the second, so times are compared to the second:
// two in the same second are in order either way.
func happenedInOrder(vm string, reasons ...string) func() error {
	return func() error {
		out, err := sys.Kubectl("get", "events.events.k8s.io", "--field-selector", "regarding.name="+vm,
			"-o", `jsonpath={range .items[*]}{.eventTime}{" "}{.reason}{"\n"}{end}`)
		if err != nil {
			return err
		}
		first := map[string]time.Time{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			at, reason, _ := strings.Cut(line, " ")
			t, err := time.Parse(time.RFC3339Nano, at)
			if err != nil {
				continue
			}
			if f, ok := first[reason]; !ok || t.Before(f) {
				first[reason] = t
			}
		}
		var prev time.Time
		for i, r := range reasons {
			t, ok := first[r]
			if !ok {
				return fmt.Errorf("no %s Event yet; Events: %v", r, first)
			}
			if i > 0 && t.Truncate(time.Second).Before(prev.Truncate(time.Second)) {
				return fmt.Errorf("%s (%s) came before %s (%s)", r, t.Format(time.RFC3339Nano), reasons[i-1], prev.Format(time.RFC3339Nano))
			}
			prev = t
		}
		return nil
	}
}

// leaseHolder is the controller replica holding the leader Lease.
func leaseHolder() string {
	out, _ := sys.Kubectl("get", "lease", "-n", "vmevents-controller", "vmevents-controller", "-o", "jsonpath={.spec.holderIdentity}")
	return out
}

package qmpagent_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/metrics"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/qmpagent/qmp/qemutest"
	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// The specs play the controller: they write status.remediation.request as
// it does (server-side apply on the status subresource, as
// "vmevents-controller") and watch the agent carry it out on a real QEMU.

// applyRemediation applies rs as status.remediation under manager.
func applyRemediation(vm *vmv1.VirtualMachine, manager string, rs vmv1.RemediationStatus) {
	GinkgoHelper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&rs)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"remediation": obj}}}
	u.SetAPIVersion(vmv1.GroupVersion.String())
	u.SetKind("VirtualMachine")
	u.SetNamespace(vm.Namespace)
	u.SetName(vm.Name)
	Expect(env.Client.Status().Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(manager), client.ForceOwnership)).To(Succeed())
}

// askRemediation has the agent do action on vm, as the controller asks, with
// request (and attempt) ID id, made at requestedAt.
func askRemediation(vm *vmv1.VirtualMachine, id int64, action vmv1.RemediationAction, requestedAt time.Time) {
	GinkgoHelper()
	applyRemediation(vm, "vmevents-controller", vmv1.RemediationStatus{TotalAttempts: id, Request: &vmv1.RemediationRequest{
		ID: id, Action: action, Condition: vmv1.ConditionGuestPanicked,
		Fault: vmv1.ConditionGuestPanicked + "/" + requestedAt.UTC().Format(time.RFC3339Nano), RequestedAt: metav1.NewMicroTime(requestedAt),
	}})
}

// remediationExecution returns vm's status.remediation.execution, nil while none.
func remediationExecution(vm *vmv1.VirtualMachine) func() *vmv1.RemediationExecution {
	return func() *vmv1.RemediationExecution {
		if rs := getVM(vm)().Remediation; rs != nil {
			return rs.Execution
		}
		return nil
	}
}

// remediationCount is the agent's count of reported requests of a kind.
func remediationCount(action vmv1.RemediationAction, result vmv1.ExecutionPhase) float64 {
	return testutil.ToFloat64(metrics.Remediations.WithLabelValues(vmv1.SourceQMP, string(action), string(result)))
}

// qemuState is the run state QEMU reports on the test's own monitor.
func qemuState(mon *qmp.Conn) func() qmp.RunState {
	return func() qmp.RunState {
		st, err := mon.QueryStatus(context.Background())
		Expect(err).NotTo(HaveOccurred())
		return st.Status
	}
}

// hostResetsOn counts, from now on, the resets QEMU does at the host's
// request (system_reset), as the test's own monitor hears them. (SeaBIOS,
// booting again after a reset, resets the machine once more itself: a
// guest-initiated RESET, in status.eventCounts too.)
func hostResetsOn(mon *qmp.Conn) func() int64 {
	var n atomic.Int64
	go func() {
		for {
			ev, err := mon.NextEvent(context.Background())
			if err != nil {
				return // the test's monitor closed
			}
			if r, err := qmp.DecodeData[qmp.ResetEvent](ev); err == nil && ev.Name == "RESET" && !r.Guest {
				n.Add(1)
			}
		}
	}()
	return n.Load
}

// remediationFields are the fields the agent's remediation field manager
// owns in vm, down to status.remediation's members.
func remediationFields(vm *vmv1.VirtualMachine) []string {
	GinkgoHelper()
	var got vmv1.VirtualMachine
	Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(vm), &got)).To(Succeed())
	var out []string
	for _, m := range got.ManagedFields {
		if m.Manager != qmpagent.RemediationFieldManager {
			continue
		}
		Expect(m.Subresource).To(Equal("status"))
		var fields map[string]map[string]map[string]any
		Expect(json.Unmarshal(m.FieldsV1.Raw, &fields)).To(Succeed())
		for top, under := range fields {
			for field, members := range under {
				for member := range members {
					out = append(out, top+"."+field+"."+member)
				}
			}
		}
	}
	return out
}

// panickedQEMU starts a QEMU whose guest panics once (pvpanic) and is
// paused by QEMU for it, lets it panic, and waits until the agent has
// published the panic. It returns the VM and the test's monitor.
func panickedQEMU() (*vmv1.VirtualMachine, *qmp.Conn) {
	GinkgoHelper()
	in := qemutest.Start(suiteT, qemutest.Options{Boot: qemuvm.PanicOnce, Paused: true, PrettyMonitor: true,
		Args: []string{"-device", "pvpanic", "-action", "panic=pause"}})
	vm := createVM(in.QMPPath)
	Eventually(getVM(vm)).Should(HaveField("Monitor.State", vmv1.MonitorConnected))
	mon := monitor(in)
	Expect(mon.Execute(context.Background(), "cont", nil, nil)).To(Succeed())
	Eventually(getVM(vm)).Should(And(HaveField("RunStateReason", "guest-panicked"), HaveField("LastPanic.Action", "pause")))
	Expect(qemuState(mon)()).To(Equal(qmp.RunStateGuestPanicked))
	return vm, mon
}

// pausedQEMU starts an idle QEMU and pauses it with the test's monitor.
func pausedQEMU() (*vmv1.VirtualMachine, *qmp.Conn) {
	GinkgoHelper()
	in := qemutest.Start(suiteT, qemutest.Options{Boot: qemutest.Idle, PrettyMonitor: true})
	vm := createVM(in.QMPPath)
	Eventually(getVM(vm)).Should(HaveField("Monitor.State", vmv1.MonitorConnected))
	mon := monitor(in)
	Expect(mon.Execute(context.Background(), "stop", nil, nil)).To(Succeed())
	Eventually(getVM(vm)).Should(HaveField("RunState", vmv1.RunStatePaused))
	return vm, mon
}

// restartAgentAround stops the suite's agent, runs between (with no agent
// running), starts a fresh one and waits until it has followed vm again:
// its session has re-synced, which only a reconcile of vm starts, and the
// reconcile decided on vm's request before it returned.
func restartAgentAround(vm *vmv1.VirtualMachine, between func()) {
	GinkgoHelper()
	before := getVM(vm)()
	stopAgent()
	between()
	stopAgent = startAgent()
	Eventually(getVM(vm)).Should(And(HaveField("Delivery.Resyncs", BeNumerically(">", before.Delivery.Resyncs)),
		HaveField("Monitor.State", vmv1.MonitorConnected)))
}

var _ = Describe("remediation requests", func() {
	It("resets a guest paused by its panic, exactly once, even when the agent restarts after it", func() {
		vm, mon := panickedQEMU()
		resets := hostResetsOn(mon)
		succeeded := remediationCount(vmv1.RemediationReset, vmv1.ExecutionSucceeded)

		askRemediation(vm, 1, vmv1.RemediationReset, time.Now())
		Eventually(remediationExecution(vm)).Should(And(Not(BeNil()), HaveField("RequestID", int64(1)),
			HaveField("Phase", vmv1.ExecutionSucceeded), HaveField("Source", vmv1.SourceQMP),
			HaveField("FinishedAt", Not(BeNil())), HaveField("Message", Equal("Reset done through qmp"))))
		// QEMU reset the guest once and runs it again (it does not panic
		// twice); the agent saw the reset as any other, and the facts and
		// the controller's request are intact.
		Eventually(resets).Should(Equal(int64(1)))
		Eventually(getVM(vm)).Should(And(HaveField("EventCounts", HaveKeyWithValue("RESET", BeNumerically(">=", 1))),
			HaveField("RunState", vmv1.RunStateRunning), HaveField("EventCounts", HaveKeyWithValue("GUEST_PANICKED", int64(1))),
			HaveField("Remediation.Request.ID", int64(1))))
		Eventually(eventsOf(vm)).Should(ContainElement(And(HaveField("Reason", "Reset"),
			HaveField("Note", "VM reset (host-initiated, host-qmp-system-reset)"), WithTransform(seriesCount, Equal(int32(1))))))
		Expect(qemuState(mon)()).To(Equal(qmp.RunStateRunning))
		Eventually(func() float64 { return remediationCount(vmv1.RemediationReset, vmv1.ExecutionSucceeded) }).Should(Equal(succeeded + 1))
		done := *remediationExecution(vm)()
		Expect(remediationFields(vm)).To(Equal([]string{"f:status.f:remediation.f:execution"}))

		// The request stays until the controller records its outcome; a
		// fresh agent finds it reported and does not act on it again.
		restartAgentAround(vm, func() {})
		Expect(*remediationExecution(vm)()).To(Equal(done))
		Expect(resets()).To(Equal(int64(1)))
		Expect(qemuState(mon)()).To(Equal(qmp.RunStateRunning))
	})

	It("reports Unknown, and never acts, on a request taken up by an agent that is gone", func() {
		vm, mon := panickedQEMU()
		resets := hostResetsOn(mon)
		restartAgentAround(vm, func() {
			// What an agent leaves when it stops between its Executing mark
			// and the action's outcome.
			now := time.Now()
			askRemediation(vm, 1, vmv1.RemediationReset, now)
			applyRemediation(vm, qmpagent.RemediationFieldManager, vmv1.RemediationStatus{Execution: &vmv1.RemediationExecution{
				RequestID: 1, Phase: vmv1.ExecutionExecuting, StartedAt: metav1.NewMicroTime(now), Source: vmv1.SourceQMP,
			}})
		})
		Eventually(remediationExecution(vm)).Should(And(HaveField("RequestID", int64(1)), HaveField("Phase", vmv1.ExecutionUnknown),
			HaveField("FinishedAt", Not(BeNil())), HaveField("Message", ContainSubstring("not repeated"))))
		Expect(getVM(vm)()).To(And(HaveField("EventCounts", Not(HaveKey("RESET"))), HaveField("RunStateReason", "guest-panicked")))
		Expect(qemuState(mon)()).To(Equal(qmp.RunStateGuestPanicked))
		Expect(resets()).To(BeZero())
	})

	It("resumes a paused guest with cont", func() {
		vm, mon := pausedQEMU()
		askRemediation(vm, 1, vmv1.RemediationResume, time.Now())
		Eventually(remediationExecution(vm)).Should(And(HaveField("RequestID", int64(1)), HaveField("Phase", vmv1.ExecutionSucceeded)))
		Eventually(getVM(vm)).Should(HaveField("RunState", vmv1.RunStateRunning))
		Expect(qemuState(mon)()).To(Equal(qmp.RunStateRunning))
	})

	It("fails PowerCycle over QMP as not supported, and does nothing", func() {
		vm, mon := pausedQEMU()
		askRemediation(vm, 1, vmv1.RemediationPowerCycle, time.Now())
		Eventually(remediationExecution(vm)).Should(And(HaveField("RequestID", int64(1)), HaveField("Phase", vmv1.ExecutionFailed),
			HaveField("FinishedAt", Not(BeNil())), HaveField("Message", ContainSubstring("not supported by this source"))))
		Expect(qemuState(mon)()).To(Equal(qmp.RunStatePaused))
		Expect(getVM(vm)()).To(HaveField("EventCounts", Not(HaveKey("RESET"))))
	})

	It("expires a request older than the agent accepts, and does nothing", func() {
		vm, mon := pausedQEMU()
		expired := remediationCount(vmv1.RemediationResume, vmv1.ExecutionExpired)
		askRemediation(vm, 1, vmv1.RemediationResume, time.Now().Add(-2*time.Minute))
		Eventually(remediationExecution(vm)).Should(And(HaveField("RequestID", int64(1)), HaveField("Phase", vmv1.ExecutionExpired),
			HaveField("Message", ContainSubstring("not carried out"))))
		Eventually(func() float64 { return remediationCount(vmv1.RemediationResume, vmv1.ExecutionExpired) }).Should(Equal(expired + 1))
		Expect(qemuState(mon)()).To(Equal(qmp.RunStatePaused))
		Expect(getVM(vm)()).To(HaveField("RunState", vmv1.RunStatePaused))
	})

	It("takes a request up only on the VM as it read it: of two agent processes that read one version, one acts", func() {
		// No agent of the suite follows this node: the two processes here
		// are all there is.
		vm := testenv.VirtualMachine("default", "remediation-race", vmv1.VirtualMachineSpec{
			NodeName: "node-remediation-race", QMP: &vmv1.QMPSource{SocketPath: "/run/nowhere.qmp"}})
		Expect(env.Client.Create(context.Background(), vm)).To(Succeed())
		askRemediation(vm, 1, vmv1.RemediationReset, time.Now())
		var read vmv1.VirtualMachine
		Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(vm), &read)).To(Succeed())

		first, second := &countingRemediator{}, &countingRemediator{}
		a, b := qmpagent.NewRemediationOnly(env.Client, first), qmpagent.NewRemediationOnly(env.Client, second)
		Expect(a.Remediate(context.Background(), read.DeepCopy())).To(Equal(ctrl.Result{}))
		// The second reads the same version (its cache is behind the first's
		// mark): its own mark is refused, it reads again, it does nothing.
		res, err := b.Remediate(context.Background(), read.DeepCopy())
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeNumerically(">", 0))
		a.Wait()
		b.Wait()
		Expect(first.calls.Load()).To(Equal(int32(1)))
		Expect(second.calls.Load()).To(BeZero())
		Expect(remediationExecution(vm)()).To(And(HaveField("Phase", vmv1.ExecutionSucceeded), HaveField("RequestID", int64(1))))

		// Handed the old version again, neither acts; read again, the
		// second finds the request reported.
		Expect(a.Remediate(context.Background(), read.DeepCopy())).To(Equal(ctrl.Result{}))
		Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(vm), &read)).To(Succeed())
		Expect(b.Remediate(context.Background(), read.DeepCopy())).To(Equal(ctrl.Result{}))
		Expect(first.calls.Load() + second.calls.Load()).To(Equal(int32(1)))
		Expect(remediationExecution(vm)()).To(HaveField("Phase", vmv1.ExecutionSucceeded))
	})
})

// countingRemediator stands in for a QMP source where two agent processes
// are needed at once, which one QEMU monitor cannot serve: it counts the
// actions it is asked for and does them.
type countingRemediator struct{ calls atomic.Int32 }

func (r *countingRemediator) Name() string                    { return vmv1.SourceQMP }
func (r *countingRemediator) Start(ctx context.Context) error { <-ctx.Done(); return nil }
func (r *countingRemediator) Remediate(context.Context, *vmv1.VirtualMachine, vmv1.RemediationAction) error {
	r.calls.Add(1)
	return nil
}

package controllers_test

import (
	"encoding/json"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/controllers"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// agentRemediationManager is the field manager the node agent reports
// executions with, apart from its facts.
const agentRemediationManager = "vmevents-agent-remediation"

// newRemediatedVM creates a VM on node with spec.remediation rem.
func newRemediatedVM(prefix, node string, rem *vmv1.RemediationSpec) *vmv1.VirtualMachine {
	GinkgoHelper()
	name := fmt.Sprintf("%s-%s", prefix, rand.String(5))
	vm := testenv.VirtualMachine(ns, name, vmv1.VirtualMachineSpec{
		NodeName: node, QMP: &vmv1.QMPSource{SocketPath: "/run/vmevents/" + name + ".qmp"}, Remediation: rem,
	})
	Expect(env.Client.Create(ctx, vm)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(env.Client.Delete(ctx, vm))).To(Succeed()) })
	return vm
}

// applyExecution reports ex as the agent does: server-side apply of
// status.remediation.execution alone, under the agent's remediation field
// manager, so that the facts stay the facts manager's.
func applyExecution(vm *vmv1.VirtualMachine, ex vmv1.RemediationExecution) {
	GinkgoHelper()
	data, err := json.Marshal(ex)
	Expect(err).NotTo(HaveOccurred())
	execution := map[string]any{}
	Expect(json.Unmarshal(data, &execution)).To(Succeed())
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": vmv1.GroupVersion.String(),
		"kind":       "VirtualMachine",
		"metadata":   map[string]any{"name": vm.Name, "namespace": vm.Namespace},
		"status":     map[string]any{"remediation": map[string]any{"execution": execution}},
	}}
	Expect(env.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(agentRemediationManager))).To(Succeed())
}

// carryOut plays the agent carrying out request id: Executing, then
// Succeeded.
func carryOut(vm *vmv1.VirtualMachine, id int64) {
	GinkgoHelper()
	started := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
	applyExecution(vm, vmv1.RemediationExecution{RequestID: id, Phase: vmv1.ExecutionExecuting, StartedAt: started, Source: "qmp"})
	finished := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
	applyExecution(vm, vmv1.RemediationExecution{RequestID: id, Phase: vmv1.ExecutionSucceeded, StartedAt: started, FinishedAt: &finished,
		Source: "qmp", Message: "system_reset and cont done"})
}

// remediationFieldsOwnedBy returns the fields of status.remediation manager owns.
func remediationFieldsOwnedBy(vm *vmv1.VirtualMachine, manager string) []string {
	GinkgoHelper()
	var out []string
	for _, mf := range vm.ManagedFields {
		if mf.Manager != manager || mf.Subresource != "status" || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]map[string]map[string]any
		Expect(json.Unmarshal(mf.FieldsV1.Raw, &fields)).To(Succeed())
		for f := range fields["f:status"]["f:remediation"] {
			if f != "." {
				out = append(out, f)
			}
		}
	}
	return out
}

// remediationRecord renders vm's status.remediation as
// "request <id> <action> <fault>; <id>:<result> ...; total <n>".
func remediationRecord(g Gomega, vm *vmv1.VirtualMachine) string {
	rs := getVM(g, vm).Status.Remediation
	if rs == nil {
		return "none"
	}
	s := ""
	if r := rs.Request; r != nil {
		s = fmt.Sprintf("request %d %s %s; ", r.ID, r.Action, r.Fault)
	}
	for i, a := range rs.Attempts {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d:%s", a.ID, a.Result)
	}
	return s + fmt.Sprintf("; total %d", rs.TotalAttempts)
}

// remediationStory lists the controller's core Events on vm about the
// GuestPanicked and RemediationExhausted conditions and the remediation
// attempts, as `kubectl describe` shows them ("Reason:Type", with the
// attempt for remediation Events), checking their shape on the way.
func remediationStory(g Gomega, vm *vmv1.VirtualMachine) []string {
	var list corev1.EventList
	g.Expect(env.Client.List(ctx, &list, client.InNamespace(vm.Namespace))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.UID != vm.UID || e.ReportingController != controllers.ReportingController {
			continue
		}
		g.Expect(e.Source.Component).To(Equal(controllers.SourceComponent))
		g.Expect(e.Count).To(BeEquivalentTo(1))
		g.Expect(e.LastTimestamp.IsZero()).To(BeFalse())
		g.Expect(e.InvolvedObject.Kind).To(Equal("VirtualMachine"))
		switch t := e.Labels[controllers.LabelConditionType]; {
		case t == vmv1.ConditionGuestPanicked || t == vmv1.ConditionRemediationExhausted:
			out = append(out, e.Reason+":"+e.Type)
		case e.Action == controllers.EventActionRemediate:
			out = append(out, fmt.Sprintf("%s#%s:%s", e.Reason, e.Labels[controllers.LabelRemediationAttempt], e.Type))
		}
	}
	return out
}

// expectCondition waits for vm's condition typ to be "Status/Reason".
func expectCondition(vm *vmv1.VirtualMachine, typ, want string) {
	GinkgoHelper()
	Eventually(func(g Gomega) map[string]string { return conditionStates(g, vm) }).Should(HaveKeyWithValue(typ, want))
}

var _ = Describe("remediation (docs/remediation.md)", func() {
	// A Reset policy acting at once, backing off a second, two attempts
	// an hour.
	policy := func() *vmv1.RemediationSpec {
		return &vmv1.RemediationSpec{
			GuestPanicked: vmv1.RemediationReset, DelaySeconds: ptr.To[int32](0),
			BackoffSeconds: 1, MaxBackoffSeconds: 1, MaxAttempts: 2, WindowSeconds: 3600,
		}
	}

	It("requests a reset for a panic, records the agent's outcome, makes no second request after a restart, and gives up after max attempts", func() {
		vm := newRemediatedVM("remediate", nodeA, policy())
		succeeded := map[string]string{"condition": vmv1.ConditionGuestPanicked, "action": string(vmv1.RemediationReset), "result": string(vmv1.RemediationSucceeded)}
		succeededBefore := counterValue("vmevents_controller_remediation_attempts_total", succeeded)
		tl := newTimeline()
		facts := healthyFacts(tl)
		applyFacts(vm, facts)
		expectCondition(vm, vmv1.ConditionRemediationExhausted, "False/AttemptsLeft")
		expectCondition(vm, vmv1.ConditionReady, "True/Running")
		Expect(remediationRecord(Default, vm)).To(Equal("none"))
		story := func(g Gomega) []string { return remediationStory(g, vm) }
		Expect(remediationStory(Default, vm)).To(BeEmpty(), "the state RemediationExhausted starts in tells nothing")

		By("a panic: one request, for this fault")
		panickedAt("pause", time.Second, "")(tl, &facts)
		stoppedIn("guest-panicked", time.Second)(tl, &facts)
		applyFacts(vm, facts)
		fault1 := "GuestPanicked/" + tl.at(time.Second).UTC().Format(time.RFC3339Nano)
		Eventually(func(g Gomega) string { return remediationRecord(g, vm) }).Should(Equal("request 1 Reset " + fault1 + "; 1:Pending; total 1"))
		Eventually(story).Should(ConsistOf("GuestPanickedTrue:Warning", "RemediationRequested#1:Normal"))

		By("restarting the controller between the request and its outcome: no second request")
		stopController()
		creates := &eventCreates{}
		stopController = startController("controller-remediation", creates.wrap)
		// The new controller reconciled the VM through to its Events
		// (the request's, replayed into AlreadyExists): its decision
		// was made from the same state.
		Eventually(func() int { return creates.of(vm.UID) }).Should(BeNumerically(">=", 1))
		Expect(remediationRecord(Default, vm)).To(Equal("request 1 Reset " + fault1 + "; 1:Pending; total 1"))
		Expect(remediationStory(Default, vm)).To(ConsistOf("GuestPanickedTrue:Warning", "RemediationRequested#1:Normal"))

		By("the agent takes the request up: the controller waits")
		started := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
		applyExecution(vm, vmv1.RemediationExecution{RequestID: 1, Phase: vmv1.ExecutionExecuting, StartedAt: started, Source: "qmp"})
		Eventually(func(g Gomega) int64 { return getVM(g, vm).Status.Remediation.Execution.RequestID }).Should(BeEquivalentTo(1))
		Expect(remediationRecord(Default, vm)).To(Equal("request 1 Reset " + fault1 + "; 1:Pending; total 1"))

		By("the agent reports success: the attempt is recorded, the request cleared")
		finished := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
		applyExecution(vm, vmv1.RemediationExecution{RequestID: 1, Phase: vmv1.ExecutionSucceeded, StartedAt: started, FinishedAt: &finished,
			Source: "qmp", Message: "system_reset and cont done"})
		Eventually(func(g Gomega) string { return remediationRecord(g, vm) }).Should(Equal("1:Succeeded; total 1"))
		attempt := getVM(Default, vm).Status.Remediation.Attempts[0]
		Expect(attempt.Message).To(Equal("system_reset and cont done"))
		Expect(attempt.FinishedAt.Time).To(BeTemporally("==", finished.Time))
		Eventually(story).Should(ConsistOf("GuestPanickedTrue:Warning", "RemediationRequested#1:Normal", "RemediationSucceeded#1:Normal"))

		By("the reset shows in the facts: recovered")
		resetAt(2*time.Second)(tl, &facts)
		resumedAt(2*time.Second)(tl, &facts)
		applyFacts(vm, facts)
		expectCondition(vm, vmv1.ConditionGuestPanicked, "False/Recovered")
		Eventually(story).Should(ConsistOf("GuestPanickedTrue:Warning", "RemediationRequested#1:Normal", "RemediationSucceeded#1:Normal",
			"GuestPanickedFalse:Normal"))

		By("a second panic: the second attempt")
		panickedAt("pause", 3*time.Second, "")(tl, &facts)
		stoppedIn("guest-panicked", 3*time.Second)(tl, &facts)
		applyFacts(vm, facts)
		fault2 := "GuestPanicked/" + tl.at(3*time.Second).UTC().Format(time.RFC3339Nano)
		Eventually(func(g Gomega) string { return remediationRecord(g, vm) }).Should(Equal("request 2 Reset " + fault2 + "; 1:Succeeded 2:Pending; total 2"))
		carryOut(vm, 2)
		Eventually(func(g Gomega) string { return remediationRecord(g, vm) }).Should(Equal("1:Succeeded 2:Succeeded; total 2"))
		resetAt(4*time.Second)(tl, &facts)
		resumedAt(4*time.Second)(tl, &facts)
		applyFacts(vm, facts)
		expectCondition(vm, vmv1.ConditionGuestPanicked, "False/Recovered")

		By("a third panic: the attempts are spent, the controller gives up")
		panickedAt("pause", 5*time.Second, "")(tl, &facts)
		stoppedIn("guest-panicked", 5*time.Second)(tl, &facts)
		applyFacts(vm, facts)
		expectCondition(vm, vmv1.ConditionRemediationExhausted, "True/MaxAttemptsReached")
		got := getVM(Default, vm)
		Expect(got.Status.Remediation.Request).To(BeNil())
		Expect(got.Status.Remediation.TotalAttempts).To(BeEquivalentTo(2))
		Expect(conditionStates(Default, vm)).To(HaveKeyWithValue(vmv1.ConditionGuestPanicked, "True/Pause"))
		Eventually(story).Should(ConsistOf(
			"GuestPanickedTrue:Warning", "RemediationRequested#1:Normal", "RemediationSucceeded#1:Normal", "GuestPanickedFalse:Normal",
			"GuestPanickedTrue:Warning", "RemediationRequested#2:Normal", "RemediationSucceeded#2:Normal", "GuestPanickedFalse:Normal",
			"GuestPanickedTrue:Warning", "RemediationExhaustedTrue:Warning"))

		Expect(counterValue("vmevents_controller_remediation_attempts_total", succeeded)).To(Equal(succeededBefore + 2))

		By("each writer owns its part of status.remediation, and the agent's facts stay the agent's")
		Expect(remediationFieldsOwnedBy(got, controllers.FieldManager)).To(ConsistOf("f:attempts", "f:totalAttempts"))
		Expect(remediationFieldsOwnedBy(got, agentRemediationManager)).To(ConsistOf("f:execution"))
		Expect(statusFieldsOwnedBy(got, controllers.FieldManager)).To(ConsistOf("f:conditions", "f:observedGeneration", "f:remediation"))
		Expect(statusFieldsOwnedBy(got, agentManager)).To(ContainElement("f:lastPanic"))
	})

	It("in a dry run, records what it would have done, once per fault, and requests nothing", func() {
		dry := policy()
		dry.DryRun = true
		vm := newRemediatedVM("dryrun", nodeA, dry)
		tl := newTimeline()
		facts := healthyFacts(tl)
		panickedAt("pause", time.Second, "")(tl, &facts)
		stoppedIn("guest-panicked", time.Second)(tl, &facts)
		applyFacts(vm, facts)
		Eventually(func(g Gomega) string { return remediationRecord(g, vm) }).Should(Equal("1:DryRun; total 1"))
		Eventually(func(g Gomega) []string { return remediationStory(g, vm) }).Should(ConsistOf("GuestPanickedTrue:Warning", "RemediationDryRun#1:Normal"))
		Expect(getVM(Default, vm).Status.Remediation.Attempts[0].Message).To(HavePrefix("would have reset the guest"))
		expectCondition(vm, vmv1.ConditionRemediationExhausted, "False/AttemptsLeft")
	})

	It("requests nothing while the monitor is not connected, and has no RemediationExhausted without an action", func() {
		vm := newRemediatedVM("disconnected", nodeA, policy())
		tl := newTimeline()
		facts := healthyFacts(tl)
		panickedAt("pause", time.Second, "")(tl, &facts)
		stoppedIn("guest-panicked", time.Second)(tl, &facts)
		monitorIn(vmv1.MonitorDisconnected, "connection reset")(tl, &facts)
		applyFacts(vm, facts)
		expectCondition(vm, vmv1.ConditionMonitorConnected, "False/Disconnected")
		expectCondition(vm, vmv1.ConditionGuestPanicked, "True/Pause")
		expectCondition(vm, vmv1.ConditionRemediationExhausted, "False/AttemptsLeft")
		Expect(remediationRecord(Default, vm)).To(Equal("none"))

		By("turning remediation off removes the condition")
		got := getVM(Default, vm)
		got.Spec.Remediation = nil
		Expect(env.Client.Update(ctx, got)).To(Succeed())
		Eventually(func(g Gomega) map[string]string { return conditionStates(g, vm) }).ShouldNot(HaveKey(vmv1.ConditionRemediationExhausted))
	})
})

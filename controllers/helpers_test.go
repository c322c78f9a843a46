package controllers_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/controllers"
	"github.com/vmevents/vmevents/internal/heartbeat"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// agentManager is the field manager the node agent writes facts with.
const agentManager = "vmevents-agent"

// newVM creates a VM on node with a unique name and deletes it afterwards.
func newVM(prefix, node string) *vmv1.VirtualMachine {
	name := fmt.Sprintf("%s-%s", prefix, rand.String(5))
	vm := testenv.VirtualMachine(ns, name, vmv1.VirtualMachineSpec{NodeName: node, QMP: &vmv1.QMPSource{SocketPath: "/run/vmevents/" + name + ".qmp"}})
	Expect(env.Client.Create(ctx, vm)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(env.Client.Delete(ctx, vm))).To(Succeed()) })
	return vm
}

// applyFacts writes st into vm's status as the agent does: server-side
// apply on the status subresource under the agent's field manager, without
// forcing (a conflict would mean the controller took over a fact).
func applyFacts(vm *vmv1.VirtualMachine, st vmv1.VirtualMachineStatus) {
	GinkgoHelper()
	Expect(st.Conditions).To(BeNil(), "the agent never writes conditions")
	data, err := json.Marshal(st)
	Expect(err).NotTo(HaveOccurred())
	status := map[string]any{}
	Expect(json.Unmarshal(data, &status)).To(Succeed())
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": vmv1.GroupVersion.String(),
		"kind":       "VirtualMachine",
		"metadata":   map[string]any{"name": vm.Name, "namespace": vm.Namespace},
		"status":     status,
	}}
	Expect(env.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(agentManager))).To(Succeed())
}

// renewLease creates or renews node's agent Lease as the agent does.
func renewLease(node string, renew time.Time, seconds int32) {
	GinkgoHelper()
	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: agentNS, Name: heartbeat.LeaseName(node)}
	err := env.Client.Get(ctx, key, lease)
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: agentNS, Name: key.Name, Labels: heartbeat.Labels(node)}}
	} else {
		Expect(err).NotTo(HaveOccurred())
	}
	lease.Spec.HolderIdentity = ptr.To(node)
	lease.Spec.LeaseDurationSeconds = ptr.To(seconds)
	lease.Spec.RenewTime = ptr.To(metav1.NewMicroTime(renew))
	if lease.ResourceVersion == "" {
		lease.Spec.AcquireTime = lease.Spec.RenewTime
		Expect(env.Client.Create(ctx, lease)).To(Succeed())
		return
	}
	Expect(env.Client.Update(ctx, lease)).To(Succeed())
}

// getVM reads vm from the API server.
func getVM(g Gomega, vm *vmv1.VirtualMachine) *vmv1.VirtualMachine {
	got := &vmv1.VirtualMachine{}
	g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vm), got)).To(Succeed())
	return got
}

// conditionStates renders vm's conditions as type -> "Status/Reason".
func conditionStates(g Gomega, vm *vmv1.VirtualMachine) map[string]string {
	out := map[string]string{}
	for _, c := range getVM(g, vm).Status.Conditions {
		out[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return out
}

// expectConditions waits until vm has the conditions in want (a subset),
// all of the controller's present, and each with the VM's generation observed.
func expectConditions(vm *vmv1.VirtualMachine, want map[string]string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		got := getVM(g, vm)
		g.Expect(got.Status.Conditions).To(HaveLen(len(controllers.ConditionTypes)))
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		states := map[string]string{}
		for _, c := range got.Status.Conditions {
			g.Expect(c.ObservedGeneration).To(Equal(got.Generation))
			states[c.Type] = string(c.Status) + "/" + c.Reason
		}
		for typ, s := range want {
			g.Expect(states).To(HaveKeyWithValue(typ, s))
		}
	}).Should(Succeed())
}

// transitionEvents lists the controller's Events regarding vm, each as
// "Type=Status:EventType", and checks their shape on the way.
func transitionEvents(g Gomega, vm *vmv1.VirtualMachine) []string {
	var list eventsv1.EventList
	g.Expect(env.Client.List(ctx, &list, client.InNamespace(vm.Namespace))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.UID != vm.UID || e.ReportingController != controllers.ReportingController {
			continue
		}
		typ, status := e.Labels[controllers.LabelConditionType], e.Labels[controllers.LabelConditionStatus]
		g.Expect(e.Reason).To(Equal(typ + status))
		g.Expect(e.Action).To(Equal(controllers.EventAction))
		g.Expect(e.Regarding.Kind).To(Equal("VirtualMachine"))
		g.Expect(e.Regarding.Name).To(Equal(vm.Name))
		g.Expect(e.Note).To(HavePrefix(typ + " is " + status))
		out = append(out, fmt.Sprintf("%s=%s:%s", typ, status, e.Type))
	}
	sort.Strings(out)
	return out
}

// minus returns the elements of all not matched one for one in before.
func minus(all, before []string) []string {
	left := map[string]int{}
	for _, b := range before {
		left[b]++
	}
	var out []string
	for _, a := range all {
		if left[a] > 0 {
			left[a]--
			continue
		}
		out = append(out, a)
	}
	return out
}

// noDuplicateEvents checks that every flip has exactly one Event: no two
// Events for the same condition, status and transition time.
func noDuplicateEvents(vm *vmv1.VirtualMachine) {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(env.Client.List(ctx, &list, client.InNamespace(vm.Namespace))).To(Succeed())
	seen := map[string]string{}
	for _, e := range list.Items {
		if e.Regarding.UID != vm.UID || e.ReportingController != controllers.ReportingController {
			continue
		}
		key := strings.Join([]string{e.Labels[controllers.LabelConditionType], e.Labels[controllers.LabelConditionStatus], e.EventTime.UTC().Format(time.RFC3339)}, " ")
		Expect(seen).NotTo(HaveKey(key), "two Events for one flip: %s and %s", seen[key], e.Name)
		seen[key] = e.Name
	}
}

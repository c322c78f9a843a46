package qmpagent_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

var vmCount int

// createVM creates a VM on the agent's node watching socket.
func createVM(socket string) *vmv1.VirtualMachine { return createVMWithPolicy(socket, nil) }

// createVMWithPolicy is createVM with an event policy.
func createVMWithPolicy(socket string, policy *vmv1.EventPolicy) *vmv1.VirtualMachine {
	vmCount++
	vm := testenv.VirtualMachine("default", fmt.Sprintf("vm-%d", vmCount), vmv1.VirtualMachineSpec{
		NodeName: node, QMP: &vmv1.QMPSource{SocketPath: socket}, EventPolicy: policy,
	})
	Expect(env.Client.Create(context.Background(), vm)).To(Succeed())
	return vm
}

// getVM returns the VM as stored.
func getVM(vm *vmv1.VirtualMachine) func() vmv1.VirtualMachineStatus {
	return func() vmv1.VirtualMachineStatus {
		var got vmv1.VirtualMachine
		Expect(env.Client.Get(context.Background(), client.ObjectKeyFromObject(vm), &got)).To(Succeed())
		return got.Status
	}
}

// condition returns the VM's condition of a type, nil while it has none.
func condition(vm *vmv1.VirtualMachine, conditionType string) func() *metav1.Condition {
	return func() *metav1.Condition {
		return meta.FindStatusCondition(getVM(vm)().Conditions, conditionType)
	}
}

// eventsOf lists the Events regarding the VM.
func eventsOf(vm *vmv1.VirtualMachine) func() []eventsv1.Event {
	return func() []eventsv1.Event {
		var list eventsv1.EventList
		Expect(env.Client.List(context.Background(), &list, client.InNamespace(vm.Namespace))).To(Succeed())
		var out []eventsv1.Event
		for _, e := range list.Items {
			if e.Regarding.UID == vm.UID {
				out = append(out, e)
			}
		}
		return out
	}
}

// seriesCount is how many occurrences an Event stands for.
func seriesCount(e eventsv1.Event) int32 {
	if e.Series != nil {
		return e.Series.Count
	}
	return 1
}

// statusWrites is the number of status writes the agent has made so far,
// read from its own metric.
func statusWrites() uint64 {
	families, err := crmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var n uint64
	for _, f := range families {
		if f.GetName() != "vmevents_agent_api_write_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == "status" {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}

// deadlineNow is a deadline already passed: an Accept with it only returns
// a connection that is already waiting.
func deadlineNow() time.Time { return time.Now() }

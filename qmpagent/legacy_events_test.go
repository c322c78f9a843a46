package qmpagent_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// kubectl describe sorts Events by the core/v1 lastTimestamp and kubectl
// get events shows the core/v1 count: the agent's Events carry them, and
// the deprecated source, beside eventTime and series.
var _ = Describe("the agent's Events for older readers", func() {
	It("carry first and last timestamps, count and source, on create and on every series update", func() {
		ns := "legacy-events"
		Expect(env.Client.Create(ctx, namespace(ns))).To(Succeed())
		e := qmpagent.NewEvents(env.Client, node)
		runCtx, cancel := context.WithCancel(context.Background())
		DeferCleanup(cancel)
		go e.Run(runCtx)

		vm := corev1.ObjectReference{APIVersion: vmv1.GroupVersion.String(), Kind: "VirtualMachine", Namespace: ns, Name: "vm-a", UID: "uid-legacy"}
		t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
		occ := func(reason string, at time.Time) model.Occurrence {
			return model.Occurrence{Time: at, Action: reason, Reason: reason, Note: "note of " + reason, Series: "s"}
		}
		legacy := func(reason string) func() corev1.Event {
			return func() corev1.Event {
				var list corev1.EventList
				Expect(env.Client.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
				for _, ev := range list.Items {
					if ev.Reason == reason {
						return ev
					}
				}
				return corev1.Event{}
			}
		}

		e.Publish(vm, occ("Stop", t0))
		e.Publish(vm, occ("Resume", t0.Add(5*time.Second)))
		Eventually(legacy("Stop")).Should(And(
			HaveField("Source", corev1.EventSource{Component: qmpagent.SourceComponent, Host: node}),
			HaveField("FirstTimestamp.Time", BeTemporally("==", t0)),
			HaveField("LastTimestamp.Time", BeTemporally("==", t0)),
			HaveField("Count", BeEquivalentTo(1)),
			HaveField("Series", BeNil()),
			HaveField("EventTime.Time", BeTemporally("==", t0)),
			HaveField("ReportingController", qmpagent.ReportingController),
		))
		Eventually(legacy("Resume")).Should(HaveField("LastTimestamp.Time", BeTemporally("==", t0.Add(5*time.Second))))

		// The series grows: the count and the last time follow, in both
		// the series and the deprecated fields; the first time stays.
		e.Publish(vm, occ("Stop", t0.Add(10*time.Second)))
		e.Publish(vm, occ("Stop", t0.Add(12*time.Second)))
		Eventually(legacy("Stop")).Should(And(
			HaveField("Count", BeEquivalentTo(3)),
			HaveField("Series.Count", BeEquivalentTo(3)),
			HaveField("LastTimestamp.Time", BeTemporally("==", t0.Add(12*time.Second))),
			HaveField("Series.LastObservedTime.Time", BeTemporally("==", t0.Add(12*time.Second))),
			HaveField("FirstTimestamp.Time", BeTemporally("==", t0)),
		))
	})
})

// An Event the apiserver refuses as invalid is dropped, not retried: it is
// counted in a metric and in the VM's status.delivery.refused.
var _ = Describe("Events the apiserver refuses", func() {
	It("are counted by reason and in the VM's status", func() {
		const refusingNode = "node-refusing"
		var pub source.Publisher
		stop := runAgent(qmpagent.Config{NodeName: refusingNode}, func(p source.Publisher) (source.Source, error) {
			pub = p
			return idleSource{}, nil
		})
		DeferCleanup(stop)
		vm := testenv.VirtualMachine("default", "refused-events", vmv1.VirtualMachineSpec{
			NodeName: refusingNode, QMP: &vmv1.QMPSource{SocketPath: "/nonexistent/refused.qmp"},
		})
		Expect(env.Client.Create(ctx, vm)).To(Succeed())
		DeferCleanup(env.Client.Delete, context.Background(), vm)

		before := refusedMetric("invalid")
		// No action: the apiserver requires one, and will never take it.
		source.Tell(pub, source.TargetOf(vm), model.Occurrence{Time: time.Now(), Reason: "Broken", Note: "no action"}, "test")
		Eventually(refusedMetric).WithArguments("invalid").Should(Equal(before + 1))
		Eventually(getVM(vm)).Should(HaveField("Delivery", HaveValue(HaveField("Refused", BeEquivalentTo(1)))))
	})
})

// idleSource publishes nothing by itself: the test publishes through the
// agent it was built with.
type idleSource struct{}

func (idleSource) Name() string { return "idle" }
func (idleSource) Start(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// refusedMetric reads vmevents_agent_events_refused_total for reason.
func refusedMetric(reason string) float64 {
	families, err := crmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "vmevents_agent_events_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

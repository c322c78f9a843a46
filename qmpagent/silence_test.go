package qmpagent_test

import (
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/qmp/qemutest"
	"github.com/vmevents/vmevents/qmpagent/qmp/qmptest"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/qmpsource"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// silenceNode's agent silences nothing by default (--silence-events=""), so
// what its VMs do not get as Events is their own policy's doing.
const silenceNode = "node-silence"

// silencedTotal reads vmevents_agent_events_silenced_total{source}.
func silencedTotal(src string) float64 {
	families, err := crmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "vmevents_agent_events_silenced_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == src {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

var _ = Describe("an event policy", Ordered, func() {
	BeforeAll(func() {
		DeferCleanup(runAgent(qmpagent.Config{NodeName: silenceNode, SilenceEvents: []string{}, RoutineStatusDelay: time.Second},
			func(p source.Publisher) (source.Source, error) {
				return qmpsource.New(p, qmpsource.Config{
					SocketRoots: []string{os.TempDir()}, Tenancy: source.Tenancy{Shared: true},
					MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
				}), nil
			}))
	})

	It("silencing RTC_CHANGE and JOB_STATUS_CHANGE: no such Events, every one counted in eventCounts, delivery.silenced and the metric", func() {
		const rtc, jobs = 40, 25
		chatter := func(p *qmptest.Peer) error {
			for i := range rtc {
				if err := p.Event("RTC_CHANGE", map[string]any{"offset": i}); err != nil {
					return err
				}
			}
			for range jobs {
				if err := p.Event("JOB_STATUS_CHANGE", map[string]any{"id": "job0", "status": "running"}); err != nil {
					return err
				}
			}
			if err := p.Event("BALLOON_CHANGE", map[string]any{"actual": 1 << 30}); err != nil {
				return err
			}
			return p.Event("WATCHDOG", map[string]any{"action": "pause"})
		}
		vmOn := func(name, socket string, policy *vmv1.EventPolicy) *vmv1.VirtualMachine {
			vm := testenv.VirtualMachine("default", name, vmv1.VirtualMachineSpec{
				NodeName: silenceNode, QMP: &vmv1.QMPSource{SocketPath: socket}, EventPolicy: policy,
			})
			Expect(env.Client.Create(ctx, vm)).To(Succeed())
			DeferCleanup(env.Client.Delete, ctx, vm)
			return vm
		}
		before := silencedTotal(vmv1.SourceQMP)
		quiet := vmOn("policy-quiet", fakeQEMU(chatter).Path, &vmv1.EventPolicy{Silence: []string{"RTC_CHANGE", "JOB_STATUS_CHANGE"}})
		// The same stream to a VM without a policy: every occurrence is an
		// Event, so what the first VM lacks is its policy's doing.
		loud := vmOn("policy-loud", fakeQEMU(chatter).Path, nil)

		counted := HaveField("EventCounts", And(HaveKeyWithValue("RTC_CHANGE", int64(rtc)), HaveKeyWithValue("JOB_STATUS_CHANGE", int64(jobs)),
			HaveKeyWithValue("BALLOON_CHANGE", int64(1)), HaveKeyWithValue("WATCHDOG", int64(1))))
		Eventually(getVM(quiet)).Should(And(counted, HaveField("Delivery", HaveValue(HaveField("Silenced", int64(rtc+jobs))))))
		Eventually(getVM(loud)).Should(counted)
		Expect(getVM(loud)().Delivery).To(Or(BeNil(), HaveValue(HaveField("Silenced", BeZero()))))

		reason := func(r string) OmegaMatcher { return HaveField("Reason", r) }
		Eventually(eventsOf(loud)).Should(ContainElements(
			And(reason("RTCChange"), WithTransform(seriesCount, BeEquivalentTo(rtc))),
			And(reason("JobStatusChange"), WithTransform(seriesCount, BeEquivalentTo(jobs))),
			reason("BalloonChange"), And(reason("Watchdog"), HaveField("Type", "Warning")),
		))
		// The silenced ones were handled before these (one session reads
		// its socket in order), and none took the Event path: the metric
		// counted each as silenced when it was handled.
		Eventually(eventsOf(quiet)).Should(ContainElements(reason("BalloonChange"), And(reason("Watchdog"), HaveField("Type", "Warning"))))
		Expect(eventsOf(quiet)()).NotTo(ContainElement(Or(reason("RTCChange"), reason("JobStatusChange"))))
		Expect(silencedTotal(vmv1.SourceQMP) - before).To(BeEquivalentTo(rtc + jobs))
	})
})

var _ = Describe("the default event policy, with real QEMU", func() {
	It("silences a guest setting its clock: no RTCChange Event, every RTC_CHANGE counted as silenced", func() {
		in := qemutest.Start(suiteT, guest(qemutest.RTC)())
		vm := createVM(in.QMPPath)
		Eventually(getVM(vm)).Should(HaveField("Monitor.State", vmv1.MonitorConnected))
		mon := monitor(in)
		Expect(mon.Execute(ctx, "cont", nil, nil)).To(Succeed())
		Eventually(func(g Gomega) {
			st := getVM(vm)()
			g.Expect(st.EventCounts).To(HaveKeyWithValue("RTC_CHANGE", BeNumerically(">=", 1)))
			g.Expect(st.Delivery).To(HaveValue(HaveField("Silenced", st.EventCounts["RTC_CHANGE"])))
		}).Should(Succeed())
		// A reset after the clock: once its Event is there, the clock's
		// occurrences (read before it) were handled.
		Expect(mon.Execute(ctx, "system_reset", nil, nil)).To(Succeed())
		Eventually(eventsOf(vm)).Should(ContainElement(HaveField("Reason", "Reset")))
		Expect(eventsOf(vm)()).NotTo(ContainElement(HaveField("Reason", "RTCChange")))
	})
})

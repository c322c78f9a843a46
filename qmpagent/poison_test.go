package qmpagent_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	gtypes "github.com/onsi/gomega/types"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/qmpsource"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// poisonNode is the node of the agent the poisoning specs run, with the
// controller beside it: its VMs are theirs alone.
const poisonNode = "node-poison"

// Each input that made a status the apiserver refused (issue 15: a 2 MB
// status, lists past their maxItems, strings past their maxLength),
// replayed by a hostile QMP peer through the real agent against the real
// apiserver: the status is written within its schema, what was left out is
// counted, no write is refused or retried, and a guest panic afterwards
// still lands, as a condition.
var _ = Describe("a QMP peer poisoning its VM's status", Ordered, func() {
	var writes *apiWrites

	BeforeAll(func() {
		writes = newAPIWrites()
		DeferCleanup(runAgentWith(qmpagent.Config{NodeName: poisonNode, RoutineStatusDelay: time.Second}, writes.newClient,
			func(p source.Publisher) (source.Source, error) {
				return qmpsource.New(p, qmpsource.Config{
					SocketRoots: []string{os.TempDir()}, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
					// The peers' sockets are in private temp folders; these
					// specs are about the status, not tenancy.
					Tenancy: source.Tenancy{Shared: true},
				}), nil
			}))
		DeferCleanup(startControllerFor(poisonNode))
	})

	// poisoned starts the peer, creates its VM and waits for the poison
	// to show in its status.
	poisoned := func(p poison, status gtypes.GomegaMatcher, labels ...string) (*hostileQEMU, *vmv1.VirtualMachine) {
		GinkgoHelper()
		h := startHostileQEMU(p)
		vm := createPoisonedVM(h.Path, labels...)
		Eventually(getVM(vm)).WithTimeout(5 * time.Minute).Should(And(HaveField("Monitor.State", vmv1.MonitorConnected), status))
		return h, vm
	}

	// stillWritten makes the guest panic and checks that the panic lands,
	// as status and as the condition users wait on, and that no status
	// write of the VM was refused, so none is retried: the writes stop.
	stillWritten := func(h *hostileQEMU, vm *vmv1.VirtualMachine) {
		GinkgoHelper()
		h.panicNow()
		Eventually(getVM(vm)).Should(And(
			HaveField("LastPanic.Action", "pause"),
			HaveField("RunState", vmv1.RunStatePaused), HaveField("RunStateReason", "guest-panicked")))
		Eventually(condition(vm, vmv1.ConditionGuestPanicked)).Should(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", vmv1.ReasonPause)))
		Expect(writes.of(writes.refused, vm.Name)()).To(BeZero(), "status writes the apiserver refused")
		// Nothing left to write: a window of several status intervals
		// passes without a write.
		Eventually(func(g Gomega) {
			n := writes.of(writes.status, vm.Name)()
			g.Consistently(writes.of(writes.status, vm.Name)).WithTimeout(3 * time.Second).Should(Equal(n))
		}).Should(Succeed())
		Expect(writes.of(writes.refused, vm.Name)()).To(BeZero(), "status writes the apiserver refused")
	}

	dropped := HaveField("Delivery.Dropped", BeNumerically(">=", 1))
	atMost := func(n int) gtypes.GomegaMatcher {
		return WithTransform(func(s string) int { return len(s) }, BeNumerically("<=", n))
	}

	DescribeTable("the status stays within its schema and a later panic lands",
		func(p poison, status gtypes.GomegaMatcher) {
			h, vm := poisoned(p, status)
			stillWritten(h, vm)
		},
		Entry("65 VNC clients", vncClients(65), And(
			HaveField("DisplaySessions", HaveLen(model.MaxDisplaySessions)), dropped,
			HaveField("EventCounts", And(HaveKeyWithValue("VNC_CONNECTED", BeEquivalentTo(65)), HaveKeyWithValue("VNC_INITIALIZED", BeEquivalentTo(65))))),
		),
		Entry("65 failing disks", failingDisks(65, func(i int) string { return fmt.Sprintf("drive-virtio-disk%d", i) }), And(
			HaveField("BlockErrors", HaveLen(model.MaxBlockErrors)), dropped,
			HaveField("EventCounts", HaveKeyWithValue("BLOCK_IO_ERROR", BeEquivalentTo(65)))),
		),
		Entry("9 SPICE clients with 8 channels each: 9 sessions", spiceClients(9, 8), And(
			HaveField("DisplaySessions", And(HaveLen(9), HaveEach(HaveField("Protocol", "spice")))),
			HaveField("EventCounts", HaveKeyWithValue("SPICE_INITIALIZED", BeEquivalentTo(72)))),
		),
		Entry("reset, watchdog and panic actions and a device name of 100 KiB", longStrings(100<<10), And(
			HaveField("LastReset.Reason", And(HavePrefix("reason"), atMost(64))),
			HaveField("LastWatchdog.Action", And(HavePrefix("action"), atMost(32))),
			HaveField("LastPanic.Action", And(HavePrefix("action"), atMost(32))),
			HaveField("BlockErrors", ConsistOf(HaveField("Device", And(HavePrefix("disk"), atMost(256)))))),
		),
		Entry("3,000 invented event names", inventedNames(3000), And(
			HaveField("EventCounts", And(WithTransform(func(m map[string]int64) int { return len(m) }, BeNumerically("<=", model.MaxEventNames)), HaveKey(model.OtherEvents),
				WithTransform(sum, BeEquivalentTo(3000)))), dropped),
		),
	)

	// A status refused all the same (here by a cluster's admission
	// policy, stricter than the CRD) is written without the fields the
	// refusal names, once per refusal: every later fact still lands, and
	// every refusal is counted in delivery.dropped, which the session's
	// own snapshots (each one carrying its own count) do not overwrite.
	It("writes a status the apiserver refuses without what it refuses, and counts every refusal", func() {
		refuseBlockErrors()
		h, vm := poisoned(failingDisks(1, func(int) string { return "drive-virtio-disk0" }),
			HaveField("Delivery.Dropped", BeNumerically(">=", 1)), refuseBlockErrorsLabel)
		h.panicNow()
		Eventually(getVM(vm)).Should(And(HaveField("LastPanic.Action", "pause"), HaveField("RunStateReason", "guest-panicked")))
		Eventually(condition(vm, vmv1.ConditionGuestPanicked)).Should(HaveField("Status", metav1.ConditionTrue))
		refused := writes.of(writes.refused, vm.Name)
		Expect(refused()).To(BeNumerically(">=", 2), "the poison and the panic were each refused once")
		Eventually(func(g Gomega) {
			n := refused()
			g.Expect(getVM(vm)()).To(And(
				HaveField("Delivery.Dropped", BeEquivalentTo(n)),
				HaveField("BlockErrors", BeEmpty())))
		}).Should(Succeed())
		// Each refused write was written again once, without its block
		// errors, and nothing is left to retry.
		Eventually(func(g Gomega) {
			n := writes.of(writes.status, vm.Name)()
			g.Consistently(writes.of(writes.status, vm.Name)).WithTimeout(3 * time.Second).Should(Equal(n))
		}).Should(Succeed())
	})

	It("caps a guest's _OST flood: 200,000 distinct occurrences are counted in bounded Events and writes", func() {
		const flood = 200000
		memory := sampleHeap()
		h, vm := poisoned(ostFlood(flood), HaveField("EventCounts", HaveKeyWithValue("ACPI_DEVICE_OST", BeEquivalentTo(flood))))

		// Every occurrence is in an Event's count, in at most the cap of
		// series and the one that counts what is past it.
		Eventually(agentEventsOf(vm)).WithTimeout(5 * time.Minute).Should(And(
			WithTransform(func(e []eventsv1.Event) int { return len(e) }, BeNumerically("<=", qmpagent.MaxSeriesPerObject+1)),
			WithTransform(totalCount, BeEquivalentTo(flood)),
			ContainElement(And(HaveField("Reason", qmpagent.SuppressedReason), WithTransform(seriesCount, BeNumerically(">", 0)))),
		))
		heap := memory()
		AddReportEntry("_OST flood", fmt.Sprintf("%d occurrences: %d Events (%d writes), %d status writes; %s", flood,
			len(agentEventsOf(vm)()), writes.of(writes.events, vm.Name)(), writes.of(writes.status, vm.Name)(), heap))

		// The per-VM write budget: each series is created once and
		// updated at most once per EventInterval while it grows, so the
		// Event writes stay near the number of series, not of
		// occurrences; the status, one write per StatusInterval.
		Expect(writes.of(writes.events, vm.Name)()).To(BeNumerically("<=", 4*(qmpagent.MaxSeriesPerObject+2)))
		Expect(writes.of(writes.status, vm.Name)()).To(BeNumerically("<", flood/100))
		stillWritten(h, vm)
	})
})

// createPoisonedVM creates a VM of poisonNode watching socket, deleted when
// the spec ends.
func createPoisonedVM(socket string, labels ...string) *vmv1.VirtualMachine {
	GinkgoHelper()
	vmCount++
	vm := testenv.VirtualMachine("default", fmt.Sprintf("poisoned-%d", vmCount), vmv1.VirtualMachineSpec{
		NodeName: poisonNode, QMP: &vmv1.QMPSource{SocketPath: socket},
	})
	for _, l := range labels {
		if vm.Labels == nil {
			vm.Labels = map[string]string{}
		}
		vm.Labels[l] = "true"
	}
	Expect(env.Client.Create(context.Background(), vm)).To(Succeed())
	DeferCleanup(func() { Expect(client.IgnoreNotFound(env.Client.Delete(context.Background(), vm))).To(Succeed()) })
	return vm
}

// agentEventsOf lists the Events the agent (not the controller) published
// about the VM.
func agentEventsOf(vm *vmv1.VirtualMachine) func() []eventsv1.Event {
	return func() []eventsv1.Event {
		var out []eventsv1.Event
		for _, e := range eventsOf(vm)() {
			if e.ReportingController == qmpagent.ReportingController {
				out = append(out, e)
			}
		}
		return out
	}
}

func totalCount(events []eventsv1.Event) int64 {
	var n int64
	for _, e := range events {
		n += int64(seriesCount(e))
	}
	return n
}

func sum(counts map[string]int64) int64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	return n
}

// heapUse is what sampleHeap measured.
type heapUse struct {
	before, peak, after uint64
}

func (h heapUse) String() string {
	return fmt.Sprintf("heap in use %.1f MiB before, %.1f MiB at most during (+%.1f MiB), %.1f MiB after a GC (+%.1f MiB)",
		mib(h.before), mib(h.peak), mib(h.peak)-mib(h.before), mib(h.after), mib(h.after)-mib(h.before))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// sampleHeap measures the process's heap (the agent's, with the test's QMP
// peer and clients) from now until the returned function is called. It
// is reported, not asserted: it depends on the machine and the runtime.
func sampleHeap() func() heapUse {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	use := heapUse{before: m.HeapInuse, peak: m.HeapInuse}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				use.peak = max(use.peak, m.HeapInuse)
			}
		}
	}()
	stopped := false
	end := func() heapUse {
		if !stopped {
			stopped = true
			close(stop)
			<-done
		}
		return use
	}
	DeferCleanup(end)
	return func() heapUse {
		use := end()
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		use.after = m.HeapInuse
		return use
	}
}

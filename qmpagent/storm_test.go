package qmpagent_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/qmp/qmptest"
)

// fakeQEMU answers the agent's queries like an idle, running QEMU and then
// runs script on the connection.
func fakeQEMU(script func(p *qmptest.Peer) error) *qmptest.Server {
	srv := qmptest.NewServer(suiteT)
	srv.Serve(func(p *qmptest.Peer) error {
		if err := p.Handshake(); err != nil {
			return err
		}
		replies := make(chan error, 1)
		go func() {
			replies <- p.Respond(qmptest.RunningQEMU)
		}()
		if err := script(p); err != nil {
			return err
		}
		return <-replies
	})
	return srv
}

var _ = Describe("an event storm", func() {
	It("costs a bounded number of status writes and the counters equal what was sent", func() {
		const storm = 10000
		srv := fakeQEMU(func(p *qmptest.Peer) error {
			for i := range storm {
				if err := p.Event("RTC_CHANGE", map[string]any{"offset": i}); err != nil {
					return err
				}
			}
			return p.Event("WATCHDOG", map[string]any{"action": "pause"})
		})
		before := statusWrites()
		// RTC_CHANGE is silenced by default: kept here, the storm is one
		// of Event writes too.
		vm := createVMWithPolicy(srv.Path, &vmv1.EventPolicy{Keep: []string{"RTC_CHANGE"}})

		Eventually(getVM(vm)).Should(And(
			HaveField("EventCounts", HaveKeyWithValue("RTC_CHANGE", int64(storm))),
			HaveField("EventCounts", HaveKeyWithValue("WATCHDOG", int64(1))),
			HaveField("RTCOffsetSeconds", HaveValue(Equal(int64(storm-1)))),
			HaveField("LastWatchdog.Action", Equal("pause")),
			HaveField("Monitor.State", Equal(vmv1.MonitorConnected)),
		))
		// Every write carries the newest facts, so a storm of 10,000 events
		// needs only a handful; one per hundred events is a generous bound
		// that still fails if writes stop being coalesced.
		Expect(statusWrites() - before).To(BeNumerically("<", storm/100))

		// One series for the storm with the exact count, and the fault in
		// the middle of it still has an Event of its own.
		Eventually(eventsOf(vm)).Should(ContainElements(
			And(HaveField("Reason", "RTCChange"), WithTransform(seriesCount, BeEquivalentTo(storm))),
			And(HaveField("Reason", "Watchdog"), HaveField("Type", "Warning"), HaveField("Note", "Watchdog expired; QEMU action: pause")),
		))
	})
})

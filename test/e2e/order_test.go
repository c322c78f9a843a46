package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/test/framework/qemuvm"
	"github.com/vmevents/vmevents/test/framework/stack"
)

// kubectl describe sorts a VM's Events by their core/v1 lastTimestamp, and
// kubectl get events --sort-by=.lastTimestamp by the same field: both list
// the agent's Events in the order they happened. (The spec reads the
// agent's Events only, by their source: the controller's transition Events
// are another component's.)
var _ = Describe("the order of a VM's Events", func() {
	It("is the order they happened in, in kubectl describe and kubectl get events --sort-by=.lastTimestamp", func() {
		dir, err := os.MkdirTemp("", "order")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		sc := stack.Scenario{Name: "order-1", QEMU: qemuvm.Options{Dir: dir, Name: "order-1", Paused: true, PrettyMonitor: true}}
		vm, err := sys.Boot(context.Background(), &sc)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(vm.Kill)
		DeferCleanup(kubectl, "delete", "vm", "order-1", "--wait=false")
		// What the agent says (the controller may be down after another
		// spec's apiserver outage, as a Deployment would restart it).
		Eventually(kubectlFn("get", "vm", "order-1", "-o", "jsonpath={.status.monitor.state}")).Should(Equal("Connected"))

		mon, err := qmp.Dial(context.Background(), vm.PrettyQMPPath, qmp.Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(mon.Close)
		steps := []struct{ command, event, reason string }{
			{"cont", qmp.EventResume, "Resume"},
			{"stop", qmp.EventStop, "Stop"},
			{"system_reset", qmp.EventReset, "Reset"},
			{"system_powerdown", qmp.EventPowerdown, "Powerdown"},
		}
		var last time.Time
		for _, st := range steps {
			// The deprecated timestamps kubectl sorts by hold whole seconds:
			// each event goes in a later second than the one before, or
			// two would tie.
			Eventually(func() int64 { return time.Now().Unix() }).Should(BeNumerically(">", last.Unix()))
			Expect(mon.Execute(context.Background(), st.command, nil, nil)).To(Succeed())
			Eventually(mon.Events()).Should(Receive(And(HaveField("Name", st.event), WithTransform(func(ev qmp.Event) time.Time {
				last, _ = ev.Timestamp.Time()
				return last
			}, Not(BeZero())))))
			Eventually(eventsOf("order-1", st.reason)).ShouldNot(BeEmpty())
		}
		want := []string{"Resume", "Stop", "Reset", "Powerdown"}

		Eventually(func() ([]string, error) {
			out, err := sys.Kubectl("describe", "vm", "order-1")
			return describedAgentReasons(out), err
		}).Should(Equal(want))

		Eventually(func() ([]string, error) {
			out, err := sys.Kubectl("get", "events", "--sort-by=.lastTimestamp",
				"--field-selector", "involvedObject.name=order-1,source="+qmpagent.SourceComponent,
				"-o", "custom-columns=REASON:.reason,COUNT:.count", "--no-headers")
			return firstColumn(out), err
		}).Should(Equal(want))
	})
})

// describedAgentReasons are the reasons of the agent's Events in the Events
// table of kubectl describe, in the order printed.
func describedAgentReasons(out string) []string {
	_, table, ok := strings.Cut(out, "\nEvents:")
	if !ok {
		return nil
	}
	var reasons []string
	for _, line := range strings.Split(table, "\n") {
		fields := strings.Fields(line)
		if len(fields) > 2 && slices.Contains(fields, qmpagent.SourceComponent) {
			reasons = append(reasons, fields[1])
		}
	}
	return reasons
}

// firstColumn is the first word of every line.
func firstColumn(out string) []string {
	var words []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if fields := strings.Fields(line); len(fields) > 0 {
			words = append(words, fields[0])
		}
	}
	return words
}

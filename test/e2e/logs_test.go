package e2e

import (
	"os"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/controllers"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/test/framework/logtest"
)

// The incident log (docs/logging.md), read from the real binaries' log
// files after every spec has run (top-level containers run in random order,
// so only AfterSuite is sure to come after the guest panic): web-1's panic
// is there as the agent's occurrence line and the controller's condition
// line, with the documented keys, and the lines match the Events: the
// repeats of web-1's GuestPanicked occurrence lines add up to its
// GuestPanicked Events' counts, and there is one GuestPanicked condition
// line per transition Event. Skipped when the panic spec did not run (a
// focused run).
var _ = AfterSuite(func() {
	if sys == nil || eventCount("web-1", "GuestPanicked", "vmevents.dev/agent") == 0 {
		return
	}
	By("the agent's occurrence lines for web-1's guest panic")
	Eventually(func(g Gomega) {
		lines := incidentLines(g, "agent", qmpagent.OccurrenceMessage)
		var repeats int
		for _, l := range lines {
			if l["vm"] != "web-1" || l["reason"] != "GuestPanicked" {
				continue
			}
			g.Expect(l).To(HaveKeyWithValue("namespace", "default"))
			g.Expect(l).To(HaveKeyWithValue("kind", "VirtualMachine"))
			g.Expect(l).To(HaveKeyWithValue("node", sys.Node))
			g.Expect(l).To(HaveKeyWithValue("source", vmv1.SourceQMP))
			g.Expect(l).To(HaveKeyWithValue("type", "Warning"))
			g.Expect(l).To(HaveKeyWithValue("action", "GUEST_PANICKED"))
			g.Expect(l).To(HaveKeyWithValue("data", ContainSubstring("Guest panicked; QEMU action: pause")))
			g.Expect(l).To(HaveKeyWithValue("qemuTime", MatchRegexp(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)))
			g.Expect(l).To(HaveKey("coalesced"))
			repeats += int(l["repeat"].(float64))
		}
		g.Expect(repeats).To(Equal(eventCount("web-1", "GuestPanicked", "vmevents.dev/agent")))
	}).Should(Succeed())

	By("the controller's condition lines for web-1's GuestPanicked flips")
	Eventually(func(g Gomega) {
		lines := incidentLines(g, "controller", controllers.ConditionMessage)
		flips, entered := 0, false
		for _, l := range lines {
			if l["vm"] != "web-1" || l["condition"] != vmv1.ConditionGuestPanicked {
				continue
			}
			flips++
			g.Expect(l).To(HaveKeyWithValue("namespace", "default"))
			g.Expect(l).To(HaveKeyWithValue("node", sys.Node))
			g.Expect(l).To(HaveKeyWithValue("lastTransitionTime", MatchRegexp(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)))
			g.Expect(l).To(HaveKeyWithValue("message", HavePrefix("GuestPanicked is "+l["status"].(string))))
			if l["status"] == "True" {
				entered = true
				g.Expect(l).To(HaveKeyWithValue("type", "Warning"))
				// The reason is QEMU's action on the panic (Pause, ...).
				g.Expect(l).To(HaveKeyWithValue("reason", Not(BeEmpty())))
				g.Expect(l).To(HaveKeyWithValue("message", ContainSubstring("the guest panicked")))
			}
		}
		g.Expect(entered).To(BeTrue(), "no GuestPanicked True line")
		g.Expect(flips).To(Equal(eventCount("web-1", "GuestPanickedTrue", controllers.ReportingController) +
			eventCount("web-1", "GuestPanickedFalse", controllers.ReportingController)))
	}).Should(Succeed())
})

// incidentLines parses a component's log file for its incident lines.
func incidentLines(g Gomega, component, msg string) []map[string]any {
	data, err := os.ReadFile(sys.LogFile(component))
	g.Expect(err).NotTo(HaveOccurred())
	// The file also holds what the process printed before its logger
	// was set up, and Go's own crash output: not JSON, skipped.
	lines, err := logtest.Lines(data, qmpagent.IncidentLogger, msg, true)
	g.Expect(err).NotTo(HaveOccurred())
	return lines
}

// eventCount is the sum of the counts of the Events about vm with reason
// that controller reported.
func eventCount(vm, reason, controller string) int {
	GinkgoHelper()
	out := kubectl("get", "events", "--field-selector", "involvedObject.name="+vm+",reason="+reason+",reportingComponent="+controller,
		"-o", `jsonpath={range .items[*]}{.count}{"\n"}{end}`)
	total := 0
	for _, f := range strings.Fields(out) {
		n, err := strconv.Atoi(f)
		Expect(err).NotTo(HaveOccurred())
		total += max(n, 1)
	}
	return total
}

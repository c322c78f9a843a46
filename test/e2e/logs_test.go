package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
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
// so only AfterSuite is sure to come after the scenario), and matched with
// the Events of every VM and reason:
//   - the agent's occurrence lines: for each (VM, reason, type) the agent
//     made Events for, the repeats of its lines add up to its Events'
//     counts, and each Event's note is the data of one of them;
//   - the controller's condition lines: one per transition Event, for each
//     (VM, condition, status), with the Event's note as its message;
//   - the controller's remediation lines: one per remediation Event, for
//     each (VM, reason, type), with the Event's note as its message.
//
// Both sides are written asynchronously (a line goes out as the occurrence
// is handed to the Event writer; an Event's count grows as the writer
// catches up), so they are compared until they agree.
var _ = AfterSuite(func() {
	if sys == nil {
		return
	}
	// When the scenario ran (not a focused run), every VM of it is
	// in the comparison, on both sides.
	panics, err := occurrencesOf("web-1", "GuestPanicked")()
	Expect(err).NotTo(HaveOccurred())
	scenarioRan := panics > 0

	By("the agent's occurrence lines, against the agent's Events")
	matchLines("agent", qmpagent.OccurrenceMessage, agentEvents, func(g Gomega, l map[string]any) (incidentKey, int, string, bool) {
		if l["silenced"] == true {
			return incidentKey{}, 0, "", false // logged, counted in status, but by policy no Event
		}
		g.Expect(l).To(HaveKey("coalesced"))
		g.Expect(l).To(HaveKeyWithValue("node", sys.Node))
		g.Expect(l).To(HaveKeyWithValue("qemuTime", MatchRegexp(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)))
		g.Expect(l).To(HaveKeyWithValue("source", BeElementOf(vmv1.SourceQMP, vmv1.SourceLibvirt, vmv1.SourceLXD)))
		g.Expect(l).To(HaveKeyWithValue("action", Not(BeEmpty())))
		name := str(l["vm"])
		if l["kind"] == "Node" {
			name = str(l["node"])
		}
		return incidentKey{str(l["kind"]), str(l["namespace"]), name, str(l["reason"]), str(l["type"])}, int(l["repeat"].(float64)), str(l["data"]), true
	}, func(g Gomega, events map[incidentKey]*tally) {
		for _, sc := range scenarios {
			g.Expect(slices.ContainsFunc(keys(events), func(k incidentKey) bool { return k.name == sc.Name && k.typ == "Warning" })).
				To(BeTrue(), "no Warning Event from the agent about %s", sc.Name)
		}
	}, scenarioRan)

	By("the controller's condition lines, against its transition Events")
	matchLines("controller", controllers.ConditionMessage, transitionEvents, func(g Gomega, l map[string]any) (incidentKey, int, string, bool) {
		g.Expect(l).To(HaveKeyWithValue("node", sys.Node))
		g.Expect(l).To(HaveKeyWithValue("lastTransitionTime", MatchRegexp(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)))
		g.Expect(l).To(HaveKeyWithValue("status", BeElementOf("True", "False", "Unknown")))
		g.Expect(l).To(HaveKeyWithValue("reason", Not(BeEmpty())))
		g.Expect(l).To(HaveKeyWithValue("message", HavePrefix(str(l["condition"])+" is "+str(l["status"])+" ("+str(l["reason"])+")")))
		return incidentKey{"VirtualMachine", str(l["namespace"]), str(l["vm"]), str(l["condition"]) + "=" + str(l["status"]), str(l["type"])}, 1, str(l["message"]), true
	}, func(g Gomega, events map[incidentKey]*tally) {
		for _, sc := range scenarios {
			g.Expect(events).To(HaveKey(incidentKey{"VirtualMachine", "default", sc.Name, sc.Condition + "=True", "Warning"}),
				"no %s=True transition Event about %s", sc.Condition, sc.Name)
		}
	}, scenarioRan)

	By("the controller's remediation lines, against its remediation Events")
	// None in a focused run that leaves remediation out: an empty match.
	matchLines("controller", controllers.RemediationMessage, remediationEvents, func(g Gomega, l map[string]any) (incidentKey, int, string, bool) {
		g.Expect(l).To(HaveKeyWithValue("node", sys.Node))
		g.Expect(l).To(HaveKeyWithValue("attempt", BeNumerically(">", 0)))
		g.Expect(l).To(HaveKeyWithValue("fault", Not(BeEmpty())))
		return incidentKey{"VirtualMachine", str(l["namespace"]), str(l["vm"]), str(l["reason"]), str(l["type"])}, 1, str(l["message"]), true
	}, nil, false)
})

// matchLines compares, until they agree, a component's incident lines with
// message msg against the Events listed by events: line checks one line
// and says what it counts (its key, how many occurrences, its note), or
// that it counts for no Event; scenario, when the scenario ran, checks
// that the Events cover it. An empty match is one when no scenario ran.
func matchLines(component, msg string, events func(Gomega) map[incidentKey]*tally,
	line func(Gomega, map[string]any) (incidentKey, int, string, bool),
	scenario func(Gomega, map[incidentKey]*tally), scenarioRan bool) {
	GinkgoHelper()
	var matched map[incidentKey]*tally
	Eventually(func(g Gomega) {
		evs := events(g)
		matched = evs
		lines := map[incidentKey]*tally{}
		for _, l := range incidentLines(g, component, msg) {
			if k, n, note, ok := line(g, l); ok {
				add(lines, k, n, note)
			}
		}
		if len(evs) == 0 && len(lines) == 0 && !scenarioRan {
			return
		}
		compare(g, evs, lines)
		if scenarioRan && scenario != nil {
			scenario(g, evs)
		}
	}).Should(Succeed())
	report(component+" "+msg, matched)
}

// incidentKey is what an Event and an incident line are matched on: the
// object (kind, namespace, name), the reason (for the controller, the
// condition and its new status) and the type.
type incidentKey struct{ kind, namespace, name, reason, typ string }

// tally is, for one incidentKey, how many occurrences (or flips) there are
// and the notes they say.
type tally struct {
	count int
	notes []string
}

// add counts n occurrences saying note under k.
func add(m map[incidentKey]*tally, k incidentKey, n int, note string) {
	t := m[k]
	if t == nil {
		t = &tally{}
		m[k] = t
	}
	t.count += n
	if !slices.Contains(t.notes, note) {
		t.notes = append(t.notes, note)
	}
}

// compare fails g unless events and lines have the same keys, with the
// same counts, and every note of an Event is the note of a line; it names
// each key that differs.
func compare(g Gomega, events, lines map[incidentKey]*tally) {
	g.Expect(events).NotTo(BeEmpty(), "no Events")
	var differ []string
	for _, k := range keys(events, lines) {
		e, l := events[k], lines[k]
		switch {
		case e == nil:
			differ = append(differ, fmt.Sprintf("%s: %d in lines, no Event", k, l.count))
		case l == nil:
			differ = append(differ, fmt.Sprintf("%s: no line, %d in Events", k, e.count))
		case e.count != l.count:
			differ = append(differ, fmt.Sprintf("%s: %d in lines, %d in Events", k, l.count, e.count))
		}
	}
	g.Expect(differ).To(BeEmpty(), "occurrences by incident, in the log lines and in the Events")
	for k, t := range events {
		for _, n := range t.notes {
			g.Expect(lines[k].notes).To(ContainElement(n), "%s: the Event's note in no line", k)
		}
	}
}

// String is k as the failures and the report print it.
func (k incidentKey) String() string {
	return fmt.Sprintf("%s %s/%s %s %s", k.kind, k.namespace, k.name, k.reason, k.typ)
}

// report writes what was matched, for a reader of the suite's output.
func report(component string, m map[incidentKey]*tally) {
	ks := keys(m)
	fmt.Fprintf(GinkgoWriter, "%s: the incident lines match the Events for %d (object, reason, type):\n", component, len(ks))
	for _, k := range ks {
		fmt.Fprintf(GinkgoWriter, "  %s: %d\n", k, m[k].count)
	}
}

// keys are the keys of ms, sorted.
func keys(ms ...map[incidentKey]*tally) []incidentKey {
	var out []incidentKey
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.SortFunc(out, func(a, b incidentKey) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// eventList is what the tests read of `kubectl get events.events.k8s.io -o
// json`.
type eventList struct {
	Items []struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Regarding struct {
			Kind      string `json:"kind"`
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"regarding"`
		Reason              string `json:"reason"`
		Type                string `json:"type"`
		Note                string `json:"note"`
		ReportingController string `json:"reportingController"`
		DeprecatedCount     int    `json:"deprecatedCount"`
		Series              *struct {
			Count int `json:"count"`
		} `json:"series"`
	} `json:"items"`
}

// events lists every Event of the cluster that controller reported, keyed
// by key, each counting the occurrences it stands for: its series' count,
// or its deprecated count (the controller's core/v1 Events), or one.
func events(g Gomega, controller string, key func(reason string, labels map[string]string) string) map[incidentKey]*tally {
	out, err := sys.Kubectl("get", "events.events.k8s.io", "-A", "-o", "json")
	g.Expect(err).NotTo(HaveOccurred(), out)
	var list eventList
	g.Expect(json.Unmarshal([]byte(out), &list)).To(Succeed())
	m := map[incidentKey]*tally{}
	for _, e := range list.Items {
		if e.ReportingController != controller {
			continue
		}
		n := max(1, e.DeprecatedCount)
		if e.Series != nil {
			n = e.Series.Count
		}
		reason := key(e.Reason, e.Metadata.Labels)
		if reason == "" {
			continue // another kind of the controller's Events
		}
		k := incidentKey{e.Regarding.Kind, e.Regarding.Namespace, e.Regarding.Name, reason, e.Type}
		add(m, k, n, e.Note)
	}
	return m
}

// agentEvents are the agent's Events, by reason.
func agentEvents(g Gomega) map[incidentKey]*tally {
	return events(g, qmpagent.ReportingController, func(reason string, _ map[string]string) string { return reason })
}

// transitionEvents are the controller's transition Events, by condition and
// status (their labels).
func transitionEvents(g Gomega) map[incidentKey]*tally {
	return events(g, controllers.ReportingController, func(_ string, labels map[string]string) string {
		if labels[controllers.LabelConditionType] == "" {
			return ""
		}
		return labels[controllers.LabelConditionType] + "=" + labels[controllers.LabelConditionStatus]
	})
}

// remediationEvents are the controller's remediation Events, by reason.
func remediationEvents(g Gomega) map[incidentKey]*tally {
	return events(g, controllers.ReportingController, func(reason string, labels map[string]string) string {
		if labels[controllers.LabelRemediationAttempt] == "" {
			return ""
		}
		return reason
	})
}

// str is a line's string value, "" when absent or not a string.
func str(v any) string {
	s, _ := v.(string)
	return s
}

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

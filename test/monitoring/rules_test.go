package monitoring_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/vmevents/vmevents/test/framework/testenv"
	"github.com/vmevents/vmevents/test/monitoring"
)

var (
	component = filepath.Join(testenv.RepoRoot(), "config", "components", "prometheus")
	runbooks  = filepath.Join(testenv.RepoRoot(), "docs", "runbooks.md")
)

// rulesFileName is the name the tests' rule_files give the extracted spec.
const rulesFileName = "vmevents.rules.yaml"

func readRules(t *testing.T) monitoring.RuleSpec {
	t.Helper()
	spec, err := monitoring.ReadPrometheusRule(filepath.Join(component, "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func alerts(spec monitoring.RuleSpec) []monitoring.Rule {
	var out []monitoring.Rule
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// promtool is the binary the rule tests run: $PROMTOOL, which `make test`
// sets from hack/promtool.sh. Skipped only under -short.
func promtool(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: promtool check/test rules not run (they need PROMTOOL, the binary hack/promtool.sh builds)")
	}
	p := os.Getenv("PROMTOOL")
	if p == "" {
		t.Fatal("PROMTOOL is not set: run `make test`, or PROMTOOL=$(hack/promtool.sh) go test ./test/monitoring/")
	}
	return p
}

// ruleDir is a temporary folder holding the rules, extracted from the
// PrometheusRule, and a copy of every test file, side by side as their
// rule_files expect; it returns the folder and the test files' names.
func ruleDir(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := monitoring.WriteRulesFile(readRules(t), dir, rulesFileName); err != nil {
		t.Fatal(err)
	}
	tests, err := filepath.Glob(filepath.Join(component, "tests", "*.yaml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests under %s/tests (%v)", component, err)
	}
	var names []string
	for _, f := range tests {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(f))
	}
	return dir, names
}

func run(t *testing.T, dir string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	t.Logf("%s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), out)
}

func TestPromtoolCheckRules(t *testing.T) {
	bin := promtool(t)
	dir, _ := ruleDir(t)
	run(t, dir, bin, "check", "rules", rulesFileName)
}

func TestPromtoolTestRules(t *testing.T) {
	bin := promtool(t)
	dir, tests := ruleDir(t)
	for _, f := range tests {
		t.Run(f, func(t *testing.T) { run(t, dir, bin, "test", "rules", f) })
	}
}

// ruleTests is the part of a promtool test file this test reads.
type ruleTests struct {
	Tests []struct {
		Name          string `json:"name"`
		AlertRuleTest []struct {
			Alertname string           `json:"alertname"`
			ExpAlerts []map[string]any `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// TestEveryAlertIsTestedBothWays: each alert has a promtool case where it
// fires and one where it does not.
func TestEveryAlertIsTestedBothWays(t *testing.T) {
	fires, silent := map[string]bool{}, map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(component, "tests", "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rt ruleTests
		if err := yaml.Unmarshal(data, &rt); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range rt.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname] = true
				} else {
					silent[a.Alertname] = true
				}
			}
		}
	}
	for _, a := range alerts(readRules(t)) {
		if !fires[a.Alert] {
			t.Errorf("alert %s: no rule test where it fires", a.Alert)
		}
		if !silent[a.Alert] {
			t.Errorf("alert %s: no rule test where it does not fire", a.Alert)
		}
	}
}

// runbookAnchor is the GitHub anchor of a "## Heading" of docs/runbooks.md.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(runbooks)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	nonWord := regexp.MustCompile(`[^a-z0-9 -]`)
	for _, line := range strings.Split(string(data), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			anchors[strings.ReplaceAll(nonWord.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	return anchors
}

// TestAlertsAreReadable: what an on-call reader gets with each alert.
func TestAlertsAreReadable(t *testing.T) {
	anchors := runbookAnchors(t)
	severities := map[string]bool{"critical": true, "warning": true, "info": true}
	const runbookURL = "https://github.com/vmevents/vmevents/blob/main/docs/runbooks.md#"
	for _, a := range alerts(readRules(t)) {
		t.Run(a.Alert, func(t *testing.T) {
			if !severities[a.Labels["severity"]] {
				t.Errorf("severity %q, want critical, warning or info", a.Labels["severity"])
			}
			for _, k := range []string{"summary", "description"} {
				if a.Annotations[k] == "" {
					t.Errorf("no %s", k)
				}
			}
			// The VM alerts name the VM; the agents' alerts their node.
			if strings.Contains(a.Expr, "vmevents_virtualmachine_condition") &&
				!(strings.Contains(a.Annotations["description"], "$labels.namespace") && strings.Contains(a.Annotations["description"], "$labels.name")) {
				t.Errorf("the description does not name the VM's namespace and name: %q", a.Annotations["description"])
			}
			anchor, ok := strings.CutPrefix(a.Annotations["runbook_url"], runbookURL)
			switch {
			case !ok:
				t.Errorf("runbook_url %q is not a section of %s", a.Annotations["runbook_url"], runbookURL)
			case !anchors[anchor]:
				t.Errorf("docs/runbooks.md has no section #%s", anchor)
			case anchor != strings.ToLower(a.Alert):
				t.Errorf("runbook_url points at #%s, not the alert's own section", anchor)
			}
		})
	}
}

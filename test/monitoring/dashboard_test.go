package monitoring_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	// Imported for their metrics: both register them with
	// controller-runtime's registry when loaded, as in the binary.
	_ "github.com/vmevents/vmevents/controllers"
	_ "github.com/vmevents/vmevents/qmpagent/metrics"

	"github.com/vmevents/vmevents/test/monitoring"
)

var dashboard = filepath.Join(component, "dashboards", "vmevents-fleet.json")

// panelQuery is one query of a dashboard panel.
type panelQuery struct {
	Panel string
	Expr  string
}

// dashboardQueries reads every panel's queries, in rows too.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	data, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct{ Name, Type, Query string } `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type, Query string }) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Errorf("no Prometheus datasource variable named datasource")
	}
	var out []panelQuery
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			out = append(out, panelQuery{p.Title, q.Expr})
		}
	}
	if len(out) == 0 {
		t.Fatal("no queries in the dashboard")
	}
	return out
}

// grafanaVars are Grafana's variables the dashboard uses, with the values
// promtool is given in their place.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// TestDashboardQueriesParse: promtool check rules parses each panel's query
// as a recording rule's expression (promtool has no parse-only command).
func TestDashboardQueriesParse(t *testing.T) {
	bin := promtool(t)
	var spec monitoring.RuleSpec
	g := monitoring.RuleGroup{Name: "dashboard"}
	for i, q := range dashboardQueries(t) {
		expr := grafanaVars.Replace(q.Expr)
		if strings.Contains(expr, "$") {
			t.Errorf("panel %q: a Grafana variable this test does not know: %s", q.Panel, q.Expr)
		}
		g.Rules = append(g.Rules, monitoring.Rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: expr})
	}
	spec.Groups = []monitoring.RuleGroup{g}
	dir := t.TempDir()
	if _, err := monitoring.WriteRulesFile(spec, dir, "dashboard.rules.yaml"); err != nil {
		t.Fatal(err)
	}
	run(t, dir, bin, "check", "rules", "dashboard.rules.yaml")
}

// exportedMetrics are the names of every series the binaries' registry
// serves: each metric's name, and a histogram's _bucket, _sum and _count
// (Describe gives every metric, those with no series yet included; Gather
// would miss a vector nothing has been counted in).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg, ok := crmetrics.Registry.(prometheus.Collector)
	if !ok {
		t.Fatalf("controller-runtime's registry is a %T, not a Collector", crmetrics.Registry)
	}
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("no name in %s", d)
		}
		names[m[1]] = true
	}
	return names
}

// exported says whether name is served, allowing a histogram's or
// summary's series suffixes on an exported name.
func exported(names map[string]bool, name string) bool {
	if names[name] {
		return true
	}
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, s); ok && names[base] {
			return true
		}
	}
	return false
}

// promqlWords are the functions, aggregations and keywords the dashboard's
// queries may use; any other word outside label matchers is a metric name.
var promqlWords = map[string]bool{
	"sum": true, "max": true, "min": true, "avg": true, "count": true, "topk": true, "bottomk": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "histogram_quantile": true, "time": true,
	"clamp_min": true, "clamp_max": true, "abs": true, "vector": true, "label_replace": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
}

var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlWordRegex = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// metricNames are the metric names in expr: its words once strings, label
// matchers, ranges and grouping label lists are taken out, less PromQL's
// own words. A function this list does not know shows up as an unknown
// metric: the test errs on the side of failing.
func metricNames(expr string) []string {
	expr = promqlStrings.ReplaceAllString(expr, `""`)
	expr = promqlMatchers.ReplaceAllString(expr, " ")
	expr = promqlRanges.ReplaceAllString(expr, " ")
	expr = promqlGrouping.ReplaceAllString(expr, " ")
	var out []string
	for _, w := range promqlWordRegex.FindAllString(expr, -1) {
		if !promqlWords[w] {
			out = append(out, w)
		}
	}
	return out
}

func TestMetricNames(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`sum by (type, status) (rate(a_total{x="b c", y=~"d|e"}[5m]))`, []string{"a_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))`, []string{"h_bucket"}},
		{`x{a="1"} == 1 or on (n) y - z`, []string{"x", "y", "z"}},
		{`max(workqueue_depth)`, []string{"workqueue_depth"}},
	}
	for _, tc := range cases {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%s) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// TestDashboardNamesExportedMetrics: every metric a panel queries is one
// the agent or the controller exports, so no panel stays empty for a
// misspelt or renamed metric.
func TestDashboardNamesExportedMetrics(t *testing.T) {
	names := exportedMetrics(t)
	for _, q := range dashboardQueries(t) {
		used := metricNames(q.Expr)
		if len(used) == 0 {
			t.Errorf("panel %q: no metric in %s", q.Panel, q.Expr)
		}
		for _, m := range used {
			if !exported(names, m) {
				t.Errorf("panel %q: %s is not a metric the binaries export (query %s)", q.Panel, m, q.Expr)
			}
		}
	}
}

var _ = Describe("The Grafana dashboard in the prometheus component", func() {
	It("is a ConfigMap the Grafana sidecar loads (grafana_dashboard=1), holding the dashboard file as it is", func() {
		file, err := os.ReadFile(dashboard)
		Expect(err).NotTo(HaveOccurred())
		objs := build()
		createNamespaces(objs)
		for _, o := range objs {
			if o.GetKind() != "ConfigMap" || o.GetLabels()["grafana_dashboard"] != "1" {
				continue
			}
			data, _, _ := unstructured.NestedString(o.Object, "data", "vmevents-fleet.json")
			Expect(data).To(Equal(string(file)))
			Expect(dryRunApply(o)).To(Succeed())
			return
		}
		Fail("no ConfigMap labelled grafana_dashboard=1 in the build")
	})
})

package monitoring_test

import (
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

var dashboard = filepath.Join(component, monitoring.DashboardFile)

// dashboardQueries reads every panel's queries, and fails t for a panel
// without one or a dashboard without a Prometheus datasource variable.
func dashboardQueries(t *testing.T) []monitoring.PanelQuery {
	t.Helper()
	d, err := monitoring.ReadDashboard(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(d.Variables, monitoring.Variable{Name: "datasource", Type: "datasource", Query: "prometheus"}) {
		t.Errorf("no Prometheus datasource variable named datasource")
	}
	for _, p := range d.Unqueried {
		t.Errorf("panel %q has no query", p)
	}
	if len(d.Queries) == 0 {
		t.Fatal("no queries in the dashboard")
	}
	return d.Queries
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

func TestMetricNames(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`sum by (type, status) (rate(a_total{x="b c", y=~"d|e"}[5m]))`, []string{"a_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))`, []string{"h_bucket"}},
		{`x{a="1"} == 1 or on (n) y - z`, []string{"x", "y", "z"}},
		{`max(workqueue_depth)`, []string{"workqueue_depth"}},
		{`m_total > 1e3 and n > 0.5`, []string{"m_total", "n"}},
	}
	for _, tc := range cases {
		if got := monitoring.MetricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("MetricNames(%s) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// TestNamedMetricsAreRegistered: every metric an alert or a panel queries
// is one the agent or the controller registers, so no alert or panel waits
// on a misspelt or renamed metric. This is the quick check against the
// registry; the cluster suite (test/e2e/cluster) checks the same names
// against what Prometheus scraped from the running binaries.
func TestNamedMetricsAreRegistered(t *testing.T) {
	names := exportedMetrics(t)
	for _, q := range dashboardQueries(t) {
		if len(monitoring.MetricNames(q.Expr)) == 0 {
			t.Errorf("panel %q: no metric in %s", q.Panel, q.Expr)
		}
	}
	d, err := monitoring.ReadDashboard(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	for m, where := range monitoring.NamedMetrics(readRules(t), d) {
		if !exported(names, m) {
			t.Errorf("%s is not a metric the binaries register; used by %v", m, where)
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

package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
)

// DashboardFile is the Grafana dashboard's file, under the component.
const DashboardFile = "dashboards/vmevents-fleet.json"

// PanelQuery is one query of a dashboard panel.
type PanelQuery struct {
	Panel string
	Expr  string
}

// Variable is one of a dashboard's templating variables.
type Variable struct{ Name, Type, Query string }

// Dashboard is what the tests read of a Grafana dashboard.
type Dashboard struct {
	// Queries are every panel's queries, those of panels inside
	// collapsed rows too.
	Queries []PanelQuery
	// Unqueried are the titles of the panels (rows aside) that have no
	// query: they would stay empty.
	Unqueried []string
	Variables []Variable
}

// panel is a dashboard panel as Grafana writes it; a collapsed row holds
// its panels.
type panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// ReadDashboard reads the Grafana dashboard in file.
func ReadDashboard(file string) (Dashboard, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return Dashboard{}, err
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []Variable `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return Dashboard{}, fmt.Errorf("%s: %w", file, err)
	}
	out := Dashboard{Variables: d.Templating.List}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				out.Unqueried = append(out.Unqueried, p.Title)
			}
			for _, q := range p.Targets {
				out.Queries = append(out.Queries, PanelQuery{p.Title, q.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}

// promqlWords are the functions, aggregations and keywords the rules' and
// the dashboard's queries may use; any other word outside label matchers
// is a metric name.
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
	promqlNumbers   = regexp.MustCompile(`\b\d+(\.\d+)?([eE][+-]?\d+)?[smhdwy]?\b`)
)

// MetricNames are the metric names in expr: its words once strings, label
// matchers, ranges, numbers and grouping label lists are taken out, less
// PromQL's own words. A function this list does not know shows up as an
// unknown metric: the tests err on the side of failing.
func MetricNames(expr string) []string {
	expr = promqlStrings.ReplaceAllString(expr, `""`)
	expr = promqlMatchers.ReplaceAllString(expr, " ")
	expr = promqlRanges.ReplaceAllString(expr, " ")
	expr = promqlGrouping.ReplaceAllString(expr, " ")
	expr = promqlNumbers.ReplaceAllString(expr, " ")
	var out []string
	for _, w := range promqlWordRegex.FindAllString(expr, -1) {
		if !promqlWords[w] {
			out = append(out, w)
		}
	}
	return out
}

// NamedMetrics are the metric names the rules and the dashboard query,
// each with where it is used (an alert or record, a panel), sorted.
func NamedMetrics(rules RuleSpec, dash Dashboard) map[string][]string {
	out := map[string][]string{}
	add := func(expr, where string) {
		for _, m := range MetricNames(expr) {
			if !slices.Contains(out[m], where) {
				out[m] = append(out[m], where)
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			add(r.Expr, "rule "+r.Alert+r.Record)
		}
	}
	for _, q := range dash.Queries {
		add(q.Expr, "panel "+q.Panel)
	}
	for _, w := range out {
		slices.Sort(w)
	}
	return out
}

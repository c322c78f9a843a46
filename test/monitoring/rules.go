package monitoring

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// Rule is one rule of the PrometheusRule: an alerting rule (Alert), or a
// recording rule (Record), as the dashboard's test writes its queries.
type Rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RuleGroup is one group of the PrometheusRule.
type RuleGroup struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// RuleSpec is a PrometheusRule's spec, which is also the format of a
// Prometheus rules file (what promtool reads).
type RuleSpec struct {
	Groups []RuleGroup `json:"groups"`
}

// ReadPrometheusRule reads the spec of the PrometheusRule in file.
func ReadPrometheusRule(file string) (RuleSpec, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return RuleSpec{}, err
	}
	// Strict: a misspelt key (anotations, for in the wrong place) is an
	// error here rather than a rule that silently lacks it.
	var obj struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       RuleSpec       `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(data, &obj); err != nil {
		return RuleSpec{}, fmt.Errorf("%s: %w", file, err)
	}
	if obj.Kind != "PrometheusRule" {
		return RuleSpec{}, fmt.Errorf("%s: kind %q, want PrometheusRule", file, obj.Kind)
	}
	return obj.Spec, nil
}

// WriteRulesFile writes spec as a plain Prometheus rules file named name in
// dir, and returns its path. The rule files Prometheus and promtool read
// are exactly a PrometheusRule's spec; the operator does the same.
func WriteRulesFile(spec RuleSpec, dir, name string) (string, error) {
	data, err := yaml.Marshal(spec)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, data, 0o644)
}

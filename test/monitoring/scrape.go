package monitoring

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"

	"sigs.k8s.io/yaml"
)

// ServiceMonitor is what a monitoring.coreos.com/v1 ServiceMonitor of the
// component says about scraping. Only the fields the component uses are
// known: reading is strict, so a field added to servicemonitors.yaml that
// ScrapeConfigs does not translate is an error, not a setting the cluster
// suite's Prometheus silently lacks.
type ServiceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Endpoints []Endpoint `json:"endpoints"`
	} `json:"spec"`
}

// Endpoint is one endpoint of a ServiceMonitor.
type Endpoint struct {
	Port            string `json:"port"`
	Path            string `json:"path,omitempty"`
	Scheme          string `json:"scheme,omitempty"`
	Interval        string `json:"interval,omitempty"`
	BearerTokenFile string `json:"bearerTokenFile,omitempty"`
	HonorLabels     bool   `json:"honorLabels,omitempty"`
	TLSConfig       *struct {
		InsecureSkipVerify bool `json:"insecureSkipVerify"`
	} `json:"tlsConfig,omitempty"`
	Relabelings []struct {
		SourceLabels []string `json:"sourceLabels"`
		TargetLabel  string   `json:"targetLabel"`
	} `json:"relabelings,omitempty"`
}

// ReadServiceMonitors reads the ServiceMonitors of a multi-document file.
func ReadServiceMonitors(file string) ([]ServiceMonitor, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var sms []ServiceMonitor
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var sm ServiceMonitor
		if err := yaml.UnmarshalStrict(doc, &sm); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if sm.Kind != "ServiceMonitor" {
			return nil, fmt.Errorf("%s: kind %q, want ServiceMonitor", file, sm.Kind)
		}
		sms = append(sms, sm)
	}
	return sms, nil
}

// Scrape is what a Prometheus outside the cluster's pods needs to scrape
// as a ServiceMonitor says a Prometheus in it would.
type Scrape struct {
	// Interval replaces the endpoints' intervals (a test waits for
	// scrapes; a user's Prometheus uses the ServiceMonitor's).
	Interval string
	// Kubeconfig is what service discovery lists EndpointSlices with.
	Kubeconfig string
	// TokenFile holds the token the endpoints' bearerTokenFile would (the
	// path a pod has its service account token at).
	TokenFile string
}

// ScrapeConfigs translates ServiceMonitors into Prometheus scrape_configs
// the way the Prometheus Operator does for the parts they use: discovery
// of the selected Services' endpoints in the ServiceMonitor's namespace,
// the named port only, namespace/pod/service/job target labels, then the
// endpoint's own relabelings, scheme, path, TLS, token and honor_labels.
func ScrapeConfigs(sms []ServiceMonitor, s Scrape) []map[string]any {
	var out []map[string]any
	for _, sm := range sms {
		for i, ep := range sm.Spec.Endpoints {
			var relabel []map[string]any
			keys := make([]string, 0, len(sm.Spec.Selector.MatchLabels))
			for k := range sm.Spec.Selector.MatchLabels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				relabel = append(relabel, map[string]any{"action": "keep",
					"source_labels": []string{"__meta_kubernetes_service_label_" + labelName(k)},
					"regex":         regexp.QuoteMeta(sm.Spec.Selector.MatchLabels[k])})
			}
			relabel = append(relabel,
				map[string]any{"action": "keep", "source_labels": []string{"__meta_kubernetes_endpointslice_port_name"}, "regex": regexp.QuoteMeta(ep.Port)},
				map[string]any{"source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
				map[string]any{"source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
				map[string]any{"source_labels": []string{"__meta_kubernetes_service_name"}, "target_label": "service"},
				map[string]any{"source_labels": []string{"__meta_kubernetes_service_name"}, "target_label": "job"},
				map[string]any{"target_label": "endpoint", "replacement": ep.Port},
			)
			for _, r := range ep.Relabelings {
				relabel = append(relabel, map[string]any{"source_labels": r.SourceLabels, "target_label": r.TargetLabel})
			}
			c := map[string]any{
				"job_name":        fmt.Sprintf("serviceMonitor/%s/%s/%d", sm.Metadata.Namespace, sm.Metadata.Name, i),
				"honor_labels":    ep.HonorLabels,
				"scrape_interval": s.Interval,
				"metrics_path":    orDefault(ep.Path, "/metrics"),
				"scheme":          orDefault(ep.Scheme, "http"),
				"kubernetes_sd_configs": []map[string]any{{
					"role":            "endpointslice",
					"kubeconfig_file": s.Kubeconfig,
					"namespaces":      map[string]any{"names": []string{sm.Metadata.Namespace}},
				}},
				"relabel_configs": relabel,
			}
			if ep.BearerTokenFile != "" {
				c["authorization"] = map[string]any{"type": "Bearer", "credentials_file": s.TokenFile}
			}
			if ep.TLSConfig != nil {
				c["tls_config"] = map[string]any{"insecure_skip_verify": ep.TLSConfig.InsecureSkipVerify}
			}
			out = append(out, c)
		}
	}
	return out
}

// labelName is a Kubernetes label key as Prometheus's service discovery
// names it in a meta label.
func labelName(k string) string {
	return regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(k, "_")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

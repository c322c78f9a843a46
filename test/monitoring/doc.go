// Package monitoring tests the Prometheus integration of
// config/components/prometheus: the alerting rules (promtool check rules
// and promtool test rules on tests/*.yaml), that every alert carries what
// an on-call reader needs (summary, description, severity, a runbook
// section that exists), and the Grafana dashboard. It also holds what the
// cluster suite (test/e2e/cluster) runs a real Prometheus with: the rules
// file, the ServiceMonitors' scrape configs, and the metric names the rules
// and the dashboard query (NamedMetrics), which that suite compares with
// what Prometheus scraped from the binaries.
package monitoring

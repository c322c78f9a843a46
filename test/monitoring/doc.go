// Package monitoring tests the Prometheus integration of
// config/components/prometheus: the alerting rules (promtool check rules
// and promtool test rules on tests/*.yaml), and that every alert carries
// what an on-call reader needs (summary, description, severity, a runbook
// section that exists).
package monitoring

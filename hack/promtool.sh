#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit-test runner) from
# the Go module proxy, cached, and prints its path. The rule tests of
# config/components/prometheus run it (PROMTOOL). See hack/prometheus.sh.
exec "$(dirname "$0")/prometheus.sh" promtool

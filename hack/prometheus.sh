#!/usr/bin/env bash
# Builds a command of Prometheus from the Go module proxy and prints its
# path: `prometheus` (the default; the server the cluster suite runs,
# PROMETHEUS) or `promtool` (the rule checker and rule unit-test runner,
# PROMTOOL; hack/promtool.sh).
#
#   hack/prometheus.sh [prometheus|promtool]
#
# Cached per command and version in the user's cache folder
# (hack/lib/build-cache.sh): the cold build takes several minutes on a
# 2-core machine; afterwards the cached binary is printed at once. The
# server is built without the web UI's assets (build tag builtinassets):
# the suite only needs its HTTP API.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/hack/lib/build-cache.sh"

cmd=${1:-prometheus}
case "$cmd" in
  prometheus | promtool) ;;
  *) echo "usage: $0 [prometheus|promtool]" >&2; exit 2 ;;
esac
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0} # the Go module version of Prometheus 3.x
dest=$(vmevents_cache)/$cmd-$PROMETHEUS_VERSION
if [ -x "$dest/$cmd" ]; then echo "$dest/$cmd"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
log "$cmd: building github.com/prometheus/prometheus/cmd/$cmd $PROMETHEUS_VERSION (several minutes cold; cached afterwards in $dest)"
(
  cd "$work"
  go mod init "vmevents.local/$cmd" >/dev/null 2>&1
  GOFLAGS=-mod=mod go get "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" >/dev/null 2>get.log ||
    { cat get.log >&2; echo "could not get github.com/prometheus/prometheus@$PROMETHEUS_VERSION from the module proxy" >&2; exit 1; }
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$dest/$cmd.tmp" "github.com/prometheus/prometheus/cmd/$cmd"
)
mv "$dest/$cmd.tmp" "$dest/$cmd"
log "$cmd: ready in $dest"
echo "$dest/$cmd"

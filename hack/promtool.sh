#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit-test runner) from
# the Go module proxy and prints its path. The rule tests of
# config/components/prometheus run it (PROMTOOL).
#
# Cached per version in the user's cache folder (hack/lib/build-cache.sh):
# the cold build takes several minutes on a 2-core machine; afterwards the
# cached binary is printed at once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/hack/lib/build-cache.sh"

PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0} # the Go module version of Prometheus 3.x
dest=${PROMTOOL_DIR:-$(vmevents_cache)/promtool-$PROMETHEUS_VERSION}
if [ -x "$dest/promtool" ]; then echo "$dest/promtool"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
log "promtool: building github.com/prometheus/prometheus/cmd/promtool $PROMETHEUS_VERSION (several minutes cold; cached afterwards in $dest)"
(
  cd "$work"
  go mod init vmevents.local/promtool >/dev/null 2>&1
  GOFLAGS=-mod=mod go get "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" >/dev/null 2>get.log ||
    { cat get.log >&2; echo "could not get github.com/prometheus/prometheus@$PROMETHEUS_VERSION from the module proxy" >&2; exit 1; }
  CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$dest/promtool.tmp" github.com/prometheus/prometheus/cmd/promtool
)
mv "$dest/promtool.tmp" "$dest/promtool"
log "promtool: ready in $dest"
echo "$dest/promtool"

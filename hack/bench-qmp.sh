#!/usr/bin/env bash
# Benchmarks the project's QMP client against digitalocean/go-qemu on the
# same event stream (see test/qmpbench), runs the qmp package's
# micro-benchmarks, prints the markdown and writes docs/qmp-benchmark.md.
# About a minute on 2 cores.
#
#   hack/bench-qmp.sh          what `make bench` runs
#   hack/bench-qmp.sh -quick   small and short, to try things (writes no file)
#   hack/bench-qmp.sh -h       every knob
set -euo pipefail
cd "$(dirname "$0")/.."

out=docs/qmp-benchmark.md
for a in "$@"; do
	case "$a" in -quick|--quick|-quick=true|-out|--out|-out=*|--out=*|-h|--help) out= ;; esac
done

bin="${TMPDIR:-/tmp}/qmpbench.$$"
trap 'rm -f "$bin"' EXIT
# -mod=mod: the benchmark's module replaces the root module with ../..,
# whose requirements other work may change; resolve them afresh rather
# than fail on a stale go.sum.
(cd test/qmpbench && GOFLAGS=-mod=mod go build -o "$bin" .)
# From the repository's root: the micro-benchmarks are go test ./qmpagent/qmp/.
"$bin" ${out:+-out "$out"} "$@"

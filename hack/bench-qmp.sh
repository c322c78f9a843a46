#!/usr/bin/env bash
# Benchmarks the project's QMP client against digitalocean/go-qemu on the
# same event stream (see test/qmpbench) and prints a markdown section.
# Called by `make bench`; extra arguments go to qmpbench (try -h).
# It takes about a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../test/qmpbench"
# -mod=mod: the benchmark's module replaces the root module with ../..,
# whose requirements other work may change; resolve them afresh rather
# than fail on a stale go.sum.
GOFLAGS=-mod=mod go build -o "${TMPDIR:-/tmp}/qmpbench.$$" .
trap 'rm -f "${TMPDIR:-/tmp}/qmpbench.$$"' EXIT
"${TMPDIR:-/tmp}/qmpbench.$$" "$@"

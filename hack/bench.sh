#!/usr/bin/env bash
# The system benchmarks of issue 9: the real agent and controller against a
# real etcd and kube-apiserver, with test/loadgen playing 1,000 QEMUs; eight
# scenarios (idle, steady load, a storm, an apiserver outage, an agent
# SIGKILL, 10,000 VirtualMachines and a controller restart, 20 nodes'
# agents with 50 VMs each, extrapolated to 1,000 nodes x 100 VMs, and what
# one write of each kind costs the apiserver). Prints the markdown and
# writes docs/benchmarks.md and its latency charts in docs/bench/. About 25
# minutes on 2 cores.
#
#   hack/bench.sh                 what `make bench` runs
#   hack/bench.sh -quick          100 VMs and 10 s runs, to try things (writes no file;
#                                 -charts DIR draws the charts there)
#   hack/bench.sh -scenarios 1,3  only some scenarios (1 always runs)
#   hack/bench.sh -scenarios 1,7 -nodes 10 -node-vms 100
#                                 scenario 7 with other sizes
#   hack/bench.sh -h              every knob
set -euo pipefail
cd "$(dirname "$0")/.."

out=docs/benchmarks.md
for a in "$@"; do
	case "$a" in -quick|--quick|-quick=true|-out|--out|-out=*|--out=*|-h|--help) out= ;; esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
assets=$(hack/control-plane.sh)
# The Makefile pins kustomize and passes it; run alone, ask make for it.
kustomize=${KUSTOMIZE:-$(make --no-print-directory -s print-kustomize)}
echo "bench: building vmevents, the load generator and the driver" >&2
go build -o "$tmp/vmevents" .
go build -o "$tmp/loadgen" ./test/loadgen
go build -o "$tmp/bench" ./test/bench
"$tmp/bench" -assets "$assets" -kustomize "$kustomize" -binary "$tmp/vmevents" \
	-loadgen "$tmp/loadgen" ${out:+-out "$out"} "$@"

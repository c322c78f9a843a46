#!/usr/bin/env bash
# Builds what a real single-node cluster needs besides the control plane
# (hack/control-plane.sh): the kubelet, kube-controller-manager,
# kube-scheduler and kube-proxy, containerd with its runc shim and ctr, and
# the CNI plugins, all from the Go module proxy, static. Prints the folder.
#
# Cached per version in the user's cache folder (hack/lib/build-cache.sh);
# a folder holding every binary is reused as is. runc, iptables and conntrack
# come from Debian (hack/ensure-packages.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/hack/lib/build-cache.sh"

K8S_VERSION=${K8S_VERSION:-v1.36.3}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
CNI_PLUGINS_VERSION=${CNI_PLUGINS_VERSION:-v1.10.0}
dest=${CLUSTER_BIN_DIR:-$(vmevents_cache)/node-$K8S_VERSION-containerd-$CONTAINERD_VERSION-cni-$CNI_PLUGINS_VERSION}

k8s_cmds=(kubelet kube-controller-manager kube-scheduler kube-proxy)
ctr_cmds=(containerd ctr containerd-shim-runc-v2)
cni_cmds=(bridge loopback host-local portmap)
all=("${k8s_cmds[@]}" "${ctr_cmds[@]}" "${cni_cmds[@]/#/cni/}")

have_all() { for b in "${all[@]}"; do [ -x "$dest/$b" ] || return 1; done; }
if have_all; then echo "$dest"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest/cni"
log "node: building ${k8s_cmds[*]} $K8S_VERSION, containerd $CONTAINERD_VERSION, CNI plugins $CNI_PLUGINS_VERSION (15-25 minutes on a cold 2-core machine; cached afterwards in $dest)"

k8s_module "$work/k8s" "$K8S_VERSION"
k8s_build "$work/k8s" "$K8S_VERSION" "$dest" "${k8s_cmds[@]}"


ctr_tags="urfave_cli_no_docs osusergo netgo static_build no_btrfs no_devmapper"
ctr_mod=github.com/containerd/containerd/v2
ctr_ld="-X $ctr_mod/version.Version=$CONTAINERD_VERSION"
for c in "${ctr_cmds[@]}"; do
  tags=$ctr_tags; [ "$c" = containerd-shim-runc-v2 ] && tags="$tags no_grpc"
  mkdir -p "$work/containerd"
  ( cd "$work/containerd"
    [ -f go.mod ] || { go mod init vmevents.local/containerd >/dev/null 2>&1; GOFLAGS=-mod=mod go get "$ctr_mod@$CONTAINERD_VERSION" >/dev/null; }
    log "building $c $CONTAINERD_VERSION"
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -tags "$tags" -ldflags "$ctr_ld" -o "$dest/$c.tmp" "$ctr_mod/cmd/$c" )
done

cni_mod=github.com/containernetworking/plugins
declare -A cni_pkg=([bridge]=plugins/main/bridge [loopback]=plugins/main/loopback [host-local]=plugins/ipam/host-local [portmap]=plugins/meta/portmap)
for c in "${cni_cmds[@]}"; do
  mkdir -p "$work/cni"
  ( cd "$work/cni"
    [ -f go.mod ] || { go mod init vmevents.local/cni >/dev/null 2>&1; GOFLAGS=-mod=mod go get "$cni_mod@$CNI_PLUGINS_VERSION" >/dev/null; }
    log "building CNI $c $CNI_PLUGINS_VERSION"
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$dest/cni/$c.tmp" "$cni_mod/${cni_pkg[$c]}" )
done

for b in "${all[@]}"; do mv "$dest/$b.tmp" "$dest/$b"; done
log "node: ready in $dest"
echo "$dest"

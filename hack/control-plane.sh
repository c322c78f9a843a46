#!/usr/bin/env bash
# Builds the real kube-apiserver, kubectl and etcd from the Go module proxy and
# prints the folder that holds them. envtest and the e2e suite use it as
# KUBEBUILDER_ASSETS.
#
# Why build: envtest's usual binaries come from a bucket that many build
# machines cannot reach, while the Go module proxy is almost always reachable.
#
# Cached per version in the user's cache folder (hack/lib/build-cache.sh), so a
# second clone on the same machine builds nothing. Idempotent: a folder that
# already holds all three binaries is reused as is. A user with envtest assets
# can skip all this: KUBEBUILDER_ASSETS=/their/dir.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/hack/lib/build-cache.sh"

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
dest=${CONTROL_PLANE_DIR:-$(vmevents_cache)/control-plane-$K8S_VERSION-etcd-$ETCD_VERSION}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ "${KUBEBUILDER_ASSETS}" != "$dest" ]; then
  for b in kube-apiserver etcd kubectl; do
    [ -x "$KUBEBUILDER_ASSETS/$b" ] || { echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $b" >&2; exit 1; }
  done
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

have_all() { [ -x "$dest/kube-apiserver" ] && [ -x "$dest/kubectl" ] && [ -x "$dest/etcd" ]; }
if have_all; then echo "$dest"; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
log "control plane: building kube-apiserver and kubectl $K8S_VERSION, etcd $ETCD_VERSION (a few minutes on a cold machine; cached afterwards in $dest)"

k8s_module "$work/k8s" "$K8S_VERSION"
k8s_build "$work/k8s" "$K8S_VERSION" "$dest" kube-apiserver kubectl

# etcd: a three-line main around etcdmain, the same code as the etcd binary.
mkdir -p "$work/etcd"
cd "$work/etcd"
go mod init vmevents.local/etcd >/dev/null 2>&1
cat >main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
log "control plane: building etcd $ETCD_VERSION"
GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}" -o "$dest/etcd.tmp" .

# Renamed only once all three built, so an interrupted build is never mistaken
# for a finished one.
for b in kube-apiserver kubectl etcd; do mv "$dest/$b.tmp" "$dest/$b"; done
log "control plane: ready in $dest"
echo "$dest"

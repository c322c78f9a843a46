#!/usr/bin/env bash
# Builds the real kube-apiserver, kubectl and etcd from the Go module proxy into
# bin/k8s/<version>/ and prints that folder. envtest and the e2e suite use it as
# KUBEBUILDER_ASSETS.
#
# Why build: envtest's usual binaries come from a bucket that many build
# machines cannot reach, while the Go module proxy is almost always reachable.
# k8s.io/kubernetes is not meant to be a dependency, so a scratch module pins it
# and points every staging module (which its go.mod replaces with ./staging/...)
# at the published k8s.io/<name> of the same minor version.
#
# Idempotent: a folder that already holds all three binaries is reused as is.
# A user with envtest assets can skip all this: KUBEBUILDER_ASSETS=/their/dir.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${CONTROL_PLANE_DIR:-$root/bin/k8s/$K8S_VERSION-etcd-$ETCD_VERSION}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ "${KUBEBUILDER_ASSETS}" != "$dest" ]; then
  for b in kube-apiserver etcd kubectl; do
    [ -x "$KUBEBUILDER_ASSETS/$b" ] || { echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable $b" >&2; exit 1; }
  done
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

have_all() { [ -x "$dest/kube-apiserver" ] && [ -x "$dest/kubectl" ] && [ -x "$dest/etcd" ]; }
if have_all; then echo "$dest"; exit 0; fi

log() { echo ">> $*" >&2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
staging_version="v0${K8S_VERSION#v1}"   # v1.36.3 -> v0.36.3

log "control plane: building kube-apiserver and kubectl $K8S_VERSION, etcd $ETCD_VERSION (a few minutes on a cold machine; cached afterwards in $dest)"

# --- kube-apiserver + kubectl -------------------------------------------------
mkdir -p "$work/k8s"
cd "$work/k8s"
go mod init vmevents.local/controlplane >/dev/null 2>&1
modfile=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
[ -f "$modfile" ] || { echo "could not download k8s.io/kubernetes@$K8S_VERSION from the module proxy" >&2; exit 1; }
{
  echo "require k8s.io/kubernetes $K8S_VERSION"
  grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$modfile" |
    awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
} >>go.mod
cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
log "control plane: resolving modules"
GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
log "control plane: building kube-apiserver (the slow part)"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$dest/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
log "control plane: building kubectl"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$dest/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl

# --- etcd ---------------------------------------------------------------------
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
log "control plane: building etcd"
GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$dest/etcd.tmp" .

# Renamed only once all three built, so an interrupted build is never mistaken
# for a finished one.
for b in kube-apiserver kubectl etcd; do mv "$dest/$b.tmp" "$dest/$b"; done
log "control plane: ready in $dest"
echo "$dest"

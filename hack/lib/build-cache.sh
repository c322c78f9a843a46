# Shared by hack/control-plane.sh and hack/cluster-binaries.sh: where built
# peers are cached, and how Kubernetes commands are built from the Go module
# proxy. Sourced, not run.
#
# Built binaries live outside the clone, keyed by version, so that a second
# clone on the same machine (CI makes one per run) reuses them:
#   ${VMEVENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmevents}/<what>-<versions>/

vmevents_cache() { echo "${VMEVENTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmevents}"; }

log() { echo ">> $*" >&2; }

# k8s_module DIR VERSION: a scratch module in DIR that requires
# k8s.io/kubernetes VERSION and points every staging module (which its go.mod
# replaces with ./staging/...) at the published k8s.io/<name> of the same
# minor. k8s.io/kubernetes is not meant to be a dependency; this is how it
# builds outside its own repository.
k8s_module() {
  local dir=$1 version=$2 staging_version="v0${2#v1}" # v1.36.3 -> v0.36.3
  mkdir -p "$dir"
  (
    cd "$dir"
    go mod init vmevents.local/k8s >/dev/null 2>&1
    local modfile
    modfile=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
    [ -f "$modfile" ] || { echo "could not download k8s.io/kubernetes@$version from the module proxy" >&2; exit 1; }
    {
      echo "require k8s.io/kubernetes $version"
      grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$modfile" |
        awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
    } >>go.mod
  )
}

# k8s_build DIR VERSION OUT CMD...: builds each k8s.io/kubernetes/cmd/CMD into
# OUT/CMD.tmp, stamped with VERSION so that `kubectl version`, the Node and
# every component report it (not v0.0.0-master).
k8s_build() {
  local dir=$1 version=$2 out=$3; shift 3
  local minor=${version#v1.}; minor=${minor%%.*}
  local ldflags="-X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  (
    cd "$dir"
    {
      echo '//go:build tools'; echo; echo 'package tools'; echo; echo 'import ('
      for c in "$@"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
      echo ')'
    } >tools.go
    log "resolving k8s.io/kubernetes $version modules"
    GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
    for c in "$@"; do
      log "building $c $version"
      CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$out/$c.tmp" "k8s.io/kubernetes/cmd/$c"
    done
  )
}

# vmevents: see README.md. `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Tool versions, pinned: a fresh machine installs exactly these into bin/.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.1
CRD_REF_DOCS_VERSION ?= v0.3.0
# The local control plane (hack/control-plane.sh) builds these from the Go module proxy.
K8S_VERSION ?= v1.36.3
ETCD_VERSION ?= v3.6.16

LOCALBIN := $(CURDIR)/bin
CONTROLLER_GEN := $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE := $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
CRD_REF_DOCS := $(LOCALBIN)/crd-ref-docs-$(CRD_REF_DOCS_VERSION)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/vmevents/vmevents/internal/version.Version=$(VERSION)

# The image's reference (make image, make docker-build, make deploy).
IMG ?= vmevents:latest

# How long `make fuzz` runs each fuzz target.
FUZZTIME ?= 30s

export K8S_VERSION ETCD_VERSION

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n\nTargets:\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests under config/.
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=vmevents-controller paths="./controllers/..." output:rbac:artifacts:config=config/rbac/controller
	$(CONTROLLER_GEN) rbac:roleName=vmevents-agent paths="./qmpagent/..." output:rbac:artifacts:config=config/rbac/agent

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: api-docs
api-docs: $(CRD_REF_DOCS) ## Generate docs/api.md, the API reference, from api/v1alpha1's types and doc comments.
	$(CRD_REF_DOCS) --source-path=./api/v1alpha1 --config=hack/api-docs/config.yaml --templates-dir=hack/api-docs/templates --renderer=markdown --output-path=docs/api.md --log-level=ERROR

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet ./...
	go vet ./...

.PHONY: verify
verify: $(CONTROLLER_GEN) $(CRD_REF_DOCS) ## Fail if generated files (CRDs, RBAC, DeepCopy, docs/api.md), go.mod/go.sum or formatting are not current.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@before=$$(hack/tree-hash.sh config api docs/api.md go.mod go.sum); \
	$(MAKE) -s manifests generate api-docs >/dev/null && go mod tidy; \
	after=$$(hack/tree-hash.sh config api docs/api.md go.mod go.sum); \
	[ "$$before" = "$$after" ] || { echo "generated files or go.mod were stale and have been regenerated: review and commit them ('make manifests generate api-docs', 'go mod tidy')"; exit 1; }
	go vet ./...

.PHONY: build
build: ## Build bin/vmevents.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $(LOCALBIN)/vmevents .

.PHONY: image
image: build ## Build the image IMG as an OCI archive, bin/vmevents-image.tar, without a container engine.
	go run ./hack/image -binary $(LOCALBIN)/vmevents -out $(LOCALBIN)/vmevents-image.tar -name $(IMG)

##@ Tests

# What every suite needs: the Debian packages of the real peers, the control
# plane, and the real node's binaries (all cached after the first run).
SUITE_ENV = KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" VMEVENTS_NODE_BINARIES="$$(hack/cluster-binaries.sh)" KUSTOMIZE=$(KUSTOMIZE)
# promtool, for the alerting rules' tests (test/monitoring).
SUITE_ENV += PROMTOOL="$$(hack/promtool.sh)"
SUITE_ENV += PROMETHEUS="$$(hack/prometheus.sh)"

.PHONY: test
test: packages verify control-plane cluster-binaries promtool $(KUSTOMIZE) ## Everything: checks, unit, fuzz seeds, envtest, end-to-end and real-cluster suites.
	$(SUITE_ENV) go test -count=1 -timeout 40m ./...

.PHONY: test-e2e
test-e2e: packages control-plane cluster-binaries $(KUSTOMIZE) ## The end-to-end suites: the whole system as processes, and as pods on a real node.
	$(SUITE_ENV) go test -count=1 -timeout 30m ./test/e2e/... -ginkgo.v

.PHONY: test-cluster
test-cluster: packages control-plane cluster-binaries $(KUSTOMIZE) ## The real-cluster suite alone: the image and config/default on a real kubelet.
	$(SUITE_ENV) go test -count=1 -timeout 30m ./test/e2e/cluster/ -ginkgo.v

.PHONY: test-unit
test-unit: ## Unit tests only (no control plane, no QEMU).
	go test -count=1 -short ./...

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each.
	@for pkg in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo ">> $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

.PHONY: bench
bench: build control-plane $(KUSTOMIZE) ## Benchmarks: the six scale scenarios (docs/benchmarks.md) and the QMP client against go-qemu (docs/qmp-benchmark.md); both pages are written from the run.
	KUSTOMIZE=$(KUSTOMIZE) hack/bench.sh
	hack/bench-qmp.sh

##@ Local control plane and demo

.PHONY: packages
packages: ## Install (once) the Debian packages the suites run: QEMU, LXD, libvirt, auditd, runc, iptables.
	@hack/ensure-packages.sh

.PHONY: control-plane
control-plane: ## Build (once) the real kube-apiserver, etcd and kubectl (cached in ~/.cache/vmevents).
	@hack/control-plane.sh >/dev/null

.PHONY: cluster-binaries
cluster-binaries: ## Build (once) the kubelet, kube-controller-manager, kube-scheduler, kube-proxy, containerd and CNI plugins.
	@hack/cluster-binaries.sh >/dev/null

.PHONY: promtool
promtool: ## Build (once) promtool, which checks and unit-tests the alerting rules (cached in ~/.cache/vmevents).
	@hack/promtool.sh >/dev/null

.PHONY: cluster
cluster: image packages control-plane cluster-binaries $(KUSTOMIZE) ## A real single-node cluster (kubelet, containerd) with the vmevents image loaded; Ctrl-C stops it.
	go run ./hack/cluster -control-plane "$$(hack/control-plane.sh)" -binaries "$$(hack/cluster-binaries.sh)" -image $(LOCALBIN)/vmevents-image.tar

.PHONY: demo
demo: build control-plane $(KUSTOMIZE) ## The whole system with four real QEMU VMs; shows what kubectl shows. Ctrl-C stops it.
	@hack/ensure-packages.sh qemu
	go run ./hack/demo -assets "$$(hack/control-plane.sh)" -kustomize $(KUSTOMIZE) -binary $(LOCALBIN)/vmevents

##@ Deployment (needs a container engine and a cluster: kind, for example; see docs/kind.md)

KIND_CLUSTER ?= kind
CONTAINER_TOOL ?= docker

.PHONY: docker-build
docker-build: ## Build the image IMG.
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) -t $(IMG) .

.PHONY: kind-load
kind-load: ## Load IMG into the kind cluster KIND_CLUSTER.
	kind load docker-image $(IMG) --name $(KIND_CLUSTER)

.PHONY: deploy
deploy: $(KUSTOMIZE) ## Install vmevents (CRD, RBAC, controller, agent) into the current kubectl context with image IMG.
	cd config/manager && $(KUSTOMIZE) edit set image vmevents=$(IMG)
	$(KUSTOMIZE) build config/default | kubectl apply -f -
	cd config/manager && $(KUSTOMIZE) edit set image vmevents=vmevents:latest

.PHONY: undeploy
undeploy: $(KUSTOMIZE) ## Remove vmevents from the current kubectl context.
	$(KUSTOMIZE) build config/default | kubectl delete --ignore-not-found -f -

##@ Tools

.PHONY: print-kustomize
print-kustomize: $(KUSTOMIZE)
	@echo $(KUSTOMIZE)

$(CONTROLLER_GEN):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

$(CRD_REF_DOCS):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/elastic/crd-ref-docs@$(CRD_REF_DOCS_VERSION)
	mv $(LOCALBIN)/crd-ref-docs $@

$(KUSTOMIZE):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $@

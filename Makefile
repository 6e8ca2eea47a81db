# meshfed. `make demo` brings up the local federation; `make test` runs every test.
# Both need root (namespaces, cgroups, iptables) and install what they need on first run.

SHELL := /bin/bash
export MESHFED_CACHE ?= $(CURDIR)/.cache
CLUSTERS_BIN := $(MESHFED_CACHE)/bin/clusters

CONTROLLER_GEN := $(MESHFED_CACHE)/bin/controller-gen

.PHONY: all deps build clusters demo demo-down test unit e2e bench fmt vet clean generate verify-generate

all: build

deps: ## Install the Debian packages the local clusters need (etcd, containerd, runc, CNI, iptables).
	hack/install-deps.sh

build: ## Build every Go package.
	go build ./...

clusters: ## Build the local clusters CLI.
	@mkdir -p $(MESHFED_CACHE)/bin
	go build -o $(CLUSTERS_BIN) ./multicluster-e2e/cmd/clusters

demo: deps ## Bring up west and east afresh, link west to east, and say how to reach them.
	hack/demo.sh

demo-down: clusters ## Remove the demo's clusters.
	$(CLUSTERS_BIN) down

test: deps verify-generate unit e2e ## Run the unit tests, then the end-to-end suite on local clusters.

unit: ## Unit tests (no root, no clusters).
	go test ./...

e2e: ## The end-to-end suite: brings up local clusters, so it needs root.
	go test -tags e2e -count=1 -timeout 40m -v ./multicluster-e2e/e2e/

bench: deps clusters ## Time clusters up and their memory (1-3 clusters); time export to mirror and the link controller's memory.
	go run ./bench/clusters -sizes 1,2,3
	go run ./bench/mirror

$(CONTROLLER_GEN): hack/tools/controller-tools/go.mod hack/tools/controller-tools/go.sum
	@mkdir -p $(dir $@)
	cd hack/tools/controller-tools && go build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

generate: $(CONTROLLER_GEN) ## Regenerate the API's deepcopy code and the CRDs in deploy/crds.
	$(CONTROLLER_GEN) object:headerFile="" paths=./pkg/apis/...
	$(CONTROLLER_GEN) crd paths=./pkg/apis/... output:crd:dir=deploy/crds

verify-generate: generate ## Fail when generated files are not what the types say.
	@git diff --exit-code -- pkg/apis deploy/crds || { echo "generated files are stale: run make generate and commit"; exit 1; }

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	go vet ./...
	go vet -tags e2e ./multicluster-e2e/e2e/

clean: ## Remove built tools and images (clusters must be down).
	rm -rf $(MESHFED_CACHE)

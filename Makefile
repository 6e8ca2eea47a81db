# meshfed. `make demo` brings up the local federation; `make test` runs every test.
# Both need root (namespaces, cgroups, iptables) and install what they need on first run.

SHELL := /bin/bash
export MESHFED_CACHE ?= $(CURDIR)/.cache
CLUSTERS_BIN := $(MESHFED_CACHE)/bin/clusters

CONTROLLER_GEN := $(MESHFED_CACHE)/bin/controller-gen
PROTOC_GEN_GO := $(MESHFED_CACHE)/bin/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(MESHFED_CACHE)/bin/protoc-gen-go-grpc

.PHONY: all deps build clusters tools demo demo-down test unit e2e e2e-kind bench fmt vet clean generate verify-generate

all: build

deps: ## Install the Debian packages the local clusters need (etcd, containerd, runc, CNI, iptables).
	hack/install-deps.sh

build: ## Build every Go package.
	go build ./...

clusters: ## Build the local clusters CLI.
	@mkdir -p $(MESHFED_CACHE)/bin
	go build -o $(CLUSTERS_BIN) ./multicluster-e2e/cmd/clusters

tools: clusters ## Build Kubernetes, cert-manager, MetalLB, helm and Prometheus from the Go module proxy (minutes, once; cached).
	$(CLUSTERS_BIN) tools

demo: deps ## Bring up west and east afresh, link west to east, and say how to reach them.
	hack/demo.sh

demo-down: clusters ## Remove the demo's clusters.
	$(CLUSTERS_BIN) down

test: deps verify-generate tools unit e2e ## Run the unit tests, then the end-to-end suite on local clusters.

unit: ## Unit tests (no root, no clusters).
	go test ./...

e2e: ## The end-to-end suite: brings up local clusters, so it needs root.
	go test -tags e2e -count=1 -timeout 40m -v ./multicluster-e2e/e2e/

e2e-kind: ## The end-to-end suite on kind clusters instead: needs Docker on Linux and kind, not root. Not run by CI.
	go test -tags e2e -count=1 -timeout 60m -v ./multicluster-e2e/e2e/ -provider=kind

bench: deps clusters ## Time clusters up and their memory (1-3 clusters); export to mirror and the link controller's memory; a ServiceExport until the ServiceImport answers in clusterset DNS, and 1,000 at once; Certify beside its parts; the proxy pair beside direct and HAProxy; the east-west gateway's hop beside the in-cluster path and its memory; an endpoint change to 500 destination subscribers; a gateway killed until its mirrors' endpoints are not ready, with gossip beside the HTTP probe alone; the control plane's memory with the demo running.
	go run ./bench/clusters -sizes 1,2,3
	go run ./bench/mirror
	go run ./bench/clusterset
	go run ./bench/identity
	go run ./bench/proxy
	go test -run '^$$' -bench RequestThroughThePair ./pkg/proxy
	go run ./bench/gateway
	go run ./bench/destination
	go run ./bench/liveness
	bench/controlplane/run.sh

$(CONTROLLER_GEN): hack/tools/controller-tools/go.mod hack/tools/controller-tools/go.sum
	@mkdir -p $(dir $@)
	cd hack/tools/controller-tools && go build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

$(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC): hack/tools/protoc-gen/go.mod hack/tools/protoc-gen/go.sum
	@mkdir -p $(dir $@)
	cd hack/tools/protoc-gen && go build -o $(PROTOC_GEN_GO) google.golang.org/protobuf/cmd/protoc-gen-go \
		&& go build -o $(PROTOC_GEN_GO_GRPC) google.golang.org/grpc/cmd/protoc-gen-go-grpc

generate: deps $(CONTROLLER_GEN) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) ## Regenerate the API's deepcopy code, the CRDs in deploy/crds, the gRPC code from proto/ and the viz dashboard's bundle (pinned npm packages, esbuild; no Node).
	$(CONTROLLER_GEN) object:headerFile="" paths=./pkg/apis/...
	$(CONTROLLER_GEN) crd paths=./pkg/apis/... output:crd:dir=deploy/crds
	cp deploy/crds/about.k8s.io_*.yaml deploy/crds/policy.meshfed.io_*.yaml deploy/charts/meshfed/crds/
	protoc --proto_path=proto \
		--plugin=protoc-gen-go=$(PROTOC_GEN_GO) --go_out=. --go_opt=module=github.com/meshfed/meshfed \
		--plugin=protoc-gen-go-grpc=$(PROTOC_GEN_GO_GRPC) --go-grpc_out=. --go-grpc_opt=module=github.com/meshfed/meshfed \
		$$(find proto -name '*.proto' | sort)
	go generate ./pkg/viz/dashboard

verify-generate: generate ## Fail when generated files are not what the types and protos say.
	@git diff --exit-code -- pkg/apis deploy/crds deploy/charts/meshfed/crds pkg/viz/dashboard/dist || { echo "generated files are stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- pkg/apis deploy/crds pkg/viz/dashboard/dist)" || { echo "generated files are not committed: run make generate and commit"; git status --short -- pkg/apis deploy/crds pkg/viz/dashboard/dist; exit 1; }

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	go vet ./...
	go vet -tags e2e ./multicluster-e2e/e2e/

clean: ## Remove built tools and images (clusters must be down).
	rm -rf $(MESHFED_CACHE)

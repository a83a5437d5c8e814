# ytx Makefile. Every tool the build and tests need is built into bin/ from the
# Go module proxy (or installed from Debian) on first use, and skipped after.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN      := $(CURDIR)/bin
K8S_BIN  := $(BIN)/k8s
export KUBEBUILDER_ASSETS := $(K8S_BIN)
export PATH := $(BIN):$(K8S_BIN):$(PATH)

CONTROLLER_GEN_VERSION := v0.23.0
VERSITYGW_VERSION      := v1.8.0
HELM_VERSION           := v3.19.0
KUBERNETES_VERSION     := v1.37.2
ETCD_VERSION           := v3.6.6

CONTROLLER_GEN := $(BIN)/controller-gen
KUBE_APISERVER := $(K8S_BIN)/kube-apiserver
ETCD           := $(K8S_BIN)/etcd
KUBECTL        := $(K8S_BIN)/kubectl
VERSITYGW      := $(BIN)/versitygw
HELM           := $(BIN)/helm
YTX            := $(BIN)/ytx
YTX_DEV        := $(BIN)/ytx-dev

GO_SOURCES := $(shell find . -name '*.go' -not -path './hack/*' -not -path './bin/*') go.mod go.sum

# Packages for `go test`; TEST_FLAGS adds to them (e.g. TEST_FLAGS=-run=TestX).
# The fault-injection suite (test/faults) runs on its own after them, so that
# its timings do not compete for the CPU with the other packages.
TEST_PACKAGES ?= $(shell go list ./... | grep -v /test/faults)
TEST_FLAGS    ?=
TEST_TIMEOUT  ?= 20m
# `make fuzz` runs every Fuzz target for FUZZTIME each; `make test` runs them
# for TEST_FUZZTIME each after the other tests (empty or 0 skips them).
FUZZTIME      ?= 10s
TEST_FUZZTIME ?= 8s
# The fault-injection suite multiplies its counts by FAULTS_SCALE; `make test`
# runs it at TEST_FAULTS_SCALE (empty or 0 skips it).
FAULTS_SCALE      ?= 1
TEST_FAULTS_SCALE ?= 1
FAULTS_REPORT     ?= $(BIN)/faults.md
# `make bench` runs the whole-system benchmarks of test/bench and writes
# BENCH_REPORT; BENCH picks some by name (e.g. BENCH=Orchestration), and
# then only prints their table. BENCH_ARGS adds flags, e.g.
# BENCH_ARGS=-bench.profiles=bin/profiles.
BENCH        ?= .
BENCH_REPORT ?= $(if $(filter .,$(BENCH)),docs/benchmarks.md)
BENCH_ARGS   ?=
# `make bench-scale` runs the resync benchmark at SCALE_SMALL and SCALE_N
# finished extractions, each on a fresh API server and etcd, and writes
# its sections of SCALE_REPORT (the rest of the file is kept); the cost
# per extraction is the slope between the two. Creating 100,000 takes 15
# minutes or more and the API server several GiB.
SCALE_N      ?= 100000
SCALE_SMALL  ?= 20000
SCALE_REPORT ?= docs/benchmarks.md
# `make bench-download` runs the download path's micro-benchmarks;
# BenchmarkChunkMatrix (chunk size × parallel) is left out by default
# because it takes minutes: DOWNLOAD_BENCH=ChunkMatrix.
DOWNLOAD_BENCH ?= Download500MB|DownloadStore500MB|KkdaiReader500MB

.PHONY: all
all: build

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods for the API types.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD (also as the chart's template) and the manager's and worker's RBAC under config/.
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=ytx-manager paths="./controllers/..." output:rbac:artifacts:config=config/rbac/manager
	$(CONTROLLER_GEN) rbac:roleName=ytx-worker paths="./workers/..." output:rbac:artifacts:config=config/rbac/worker
	@hack/chart-crds.sh config/crd/bases charts/ytx/templates/crds

.PHONY: fmt
fmt: ## gofmt every Go file.
	gofmt -l -w $$(find . -name '*.go' -not -path './bin/*')

.PHONY: vet
vet: ## go vet every package.
	go vet ./...

.PHONY: check-fmt
check-fmt: ## Fail when a Go file is not gofmt clean.
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$out" ]; then echo "not gofmt clean:"; echo "$$out"; exit 1; fi

# What `make generate manifests` writes. check-generated regenerates it in a
# copy of the source tree and compares, so that the work tree is never
# rewritten by a check.
GENERATED := api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac charts/ytx/templates/crds

.PHONY: check-generated
check-generated: $(CONTROLLER_GEN) ## Fail, naming each file, when a generated file differs from what `make generate manifests` would write.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	tar --exclude=./bin --exclude=./.git -cf - . | tar -C "$$tmp" -xf -; \
	$(MAKE) --no-print-directory -s -C "$$tmp" generate manifests CONTROLLER_GEN=$(CONTROLLER_GEN) >/dev/null; \
	stale=0; \
	for g in $(GENERATED); do \
	  for f in $$( { (cd "$$tmp" && find $$g -type f 2>/dev/null); find $$g -type f 2>/dev/null; } | sort -u); do \
	    if ! cmp -s "$$f" "$$tmp/$$f"; then echo "stale generated file: $$f"; stale=1; fi; \
	  done; \
	done; \
	if [ $$stale = 1 ]; then echo "run 'make generate manifests' and commit the result"; exit 1; fi

.PHONY: build
build: $(YTX) ## Build bin/ytx.

$(YTX): $(GO_SOURCES)
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o $(YTX) ./cmd/ytx

# ytx-dev (`make dev`) is a binary of its own, so that bin/ytx, the one in
# the images, does not link envtest, kfake and the fake YouTube.
$(YTX_DEV): $(GO_SOURCES)
	go build -o $(YTX_DEV) ./cmd/ytx-dev

.PHONY: test
test: tools check-generated check-fmt vet build ## Run every test against a real kube-apiserver, etcd and kfake, then each fuzz target briefly.
	go test -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(TEST_PACKAGES)
	@if [ -n "$(TEST_FUZZTIME)" ] && [ "$(TEST_FUZZTIME)" != 0 ]; then $(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME); fi
	@if [ -n "$(TEST_FAULTS_SCALE)" ] && [ "$(TEST_FAULTS_SCALE)" != 0 ]; then $(MAKE) --no-print-directory test-faults FAULTS_SCALE=$(TEST_FAULTS_SCALE); fi

.PHONY: test-faults
test-faults: tools build ## Kill, stop and starve the real processes; print the table of completed, lost and doubled (FAULTS_SCALE=10 for more).
	go test -count=1 -timeout 60m -v -run '$(or $(FAULTS_RUN),.)' ./test/faults/ -args -faults.scale=$(FAULTS_SCALE) -faults.report=$(FAULTS_REPORT) \
	  | grep -Ev '^(=== RUN|=== PAUSE|=== CONT)'

# Every `func FuzzX(f *testing.F)` in a _test.go file, as "package-dir:FuzzX".
FUZZ_TARGETS = $(shell grep -rE --include='*_test.go' --exclude-dir=bin --exclude-dir=hack '^func Fuzz[A-Za-z0-9_]+.*[*]testing[.]F' . | sed -E 's|^[.]/(.*)/[^/]+:func (Fuzz[A-Za-z0-9_]+).*|\1:\2|' | sort)

.PHONY: fuzz
fuzz: ## Run every Fuzz target for FUZZTIME (10s) each; a crasher lands in the package's testdata/fuzz/ and then fails plain go test until fixed.
	@test -n "$(FUZZ_TARGETS)" || { echo "no Fuzz targets found"; exit 1; }
	@for t in $(FUZZ_TARGETS); do \
	  hack/fuzz-target.sh $${t%%:*} $${t##*:} $(FUZZTIME) || exit 1; \
	done

.PHONY: bench
bench: $(KUBE_APISERVER) $(ETCD) ffmpeg yt-dlp curl build ## Measure orchestration, a 1,000-video channel, downloads (against yt-dlp and curl) and a 10,000-resource resync; print the table and write docs/benchmarks.md.
	go test -count=1 -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout 60m ./test/bench/ -args -bench.report=$(BENCH_REPORT) $(BENCH_ARGS)

.PHONY: bench-scale
bench-scale: $(KUBE_APISERVER) $(ETCD) build ## Resync at SCALE_SMALL (20000) and SCALE_N (100000) extractions: memory, etcd's size and cost per extraction, into docs/benchmarks.md.
	go test -count=1 -run '^$$' -bench '^BenchmarkResync$$' -benchtime 1x -timeout 120m ./test/bench/ -args -bench.report=$(SCALE_REPORT) -bench.scale-n=$(SCALE_SMALL),$(SCALE_N) $(BENCH_ARGS)

.PHONY: bench-download
bench-download: $(VERSITYGW) ## Micro-benchmarks of the download path alone: MB/s and peak RSS into a directory and S3, next to kkdai's reader.
	go test -count=1 -run '^$$' -bench '$(DOWNLOAD_BENCH)' -benchtime 1x -timeout 30m ./internal/download/

.PHONY: dev
dev: $(YTX_DEV) $(KUBE_APISERVER) $(ETCD) $(KUBECTL) ffmpeg yt-dlp deno ## Run the API server, Kafka, controller and a worker on this machine (bin/ytx-dev).
	$(YTX_DEV) --dir $(BIN)/dev $(DEV_FLAGS)

##@ Images

# `make docker-build` builds the two images of the Dockerfile: IMAGE-manager
# and IMAGE-worker, tagged TAG, the names the chart pulls
# (image.repository-manager and -worker at the chart's appVersion). It needs
# Docker with buildx; nothing else in this Makefile does. Several PLATFORMS
# need a registry: DOCKER_BUILD_FLAGS=--push.
IMAGE              ?= ghcr.io/ytx-dev/ytx
TAG                ?= $(shell sed -nE 's/^appVersion: *"?([^"]+)"?.*/\1/p' charts/ytx/Chart.yaml)
PLATFORMS          ?= linux/amd64
DOCKER_BUILD_FLAGS ?= --load

.PHONY: docker-build
docker-build: ## Build the manager and worker images (IMAGE, TAG, PLATFORMS, DOCKER_BUILD_FLAGS).
	@command -v docker >/dev/null || { echo "make docker-build needs docker with buildx"; exit 1; }
	docker buildx build --platform $(PLATFORMS) --target manager -t $(IMAGE)-manager:$(TAG) $(DOCKER_BUILD_FLAGS) .
	docker buildx build --platform $(PLATFORMS) --target worker -t $(IMAGE)-worker:$(TAG) \
	  --build-arg YTDLP_VERSION='$(YTDLP_VERSION)' --build-arg DENO_VERSION='$(DENO_VERSION)' $(DOCKER_BUILD_FLAGS) .

##@ Tools

.PHONY: tools
tools: $(CONTROLLER_GEN) $(KUBE_APISERVER) $(ETCD) $(KUBECTL) $(VERSITYGW) $(HELM) ffmpeg yt-dlp deno ## Build or install every tool the tests need.

$(CONTROLLER_GEN):
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

# kube-apiserver and etcd come from the module proxy, not setup-envtest (which
# downloads from the internet). See hack/tools/*/go.mod.
$(KUBE_APISERVER):
	cd hack/tools/kube-apiserver && go build -o $(KUBE_APISERVER) k8s.io/kubernetes/cmd/kube-apiserver

$(KUBECTL):
	cd hack/tools/kube-apiserver && go build -o $(KUBECTL) k8s.io/kubernetes/cmd/kubectl

$(ETCD):
	cd hack/tools/etcd && go build -o $(ETCD) go.etcd.io/etcd/server/v3

# A real S3 server (over a directory) for the S3 storage tests.
$(VERSITYGW):
	GOBIN=$(BIN) go install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

# Helm renders and lints the chart in tests.
$(HELM):
	GOBIN=$(BIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# ffmpeg and ffprobe come from Debian; installed only when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: ffmpeg
ffmpeg:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg; }

# yt-dlp, one of the worker's resolvers and the reference downloader of
# `make bench`: the version ytx is tested with, from Debian's
# trixie-backports (bookworm's own is from 2023 and cannot read today's
# YouTube). The script checks the version, not only that a yt-dlp exists,
# and is the one the Dockerfile's worker image runs.
YTDLP_VERSION := 2026.11.23-1~bpo13+1

.PHONY: yt-dlp
yt-dlp:
	@YTDLP_VERSION='$(YTDLP_VERSION)' hack/install-yt-dlp.sh

# deno, the JavaScript runtime yt-dlp solves YouTube's player challenges
# with, into bin/ (on PATH for the tests and `make dev`), from the npm registry (with curl, no npm); the
# script is the one the Dockerfile's worker image runs. test/image checks
# that this yt-dlp finds this deno.
DENO_VERSION := 2.9.6

.PHONY: deno
deno: curl
	@DENO_VERSION='$(DENO_VERSION)' hack/install-deno.sh $(BIN)

# curl, the other reference downloader of `make bench`, from Debian.
.PHONY: curl
curl:
	@command -v curl >/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl; }

.PHONY: clean
clean: ## Remove bin/ (tools included).
	rm -rf $(BIN)

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

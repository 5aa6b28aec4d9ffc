# StreamGate. `make dev` runs the platform; `make test` runs every check CI runs.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO      ?= go
BUF     := node_modules/.bin/buf
TSC     := node_modules/.bin/tsc
VITE    := node_modules/.bin/vite
MODULES := . gen/go integration deploy/k8s/check
# -race needs cgo; the test timeout bounds a hung test, not a slow machine.
GOTEST_FLAGS ?= -race -count=1 -timeout 25m

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

## --- set-up ---------------------------------------------------------------

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

third_party/proto/.stamp: node_modules/.stamp scripts/third-party-protos.sh
	scripts/third-party-protos.sh
	@touch $@

.PHONY: tools
tools: node_modules/.stamp third_party/proto/.stamp ## install buf, protoc-gen-es, tsc, googleapis protos, the Go tools, geth, versitygw and the OS packages tests use
	scripts/install-deps.sh
	scripts/install-geth.sh
	scripts/install-versitygw.sh
	$(GO) build -o /dev/null tool

## --- contracts ------------------------------------------------------------

.PHONY: lint
lint: tools ## buf lint (STANDARD) and buf format
	$(BUF) lint
	$(BUF) format --diff --exit-code

.PHONY: breaking
breaking: tools ## buf breaking against the previous commit, when there is one
	scripts/buf-breaking.sh

.PHONY: generate
generate: tools ## regenerate gen/go and gen/ts from proto/
	rm -rf gen/go/streamgate gen/ts/src
	$(BUF) generate

.PHONY: check-generate
check-generate: generate ## fail if the committed generated code is stale
	@if [ -n "$$(git status --porcelain -- gen)" ]; then \
		git status --porcelain -- gen; \
		echo "generated code is stale: run 'make generate' and commit gen/"; exit 1; \
	fi

.PHONY: contracts
contracts: ## recompile contracts/src with solc-js and regenerate the Go bindings (commit the result)
	contracts/generate.sh

## --- Go and TypeScript ----------------------------------------------------

.PHONY: vet
vet: ## gofmt, and go vet in every module, outside the workspace
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@for m in $(MODULES); do echo "go vet ($$m)"; (cd $$m && GOWORK=off $(GO) vet ./...); done

.PHONY: go-test
go-test: ## go test -race in every module, outside the workspace
	@for m in $(MODULES); do echo "go test ($$m)"; (cd $$m && GOWORK=off $(GO) test $(GOTEST_FLAGS) ./...); done

.PHONY: ts-check
ts-check: tools ## type-check the generated TypeScript client and the web app
	$(TSC) -p gen/ts
	$(TSC) -p web --noEmit

.PHONY: web
web: node_modules/.stamp ## build the web app into web/dist (embedded by the next Go build)
	$(VITE) build web --logLevel warn

.PHONY: build
build: web ## build the web app and the streamgate binary into bin/
	$(GO) build -o bin/streamgate ./cmd/streamgate

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: image
image: ## build the container image streamgate:$(VERSION) from the Dockerfile (needs docker)
	@if ! command -v docker >/dev/null 2>&1; then echo "make image: docker is not installed (or not on PATH); build the Dockerfile with your container builder"; exit 1; fi
	docker build --build-arg VERSION=$(VERSION) -t streamgate:$(VERSION) .

.PHONY: bench
bench: ## run the Go benchmarks (not part of make test); see docs/BENCHMARKS.md
	scripts/install-bench-deps.sh
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./services/gateway/edge/ ./internal/mesh/ ./services/cache/... \
		./services/auth/ ./services/auth/siwe/ ./services/auth/access/ ./services/streaming/
	# Heavy: 100k-row catalogues on both engines; a 60 s 720p encode; 500 MiB tus uploads to S3.
	$(GO) test -run '^$$' -bench . -count 1 -timeout 60m ./services/metadata/... ./internal/transcode/
	$(GO) test -run '^$$' -bench BenchmarkTusUploadS3VsMultipartPUT -count 1 -timeout 30m ./node/

## --- the two commands -----------------------------------------------------

.PHONY: test
test: tools lint breaking check-generate vet web go-test ts-check ## every check CI runs, in order

.PHONY: cluster
cluster: build ## deploy/k8s/overlays/prod run as processes on this machine: 3 etcd, 3 NATS (R3), two of every service; PostgreSQL, Redis, S3 and a dev chain beside them
	scripts/install-deps.sh ffmpeg postgresql redis-server
	scripts/install-versitygw.sh
	bin/streamgate cluster

.PHONY: cluster-plan
cluster-plan: ## render deploy/k8s/overlays/prod into the plan streamgate cluster runs (commit the result)
	cd deploy/k8s/check && $(GO) run ./cmd/localplan -source deploy/k8s/overlays/prod ../overlays/prod > ../../../cmd/streamgate/clusterplan.json

.PHONY: dev
dev: build ## build the web app and the binary, then run all nine services on embedded defaults with a seeded demo
	scripts/install-deps.sh ffmpeg
	bin/streamgate dev

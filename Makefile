# vflab: thin targets over hack/. See README.md.
GO        ?= go
BIN       ?= bin
GOFLAGS   ?=
LDFLAGS   := -s -w -buildid=
BINARIES  := $(notdir $(wildcard cmd/*))

.PHONY: all build build-hardware test unit bench e2e lab lint demo clean

all: build

## build: every binary into bin/ (simulation wiring); build-hardware: the same with -tags hardware
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='$(LDFLAGS)' -o $(BIN)/ ./cmd/...

build-hardware:
	@mkdir -p $(BIN)/hardware
	CGO_ENABLED=0 $(GO) build -tags hardware -trimpath -ldflags='$(LDFLAGS)' -o $(BIN)/hardware/ ./cmd/...

## test: vet and build both wirings, then every tier this machine can run (unit, netns, sim)
test:
	hack/test.sh

## unit: only the tests that need no privileges (no namespaces)
unit:
	$(GO) test -count=1 -short ./...

## bench: the hot-path benchmarks against their peers and floors (bench/)
bench:
	hack/bench.sh

## e2e: the kind scenario suite (needs a Docker engine; skips with one line without it)
e2e: build
	hack/e2e.sh

## lab: the hardware suite on a real Mellanox host (read-only unless VFLAB_LAB_PF names a PF)
lab:
	$(GO) test -tags hardware -count=1 -v ./scenarios/hardware/... -args -ginkgo.label-filter=hardware $(LAB_ARGS)

## lint: golangci-lint with the import rules of shared/DESIGN.md (depguard)
lint:
	hack/lint.sh

## demo: the main job on a fresh machine
demo: build
	hack/demo.sh

clean:
	rm -rf $(BIN)

#!/usr/bin/env bash
# make test: vet and compile both wirings (simulation and -tags hardware, tests included), then run every
# test tier this machine can run. Tiers that need root or namespaces skip themselves with one line.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

# Fake node roots are many small files: keep test temp dirs on tmpfs where there is one (a file costs
# ~13 µs there against ~1 ms on a VM's ext4).
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	TMPDIR=$(mktemp -d /dev/shm/vflab-test.XXXXXX)
	export TMPDIR
	trap 'rm -rf "$TMPDIR"' EXIT
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

echo "== vet (simulation and hardware wiring)"
$GO vet ./...
$GO vet -tags hardware ./...

echo "== build and compile tests with -tags hardware"
$GO build -tags hardware ./...
$GO test -tags hardware -count=1 -run '^$' ./... >/dev/null

echo "== tests: unit, netns, sim"
$GO test -count=1 -timeout 15m ./...

echo "== race detector: the stores, the fake kernel, the drivers, the device plugin, the sandbox"
$GO test -race -count=1 -timeout 10m ./ipam/... ./fakesysfs/... ./drivers/... ./deviceplugin/... ./sandbox/...

echo "== benchmark smoke run (one iteration each; make bench measures)"
smoke=$(mktemp)
if ! $GO test -count=1 -short -run '^$' -bench . -benchtime 1x -timeout 5m ./bench/... >"$smoke" 2>&1; then
	cat "$smoke"
	rm -f "$smoke"
	exit 1
fi
grep -E '^(ok|FAIL)' "$smoke"
rm -f "$smoke"

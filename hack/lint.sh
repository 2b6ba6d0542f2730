#!/usr/bin/env bash
# make lint: golangci-lint (pinned) with depguard enforcing shared/DESIGN.md's import rules.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v2.15.0
bin=$(go env GOPATH)/bin/golangci-lint
if ! "$bin" version 2>/dev/null | grep -q "${version#v}"; then
	GOFLAGS= go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${version}"
fi
"$bin" run ./...
"$bin" run --build-tags hardware ./...

#!/usr/bin/env bash
# Installs geth (go-ethereum's node, the version go.mod requires) into
# $(go env GOPATH)/bin for the tests that run against `geth --dev`
# (services/auth/access/geth_ext_test.go). Idempotent and quick when the right version
# is present; the first build takes a few minutes.
set -euo pipefail
version=v1.17.10
bin="$(go env GOPATH)/bin/geth"
if [ -x "$bin" ]; then
  have="$("$bin" version 2>/dev/null || true)"
  case "$have" in *"Version: ${version#v}"*) exit 0 ;; esac
fi
echo "installing geth $version into $(dirname "$bin")"
GOFLAGS= GOWORK=off go install "github.com/ethereum/go-ethereum/cmd/geth@$version"
# sed reads all of it: head would end geth early with SIGPIPE, an error under pipefail.
"$bin" version | sed -n 1,2p

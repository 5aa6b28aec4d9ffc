#!/usr/bin/env bash
# Installs versitygw (an S3 gateway over a local directory) into
# $(go env GOPATH)/bin for the tests that run against a real S3 server
# (internal/testing/s3test: the blob store's conformance suite, the
# transcoder and streaming on S3). Idempotent and quick when the right
# version is present; the first build takes about a minute.
set -euo pipefail
version=v1.8.0
bin="$(go env GOPATH)/bin/versitygw"
# versitygw --version says "git" for a go-installed binary: ask the build
# info for the module version instead.
if [ -x "$bin" ]; then
  have="$(go version -m "$bin" 2>/dev/null || true)"
  case "$have" in *"mod	github.com/versity/versitygw	$version	"*) exit 0 ;; esac
fi
echo "installing versitygw $version into $(dirname "$bin")"
GOFLAGS= GOWORK=off go install "github.com/versity/versitygw/cmd/versitygw@$version"
# grep reads all of it: head would end go version early with SIGPIPE, an error under pipefail.
go version -m "$bin" | grep -F "mod	github.com/versity/versitygw"

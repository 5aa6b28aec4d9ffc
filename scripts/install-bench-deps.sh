#!/usr/bin/env bash
# Installs the baselines `make bench` compares against: nginx (segment
# delivery), and versitygw, the S3 server segments are read from in the
# segment-cache benchmark. Idempotent; needs root.
set -euo pipefail
"$(dirname "$0")/install-versitygw.sh"
if [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx-light >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends nginx >/dev/null
service nginx stop >/dev/null 2>&1 || true

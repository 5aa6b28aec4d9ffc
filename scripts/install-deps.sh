#!/usr/bin/env bash
# Installs the OS packages the tests run against for real: ffmpeg/ffprobe
# (media validation and transcoding), PostgreSQL 15 and Redis 7 (started
# by the tests themselves, on loopback, in temp dirs), and Chromium for the
# web app's browser end-to-end test. Idempotent and quick
# when everything is present; needs root (CI and dev machines run as root).
# With arguments, only those packages are checked (`make dev` needs only
# ffmpeg, for its seeded demo).
set -euo pipefail
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(ffmpeg postgresql redis-server chromium)
need=()
for pkg in "${want[@]}"; do
  case "$pkg" in
    ffmpeg) command -v ffprobe >/dev/null 2>&1 || need+=(ffmpeg) ;;
    postgresql) [ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql) ;;
    redis-server) command -v redis-server >/dev/null 2>&1 || need+=(redis-server) ;;
    chromium) command -v chromium >/dev/null 2>&1 || need+=(chromium) ;;
    *) echo "install-deps: unknown package $pkg" >&2; exit 2 ;;
  esac
done
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages start system-wide servers; tests start their own.
if command -v systemctl >/dev/null 2>&1; then
  systemctl stop redis-server postgresql >/dev/null 2>&1 || true
fi
service redis-server stop >/dev/null 2>&1 || true
service postgresql stop >/dev/null 2>&1 || true

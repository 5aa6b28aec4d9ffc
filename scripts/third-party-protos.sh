#!/usr/bin/env bash
# Copies the few googleapis protos we import out of the google-proto-files npm
# package into third_party/proto (git-ignored). Only what we import, so buf
# does not compile thousands of unrelated files.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/node_modules/google-proto-files"
dst="$root/third_party/proto"
files=(google/api/annotations.proto google/api/http.proto google/api/field_behavior.proto)
rm -rf "$dst"
for f in "${files[@]}"; do
  mkdir -p "$dst/$(dirname "$f")"
  cp "$src/$f" "$dst/$f"
done

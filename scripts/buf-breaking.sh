#!/usr/bin/env bash
# buf breaking against the previous commit. The old tree is built into an
# image from a worktree, because third_party/proto is generated and
# git-ignored: `--against .git#ref=` would compile the old tree without it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
buf="$root/node_modules/.bin/buf"
against="${BREAKING_AGAINST:-HEAD~1}"

if ! git rev-parse --verify --quiet "$against^{commit}" >/dev/null; then
  echo "buf breaking: no $against to compare with (first commit or shallow clone); skipped"
  exit 0
fi
if ! git cat-file -e "$against:buf.yaml" 2>/dev/null; then
  echo "buf breaking: $against has no buf.yaml; skipped"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add --detach --quiet "$tmp/old" "$against"
# The same googleapis protos, from this tree's pinned npm package.
mkdir -p "$tmp/old/third_party"
cp -r third_party/proto "$tmp/old/third_party/proto"
(cd "$tmp/old" && "$buf" build -o "$tmp/old.binpb")
# Image against image: both sides hold the same two modules. The googleapis
# files are identical on both sides, so only our contracts can differ.
"$buf" build -o "$tmp/new.binpb"
"$buf" breaking "$tmp/new.binpb" --against "$tmp/old.binpb"
echo "buf breaking: no breaking change against $(git rev-parse --short "$against")"

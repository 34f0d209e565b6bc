#!/usr/bin/env bash
# BeforeInstall hook: put the standalone runonce executable on the instance,
# checked against its SHA-256, before the hooks that call it. It needs no
# Node.js. Fast when the right version is already there (an AMI that carries
# it, or an earlier deployment), so it costs nothing on most deployments.
#
#   RUNONCE_RELEASE_URL  where the release files are: s3://bucket/runonce/0.1.0
#                        (read with the instance role, `aws s3 cp`), https://…,
#                        or file:///… (an AMI or a mounted share)
#   RUNONCE_VERSION      the version to install (default 0.1.0)
#   RUNONCE_SHA256       optional: the executable's expected sum, pinned in the
#                        revision, so a changed file in the bucket is refused;
#                        without it the sum is checked against SHA256SUMS
#   RUNONCE_INSTALL_DIR  default /usr/local/bin (on the PATH of the agent's hooks)
set -euo pipefail

VERSION="${RUNONCE_VERSION:-0.1.0}"
DEST="${RUNONCE_INSTALL_DIR:-/usr/local/bin}"
BASE="${RUNONCE_RELEASE_URL:?set RUNONCE_RELEASE_URL to where you keep the runonce release files}"
BASE="${BASE%/}"

case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-runonce: no runonce executable for $(uname -m)" >&2; exit 1 ;;
esac
file="runonce-linux-$arch"

if [ -x "$DEST/runonce" ] && [ "$("$DEST/runonce" --version 2>/dev/null || true)" = "$VERSION" ]; then
  echo "install-runonce: runonce $VERSION already at $DEST/runonce"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fetch() {
  case "$BASE" in
    s3://*) aws s3 cp --only-show-errors "$BASE/$1" "$tmp/$1" ;;
    *) curl --fail --silent --show-error --location --retry 3 --connect-timeout 5 -o "$tmp/$1" "$BASE/$1" ;;
  esac
}

fetch "$file"
if [ -n "${RUNONCE_SHA256:-}" ]; then
  expected="$RUNONCE_SHA256"
else
  fetch SHA256SUMS
  expected="$(awk -v f="$file" '$2 == f { print $1 }' "$tmp/SHA256SUMS")"
  [ -n "$expected" ] || { echo "install-runonce: $file is not listed in SHA256SUMS" >&2; exit 1; }
fi
actual="$(sha256sum "$tmp/$file" | cut -d' ' -f1)"
if [ "$actual" != "$expected" ]; then
  echo "install-runonce: checksum mismatch for $file (expected $expected, got $actual); not installed" >&2
  exit 1
fi
chmod 0755 "$tmp/$file"
got="$("$tmp/$file" --version)"
[ "$got" = "$VERSION" ] || { echo "install-runonce: $file is version $got, expected $VERSION" >&2; exit 1; }

# Replace in one rename, so a hook starting now never finds half a file.
mkdir -p "$DEST"
cp "$tmp/$file" "$DEST/.runonce.new"
mv -f "$DEST/.runonce.new" "$DEST/runonce"
echo "install-runonce: installed runonce $VERSION ($file, sha256 $actual) at $DEST/runonce"

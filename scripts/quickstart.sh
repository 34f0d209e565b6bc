#!/usr/bin/env bash
# From a fresh clone to runonce doing its job, in one command:
#
#   bash scripts/quickstart.sh
#
# 1. installs only what is missing, into a user prefix (no root needed):
#    Node.js 24 when `node` is missing or older than 22.12, pnpm 12.4.2
#    when `pnpm` is not that version (RUNONCE_TOOLS_PREFIX, default
#    ~/.local/node24; both come from the npm registry, so npm must be there)
# 2. installs the dependencies from the lockfile and builds
# 3. shows the main job on the embedded file backend, in a scratch state
#    directory: three instances start the same migration at once (one runs
#    it, two wait and exit 0 with its outcome), a fourth started later skips
#    it, then `runonce status` shows the record.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${RUNONCE_TOOLS_PREFIX:-$HOME/.local/node24}"
PNPM_VERSION=12.4.2
# Quiet: no telemetry banner from Turbo, no "update available" from npm or pnpm.
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 npm_config_update_notifier=false npm_config_fund=false

say() { printf '\033[1mquickstart:\033[0m %s\n' "$*"; }
node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)' 2>/dev/null
}

if [ -x "$PREFIX/bin/node" ]; then export PATH="$PREFIX/bin:$PATH"; fi
if ! node_ok; then
  if ! command -v npm >/dev/null 2>&1; then
    say "Node.js 22.12 or later is needed and there is no npm to fetch it with."
    say "Install Node.js 24 (nvm install 24, fnm, or your system's packages), then run this again."
    exit 1
  fi
  say "node is $(node --version 2>/dev/null || echo missing); installing Node.js 24 into $PREFIX"
  npm install --global --prefix "$PREFIX" --no-audit --loglevel=error node@24 >/dev/null
  export PATH="$PREFIX/bin:$PATH"
  node_ok || { say "Node.js 24 did not install into $PREFIX"; exit 1; }
fi
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  say "installing pnpm $PNPM_VERSION into $PREFIX"
  npm install --global --prefix "$PREFIX" --no-audit --loglevel=error "pnpm@$PNPM_VERSION" >/dev/null
  export PATH="$PREFIX/bin:$PATH"
fi
say "node $(node --version), pnpm $(pnpm --version)"

cd "$ROOT"
say "installing dependencies (pnpm install --frozen-lockfile)"
pnpm install --frozen-lockfile --reporter=silent
say "building (pnpm build)"
pnpm --silent build >/dev/null

RUNONCE="$ROOT/packages/cli/bin/runonce.js"
STATE="$(mktemp -d "${TMPDIR:-/tmp}/runonce-quickstart.XXXXXX")"
trap 'rm -rf "$STATE"' EXIT
export RUNONCE_FILE_DIR="$STATE" RUNONCE_NAMESPACE=quickstart NO_COLOR=1
MIGRATION='echo "    [instance $RUNONCE_OWNER] migrating (attempt $RUNONCE_ATTEMPT)"; sleep 2; echo "    [instance $RUNONCE_OWNER] migrated"'

echo
say "three instances start the same deployment's migration at once:"
pids=()
for i in 1 2 3; do
  RUNONCE_OWNER="instance-$i" node "$RUNONCE" exec db-migration --shell -- "$MIGRATION" &
  pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
[ "$failed" -eq 0 ] || { say "$failed of the three instances exited non-zero"; exit 1; }

echo
say "a fourth instance, started later (a scale-out), skips it:"
RUNONCE_OWNER=instance-4 node "$RUNONCE" exec db-migration --shell -- "$MIGRATION"

echo
say "what the store holds:"
node "$RUNONCE" status db-migration --format table

echo
say "done. Next: docs/getting-started.md (the pipeline's 'runonce reset', shared stores) and docs/install.md."

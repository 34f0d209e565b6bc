#!/bin/bash
# Runs examples/codedeploy/scripts/django-migrate.sh, the real AfterInstall
# hook, on four "instances" at once, with a stand-in for the app's python
# (`manage.py migrate`) that records each time it runs. Two deployments:
#
#   1. the migration fails (exit 3): the instance that ran it exits 3, the
#      other three waited and exit 1; nobody starts the app on the old schema,
#      and the failure is recorded, not counted as done;
#   2. the pipeline resets, the fixed migration runs once, everyone exits 0.
#
#   pnpm example django-migrate
#
# The store is the file backend in a temp dir unless RUNONCE_BACKEND (and its
# settings) say otherwise. The app's own PostgreSQL keeps the state with
#
#   RUNONCE_BACKEND=postgres DATABASE_URL=postgres://app@db/shop pnpm example django-migrate
#
# (DATABASE_URL is what a Django app on such hosts already has; the pipeline runs `runonce init` once).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
hooks="$repo/examples/codedeploy/scripts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export PATH="$repo/node_modules/.bin:$PATH"
command -v runonce >/dev/null || { echo "runonce not found: run pnpm install && pnpm build" >&2; exit 1; }
export RUNONCE_BACKEND="${RUNONCE_BACKEND:-file}"
export RUNONCE_FILE_DIR="${RUNONCE_FILE_DIR:-$work/state}"
export RUNONCE_NAMESPACE="example-django-$$-$RANDOM"
export APP_DIR="$work/shop" LOG_DIR="$work/log" RAN="$work/ran"
mkdir -p "$APP_DIR/venv/bin" "$LOG_DIR"
touch "$RAN" "$APP_DIR/manage.py"

# Stand-in for the venv's python: records who migrated, then exits with
# $MIGRATE_EXIT (a broken migration) after a second.
cat >"$APP_DIR/venv/bin/python" <<'SH'
#!/bin/sh
echo "$RUNONCE_OWNER scope=$RUNONCE_SCOPE attempt=$RUNONCE_ATTEMPT: python $*" >>"$RAN"
echo "django (stand-in): Applying shop.0042_orders... (exit ${MIGRATE_EXIT:-0})"
sleep 1
exit "${MIGRATE_EXIT:-0}"
SH
chmod +x "$APP_DIR/venv/bin/python"

# deploy <label>: the hook on i-0001..i-0004 at once; prints the exit codes
deploy() {
  local pids=() codes=() i code
  for i in 1 2 3 4; do
    RUNONCE_OWNER="i-000$i" bash "$hooks/django-migrate.sh" >"$work/out.$i" 2>&1 &
    pids+=($!)
  done
  for i in 0 1 2 3; do
    code=0
    wait "${pids[$i]}" || code=$?
    codes+=("$code")
  done
  for i in 1 2 3 4; do sed "s/^/  i-000$i | /" "$work/out.$i" >&2; done
  echo "${codes[*]}"
}

if [ "$RUNONCE_BACKEND" = postgres ]; then
  echo "== pipeline, once: runonce init (creates the runonce table in the app's database)"
  runonce init
fi
echo "== pipeline: runonce reset django-migrate; deployment 1 ships a broken migration"
runonce reset django-migrate
first=$(MIGRATE_EXIT=3 deploy)
echo "exit codes: $first"
runonce status django-migrate --json

echo "== pipeline: runonce reset django-migrate; deployment 2 ships the fix"
runonce reset django-migrate
second=$(deploy)
echo "exit codes: $second"

runs=$(wc -l <"$RAN")
echo "migrate ran $runs time(s):"
sed 's/^/  /' "$RAN"
sorted=$(tr ' ' '\n' <<<"$first" | sort -n | tr '\n' ' ')
[ "$sorted" = "1 1 1 3 " ] || { echo "FAIL: deployment 1: the runner should exit 3 and the others 1, got $first" >&2; exit 1; }
[ "$second" = "0 0 0 0" ] || { echo "FAIL: deployment 2: every instance should exit 0, got $second" >&2; exit 1; }
[ "$runs" -eq 2 ] || { echo "FAIL: migrate should run exactly once per deployment (2), ran $runs" >&2; exit 1; }
echo "ok: django-migrate ran once per deployment across 4 instances; the failure failed every instance"

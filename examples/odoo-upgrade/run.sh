#!/bin/bash
# Runs examples/codedeploy/scripts/odoo-upgrade.sh, the real AfterInstall hook,
# on four "instances" at once, as CodeDeploy does across an Auto Scaling group,
# with a stand-in for Odoo that records each time it runs. Then a fifth
# instance arrives later (a scale-out) and must skip.
#
#   pnpm example odoo-upgrade
#
# The store is the file backend in a temp dir (one host stands in for the
# fleet); set RUNONCE_BACKEND=redis and RUNONCE_REDIS_URL (or ssm/dynamodb and
# the AWS variables) to race through a shared server instead.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
hooks="$repo/examples/codedeploy/scripts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export PATH="$repo/node_modules/.bin:$PATH"
command -v runonce >/dev/null || { echo "runonce not found: run pnpm install && pnpm build" >&2; exit 1; }
export RUNONCE_BACKEND="${RUNONCE_BACKEND:-file}"
export RUNONCE_FILE_DIR="${RUNONCE_FILE_DIR:-$work/state}"
export RUNONCE_NAMESPACE="example-odoo-$$-$RANDOM"
export LOG_DIR="$work/log" RAN="$work/ran"
mkdir -p "$LOG_DIR" "$work/bin"
touch "$RAN"

# Stand-ins: `sudo -u odoo` just runs the command; Odoo's python records who
# ran the upgrade, with the fencing token runonce hands it, and takes 2 s.
cat >"$work/bin/sudo" <<'SH'
#!/bin/sh
[ "$1" = -u ] && shift 2
exec "$@"
SH
cat >"$work/bin/odoo-python" <<'SH'
#!/bin/sh
echo "$RUNONCE_OWNER attempt=$RUNONCE_ATTEMPT token=$RUNONCE_FENCING_TOKEN: odoo $*" >>"$RAN"
echo "odoo (stand-in): upgrading all modules of database shop"
sleep 2
SH
chmod +x "$work/bin/sudo" "$work/bin/odoo-python"
export PATH="$work/bin:$PATH" ODOO_PYTHON="$work/bin/odoo-python"

echo "== pipeline: runonce reset odoo-upgrade (buildspec.yml)"
runonce reset odoo-upgrade

echo "== deployment: the AfterInstall hook on 4 instances at once"
pids=()
for i in 1 2 3 4; do
  RUNONCE_OWNER="i-000$i" bash "$hooks/odoo-upgrade.sh" >"$work/out.$i" 2>&1 &
  pids+=($!)
done
codes=()
for pid in "${pids[@]}"; do
  code=0
  wait "$pid" || code=$?
  codes+=("$code")
done
for i in 1 2 3 4; do sed "s/^/  i-000$i | /" "$work/out.$i"; done
echo "exit codes: ${codes[*]}"

echo "== scale-out: a fifth instance runs the same hook later"
scale_code=0
RUNONCE_OWNER=i-0005 bash "$hooks/odoo-upgrade.sh" >"$work/out.5" 2>&1 || scale_code=$?
sed 's/^/  i-0005 | /' "$work/out.5"

runonce status odoo-upgrade --json

runs=$(wc -l <"$RAN")
echo "upgrade ran $runs time(s): $(cat "$RAN")"
[ "${codes[*]}" = "0 0 0 0" ] || { echo "FAIL: every instance should exit 0" >&2; exit 1; }
[ "$runs" -eq 1 ] || { echo "FAIL: the upgrade should run exactly once" >&2; exit 1; }
[ "$scale_code" -eq 0 ] && grep -q skipping "$work/out.5" || { echo "FAIL: the scale-out instance should skip" >&2; exit 1; }
echo "ok: odoo-upgrade ran once across 4 instances; the others waited for it and the scale-out skipped"

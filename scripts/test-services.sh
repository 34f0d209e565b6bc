#!/usr/bin/env bash
# Installs the local servers the backend tests fall back to when neither an
# endpoint in the environment nor a container runtime is available
# (see SPEC.md, "How tests reach real servers"). Idempotent: run it again and
# it only checks. Written for a fresh Debian/Ubuntu machine (CI or a laptop).
#
#   1. apt packages: python3 + venv (for moto), redis-server, postgresql and
#      pgbouncer (the PostgreSQL backend; the tests start their own servers)
#   2. moto_server in <repo>/.venv-moto (SSM, DynamoDB and S3 emulator, pinned),
#      and LocalStack (localstack-core, pinned) in <repo>/.venv-localstack, on a
#      Python >= 3.13 found on the machine (PATH, then pyenv's versions)
#   3. print what was found
#   4. openssl (the Redis TLS test)
#   5. qemu-user and the other architecture's C library, so the release check
#      can run the standalone executable built for the other architecture
#      (arm64 on x64 machines)
#
# dynalite (the other DynamoDB emulator) comes from npm with `pnpm install`.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
MOTO_VENV="${RUNONCE_MOTO_DIR:-$REPO_ROOT/.venv-moto}"
LOCALSTACK_VERSION="${LOCALSTACK_VERSION:-2026.3.0}"
LOCALSTACK_VENV="${RUNONCE_LOCALSTACK_DIR:-$REPO_ROOT/.venv-localstack}"
# What localstack-core 2026.3.0 needed beside itself to start as a host process (SPEC: LocalStack).
LOCALSTACK_PINS=("localstack-core[runtime]==$LOCALSTACK_VERSION" 'cbor2<6' 'pyopenssl>=25,<26' 'cryptography>=45.0.7,<47' service_identity)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_updated=""
apt_install() {
  # apt-get update only once, and only when something is missing
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

# --- 1. apt packages --------------------------------------------------------
missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test-services: installing ${missing[*]} from apt"
  apt_install "${missing[@]}"
  # the Debian package starts a system redis on 6379; the tests start their own on free ports
  if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
  # likewise the packaged PostgreSQL cluster (5432) and PgBouncer (6432): not used, not left running
  for svc in postgresql pgbouncer; do
    if [[ " ${missing[*]} " == *" $svc "* ]]; then
      { command -v systemctl >/dev/null 2>&1 && $SUDO systemctl disable --now "$svc"; } >/dev/null 2>&1 ||
        $SUDO service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi

# --- 2. moto_server in a virtualenv ------------------------------------------
installed=""
if [ -x "$MOTO_VENV/bin/pip" ]; then
  installed="$("$MOTO_VENV/bin/pip" show moto 2>/dev/null | sed -n 's/^Version: //p')"
fi
if [ "$installed" != "$MOTO_VERSION" ] || [ ! -x "$MOTO_VENV/bin/moto_server" ]; then
  echo "test-services: installing moto[server]==$MOTO_VERSION into $MOTO_VENV"
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

# --- 2b. LocalStack in a virtualenv of its own ---------------------------------
# localstack-core 2026.3.0 imports warnings.deprecated, new in Python 3.13: on 3.12 it does not start.
find_python313() {
  local c
  for c in python3.14 python3.13 "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3 /opt/pyenv/versions/3.1[3-9]*/bin/python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys, venv; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}
ls_installed=""
if [ -x "$LOCALSTACK_VENV/bin/pip" ]; then
  ls_installed="$("$LOCALSTACK_VENV/bin/pip" show localstack-core 2>/dev/null | sed -n 's/^Version: //p')"
fi
if [ "$ls_installed" != "$LOCALSTACK_VERSION" ]; then
  if py313="$(find_python313)"; then
    echo "test-services: installing localstack-core $LOCALSTACK_VERSION into $LOCALSTACK_VENV (with $py313)"
    rm -rf "$LOCALSTACK_VENV"
    "$py313" -m venv "$LOCALSTACK_VENV"
    "$LOCALSTACK_VENV/bin/pip" install --quiet --disable-pip-version-check "${LOCALSTACK_PINS[@]}"
  else
    echo "test-services: no Python >= 3.13 here (looked on PATH and in ~/.pyenv/versions): LocalStack is not installed," >&2
    echo "  and the tests that run SSM and S3 on it will fail. Install one (pyenv install 3.13, or your distribution's" >&2
    echo "  python3.13 and python3.13-venv) and run this script again, or set RUNONCE_LOCALSTACK_DIR to a virtualenv" >&2
    echo "  with localstack-core $LOCALSTACK_VERSION." >&2
  fi
fi

# --- 3. report ---------------------------------------------------------------
echo "test-services: moto_server  $MOTO_VENV/bin/moto_server (moto $("$MOTO_VENV/bin/pip" show moto | sed -n 's/^Version: //p'))"
echo "test-services: redis-server $(command -v redis-server || echo /usr/bin/redis-server) ($(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'))"
if [ -x "$LOCALSTACK_VENV/bin/python" ]; then
  echo "test-services: localstack   $LOCALSTACK_VENV (localstack-core $("$LOCALSTACK_VENV/bin/pip" show localstack-core | sed -n 's/^Version: //p'), $("$LOCALSTACK_VENV/bin/python" --version))"
fi
initdb_bin="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1 || true)"
echo "test-services: postgres     ${initdb_bin%/initdb}/postgres ($("${initdb_bin%/initdb}/postgres" --version 2>/dev/null | awk '{print $3}'))"
echo "test-services: pgbouncer    $(command -v pgbouncer || echo /usr/sbin/pgbouncer) ($( (pgbouncer --version 2>/dev/null || /usr/sbin/pgbouncer --version) | head -1 | awk '{print $NF}'))"

# --- 4. openssl: backend-redis's TLS test signs a throwaway certificate ----------
if ! command -v openssl >/dev/null 2>&1; then
  echo "test-services: installing openssl from apt"
  apt_install openssl
fi
echo "test-services: openssl      $(command -v openssl) ($(openssl version | cut -d' ' -f2))"

# --- 5. qemu-user: run the other architecture's standalone executable -----------
case "$(uname -m)" in
  x86_64) other_arch=arm64 qemu=qemu-aarch64-static ;;
  aarch64) other_arch=amd64 qemu=qemu-x86_64-static ;;
  *) other_arch="" qemu="" ;;
esac
if [ -n "$qemu" ]; then
  if ! command -v "$qemu" >/dev/null 2>&1 || ! dpkg -s "libc6:$other_arch" >/dev/null 2>&1; then
    echo "test-services: installing $qemu and libc6:$other_arch from apt"
    $SUDO dpkg --add-architecture "$other_arch"
    apt_updated=""
    apt_install qemu-user-static "libc6:$other_arch" "libstdc++6:$other_arch" "libgcc-s1:$other_arch"
  fi
  echo "test-services: $qemu $(command -v "$qemu") ($("$qemu" --version | head -1 | sed 's/.*version //'))"
  # The executable starts a copy of itself beside each command (its keeper), so under emulation the
  # kernel must know to run the other architecture's binaries with qemu: register it with binfmt_misc,
  # as Debian's qemu-user-binfmt does, pointing at the static emulator (flag F: usable from any mount
  # namespace).
  binfmt=/proc/sys/fs/binfmt_misc
  handler="qemu-${qemu#qemu-}"
  handler="${handler%-static}"
  if [ ! -e "$binfmt/register" ]; then $SUDO mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true; fi
  if [ ! -e "$binfmt/$handler" ] && [ -e "/usr/lib/binfmt.d/$handler.conf" ] && [ -e "$binfmt/register" ]; then
    sed -e "s#:[^:]*:[A-Z]*\$#:$(command -v "$qemu"):F#" "/usr/lib/binfmt.d/$handler.conf" | $SUDO tee "$binfmt/register" >/dev/null ||
      echo "test-services: could not register $handler with binfmt_misc"
  fi
  if [ -e "$binfmt/$handler" ]; then
    echo "test-services: binfmt_misc  $handler -> $(sed -n 's/^interpreter //p' "$binfmt/$handler")"
  else
    echo "test-services: binfmt_misc  $handler not registered: the other architecture's exec tests will fail"
  fi
fi

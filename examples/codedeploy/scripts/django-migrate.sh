#!/bin/bash
# AfterInstall: apply Django migrations once per deployment.
#
# Before, by hand:
#
#   if [ "$(aws ssm get-parameter --name /shop/migrate --query Parameter.Value --output text)" = "0" ]; then
#     aws ssm put-parameter --name /shop/migrate --value 1 --overwrite
#     python manage.py migrate --noinput >> /var/log/migrate.log 2>&1
#   fi
#
# Now the migration's own exit status is the hook's on the instance that ran
# it; the others wait and fail too if it failed (exit 1), instead of starting
# the new code on the old schema.
set -euo pipefail
. "$(dirname "$0")/runonce-env.sh"
APP_DIR="${APP_DIR:-/srv/shop}"
LOG_DIR="${LOG_DIR:-/var/log}"
cd "$APP_DIR"

exec runonce exec django-migrate \
  --wait-timeout 25m \
  --log-file "$LOG_DIR/migrate.log" \
  -- "$APP_DIR/venv/bin/python" manage.py migrate --noinput

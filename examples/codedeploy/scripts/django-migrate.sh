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
cd /srv/shop

exec runonce exec django-migrate \
  --wait-timeout 25m \
  --log-file /var/log/migrate.log \
  -- /srv/shop/venv/bin/python manage.py migrate --noinput

#!/bin/bash
# AfterInstall: upgrade Odoo's modules (-u all) once per deployment.
#
# Before, by hand (each defect is what runonce removes):
#
#   FLAG=$(aws ssm get-parameter --name /shop/odoo-upgrade --query Parameter.Value --output text)
#   if [ "$FLAG" = "0" ]; then                      # two instances can both read 0 and both run
#     aws ssm put-parameter --name /shop/odoo-upgrade --value 1 --overwrite   # "done" before it ran
#     odoo -u all --stop-after-init ... | tee -a /var/log/odoo-upgrade.log
#     echo "upgrade finished"; if [ $? -ne 0 ]; then exit 1; fi            # $? of echo: never fails
#   fi                                               # the others skip at once and start on the old schema
#
# Now: one instance claims the task and runs the upgrade; the others wait for
# its outcome and exit with it (0 done, 1 failed); instances launched later by
# auto-scaling see it done and skip. A crashed runner is taken over after one
# lease; a hook timeout or scale-in (SIGTERM) records the attempt abandoned so
# the next instance takes over at once.
set -euo pipefail
. "$(dirname "$0")/runonce-env.sh"
ODOO_PYTHON="${ODOO_PYTHON:-/opt/odoo/venv/bin/python}"
LOG_DIR="${LOG_DIR:-/var/log}"

exec runonce exec odoo-upgrade \
  --wait-timeout 55m \
  --log-file "$LOG_DIR/odoo-upgrade.log" \
  -- sudo -u odoo "$ODOO_PYTHON" /opt/odoo/odoo-bin \
  -c /etc/odoo/odoo.conf -d shop -u all --stop-after-init

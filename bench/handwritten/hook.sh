#!/bin/bash
# The hand-written pattern runonce replaces, as such deployment hooks are
# written (a CodeDeploy AfterInstall script; see
# examples/codedeploy/scripts/odoo-upgrade.sh). The pipeline puts 0 into the
# parameter at the start of a deployment; each instance runs this script.
# `pnpm bench` races 12 of these against 12 `runonce exec`.
#
#   PARAM                 the flag parameter (the pipeline resets it to 0)
#   MARKER                passed on to task.sh, which appends one line per run
#   AWS_ENDPOINT_URL_SSM  the emulator: the only thing a real hook would not have

PARAM="${PARAM:-/shop/db-migration}"
ENDPOINT=${AWS_ENDPOINT_URL_SSM:+--endpoint-url $AWS_ENDPOINT_URL_SSM}
LOG="${LOG:-/dev/null}"

FLAG=$(aws ssm get-parameter $ENDPOINT --name "$PARAM" --query Parameter.Value --output text)
if [ "$FLAG" = "0" ]; then # two instances can both read 0 and both run
  aws ssm put-parameter $ENDPOINT --name "$PARAM" --value 1 --type String --overwrite >/dev/null # "done" before it ran
  bash "$(dirname "$0")/task.sh" | tee -a "$LOG"
  echo "migration finished"
  if [ $? -ne 0 ]; then exit 1; fi # $? of echo: a failed migration is never seen
fi                                 # the others skip at once and start on the old schema

# Sourced by the hook scripts: the settings every instance shares.
# (Or put them in /srv/shop/runonce.config.yaml: flags > environment > config file.)
# Values already in the environment win (examples/odoo-upgrade runs these hooks on the file backend).
export RUNONCE_BACKEND="${RUNONCE_BACKEND:-ssm}"        # built into runonce, like dynamodb and redis
# install-runonce.sh (BeforeInstall) puts runonce here; the agent's hooks get the PATH of /etc/profile.
case ":$PATH:" in *":${RUNONCE_INSTALL_DIR:-/usr/local/bin}:"*) ;; *) export PATH="${RUNONCE_INSTALL_DIR:-/usr/local/bin}:$PATH" ;; esac
export RUNONCE_NAMESPACE="${RUNONCE_NAMESPACE:-shop-prod}"  # one per app and environment
export RUNONCE_SSM_PREFIX="${RUNONCE_SSM_PREFIX:-/runonce}"
export AWS_REGION="${AWS_REGION:-eu-west-1}"

# Name the owner after the instance, so `runonce status` and the waiting
# instances' lines say which instance runs the task (IMDSv2).
if [ -z "${RUNONCE_OWNER:-}" ]; then
  token=$(curl -sf --connect-timeout 2 -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' || true)
fi
if [ -n "${token:-}" ]; then
  RUNONCE_OWNER=$(curl -sf -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id || true)
  export RUNONCE_OWNER
fi

# NOT the scope: CodeDeploy's $DEPLOYMENT_ID. See README.md.

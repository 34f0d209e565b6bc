# Sourced by the hook scripts: the settings every instance shares.
# (Or put them in /srv/shop/runonce.config.yaml: flags > environment > config file.)
# Values already in the environment win (examples/odoo-upgrade runs these hooks on the file backend).
export RUNONCE_BACKEND="${RUNONCE_BACKEND:-ssm}"        # built into runonce, like dynamodb and redis
# install-runonce.sh (BeforeInstall) puts runonce here; the agent's hooks get the PATH of /etc/profile.
case ":$PATH:" in *":${RUNONCE_INSTALL_DIR:-/usr/local/bin}:"*) ;; *) export PATH="${RUNONCE_INSTALL_DIR:-/usr/local/bin}:$PATH" ;; esac
export RUNONCE_NAMESPACE="${RUNONCE_NAMESPACE:-shop-prod}"  # one per app and environment
export RUNONCE_SSM_PREFIX="${RUNONCE_SSM_PREFIX:-/runonce}"
# The instance's metadata (IMDSv2), asked only for what is not set already: one token for both
# questions. On EC2 it answers in milliseconds; elsewhere (on-premises instances) it costs at most the
# 1 s connect timeout, and nothing when RUNONCE_OWNER and AWS_REGION are set.
imds=${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}
imds_token=""
if [ -z "${RUNONCE_OWNER:-}" ] || [ -z "${AWS_REGION:-${AWS_DEFAULT_REGION:-}}" ]; then
  imds_token=$(curl -sf --connect-timeout 1 --max-time 2 -X PUT "$imds/latest/api/token" \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' || true)
fi
imds_get() {
  [ -n "$imds_token" ] && curl -sf --connect-timeout 1 --max-time 2 -H "X-aws-ec2-metadata-token: $imds_token" "$imds/latest/$1"
}

# Name the owner after the instance, so `runonce status` and the waiting
# instances' lines say which instance runs the task.
if [ -z "${RUNONCE_OWNER:-}" ]; then
  RUNONCE_OWNER=$(imds_get meta-data/instance-id || true)
  [ -n "$RUNONCE_OWNER" ] && export RUNONCE_OWNER || unset RUNONCE_OWNER
fi

# The region: never a default. The agent sets none, and a guessed region is another region's
# parameters, where every task looks new and runs again.
if [ -z "${AWS_REGION:-}" ]; then
  AWS_REGION=${AWS_DEFAULT_REGION:-$(imds_get meta-data/placement/region || true)}
  case "$RUNONCE_BACKEND" in
    ssm | dynamodb | s3)
      if [ -z "$AWS_REGION" ]; then
        echo "runonce-env.sh: no AWS region: not on EC2 (or its metadata service is off), and neither AWS_REGION nor AWS_DEFAULT_REGION is set. Set AWS_REGION here or in the instance's environment; runonce will not guess one." >&2
        exit 78
      fi
      ;;
  esac
  [ -n "$AWS_REGION" ] && export AWS_REGION || unset AWS_REGION
fi

# NOT the scope: CodeDeploy's $DEPLOYMENT_ID. See README.md.

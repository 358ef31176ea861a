#!/usr/bin/env bash
# The main job on a fresh machine: set everything up, then run the agent on examples/local.
# Stop it with Ctrl-C: the containers keep running (the agent is not their parent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
state=.certitrack-state/example
mkdir -p "$state"
chmod 700 "$state"
secrets="$state/secrets.env"
if [ ! -f "$secrets" ]; then
  # Development secrets, generated once per checkout; production reads /etc/certitrack/secrets.env.
  umask 077
  {
    echo "DB_PASSWORD=$(openssl rand -hex 16)"
    echo "REDIS_PASSWORD=$(openssl rand -hex 16)"
    echo "JWT_SECRET=$(openssl rand -hex 32)"
  } > "$secrets"
fi
# Volume backups run tar in a helper container; here it is the locally built busybox.
export CERTITRACK_HELPER_IMAGE="${CERTITRACK_HELPER_IMAGE:-certitrack-test/busybox:latest}"
exec node dist/cli.js run \
  --manifests examples/local \
  --state-dir "$state" \
  --secrets-file "$secrets" \
  --instance certitrack-example \
  --listen "${CERTITRACK_LISTEN:-127.0.0.1:9464}" "$@"

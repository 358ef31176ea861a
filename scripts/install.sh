#!/usr/bin/env bash
# Installs certitrack-agent on one host: Docker, git, Node.js 20, the agent built from this checkout
# (or an npm package), its configuration under /etc/certitrack and the systemd unit.
# The bootstrap stack's user data runs it; an operator can run it by hand (see docs/install.md).
#
# Idempotent: running it again upgrades the agent in place, keeps secrets.env and the manifests,
# and rewrites agent.env only when configuration options are given.
set -euo pipefail

SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly SRC_DIR
readonly LIB_DIR=/usr/local/lib/certitrack-agent
readonly BIN=/usr/local/bin/certitrack-agent
readonly CONF_DIR=/etc/certitrack
readonly DATA_DIR=/opt/certitrack
readonly UNIT_PATH=/etc/systemd/system/certitrack-agent.service

package=""
region=""
stack_name=""
domain=""
manifests_repo=""
manifests_branch=""
poll_interval=""
data_volume_id=""
start=yes
config_given=no

usage() {
  cat <<'EOF'
Usage: install.sh [options]

  --package SPEC             npm install -g SPEC (tarball or certitrack-agent@VERSION) instead of
                             building the checkout this script lives in
  --region REGION            AWS region (AWS_REGION in agent.env)
  --stack-name NAME          bootstrap CloudFormation stack whose outputs the agent reads
  --domain NAME              the site's public host name
  --manifests-repo URL       git repository of the manifests (credentials go in
                             /etc/certitrack/git-credentials, never in the URL)
  --manifests-branch BRANCH  default main
  --poll-interval DURATION   how often to fetch the repository, default 60s
  --data-volume-id vol-…     format (only if blank) and mount this EBS volume at /opt/certitrack
                             and keep Docker's data on it
  --no-start                 install and enable the unit without (re)starting it
  -h, --help
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --package) package="$2"; shift 2 ;;
    --region) region="$2"; config_given=yes; shift 2 ;;
    --stack-name) stack_name="$2"; config_given=yes; shift 2 ;;
    --domain) domain="$2"; config_given=yes; shift 2 ;;
    --manifests-repo) manifests_repo="$2"; config_given=yes; shift 2 ;;
    --manifests-branch) manifests_branch="$2"; config_given=yes; shift 2 ;;
    --poll-interval) poll_interval="$2"; config_given=yes; shift 2 ;;
    --data-volume-id) data_volume_id="$2"; shift 2 ;;
    --no-start) start=no; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

log() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
systemd_running() { [ -d /run/systemd/system ]; }

# Package mirrors and nodejs.org fail transiently on first boot more often than at any other time.
retry() {
  local attempt
  for attempt in 1 2 3 4 5; do
    "$@" && return 0
    log "attempt $attempt of: $* failed; retrying"
    sleep $((attempt * 5))
  done
  return 1
}

[ "$(id -u)" -eq 0 ] || die "run as root"

install_packages() {
  if have apt-get; then
    export DEBIAN_FRONTEND=noninteractive
    retry apt-get update -q
    retry apt-get install -y -q docker.io git ca-certificates curl xz-utils e2fsprogs
  elif have dnf; then
    # Amazon Linux ships curl-minimal, which conflicts with the curl package.
    retry dnf install -y -q docker git tar xz e2fsprogs
    have curl || retry dnf install -y -q curl
  else
    die "neither apt-get nor dnf found; install docker, git, curl and xz by hand, then rerun"
  fi
}

# The volume appears a little after boot (CloudFormation attaches it once the instance exists).
# Nitro instances expose it as an NVMe device named after the volume id; Xen ones as xvdf.
find_data_device() {
  local id_no_dash by_id waited=0
  id_no_dash="$(printf '%s' "$1" | tr -d '-')"
  by_id="/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${id_no_dash}"
  while [ "$waited" -lt 600 ]; do
    for dev in "$by_id" /dev/xvdf /dev/sdf; do
      if [ -b "$dev" ]; then readlink -f "$dev"; return 0; fi
    done
    sleep 5
    waited=$((waited + 5))
  done
  return 1
}

mount_data_volume() {
  local dev uuid
  if mountpoint -q "$DATA_DIR"; then
    log "$DATA_DIR is already mounted"
  else
    log "waiting for data volume $data_volume_id"
    dev="$(find_data_device "$data_volume_id")" || die "data volume $data_volume_id did not appear within 10 minutes"
    # Never format a volume that has a filesystem: after an instance replacement it holds the data.
    if ! blkid "$dev" >/dev/null 2>&1; then
      log "formatting blank volume $dev"
      mkfs.ext4 -q -L certitrack-data "$dev"
    fi
    uuid="$(blkid -s UUID -o value "$dev")"
    mkdir -p "$DATA_DIR"
    if ! grep -q "UUID=$uuid" /etc/fstab; then
      printf 'UUID=%s %s ext4 defaults,nofail,x-systemd.device-timeout=60s 0 2\n' "$uuid" "$DATA_DIR" >>/etc/fstab
    fi
    mount "$DATA_DIR"
  fi
  # Docker's images and named volumes (the database) belong on the data volume too. Only on a
  # fresh engine: moving an existing data-root would hide its containers and volumes.
  if [ ! -e /etc/docker/daemon.json ] && [ ! -d /var/lib/docker/volumes ]; then
    mkdir -p /etc/docker "$DATA_DIR/docker"
    printf '{\n  "data-root": "%s/docker"\n}\n' "$DATA_DIR" >/etc/docker/daemon.json
  fi
  mkdir -p /etc/systemd/system/docker.service.d
  printf '[Unit]\nRequiresMountsFor=%s\n' "$DATA_DIR" >/etc/systemd/system/docker.service.d/certitrack-data.conf
}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

install_node() {
  if have node && [ "$(node_major)" -ge 20 ]; then
    log "Node.js $(node --version) already installed"
    return
  fi
  local arch tmp file
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) die "no Node.js build for $(uname -m)" ;;
  esac
  tmp="$(mktemp -d)"
  # The newest 20.x release, checked against the release's published SHA-256 sums.
  retry curl -fsSL -o "$tmp/SHASUMS256.txt" https://nodejs.org/dist/latest-v20.x/SHASUMS256.txt
  file="$(awk -v a="linux-$arch.tar.xz" '$2 ~ a"$" { print $2 }' "$tmp/SHASUMS256.txt")"
  [ -n "$file" ] || die "no linux-$arch tarball listed for Node.js 20"
  retry curl -fsSL -o "$tmp/$file" "https://nodejs.org/dist/latest-v20.x/$file"
  (cd "$tmp" && grep " $file\$" SHASUMS256.txt | sha256sum -c -) || die "checksum mismatch for $file"
  tar -xJf "$tmp/$file" -C /usr/local --strip-components=1 --no-same-owner \
    --exclude='*/CHANGELOG.md' --exclude='*/LICENSE' --exclude='*/README.md'
  rm -rf "$tmp"
  log "installed Node.js $(/usr/local/bin/node --version)"
}

# Built in the checkout, then installed as its own copy with production dependencies only, so the
# checkout can be deleted or updated without touching the running agent.
install_agent_from_checkout() {
  [ -f "$SRC_DIR/package.json" ] || die "$SRC_DIR is not an agent checkout; use --package"
  log "building the agent in $SRC_DIR"
  (cd "$SRC_DIR" && npm ci --no-audit --no-fund && npm run build)
  local stage="$LIB_DIR.new"
  rm -rf "$stage"
  mkdir -p "$stage"
  cp -a "$SRC_DIR/dist" "$SRC_DIR/package.json" "$SRC_DIR/package-lock.json" "$SRC_DIR/agent.service" "$stage/"
  (cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund)
  rm -rf "$LIB_DIR.old"
  if [ -d "$LIB_DIR" ]; then mv "$LIB_DIR" "$LIB_DIR.old"; fi
  mv "$stage" "$LIB_DIR"
  rm -rf "$LIB_DIR.old"
  # A wrapper rather than a symlink to cli.js: it works whether or not cli.js carries a shebang.
  printf '#!/bin/sh\nexec node %s/dist/cli.js "$@"\n' "$LIB_DIR" >"$BIN"
  chmod 0755 "$BIN"
}

install_agent_from_package() {
  log "installing $package with npm"
  retry npm install -g --no-audit --no-fund "$package"
}

write_agent_env() {
  local file="$CONF_DIR/agent.env"
  if [ "$config_given" = no ] && [ -f "$file" ]; then
    log "keeping $file"
    return
  fi
  log "writing $file"
  local tmp="$file.tmp"
  {
    echo "# certitrack-agent configuration, read through agent.service's EnvironmentFile."
    echo "# Written by scripts/install.sh; rerun it with options, or edit and 'systemctl restart certitrack-agent'."
    [ -n "$region" ] && echo "AWS_REGION=$region"
    [ -n "$stack_name" ] && echo "CERTITRACK_STACK_NAME=$stack_name"
    [ -n "$domain" ] && echo "CERTITRACK_DOMAIN=$domain"
    if [ -n "$manifests_repo" ]; then
      echo "CERTITRACK_MANIFESTS_GIT_URL=$manifests_repo"
      echo "CERTITRACK_MANIFESTS_GIT_BRANCH=${manifests_branch:-main}"
      echo "CERTITRACK_MANIFESTS_POLL_INTERVAL=${poll_interval:-60s}"
      echo "CERTITRACK_MANIFESTS_GIT_CREDENTIALS=$CONF_DIR/git-credentials"
    else
      echo "# Manifests are read from $CONF_DIR/manifests. To sync them from git instead:"
      echo "#CERTITRACK_MANIFESTS_GIT_URL=https://github.com/example/certitrack-manifests.git"
      echo "#CERTITRACK_MANIFESTS_GIT_BRANCH=main"
      echo "#CERTITRACK_MANIFESTS_POLL_INTERVAL=60s"
      echo "#CERTITRACK_MANIFESTS_GIT_CREDENTIALS=$CONF_DIR/git-credentials"
    fi
  } >"$tmp"
  chmod 0644 "$tmp"
  mv "$tmp" "$file"
}

# Created once and never overwritten: it holds the only copy of the secrets.
write_secrets_env() {
  local file="$CONF_DIR/secrets.env"
  if [ -f "$file" ]; then
    chmod 0600 "$file"
    log "keeping $file"
    return
  fi
  log "creating $file (fill in the secrets your manifests reference)"
  local webhook_secret
  webhook_secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  (
    umask 077
    cat >"$file" <<EOF
# Secrets for { secretRef: NAME } in the manifests, one NAME=value per line. Mode 0600, root only.
# Never commit this file; the seed's .env.production values go here.
#DB_PASSWORD=
#REDIS_PASSWORD=
#JWT_SECRET=
#SMTP_HOST=
#SMTP_PORT=
#SMTP_USERNAME=
#SMTP_PASSWORD=
# Shared secret of the git webhook (POST /hooks/git); generated at install.
CERTITRACK_WEBHOOK_SECRET=$webhook_secret
EOF
  )
}

install_unit() {
  install -m 0644 "$SRC_DIR/agent.service" "$UNIT_PATH"
  if ! systemd_running; then
    log "systemd is not running here: installed $UNIT_PATH without enabling it"
    return
  fi
  systemctl daemon-reload
  systemctl enable --now docker.service
  systemctl enable certitrack-agent.service
  if [ "$start" = yes ]; then
    systemctl restart certitrack-agent.service
    log "started; follow it with: journalctl -u certitrack-agent -f"
  fi
}

# The shipped manifests and nginx configuration, on first install only: afterwards they are the
# operator's (or come from git), and an upgrade must not overwrite local changes.
seed_host_files() {
  if [ -z "$(ls -A "$CONF_DIR/manifests" 2>/dev/null)" ] && [ -d "$SRC_DIR/manifests" ]; then
    log "installing the shipped manifests into $CONF_DIR/manifests"
    cp -a "$SRC_DIR/manifests/." "$CONF_DIR/manifests/"
  fi
  install -d -m 0755 "$DATA_DIR/nginx" "$DATA_DIR/nginx/acme-challenge"
  install -d -m 0700 "$DATA_DIR/nginx/ssl"
  if [ ! -f "$DATA_DIR/nginx/nginx.conf" ] && [ -f "$SRC_DIR/nginx/nginx.conf" ]; then
    install -m 0644 "$SRC_DIR/nginx/nginx.conf" "$DATA_DIR/nginx/nginx.conf"
  fi
  # The host policy (docs/security.md): what manifests may touch beyond their folder. Root-owned,
  # not group/other-writable, or the agent refuses it.
  if [ ! -f "$CONF_DIR/policy.yaml" ] && [ -f "$SRC_DIR/policy.yaml" ]; then
    install -m 0644 "$SRC_DIR/policy.yaml" "$CONF_DIR/policy.yaml"
  fi
}

main() {
  if [ -n "$data_volume_id" ]; then mount_data_volume; fi
  install_packages
  install_node
  if [ -n "$package" ]; then install_agent_from_package; else install_agent_from_checkout; fi
  have certitrack-agent || die "certitrack-agent is not on PATH after installing"
  install -d -m 0755 "$CONF_DIR" "$CONF_DIR/manifests" "$DATA_DIR"
  seed_host_files
  write_agent_env
  write_secrets_env
  install_unit
  log "done"
}

main

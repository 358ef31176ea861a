#!/usr/bin/env bash
# Removes certitrack-agent: stops and disables its unit and deletes the agent's program files.
# Deliberately leaves alone everything the agent manages or remembers: containers keep running,
# volumes, images and networks stay, and so do /etc/certitrack (config, secrets, manifests),
# /var/lib/certitrack-agent (state) and /opt/certitrack (data). Running install.sh again picks up
# where the agent left off. Idempotent.
set -euo pipefail

readonly LIB_DIR=/usr/local/lib/certitrack-agent
readonly BIN=/usr/local/bin/certitrack-agent
readonly UNIT_PATH=/etc/systemd/system/certitrack-agent.service

log() { printf 'uninstall.sh: %s\n' "$*"; }

[ "$(id -u)" -eq 0 ] || { echo "uninstall.sh: run as root" >&2; exit 1; }

if [ -d /run/systemd/system ] && systemctl list-unit-files certitrack-agent.service >/dev/null 2>&1; then
  # The agent is not the containers' parent: stopping it leaves them running.
  systemctl disable --now certitrack-agent.service || true
fi
if [ -e "$UNIT_PATH" ]; then
  rm -f "$UNIT_PATH"
  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
  log "removed $UNIT_PATH"
fi

# Only our own wrapper: a certitrack-agent someone put there by other means is not ours to delete.
if [ -f "$BIN" ] && grep -q "$LIB_DIR/dist/cli.js" "$BIN" 2>/dev/null; then
  rm -f "$BIN"
  log "removed $BIN"
fi
if [ -d "$LIB_DIR" ]; then
  rm -rf "$LIB_DIR" "$LIB_DIR.new" "$LIB_DIR.old"
  log "removed $LIB_DIR"
fi
if command -v npm >/dev/null 2>&1 && npm ls -g --depth=0 certitrack-agent >/dev/null 2>&1; then
  npm uninstall -g certitrack-agent
  log "removed the npm-installed certitrack-agent"
fi

log "left in place: containers, volumes and images; /etc/certitrack; /var/lib/certitrack-agent; /opt/certitrack"
log "docs/install.md lists how to remove them by hand if you really mean to"

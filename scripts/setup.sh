#!/usr/bin/env bash
# Everything a fresh Debian 12 machine needs to run the agent and its tests, idempotent:
# Debian packages (Docker Engine, busybox, debootstrap, Pebble, git, Prometheus, kubectl), a running dockerd,
# node modules, the compiled agent, and the locally built images.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[setup] %s\n' "$*" >&2; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v pebble >/dev/null 2>&1 || missing+=(pebble)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v git >/dev/null 2>&1 || missing+=(git)
# promtool and a real Prometheus for the shipped rules and dashboard (test/integration/observability.test.ts).
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# `kubectl kustomize` renders what `export kubernetes` writes (a newer kubectl, if present, does too).
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
# The peer the benchmarks measure against (npm run bench); not needed by the tests.
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then log "need root to install: ${missing[*]}"; exit 1; fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  (setsid dockerd >/var/log/dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
log "compiling"
npm run --silent build
bash scripts/build-images.sh
log "ready"

#!/usr/bin/env bash
# Builds the local images the tests, benchmarks and examples/local need, with no registry:
#   certitrack-test/busybox   FROM scratch + Debian's busybox-static (~2 MB, about a second)
#   certitrack-test/debian    debootstrap --variant=minbase bookworm, imported (about a minute, once)
#   certitrack-test/<dir>     every test/images/<dir>/Dockerfile, built on top of those
#   certitrack-agent:<version> the agent itself (docker/agent/Dockerfile), also tagged latest
# Images whose inputs did not change are skipped (a hash of the build context is kept as a label).
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
has_image() { docker image inspect "$1" >/dev/null 2>&1; }
label_of() { docker image inspect -f "{{ index .Config.Labels \"io.certitrack.context-hash\" }}" "$1" 2>/dev/null || true; }
log() { printf '[build-images] %s\n' "$*" >&2; }

if ! has_image certitrack-test/busybox:latest; then
  need busybox || { log "installing busybox-static"; apt-get install -y -qq busybox-static >/dev/null; }
  ctx=$(mktemp -d)
  cp "$(command -v busybox)" "$ctx/busybox"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /var/www /etc && chmod 1777 /tmp && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> /etc/passwd
DOCKERFILE
  log "building certitrack-test/busybox"
  docker build -q -t certitrack-test/busybox:latest "$ctx" >/dev/null
  rm -rf "$ctx"
fi

if ! has_image certitrack-test/debian:bookworm; then
  need debootstrap || { log "installing debootstrap"; apt-get install -y -qq debootstrap >/dev/null; }
  root=$(mktemp -d)
  log "debootstrap bookworm (about a minute)"
  debootstrap --variant=minbase bookworm "$root" >/dev/null
  tar -C "$root" -c . | docker import - certitrack-test/debian:bookworm >/dev/null
  rm -rf "$root"
fi

# Contexts are built in name order; one that builds FROM another names it with a numeric prefix.
for dir in test/images/*/; do
  name=$(basename "$dir")
  [ -f "$dir/Dockerfile" ] || continue
  tag="certitrack-test/${name#[0-9][0-9]-}:latest"
  hash=$(cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  if [ "$(label_of "$tag")" = "$hash" ]; then continue; fi
  log "building $tag"
  docker build -q --label "io.certitrack.context-hash=$hash" -t "$tag" "$dir" >/dev/null
done
# The agent's image, from a staged context: this host's node binary, dist/ and the production
# node_modules. Its hash covers what goes in, so an unchanged agent is not staged at all.
version=$(node -p "require('./package.json').version")
node_bin=$(command -v node)
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || { log "node $(node --version) is too old for the agent image (needs >= 20.19)"; exit 1; }
[ -f dist/cli.js ] || npm run --silent build
# Not the CLI's code cache: it differs from build to build for the same bundle (and a cache kept
# from an earlier build of the same bundle is as good).
hash=$({ sha256sum docker/agent/Dockerfile package.json package-lock.json "$node_bin"; find dist -type f ! -name '*.cache' -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
if [ "$(label_of "certitrack-agent:$version")" != "$hash" ]; then
  log "building certitrack-agent:$version"
  ctx=$(mktemp -d)
  mkdir "$ctx/agent"
  cp docker/agent/Dockerfile "$ctx/"
  cp "$node_bin" "$ctx/node"
  # -a: the launcher trusts the code cache only if it is not older than the bundle.
  cp -a dist package.json package-lock.json "$ctx/agent/"
  (cd "$ctx/agent" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
  docker build -q --label "io.certitrack.context-hash=$hash" -t "certitrack-agent:$version" -t certitrack-agent:latest "$ctx" >/dev/null
  rm -rf "$ctx"
fi
log "images ready"

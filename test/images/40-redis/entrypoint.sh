#!/bin/sh
# requirepass from the environment through a config file on stdin-less tmp, not argv.
set -eu
conf=/tmp/redis.conf
umask 077
{
  echo "dir /data"
  echo "appendonly yes"
  echo "bind 0.0.0.0"
  echo "protected-mode no"
  if [ -n "${REDIS_PASSWORD:-}" ]; then echo "requirepass ${REDIS_PASSWORD}"; fi
} > "$conf"
exec redis-server "$conf" "$@"

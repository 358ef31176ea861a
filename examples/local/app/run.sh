#!/bin/sh
# Roles: api (port 8080), web (port 3000), worker (checks its dependencies like the real one would).
case "${ROLE:-api}" in
  api) exec httpd -f -p 8080 -h /www ;;
  web) exec httpd -f -p 3000 -h /www ;;
  worker)
    trap 'exit 0' TERM
    while true; do
      if nc -z -w 2 postgres 5432 && nc -z -w 2 redis 6379; then echo "worker: queue ok"; else echo "worker: dependencies unreachable" >&2; fi
      sleep 30 & wait $!
    done ;;
  *) echo "unknown ROLE ${ROLE}" >&2; exit 64 ;;
esac

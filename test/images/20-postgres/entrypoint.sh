#!/bin/sh
# First start: initdb, then create POSTGRES_USER (with POSTGRES_PASSWORD) owning POSTGRES_DB.
# Local (socket) connections are trusted, as in the official image; TCP needs the password.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}" "${POSTGRES_PASSWORD:=}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  echo "fsync = off" >> "$PGDATA/postgresql.conf"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$POSTGRES_USER" != postgres ]; then
    psql -v ON_ERROR_STOP=1 -U postgres -d postgres -q -c "CREATE ROLE \"$POSTGRES_USER\" LOGIN SUPERUSER PASSWORD '$POSTGRES_PASSWORD'"
  elif [ -n "$POSTGRES_PASSWORD" ]; then
    psql -v ON_ERROR_STOP=1 -U postgres -d postgres -q -c "ALTER ROLE postgres PASSWORD '$POSTGRES_PASSWORD'"
  fi
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 -U postgres -d postgres -q -c "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\""
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" "$@"

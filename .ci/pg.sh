#!/usr/bin/env bash
# Start a throwaway PostgreSQL (Debian's packages) on loopback for the tests; prints the URL.
# Usage: source .ci/pg.sh   (exports TEST_POSTGRES_URL and registers a stop on exit)
set -euo pipefail
PG_PORT="${PG_PORT:-55432}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PGDATA="$(mktemp -d /tmp/patentbot-pg.XXXXXX)"
chown postgres:postgres "$PGDATA"
# UTF-8 locale: pg_trgm and collation of Chinese text need it (a C-locale cluster extracts no trigrams)
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
  -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=200" start >/dev/null
export TEST_POSTGRES_URL="postgresql+asyncpg://postgres@127.0.0.1:${PG_PORT}/postgres"
export PGDATA PGBIN
stop_pg() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$PGDATA"; }
trap stop_pg EXIT

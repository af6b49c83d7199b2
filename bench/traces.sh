#!/usr/bin/env bash
# Recall traces at city scale: foodtrace over HTTP against PostgreSQL recursive CTEs on
# the same data, in the same run. Starts a throwaway PostgreSQL (Debian's package) on a
# Unix socket, runs the benchmark, stops it. Extra arguments go to the benchmark
# (--requests N, --seconds S, --clients C, --data-dir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq postgresql
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGDATA=$(mktemp -d /tmp/foodtrace-pg.XXXXXX)
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown postgres "$PGDATA"; fi
as_postgres "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w start \
    -o "-k $PGDATA -c listen_addresses='' -c shared_buffers=1GB -c work_mem=64MB -c max_connections=40 -c jit=off"
trap 'as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null; rm -rf "$PGDATA"' EXIT

cargo bench -p foodtrace-tests --bench traces -- --postgres "host=$PGDATA user=postgres dbname=postgres" "$@"

# Sourced: start a throwaway PostgreSQL on 127.0.0.1:$PGPORT as a non-root user,
# and stop it (and remove its data) when the calling script exits.
set -euo pipefail
PGPORT="${MANAGAIR_TEST_PGPORT:-54329}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    echo "Installing PostgreSQL (Debian package) ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi
PGDIR="$(mktemp -d /tmp/managair-pg-XXXXXX)"
chmod 755 "$PGDIR"
as_pg_user() {
    # PostgreSQL refuses to run as root.
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$PGDIR"
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
stop_postgres() {
    as_pg_user "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PGDIR"
}
trap stop_postgres EXIT
as_pg_user "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 --no-sync >"$PGDIR/initdb.log"
# No autovacuum: tests fill tables inside transactions they roll back, and an
# autovacuum that happened to run between two tests left statistics saying
# "empty", after which the planner chose nested loops that took minutes on a
# test's 2,000 rows. Without it, estimates follow the tables' actual size.
as_pg_user "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 30 -o \
    "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$PGDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off" \
    start >/dev/null || { cat "$PGDIR/server.log" >&2; exit 1; }
export SQL_ENGINE=django.db.backends.postgresql SQL_HOST=127.0.0.1 SQL_PORT="$PGPORT" \
    SQL_USER=postgres SQL_DATABASE=postgres SQL_PASSWORD=

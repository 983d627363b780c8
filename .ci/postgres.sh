#!/usr/bin/env bash
# A PostgreSQL server for the `postgres` tests, from Debian's packages. Run as root on
# Debian (no docker). Prints lines for the caller to source:
#   export ACCORD_TEST_PG_DSN=postgresql://...      a fresh database for this run
#   export ACCORD_TEST_PG_CLEANUP=...               what `--cleanup` undoes
# Everything else goes to stderr.
#
# One server lives in $ACCORD_PG_DIR (default /tmp/accord-pg). If it is already running
# (a developer started it, or another test run is using it) it is reused and only a new
# database is made; otherwise it is started, and marked as started by this run.
#   .ci/postgres.sh --cleanup   (reads ACCORD_TEST_PG_CLEANUP) drops this run's database
#                               and stops the server if this run started it.
#   .ci/postgres.sh --stop      stops the server whoever started it.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }
DIR=${ACCORD_PG_DIR:-/tmp/accord-pg}

find_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    done
    return 1
}

as_postgres() { su postgres -c "$1"; }

running() {
    [ -f "$DIR/db/postmaster.pid" ] && [ -f "$DIR/port" ] &&
        as_postgres "'$BIN/pg_ctl' -D '$DIR/db' status" >/dev/null 2>&1
}

stop_server() {
    if running; then
        as_postgres "'$BIN/pg_ctl' -D '$DIR/db' -m fast -w stop" >&2
        log "stopped the server in $DIR"
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
--cleanup)
    [ -n "${ACCORD_TEST_PG_CLEANUP:-}" ] || exit 0
    read -r DIR BIN db started <<<"$ACCORD_TEST_PG_CLEANUP"
    if [ "$started" = yes ]; then
        stop_server
    elif running; then
        as_postgres "'$BIN/dropdb' -h 127.0.0.1 -p $(cat "$DIR/port") -U postgres \
            --if-exists '$db'" >&2 || log "could not drop $db"
        log "left the running server in $DIR up (this run did not start it)"
    fi
    exit 0
    ;;
--stop)
    BIN=$(find_bin) || exit 0
    stop_server
    exit 0
    ;;
esac

if ! BIN=$(find_bin); then
    log "installing postgresql from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y postgresql >&2
    BIN=$(find_bin)
fi
log "using $BIN"

if ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi

started=no
if running; then
    PORT=$(cat "$DIR/port")
    log "reusing the server already running in $DIR (port $PORT)"
else
    rm -rf "$DIR"
    mkdir -p "$DIR"
    chown postgres:postgres "$DIR"
    chmod 700 "$DIR"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    as_postgres "'$BIN/initdb' -D '$DIR/db' -A trust -U postgres --no-sync" >/dev/null
    as_postgres "'$BIN/pg_ctl' -D '$DIR/db' -l '$DIR/server.log' -w \
        -o \"-h 127.0.0.1 -p $PORT -k '$DIR'\" start" >&2
    echo "$PORT" >"$DIR/port"
    started=yes
    log "started a server: data $DIR/db, port $PORT"
fi
db="accord_test_$$_$RANDOM"
as_postgres "'$BIN/createdb' -h 127.0.0.1 -p $PORT -U postgres '$db'" >&2
echo "export ACCORD_TEST_PG_DSN=postgresql://postgres@127.0.0.1:$PORT/$db"
echo "export ACCORD_TEST_PG_CLEANUP='$DIR $BIN $db $started'"

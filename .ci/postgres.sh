#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the `postgres` tests, from Debian's packages.
# Run as root on Debian (no docker). Prints one line for the caller to eval:
#   eval "$(.ci/postgres.sh)"   ->   export ACCORD_TEST_PG_DSN=postgresql://...
# Everything else goes to stderr. The cluster lives in a temp dir; stop it with
#   su postgres -c "pg_ctl -D <dir> stop"  (the directory is printed on stderr).
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    done
    return 1
}

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

DATA=$(mktemp -d /tmp/accord-pg.XXXXXX)
chown postgres:postgres "$DATA"
chmod 700 "$DATA"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

su postgres -c "'$BIN/initdb' -D '$DATA/db' -A trust -U postgres --no-sync" >&2
su postgres -c "'$BIN/pg_ctl' -D '$DATA/db' -l '$DATA/server.log' -w \
    -o \"-h 127.0.0.1 -p $PORT -k '$DATA'\" start" >&2
su postgres -c "'$BIN/createdb' -h 127.0.0.1 -p $PORT -U postgres accord_test" >&2
log "server running: data $DATA/db, port $PORT"
echo "export ACCORD_TEST_PG_DSN=postgresql://postgres@127.0.0.1:$PORT/accord_test"

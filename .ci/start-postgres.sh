#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the store's tests, and print its DSN.
#
#   export APIRUN_TEST_PG_DSN="$(bash .ci/start-postgres.sh)"
#
# - Installs Debian's `postgresql` package if no server binaries are found
#   (CI runs as root on a fresh Debian 12 machine).
# - Creates a cluster in ${APIRUN_PG_DATA:-/tmp/apirun-pg-<port>} with trust
#   authentication (test use only: anyone on this machine can connect), listening
#   on 127.0.0.1:${APIRUN_PG_PORT:-55432}, with TLS on (a self-signed certificate)
#   so that sslmode=require can be tested, and fsync off (a test cluster: speed
#   over durability).
# - Idempotent: if the server is already up, it only prints the DSN.
# - Only the DSN goes to stdout; progress goes to stderr.
set -euo pipefail

PORT="${APIRUN_PG_PORT:-55432}"
DATA="${APIRUN_PG_DATA:-/tmp/apirun-pg-${PORT}}"
LOG="${DATA}.log"
DSN="postgres://postgres@127.0.0.1:${PORT}/postgres"

say() { echo "start-postgres: $*" >&2; }

find_bin() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

BIN="$(find_bin || true)"
if [ -z "$BIN" ]; then
    if [ "$(id -u)" != 0 ]; then
        say "PostgreSQL server binaries not found and not root: install the 'postgresql' package"
        exit 1
    fi
    say "installing postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN="$(find_bin || true)"
    if [ -z "$BIN" ]; then
        say "postgresql installed but no server binaries under /usr/lib/postgresql/*/bin"
        exit 1
    fi
fi

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres; }

if ready; then
    say "a server already accepts connections on 127.0.0.1:${PORT}"
    echo "$DSN"
    exit 0
fi

# The server refuses to run as root: run its commands as `postgres` when we are root.
if [ "$(id -u)" = 0 ]; then
    OWNER=postgres
    if ! id "$OWNER" >/dev/null 2>&1; then
        say "no 'postgres' user to run the server as"
        exit 1
    fi
    as_owner() { runuser -u "$OWNER" -- "$@"; }
else
    OWNER="$(id -un)"
    as_owner() { "$@"; }
fi

if [ ! -f "$DATA/PG_VERSION" ]; then
    say "creating a cluster in $DATA"
    rm -rf "$DATA"
    mkdir -p "$DATA"
    chown "$OWNER" "$DATA"
    chmod 700 "$DATA"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync >&2
    {
        echo "# added by .ci/start-postgres.sh"
        echo "listen_addresses = '127.0.0.1'"
        echo "port = ${PORT}"
        echo "unix_socket_directories = '${DATA}'"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        echo "max_connections = 200"
    } >>"$DATA/postgresql.conf"
    if command -v openssl >/dev/null 2>&1; then
        as_owner openssl req -x509 -nodes -newkey rsa:2048 -days 3650 -subj "/CN=localhost" \
            -keyout "$DATA/server.key" -out "$DATA/server.crt" >/dev/null 2>&1
        chmod 600 "$DATA/server.key"
        echo "ssl = on" >>"$DATA/postgresql.conf"
    else
        say "openssl not found: TLS stays off (sslmode=require cannot be tested)"
    fi
fi

# A stale postmaster.pid from a killed server (e.g. a machine restart) is handled
# by pg_ctl itself; a server of this data dir running on another port is stopped.
if as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    say "the cluster in $DATA runs but does not answer on port ${PORT}: restarting it"
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
fi

touch "$LOG"
chown "$OWNER" "$LOG"
say "starting the server on 127.0.0.1:${PORT} (log: $LOG)"
if ! as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "-p ${PORT}" start >&2; then
    say "the server did not start; the end of its log:"
    tail -n 30 "$LOG" >&2 || true
    exit 1
fi

for _ in $(seq 1 120); do
    if ready; then
        echo "$DSN"
        exit 0
    fi
    sleep 0.5
done
say "the server did not accept connections within 60s; the end of its log:"
tail -n 30 "$LOG" >&2 || true
exit 1

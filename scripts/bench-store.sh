#!/usr/bin/env bash
# Benchmark of the state store, end to end (docs/store.md, "Durability and cost").
#
# Applies N migrations (default 1,000; each one POST to the demo API) with the
# release `apirun` and reports the time per recorded migration for:
#   http-only        curl sending the same N POSTs over one connection (the API alone)
#   store-disabled   apirun up with store.disabled: true (apirun without state)
#   sqlite-full      SQLite, WAL + synchronous=FULL (what apirun uses)
#   sqlite-normal    SQLite, WAL + synchronous=NORMAL (APIRUN_SQLITE_SYNCHRONOUS=normal)
#   postgres         PostgreSQL, synchronous_commit=on (the server default)
#   postgres-async   PostgreSQL with synchronous_commit=off (DSN options)
# Each apirun variant runs R times (default 3) on a fresh store; the median is
# reported. The store cost per migration is (variant - store-disabled) / N.
#
# Usage: scripts/bench-store.sh [N] [R]
# Env:   APIRUN_TEST_PG_DSN (default postgres://postgres@127.0.0.1:55432/postgres;
#        .ci/start-postgres.sh starts that server, with fsync=off: point this at a
#        default-configured server to measure durable commits); skip PostgreSQL
#        with BENCH_NO_PG=1.
#        BENCH_DIR (default target/bench-store; must be on a real disk, not tmpfs,
#        or fsync costs nothing). BENCH_APIRUN / BENCH_DEMO_API: binaries to use
#        (default target/release/..., built if missing).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-1000}"
R="${2:-3}"
PG_DSN="${APIRUN_TEST_PG_DSN:-postgres://postgres@127.0.0.1:55432/postgres}"
WORK="${BENCH_DIR:-$ROOT/target/bench-store}"
APIRUN="${BENCH_APIRUN:-$ROOT/target/release/apirun}"
DEMO="${BENCH_DEMO_API:-$ROOT/target/release/apirun-demo-api}"

if [ ! -x "$APIRUN" ] || [ ! -x "$DEMO" ]; then
    echo "building release binaries (cargo build --release -p apirun -p apirun-demo-api)" >&2
    (cd "$ROOT" && cargo build --release -p apirun -p apirun-demo-api >&2)
fi

rm -rf "$WORK"
mkdir -p "$WORK/project/migration"
DEMO_PID=""
PG_DB=""
cleanup() {
    [ -n "$DEMO_PID" ] && kill "$DEMO_PID" 2>/dev/null || true
    if [ -n "$PG_DB" ]; then
        psql "$PG_DSN" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

"$DEMO" --listen 127.0.0.1:0 --port-file "$WORK/port" >/dev/null 2>&1 &
DEMO_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
API="$(cat "$WORK/port")"

# N migration files: one POST each, into one collection.
for i in $(seq 1 "$N"); do
    printf 'up:\n  request:\n    method: POST\n    url: "{{.api_base}}/api/items"\n    body: %s\n  response:\n    result_code: ["201"]\n' \
        "'{\"n\": $i}'" >"$WORK/project/migration/$(printf '%06d' "$i")_item.yaml"
done

now() { date +%s.%N; }
reset_api() { curl -sf -X POST "$API/_admin/reset" >/dev/null; }

write_config() { # $1 = store block (indented lines)
    printf 'migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: %s\nlogging:\n  level: warn\nstore:\n%b' \
        "$API" "$1" >"$WORK/project/config.yaml"
}

# One timed `apirun up`; prints seconds. Checks that N were recorded (or sent).
run_up() { # $1 = expect "recorded" or "sent"
    reset_api
    local start end applied
    start=$(now)
    # shellcheck disable=SC2086 # BENCH_ENV is a list of VAR=value words
    (cd "$WORK/project" && env $BENCH_ENV "$APIRUN" --progress quiet --config config.yaml up >/dev/null)
    end=$(now)
    if [ "$1" = recorded ]; then
        applied=$(cd "$WORK/project" && "$APIRUN" --config config.yaml status --output json |
            python3 -c 'import json,sys; print(len(json.load(sys.stdin)["applied"]))')
        [ "$applied" = "$N" ] || { echo "expected $N applied, store has $applied" >&2; exit 1; }
    fi
    local sent
    sent=$(curl -sf "$API/_admin/state" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["collections"].get("items", [])))')
    [ "$sent" = "$N" ] || { echo "expected $N items at the API, found $sent" >&2; exit 1; }
    awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RESULT
bench() { # $1 = name, $2 = store block, $3 = fresh-store command, $4 = expect; env via BENCH_ENV
    local name="$1" block="$2" fresh="$3" expect="$4" times=""
    write_config "$block"
    for _ in $(seq 1 "$R"); do
        eval "$fresh"
        times+="$(run_up "$expect")"$'\n'
    done
    RESULT[$name]=$(printf '%s' "$times" | median)
    printf '%-16s median %7.3f s  (%s)\n' "$name" "${RESULT[$name]}" "$(printf '%s' "$times" | tr '\n' ' ')" >&2
}

# HTTP only: the same N POSTs from one curl process over one keep-alive connection.
reset_api
: >"$WORK/curl.cfg"
for i in $(seq 1 "$N"); do
    [ "$i" = 1 ] || echo next >>"$WORK/curl.cfg"
    printf 'url = "%s/api/items"\nrequest = "POST"\nheader = "Content-Type: application/json"\ndata = "{\\"n\\": %d}"\noutput = "/dev/null"\n' \
        "$API" "$i" >>"$WORK/curl.cfg"
done
start=$(now)
curl -sf -K "$WORK/curl.cfg"
end=$(now)
RESULT[http-only]=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", b - a}')
printf '%-16s %7.3f s\n' "http-only" "${RESULT[http-only]}" >&2

BENCH_ENV=""
bench store-disabled "  disabled: true\n" "true" sent
bench sqlite-full "  type: sqlite\n" "rm -f '$WORK'/project/migration/apirun.db*" recorded
BENCH_ENV="APIRUN_SQLITE_SYNCHRONOUS=normal"
bench sqlite-normal "  type: sqlite\n" "rm -f '$WORK'/project/migration/apirun.db*" recorded
BENCH_ENV=""

if [ "${BENCH_NO_PG:-0}" != 1 ]; then
    PG_DB="apirun_bench_$$"
    base="${PG_DSN%%\?*}"
    PG_BENCH_DSN="${base%/*}/$PG_DB"
    fresh_pg="psql '$PG_DSN' -qAtc 'DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)' >/dev/null 2>&1 && psql '$PG_DSN' -qAtc 'CREATE DATABASE $PG_DB' >/dev/null"
    bench postgres "  type: postgres\n  postgres:\n    dsn: $PG_BENCH_DSN\n" "$fresh_pg" recorded
    bench postgres-async "  type: postgres\n  postgres:\n    dsn: \"$PG_BENCH_DSN?options=-c%20synchronous_commit%3Doff\"\n" "$fresh_pg" recorded
fi

echo
echo "N = $N migrations, median of $R runs, release build, $(nproc) CPU(s), $(uname -sr)"
printf '%-16s %10s %16s %22s\n' variant "total s" "ms / migration" "store ms / migration"
for name in http-only store-disabled sqlite-full sqlite-normal postgres postgres-async; do
    [ -n "${RESULT[$name]:-}" ] || continue
    per=$(awk -v t="${RESULT[$name]}" -v n="$N" 'BEGIN {printf "%.3f", t * 1000 / n}')
    if [ "$name" = http-only ] || [ "$name" = store-disabled ]; then
        store="-"
    else
        store=$(awk -v t="${RESULT[$name]}" -v b="${RESULT[store-disabled]}" -v n="$N" 'BEGIN {printf "%.3f", (t - b) * 1000 / n}')
    fi
    printf '%-16s %10.3f %16.3f %22s\n' "$name" "${RESULT[$name]}" "$per" "$store"
done

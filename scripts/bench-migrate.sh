#!/usr/bin/env bash
# Benchmark (issue 3, point 10): 1,000 one-request migrations with `apirun up`
# (release build, default durable SQLite store: WAL, synchronous=FULL) against the same 1,000
# requests sent by a plain sequential HTTP loop, in the same run, against the
# same local demo API (release build). Prints both times, the ratio and
# apirun's peak RSS. For context it also times apirun with
# APIRUN_SQLITE_SYNCHRONOUS=normal (no fsync per commit) and with the store
# disabled, so that the store's share of the time is visible.
#
# The plain loop is Python's http.client over one keep-alive connection (no
# per-request process start; curl per request would measure process start-up,
# not HTTP). Both sides send the same POST with the same JSON body to the same
# endpoint; the server is reset before each side so both do the same work.
#
# Usage: scripts/bench-migrate.sh [N]      (N migrations, default 1000)
# Env:   BENCH_NO_BUILD=1  skip `cargo build --release` (use what is built)
#        BENCH_KEEP=1      keep the temporary project directory
#        BENCH_BIN_DIR=D   take apirun and apirun-demo-api from D (default target/release)
set -euo pipefail

N="${1:-1000}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN_DIR="${BENCH_BIN_DIR:-$TARGET/release}"
APIRUN="$BIN_DIR/apirun"
DEMO="$BIN_DIR/apirun-demo-api"

if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p apirun -p apirun-demo-api)
fi
for bin in "$APIRUN" "$DEMO"; do
    [[ -x "$bin" ]] || { echo "error: $bin is missing; run cargo build --release -p apirun -p apirun-demo-api" >&2; exit 2; }
done

WORK="$(mktemp -d)"
DEMO_PID=""
cleanup() {
    if [[ -n "$DEMO_PID" ]]; then kill "$DEMO_PID" 2>/dev/null || true; wait "$DEMO_PID" 2>/dev/null || true; fi
    if [[ "${BENCH_KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

"$DEMO" --listen 127.0.0.1:0 --port-file "$WORK/port" >"$WORK/demo.log" 2>&1 &
DEMO_PID=$!
for _ in $(seq 1 100); do [[ -s "$WORK/port" ]] && break; sleep 0.1; done
[[ -s "$WORK/port" ]] || { echo "error: the demo API did not start; see $WORK/demo.log" >&2; exit 1; }
BASE="$(cat "$WORK/port")"

export APIRUN_CACHE_DIR="$WORK/cache"
export APIRUN_PROGRESS=plain

# Project generator: config.yaml + N one-request migrations.
make_project() {
    local dir="$1" count="$2"
    mkdir -p "$dir/migration"
    cat >"$dir/config.yaml" <<EOF
migrate_dir: ./migration
env:
  - name: api_base
    value: $BASE
EOF
    python3 - "$dir/migration" "$count" <<'EOF'
import sys, pathlib
d, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
for i in range(1, n + 1):
    (d / f"{i:05d}_item_{i}.yaml").write_text(
        "up:\n"
        "  request:\n"
        "    method: POST\n"
        '    url: "{{.api_base}}/api/items"\n'
        f"    body: '{{\"n\": {i}}}'\n"
        "  response:\n"
        '    result_code: ["201"]\n'
    )
EOF
}

# Warm-up: the first run compiles the built-in plugins into APIRUN_CACHE_DIR
# (a one-time cost per machine and binary); time the steady state.
make_project "$WORK/warm" 1
"$APIRUN" --config "$WORK/warm/config.yaml" up >/dev/null

make_project "$WORK/bench" "$N"
# The same project without a store, to show what the store costs.
make_project "$WORK/nostore" "$N"
printf 'store:\n  disabled: true\n' >>"$WORK/nostore/config.yaml"

# One timed `apirun up` from an empty store and a reset server. Writes
# "<seconds> <peak RSS KiB>" to $WORK/result.txt; checks that exactly N POSTs
# arrived (run in the main shell, so that its `exit` stops the script).
time_apirun() {
    local project="$1"
    shift
    rm -f "$project"/migration/apirun.db*
    curl -fsS -X POST "$BASE/_admin/reset" >/dev/null
    if [[ -x /usr/bin/time ]]; then
        env "$@" /usr/bin/time -v -o "$WORK/time.txt" "$APIRUN" --config "$project/config.yaml" up >"$WORK/apirun.out" 2>&1
        (python3 - "$WORK/time.txt" <<'PY'
import sys
secs = kb = None
for line in open(sys.argv[1]):
    if "Elapsed (wall clock)" in line:
        t = line.rsplit(" ", 1)[1].strip().split(":")
        secs = float(t[-1]) + 60 * float(t[-2]) + (3600 * float(t[-3]) if len(t) > 2 else 0)
    if "Maximum resident set size" in line:
        kb = int(line.rsplit(":", 1)[1])
print(f"{secs:.3f} {kb}")
PY
        ) >"$WORK/result.txt"
    else
        # No GNU time: wall time and the child's ru_maxrss (what time -v reports).
        env "$@" python3 - "$APIRUN" "$project/config.yaml" "$WORK/apirun.out" >"$WORK/result.txt" <<'PY'
import resource, subprocess, sys, time
start = time.perf_counter()
with open(sys.argv[3], "w") as out:
    subprocess.run([sys.argv[1], "--config", sys.argv[2], "up"], stdout=out, stderr=subprocess.STDOUT, check=True)
print(f"{time.perf_counter() - start:.3f}", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
    fi
    local sent
    sent="$(curl -fsS "$BASE/_admin/requests?method=POST&path=/api/items" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
    if [[ "$sent" != "$N" ]]; then
        echo "error: apirun sent $sent POSTs, expected $N; output in $WORK/apirun.out" >&2
        BENCH_KEEP=1
        exit 1
    fi
}

time_apirun "$WORK/bench" X_BENCH=1
read -r APIRUN_SECS PEAK_KB <"$WORK/result.txt"
time_apirun "$WORK/bench" APIRUN_SQLITE_SYNCHRONOUS=normal
read -r NORMAL_SECS _ <"$WORK/result.txt"
time_apirun "$WORK/nostore" X_BENCH=1
read -r NOSTORE_SECS _ <"$WORK/result.txt"

# The plain loop: same requests, one keep-alive connection.
curl -fsS -X POST "$BASE/_admin/reset" >/dev/null
LOOP_SECS="$(python3 - "$BASE" "$N" <<'EOF'
import http.client, sys, time, urllib.parse
base, n = urllib.parse.urlparse(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection(base.hostname, base.port)
start = time.perf_counter()
for i in range(1, n + 1):
    conn.request("POST", "/api/items", body=f'{{"n": {i}}}', headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    assert r.status == 201, r.status
print(f"{time.perf_counter() - start:.3f}")
EOF
)"

python3 - "$N" "$APIRUN_SECS" "$LOOP_SECS" "$PEAK_KB" "$NORMAL_SECS" "$NOSTORE_SECS" <<'EOF'
import sys
n, a, l, kb = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
normal, nostore = float(sys.argv[5]), float(sys.argv[6])
print(f"migrations:                 {n} (one POST each, release build, local demo API)")
print(f"plain HTTP loop:            {l:.3f} s  ({l / n * 1000:.2f} ms per request; Python http.client, keep-alive)")
print(f"apirun up (SQLite, FULL):   {a:.3f} s  ({a / n * 1000:.2f} ms per migration)  ratio {a / l:.2f}x  (target: within 2x)")
print(f"  synchronous=normal:       {normal:.3f} s  ({normal / n * 1000:.2f} ms per migration)  ratio {normal / l:.2f}x")
print(f"  store disabled:           {nostore:.3f} s  ({nostore / n * 1000:.2f} ms per migration)  ratio {nostore / l:.2f}x")
print(f"apirun peak RSS (FULL run): {kb / 1024:.1f} MiB")
EOF

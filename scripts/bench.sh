#!/usr/bin/env bash
# Per-request overhead benchmark (docs/performance.md): apirun against Hurl and a
# plain sequential HTTP loop, side by side, on the same local servers, in one run.
#
# Servers (both on ephemeral 127.0.0.1 ports, answering 201 with {"id":"..."}):
#   nginx   `return 201` (the fast floor); Debian package nginx-light (or nginx),
#           installed with apt-get when missing.
#   python  a Python http.server JSON server (HTTP/1.1 keep-alive; the slow floor).
# Workload: N one-POST migrations, each extracting `id` from the answer
# (N = 200, 1,000, 10,000). Clients:
#   apirun durable   the default store: SQLite, WAL, synchronous=FULL
#   apirun no-store  store.disabled: true
#   apirun pg        the PostgreSQL store, when APIRUN_TEST_PG_DSN is set
#   hurl             the same N requests with one capture each (no state)
#   loop             host/examples/http_loop.rs: reqwest, one connection
# Also: CPU time (user+sys) per migration (durable, no store, and Hurl per request), peak RSS, a no-op `up` on 200
# applied files, and `validate` / `status` on 10,000 files.
#
# Every figure is the median of BENCH_RUNS runs (default 3; BENCH_RUNS_LARGE,
# default 1, for the 10,000-migration runs). The machine is what it is: run it
# on a quiet one, or read the ratios rather than the absolute times.
#
# Not run by CI. Hurl is installed with `cargo install --locked hurl` when
# missing (a long build: it runs under nice; it needs the Debian packages
# libcurl4-openssl-dev libxml2-dev pkg-config clang libclang-dev, installed with
# apt-get when missing). BENCH_NO_HURL=1 skips Hurl.
#
# Usage: scripts/bench.sh [N...]          (default: 200 1000 10000)
# Env:   BENCH_NO_BUILD=1    use the binaries already built
#        BENCH_BIN=PATH      the apirun binary to measure (e.g. an older build)
#        BENCH_LOOP=PATH     the http_loop binary (default target/release/examples/http_loop)
#        BENCH_NO_LARGE=1    skip the no-op and 10,000-file figures
#        BENCH_SKIP_UP_ABOVE=N  run `up` only up to N migrations (the 10,000-file
#                            validate/status/no-op figures are still taken)
#        BENCH_RUNS, BENCH_RUNS_LARGE, BENCH_NO_HURL, BENCH_KEEP=1 (keep the work dir)
set -euo pipefail

SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(200 1000 10000)
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
RUNS="${BENCH_RUNS:-3}"
RUNS_LARGE="${BENCH_RUNS_LARGE:-1}"

if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p apirun --bin apirun --example http_loop)
fi
APIRUN="${BENCH_BIN:-$TARGET/release/apirun}"
LOOP="${BENCH_LOOP:-$TARGET/release/examples/http_loop}"
[[ -x "$APIRUN" ]] || { echo "error: $APIRUN is missing; run cargo build --release -p apirun" >&2; exit 2; }
[[ -x "$LOOP" ]] || { echo "bench: $LOOP is missing (cargo build --release -p apirun --example http_loop): no plain-loop column" >&2; LOOP=""; }

apt_install() {
    local sudo=""
    [[ $(id -u) == 0 ]] || sudo="sudo"
    $sudo apt-get install -y "$@" >/dev/null || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$@" >/dev/null; }
}

NGINX="$(command -v nginx || true)"
[[ -n "$NGINX" || ! -x /usr/sbin/nginx ]] || NGINX=/usr/sbin/nginx
if [[ -z "$NGINX" ]]; then
    echo "bench: installing nginx-light (apt-get)" >&2
    apt_install nginx-light || apt_install nginx
    NGINX=/usr/sbin/nginx
fi
HURL="$(command -v hurl || true)"
if [[ -z "$HURL" && "${BENCH_NO_HURL:-0}" != 1 ]]; then
    echo "bench: installing hurl (cargo install --locked hurl, under nice; a long build)" >&2
    # One package at a time: one that cannot be installed (seen: a machine
    # whose libcurl4 is newer than the mirror's libcurl4-openssl-dev) must not
    # keep the others (clang's headers, which bindgen needs) out.
    for pkg in libcurl4-openssl-dev libxml2-dev pkg-config clang libclang-dev; do
        dpkg -s "$pkg" >/dev/null 2>&1 || apt_install "$pkg" || echo "bench: could not install $pkg with apt-get; if its dependencies are newer on this machine than in the mirror, install the version the mirror has (apt-get install $pkg <dependency>=<that version>)" >&2
    done
    # The newest Hurl may need a newer rustc than this toolchain: fall back to
    # 8.0.1 (the version issue 11 measured).
    nice -n 19 cargo install --locked hurl || nice -n 19 cargo install --locked hurl --version 8.0.1
    HURL="$(command -v hurl || echo "$HOME/.cargo/bin/hurl")"
fi

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    if [[ "${BENCH_KEEP:-0}" != 1 ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx: foreground, everything under $WORK.
NGINX_PORT="$(free_port)"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            default_type application/json;
            return 201 '{"id":"abc123","ok":true}';
        }
    }
}
EOF
"$NGINX" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" 2>"$WORK/nginx/stderr" &
PIDS+=($!)

# Python JSON server: HTTP/1.1 keep-alive, 201 with a JSON body to any POST.
cat >"$WORK/server.py" <<'EOF'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle and
    # delayed ACKs add ~40 ms to every answer.
    disable_nagle_algorithm = True
    n = 0  # a counter; races between threads only make ids repeat
    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        json.loads(self.rfile.read(length) or b"{}")
        H.n += 1
        body = json.dumps({"id": f"item-{H.n}", "ok": True}).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
python3 "$WORK/server.py" "$WORK/py.port" &
PIDS+=($!)
for _ in $(seq 1 100); do
    [[ -s "$WORK/py.port" ]] && curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break
    sleep 0.1
done
[[ -s "$WORK/py.port" ]] || { echo "error: the Python server did not start" >&2; exit 1; }
curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" || { echo "error: nginx did not start; see $WORK/nginx/" >&2; exit 1; }
PY_PORT="$(cat "$WORK/py.port")"

export APIRUN_CACHE_DIR="$WORK/cache"
export APIRUN_PROGRESS=quiet

# project DIR N BASE STORE: config.yaml + N one-POST migrations extracting `id`.
# STORE: sqlite | none | pg:<table prefix>
project() {
    local dir="$1" n="$2" base="$3" store="$4"
    rm -rf "$dir"
    mkdir -p "$dir/migration"
    {
        echo "migrate_dir: ./migration"
        echo "env:"
        echo "  - name: api_base"
        echo "    value: $base"
        case "$store" in
            none) printf 'store:\n  disabled: true\n' ;;
            pg:*) printf 'store:\n  type: postgres\n  table_prefix: %s\n  postgres:\n    dsn: "%s"\n' "${store#pg:}" "$APIRUN_TEST_PG_DSN" ;;
        esac
    } >"$dir/config.yaml"
    python3 - "$dir/migration" "$n" <<'EOF'
import sys, pathlib
d, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
for i in range(1, n + 1):
    (d / f"{i:05d}_item_{i}.yaml").write_text(
        "up:\n  request:\n    method: POST\n"
        '    url: "{{.api_base}}/items"\n'
        f"    body: '{{\"n\": {i}}}'\n"
        "  response:\n    result_code: [\"201\"]\n"
        f"    env_from:\n      id_{i}: id\n"
    )
EOF
}

hurl_file() {
    local file="$1" n="$2" base="$3"
    python3 - "$file" "$n" "$base" <<'EOF'
import sys
f, n, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f, "w") as out:
    for i in range(1, n + 1):
        out.write(f'POST {base}/items\nContent-Type: application/json\n{{"n": {i}}}\nHTTP 201\n[Captures]\nid_{i}: jsonpath "$.id"\n\n')
EOF
}

# measure RUNS SETUP-CMD -- CMD...: runs SETUP (untimed) then CMD, RUNS times;
# prints "wall_ms cpu_ms maxrss_kib" medians.
measure() {
    local runs="$1" setup="$2"
    shift 3
    python3 - "$runs" "$setup" "$@" <<'EOF'
import os, resource, statistics, subprocess, sys, time
runs, setup, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
walls, cpus, rss = [], [], []
for _ in range(runs):
    if setup:
        subprocess.run(["bash", "-c", setup], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = p.communicate()
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.stderr.write(f"failed ({p.returncode}): {' '.join(cmd)}\n{err.decode(errors='replace')[-2000:]}\n")
        sys.exit(1)
    walls.append(wall)
    cpus.append(((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000)
    rss.append(after.ru_maxrss)
print(f"{statistics.median(walls):.1f} {statistics.median(cpus):.1f} {max(rss)}")
EOF
}

# Warm-up: the first run compiles the built-in plugins into APIRUN_CACHE_DIR.
project "$WORK/warm" 1 "http://127.0.0.1:$NGINX_PORT" sqlite
"$APIRUN" --config "$WORK/warm/config.yaml" up >/dev/null

echo "apirun: $APIRUN ($("$APIRUN" --version))"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); medians of $RUNS runs ($RUNS_LARGE at 10,000)"
echo
printf '%-7s %6s | %-28s %-28s %-28s %-12s %-12s | %s\n' server N "apirun durable (ms, x hurl)" "apirun no-store" "apirun pg" hurl loop "cpu/migration: durable, no-store, hurl | rss"
SEQ=0
for server in nginx python; do
    case "$server" in
        nginx) base="http://127.0.0.1:$NGINX_PORT" ;;
        python) base="http://127.0.0.1:$PY_PORT" ;;
    esac
    for n in "${SIZES[@]}"; do
        [[ -z "${BENCH_SKIP_UP_ABOVE:-}" || "$n" -le "${BENCH_SKIP_UP_ABOVE}" ]] || continue
        runs="$RUNS"
        [[ "$n" -lt 10000 ]] || runs="$RUNS_LARGE"
        d="$WORK/p-$server-$n"
        project "$d" "$n" "$base" sqlite
        read -r dur_ms dur_cpu dur_rss < <(measure "$runs" "rm -f $d/migration/apirun.db*" -- "$APIRUN" --config "$d/config.yaml" up)
        project "$d-nostore" "$n" "$base" none
        read -r nos_ms nos_cpu _ < <(measure "$runs" "" -- "$APIRUN" --config "$d-nostore/config.yaml" up)
        pg_ms="-"
        if [[ -n "${APIRUN_TEST_PG_DSN:-}" ]]; then
            SEQ=$((SEQ + 1))
            prefix="bench_$$_$SEQ"
            project "$d-pg" "$n" "$base" "pg:$prefix"
            drop="psql '$APIRUN_TEST_PG_DSN' -qc 'drop table if exists ${prefix}_schema_migrations, ${prefix}_migration_runs, ${prefix}_stored_env, ${prefix}_apirun_lock cascade' >/dev/null 2>&1 || true"
            read -r pg_ms _ _ < <(measure "$runs" "$drop" -- "$APIRUN" --config "$d-pg/config.yaml" up)
            bash -c "$drop"
        fi
        hurl_ms="-"
        hurl_cpu="-"
        if [[ -n "$HURL" ]]; then
            hurl_file "$WORK/h-$server-$n.hurl" "$n" "$base"
            read -r hurl_ms hurl_cpu _ < <(measure "$runs" "" -- "$HURL" --no-output "$WORK/h-$server-$n.hurl")
        fi
        loop_ms="-"
        [[ -z "$LOOP" ]] || read -r loop_ms _ _ < <(measure "$runs" "" -- "$LOOP" "$base/items" "$n")
        ratio() { [[ "$2" == "-" || "$1" == "-" ]] && echo "" || python3 -c "print(f'x{$1/$2:.2f}')"; }
        per() { [[ "$1" == "-" ]] && echo "-" || python3 -c "print(f'{$1/$2:.3f}')"; }
        printf '%-7s %6s | %-28s %-28s %-28s %-12s %-12s | %s, %s, %s ms | %d MiB\n' "$server" "$n" \
            "$dur_ms $(ratio "$dur_ms" "$hurl_ms")" "$nos_ms $(ratio "$nos_ms" "$hurl_ms")" \
            "$pg_ms $(ratio "$pg_ms" "$hurl_ms")" "$hurl_ms" "$loop_ms" \
            "$(per "$dur_cpu" "$n")" "$(per "$nos_cpu" "$n")" "$(per "$hurl_cpu" "$n")" "$((dur_rss / 1024))"
        rm -rf "$d-nostore" "$d-pg"
    done
done

echo
[[ "${BENCH_NO_LARGE:-0}" != 1 ]] || exit 0
# No-op up on 200 applied files; validate and status on 10,000 files.
d="$WORK/noop"
project "$d" 200 "http://127.0.0.1:$NGINX_PORT" sqlite
"$APIRUN" --config "$d/config.yaml" up >/dev/null
read -r noop_ms noop_cpu _ < <(measure "$RUNS" "" -- "$APIRUN" --config "$d/config.yaml" up)
echo "no-op up, 200 applied files: ${noop_ms} ms (cpu ${noop_cpu} ms)"
d="$WORK/p-nginx-10000"
[[ -d "$d" ]] || { project "$d" 10000 "http://127.0.0.1:$NGINX_PORT" sqlite; "$APIRUN" --config "$d/config.yaml" up >/dev/null; }
read -r val_ms _ _ < <(measure "$RUNS" "" -- "$APIRUN" --config "$d/config.yaml" validate)
read -r st_ms _ _ < <(measure "$RUNS" "" -- "$APIRUN" --config "$d/config.yaml" status)
read -r noop10_ms _ _ < <(measure "$RUNS" "" -- "$APIRUN" --config "$d/config.yaml" up)
echo "10,000 files: validate ${val_ms} ms, status ${st_ms} ms, no-op up ${noop10_ms} ms"

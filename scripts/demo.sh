#!/usr/bin/env bash
# The README's main job, from a fresh clone, with one command:
#   1. build apirun and the demo API (examples/demo-api),
#   2. start the demo API on a free 127.0.0.1 port (it requires the example's
#      Basic credentials, so the stages' auth really is used),
#   3. run `apirun stages up` on examples/stages (infrastructure -> services
#      -> configuration), then `apirun stages status -v` and
#      `apirun stages verify` (the live system still matches),
#   4. stop the API.
#
# Idempotent: the demo API keeps its resources in memory, so every run starts
# a fresh API and first removes the example's state stores
# (examples/stages/*/*_state.db, gitignored) to match. A second run does the
# whole demo again and exits 0.
#
# Environment:
#   DEMO_PROFILE=release        build and run release binaries (default: debug,
#                               which is faster to build; dependencies are
#                               optimised in dev builds anyway)
#   APIRUN_WAIT_BETWEEN_STAGES  overrides global.wait_between_stages (10s in
#                               the example, as in the published seed); the
#                               demo uses 1s unless you set it
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, K8S_USERNAME, K8S_TOKEN,
#   ADMIN_PASSWORD              the example's secrets (demo defaults below)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
example="examples/stages"

profile="${DEMO_PROFILE:-debug}"
case "$profile" in
  debug) build_flags=() ;;
  release) build_flags=(--release) ;;
  *) echo "demo.sh: DEMO_PROFILE must be debug or release, not '$profile'" >&2; exit 2 ;;
esac

# shellcheck source=lib/toolchain.sh
source "$root/scripts/lib/toolchain.sh"
ensure_rust_toolchain demo.sh || exit $?

echo "==> building apirun and apirun-demo-api ($profile)"
cargo build "${build_flags[@]}" -p apirun -p apirun-demo-api
target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="${target_dir:-$root/target}/$profile"

# The example reads these (valueFromEnv, with the same defaults); the API is
# told to accept exactly them.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-demo-aws-key}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-demo-aws-secret}"
export K8S_USERNAME="${K8S_USERNAME:-k8s-admin}"
export K8S_TOKEN="${K8S_TOKEN:-demo-k8s-token}"
export ADMIN_PASSWORD="${ADMIN_PASSWORD:-demo-admin-password}"
export APIRUN_WAIT_BETWEEN_STAGES="${APIRUN_WAIT_BETWEEN_STAGES:-1s}"

work="$(mktemp -d)"
api_pid=""
cleanup() {
  if [[ -n "$api_pid" ]] && kill -0 "$api_pid" 2>/dev/null; then
    kill -TERM "$api_pid" 2>/dev/null || true
    wait "$api_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> starting the demo API"
"$bin/apirun-demo-api" --listen 127.0.0.1:0 --port-file "$work/port" \
  --basic "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
  --basic "$K8S_USERNAME:$K8S_TOKEN" \
  --basic "admin:$ADMIN_PASSWORD" >"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do
  [[ -s "$work/port" ]] && break
  if ! kill -0 "$api_pid" 2>/dev/null; then
    echo "demo.sh: the demo API exited:" >&2
    cat "$work/api.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ ! -s "$work/port" ]]; then
  echo "demo.sh: the demo API did not start within 10 s; its log:" >&2
  cat "$work/api.log" >&2
  exit 1
fi
DEMO_API_BASE="$(cat "$work/port")"
export DEMO_API_BASE
echo "    demo API at $DEMO_API_BASE"

# A fresh API holds nothing, so start from fresh stores too.
rm -f "$example"/*/*_state.db "$example"/*/*_state.db-* "$example"/*/*_state.db.lock

echo "==> apirun stages validate -c $example/stages.yaml"
"$bin/apirun" stages validate -c "$example/stages.yaml"

echo "==> apirun stages up -c $example/stages.yaml   (wait_between_stages: $APIRUN_WAIT_BETWEEN_STAGES)"
"$bin/apirun" stages up -c "$example/stages.yaml"

echo "==> apirun stages status -v -c $example/stages.yaml"
"$bin/apirun" stages status -v -c "$example/stages.yaml"

echo "==> apirun stages verify -c $example/stages.yaml   (each migration's verify: block, live)"
"$bin/apirun" stages verify -c "$example/stages.yaml"

echo "==> what the demo API now holds (GET /_admin/state)"
state="$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1] + "/_admin/state", timeout=10).read().decode())' "$DEMO_API_BASE" 2>/dev/null || true)"
if [[ -n "$state" ]] && command -v python3 >/dev/null 2>&1; then
  python3 -c '
import json, sys
s = json.load(sys.stdin)
print("    vpcs:", [v["id"] for v in s["vpcs"]])
print("    rds instances:", [d["db_instance_identifier"] for d in s["rds_instances"]])
print("    deployments:", [d["metadata"]["namespace"] + "/" + d["metadata"]["name"] for d in s["deployments"]])
for name, svc in sorted(s["services"].items()):
    print("    service %s: users %s, settings %s" % (name, [u["username"] for u in svc["users"]], [x["key"] for x in svc["settings"]]))
' <<<"$state"
else
  echo "${state:-    (python3 not installed; skipped)}"
fi
echo "==> done; the demo API is stopped now. Run this script again to repeat the demo from scratch."

#!/usr/bin/env bash
# Build the `ping` step plugin (Python, componentize-py) as OUT_DIR/ping.wasm.
# Usage: build.sh [OUT_DIR]   (default: ./target beside this script). Installs
# the pinned componentize-py when missing (see ../python-common.sh) and does
# nothing when the output is newer than its inputs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out_dir="${1:-$here/target}"
# shellcheck source=../python-common.sh
source "$here/../python-common.sh"
build_component step-plugin ping "$here/src" "$out_dir/ping.wasm"

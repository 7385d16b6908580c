#!/usr/bin/env bash
# Build the `static_token` auth plugin (Python, componentize-py) as
# OUT_DIR/static_token.wasm. Usage: build.sh [OUT_DIR]   (default: ./target
# beside this script). Installs the pinned componentize-py when missing (see
# ../python-common.sh) and does nothing when the output is newer than its inputs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out_dir="${1:-$here/target}"
# shellcheck source=../python-common.sh
source "$here/../python-common.sh"
build_component auth-plugin static_token "$here/src" "$out_dir/static_token.wasm"

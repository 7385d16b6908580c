# Shared by the Python example plugins' build.sh scripts (sourced, not run).
#
# Installs the pinned componentize-py into a private virtualenv when it is not
# already there, and builds one component, skipping the build when the output
# is newer than every input.
#
# Environment:
#   COMPONENTIZE_PY      a componentize-py binary to use (must be the pinned version)
#   APIRUN_TOOLS_DIR     where toolchains are installed
#                        (default: ${XDG_CACHE_HOME:-$HOME/.cache}/apirun/tools)
#   PYTHON               the Python used to create the virtualenv (default: python3, 3.9 or newer)
#   FORCE=1              rebuild even when the output is up to date
#   STUB_WASI=1          build with `componentize-py componentize --stub-wasi`: every
#                        WASI import is replaced by a trapping stub, so the component
#                        imports only apirun:plugin/{types,host} (no clocks, stdio or
#                        OS randomness at run time; Python's hash/random seed is fixed
#                        at build time)

# Keep in step with the README.
COMPONENTIZE_PY_VERSION=0.25.1

PLUGINS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WIT_DIR="$(cd "$PLUGINS_DIR/../../wit/0.1.0" && pwd)"

# Sets CPY to a componentize-py of the pinned version, installing it if needed.
ensure_componentize_py() {
    local want="componentize-py $COMPONENTIZE_PY_VERSION"
    if [[ -n "${COMPONENTIZE_PY:-}" ]]; then
        if [[ "$("$COMPONENTIZE_PY" --version 2>/dev/null)" != "$want" ]]; then
            echo "error: COMPONENTIZE_PY=$COMPONENTIZE_PY is not $want" >&2
            return 1
        fi
        CPY="$COMPONENTIZE_PY"
        return 0
    fi
    local tools="${APIRUN_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/apirun/tools}"
    local venv="$tools/componentize-py-$COMPONENTIZE_PY_VERSION"
    CPY="$venv/bin/componentize-py"
    if [[ "$("$CPY" --version 2>/dev/null)" == "$want" ]]; then
        return 0
    fi
    mkdir -p "$tools"
    (
        # One installer at a time (e.g. two plugins built in parallel).
        command -v flock >/dev/null && flock 9
        if [[ "$("$CPY" --version 2>/dev/null)" == "$want" ]]; then
            exit 0
        fi
        echo "installing $want into $venv" >&2
        rm -rf "$venv"
        "${PYTHON:-python3}" -m venv "$venv" \
            && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
                "componentize-py==$COMPONENTIZE_PY_VERSION" \
            || { rm -rf "$venv"; exit 1; }
    ) 9>"$tools/.install.lock" || return 1
    if [[ "$("$CPY" --version 2>/dev/null)" != "$want" ]]; then
        echo "error: $CPY does not report $want" >&2
        return 1
    fi
}

# build_component WORLD MODULE SRC_DIR OUT_FILE
#   WORLD     the world in wit/plugin.wit (auth-plugin, step-plugin, extractor-plugin)
#   MODULE    the Python module in SRC_DIR that implements it
build_component() {
    local world="$1" module="$2" src="$3" out="$4"
    # Inputs: the sources, the WIT, this file and the calling build script.
    local inputs=("$src" "$WIT_DIR" "$PLUGINS_DIR/python-common.sh")
    [[ -n "${BASH_SOURCE[1]:-}" ]] && inputs+=("${BASH_SOURCE[1]}")
    local flags=()
    [[ -n "${STUB_WASI:-}" && "${STUB_WASI}" != 0 ]] && flags+=(--stub-wasi)
    # The stamp records how the output was built, so switching STUB_WASI rebuilds.
    local mode="componentize-py $COMPONENTIZE_PY_VERSION world=$world module=$module ${flags[*]:-}"
    local stamp="$out.build-mode"
    if [[ -z "${FORCE:-}" && -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$mode" ]] \
        && [[ -z "$(find "${inputs[@]}" -newer "$out" -print -quit)" ]]; then
        echo "$out is up to date" >&2
        return 0
    fi
    ensure_componentize_py
    mkdir -p "$(dirname "$out")"
    local tmp="$out.tmp.$$"
    local started=$SECONDS
    # Build from the source dir alone: no VIRTUAL_ENV, PYTHONPATH or other
    # site-packages on the guest's module path (componentize-py adds VIRTUAL_ENV's).
    (
        unset VIRTUAL_ENV PYTHONPATH PYTHONHOME
        cd "$src"
        "$CPY" --quiet -d "$WIT_DIR" -w "$world" componentize "${flags[@]}" -p . "$module" -o "$tmp"
    ) || { rm -f "$tmp"; return 1; }
    rm -rf "$src/__pycache__"
    echo "$mode" > "$stamp"
    mv -f "$tmp" "$out"
    touch "$out"  # newer than the inputs, incl. the src dir just cleaned
    echo "built $out ($(($(stat -c %s "$out") / 1024)) KiB) in $((SECONDS - started))s" >&2
}

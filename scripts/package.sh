#!/usr/bin/env bash
# Packages the `apirun` crate for crates.io (`cargo package`) so that
# `cargo install apirun` works from the packaged tarball alone, and checks it.
#
# A packaged crate cannot contain ../plugins (the built-in plugins' sources,
# a separate wasm32-wasip2 workspace), so this script:
#   1. builds the built-in plugins (wasm32-wasip2, release) into target/plugins;
#   2. copies the components host/build.rs embeds into host/prebuilt-plugins/
#      (git-ignored; host/Cargo.toml's `include` ships them); the packaged
#      build.rs embeds them as they are, so installing needs no wasm target;
#   3. runs `cargo package -p apirun` (the WIT contract comes along through
#      the host/wit link to wit/);
#   4. with --check: unpacks the .crate into a scratch directory, runs
#      `cargo install --path <unpacked> --offline` there (no repository around
#      it), and runs the installed binary: `--version`, `plugins list` (every
#      built-in loads) and `init` + `validate` + `up --dry-run`.
#
# Usage: scripts/package.sh [--check]
# Output: target/package/apirun-<version>.crate
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
say() { echo "package: $*" >&2; }
die() { say "$*"; exit 1; }

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) die "unknown option $1 (usage: scripts/package.sh [--check])" ;;
esac

# shellcheck source=lib/toolchain.sh
source "$ROOT/scripts/lib/toolchain.sh"
ensure_rust_toolchain package

target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"

say "building the built-in plugins (wasm32-wasip2)"
(cd plugins && cargo build --release --locked --target wasm32-wasip2 --target-dir "$target_dir/plugins")

say "copying the built-in components into host/prebuilt-plugins"
rm -rf host/prebuilt-plugins
mkdir -p host/prebuilt-plugins
# The list build.rs checks, so the two cannot drift apart silently.
components=$(sed -n '/^const BUILTIN_COMPONENTS/,/^];/p' host/build.rs | grep -o '"[^"]*\.wasm"' | tr -d '"')
[ -n "$components" ] || die "no BUILTIN_COMPONENTS list found in host/build.rs"
for c in $components; do
  cp "$target_dir/plugins/wasm32-wasip2/release/$c" host/prebuilt-plugins/
done

say "cargo package -p apirun"
# --no-verify: the check below builds the package where no repository is
# around it, which is what a user's `cargo install` sees (cargo's own verify
# builds inside target/package, next to ../plugins).
cargo package -p apirun --locked --no-verify --allow-dirty
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
crate="$target_dir/package/apirun-$version.crate"
[ -f "$crate" ] || die "expected $crate"
say "packaged $crate ($(du -h "$crate" | cut -f1))"
# (a file list first: `tar | grep -q` fails under pipefail when grep stops early)
listing="$(tar -tzf "$crate")"
grep -qx "apirun-$version/prebuilt-plugins/apirun_plugin_http.wasm" <<<"$listing" \
  || die "the package lacks the prebuilt plugins"
grep -qx "apirun-$version/wit/0.2.0/plugin.wit" <<<"$listing" \
  || die "the package lacks the WIT contract"
# (a directory holding a Cargo.toml is left out of a package: the scaffold's
# Rust template is Cargo.toml.in for that reason)
grep -qx "apirun-$version/src/scaffold/templates/rust/Cargo.toml.in" <<<"$listing" \
  || die "the package lacks the plugin scaffold's templates"

[ "$check" = 1 ] || exit 0

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
say "checking: cargo install from the unpacked crate in $scratch"
tar -xzf "$crate" -C "$scratch"
# A target dir of its own (kept between checks: APIRUN_PACKAGE_TARGET), and
# --offline: everything comes from the package and cargo's registry cache.
(cd "$scratch" && cargo install --locked --offline --debug \
  --path "apirun-$version" --root "$scratch/root" \
  --target-dir "${APIRUN_PACKAGE_TARGET:-$target_dir/package-check}")
bin="$scratch/root/bin/apirun"
"$bin" --version
"$bin" plugins list >/dev/null || die "plugins list failed: the embedded plugins do not load"
mkdir "$scratch/project"
(cd "$scratch/project" && "$bin" init >/dev/null && "$bin" validate && "$bin" up --dry-run >/dev/null) \
  || die "init + validate + up --dry-run failed with the installed binary"
say "ok: the packaged crate installs offline and runs"

# Sourced by the README's commands (scripts/demo.sh, scripts/test-all.sh):
# make sure the Rust toolchain can build apirun before compiling anything.
#
# rustup installs the targets listed in rust-toolchain.toml only when it
# installs the toolchain itself; a toolchain that was already there (rustup's
# default stable, say) lacks wasm32-wasip2, and the build would fail after
# minutes of compiling. So: add it up front, or say exactly what to run.

ensure_rust_toolchain() {
  local who="$1"
  if ! command -v cargo >/dev/null 2>&1; then
    echo "$who: cargo not found; install Rust with rustup (https://rustup.rs) and retry" >&2
    return 2
  fi
  if ! command -v rustup >/dev/null 2>&1; then
    # A distribution's Rust without rustup: we cannot add targets for it.
    if ! rustc --print target-list 2>/dev/null | grep -qx wasm32-wasip2 \
      || ! rustc --print sysroot >/dev/null 2>&1 \
      || [ ! -d "$(rustc --print sysroot)/lib/rustlib/wasm32-wasip2" ]; then
      echo "$who: the wasm32-wasip2 target is missing and rustup is not installed;" \
        "install Rust with rustup (https://rustup.rs), then run: rustup target add wasm32-wasip2" >&2
      return 2
    fi
    return 0
  fi
  # In this directory rustup resolves the toolchain named by rust-toolchain.toml
  # (installing it when missing); adding the target is a no-op when present.
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "$who: adding the wasm32-wasip2 target (rustup target add wasm32-wasip2)" >&2
    if ! rustup target add wasm32-wasip2 >&2; then
      echo "$who: could not add the wasm32-wasip2 target; run: rustup target add wasm32-wasip2" >&2
      return 2
    fi
  fi
}

//! Builds the plugin workspace (`../plugins`) for wasm32-wasip2 so that the
//! built-in plugins can be embedded in the binary with `include_bytes!`.
//!
//! The plugins are built by a nested `cargo` into `<target dir>/plugins`
//! (shared by debug and release builds of the host, so they are built once).
//! Nothing beyond rustup's wasm32-wasip2 target is needed.
//!
//! A packaged crate (`cargo package`, `cargo install apirun`) has no
//! `../plugins`: `scripts/package.sh` puts the built components in
//! `prebuilt-plugins/` inside the crate, and they are embedded as they are
//! (docs/install.md, "cargo install").

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The components `src/plugin/builtin.rs` embeds.
const BUILTIN_COMPONENTS: &[&str] = &[
    "apirun_plugin_http.wasm",
    "apirun_plugin_auth_basic.wasm",
    "apirun_plugin_auth_oauth2.wasm",
    "apirun_plugin_auth_pocketbase.wasm",
    "apirun_plugin_extract_header.wasm",
    "apirun_plugin_extract_regex.wasm",
    "apirun_plugin_extract_gjson.wasm",
];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("the crate has a parent directory")
        .to_path_buf();
    let plugins = root.join("plugins");
    // `host/wit` links to the workspace's `wit/`, so the WIT directories are
    // inside the crate (and its package) at the same path.
    let wit = manifest_dir.join("wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    println!("cargo:rerun-if-env-changed=APIRUN_PLUGIN_PROFILE");
    emit_version_info(&root, &wit);

    let prebuilt = manifest_dir.join("prebuilt-plugins");
    let wasm_dir = if plugins.join("Cargo.toml").is_file() {
        println!("cargo:rerun-if-changed={}", plugins.display());
        build_plugins(&plugins)
    } else if BUILTIN_COMPONENTS
        .iter()
        .all(|name| prebuilt.join(name).is_file())
    {
        println!("cargo:rerun-if-changed={}", prebuilt.display());
        prebuilt
    } else {
        panic!(
            "neither the plugin sources ({}) nor the prebuilt components ({}) are here; \
             build from the repository, or package with scripts/package.sh",
            plugins.display(),
            prebuilt.display()
        );
    };
    println!(
        "cargo:rustc-env=APIRUN_PLUGIN_WASM_DIR={}",
        wasm_dir.display()
    );
}

/// Builds `plugins/` with a nested cargo; returns where the components are.
fn build_plugins(plugins: &Path) -> PathBuf {
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target_root = cargo_target_root(&out_dir).unwrap_or_else(|| out_dir.clone());
    let plugin_target = target_root.join("plugins");

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(plugins)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&plugin_target);
    // The host build's flags and target settings must not leak into the wasm build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("failed to run cargo for the wasm plugins");
    if !status.success() {
        panic!(
            "building the wasm plugins failed; is the wasm32-wasip2 target installed? \
             (`rustup target add wasm32-wasip2`; rust-toolchain.toml lists it)"
        );
    }
    plugin_target.join("wasm32-wasip2").join("release")
}

/// The target directory above OUT_DIR, so that every build of the host
/// (debug, release, tests, clippy) shares one plugin build.
///
/// OUT_DIR is `<target>/[<triple>/]<profile>/build/<package>-<hash>/out`.
/// Cargo's CACHEDIR.TAG marks `<target>` only when cargo created it (not when
/// a script made `target/test-tools` first), so the layout is used instead.
fn cargo_target_root(out_dir: &Path) -> Option<PathBuf> {
    let profile_dir = out_dir.ancestors().nth(3)?;
    let parent = profile_dir.parent()?;
    let target = env::var("TARGET").unwrap_or_default();
    let root = if !target.is_empty() && parent.file_name().is_some_and(|n| n == target.as_str()) {
        parent.parent()?
    } else {
        parent
    };
    Some(root.to_path_buf())
}

/// `apirun --version` names the git commit it was built from and the plugin
/// WIT versions it speaks. Neither may fail a build: a source tree without git
/// (a packaged crate) says "unknown".
fn emit_version_info(root: &Path, wit: &Path) {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    // A build without .git (the Docker builder: .dockerignore) is told the
    // commit in APIRUN_BUILD_COMMIT; an explicit value wins over git.
    println!("cargo:rerun-if-env-changed=APIRUN_BUILD_COMMIT");
    let commit = env::var("APIRUN_BUILD_COMMIT")
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=APIRUN_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves; only for files that exist (a missing path would
    // make cargo rerun this script, and rebuild the crate, on every build).
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        let head = root.join(head);
        if head.is_file() {
            println!("cargo:rerun-if-changed={}", head.display());
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(reference) = git(&["rev-parse", "--git-path", &branch])
    {
        let reference = root.join(reference);
        if reference.is_file() {
            println!("cargo:rerun-if-changed={}", reference.display());
        }
    }

    let mut versions: Vec<String> = std::fs::read_dir(wit)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            let files: Vec<PathBuf> = if path.is_dir() {
                std::fs::read_dir(&path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .collect()
            } else {
                vec![path]
            };
            files
        })
        .filter(|p| p.extension().is_some_and(|e| e == "wit"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix("package apirun:plugin@"))
                .map(|v| v.trim_end_matches(';').trim().to_string())
        })
        .collect();
    versions.sort();
    versions.dedup();
    println!(
        "cargo:rustc-env=APIRUN_WIT_VERSIONS={}",
        if versions.is_empty() {
            "unknown".to_string()
        } else {
            versions.join(", ")
        }
    );
}

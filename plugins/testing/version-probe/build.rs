//! Writes the contract this probe is built against: wit/0.1.0/plugin.wit
//! with its package version replaced by the one in the crate's name
//! (`apirun-test-plugin-version-0-1-9` -> 0.1.9, `...-version-0-3` -> 0.3.0).

use std::env;
use std::fs;
use std::path::PathBuf;

const BASE: &str = "0.1.0";

fn main() {
    let name = env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME");
    let parts: Vec<&str> = name
        .rsplit_once("version-")
        .map(|(_, v)| v.split('-').collect())
        .unwrap_or_default();
    let version = match parts.as_slice() {
        [major, minor] => format!("{major}.{minor}.0"),
        [major, minor, patch] => format!("{major}.{minor}.{patch}"),
        _ => panic!("{name}: the crate name must end in version-X-Y or version-X-Y-Z"),
    };

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let source = manifest.join(format!("../../../wit/{BASE}/plugin.wit"));
    println!("cargo:rerun-if-changed={}", source.display());
    let wit = fs::read_to_string(&source)
        .unwrap_or_else(|e| panic!("reading {}: {e}", source.display()));
    let package_line = format!("package apirun:plugin@{BASE};");
    assert!(wit.contains(&package_line), "{}: no `{package_line}`", source.display());
    let wit = wit.replace(&package_line, &format!("package apirun:plugin@{version};"));

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("plugin.wit"), wit).expect("writing plugin.wit");
    println!("cargo:rustc-env=PROBE_VERSION={version}");
}

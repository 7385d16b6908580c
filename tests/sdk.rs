//! The plugin SDKs and `apirun plugins new` (docs/plugins.md, "Start a
//! plugin"): for each language and kind, `plugins new` -> the README's build
//! command -> the project's own unit test -> `plugins inspect` -> the example
//! migration against the demo API, asserting what arrived at the server.
//!
//! Python and JavaScript builds take tens of seconds each (componentize-py,
//! componentize-js), so each built component is cached under
//! target/tmp/sdk/components, keyed by a digest of the generated project and
//! its SDK: one build per CI run (and none when nothing changed). Set
//! APIRUN_SDK_REBUILD=1 to ignore the cache. The time from `plugins new` to a
//! passing migration is printed (run with --nocapture) and appended to
//! target/tmp/sdk/timings.txt.
//!
//! Needs: the wasm32-wasip2 target (Rust), python3 with venv and PyPI access
//! on the first build (componentize-py), node + npm with registry access on
//! the first build (componentize-js); scripts/test-all.sh provides them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{Api, ApiConfig, DemoApiAdmin, apirun_bin, run};

/// Builds run one at a time: they are CPU-bound and the machine is shared.
static BUILD: Mutex<()> = Mutex::new(());

fn sdk_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk")
}

fn work_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("sdk")
}

/// Every file under `dir` (sorted), skipping build outputs and caches.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if matches!(
            name,
            "node_modules" | "__pycache__" | "target" | ".venv" | ".apirun-build"
        ) || name.ends_with(".wasm")
            || name.ends_with(".db")
        {
            continue;
        }
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// A digest of the project's sources and the SDK it builds with.
fn cache_key(project: &Path, sdk: &Path) -> String {
    let mut hasher = Sha256::new();
    for root in [project, sdk] {
        let mut files = Vec::new();
        files_under(root, &mut files);
        for file in files {
            hasher.update(
                file.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .as_bytes(),
            );
            hasher.update(std::fs::read(&file).unwrap());
        }
    }
    hex::encode(&hasher.finalize()[..12])
}

fn sh(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // The build runs outside any virtualenv the test runner may be in.
    cmd.env_remove("VIRTUAL_ENV").env_remove("PYTHONPATH");
    let out = run(cmd);
    assert!(
        out.code == 0,
        "{program} {args:?} in {} failed (exit {}):\n{}",
        dir.display(),
        out.code,
        out.all_output()
    );
}

/// Build the project (and run its unit test) unless an identical one was
/// built before; returns the component path (inside the project).
fn build(lang: &str, kind: &str, project: &Path, wasm: &Path) {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let sdk = sdk_root().join(lang);
    let key = cache_key(project, &sdk);
    let cached = work_root()
        .join("components")
        .join(format!("{lang}-{kind}-{key}.wasm"));
    if cached.is_file() && std::env::var_os("APIRUN_SDK_REBUILD").is_none() {
        std::fs::create_dir_all(wasm.parent().unwrap()).unwrap();
        std::fs::copy(&cached, wasm).unwrap();
        eprintln!("sdk: {lang} {kind}: cached component {}", cached.display());
        return;
    }
    let started = Instant::now();
    match lang {
        "rust" => {
            // One target dir for the three Rust projects: the SDK's
            // dependencies compile once.
            let target = work_root().join("cargo-target");
            let target = target.to_str().unwrap();
            sh(
                project,
                "cargo",
                &["build", "--release", "--target", "wasm32-wasip2"],
                &[("CARGO_TARGET_DIR", target)],
            );
            let artifact = Path::new(target)
                .join("wasm32-wasip2/release")
                .join(wasm.file_name().unwrap());
            std::fs::create_dir_all(wasm.parent().unwrap()).unwrap();
            std::fs::copy(&artifact, wasm).unwrap();
            sh(project, "cargo", &["test"], &[("CARGO_TARGET_DIR", target)]);
        }
        "python" => {
            // One virtualenv with componentize-py for the three projects:
            // the one scripts/test-all.sh installed, else build.py installs
            // it on first use.
            let venv = std::env::var_os("APIRUN_TEST_CPY_VENV")
                .map(PathBuf::from)
                .unwrap_or_else(|| work_root().join("py-venv"));
            std::fs::create_dir_all(&venv).unwrap();
            #[cfg(unix)]
            std::os::unix::fs::symlink(&venv, project.join(".venv")).unwrap();
            sh(project, "python3", &["build.py"], &[]);
            sh(project, "python3", &["-m", "unittest"], &[]);
        }
        "js" => {
            sh(
                project,
                "npm",
                &["install", "--no-audit", "--no-fund", "--prefer-offline"],
                &[],
            );
            sh(project, "npm", &["run", "build"], &[]);
            sh(project, "npm", &["test"], &[]);
        }
        other => panic!("unknown language {other}"),
    }
    eprintln!(
        "sdk: {lang} {kind}: built and unit-tested in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    std::fs::copy(wasm, &cached).unwrap();
}

/// `plugins new` -> build -> inspect -> the example migration against the demo API.
fn scaffold_to_migration(lang: &str, kind: &str) {
    let name = format!("my-{kind}");
    let project = work_root().join("projects").join(format!("{lang}-{kind}"));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.parent().unwrap()).unwrap();
    let started = Instant::now();

    let mut cmd = Command::new(apirun_bin());
    cmd.args([
        "plugins", "new", &name, "--lang", lang, "--kind", kind, "--dir",
    ])
    .arg(&project)
    .env_remove("APIRUN_SDK_DIR");
    let created = run(cmd);
    created.success();
    let stdout = created.stdout.clone();
    assert!(project.join("README.md").is_file(), "{stdout}");
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();

    // The README names the build command and the component it writes.
    let module = name.replace('-', "_");
    let wasm_rel = match lang {
        "rust" => format!("target/wasm32-wasip2/release/{module}.wasm"),
        _ => format!("{name}.wasm"),
    };
    assert!(
        readme.contains(&wasm_rel),
        "README does not name {wasm_rel}:\n{readme}"
    );
    let wasm = project.join(&wasm_rel);
    build(lang, kind, &project, &wasm);

    // inspect accepts it: the world, the contract version, the plugin's name.
    let mut cmd = Command::new(apirun_bin());
    cmd.args(["plugins", "inspect"]).arg(&wasm);
    cmd.env("APIRUN_CACHE_DIR", support::cache_dir());
    let inspected = run(cmd);
    inspected.success();
    let world = format!("{kind}-plugin");
    assert!(
        inspected.stdout.contains(&world) && inspected.stdout.contains("0.2.0"),
        "{}",
        inspected.stdout
    );
    assert!(inspected.stdout.contains(&name), "{}", inspected.stdout);
    assert!(
        inspected.stdout.contains("loads in this apirun"),
        "{}",
        inspected.stdout
    );

    // The example stage, unchanged, against a real demo API.
    let token = "sdk-test-token";
    let mut config = ApiConfig::default();
    if kind == "auth" {
        config.bearer.push(token.to_string());
    }
    let api = Api::start_with(config);
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(&project)
        .args(["--config", "example/config.yaml", "up"])
        .env("API_BASE", api.url())
        .env("API_TOKEN", token)
        .env("APIRUN_CACHE_DIR", support::cache_dir());
    let up = run(cmd);
    up.success();
    eprintln!(
        "sdk: {lang} {kind}: `plugins new` to a passing migration in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let timings = work_root().join("timings.txt");
    let line = format!("{lang} {kind} {:.1}s\n", started.elapsed().as_secs_f64());
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(timings)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));

    // The effect at the server.
    let state = api.state();
    let collections = &state["collections"];
    match kind {
        "step" => {
            let greetings = collections["greetings"].as_array().expect("greetings");
            assert_eq!(greetings.len(), 1, "{state}");
            assert_eq!(greetings[0]["greeting"], "hello world", "{state}");
            let log = collections["log"].as_array().expect("log");
            assert_eq!(log[0]["said"], "hello world", "{state}");
            assert_eq!(log[0]["greeting_id"], greetings[0]["id"], "{state}");
        }
        "auth" => {
            let items = collections["items"].as_array().expect("items");
            assert_eq!(items[0]["name"], format!("made with {name}"), "{state}");
            let posts = api.requests_to("POST", "/api/items");
            let sent: Vec<&Value> = posts
                .iter()
                .map(|r| &r["headers"]["authorization"])
                .collect();
            assert_eq!(sent, [&Value::from(format!("Bearer {token}"))]);
        }
        "extractor" => {
            let log = collections["log"].as_array().expect("log");
            assert_eq!(log[0]["size"], "large", "{state}");
        }
        _ => unreachable!(),
    }
}

#[test]
fn rust_step() {
    scaffold_to_migration("rust", "step");
}

#[test]
fn rust_auth() {
    scaffold_to_migration("rust", "auth");
}

#[test]
fn rust_extractor() {
    scaffold_to_migration("rust", "extractor");
}

#[test]
fn python_step() {
    scaffold_to_migration("python", "step");
}

#[test]
fn python_auth() {
    scaffold_to_migration("python", "auth");
}

#[test]
fn python_extractor() {
    scaffold_to_migration("python", "extractor");
}

#[test]
fn js_step() {
    scaffold_to_migration("js", "step");
}

#[test]
fn js_auth() {
    scaffold_to_migration("js", "auth");
}

#[test]
fn js_extractor() {
    scaffold_to_migration("js", "extractor");
}

/// Each SDK carries its own copy of the contract: it must be the WIT this
/// apirun implements.
#[test]
fn sdk_wit_is_the_contract() {
    let contract = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/0.2.0/plugin.wit"),
    )
    .unwrap();
    for copy in [
        "rust/wit/plugin.wit",
        "python/apirun_plugin/wit/plugin.wit",
        "js/wit/plugin.wit",
    ] {
        let text = std::fs::read_to_string(sdk_root().join(copy)).unwrap();
        assert!(
            text == contract,
            "sdk/{copy} differs from wit/0.2.0/plugin.wit"
        );
    }
}

/// Bad names and an occupied directory are refused with a clear message,
/// and nothing is written.
#[test]
fn new_refuses_bad_input() {
    let root = work_root().join("refusals");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(&root).args([
        "plugins", "new", "Bad Name", "--lang", "rust", "--kind", "step",
    ]);
    let out = run(cmd);
    out.code(2);
    assert!(out.stderr.contains("invalid plugin name"), "{}", out.stderr);
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);

    std::fs::create_dir_all(root.join("taken")).unwrap();
    std::fs::write(root.join("taken/keep.txt"), "mine").unwrap();
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(&root).args([
        "plugins", "new", "taken", "--lang", "python", "--kind", "auth",
    ]);
    let out = run(cmd);
    out.code(2);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(root.join("taken/keep.txt")).unwrap(),
        "mine"
    );

    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(&root)
        .args([
            "plugins", "new", "x", "--lang", "js", "--kind", "step", "--sdk",
        ])
        .arg(root.join("nowhere"));
    let out = run(cmd);
    out.code(2);
    assert!(
        out.stderr.contains("cannot find apirun's js SDK"),
        "{}",
        out.stderr
    );
}

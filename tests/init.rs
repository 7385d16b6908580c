//! `apirun init`, `apirun stages init`, `--version`, and the hint a new user
//! gets when there is no config: the first five minutes, through the real
//! binary against the demo API.

mod support;

use std::process::Command;

use support::{Api, DemoApiAdmin, apirun_bin, run};

fn apirun_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> support::Run {
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd)
}

#[test]
fn init_writes_a_project_that_validates_and_runs_up_and_down() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let base = format!("{}/api", api.url());
    let env = [("API_BASE", base.as_str())];

    let written = apirun_in(root, &["init"], &[]);
    written.success();
    assert!(written.stdout.contains("config/config.yaml"), "{written:?}");
    assert!(root.join("config/config.yaml").is_file());
    assert!(root.join("README.md").is_file());

    // The default --config (./config/config.yaml) finds what init wrote.
    apirun_in(root, &["validate"], &env).success();
    let dry = apirun_in(root, &["up", "--dry-run"], &env);
    dry.success();
    assert!(api.requests().is_empty(), "a dry run sends nothing");

    apirun_in(root, &["up"], &env).success();
    let created = api.requests_to("POST", "/api/items");
    assert_eq!(created.len(), 1, "{:?}", api.requests());
    let items = api.get_json("/api/items");
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");

    apirun_in(root, &["down", "--to", "0"], &env).success();
    let items = api.get_json("/api/items");
    assert_eq!(
        items.as_array().map(Vec::len),
        Some(0),
        "down deleted the item: {items}"
    );
}

#[test]
fn init_never_overwrites_and_writes_nothing_when_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(root.join("README.md"), "mine").expect("write");
    let refused = apirun_in(root, &["init"], &[]);
    refused.code(2);
    assert!(refused.stderr.contains("already exists"), "{refused:?}");
    assert_eq!(
        std::fs::read_to_string(root.join("README.md")).unwrap(),
        "mine"
    );
    assert!(!root.join("config").exists(), "nothing half-written");
}

#[test]
fn stages_init_writes_a_stages_project_that_runs() {
    let api = Api::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let base = format!("{}/api", api.url());
    let env = [("API_BASE", base.as_str())];

    apirun_in(root, &["stages", "init"], &[]).success();
    apirun_in(root, &["stages", "validate"], &env).success();
    apirun_in(root, &["stages", "up"], &env).success();
    // Each of the two stages created its example item.
    assert_eq!(
        api.requests_to("POST", "/api/items").len(),
        2,
        "{:?}",
        api.requests()
    );
    apirun_in(root, &["stages", "down"], &env).success();
    let items = api.get_json("/api/items");
    assert_eq!(items.as_array().map(Vec::len), Some(0), "{items}");
}

#[test]
fn a_missing_config_suggests_init() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [&["up"][..], &[][..], &["create", "x"][..], &["status"][..]] {
        let failed = apirun_in(dir.path(), args, &[]);
        failed.code(2);
        assert!(
            failed.stderr.contains("apirun init"),
            "apirun {args:?}: {failed:?}"
        );
    }
    let failed = apirun_in(dir.path(), &["stages", "up"], &[]);
    assert_ne!(failed.code, 0);
    assert!(failed.stderr.contains("apirun stages init"), "{failed:?}");
}

#[test]
fn version_names_the_commit_and_the_plugin_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shown = apirun_in(dir.path(), &["--version"], &[]);
    shown.success();
    assert!(
        shown
            .stdout
            .starts_with(&format!("apirun {}", env!("CARGO_PKG_VERSION"))),
        "{shown:?}"
    );
    assert!(shown.stdout.contains("commit "), "{shown:?}");
    assert!(shown.stdout.contains("apirun:plugin@0.1.0"), "{shown:?}");
}

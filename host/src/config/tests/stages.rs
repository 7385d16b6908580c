//! stages.yaml.

use std::time::Duration;

use super::super::*;
use super::*;

fn stages_dir() -> TempDir {
    let dir = tmp();
    for s in ["a", "b", "c"] {
        write(dir.path(), &format!("{s}/config.yaml"), "");
    }
    dir
}

#[test]
fn stages_checks() {
    let dir = stages_dir();
    let path = write(
        dir.path(),
        "stages.yaml",
        r#"apiVersion: apirun/v1
kind: StageOrchestration
stages:
  - name: a
    config_path: a/config.yaml
    depends_on: [a]
  - name: b
    config_path: b/config.yaml
    depends_on: [aa, c]
    env_from_stages:
      - stage: zzz
        vars: [x]
  - name: b
    config_path: missing/config.yaml
  - name: c
    config_path: c/config.yaml
    on_failure: skip-dependents
    timeout: soon
global:
  max_concurrent_stages: 0
"#,
    );
    let d = errs(load_stages_file(&path));
    let e = find(&d, "stage \"a\" depends on itself");
    assert_eq!((e.line, e.column), (Some(6), Some(18)));
    find(&d, "depends on unknown stage \"aa\"; known stages: a, b, c");
    find(&d, "imports from unknown stage \"zzz\"");
    find(&d, "stage \"b\" is defined twice (first at line 7)");
    find(
        &d,
        "stages[2].config_path: \"missing/config.yaml\" does not exist",
    );
    find(
        &d,
        "stages[3].on_failure: unknown on_failure \"skip-dependents\"; did you mean \"skip_dependents\"?",
    );
    find(&d, "stages[3].timeout: invalid duration \"soon\"");
    find(&d, "max_concurrent_stages must be at least 1");
}

#[test]
fn stages_defaults_and_values() {
    let dir = stages_dir();
    let path = write(
        dir.path(),
        "stages.yaml",
        "apiVersion: apirun/v1\nkind: StageOrchestration\nstages:\n  - name: a\n    config_path: a/config.yaml\n    timeout: 1m30s\n    env: {n: 3, t: true}\n  - name: b\n    config_path: ./b/config.yaml\n    depends_on: a\n    on_failure: continue\n    env_from_stages:\n      - stage: a\n        vars: [x]\n",
    );
    let s = ok(load_stages_file(&path)).value;
    assert_eq!(s.global, GlobalConfig::default());
    assert_eq!(s.global.max_concurrent_stages, 1);
    assert!(!s.global.rollback_on_failure);
    let a = &s.stages[0];
    assert_eq!(a.timeout, Some(Duration::from_secs(90)));
    assert_eq!(a.on_failure, OnFailure::Stop);
    assert_eq!(a.env.get("n").map(String::as_str), Some("3"));
    assert_eq!(a.env.get("t").map(String::as_str), Some("true"));
    assert_eq!(a.config_path, dir.path().join("a/config.yaml"));
    let b = &s.stages[1];
    assert_eq!(b.config_path, dir.path().join("b/config.yaml"));
    assert_eq!(b.depends_on, ["a"]);
    assert_eq!(b.on_failure, OnFailure::Continue);
}

#[test]
fn stages_header_and_import_warnings() {
    let dir = stages_dir();
    let path = write(
        dir.path(),
        "stages.yaml",
        "apiVersion: apirun/v2\nkind: Other\nstages:\n  - name: a\n    config_path: a/config.yaml\n",
    );
    let d = errs(load_stages_file(&path));
    find(
        &d,
        "apiVersion: unsupported apiVersion \"apirun/v2\"; use `apiVersion: apirun/v1`",
    );
    find(&d, "kind: unsupported kind \"Other\"");

    let path = write(
        dir.path(),
        "stages.yaml",
        "stages:\n  - name: a\n    config_path: a/config.yaml\n  - name: b\n    config_path: b/config.yaml\n    env_from_stages:\n      - stage: a\n        vars: [x]\n",
    );
    let l = ok(load_stages_file(&path));
    let w = Diagnostics(l.warnings);
    find(&w, "apiVersion is missing");
    find(&w, "imports from \"a\" but does not depend on it");
}

#[test]
fn unknown_stage_key_suggestion() {
    let dir = stages_dir();
    let path = write(
        dir.path(),
        "stages.yaml",
        "apiVersion: apirun/v1\nkind: StageOrchestration\nstages:\n  - name: a\n    config_path: a/config.yaml\n    depend_on: [b]\nglobals: {}\n",
    );
    let d = errs(load_stages_file(&path));
    find(
        &d,
        "stages[0].depend_on: unknown key \"depend_on\" in stages[0]; did you mean \"depends_on\"?",
    );
    find(
        &d,
        "unknown key \"globals\" in stages.yaml; did you mean \"global\"?",
    );
}

#[test]
fn stage_env_merge_keys() {
    let dir = stages_dir();
    let path = write(
        dir.path(),
        "stages.yaml",
        "apiVersion: apirun/v1\nkind: StageOrchestration\nglobal:\n  env: &base\n    region: eu\n    tier: 1\nstages:\n  - name: a\n    config_path: a/config.yaml\n    env:\n      <<: *base\n      tier: 2\n",
    );
    let s = ok(load_stages_file(&path)).value;
    let env: Vec<(&str, &str)> = s.stages[0]
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, [("region", "eu"), ("tier", "2")]);
    assert_eq!(s.global.env.get("tier").map(String::as_str), Some("1"));
}

//! End-to-end: `validate` predicts `up` (docs/migrations.md, "validate").
//! Whatever `up` or a dry run refuses before sending, `validate` refuses too
//! with the same message (plugins that do not load or sit in the wrong role,
//! built-in auth config keys, versions the store cannot hold, unset OS
//! variables, store templates); and what `up` runs (a step plugin's
//! variables), `validate` and the dry run accept. Finally, over every example
//! and test fixture of the repository: `validate` exit 0 implies
//! `up --dry-run` exit 0.

mod support;

use support::DemoApiAdmin as _;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Api, Project, Run, apirun_bin, run};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml_path(path: &Path) -> String {
    serde_json::to_string(&path.display().to_string()).expect("path as a YAML string")
}

fn test_plugin(file: &str) -> PathBuf {
    let path = PathBuf::from(apirun::plugin::builtin::test_plugin_dir()).join(file);
    assert!(
        path.is_file(),
        "{} is missing (built by host/build.rs)",
        path.display()
    );
    path
}

fn py_plugin(file: &str) -> PathBuf {
    let dir = std::env::var("APIRUN_TEST_PY_PLUGIN_DIR").unwrap_or_else(|_| {
        panic!(
            "APIRUN_TEST_PY_PLUGIN_DIR is not set: run the tests through scripts/test-all.sh, \
             which builds the Python example plugins into it"
        )
    });
    let path = PathBuf::from(dir).join(file);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/test-all.sh",
        path.display()
    );
    path
}

/// A project whose config has `api_base`, `extra` appended, and two
/// migrations: 001 a plain POST and 002 one that uses `auth_name: a` when
/// `with_auth`.
fn project(api: &Api, extra: &str, with_auth: bool) -> Project {
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {}\n{extra}",
            api.url()
        ),
    );
    project.write(
        "migration/001_first.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/first\"\n    body: '{\"a\": 1}'\n",
    );
    if with_auth {
        project.write(
            "migration/002_second.yaml",
            "up:\n  request:\n    auth_name: a\n    method: POST\n    url: \"{{.api_base}}/api/second\"\n    body: '{\"a\": 2}'\n",
        );
    }
    project
}

/// The error lines of a run (`...: message`), without the summary lines.
fn problem_lines(out: &Run) -> Vec<String> {
    out.stderr
        .lines()
        .filter(|l| !l.contains("problem(s) found") && !l.starts_with("error: invalid files"))
        .filter(|l| !l.trim().is_empty() && !l.starts_with("warning"))
        .map(str::to_string)
        .collect()
}

/// `validate` exits 2; `up` exits 2 too, with every line validate printed,
/// and sends nothing.
#[track_caller]
fn refused_alike(api: &Api, project: &Project, expect: &str) {
    let validate = project.apirun(&["validate"]);
    validate.code(2);
    assert!(validate.stderr.contains(expect), "{}", validate.stderr);
    let dry = project.apirun(&["up", "--dry-run"]);
    dry.code(2);
    let up = project.apirun(&["up"]);
    up.code(2);
    for line in problem_lines(&validate) {
        assert!(
            up.stderr.contains(&line),
            "up lacks `{line}`:\n{}",
            up.stderr
        );
        assert!(
            dry.stderr.contains(&line),
            "dry run lacks `{line}`:\n{}",
            dry.stderr
        );
    }
    assert_eq!(api.requests().len(), 0, "nothing may be sent");
}

#[test]
fn plugins_that_do_not_load_or_sit_in_the_wrong_role() {
    let api = Api::start();
    // Junk bytes, a core module (not a component), and a component built
    // for a contract version this apirun does not provide.
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("junk.wasm", b"this is not wasm".to_vec(), "plugins[0].path"),
        ("core.wasm", b"\0asm\x01\0\0\0".to_vec(), "plugins[0].path"),
        (
            "v02.wasm",
            std::fs::read(test_plugin("apirun_test_plugin_version_0_3.wasm")).expect("read"),
            "plugins[0].path",
        ),
    ];
    for (file, bytes, expect) in cases {
        let p = project(
            &api,
            &format!("plugins:\n  - name: mine\n    path: ./plugins/{file}\n"),
            false,
        );
        std::fs::create_dir_all(p.path().join("plugins")).expect("dir");
        std::fs::write(p.path().join("plugins").join(file), bytes).expect("write");
        p.write(
            "migration/002_step.yaml",
            "up:\n  steps:\n    - type: mine\n      with: {a: 1}\n",
        );
        refused_alike(&api, &p, expect);
    }
    // An auth component used as a step type: the wrong world.
    let p = project(
        &api,
        &format!(
            "plugins:\n  - name: token\n    path: {}\n",
            yaml_path(&py_plugin("static_token.wasm"))
        ),
        false,
    );
    p.write(
        "migration/002_step.yaml",
        "up:\n  steps:\n    - type: token\n      with: {a: 1}\n",
    );
    refused_alike(&api, &p, "needs the step-plugin world");
}

#[test]
fn built_in_auth_configs_are_checked_before_anything_is_sent() {
    let api = Api::start();
    // oauth2 without grant_type: today `up` applies 001, then fails at 002.
    let p = project(
        &api,
        "auth:\n  - type: oauth2\n    name: a\n    config:\n      token_url: \"{{.api_base}}/token\"\n      client_id: app\n      client_secret: s\n",
        true,
    );
    refused_alike(&api, &p, "oauth2 auth: `grant_type` is missing");
    // pocketbase with `username`: it logs in with `email` (or `identity`).
    let p = project(
        &api,
        "auth:\n  - type: pocketbase\n    name: a\n    config:\n      base_url: \"{{.api_base}}\"\n      username: admin@example.com\n      password: pw\n",
        true,
    );
    refused_alike(&api, &p, "pocketbase auth: unknown config key `username`");
    let out = p.apirun(&["validate"]);
    assert!(out.stderr.contains("`email`"), "{}", out.stderr);
}

#[test]
fn a_version_above_i64_max_is_refused_up_front() {
    let api = Api::start();
    let p = project(&api, "", false);
    p.write(
        "migration/9223372036854775808_big.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/big\"\n",
    );
    refused_alike(&api, &p, "version 9223372036854775808 is too large");
    // The largest version the store holds is fine.
    std::fs::remove_file(p.path().join("migration/9223372036854775808_big.yaml")).expect("rm");
    p.write(
        "migration/9223372036854775807_big.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/big\"\n    body: '{\"a\": 1}'\n",
    );
    p.apirun(&["validate"]).success();
    p.apirun(&["up"]).success();
    assert_eq!(api.requests_to("POST", "/api/big").len(), 1);
}

#[test]
fn an_unset_os_variable_without_default_is_named_by_validate() {
    let api = Api::start();
    let p = project(
        &api,
        "  - name: token\n    valueFromEnv: APIRUN_TEST_UNSET_TOKEN_VAR\n",
        false,
    );
    p.write(
        "migration/002_token.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/x?t={{.token}}\"\n",
    );
    let v = p.apirun(&["validate"]);
    v.code(2);
    assert!(
        v.stderr.contains("variable `token` is used but nothing defines it (it comes from the OS environment variable APIRUN_TEST_UNSET_TOKEN_VAR, which is not set)"),
        "{}",
        v.stderr
    );
    // The dry run refuses it too, naming the same OS variable.
    let dry = p.apirun(&["up", "--dry-run"]);
    assert_ne!(dry.code, 0);
    assert!(
        dry.stderr
            .contains("APIRUN_TEST_UNSET_TOKEN_VAR, which is not set"),
        "{}",
        dry.stderr
    );
    // Set: valid, and up sends it.
    let env = [("APIRUN_TEST_UNSET_TOKEN_VAR", "t0k")];
    p.apirun_env(&["validate"], &env).success();
    p.apirun_env(&["up"], &env).success();
    assert_eq!(api.requests_to("GET", "/api/x").len(), 1);
}

#[test]
fn store_templates_are_checked_with_the_config_variables() {
    let api = Api::start();
    let p = project(
        &api,
        "  - name: pg_password\n    value: pw\nstore:\n  type: postgres\n  postgres:\n    host: 127.0.0.1\n    user: postgres\n    password: \"{{.pg_pasword}}\"\n    dbname: postgres\n",
        false,
    );
    let v = p.apirun(&["validate"]);
    v.code(2);
    assert!(
        v.stderr.contains("store.postgres.password") && v.stderr.contains("`pg_pasword`"),
        "{}",
        v.stderr
    );
    let v = p.apirun(&["up", "--dry-run"]);
    assert_ne!(v.code, 0, "{}", v.all_output());
    // An unclosed action is a syntax error there too.
    p.write(
        "config.yaml",
        &format!(
            "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {}\nstore:\n  sqlite:\n    path: \"./{{{{.x\"\n",
            api.url()
        ),
    );
    let v = p.apirun(&["validate"]);
    v.code(2);
    assert!(v.stderr.contains("store.sqlite.path"), "{}", v.stderr);
}

/// The documented step-plugin pattern (docs/plugins.md): a later step uses a
/// variable the plugin sets. `validate` warns (it cannot see inside the
/// plugin), the dry run shows a placeholder, `up` works.
#[test]
fn a_step_plugin_s_variables_are_unknown_but_defined() {
    let api = Api::start();
    let p = project(
        &api,
        &format!(
            "plugins:\n  - name: ping\n    path: {}\n    allowed_hosts: [\"{}\"]\n",
            yaml_path(&py_plugin("ping.wasm")),
            api.url()
        ),
        false,
    );
    p.write(
        "migration/002_ping.yaml",
        r#"up:
  steps:
    - type: ping
      with:
        url: "{{.api_base}}/api/things"
        status_var: ping_status
    - request:
        method: POST
        url: "{{.api_base}}/api/pings?s={{.ping_status}}"
        body: '{"status": "{{.ping_status}}"}'
"#,
    );
    p.write(
        "migration/003_later.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/pings?s={{.ping_status}}\"\n",
    );
    let v = p.apirun(&["validate"]);
    v.success();
    assert!(
        v.stderr.contains("warning")
            && v.stderr.contains("step plugin `ping`")
            && v.stderr.contains("`ping_status`"),
        "{}",
        v.stderr
    );
    let dry = p.apirun(&["up", "--dry-run"]);
    dry.success();
    assert!(dry.stdout.contains("s=<ping_status>"), "{}", dry.stdout);
    assert_eq!(api.requests().len(), 0);
    p.apirun(&["up"]).success();
    let pings = api.requests_to("POST", "/api/pings");
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0]["body"], r#"{"status": "200"}"#);
    // A variable nothing defines before any plugin step is still an error.
    p.write(
        "migration/001_first.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/first?x={{.ping_status}}\"\n",
    );
    p.apirun(&["validate"]).code(2);
}

/// Every config.yaml-like and stages.yaml-like file under examples/ and
/// tests/fixtures/ (new fixtures are picked up by walking).
fn fixture_files() -> Vec<(PathBuf, PathBuf, bool)> {
    let mut found = Vec::new();
    for top in ["examples", "tests/fixtures"] {
        let root = repo_root().join(top);
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                walk(&entry.path(), &entry.path(), &mut found);
            }
        }
    }
    found.sort();
    found
}

/// (tree root, file, is a stages file) for every candidate file under `dir`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, PathBuf, bool)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "node_modules" | "target" | "src" | ".git") {
                walk(root, &path, out);
            }
            continue;
        }
        if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let top = |key: &str| text.lines().any(|l| l.starts_with(key));
        if top("stages:") {
            out.push((root.to_path_buf(), path, true));
        } else if top("migrate_dir:") || name == "config.yaml" {
            out.push((root.to_path_buf(), path, false));
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text.contains(".db") || text == "node_modules" || text == "target" {
            continue;
        }
        let target = to.join(&name);
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn apirun_in(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(dir)
        .args(args)
        .env("APIRUN_WAIT_BETWEEN_STAGES", "0s")
        .env_remove("APIRUN_STAGES_CONFIG")
        .env_remove("APIRUN_STAGE");
    run(cmd)
}

#[test]
fn validate_ok_implies_dry_run_ok_on_every_example_and_fixture() {
    let files = fixture_files();
    assert!(
        files.iter().any(|(_, _, stages)| *stages),
        "the walk finds the stages examples: {files:?}"
    );
    let mut checked = 0;
    let mut broken = Vec::new();
    for (root, file, is_stages) in &files {
        // A fresh copy per file: a dry run must write nothing, but an
        // old binary might, and the repository must stay clean.
        let tmp = tempfile::tempdir().expect("tempdir");
        let copy = tmp.path().join(root.file_name().expect("name"));
        copy_tree(root, &copy);
        let rel = file.strip_prefix(root).expect("inside its root");
        let target = copy.join(rel);
        let dir = target.parent().expect("parent").to_path_buf();
        let target = target.display().to_string();
        let (validate, dry) = if *is_stages {
            (
                apirun_in(&dir, &["stages", "validate", "-c", &target]),
                apirun_in(&dir, &["stages", "up", "--dry-run", "-c", &target]),
            )
        } else {
            (
                apirun_in(&dir, &["--config", &target, "validate"]),
                apirun_in(&dir, &["--config", &target, "up", "--dry-run"]),
            )
        };
        if validate.code == 0 {
            checked += 1;
            if dry.code != 0 {
                broken.push(format!(
                    "{}: validate passed but the dry run exited {}:\n{}",
                    file.display(),
                    dry.code,
                    dry.all_output()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n\n"));
    // examples/stages and examples/pocketbase are valid as shipped.
    assert!(
        checked >= 2,
        "only {checked} file(s) passed validate: {files:?}"
    );
}

/// A template's position comes from where the loader found it, not from a
/// search of the file's text: the same text in an earlier comment (or a
/// header, or a block body) does not move the reported line and column
/// (docs/templates.md; the values are parsed once, at load).
#[test]
fn template_problems_point_at_the_loaded_position() {
    let project = Project::new();
    project.write(
        "config.yaml",
        "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: http://127.0.0.1:9\n",
    );
    project.write(
        "migration/001_first.yaml",
        concat!(
            "# was: url: \"{{.api_base}}/items/{{.item_id}}\"\n",
            "up:\n",
            "  request:\n",
            "    method: POST\n",
            "    url: \"{{.api_base}}/items/{{.item_id}}\"\n",
            "    headers:\n",
            "      X-Item: \"{{.api_base}}/items/{{.item_id}}\"\n",
            "    body: |\n",
            "      {\"first\": \"{{.api_base}}\",\n",
            "       \"second\": \"{{.other}}\"}\n",
            "  response:\n",
            "    result_code: [\"{{.code\"]\n",
        ),
    );
    let out = project.apirun(&["validate"]);
    out.code(2);
    let file = "migration/001_first.yaml";
    for expect in [
        // `.item_id` in the url: line 5, column 33 (not the comment on line 1).
        format!("{file}:5:33: up.request.url: variable `item_id`"),
        // The same text as a header value: line 7, column 38.
        format!("{file}:7:38: up.request.headers[0].value: variable `item_id`"),
        // In a block body: the body's second line, at its own indentation.
        format!("{file}:10:21: up.request.body: variable `other`"),
        // A template that does not parse, where it is.
        format!("{file}:12:"),
    ] {
        assert!(
            out.stderr.contains(&expect),
            "no `{expect}` in:\n{}",
            out.stderr
        );
    }
}

/// Config-level templates (`wait`, auth `config:`, store settings, `env`) and a
/// custom step's `with:` are parsed when their file is loaded, like request
/// fields: a syntax error is reported at its line and column, with its field.
#[test]
fn config_and_with_template_errors_point_at_the_loaded_position() {
    let project = Project::new();
    project.write(
        "config.yaml",
        concat!(
            "migrate_dir: ./migration\n",
            "env:\n",
            "  - name: api_base\n",
            "    value: \"{{.nope\"\n",
            "auth:\n",
            "  - type: basic\n",
            "    name: admin\n",
            "    config:\n",
            "      username: admin\n",
            "      password: \"{{.pw | nosuchfn}}\"\n",
            "wait:\n",
            "  url: http://127.0.0.1:9/{{.api_base\n",
            "  headers:\n",
            "    X-Probe: \"{{end}}\"\n",
            "store:\n",
            "  sqlite:\n",
            "    path: \"{{.dir}/apirun.db\"\n",
        ),
    );
    project.write(
        "migration/001_first.yaml",
        concat!(
            "up:\n",
            "  steps:\n",
            "    - type: kafka\n",
            "      with:\n",
            "        topic: orders\n",
            "        items:\n",
            "          - ok\n",
            "          - \"{{if .x}}\"\n",
        ),
    );
    let out = project.apirun(&["validate"]);
    out.code(2);
    let config = "config.yaml";
    let migration = "migration/001_first.yaml";
    for expect in [
        format!("{config}:4:"),
        "env.api_base: template:".to_string(),
        format!("{config}:10:"),
        "auth.admin.config.password: template:".to_string(),
        format!("{config}:12:"),
        "wait.url: template:".to_string(),
        format!("{config}:14:"),
        "wait.headers[0].value: template:".to_string(),
        format!("{config}:17:"),
        "store.sqlite.path: template:".to_string(),
        format!("{migration}:8:"),
        "up.with.items[1]: template:".to_string(),
    ] {
        assert!(
            out.stderr.contains(&expect),
            "no `{expect}` in:\n{}",
            out.stderr
        );
    }
}

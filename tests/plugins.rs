//! End-to-end: plugins from files with the real `apirun` binary: the Python
//! example plugins (componentize-py, built by scripts/test-all.sh into
//! $APIRUN_TEST_PY_PLUGIN_DIR) as an auth type, a step type and a replaced
//! built-in; incompatible and wrong-world components refused; the header and
//! regex extractors chosen per `env_from` entry; `apirun plugins list|inspect`.
//!
//! The Python components are 18 MB and take seconds to compile: every apirun
//! started here shares tests/support's compile cache, so only the first load
//! in a test run pays for it.

mod support;

use support::DemoApiAdmin as _;

use std::path::PathBuf;

use serde_json::Value;
use support::{Api, Project};

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

fn test_plugin(file: &str) -> PathBuf {
    let path = PathBuf::from(apirun::plugin::builtin::test_plugin_dir()).join(file);
    assert!(
        path.is_file(),
        "{} is missing (built by host/build.rs)",
        path.display()
    );
    path
}

fn yaml_path(path: &std::path::Path) -> String {
    serde_json::to_string(&path.display().to_string()).expect("path as a YAML string")
}

/// One migration that POSTs to /api/items with the `api` auth provider.
fn item_migration(project: &Project) {
    project.write(
        "migration/001_item.yaml",
        r#"up:
  request:
    auth_name: api
    method: POST
    url: "{{.api_base}}/api/items"
    body: '{"name": "widget"}'
  response:
    result_code: ["201"]
"#,
    );
}

#[test]
fn python_auth_plugin_from_a_file_sets_its_header() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {}
  - name: api_key
    value: k-123456
plugins:
  - name: static_token
    path: {}
auth:
  - type: static_token
    name: api
    config: {{token: "{{{{.api_key}}}}", header: X-Api-Key}}
"#,
            api.url(),
            yaml_path(&py_plugin("static_token.wasm"))
        ),
    );
    item_migration(&project);
    project.apirun(&["up"]).success();
    let sent = api.requests_to("POST", "/api/items");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["headers"]["x-api-key"], "k-123456");
    assert_eq!(sent[0]["headers"]["authorization"], Value::Null);
}

#[test]
fn python_step_plugin_from_a_file_runs_as_a_step_type() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {base}
plugins:
  - name: ping
    path: {path}
    allowed_hosts: ["{base}"]
"#,
            base = api.url(),
            path = yaml_path(&py_plugin("ping.wasm"))
        ),
    );
    // The ping step's variable and its response's extraction both reach the next step.
    project.write(
        "migration/001_ping.yaml",
        r##"up:
  steps:
    - name: ping the API
      type: ping
      with:
        url: "{{.api_base}}/api/things?probe=1"
        headers: {X-Probe: "yes"}
        status_var: ping_status
      response:
        result_code: ["200"]
        env_from:
          count: "#"
    - name: record it
      request:
        method: POST
        url: "{{.api_base}}/api/pings"
        body: '{"status": "{{.ping_status}}", "count": "{{.count}}"}'
"##,
    );
    project.apirun(&["up"]).success();
    let pings = api.requests_to("GET", "/api/things");
    assert_eq!(pings.len(), 1, "the ping plugin sent one GET");
    assert_eq!(pings[0]["query"], "probe=1");
    assert_eq!(pings[0]["headers"]["x-probe"], "yes");
    let recorded = api.requests_to("POST", "/api/pings");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["body"], r#"{"status": "200", "count": "0"}"#);
}

#[test]
fn step_plugin_outside_its_allowed_hosts_is_denied() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {}
plugins:
  - name: ping
    path: {}
"#,
            api.url(),
            yaml_path(&py_plugin("ping.wasm"))
        ),
    );
    project.write(
        "migration/001_ping.yaml",
        r#"up:
  steps:
    - type: ping
      with: {url: "{{.api_base}}/api/things"}
"#,
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    assert!(run.all_output().contains("ping"), "{}", run.all_output());
    assert!(
        run.all_output().contains("allowed_hosts"),
        "{}",
        run.all_output()
    );
    assert!(api.requests().is_empty(), "nothing reached the API");
}

#[test]
fn a_plugins_entry_replaces_the_builtin_of_the_same_name() {
    let api = Api::start();
    let project = Project::new();
    // `basic` is now the static_token component: its config and header change.
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {}
plugins:
  - name: basic
    path: {}
auth:
  - type: basic
    name: api
    config: {{token: replaced-token, header: X-Replaced}}
"#,
            api.url(),
            yaml_path(&py_plugin("static_token.wasm"))
        ),
    );
    item_migration(&project);
    project.apirun(&["up"]).success();
    let sent = api.requests_to("POST", "/api/items");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["headers"]["x-replaced"], "replaced-token");
    assert_eq!(sent[0]["auth"], Value::Null, "no Basic header: {}", sent[0]);

    let list = project.apirun(&["plugins", "list"]);
    list.success();
    assert!(
        list.stdout.contains("replaced in this stage by"),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains("replaces the built-in of this name"),
        "{}",
        list.stdout
    );
}

#[test]
fn an_incompatible_plugin_version_is_refused_naming_both_versions() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {}
plugins:
  - name: future
    path: {}
"#,
            api.url(),
            yaml_path(&test_plugin("apirun_test_plugin_version_0_2.wasm"))
        ),
    );
    project.write(
        "migration/001_extract.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/items"
    body: '{"name": "a"}'
  response:
    env_from:
      value: {from: future, path: name}
"#,
    );
    let run = project.apirun(&["up"]);
    // Refused when the stage opens: a config error (exit 2), nothing sent.
    run.code(2);
    let out = run.all_output();
    assert!(out.contains("future"), "names the plugin: {out}");
    assert!(
        out.contains("apirun:plugin@0.2.0") && out.contains("apirun:plugin@0.1.0"),
        "{out}"
    );
    assert!(out.contains("plugins[0].path"), "names the field: {out}");
    assert!(
        api.requests().is_empty(),
        "nothing was sent: {:?}",
        api.requests()
    );
    assert!(out.contains("rebuild it"), "says what to do: {out}");

    // `plugins inspect` shows why, and exits 2.
    let inspect = project.apirun(&[
        "plugins",
        "inspect",
        &test_plugin("apirun_test_plugin_version_0_2.wasm")
            .display()
            .to_string(),
    ]);
    inspect.code(2);
    assert!(
        inspect.stdout.contains("version: 0.2.0"),
        "{}",
        inspect.stdout
    );
    assert!(
        inspect.stdout.contains("refused by this apirun"),
        "{}",
        inspect.stdout
    );
}

#[test]
fn a_compatible_newer_patch_version_loads() {
    // 0.1.9 against the host's 0.1.0: same minor in 0.x, so compatible.
    let project = Project::new();
    let run = project.apirun(&[
        "plugins",
        "inspect",
        &test_plugin("apirun_test_plugin_version_0_1_9.wasm")
            .display()
            .to_string(),
    ]);
    run.success();
    assert!(
        run.stdout.contains("world:   extractor-plugin"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("version: 0.1.9"), "{}", run.stdout);
}

#[test]
fn a_plugin_of_the_wrong_world_is_refused() {
    let api = Api::start();
    let project = Project::new();
    // An extractor used as an auth type.
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {}
plugins:
  - name: lookup
    path: {}
auth:
  - type: lookup
    name: api
    config: {{}}
"#,
            api.url(),
            yaml_path(&test_plugin("apirun_test_plugin_version_0_1_9.wasm"))
        ),
    );
    item_migration(&project);
    // Refused when the stage opens, as a config error (exit 2), naming the
    // entry and the provider that uses it.
    let run = project.apirun(&["up"]);
    run.code(2);
    let out = run.all_output();
    assert!(out.contains("`lookup`"), "names the plugin: {out}");
    assert!(out.contains("plugins[0]"), "names the entry: {out}");
    assert!(out.contains("auth provider `api`"), "names the use: {out}");
    assert!(
        out.contains("auth-plugin") && out.contains("extractor-plugin"),
        "names both worlds: {out}"
    );
    assert!(
        api.requests().is_empty(),
        "nothing was sent: {:?}",
        api.requests()
    );
}

#[test]
fn a_missing_plugin_file_is_a_config_error() {
    let project = Project::new();
    project.write(
        "config.yaml",
        r#"plugins:
  - name: gone
    path: ./plugins/gone.wasm
"#,
    );
    project.write("migration/.keep", "");
    let run = project.apirun(&["validate"]);
    run.code(2);
    let out = run.all_output();
    assert!(
        out.contains("gone.wasm") && out.contains("plugins"),
        "{out}"
    );
}

#[test]
fn header_and_regex_extraction_per_env_from_entry() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {}\n",
            api.url()
        ),
    );
    project.write(
        "migration/001_create.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/items"
    body: '{"name": "widget-42", "note": "ref=abc-7"}'
  response:
    result_code: ["201"]
    env_missing: fail
    env_from:
      item_id: id
      content_type: {from: header, path: Content-Type}
      status: {from: header, path: ":status"}
      ref: {from: regex, path: "ref=([a-z]+-\\d+)"}
      number: {from: regex, path: "widget-(\\d+)"}
"#,
    );
    project.write(
        "migration/002_use.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/seen"
    body: '{"id": "{{.item_id}}", "ct": "{{.content_type}}", "status": "{{.status}}", "ref": "{{.ref}}", "n": "{{.number}}"}'
"#,
    );
    project.apirun(&["up"]).success();
    let seen = api.requests_to("POST", "/api/seen");
    assert_eq!(seen.len(), 1);
    let body: Value =
        serde_json::from_str(seen[0]["body"].as_str().expect("body")).expect("JSON body");
    assert_eq!(body["id"], "1");
    assert!(
        body["ct"]
            .as_str()
            .is_some_and(|ct| ct.starts_with("application/json")),
        "{body}"
    );
    assert_eq!(body["status"], "201");
    assert_eq!(body["ref"], "abc-7");
    assert_eq!(body["n"], "42");
}

#[test]
fn a_header_that_is_absent_fails_with_env_missing_fail() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {}\n",
            api.url()
        ),
    );
    project.write(
        "migration/001_create.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/items"
    body: '{"name": "a"}'
  response:
    env_missing: fail
    env_from:
      location: {from: header, path: Location}
"#,
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    let out = run.all_output();
    assert!(
        out.contains("location") && out.contains("Location"),
        "names key and path: {out}"
    );
}

#[test]
fn plugins_list_shows_builtins_and_configured_with_world_version_source() {
    let project = Project::new();
    let token = py_plugin("static_token.wasm");
    project.write(
        "config.yaml",
        &format!(
            "plugins:\n  - name: static_token\n    path: {}\n",
            yaml_path(&token)
        ),
    );
    project.write("migration/.keep", "");
    let run = project.apirun(&["plugins", "list"]);
    run.success();
    let line = |name: &str| -> String {
        run.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", run.stdout))
            .to_string()
    };
    for (name, world) in [
        ("http", "step-plugin"),
        ("basic", "auth-plugin"),
        ("oauth2", "auth-plugin"),
        ("pocketbase", "auth-plugin"),
        ("gjson", "extractor-plugin"),
        ("header", "extractor-plugin"),
        ("regex", "extractor-plugin"),
    ] {
        let row = line(name);
        assert!(
            row.contains(&format!("{world} 0.1.0")) && row.contains("built-in"),
            "{row}"
        );
    }
    let row = line("static_token");
    assert!(row.contains("auth-plugin 0.1.0"), "{row}");
    assert!(row.contains(&token.display().to_string()), "{row}");

    let json = project.apirun(&["plugins", "list", "--output", "json"]);
    json.success();
    let report: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(report["host_wit_version"], "0.1.0");
    let plugins = report["plugins"].as_array().expect("plugins");
    assert_eq!(plugins.len(), 8);
    let configured = plugins
        .iter()
        .find(|p| p["name"] == "static_token")
        .expect("configured row");
    assert_eq!(configured["worlds"][0]["world"], "auth-plugin");
}

#[test]
fn plugins_list_reports_a_broken_configured_plugin() {
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "plugins:\n  - name: future\n    path: {}\n",
            yaml_path(&test_plugin("apirun_test_plugin_version_0_2.wasm"))
        ),
    );
    project.write("migration/.keep", "");
    let run = project.apirun(&["plugins", "list"]);
    run.code(2);
    assert!(
        run.stdout.contains("future") && run.stdout.contains("apirun:plugin@0.2.0"),
        "{}",
        run.stdout
    );
}

#[test]
fn plugins_inspect_shows_world_version_and_imports() {
    let project = Project::new();
    let run = project.apirun(&[
        "plugins",
        "inspect",
        &py_plugin("ping.wasm").display().to_string(),
    ]);
    run.success();
    assert!(
        run.stdout
            .contains("world:   step-plugin (exports apirun:plugin/step@0.1.0)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("version: 0.1.0"), "{}", run.stdout);
    let imports: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| *l != "imports:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert!(imports.contains(&"apirun:plugin/host@0.1.0"), "{imports:?}");
    assert!(
        imports.contains(&"apirun:plugin/types@0.1.0"),
        "{imports:?}"
    );

    let not_wasm = project.write("notes.txt", "hello");
    let run = project.apirun(&["plugins", "inspect", &not_wasm.display().to_string()]);
    run.code(2);
    assert!(
        run.stderr.contains("not a valid WebAssembly component"),
        "{}",
        run.stderr
    );
}

#[test]
fn auth_token_renders_inside_a_plugin_steps_with_block() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {base}
plugins:
  - name: ping
    path: {ping}
    allowed_hosts: ["{base}"]
  - name: static_token
    path: {token}
auth:
  - type: static_token
    name: api
    config: {{token: tok-in-with}}
"#,
            base = api.url(),
            ping = yaml_path(&py_plugin("ping.wasm")),
            token = yaml_path(&py_plugin("static_token.wasm")),
        ),
    );
    project.write(
        "migration/001_ping.yaml",
        r#"up:
  steps:
    - type: ping
      with:
        url: "{{.api_base}}/api/things"
        headers: {X-Token: "{{.auth.api}}"}
"#,
    );
    project.apirun(&["up"]).success();
    let pings = api.requests_to("GET", "/api/things");
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0]["headers"]["x-token"], "tok-in-with");
}

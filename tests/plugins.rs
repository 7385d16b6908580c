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
use support::scenario::stage;
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
    let project = Project::with_stage(
        stage(&api.url())
            .env("api_key", "k-123456")
            .plugin("static_token", &py_plugin("static_token.wasm"))
            .auth(
                "static_token",
                "api",
                r#"{token: "{{.api_key}}", header: X-Api-Key}"#,
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
    let project = Project::with_stage(
        stage(&api.url())
            .plugin("ping", &py_plugin("ping.wasm"))
            .allowed_hosts(&[&api.url()]),
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
    let project = Project::with_stage(stage(&api.url()).plugin("ping", &py_plugin("ping.wasm")));
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
    // `basic` is now the static_token component: its config and header change.
    let project = Project::with_stage(
        stage(&api.url())
            .plugin("basic", &py_plugin("static_token.wasm"))
            .auth(
                "basic",
                "api",
                "{token: replaced-token, header: X-Replaced}",
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
    let project = Project::with_stage(stage(&api.url()).plugin(
        "future",
        &test_plugin("apirun_test_plugin_version_0_3.wasm"),
    ));
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
        out.contains("apirun:plugin@0.3.0") && out.contains("apirun:plugin@0.1.0, 0.2.0"),
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
        &test_plugin("apirun_test_plugin_version_0_3.wasm")
            .display()
            .to_string(),
    ]);
    inspect.code(2);
    assert!(
        inspect.stdout.contains("version: 0.3.0"),
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
    // An extractor used as an auth type.
    let project = Project::with_stage(
        stage(&api.url())
            .plugin(
                "lookup",
                &test_plugin("apirun_test_plugin_version_0_1_9.wasm"),
            )
            .auth("lookup", "api", "{}"),
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
    let project = Project::with_stage(stage(&api.url()));
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
    let project = Project::with_stage(stage(&api.url()));
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
    // A header naming every column, then one row per plugin: world,
    // contract version, the plugin's own version and description (0.2).
    let header: Vec<&str> = run
        .stdout
        .lines()
        .find(|l| l.starts_with("NAME"))
        .unwrap_or_else(|| panic!("no header:\n{}", run.stdout))
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "WORLD",
            "CONTRACT",
            "VERSION",
            "SOURCE",
            "DESCRIPTION"
        ]
    );
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
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[1..4], [world, "0.2.0", "0.1.0"], "{row}");
        assert_eq!(cells[4], "built-in", "{row}");
        assert!(row.contains("built in"), "has a description: {row}");
    }
    // A 0.1 component has no metadata: "-" for its version.
    let row = line("static_token");
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..4], ["auth-plugin", "0.1.0", "-"], "{row}");
    assert!(row.contains(&token.display().to_string()), "{row}");

    let json = project.apirun(&["plugins", "list", "--output", "json"]);
    json.success();
    let report: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(report["host_wit_version"], "0.2.0");
    assert_eq!(
        report["host_wit_versions"],
        serde_json::json!(["0.1.0", "0.2.0"])
    );
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
            yaml_path(&test_plugin("apirun_test_plugin_version_0_3.wasm"))
        ),
    );
    project.write("migration/.keep", "");
    let run = project.apirun(&["plugins", "list"]);
    run.code(2);
    assert!(
        run.stdout.contains("future") && run.stdout.contains("apirun:plugin@0.3.0"),
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
    // componentize-py's bare `exports` instance is not listed; the
    // toolchain is named; nothing is missing.
    let exports: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| *l != "exports:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(exports, ["apirun:plugin/step@0.1.0"], "{}", run.stdout);
    assert!(
        run.stdout.contains("built:   Python (componentize-py)"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("missing:"), "{}", run.stdout);

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
    let project = Project::with_stage(
        stage(&api.url())
            .plugin("ping", &py_plugin("ping.wasm"))
            .allowed_hosts(&[&api.url()])
            .plugin("static_token", &py_plugin("static_token.wasm"))
            .auth("static_token", "api", "{token: tok-in-with}"),
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

// ------------------------------------------------ contract versions, pinning, inspect (WIT 0.2)

/// A component checked in under tests/fixtures/plugins (see its README).
fn fixture(file: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/plugins")
        .join(file);
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A stage whose one migration runs the echo step plugin at `path`, which
/// POSTs what it was handed (granted variables, static config) to the demo API
/// through `host.send`, then sets `set:` variables that the next step uses.
fn echo_project(api: &Api, path: &std::path::Path, pin: Option<&str>) -> Project {
    let mut config = stage(&api.url())
        .plugin("echo", path)
        .allowed_hosts(&[&api.url()])
        .variables(&["api_base"])
        .plugin_config("{region: eu-west}");
    if let Some(pin) = pin {
        config = config.sha256(pin);
    }
    let project = Project::with_stage(config);
    project.write(
        "migration/001_echo.yaml",
        r#"up:
  steps:
    - type: echo
      with:
        url: "{{.api_base}}/api/items"
"#,
    );
    project
}

#[test]
fn a_component_built_against_0_1_0_still_runs_in_a_migration() {
    // echo-0.1.0.wasm was built against wit/0.1.0 before 0.2.0 existed; it
    // imports apirun:plugin/host@0.1.0 and gets the step spec as JSON text.
    let api = Api::start();
    let project = echo_project(&api, &fixture("echo-0.1.0.wasm"), None);
    project.apirun(&["up"]).success();
    let sent = api.requests_to("POST", "/api/items");
    assert_eq!(sent.len(), 1, "it sent through host.send@0.1.0");
    let body: Value =
        serde_json::from_str(sent[0]["body"].as_str().expect("body")).expect("JSON body");
    assert_eq!(body["config"]["region"], "eu-west", "{body}");
    assert_eq!(body["variables"]["api_base"], api.url(), "{body}");

    let inspect = project.apirun(&[
        "plugins",
        "inspect",
        &fixture("echo-0.1.0.wasm").display().to_string(),
    ]);
    inspect.success();
    assert!(
        inspect.stdout.contains("version: 0.1.0"),
        "{}",
        inspect.stdout
    );
    assert!(
        inspect.stdout.contains("loads in this apirun"),
        "{}",
        inspect.stdout
    );
}

#[test]
fn a_0_2_step_plugin_declares_the_variables_it_sets_and_validate_knows_them() {
    let api = Api::start();
    let project = echo_project(&api, &test_plugin("apirun_test_plugin_echo.wasm"), None);
    project.write(
        "migration/001_echo.yaml",
        r#"up:
  steps:
    - type: echo
      with:
        url: "{{.api_base}}/api/items"
        set: {item_region: "from-echo"}
    - request:
        method: POST
        url: "{{.api_base}}/api/notes"
        body: '{"region": "{{.item_region}}"}'
"#,
    );
    // validate asks the plugin (WIT 0.2 declared-variables): no warning that
    // `item_region` may be undefined.
    let validate = project.apirun(&["validate"]);
    validate.success();
    assert!(
        !validate.all_output().contains("item_region"),
        "{}",
        validate.all_output()
    );
    project.apirun(&["up"]).success();
    let notes = api.requests_to("POST", "/api/notes");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["body"], r#"{"region": "from-echo"}"#);

    // A reference to a name the plugin does not declare is still reported.
    project.write(
        "migration/002_more.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/notes"
    body: '{"x": "{{.not_declared}}"}'
"#,
    );
    let validate = project.apirun(&["validate"]);
    validate.code(2);
    assert!(
        validate
            .all_output()
            .contains("`not_declared` is used but nothing defines it"),
        "{}",
        validate.all_output()
    );
}

#[test]
fn a_pinned_sha256_that_does_not_match_is_refused_naming_both_digests() {
    let api = Api::start();
    let echo = fixture("echo-0.1.0.wasm");
    let actual = sha256_hex(&std::fs::read(&echo).expect("read"));
    let pinned = "0".repeat(64);
    let project = echo_project(&api, &echo, Some(&pinned));
    for command in [&["up"][..], &["validate"][..]] {
        let run = project.apirun(command);
        run.code(2);
        let out = run.all_output();
        assert!(
            out.contains(&actual) && out.contains(&pinned),
            "{command:?} names both digests: {out}"
        );
        assert!(out.contains("plugins[0].sha256"), "names the field: {out}");
    }
    assert!(api.requests().is_empty(), "nothing was sent");

    // The digest `plugins inspect` prints is the one to pin; then it runs
    // (also in the `sha256:<hex>` form).
    let inspect = project.apirun(&["plugins", "inspect", &echo.display().to_string()]);
    inspect.success();
    assert!(
        inspect.stdout.contains(&format!("sha256:  {actual}")),
        "{}",
        inspect.stdout
    );
    let project = echo_project(
        &api,
        &echo,
        Some(&format!("sha256:{}", actual.to_uppercase())),
    );
    project.apirun(&["up"]).success();
    assert_eq!(api.requests_to("POST", "/api/items").len(), 1);
}

#[test]
fn inspect_names_imports_apirun_does_not_provide_and_the_fix() {
    // A Rust component that imports wasi:http (as one using reqwest would):
    // the 0.1.0 echo with its `wasi:cli/stdout@0.2.x` import renamed to
    // `wasi:http/types@0.2.x` (same length, so the binary stays valid).
    let bytes = std::fs::read(fixture("echo-0.1.0.wasm")).expect("read");
    let from = b"wasi:cli/stdout@0.2.";
    let to = b"wasi:http/types@0.2.";
    let mut patched = bytes.clone();
    let mut hits = 0;
    let mut i = 0;
    while i + from.len() <= patched.len() {
        if &patched[i..i + from.len()] == from {
            patched[i..i + from.len()].copy_from_slice(to);
            hits += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(hits > 0, "the fixture imports wasi:cli/stdout");
    let project = Project::new();
    let path = project.path().join("wants-http.wasm");
    std::fs::write(&path, &patched).expect("write");

    let run = project.apirun(&["plugins", "inspect", &path.display().to_string()]);
    run.code(2);
    let missing: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("missing:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(missing.len(), 1, "{}", run.stdout);
    assert!(
        missing[0].starts_with("wasi:http/types@0.2."),
        "{missing:?}"
    );
    assert!(run.stdout.contains("built:   Rust"), "{}", run.stdout);
    assert!(
        run.stdout.contains("fix:")
            && run.stdout.contains("std::net")
            && run.stdout.contains("host.send"),
        "{}",
        run.stdout
    );

    let json = project.apirun(&[
        "plugins",
        "inspect",
        "--output",
        "json",
        &path.display().to_string(),
    ]);
    json.code(2);
    let report: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(report["missing_imports"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["toolchain"], "Rust");
    assert_eq!(report["sha256"], sha256_hex(&patched));
}

#[test]
fn inspect_shows_what_a_0_2_plugin_says_about_itself() {
    let project = Project::new();
    let echo = test_plugin("apirun_test_plugin_echo.wasm");
    let run = project.apirun(&["plugins", "inspect", &echo.display().to_string()]);
    run.success();
    assert!(run.stdout.contains("version: 0.2.0"), "{}", run.stdout);
    assert!(run.stdout.contains("plugin:  echo 0.1.0"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("about:   Test step: shows what it was handed."),
        "{}",
        run.stdout
    );
    let json = project.apirun(&[
        "plugins",
        "inspect",
        "--output",
        "json",
        &echo.display().to_string(),
    ]);
    let report: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(report["metadata"]["name"], "echo");
    assert_eq!(report["worlds"][0]["version"], "0.2.0");
}

#[test]
fn a_request_timeout_reaches_the_transport() {
    // The server answers after 3 s; the request's own `timeout: 300ms` must
    // cut it off (client.timeout, 30 s by default, would not).
    let api = Api::start();
    let project = Project::with_stage(stage(&api.url()).raw("client:\n  retries: 0"));
    project.write(
        "migration/001_slow.yaml",
        r#"up:
  request:
    method: GET
    url: "{{.api_base}}/api/things?_delay_ms=3000"
    timeout: 300ms
"#,
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    let out = run.all_output();
    assert!(
        out.contains("timed out") || out.contains("timeout"),
        "{out}"
    );
}

/// A token endpoint that rotates refresh tokens as strict servers do: each
/// refresh token works once, and the answer carries the next one. Every
/// token expires at once (`expires_in: 1`), so apirun acquires again before
/// each use. Records the refresh tokens it was sent.
struct RotatingTokenServer {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RotatingTokenServer {
    fn start() -> RotatingTokenServer {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let mut current = 0u32;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then Content-Length bytes of body.
                let body = loop {
                    let Ok(n) = stream.read(&mut buf) else {
                        break None;
                    };
                    if n == 0 {
                        break None;
                    }
                    data.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&data).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())
                                    .flatten()
                            })
                            .unwrap_or(0);
                        if data.len() >= end + 4 + length {
                            break Some(
                                String::from_utf8_lossy(&data[end + 4..end + 4 + length])
                                    .to_string(),
                            );
                        }
                    }
                };
                let Some(body) = body else { continue };
                let presented = body
                    .split('&')
                    .find_map(|p| p.strip_prefix("refresh_token="))
                    .unwrap_or_default()
                    .to_string();
                log.lock().expect("log").push(presented.clone());
                let (status, answer) = if presented == format!("rt-{current}") {
                    current += 1;
                    (
                        "200 OK",
                        format!(
                            r#"{{"access_token":"at-{current}","token_type":"Bearer","expires_in":1,"refresh_token":"rt-{current}"}}"#
                        ),
                    )
                } else {
                    (
                        "400 Bad Request",
                        r#"{"error":"invalid_grant"}"#.to_string(),
                    )
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        RotatingTokenServer { url, seen }
    }
}

#[test]
fn a_rotated_refresh_token_is_carried_to_the_next_acquisition() {
    let api = Api::start();
    let tokens = RotatingTokenServer::start();
    let project = Project::with_stage(
        stage(&api.url()).raw(&format!(
            "auth:\n  - type: oauth2\n    name: api\n    config:\n      grant_type: refresh_token\n      token_url: {}/token\n      client_id: apirun\n      refresh_token: rt-0",
            tokens.url
        )),
    );
    project.write(
        "migration/001_two.yaml",
        r#"up:
  steps:
    - request:
        auth_name: api
        method: POST
        url: "{{.api_base}}/api/items"
        body: '{"n": 1}'
    - request:
        auth_name: api
        method: POST
        url: "{{.api_base}}/api/items"
        body: '{"n": 2}'
"#,
    );
    let run = project.apirun(&["up"]);
    run.success();
    // The second acquisition presented the token the first one got back.
    assert_eq!(*tokens.seen.lock().expect("log"), ["rt-0", "rt-1"]);
    let sent = api.requests_to("POST", "/api/items");
    let auth: Vec<&str> = sent
        .iter()
        .map(|r| r["headers"]["authorization"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(auth, ["Bearer at-1", "Bearer at-2"]);
    // Refresh tokens are secrets: never printed.
    assert!(!run.all_output().contains("rt-1"), "{}", run.all_output());
}

/// Three migrations, each an echo step setting `nI` to how many calls its
/// instance has run, then a request that sends the three counts.
fn counting_project(api: &Api, reuse: bool) -> Project {
    let mut config = stage(&api.url()).plugin("echo", &test_plugin("apirun_test_plugin_echo.wasm"));
    if reuse {
        config = config.reuse_instance();
    }
    let project = Project::with_stage(config);
    for i in 1..=3 {
        project.write(
            &format!("migration/00{i}_count.yaml"),
            &format!("up:\n  steps:\n    - type: echo\n      with: {{count_into: n{i}}}\n"),
        );
    }
    project.write(
        "migration/004_report.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/notes"
    body: '{"counts": "{{.n1}},{{.n2}},{{.n3}}"}'
"#,
    );
    project
}

#[test]
fn a_plugin_runs_in_a_fresh_instance_per_call_unless_its_entry_says_reuse_instance() {
    let api = Api::start();
    counting_project(&api, false).apirun(&["up"]).success();
    counting_project(&api, true).apirun(&["up"]).success();
    let notes = api.requests_to("POST", "/api/notes");
    assert_eq!(notes.len(), 2);
    assert_eq!(
        notes[0]["body"], r#"{"counts": "1,1,1"}"#,
        "fresh by default"
    );
    assert_eq!(
        notes[1]["body"], r#"{"counts": "1,2,3"}"#,
        "reuse_instance: true keeps one instance for the run"
    );
}

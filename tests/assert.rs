//! End-to-end: response assertions, polling, templated extraction paths and
//! live verification (`apirun verify`, `apirun stages verify`), with the real
//! binary against the demo API and json-server on 127.0.0.1
//! (docs/migrations.md, "Assertions", "Polling", "Live verification").

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use support::DemoApiAdmin as _;
use support::{Api, ApiConfig, JsonServer, Project, Run, apirun_bin, run, status_json};

/// A project on `base` without auth (json-server has none).
fn plain_project(base: &str, extra_env: &str) -> Project {
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {base}\n{extra_env}"
        ),
    );
    project
}

/// Versions applied, from `status --output json`.
fn applied_versions(project: &Project) -> Vec<u64> {
    let status = status_json(project);
    status["applied"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn runs(project: &Project) -> Vec<Value> {
    status_json(project)["history"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn assertions_pass_and_a_failed_one_fails_the_migration_masked() {
    let api = Api::start();
    let project = plain_project(
        &api.url(),
        "  - name: api_token\n    value: tok-secret-4242\n",
    );
    project.write(
        "migration/001_item.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/items"
    body: {"status": "active", "count": 3, "id_text": "usr-17", "token": "tok-secret-4242"}
  response:
    result_code: ["201"]
    assert:
      - path: status
        equals: active
      - path: count
        greater_than: 2
      - path: count
        less_than: "{{.limit | default \"10\"}}"
      - header: content-type
        contains: json
      - path: id_text
        matches: "^usr-[0-9]+$"
      - path: status
        one_of: [pending, active]
      - path: nothing_here
        exists: false
      - path: status
        not_equals: deleted
    env_from:
      item_id: id
"#,
    );
    project.apirun(&["up"]).success();
    assert_eq!(applied_versions(&project), vec![1]);

    // A second migration whose assertion fails: the value it compares with is
    // a secret, which must not be printed.
    project.write(
        "migration/002_check.yaml",
        r#"up:
  request:
    method: GET
    url: "{{.api_base}}/api/items/{{.item_id}}"
  response:
    result_code: ["200"]
    assert:
      - path: status
        equals: active
      - path: token
        equals: "{{.api_token}}-rotated"
"#,
    );
    let failed = project.apirun(&["up"]);
    failed.code(1);
    let out = failed.all_output();
    assert!(out.contains("up.response.assert[1]"), "{out}");
    assert!(out.contains("path `token`"), "{out}");
    assert!(out.contains("expected equals"), "{out}");
    assert!(out.contains("actual"), "{out}");
    assert!(!out.contains("tok-secret-4242"), "secret leaked: {out}");
    // Recorded failed, not applied.
    assert_eq!(applied_versions(&project), vec![1]);
    let history = runs(&project);
    let last = history
        .iter()
        .find(|r| r["version"] == 2)
        .unwrap_or_else(|| panic!("no run of version 2: {history:?}"));
    assert_eq!(last["state"], "failed", "{last}");
    assert!(
        !last.to_string().contains("tok-secret-4242"),
        "secret in the store: {last}"
    );
}

#[test]
fn poll_succeeds_on_the_third_answer() {
    // The demo API's databases answer `creating` to their first two GETs.
    let api = Api::start();
    let project = plain_project(&api.url(), "");
    project.write(
        "migration/001_db.yaml",
        r#"up:
  steps:
    - name: create
      request:
        method: POST
        url: "{{.api_base}}/rds/instances"
        body: {"db_instance_identifier": "db1"}
      response:
        result_code: ["201"]
        env_from:
          db_id: db_instance.db_instance_identifier
    - name: wait
      request:
        method: GET
        url: "{{.api_base}}/rds/instances/{{.db_id}}"
      poll:
        interval: 100ms
        timeout: 60s
      response:
        assert:
          - path: db_instance.status
            equals: available
        env_from:
          db_status: db_instance.status
"#,
    );
    let dry = project.apirun(&["up", "--dry-run"]);
    dry.success();
    assert!(
        dry.stdout.contains("[poll every 100ms for up to 1m]"),
        "{}",
        dry.stdout
    );
    assert!(api.requests().is_empty());

    let up = project.apirun(&["up"]);
    up.success();
    let gets = api.requests_to("GET", "/rds/instances/db1");
    assert_eq!(gets.len(), 3, "{gets:?}");
    // Progress shows the attempts that were not ready.
    let out = up.all_output();
    assert!(out.contains("attempt 1 not ready"), "{out}");
    assert!(out.contains("attempt 2 not ready"), "{out}");
    assert!(out.contains("ready after 3 attempts"), "{out}");
    let status = status_json(&project);
    assert!(
        status.to_string().contains("\"available\""),
        "db_status not stored as available: {status}"
    );
}

#[test]
fn poll_times_out_naming_the_last_answer() {
    let server = JsonServer::start(&json!({"jobs": [{"id": 1, "state": "running"}]}));
    let project = plain_project(&server.url(), "");
    project.write(
        "migration/001_wait.yaml",
        r#"up:
  request:
    method: GET
    url: "{{.api_base}}/jobs/1"
  response:
    poll: {interval: 100ms, timeout: 400ms}
    assert:
      - path: state
        equals: done
"#,
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    let out = run.all_output();
    assert!(out.contains("was not ready after"), "{out}");
    assert!(out.contains("poll.timeout 400ms"), "{out}");
    assert!(out.contains("actual \"running\""), "{out}");
    assert!(applied_versions(&project).is_empty());
    let history = runs(&project);
    assert_eq!(history[0]["state"], "failed", "{history:?}");
}

#[test]
fn templated_paths_pick_the_item_out_of_a_list() {
    let server = JsonServer::start(&json!({
        "users": [{"id": 1, "username": "alice"}, {"id": 2, "username": "bob"}],
        "notes": []
    }));
    let project = plain_project(&server.url(), "  - name: who\n    value: bob\n");
    project.write(
        "migration/001_find.yaml",
        r#"up:
  steps:
    - name: list
      request:
        method: GET
        url: "{{.api_base}}/users"
      response:
        assert:
          - path: '#(username=="{{.who}}").username'
            equals: "{{.who}}"
        env_from:
          user_id: '#(username=="{{.who}}").id'
    - name: note
      request:
        method: POST
        url: "{{.api_base}}/notes"
        body: '{"user_id": {{.user_id}}, "text": "hi"}'
      response:
        result_code: ["201"]
"#,
    );
    project.apirun(&["up"]).success();
    let db = server.db();
    assert_eq!(db["notes"][0]["user_id"], 2, "{db}");
}

#[test]
fn verify_reports_ok_then_gone_and_drifted() {
    let server = JsonServer::start(&json!({"widgets": []}));
    let project = plain_project(&server.url(), "");
    project.write(
        "migration/001_widget.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/widgets"
    body: {"name": "w1"}
  response:
    result_code: ["201"]
    env_from:
      widget_id: id
verify:
  request:
    method: GET
    url: "{{.api_base}}/widgets/{{.widget_id}}"
  response:
    result_code: ["200"]
    assert:
      - path: name
        equals: w1
"#,
    );
    project.write(
        "migration/002_other.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/widgets"
    body: {"name": "w2"}
  response:
    result_code: ["201"]
    env_from:
      other_id: id
verify:
  request:
    method: GET
    url: "{{.api_base}}/widgets/{{.other_id}}"
"#,
    );
    project.apirun(&["up"]).success();

    let ok = project.apirun(&["verify"]);
    ok.code(0);
    assert!(ok.stdout.contains("widget"), "{}", ok.stdout);
    assert_eq!(ok.stdout.matches(" ok (200)").count(), 2, "{}", ok.stdout);

    // Drift: someone renamed widget 1 by hand.
    let client = reqwest::blocking::Client::new();
    client
        .patch(format!("{}/widgets/1", server.url()))
        .json(&json!({"name": "renamed"}))
        .send()
        .expect("patch");
    let drifted = project.apirun(&["verify", "--output", "json"]);
    drifted.code(3);
    let doc: Value = serde_json::from_str(&drifted.stdout)
        .unwrap_or_else(|e| panic!("json: {e}\n{}", drifted.stdout));
    let m = doc["migrations"].as_array().expect("migrations");
    assert_eq!(m[0]["version"], 1);
    assert_eq!(m[0]["state"], "drifted", "{doc}");
    assert!(
        m[0]["detail"].as_str().unwrap_or("").contains("renamed"),
        "{doc}"
    );
    assert_eq!(m[1]["state"], "ok", "{doc}");

    // Gone: the second widget was deleted out of band.
    client
        .delete(format!("{}/widgets/2", server.url()))
        .send()
        .expect("delete");
    let gone = project.apirun(&["verify"]);
    gone.code(3);
    let line = gone
        .stdout
        .lines()
        .find(|l| l.contains("other"))
        .unwrap_or_else(|| panic!("{}", gone.stdout));
    assert!(line.trim_start().starts_with("2 "), "{line}");
    assert!(line.contains("gone (404)"), "{line}");
}

#[test]
fn validate_checks_operators_regexes_poll_and_verify_methods() {
    let api = Api::start();
    let project = plain_project(&api.url(), "");
    project.write(
        "migration/001_bad.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/items"
  response:
    poll: {interval: 1s, timeout: 10s}
    assert:
      - path: status
        equal: active
      - path: id
        matches: "([a-z"
      - path: count
        greater_than: lots
verify:
  request:
    method: DELETE
    url: "{{.api_base}}/api/items/1"
"#,
    );
    let run = project.apirun(&["validate"]);
    run.code(2);
    let out = run.all_output();
    assert!(
        out.contains("001_bad.yaml:9:9: up.response.assert[0].equal: unknown key \"equal\""),
        "{out}"
    );
    assert!(out.contains("did you mean \"equals\""), "{out}");
    assert!(
        out.contains("001_bad.yaml:11:18: up.response.assert[1].matches: invalid regex"),
        "{out}"
    );
    assert!(out.contains("greater_than compares numbers"), "{out}");
    assert!(out.contains("POST is not idempotent"), "{out}");
    assert!(
        out.contains("verify.request.method: verify sends only GET or HEAD"),
        "{out}"
    );
    // `up` refuses the same files before sending anything.
    project.apirun(&["up"]).code(2);
    assert!(api.requests().is_empty());
}

// ---------------------------------------------------------------- the seed example

const CREDENTIALS: &[(&str, &str)] = &[
    ("demo-aws-key", "demo-aws-secret"),
    ("k8s-admin", "demo-k8s-token"),
    ("admin", "demo-admin-password"),
];

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name.to_string_lossy().contains(".db") {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn stages(project: &Project, api: &Api, sub: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(project.path())
        .args(["stages", sub, "-c"])
        .arg(project.path().join("stages.yaml"))
        .args(args)
        .env("APIRUN_WAIT_BETWEEN_STAGES", "0s")
        .env("DEMO_API_BASE", api.url());
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "K8S_USERNAME",
        "K8S_TOKEN",
        "ADMIN_PASSWORD",
        "APIRUN_STAGES_CONFIG",
    ] {
        cmd.env_remove(name);
    }
    run(cmd)
}

#[test]
fn seed_example_polls_the_database_and_stages_verify_finds_it_gone() {
    let mut config = ApiConfig::default();
    for (u, p) in CREDENTIALS {
        config.basic.push((u.to_string(), p.to_string()));
    }
    let api = Api::start_with(config);
    let project = Project::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    copy_tree(&root.join("examples/stages"), project.path());

    stages(&project, &api, "up", &[]).success();
    // The database step polled until the API said `available` (2 x creating).
    let gets = api.requests_to("GET", "/rds/instances/my-awesome-project-db");
    assert_eq!(gets.len(), 3, "{gets:?}");

    let ok = stages(&project, &api, "verify", &[]);
    ok.code(0);
    assert_eq!(ok.stdout.matches(" ok (200)").count(), 6, "{}", ok.stdout);

    // The database is deleted by hand.
    reqwest::blocking::Client::new()
        .delete(format!("{}/rds/instances/my-awesome-project-db", api.url()))
        .basic_auth("demo-aws-key", Some("demo-aws-secret"))
        .send()
        .expect("delete db");
    let gone = stages(&project, &api, "verify", &["--output", "json"]);
    gone.code(3);
    let doc: Value =
        serde_json::from_str(&gone.stdout).unwrap_or_else(|e| panic!("json: {e}\n{}", gone.stdout));
    let infra = doc["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "infrastructure"))
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(infra["migrations"][0]["state"], "ok", "{doc}");
    assert_eq!(infra["migrations"][1]["version"], 2, "{doc}");
    assert_eq!(infra["migrations"][1]["state"], "gone", "{doc}");
    assert!(!gone.all_output().contains("demo-admin-password"));
}

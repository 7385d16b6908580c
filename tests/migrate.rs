//! End-to-end: single-stage `up`, `down`, `status` with the real binary
//! against the demo API on 127.0.0.1.

mod support;

use support::DemoApiAdmin as _;

use serde_json::json;
use support::scenario::{delete, get, patch, post};
use support::{Api, JsonServer, Project, basic_config, status_json};

#[test]
fn up_uses_an_extracted_id_in_a_later_file_and_down_removes_everything() {
    let api = Api::with_basic("admin", "secret");
    let project = Project::with_config(&basic_config(&api.url()));
    project.migration(
        "001_create_user",
        post("{{.api_base}}/api/users")
            .name("create user")
            .auth("admin")
            .body(r#"{"username": "demo"}"#)
            .expect(&["201"])
            .extract("user_id", "id")
            .down(delete("{{.api_base}}/api/users/{{.user_id}}").auth("admin")),
    );
    project.migration(
        "002_create_profile",
        post("{{.api_base}}/api/profiles")
            .auth("admin")
            .body(r#"{"user_id": {{.user_id}}}"#)
            .extract("profile_id", "id")
            .down(delete("{{.api_base}}/api/profiles/{{.profile_id}}").auth("admin")),
    );
    project.apirun(&["up"]).success();
    let profiles = api.requests_to("POST", "/api/profiles");
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0]["body"], r#"{"user_id": 1}"#);

    project.apirun(&["down", "--to", "0"]).success();
    let state = api.state();
    // Empty collections disappear from the API's state.
    assert_eq!(state["collections"], serde_json::json!({}), "{state}");
}

/// A migration in a later process sees the variables earlier processes
/// extracted (they come from the store, not from memory).
#[test]
fn a_later_up_in_a_new_process_reuses_stored_variables() {
    let api = Api::with_basic("admin", "secret");
    let project = Project::with_config(&basic_config(&api.url()));
    let teams = "{{.api_base}}/api/teams";
    project.migration(
        "001_team",
        post(teams)
            .auth("admin")
            .body(r#"{"name": "core"}"#)
            .extract("team_id", "id"),
    );
    project.apirun(&["up"]).success();
    // A second team, so that a stale or guessed id would be visible.
    project.migration(
        "002_other_team",
        post(teams)
            .auth("admin")
            .body(r#"{"name": "other"}"#)
            .extract("other_team_id", "id"),
    );
    project.migration(
        "003_member",
        patch("{{.api_base}}/api/teams/{{.team_id}}")
            .auth("admin")
            .body(r#"{"team": {{.team_id}}, "other": {{.other_team_id}}}"#),
    );
    project.apirun(&["up"]).success();
    let patches = api.requests_to("PATCH", "/api/teams/1");
    assert_eq!(patches.len(), 1, "{:?}", api.requests());
    assert_eq!(patches[0]["body"], r#"{"team": 1, "other": 2}"#);
}

const USERS_AND_POSTS_UP: &str = r#"up:
  name: create user
  request:
    method: POST
    url: "{{.api_base}}/users"
    body: '{"username": "ada"}'
  response:
    result_code: ["201"]
    env_from:
      user_id: id
down:
  name: delete user
  method: DELETE
  url: "{{.api_base}}/users/{{.user_id}}"
  response:
    result_code: ["200", "404"]
"#;

/// Against json-server (third party): an extracted id flows into a later
/// file; `down --to 0` removes everything, one resource through its stored
/// id and one through a `find` lookup (nothing was extracted for it).
#[test]
fn json_server_extracted_id_flows_and_down_to_zero_uses_stored_ids_and_find() {
    let server = JsonServer::start(&json!({"users": [], "posts": []}));
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {}\n",
            server.url()
        ),
    );
    project.write("migration/001_user.yaml", USERS_AND_POSTS_UP);
    project.write(
        "migration/002_post.yaml",
        r#"up:
  name: create post
  request:
    method: POST
    url: "{{.api_base}}/posts"
    body: '{"title": "hello world", "userId": {{.user_id}}}'
  response:
    result_code: ["201"]
down:
  name: delete post
  find:
    request:
      method: GET
      url: "{{.api_base}}/posts"
      queries:
        - name: title
          value: hello world
    response:
      result_code: ["200"]
      env_from:
        post_id: "0.id"
  method: DELETE
  url: "{{.api_base}}/posts/{{.post_id}}"
"#,
    );
    project.apirun(&["up"]).success();
    let db = server.db();
    assert_eq!(db["users"], json!([{"username": "ada", "id": 1}]), "{db}");
    assert_eq!(
        db["posts"],
        json!([{"title": "hello world", "userId": 1, "id": 1}]),
        "{db}"
    );

    // A separate process: the user id comes from the store.
    let down = project.apirun(&["down", "--to", "0"]);
    down.success();
    let db = server.db();
    assert_eq!(db["users"], json!([]), "{db}");
    assert_eq!(db["posts"], json!([]), "{db}");
    let status = status_json(&project);
    assert_eq!(status["applied"], json!([]), "{status}");
    assert_eq!(status["current"], 0);
}

/// A status outside `result_code` fails the migration: recorded as a failed
/// run, not applied, exit 1, and the next file is not run.
#[test]
fn result_code_mismatch_is_recorded_as_failed_not_applied_exit_1() {
    let api = Api::start();
    let project = Project::with_config(&basic_config(&api.url()));
    let create_user = post("{{.api_base}}/api/users").body(r#"{"username": "x"}"#);
    project.migration("001_user", create_user.clone().expect(&["200"]));
    project.migration("002_next", get("{{.api_base}}/api/users"));
    let run = project.apirun(&["up"]);
    run.code(1);
    assert!(run.stderr.contains("001_user.yaml"), "{}", run.stderr);
    assert!(
        run.stderr.contains("201") && run.stderr.contains("expected 200"),
        "{}",
        run.stderr
    );
    assert!(
        api.requests_to("GET", "/api/users").is_empty(),
        "002 must not run"
    );

    let status = status_json(&project);
    assert_eq!(status["applied"], json!([]), "{status}");
    assert_eq!(status["pending"], json!([1, 2]), "{status}");
    let history = status["history"].as_array().expect("history");
    assert_eq!(history.len(), 1, "{status}");
    assert_eq!(history[0]["version"], 1);
    assert_eq!(history[0]["state"], "failed", "{status}");
    assert_eq!(history[0]["status_code"], 201, "{status}");

    // Fix the file: the next `up` reruns the failed version and goes on.
    project.migration("001_user", create_user.expect(&["201"]));
    project.apirun(&["up"]).success();
    let status = status_json(&project);
    assert_eq!(status["applied"], json!([1, 2]), "{status}");
    let states: Vec<_> = status["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|r| (r["version"].clone(), r["state"].clone()))
        .collect();
    assert_eq!(
        states,
        [
            (json!(2), json!("succeeded")),
            (json!(1), json!("succeeded")),
            (json!(1), json!("failed"))
        ]
    );
}

/// Run time: a variable nothing defines fails the migration (exit 1) with
/// the variable, the file and the field named, before anything is sent.
/// `validate` finds the same problem statically (exit 2).
#[test]
fn missing_variable_names_variable_file_and_field() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write(
        "migration/001_user.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/users"
    headers:
      - name: X-Tenant
        value: "{{.tenant_id}}"
    body: '{}'
"#,
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    for needle in ["tenant_id", "001_user.yaml", "up.request.headers[0].value"] {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            run.stderr
        );
    }
    assert!(
        api.requests().is_empty(),
        "nothing may be sent: {:?}",
        api.requests()
    );
    let status = status_json(&project);
    assert_eq!(status["history"][0]["state"], "failed", "{status}");

    let validate = project.apirun(&["validate"]);
    validate.code(2);
    for needle in ["tenant_id", "001_user.yaml", "up.request.headers[0].value"] {
        assert!(
            validate.stderr.contains(needle),
            "missing {needle:?} in:\n{}",
            validate.stderr
        );
    }
}

/// `auth_name` injects the provider's Basic header, which the server
/// checks; a wrong password is refused by the server and fails the run.
#[test]
fn basic_auth_is_injected_via_auth_name_and_checked_by_the_server() {
    let api = Api::with_basic("admin", "secret");
    let project = Project::with_config(&basic_config(&api.url()));
    let create_user = post("{{.api_base}}/api/users")
        .auth("admin")
        .body(r#"{"username": "x"}"#);
    project.migration("001_user", create_user.clone());
    project.apirun(&["up"]).success();
    let posts = api.requests_to("POST", "/api/users");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["auth"], "basic");
    assert_eq!(posts[0]["user"], "admin");
    assert_eq!(posts[0]["status"], 201);

    // Same project, wrong password: the server answers 401.
    let wrong =
        Project::with_config(&basic_config(&api.url()).replace("value: secret", "value: wrong"));
    wrong.migration("001_user", create_user);
    let run = wrong.apirun(&["up"]);
    run.code(1);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
}

/// A POST answered 503 is sent once (never retried by default); a GET
/// answered 503 is retried and succeeds.
#[test]
fn a_post_answered_503_is_not_retried_but_a_get_is() {
    let api = Api::start();
    let project = Project::with_config(&basic_config(&api.url()));
    project.migration("001_list", get("{{.api_base}}/api/users"));
    project.migration(
        "002_create",
        post("{{.api_base}}/api/users").body(r#"{"username": "x"}"#),
    );
    api.arm_fault(json!({"method": "GET", "path": "/api/users", "status": 503, "times": 2}));
    api.arm_fault(json!({"method": "POST", "path": "/api/users", "status": 503, "times": 5}));
    let run = project.apirun(&["up"]);
    run.code(1);
    let gets = api.requests_to("GET", "/api/users");
    assert_eq!(gets.len(), 3, "two 503s then a 200: {gets:?}");
    assert_eq!(gets[2]["status"], 200);
    let posts = api.requests_to("POST", "/api/users");
    assert_eq!(posts.len(), 1, "a POST is never sent twice: {posts:?}");
    assert_eq!(posts[0]["status"], 503);
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    let status = status_json(&project);
    assert_eq!(status["applied"], json!([1]), "{status}");
}

/// A project written for the Go tool (the shape of its keycloak example:
/// `{{.env.kc_base}}` URLs, `.env` for everything, an auth provider used
/// both through `auth_name` and a hand-written `Bearer {{.auth.x}}` header,
/// `result_code: ["201", "409"]`, empty `queries`/`env`/`body`, a `find`
/// in `down`) runs unchanged; a second run from scratch accepts the 409s.
#[test]
fn a_go_apirun_style_project_runs_unchanged() {
    // The demo API accepts the bearer token the basic provider renders
    // for `{{.auth.keycloak}}` (base64 of user:password).
    let mut config = support::ApiConfig::default();
    config.bearer.push("YWRtaW46cm9vdA==".to_string());
    let api = Api::start_with(config);
    let project = Project::new();
    let config_yaml = format!(
        r#"---
auth:
  - type: basic
    config:
      # The Go example's older form: the provider's name inside config.
      name: keycloak
      username: admin
      password: root

migrate_dir: ./migration

env:
  - name: kc_base
    value: {base}/api
  - name: username
    value: alice
  - name: password
    value: alice123
  - name: realm
    valueFromEnv: SAMPLE_REALM
"#,
        base = api.url()
    );
    project.write("config.yaml", &config_yaml);
    project.write(
        "migration/001_create_realm.yaml",
        r#"up:
  name: create sample realm
  env: { }
  request:
    method: POST
    url: "{{.env.kc_base}}/realms?unique=realm"
    headers:
      - name: Authorization
        value: "Bearer {{.auth.keycloak}}"
    queries: [ ]
    body: |
      {"realm": "{{.realm}}", "enabled": true}
  response:
    # 201: created, 409: already exists
    result_code: [ "201", "409" ]

down:
  name: delete sample realm
  env: { }
  find:
    request:
      method: GET
      url: "{{.env.kc_base}}/realms?realm={{.env.realm}}"
      headers:
        - name: Authorization
          value: "Bearer {{.auth.keycloak}}"
    response:
      result_code: [ "200" ]
      env_from:
        realm_id: "0.id"
  method: DELETE
  url: "{{.env.kc_base}}/realms/{{.realm_id}}"
  headers:
    - name: Authorization
      value: "Bearer {{.auth.keycloak}}"
  queries: [ ]
  body: ""
"#,
    );
    project.write(
        "migration/002_create_user.yaml",
        r#"up:
  name: create sample user in sample realm
  env:
    firstname: Sample
    lastname: User
  request:
    method: POST
    url: "{{.env.kc_base}}/users?unique=username"
    headers:
      - name: Authorization
        value: "Bearer {{.auth.keycloak}}"
    queries: [ ]
    body: |
      {
        "username": "{{.env.username}}",
        "realm": "{{.env.realm}}",
        "enabled": true,
        "email": "{{.env.username}}@example.com",
        "firstName": "{{.env.firstname}}",
        "lastName": "{{.env.lastname}}",
        "credentials": [
          { "type": "password", "value": "{{.env.password}}", "temporary": false }
        ]
      }
  response:
    # 201: created, 409: already exists
    result_code: [ "201", "409" ]

down:
  name: delete sample user
  env: { }
  find:
    request:
      method: GET
      url: "{{.env.kc_base}}/users?username={{.env.username}}"
      headers:
        - name: Authorization
          value: "Bearer {{.auth.keycloak}}"
      queries: [ ]
      body: ""
    response:
      result_code: [ "200" ]
      env_from:
        user_id: "0.id"
  method: DELETE
  url: "{{.env.kc_base}}/users/{{.user_id}}"
  headers:
    - name: Authorization
      value: "Bearer {{.auth.keycloak}}"
  queries: [ ]
  body: ""
"#,
    );
    let env = [("SAMPLE_REALM", "sample")];
    project.apirun_env(&["up"], &env).success();
    let state = api.state();
    let users = &state["collections"]["users"];
    assert_eq!(users[0]["username"], "alice", "{state}");
    assert_eq!(users[0]["realm"], "sample", "{state}");
    assert_eq!(users[0]["firstName"], "Sample", "{state}");
    assert_eq!(users[0]["credentials"][0]["value"], "alice123", "{state}");
    assert_eq!(
        state["collections"]["realms"][0]["realm"], "sample",
        "{state}"
    );
    for request in api.requests() {
        assert_eq!(request["auth"], "bearer", "{request}");
    }

    // The store is gone (a fresh checkout): both creates answer 409, accepted.
    for entry in std::fs::read_dir(project.path().join("migration")).expect("migration dir") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("apirun.db"))
        {
            std::fs::remove_file(&path).expect("remove store file");
        }
    }
    project.apirun_env(&["up"], &env).success();
    let posts: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "POST")
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(posts, vec![json!(201), json!(201), json!(409), json!(409)]);

    project.apirun_env(&["down", "--to", "0"], &env).success();
    let state = api.state();
    assert_eq!(state["collections"], json!({}), "{state}");
}

/// `down` refuses before rolling anything back when one of the versions to
/// roll back has no `down` block.
#[test]
fn down_without_a_down_block_errors_before_rolling_back_anything() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write(
        "migration/001_user.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/users"
    body: '{"username": "x"}'
  response:
    env_from:
      user_id: id
down:
  method: DELETE
  url: "{{.api_base}}/api/users/{{.user_id}}"
"#,
    );
    project.write(
        "migration/002_no_down.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/notes\"\n    body: '{}'\n",
    );
    project.write(
        "migration/003_user2.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/users"
    body: '{"username": "y"}'
  response:
    env_from:
      user2_id: id
down:
  method: DELETE
  url: "{{.api_base}}/api/users/{{.user2_id}}"
"#,
    );
    project.apirun(&["up"]).success();
    let run = project.apirun(&["down", "--to", "0"]);
    // A refusal before anything ran: bad usage, exit 2.
    run.code(2);
    assert!(run.stderr.contains("002_no_down.yaml"), "{}", run.stderr);
    assert!(run.stderr.contains("down"), "{}", run.stderr);
    assert!(
        api.requests_to("DELETE", "/api/users/2").is_empty(),
        "nothing rolled back"
    );
    assert_eq!(status_json(&project)["applied"], json!([1, 2, 3]));
    // The dry run refuses the same way.
    let dry = project.apirun(&["down", "--to", "0", "--dry-run"]);
    dry.code(2);
    assert!(dry.stderr.contains("002_no_down.yaml"), "{}", dry.stderr);
    // Rolling back only what has a down block works.
    project.apirun(&["down", "--to", "2"]).success();
    assert_eq!(api.requests_to("DELETE", "/api/users/2").len(), 1);
}

/// `body_file` is read relative to the migration file and rendered.
#[test]
fn body_file_is_read_relative_to_the_migration_and_rendered() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write(
        "migration/payloads/user.json",
        "{\"username\": \"{{.name}}\"}\n",
    );
    project.write(
        "migration/001_user.yaml",
        r#"up:
  env:
    name: from-file
  request:
    method: POST
    url: "{{.api_base}}/api/users"
    body_file: ./payloads/user.json
"#,
    );
    // Run from elsewhere: the path must not depend on the working directory.
    let mut cmd = std::process::Command::new(support::apirun_bin());
    cmd.current_dir(std::env::temp_dir())
        .arg("--config")
        .arg(project.config())
        .arg("up");
    support::run(cmd).success();
    let posts = api.requests_to("POST", "/api/users");
    assert_eq!(posts[0]["body"], "{\"username\": \"from-file\"}\n");
    assert_eq!(posts[0]["headers"]["content-type"], "application/json");
}

/// A `steps:` list runs in order; a variable extracted by step 1 is used by step 2.
#[test]
fn steps_run_in_order_and_pass_variables() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write(
        "migration/001_org.yaml",
        r#"up:
  name: org and owner
  steps:
    - name: create org
      request:
        method: POST
        url: "{{.api_base}}/api/orgs"
        body: '{"name": "acme"}'
      response:
        env_from:
          org_id: id
    - name: create owner
      request:
        method: POST
        url: "{{.api_base}}/api/members"
        body: '{"org": {{.org_id}}, "role": "owner"}'
      response:
        env_from:
          owner_id: id
"#,
    );
    project.write(
        "migration/002_uses.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/members/{{.owner_id}}\"\n",
    );
    project.apirun(&["up"]).success();
    let requests = api.requests();
    let paths: Vec<_> = requests
        .iter()
        .map(|r| r["path"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(paths, ["/api/orgs", "/api/members", "/api/members/1"]);
    assert_eq!(requests[1]["body"], r#"{"org": 1, "role": "owner"}"#);
}

/// `env_missing: fail` fails the step, naming the key and the path.
#[test]
fn env_missing_fail_names_the_key_and_path() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write(
        "migration/001_user.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/users"
    body: '{"username": "x"}'
  response:
    env_missing: fail
    env_from:
      user_id: id
      team_id: team.id
"#,
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    assert!(run.stderr.contains("team_id"), "{}", run.stderr);
    assert!(run.stderr.contains("team.id"), "{}", run.stderr);
    let status = status_json(&project);
    assert_eq!(status["applied"], json!([]), "{status}");
    assert_eq!(status["history"][0]["state"], "failed", "{status}");

    // `skip` (the default) leaves it unset and succeeds.
    project.write(
        "migration/001_user.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/users"
    body: '{"username": "y"}'
  response:
    env_from:
      user_id: id
      team_id: team.id
"#,
    );
    project.apirun(&["up"]).success();
}

/// `store.sqlite.path` (relative to config.yaml, its directory created),
/// `table_prefix` and
/// `save_response_body` shape what is written; the tables are read back
/// with SQLite directly.
#[test]
fn store_path_table_prefix_and_save_response_body() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "{}store:\n  table_prefix: demo\n  save_response_body: true\n  sqlite:\n    path: ./state/apirun.sqlite\n",
            basic_config(&api.url())
        ),
    );
    // `state/` does not exist: the store creates it.
    project.write(
        "migration/001_user.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/users\"\n    body: '{\"username\": \"kept\"}'\n  response:\n    env_from:\n      user_id: id\n",
    );
    project.apirun(&["up"]).success();
    let db = project.path().join("state/apirun.sqlite");
    assert!(db.exists(), "store at store.sqlite.path");
    assert!(
        !project.path().join("migration/apirun.db").exists(),
        "not at the default path"
    );
    let conn = rusqlite::Connection::open(&db).expect("open store");
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    tables.retain(|t| t.starts_with("demo_"));
    for table in [
        "demo_migration_runs",
        "demo_schema_migrations",
        "demo_stored_env",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing: {tables:?}"
        );
    }
    let body: String = conn
        .query_row(
            "SELECT body FROM demo_migration_runs WHERE version = 1",
            [],
            |r| r.get(0),
        )
        .expect("run body");
    assert!(body.contains("\"username\":\"kept\""), "{body}");
    let stored: String = conn
        .query_row(
            "SELECT value FROM demo_stored_env WHERE name = 'user_id'",
            [],
            |r| r.get(0),
        )
        .expect("stored variable");
    assert_eq!(stored, "1");
}

/// `store.disabled: true`: nothing is recorded, so every run sends again.
#[test]
fn store_disabled_runs_without_state() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!("{}store:\n  disabled: true\n", basic_config(&api.url())),
    );
    project.write(
        "migration/001_ping.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/pings\"\n",
    );
    project.apirun(&["up"]).success();
    project.apirun(&["up"]).success();
    assert_eq!(api.requests_to("GET", "/api/pings").len(), 2);
    assert!(!project.path().join("migration/apirun.db").exists());
}

/// A file older than the current version that was never applied is out of
/// order: `status` reports it, `up` refuses (exit 2) naming it, and
/// `--allow-out-of-order` applies it.
#[test]
fn out_of_order_files_are_reported_refused_and_allowed_on_request() {
    let api = Api::start();
    let project = Project::with_config(&basic_config(&api.url()));
    project.migration("001_a", get("{{.api_base}}/api/a"));
    project.migration("003_c", get("{{.api_base}}/api/c"));
    project.apirun(&["up"]).success();
    project.migration("002_b", get("{{.api_base}}/api/b"));
    let status = status_json(&project);
    assert_eq!(status["out_of_order"], json!([2]), "{status}");
    let run = project.apirun(&["up"]);
    run.code(2);
    assert!(
        run.stderr.contains("002_b.yaml") && run.stderr.contains("--allow-out-of-order"),
        "{}",
        run.stderr
    );
    assert!(api.requests_to("GET", "/api/b").is_empty());
    project.apirun(&["up", "--allow-out-of-order"]).success();
    assert_eq!(api.requests_to("GET", "/api/b").len(), 1);
    assert_eq!(status_json(&project)["applied"], json!([1, 2, 3]));
}

/// `wait:` polls until the status matches; when the timeout passes the run
/// fails naming the URL and the last status, and no migration runs.
#[test]
fn wait_fails_naming_the_url_and_last_status() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "{}wait:\n  url: \"{{{{.api_base}}}}/api/not-ready/1\"\n  status: 200\n  timeout: 1s\n  interval: 100ms\n",
            basic_config(&api.url())
        ),
    );
    project.write(
        "migration/001_a.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/a\"\n    body: '{}'\n",
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    assert!(run.stderr.contains("/api/not-ready/1"), "{}", run.stderr);
    assert!(run.stderr.contains("404"), "{}", run.stderr);
    let polls = api.requests_to("GET", "/api/not-ready/1").len();
    assert!(polls >= 2, "polled {polls} times");
    assert!(api.requests_to("POST", "/api/a").is_empty());

    // Ready: the same wait passes and the migration runs.
    project.write(
        "config.yaml",
        &format!(
            "{}wait:\n  url: \"{{{{.api_base}}}}/_admin/health\"\n  timeout: 5s\n",
            basic_config(&api.url())
        ),
    );
    project.apirun(&["up"]).success();
    assert_eq!(api.requests_to("POST", "/api/a").len(), 1);
}

/// `client.timeout` bounds each request; a timed-out POST fails the
/// migration (exit 1) and is not retried.
#[test]
fn client_timeout_fails_a_slow_request() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!("{}client:\n  timeout: 300ms\n", basic_config(&api.url())),
    );
    project.write(
        "migration/001_slow.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/slow?_delay_ms=1500\"\n    body: '{}'\n",
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    assert!(
        run.stderr.to_lowercase().contains("timed out")
            || run.stderr.to_lowercase().contains("timeout"),
        "{}",
        run.stderr
    );
    assert_eq!(
        api.requests_to("POST", "/api/slow").len(),
        1,
        "a POST is not retried"
    );
    assert_eq!(status_json(&project)["applied"], json!([]));
}

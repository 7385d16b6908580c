//! End-to-end, with the real `apirun` binary, real local servers and real
//! wasm components (docs/security.md, "Secrets and output"):
//!
//! - a third-party step plugin sees only the variables its `plugins:` entry
//!   grants (plugins/testing/echo, loaded from its file);
//! - secrets written literally in `auth[].config` and a plugin's `config:`
//!   never reach stdout, stderr, the store file, `status --history` or
//!   `stages status -v`, even when a server echoes them in a 403;
//! - control characters in a server's answer are escaped in every output;
//! - a trapping plugin is reported in one line.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use support::DemoApiAdmin as _;
use support::{Api, Project, Run, apirun_bin, run};

fn echo_plugin() -> PathBuf {
    let path = PathBuf::from(apirun::plugin::builtin::test_plugin_dir())
        .join("apirun_test_plugin_echo.wasm");
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

/// A request as the raw server saw it.
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 answering every request with
/// `answer(request) -> (status, body bytes)`, written raw (no escaping by a
/// framework), one request per connection. Runs until the test ends.
fn raw_server(answer: fn(&Seen) -> (u16, Vec<u8>)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut headers = Vec::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    break;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    headers.push((name.trim().to_string(), value.trim().to_string()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let seen = Seen {
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let (status, body) = answer(&seen);
            let head = format!(
                "HTTP/1.1 {status} Whatever\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

/// Everything a user or a later reader can see of a project: the output of
/// `run`, `status --history` (text and JSON) and the SQLite file's bytes.
fn everything(project: &Project, run: &Run) -> String {
    let history = project.apirun(&["status", "--history"]);
    let json = project.apirun(&["status", "--history", "--output", "json"]);
    let store = std::fs::read(project.path().join("migration/apirun.db")).expect("store file");
    format!(
        "== up ==\n{}\n== status --history ==\n{}\n== json ==\n{}\n== store ==\n{}",
        run.all_output(),
        history.all_output(),
        json.all_output(),
        String::from_utf8_lossy(&store)
    )
}

#[track_caller]
fn assert_absent(haystack: &str, secret: &str) {
    assert!(!haystack.contains(secret), "`{secret}` leaked:\n{haystack}");
}

// ---------------------------------------------------------------------------
// Item 2: plugins see only what they are given.

fn echo_grant_project(api: &Api, grant: &str) -> Project {
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {base}
  - name: admin_password
    value: Adm1n-Pa55-4242
  - name: k8s_token
    value: k8s-tok-98765
  - name: region
    value: eu-west-1
plugins:
  - name: echo
    path: {path}
    allowed_hosts: ["{base}"]
{grant}"#,
            base = api.url(),
            path = yaml_path(&echo_plugin()),
        ),
    );
    project.write(
        "migration/001_echo.yaml",
        r#"up:
  steps:
    - type: echo
      with:
        url: "{{.api_base}}/api/echoes"
      response:
        result_code: ["201"]
"#,
    );
    project
}

/// What the echo plugin was handed, as it POSTed it to the demo API.
fn handed_variables(api: &Api) -> Value {
    let sent = api.requests_to("POST", "/api/echoes");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let body: Value =
        serde_json::from_str(sent[0]["body"].as_str().expect("body")).expect("JSON body");
    body["variables"].clone()
}

#[test]
fn a_plugin_without_a_grant_is_handed_no_variable() {
    let api = Api::start();
    let project = echo_grant_project(&api, "");
    project.apirun(&["up"]).success();
    assert_eq!(handed_variables(&api), serde_json::json!({}));
}

#[test]
fn a_plugin_is_handed_exactly_the_variables_its_entry_grants() {
    let api = Api::start();
    let project = echo_grant_project(&api, "    variables: [region, k8s_token, not_defined]\n");
    project.apirun(&["up"]).success();
    assert_eq!(
        handed_variables(&api),
        serde_json::json!({"region": "eu-west-1", "k8s_token": "k8s-tok-98765"})
    );
}

#[test]
fn an_empty_granted_variable_name_is_a_config_error() {
    let api = Api::start();
    let project = echo_grant_project(&api, "    variables: [region, \" \"]\n");
    let run = project.apirun(&["validate"]);
    run.code(2);
    assert!(
        run.stderr.contains("plugins[0].variables[1]") && run.stderr.contains("empty variable"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------
// Item 7: literal secrets never leak.

const BASIC_PW: &str = "Lit3ral-Basic-Pw-77";
const CLIENT_SECRET: &str = "Lit3ral-Client-Secret-88";
const PLUGIN_TOKEN: &str = "Lit3ral-Plugin-Tok-99";

/// A server that decodes what it was sent and quotes it back in plain text
/// with a 403: the Basic password, or the OAuth2 client secret.
fn echoing_server(seen: &Seen) -> (u16, Vec<u8>) {
    use base64::Engine as _;
    let mut told = String::new();
    if let Some(basic) = seen
        .header("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic)
            .unwrap_or_default();
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        let (user, pw) = decoded.split_once(':').unwrap_or(("?", "?"));
        told = format!("user {user} may not do this (you sent {pw})");
    }
    for pair in seen.body.split('&') {
        if let Some(secret) = pair.strip_prefix("client_secret=") {
            told = format!("client app is blocked; it sent {secret} as its secret");
        }
    }
    let _ = &seen.path;
    (403, format!("forbidden: {told}").into_bytes())
}

#[test]
fn a_literal_basic_password_echoed_by_a_server_is_masked_everywhere() {
    let server = raw_server(echoing_server);
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {server}
store:
  save_response_body: true
auth:
  - type: basic
    name: admin
    config:
      username: admin
      password: {BASIC_PW}
"#
        ),
    );
    project.write(
        "migration/001_item.yaml",
        r#"up:
  request:
    auth_name: admin
    method: POST
    url: "{{.api_base}}/api/items"
    body: '{"name": "x"}'
"#,
    );
    let up = project.apirun(&["up"]);
    up.code(1);
    assert!(
        up.stderr
            .contains("user admin may not do this (you sent ***)"),
        "the server's answer is shown, masked:\n{}",
        up.stderr
    );
    assert_absent(&everything(&project, &up), BASIC_PW);
}

#[test]
fn a_literal_oauth2_client_secret_echoed_by_the_token_endpoint_is_masked_everywhere() {
    let server = raw_server(echoing_server);
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {server}
auth:
  - type: oauth2
    name: sso
    config:
      grant_type: client_credentials
      token_url: {server}/token
      client_id: app
      client_secret: {CLIENT_SECRET}
"#
        ),
    );
    project.write(
        "migration/001_item.yaml",
        r#"up:
  request:
    auth_name: sso
    method: POST
    url: "{{.api_base}}/api/items"
    body: '{"name": "x"}'
"#,
    );
    let up = project.apirun(&["up"]);
    up.code(1);
    assert!(
        up.stderr.contains("it sent *** as its secret"),
        "the token endpoint's answer is shown, masked:\n{}",
        up.stderr
    );
    assert_absent(&everything(&project, &up), CLIENT_SECRET);
}

#[test]
fn a_plugin_config_secret_quoted_in_its_response_is_masked_everywhere() {
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
store:
  save_response_body: false
plugins:
  - name: echo
    path: {path}
    config:
      region: eu-west-1
      api_token: {PLUGIN_TOKEN}
"#,
            path = yaml_path(&echo_plugin()),
        ),
    );
    project.write(
        "migration/001_echo.yaml",
        "up:\n  steps:\n    - type: echo\n      with: {status: 403}\n",
    );
    let up = project.apirun(&["up"]);
    up.code(1);
    assert!(
        up.stderr.contains("config api_token -> ***;") && up.stderr.contains("eu-west-1"),
        "{}",
        up.stderr
    );
    assert_absent(&everything(&project, &up), PLUGIN_TOKEN);
}

#[test]
fn stages_status_verbose_masks_exported_values_holding_a_stage_secret() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "stages.yaml",
        "apiVersion: apirun/v1\nkind: StageOrchestration\nstages:\n  - name: app\n    config_path: app/config.yaml\n",
    );
    // The secret is a variable of the stage's own config.yaml (not of
    // stages.yaml) and a literal in its auth config; the server echoes both
    // into a value the stage exports.
    project.write(
        "app/config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {}
  - name: db_password
    value: Db-Pa55-1234
auth:
  - type: basic
    name: admin
    config:
      username: admin
      password: {BASIC_PW}
"#,
            api.url()
        ),
    );
    project.write(
        "app/migration/001_item.yaml",
        &format!(
            r#"up:
  request:
    method: POST
    url: "{{{{.api_base}}}}/api/items"
    body: '{{"name": "x", "note": "db {{{{.db_password}}}} admin {BASIC_PW}"}}'
  response:
    result_code: ["201"]
    env_from:
      note: note
"#
        ),
    );
    let stages = |args: &[&str]| {
        let mut cmd = Command::new(apirun_bin());
        cmd.current_dir(project.path())
            .args(["stages"])
            .args(args)
            .arg("-c")
            .arg(project.path().join("stages.yaml"))
            .env("APIRUN_WAIT_BETWEEN_STAGES", "0s");
        run(cmd)
    };
    stages(&["up"]).success();
    let text = stages(&["status", "-v"]);
    text.success();
    assert!(
        text.stdout.contains("note = db *** admin ***"),
        "{}",
        text.stdout
    );
    let json = stages(&["status", "-v", "--output", "json"]);
    json.success();
    for out in [text.all_output(), json.all_output()] {
        assert_absent(&out, "Db-Pa55-1234");
        assert_absent(&out, BASIC_PW);
    }
}

// ---------------------------------------------------------------------------
// Item 8: the terminal is not the server's.

fn hostile_server(_seen: &Seen) -> (u16, Vec<u8>) {
    (
        500,
        b"\x1b[2J\rok up 999\n\x07\xc2\x9b\xe2\x80\xae".to_vec(),
    )
}

#[test]
fn control_characters_from_a_server_are_escaped_in_every_output() {
    let server = raw_server(hostile_server);
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!("migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {server}\nclient:\n  retries: 0\n"),
    );
    project.write(
        "migration/001_item.yaml",
        r#"up:
  request:
    method: GET
    url: "{{.api_base}}/api/items"
"#,
    );
    let up = project.apirun_env(&["up"], &[("APIRUN_LOG", "debug")]);
    up.code(1);
    let all = everything(&project, &up);
    let shown = all.split("== store ==").next().unwrap_or_default();
    for bad in ['\x1b', '\r', '\x07', '\u{9b}', '\u{202e}'] {
        assert!(
            !shown.contains(bad),
            "raw {bad:?} in the output:\n{shown:?}"
        );
    }
    assert!(
        up.stderr
            .contains(r"\x1b[2J\rok up 999\n\x07\u{9b}\u{202e}"),
        "the escaped form is shown:\n{}",
        up.stderr
    );
    assert!(
        !shown.lines().any(|l| l.starts_with("ok up 999")),
        "a forged line:\n{shown}"
    );
}

// ---------------------------------------------------------------------------
// Item 9 (part): a trap is one line.

fn trap_project() -> Project {
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "migrate_dir: ./migration\nplugins:\n  - name: echo\n    path: {}\n",
            yaml_path(&echo_plugin())
        ),
    );
    project.write(
        "migration/001_trap.yaml",
        "up:\n  steps:\n    - type: echo\n      with: {trap: true}\n",
    );
    project
}

#[test]
fn a_trapping_plugin_is_reported_in_one_line() {
    let project = trap_project();
    let up = project.apirun_env(&["up"], &[("APIRUN_LOG", "info")]);
    up.code(1);
    let crashed: Vec<&str> = up
        .stderr
        .lines()
        .filter(|l| l.contains("plugin `echo` crashed"))
        .collect();
    assert_eq!(crashed.len(), 1, "{}", up.stderr);
    assert!(crashed[0].contains("wasm trap"), "{}", up.stderr);
    assert!(
        up.stderr.lines().count() <= 2 && !up.all_output().contains("backtrace"),
        "one line, no backtrace:\n{}",
        up.all_output()
    );
    // The backtrace is still there for the plugin's author, at debug level.
    let debug = trap_project().apirun_env(&["up"], &[("APIRUN_LOG", "debug")]);
    debug.code(1);
    assert!(debug.stderr.contains("backtrace"), "{}", debug.stderr);
}

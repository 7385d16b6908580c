//! End-to-end: files in the Go tool's format (loykin/apirun) run unchanged
//! (docs/compatibility.md). `tests/fixtures/go/<example>/` holds, per published
//! example of the Go tool, our own files with the same keys and layout; each
//! test copies one into a temporary directory, points it at a local demo API
//! (the OS variable `API_BASE`, read with `valueFromEnv`) and drives the real
//! `apirun` binary through `validate`, `up`, `status` and `down`. Where apirun
//! deliberately differs, the test asserts the message docs/compatibility.md
//! quotes. Also here: `result_code: []`, classes (`2xx`) and `any`.

mod store_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Api, ApiConfig, DemoApiAdmin, Project, Run, apirun_bin, run};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Copies a directory tree (state stores left out).
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
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// A fixture of tests/fixtures/go copied into its own temporary directory.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_tree(
            &repo_root().join("tests/fixtures/go").join(name),
            dir.path(),
        );
        Fixture { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `apirun ARGS...` run from the fixture's root (no implicit --config: the
    /// Go tool's default `./config/config.yaml` and relative paths depend on
    /// the working directory).
    fn apirun(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(apirun_bin());
        cmd.current_dir(self.path()).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd)
    }

    /// `apirun --config config.yaml ARGS...` (the library examples' translation).
    fn single(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut all = vec!["--config", "config.yaml"];
        all.extend_from_slice(args);
        self.apirun(&all, env)
    }

    /// `apirun stages CMD -c stages.yaml ARGS...`, no pause between stages.
    fn stages(&self, cmd: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut all = vec!["stages", cmd, "-c", "stages.yaml"];
        all.extend_from_slice(args);
        let mut env = env.to_vec();
        env.push(("APIRUN_WAIT_BETWEEN_STAGES", "0s"));
        self.apirun(&all, &env)
    }
}

fn status(fixture: &Fixture, config: &str, env: &[(&str, &str)]) -> Value {
    let run = fixture.apirun(&["--config", config, "status", "--output", "json"], env);
    run.success();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("status json: {e}\n{}", run.stdout))
}

/// The `user` the demo API saw on each request to `path` (Basic auth).
fn users(api: &Api, method: &str, path: &str) -> Vec<Value> {
    api.requests_to(method, path)
        .into_iter()
        .map(|r| r["user"].clone())
        .collect()
}

fn items(api: &Api, collection: &str) -> Vec<Value> {
    api.state()["collections"][collection]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// result_code: [] (the Go docs: "any status code accepted"), classes and `any`
// ---------------------------------------------------------------------------

#[test]
fn result_code_empty_list_accepts_any_status_with_a_warning() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &support::basic_config(&api.url()));
    project.write(
        "migration/001_flaky.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/flaky?_status=418\"\n  response:\n    result_code: []\n",
    );
    let validate = project.apirun(&["validate"]);
    validate.success();
    assert!(
        validate.stderr.contains(
            "up.response.result_code: `result_code: []` accepts any status, as in the Go tool"
        ),
        "{}",
        validate.stderr
    );
    let up = project.apirun(&["up"]);
    up.success();
    assert!(up.stderr.contains("accepts any status"), "{}", up.stderr);
    assert_eq!(api.requests_to("GET", "/api/flaky").len(), 1);
    assert_eq!(support::status_json(&project)["applied"], json!([1]));
}

#[test]
fn result_code_absent_still_means_any_2xx() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &support::basic_config(&api.url()));
    project.write(
        "migration/001_flaky.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/flaky?_status=503\"\n",
    );
    let up = project.apirun(&["up"]);
    up.code(1);
    assert!(
        up.stderr
            .contains("the server answered 503, expected any 2xx"),
        "{}",
        up.stderr
    );
}

#[test]
fn result_code_classes_and_any() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &support::basic_config(&api.url()));
    project.write(
        "migration/001_class.yaml",
        "up:\n  request: {method: GET, url: \"{{.api_base}}/api/c?_status=404\"}\n  response:\n    result_code: [\"2XX\", \"4xx\"]\n",
    );
    project.write(
        "migration/002_any.yaml",
        "up:\n  request: {method: GET, url: \"{{.api_base}}/api/c?_status=500\"}\n  response:\n    result_code: [\"any\"]\n",
    );
    project.write(
        "migration/003_templated.yaml",
        "up:\n  env: {accepted: 3xx}\n  request: {method: GET, url: \"{{.api_base}}/api/c?_status=302\"}\n  response:\n    result_code: [\"{{.accepted}}\"]\n",
    );
    project.write(
        "migration/004_only_2xx.yaml",
        "up:\n  request: {method: GET, url: \"{{.api_base}}/api/c?_status=409\"}\n  response:\n    result_code: [\"2xx\", \"201\"]\n",
    );
    let validate = project.apirun(&["validate"]);
    validate.success();
    assert!(
        !validate.stderr.contains("accepts any status"),
        "the explicit spellings need no warning: {}",
        validate.stderr
    );
    let up = project.apirun(&["up"]);
    up.code(1);
    assert!(
        up.stderr
            .contains("the server answered 409, expected 2xx, 201"),
        "{}",
        up.stderr
    );
    assert_eq!(support::status_json(&project)["applied"], json!([1, 2, 3]));

    // Anything else is refused before sending, naming the entry.
    project.write(
        "migration/004_only_2xx.yaml",
        "up:\n  request: {method: GET, url: \"{{.api_base}}/api/c\"}\n  response:\n    result_code: [\"6xx\", \"2x\", \"anything\"]\n",
    );
    let bad = project.apirun(&["validate"]);
    bad.code(2);
    for entry in ["6xx", "2x", "anything"] {
        assert!(
            bad.stderr
                .contains(&format!("\"{entry}\" is not an HTTP status code")),
            "{}",
            bad.stderr
        );
    }
    assert!(
        bad.stderr.contains("a class (\"2xx\") or \"any\""),
        "{}",
        bad.stderr
    );
}

// ---------------------------------------------------------------------------
// The corpus: one test per published example of the Go tool
// ---------------------------------------------------------------------------

/// Quick start: `config/config.yaml` with `migrate_dir: ./config/migration`,
/// run from the directory above with the default config path; the migration
/// has no `down` block.
#[test]
fn quickstart_config_layout() {
    let api = Api::with_basic("admin", "admin");
    let fx = Fixture::new("quickstart");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];

    fx.apirun(&["validate"], &env).success();
    let up = fx.apirun(&["up"], &env);
    up.success();
    // The Go tool's working-directory-relative migrate_dir: found, with a warning.
    assert!(
        up.stderr.contains("migrate_dir")
            && up.stderr.contains("but is under the working directory"),
        "{}",
        up.stderr
    );
    let seen = api.requests_to("GET", "/api/samples");
    assert_eq!(seen.len(), 1, "{:?}", api.requests());
    assert_eq!(
        seen[0]["user"], "admin",
        "auth_name injects the Basic header"
    );
    assert_eq!(seen[0]["query"], "owner=sample");
    // The store lands where the Go tool puts it: <migrate_dir>/apirun.db.
    assert!(fx.path().join("config/migration/apirun.db").is_file());
    assert!(!fx.path().join("config/config").exists());
    assert_eq!(
        status(&fx, "config/config.yaml", &env)["applied"],
        json!([1])
    );
    // A second `up` applies nothing and sends nothing.
    fx.apirun(&["up"], &env).success();
    assert_eq!(api.requests_to("GET", "/api/samples").len(), 1);

    // No `down` block: refused before anything is rolled back (the Go tool
    // fails half-way with "down: method/url not specified").
    let down = fx.apirun(&["down", "--to", "0"], &env);
    down.code(2);
    assert!(
        down.stderr
            .contains("has no `down` block; nothing was rolled back"),
        "{}",
        down.stderr
    );
}

/// oauth2-mock-server on an ephemeral port (tests/tools/oauth2-server.mjs);
/// killed on drop.
struct OAuthServer {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl OAuthServer {
    fn start() -> OAuthServer {
        let modules = std::env::var("APIRUN_TEST_NODE_MODULES").unwrap_or_else(|_| {
            panic!("APIRUN_TEST_NODE_MODULES is not set: run the tests through scripts/test-all.sh")
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let url_file = dir.path().join("url");
        let log = dir.path().join("tokens.jsonl");
        let mut child = Command::new("node")
            .arg(repo_root().join("tests/tools/oauth2-server.mjs"))
            .arg(&url_file)
            .arg(&log)
            .arg("-")
            .env("APIRUN_TEST_NODE_MODULES", modules)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("node runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&url_file)
                && !text.is_empty()
            {
                break text;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("oauth2-mock-server exited early with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "oauth2-mock-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        OAuthServer {
            child,
            url,
            _dir: dir,
        }
    }
}

impl Drop for OAuthServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// keycloak_migration: oauth2 password grant under `grant_config`, the header
/// written by hand (`Bearer {{.auth.keycloak}}`) next to `auth_name`, `down`
/// with `find`, `migrate_dir` relative to the working directory.
#[test]
fn keycloak_migration() {
    let oauth = OAuthServer::start();
    let api = Api::start();
    let fx = Fixture::new("keycloak_migration");
    let token_url = format!("{}/token", oauth.url);
    let base = api.url();
    let env = [
        ("API_BASE", base.as_str()),
        ("TOKEN_URL", token_url.as_str()),
        ("SAMPLE_REALM", "compat"),
    ];
    let config = "examples/keycloak_migration/config.yaml";

    fx.apirun(&["--config", config, "validate"], &env).success();
    fx.apirun(&["--config", config, "up"], &env).success();
    let realms = api.requests_to("POST", "/api/realms");
    let users_sent = api.requests_to("POST", "/api/users");
    assert_eq!((realms.len(), users_sent.len()), (1, 1));
    for request in realms.iter().chain(&users_sent) {
        let authorization = request["headers"]["authorization"]
            .as_str()
            .unwrap_or_default();
        // Exactly one header: the hand-written one wins over auth_name's.
        assert!(
            authorization.starts_with("Bearer ") && !authorization.contains(','),
            "{request}"
        );
    }
    assert_eq!(items(&api, "users")[0]["realm"], "compat");
    assert_eq!(status(&fx, config, &env)["applied"], json!([1, 2]));

    // down: find the user by name, delete it; delete the realm by the id
    // extracted at `up` (kept in the store).
    fx.apirun(&["--config", config, "down", "--to", "0"], &env)
        .success();
    assert_eq!(api.requests_to("GET", "/api/users").len(), 1);
    assert_eq!(api.requests_to("DELETE", "/api/users/1").len(), 1);
    assert_eq!(api.requests_to("DELETE", "/api/realms/1").len(), 1);
    assert!(items(&api, "users").is_empty() && items(&api, "realms").is_empty());
    assert_eq!(status(&fx, config, &env)["applied"], json!([]));
}

/// grafana_migration: credentials in a variable, `body_file` relative to the
/// working directory (the Go tool's rule; apirun falls back to it with a
/// warning), rollbacks that are harmless GETs.
#[test]
fn grafana_migration() {
    let api = Api::with_basic("admin", "admin");
    let fx = Fixture::new("grafana_migration");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];
    let config = "examples/grafana_migration/config.yaml";

    fx.apirun(&["--config", config, "validate"], &env).success();
    let up = fx.apirun(&["--config", config, "up"], &env);
    up.success();
    assert!(
        up.stderr.contains("body_file") && up.stderr.contains("but is under the working directory"),
        "{}",
        up.stderr
    );
    let dashboards = api.requests_to("POST", "/api/dashboards");
    assert_eq!(dashboards.len(), 1);
    assert_eq!(dashboards[0]["user"], "admin");
    let body: Value =
        serde_json::from_str(dashboards[0]["body"].as_str().unwrap_or("")).expect("json body");
    assert_eq!(body["dashboard"]["title"], "Compat Dashboard for sample");
    assert_eq!(items(&api, "grafana_users")[0]["login"], "sample");
    assert_eq!(status(&fx, config, &env)["applied"], json!([1, 2]));

    fx.apirun(&["--config", config, "down", "--to", "0"], &env)
        .success();
    assert_eq!(users(&api, "GET", "/api/health"), vec![json!("admin"); 2]);
    assert_eq!(status(&fx, config, &env)["applied"], json!([]));
}

/// stages: the published multi-stage example as is (tests/fixtures/seed-tree)
/// uses variables nothing defines; `stages validate` says so (exit 2). Our
/// runnable version is examples/stages (tests/stages.rs runs it).
#[test]
fn stages_published_example_fails_validate_with_the_documented_reason() {
    let project = Project::new();
    copy_tree(
        &repo_root().join("tests/fixtures/seed-tree"),
        project.path(),
    );
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(project.path())
        .args(["stages", "validate", "-c", "stages.yaml"]);
    let out = run(cmd);
    out.code(2);
    assert!(
        out.stderr
            .contains("variable `aws_access_key` is used but nothing defines it"),
        "{}",
        out.stderr
    );
    // security_group_id is imported by `services` but never used there: a
    // warning, not a problem (docs/multi-stage.md, imports).
    assert!(out.stderr.contains("10 problem(s) found"), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "warning: stages[1].env_from_stages[0].vars[2]: variable `security_group_id`"
        ),
        "{}",
        out.stderr
    );
}

/// stages_embedded: a diamond of five stages; two stage configs use the Go
/// tool's `store.driver`/`store.path` keys (warned about) and two migrations
/// carry `apiVersion`/`kind`; one migration accepts any status with
/// `result_code: []`.
#[test]
fn stages_embedded() {
    let api = Api::start();
    let fx = Fixture::new("stages_embedded");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];

    let validate = fx.stages("validate", &[], &env);
    validate.success();
    for key in ["store.driver", "store.path"] {
        assert!(
            validate.stderr.contains(key),
            "warns about {key}: {}",
            validate.stderr
        );
    }
    fx.stages("up", &[], &env).success();
    assert_eq!(items(&api, "setups").len(), 1);
    assert_eq!(items(&api, "branches").len(), 2);
    // branch-b 002 was answered 503 and accepted (`result_code: []`).
    assert_eq!(api.requests_to("POST", "/api/features").len(), 3);
    assert_eq!(items(&api, "features").len(), 2);
    assert_eq!(items(&api, "cleanups").len(), 1);
    let branch = items(&api, "branches")
        .into_iter()
        .find(|b| b["stage"] == "branch-b")
        .expect("branch-b");
    assert_eq!(branch["setup_id"], "compat-embedded");
    assert_eq!(branch["validation_status"], "test");

    let status = fx.stages("status", &["--output", "json"], &env);
    status.success();
    let status: Value = serde_json::from_str(&status.stdout).expect("status json");
    let states: Vec<&Value> = status["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| &s["state"])
        .collect();
    assert_eq!(states, vec![&json!("applied"); 5], "{status}");

    fx.stages("down", &[], &env).success();
    assert!(items(&api, "branches").is_empty());
    assert!(items(&api, "features").is_empty());
}

/// orchestrator_embedded: a chain of four stages whose imports name variables
/// the exporting stages never extract (their paths match nothing); nothing
/// uses them, so the run completes, with a warning per missing import.
#[test]
fn orchestrator_embedded() {
    let api = Api::start();
    let fx = Fixture::new("orchestrator_embedded");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];

    fx.stages("validate", &[], &env).success();
    let up = fx.stages("up", &[], &env);
    up.success();
    // Stage warnings are printed with the run's progress lines.
    assert!(
        up.all_output()
            .contains("imports `vpc_id` from stage `infrastructure`, which does not export it"),
        "warns about the missing import: {}",
        up.all_output()
    );
    assert_eq!(items(&api, "orchestrated").len(), 4);
    for stage in ["infrastructure", "database", "services", "configuration"] {
        assert!(
            fx.path()
                .join(format!("{stage}/state/{stage}_state.db"))
                .is_file(),
            "{stage}'s store"
        );
    }
    fx.stages("status", &[], &env).success();
    fx.stages("down", &[], &env).success();
    let undo: Vec<String> = api
        .requests_to("POST", "/api/orchestrated")
        .iter()
        .skip(4)
        .map(|r| {
            serde_json::from_str::<Value>(r["body"].as_str().unwrap_or(""))
                .map(|b| b["action"].as_str().unwrap_or("").to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        undo,
        [
            "remove_configuration",
            "undeploy_services",
            "delete_database",
            "delete_vpc"
        ]
    );
}

/// embedded_sqlite: a SQLite store at `<migrate_dir>/apirun.db`.
#[test]
fn embedded_sqlite() {
    let api = Api::start();
    let fx = Fixture::new("embedded_sqlite");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];
    fx.single(&["validate"], &env).success();
    fx.single(&["up"], &env).success();
    assert_eq!(api.requests_to("GET", "/api/checks").len(), 1);
    assert!(fx.path().join("migration/apirun.db").is_file());
    assert_eq!(status(&fx, "config.yaml", &env)["applied"], json!([1]));
}

/// embedded_postgresql: the DSN from the OS variable PG_DSN, as the Go example
/// reads it, given to the store as a template.
#[test]
fn embedded_postgresql() {
    let db = store_support::PgDb::create();
    let api = Api::start();
    let fx = Fixture::new("embedded_postgresql");
    let base = api.url();
    let env = [("API_BASE", base.as_str()), ("PG_DSN", db.dsn.as_str())];
    fx.single(&["validate"], &env).success();
    fx.single(&["up"], &env).success();
    assert_eq!(api.requests_to("GET", "/api/checks").len(), 1);
    assert_eq!(
        db.query("SELECT version FROM schema_migrations"),
        vec![vec![Some("1".to_string())]]
    );
    assert!(
        !fx.path().join("migration/apirun.db").exists(),
        "no SQLite store"
    );
    assert_eq!(status(&fx, "config.yaml", &env)["applied"], json!([1]));
}

/// `openssl s_server -www` with a certificate made by `openssl req -x509`;
/// killed on drop.
struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    fn start(dir: &Path) -> TlsServer {
        let made = Command::new("openssl")
            .current_dir(dir)
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(made.success(), "openssl req -x509");
        let port = support::free_port();
        let child = Command::new("openssl")
            .current_dir(dir)
            .args([
                "s_server", "-quiet", "-www", "-cert", "cert.pem", "-key", "key.pem",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsServer { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// embedded_tls: certificate verification on, the server's self-signed
/// certificate pinned with `client.ca_file`.
#[test]
fn embedded_tls() {
    let fx = Fixture::new("embedded_tls");
    let server = TlsServer::start(fx.path());
    let url = format!("https://127.0.0.1:{}/", server.port);
    let env = [("TLS_URL", url.as_str())];
    fx.single(&["validate"], &env).success();
    fx.single(&["up"], &env).success();
    assert_eq!(status(&fx, "config.yaml", &env)["applied"], json!([1]));
}

/// embedded_custom_table: explicit table names on a SQLite store.
#[test]
fn embedded_custom_table() {
    let api = Api::start();
    let fx = Fixture::new("embedded_custom_table");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];
    fx.single(&["validate"], &env).success();
    fx.single(&["up"], &env).success();
    let db = rusqlite::Connection::open(fx.path().join("migration/apirun.db")).expect("open store");
    let mut names: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .expect("tables");
    names.retain(|n| !n.starts_with("sqlite_"));
    for table in [
        "demo_schema_migrations",
        "demo_migration_runs",
        "demo_stored_env",
    ] {
        assert!(names.iter().any(|n| n == table), "{table} in {names:?}");
    }
    assert!(!names.iter().any(|n| n == "schema_migrations"), "{names:?}");
    let version: i64 = db
        .query_row("SELECT version FROM demo_schema_migrations", [], |r| {
            r.get(0)
        })
        .expect("applied version");
    assert_eq!(version, 1);
    drop(db);
    assert_eq!(items(&api, "checks").len(), 1);
    fx.single(&["down", "--to", "0"], &env).success();
    assert!(items(&api, "checks").is_empty());
}

/// auth_embedded: one basic provider, the header written by hand.
#[test]
fn auth_embedded() {
    let api = Api::with_basic("admin", "admin");
    let fx = Fixture::new("auth_embedded");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];
    fx.single(&["validate"], &env).success();
    fx.single(&["up"], &env).success();
    assert_eq!(users(&api, "GET", "/api/checks"), vec![json!("admin")]);
    assert!(fx.path().join("tmp/apirun.db").is_file());
    assert_eq!(status(&fx, "config.yaml", &env)["applied"], json!([1]));
}

fn basic_api(pairs: &[(&str, &str)]) -> Api {
    let mut config = ApiConfig::default();
    for (u, p) in pairs {
        config.basic.push((u.to_string(), p.to_string()));
    }
    Api::start_with(config)
}

/// auth_embedded_lazy: three providers; each migration uses its own, and a
/// run that stops early never uses the later ones.
#[test]
fn auth_embedded_lazy() {
    let api = basic_api(&[("u1", "p1"), ("u2", "p2"), ("u3", "p3")]);
    let fx = Fixture::new("auth_embedded_lazy");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];
    fx.single(&["validate"], &env).success();
    fx.single(&["up", "--to", "1"], &env).success();
    assert_eq!(api.requests().len(), 1);
    assert_eq!(users(&api, "GET", "/api/a1"), vec![json!("u1")]);
    fx.single(&["up"], &env).success();
    assert_eq!(users(&api, "GET", "/api/a2"), vec![json!("u2")]);
    assert_eq!(users(&api, "GET", "/api/a3"), vec![json!("u3")]);
    assert_eq!(
        status(&fx, "config.yaml", &env)["applied"],
        json!([1, 2, 3])
    );
}

/// auth_embedded_multi_registry: two providers registered together.
#[test]
fn auth_embedded_multi_registry() {
    let api = basic_api(&[("u1", "p1"), ("u2", "p2")]);
    let fx = Fixture::new("auth_embedded_multi_registry");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];
    fx.single(&["validate"], &env).success();
    fx.single(&["up"], &env).success();
    assert_eq!(users(&api, "GET", "/api/a"), vec![json!("u1")]);
    assert_eq!(users(&api, "GET", "/api/b"), vec![json!("u2")]);
    assert_eq!(status(&fx, "config.yaml", &env)["applied"], json!([1, 2]));
}

/// auth_embedded_multi_registry_type2: the same with `down` blocks that use
/// `down.auth` (injected) instead of a hand-written header.
#[test]
fn auth_embedded_multi_registry_type2() {
    let api = basic_api(&[("u1", "p1"), ("u2", "p2")]);
    let fx = Fixture::new("auth_embedded_multi_registry_type2");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];
    fx.single(&["validate"], &env).success();
    fx.single(&["up"], &env).success();
    fx.single(&["down", "--to", "0"], &env).success();
    assert_eq!(users(&api, "GET", "/api/a"), vec![json!("u1"); 2]);
    assert_eq!(users(&api, "GET", "/api/b"), vec![json!("u2"); 2]);
    // Rolled back newest first.
    let paths: Vec<Value> = api.requests().iter().map(|r| r["path"].clone()).collect();
    assert_eq!(
        paths,
        json!(["/api/a", "/api/b", "/api/b", "/api/a"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    );
    assert_eq!(status(&fx, "config.yaml", &env)["applied"], json!([]));
}

/// store_example: the id extracted at `up` is kept in the store and used by
/// `down` in a later process.
#[test]
fn store_example() {
    let api = Api::start();
    let fx = Fixture::new("store_example");
    let base = api.url();
    let env = [("API_BASE", base.as_str())];
    fx.single(&["validate"], &env).success();
    fx.single(&["up"], &env).success();
    assert_eq!(items(&api, "resources").len(), 1);
    let history = fx.single(&["status", "--history", "--output", "json"], &env);
    history.success();
    assert!(history.stdout.contains("\"rid\""), "{}", history.stdout);
    fx.single(&["down", "--to", "0"], &env).success();
    assert_eq!(api.requests_to("DELETE", "/api/resources/1").len(), 1);
    assert!(items(&api, "resources").is_empty());
}

/// Every config of the corpus that `validate` (`stages validate`) accepts,
/// `up --dry-run` (`stages up --dry-run`) accepts too, without sending anything.
#[test]
fn validate_ok_implies_dry_run_ok_on_the_corpus() {
    let api = Api::start();
    let base = api.url();
    let env = [
        ("API_BASE", base.as_str()),
        ("TOKEN_URL", "http://127.0.0.1:9/token"),
        ("SAMPLE_REALM", "compat"),
        ("PG_DSN", "postgres://nobody@127.0.0.1:9/none"),
        ("TLS_URL", "https://127.0.0.1:9/"),
    ];
    let singles = [
        ("quickstart", "config/config.yaml"),
        (
            "keycloak_migration",
            "examples/keycloak_migration/config.yaml",
        ),
        (
            "grafana_migration",
            "examples/grafana_migration/config.yaml",
        ),
        ("embedded_sqlite", "config.yaml"),
        ("embedded_custom_table", "config.yaml"),
        ("auth_embedded", "config.yaml"),
        ("auth_embedded_lazy", "config.yaml"),
        ("auth_embedded_multi_registry", "config.yaml"),
        ("auth_embedded_multi_registry_type2", "config.yaml"),
        ("store_example", "config.yaml"),
    ];
    let mut checked = 0;
    for (name, config) in singles {
        let fx = Fixture::new(name);
        if fx.apirun(&["--config", config, "validate"], &env).code != 0 {
            continue;
        }
        checked += 1;
        let dry = fx.apirun(&["--config", config, "up", "--dry-run"], &env);
        assert_eq!(
            dry.code, 0,
            "{name}: validate ok but dry run failed:\n{}",
            dry.stderr
        );
    }
    for name in ["stages_embedded", "orchestrator_embedded"] {
        let fx = Fixture::new(name);
        if fx.stages("validate", &[], &env).code != 0 {
            continue;
        }
        checked += 1;
        let dry = fx.stages("up", &["--dry-run"], &env);
        assert_eq!(
            dry.code, 0,
            "{name}: validate ok but dry run failed:\n{}",
            dry.stderr
        );
    }
    assert!(checked >= 9, "most of the corpus validates ({checked})");
    assert!(api.requests().is_empty(), "a dry run sends nothing");
}

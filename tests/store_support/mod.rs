//! Helpers shared by the store and fault tests (tests/store.rs, tests/faults.rs):
//! a PostgreSQL database of each test's own, the demo API as a separate process
//! (so it can be killed with SIGKILL and restarted on the same port), `apirun`
//! as a child process that can be killed mid-request, and the migration files
//! and configs these tests use.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Project, Run, apirun_bin, cache_dir};

/// The PostgreSQL server the tests use (scripts/test-all.sh starts it).
pub fn pg_dsn() -> String {
    std::env::var("APIRUN_TEST_PG_DSN").unwrap_or_else(|_| {
        panic!(
            "APIRUN_TEST_PG_DSN is not set: run the tests through scripts/test-all.sh (it starts \
             PostgreSQL with .ci/start-postgres.sh and sets it), or start PostgreSQL and export \
             APIRUN_TEST_PG_DSN=postgres://postgres@127.0.0.1:55432/postgres"
        )
    })
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

async fn pg_connect(dsn: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(dsn, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to PostgreSQL at {dsn}: {e}"));
    tokio::spawn(connection);
    client
}

/// A database of the test's own (`apirun_e2e_<random>`), dropped at the end.
pub struct PgDb {
    pub name: String,
    /// DSN of this database.
    pub dsn: String,
    admin_dsn: String,
}

impl PgDb {
    pub fn create() -> PgDb {
        let admin_dsn = pg_dsn();
        let name = format!("apirun_e2e_{:016x}", fastrand::u64(..));
        block_on(async {
            let client = pg_connect(&admin_dsn).await;
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        });
        let dsn = with_dbname(&admin_dsn, &name);
        PgDb {
            name,
            dsn,
            admin_dsn,
        }
    }

    /// Run a query in this database; each row as its columns' text.
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        block_on(async {
            let client = pg_connect(&self.dsn).await;
            let messages = client
                .simple_query(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            messages
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect()
        })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = self.admin_dsn.clone();
        // FORCE: a killed apirun's session may linger for a moment.
        let _ = block_on(async move {
            let client = pg_connect(&admin).await;
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
        });
    }
}

/// `dsn` with its database name replaced.
fn with_dbname(dsn: &str, name: &str) -> String {
    let (base, query) = match dsn.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (dsn, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let prefix = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// Which store a scenario runs against.
pub enum Backend {
    Sqlite,
    Postgres(PgDb),
}

impl Backend {
    pub fn postgres() -> Backend {
        Backend::Postgres(PgDb::create())
    }

    /// The `store:` block (indented body lines), with extra lines appended.
    pub fn store_block(&self, extra: &str) -> String {
        let mut block = match self {
            Backend::Sqlite => String::new(),
            Backend::Postgres(db) => {
                format!("  type: postgres\n  postgres:\n    dsn: {}\n", db.dsn)
            }
        };
        block.push_str(extra);
        if block.is_empty() {
            block.push_str("  type: sqlite\n");
        }
        block
    }
}

/// config.yaml: `api_base` = `api`, and this `store:` body (indented lines).
pub fn config(api: &str, store_block: &str) -> String {
    format!(
        "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {api}\nstore:\n{store_block}"
    )
}

/// A migration that POSTs `{"m": "<collection>"}` to `/api/<collection>`
/// (`query` appended to the URL, e.g. `?_delay_ms=200`), expects 201, and
/// deletes item 1 on `down`.
pub fn post_migration(collection: &str, query: &str) -> String {
    format!(
        r#"up:
  name: create {collection}
  request:
    method: POST
    url: "{{{{.api_base}}}}/api/{collection}{query}"
    body: '{{"m": "{collection}"}}'
  response:
    result_code: ["201"]
down:
  method: DELETE
  url: "{{{{.api_base}}}}/api/{collection}/1"
"#
    )
}

/// Start `apirun --config <project>/config.yaml ARGS` without waiting.
pub fn spawn_apirun(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(project.path())
        .arg("--config")
        .arg(project.config())
        .args(args)
        .env("APIRUN_CACHE_DIR", cache_dir())
        .env("APIRUN_PROGRESS", "plain")
        .env_remove("APIRUN_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("apirun starts")
}

/// Wait for a spawned apirun and collect its output.
pub fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("apirun output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Poll `cond` every 20 ms until it holds; panic naming `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The demo API binary, built next to `apirun` (`cargo test --workspace`, as
/// scripts/test-all.sh runs it, builds it; so does `cargo build -p apirun-demo-api`).
pub fn demo_api_bin() -> PathBuf {
    let path =
        apirun_bin().with_file_name(format!("apirun-demo-api{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p apirun-demo-api` (scripts/test-all.sh runs \
         `cargo test --workspace`, which builds it)",
        path.display()
    );
    path
}

/// The demo API as a child process with a state file, so it can be killed
/// (SIGKILL: connections drop, nothing is flushed) and restarted on the same
/// port with its resources intact.
pub struct DemoProcess {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    client: reqwest::blocking::Client,
}

impl DemoProcess {
    pub fn start() -> DemoProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut demo = DemoProcess {
            child: None,
            port: 0,
            dir,
            client: reqwest::blocking::Client::new(),
        };
        demo.spawn_on(0);
        demo
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn spawn_on(&mut self, port: u16) {
        let port_file = self.dir.path().join("port");
        let state_file = self.dir.path().join("state.json");
        let start = Instant::now();
        loop {
            let _ = std::fs::remove_file(&port_file);
            let mut child = Command::new(demo_api_bin())
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--port-file")
                .arg(&port_file)
                .arg("--state-file")
                .arg(&state_file)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("demo API starts");
            loop {
                if let Ok(url) = std::fs::read_to_string(&port_file) {
                    let p = url.rsplit(':').next().and_then(|p| p.trim().parse().ok());
                    self.port = p.expect("port in the port file");
                    self.child = Some(child);
                    return;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    // The port may still be held for a moment after a kill: retry.
                    assert!(
                        start.elapsed() < Duration::from_secs(20),
                        "demo API could not listen on port {port}: {status}"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "demo API did not start"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL the server and wait for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port, with the same state file.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port;
        self.spawn_on(port);
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Items in a generic collection of a `/_admin/state` answer.
pub fn items(state: &Value, collection: &str) -> usize {
    state["collections"][collection]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

/// `status --output json`, parsed.
pub fn status_json(project: &Project, extra: &[&str]) -> Value {
    let mut args = vec!["status", "--output", "json"];
    args.extend_from_slice(extra);
    let run = project.apirun(&args);
    run.success();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("status json: {e}\n{}", run.stdout))
}

/// The project's SQLite file (the default path).
pub fn sqlite_file(project: &Project) -> PathBuf {
    project.path().join("migration").join("apirun.db")
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}

impl crate::support::DemoApiAdmin for DemoProcess {
    fn url(&self) -> String {
        DemoProcess::url(self)
    }
    fn http(&self) -> &reqwest::blocking::Client {
        &self.client
    }
}

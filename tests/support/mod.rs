//! Shared harness for the end-to-end tests: a real demo API on an ephemeral
//! 127.0.0.1 port, a temporary project directory, and the real `apirun`
//! binary run as a child process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub mod scenario;

pub use apirun_demo_api::{BackgroundServer, Config as ApiConfig};
use serde_json::Value;

/// The apirun binary cargo built for these tests.
pub fn apirun_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_apirun"))
}

/// A compile cache shared by every test process of this run, so each
/// component compiles once (scripts/test-all.sh sets APIRUN_CACHE_DIR).
pub fn cache_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("APIRUN_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache"),
    })
    .clone()
}

/// A running demo API (stopped on drop).
pub struct Api {
    pub server: BackgroundServer,
    client: reqwest::blocking::Client,
}

impl Api {
    pub fn start() -> Api {
        Api::start_with(ApiConfig::default())
    }

    /// `basic`: require one of these user/password pairs.
    pub fn with_basic(user: &str, password: &str) -> Api {
        let mut config = ApiConfig::default();
        config.basic.push((user.to_string(), password.to_string()));
        Api::start_with(config)
    }

    pub fn start_with(config: ApiConfig) -> Api {
        let server = BackgroundServer::start(config).expect("demo API starts");
        Api {
            server,
            client: reqwest::blocking::Client::new(),
        }
    }

    pub fn url(&self) -> String {
        self.server.base_url().to_string()
    }

    /// Arm a fault: `{"method","path","status","times","delay_ms","reset"}`.
    pub fn arm_fault(&self, fault: Value) {
        let response = self
            .client
            .post(format!("{}/_admin/faults", self.url()))
            .json(&fault)
            .send()
            .expect("arm fault");
        assert!(
            response.status().is_success(),
            "arming fault failed: {response:?}"
        );
    }
}

/// The demo API's admin endpoints, for any running demo API (in-process or
/// a child process).
pub trait DemoApiAdmin {
    fn url(&self) -> String;
    fn http(&self) -> &reqwest::blocking::Client;

    fn get_json(&self, path: &str) -> Value {
        self.http()
            .get(format!("{}{}", self.url(), path))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Every request the API received (admin calls excluded), oldest first.
    fn requests(&self) -> Vec<Value> {
        self.get_json("/_admin/requests")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Requests with this method and path.
    fn requests_to(&self, method: &str, path: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["method"] == method && r["path"] == path)
            .collect()
    }

    /// All resources the API holds.
    fn state(&self) -> Value {
        self.get_json("/_admin/state")
    }
}

impl DemoApiAdmin for Api {
    fn url(&self) -> String {
        Api::url(self)
    }
    fn http(&self) -> &reqwest::blocking::Client {
        &self.client
    }
}

/// A temporary project directory (config.yaml + migration/), deleted on drop.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file (creating parent dirs), relative to the project.
    pub fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// Run `apirun --config <project>/config.yaml ARGS...` from the project dir.
    pub fn apirun(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(apirun_bin());
        cmd.current_dir(self.path())
            .arg("--config")
            .arg(self.config())
            .args(args);
        run(cmd)
    }

    /// Same, with extra environment variables.
    pub fn apirun_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(apirun_bin());
        cmd.current_dir(self.path())
            .arg("--config")
            .arg(self.config())
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd)
    }
}

impl Default for Project {
    fn default() -> Self {
        Project::new()
    }
}

/// A finished apirun process.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "expected exit {expected}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Run a prepared command with the shared compile cache and plain output.
pub fn run(mut cmd: Command) -> Run {
    cmd.env("APIRUN_CACHE_DIR", cache_dir())
        .env("APIRUN_PROGRESS", "plain")
        .env_remove("APIRUN_CONFIG");
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("apirun runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A config.yaml with `api_base` pointing at `base` and a basic auth provider.
pub fn basic_config(base: &str) -> String {
    format!(
        r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {base}
  - name: admin_password
    value: secret
auth:
  - type: basic
    name: admin
    config:
      username: admin
      password: "{{{{.admin_password}}}}"
"#
    )
}

/// json-server 0.17.4 (npm), the third-party API of the end-to-end tests,
/// serving a temporary db.json on an ephemeral 127.0.0.1 port (killed on drop).
pub struct JsonServer {
    child: std::process::Child,
    port: u16,
    pub dir: tempfile::TempDir,
}

impl JsonServer {
    /// Start `json-server --host 127.0.0.1 --port P db.json` with `db` as
    /// db.json and wait until it answers. Fails (never skips) when
    /// APIRUN_TEST_NODE_MODULES is unset.
    pub fn start(db: &Value) -> JsonServer {
        let modules = std::env::var_os("APIRUN_TEST_NODE_MODULES").unwrap_or_else(|| {
            panic!(
                "APIRUN_TEST_NODE_MODULES is not set: run the tests with scripts/test-all.sh, \
                 which installs json-server 0.17.4 and sets it"
            )
        });
        let bin = PathBuf::from(modules).join(".bin").join("json-server");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/test-all.sh",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let db_path = dir.path().join("db.json");
        std::fs::write(&db_path, serde_json::to_vec_pretty(db).expect("db json"))
            .expect("write db.json");
        let log = std::fs::File::create(dir.path().join("json-server.log")).expect("log file");
        let port = free_port();
        let child = Command::new(&bin)
            .current_dir(dir.path())
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--quiet",
            ])
            .arg(&db_path)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let server = JsonServer { child, port, dir };
        let client = reqwest::blocking::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if client
                .get(format!("{}/db", server.url()))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return server;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "json-server did not answer within 30 s; log:\n{}",
                std::fs::read_to_string(server.dir.path().join("json-server.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The whole database (`GET /db`).
    pub fn db(&self) -> Value {
        reqwest::blocking::get(format!("{}/db", self.url()))
            .and_then(|r| r.json())
            .expect("GET /db")
    }
}

impl Drop for JsonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago (for servers that take `--port`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `status --history --output json`, parsed.
pub fn status_json(project: &Project) -> Value {
    let run = project.apirun(&["status", "--history", "--history-all", "--output", "json"]);
    run.success();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("status json: {e}\n{}", run.stdout))
}

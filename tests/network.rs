//! End-to-end: the network path against hostile or unusual servers
//! (docs/security.md, "Network"). The real `apirun` binary against real local
//! servers: redirects stay inside policy and never carry headers across
//! origins, response bodies are read with a cap (and memory stays bounded),
//! and a pinned self-signed certificate in `client.ca_file` is accepted.

mod support;

use support::DemoApiAdmin as _;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, Project, Run, apirun_bin, basic_config, cache_dir};

// ------------------------------------------------------------------ helpers

/// A config with `api_base` (server A), `other_base` (server B), a basic auth
/// provider, and `extra` appended (e.g. a `client:` or `plugins:` block).
fn config(a: &str, b: &str, extra: &str) -> String {
    let mut text = basic_config(a);
    text = text.replace(
        "env:\n",
        &format!("env:\n  - name: other_base\n    value: {b}\n"),
    );
    text.push_str(extra);
    text
}

/// The host:port of a base URL.
fn host_port(url: &str) -> &str {
    url.trim_start_matches("http://")
        .trim_start_matches("https://")
}

/// `status --history --output json`.
fn status(project: &Project) -> Value {
    support::status_json(project)
}

/// A request log entry's header (names are lower case in the log).
fn header<'a>(entry: &'a Value, name: &str) -> Option<&'a str> {
    entry["headers"][name].as_str()
}

// ---------------------------------------------------------------- redirects

/// The built-in http component, used as a third-party plugin (`type: fetch`
/// with `allowed_hosts`): a plugin that calls `host.send` with a URL of its
/// input.
fn write_fetch_plugin(project: &Project) {
    let http = apirun::plugin::BUILTINS
        .iter()
        .find(|b| b.name == "http")
        .expect("the http built-in");
    std::fs::write(project.path().join("fetch.wasm"), http.wasm).expect("write fetch.wasm");
}

fn fetch_project(a: &Api, b: &Api, allowed: &str) -> Project {
    let project = Project::new();
    write_fetch_plugin(&project);
    project.write(
        "config.yaml",
        &config(
            &a.url(),
            &b.url(),
            &format!(
                "plugins:\n  - name: fetch\n    path: ./fetch.wasm\n    allowed_hosts: [{allowed}]\n"
            ),
        ),
    );
    project.write(
        "migration/001_fetch.yaml",
        r#"up:
  steps:
    - type: fetch
      with:
        method: GET
        url: "{{.api_base}}/api/start"
        headers:
          - name: X-Api-Key
            value: key-for-a-only
"#,
    );
    project
}

#[test]
fn a_plugin_redirected_outside_its_allowed_hosts_is_denied_and_nothing_reaches_the_other_host() {
    let a = Api::start();
    let b = Api::start();
    a.arm_fault(json!({
        "path": "/api/start", "status": 302,
        "location": format!("{}/api/secret", b.url()),
    }));
    let project = fetch_project(&a, &b, &format!("\"{}\"", a.url()));

    let run = project.apirun(&["up"]);
    run.code(1);
    let text = run.all_output();
    assert!(text.contains("denied"), "a policy refusal: {text}");
    assert!(
        text.contains(host_port(&b.url())),
        "names the refused hop: {text}"
    );
    assert!(
        b.requests().is_empty(),
        "server B must receive nothing: {:?}",
        b.requests()
    );
    assert_eq!(a.requests_to("GET", "/api/start").len(), 1);
    assert!(
        status(&project)["applied"]
            .as_array()
            .is_some_and(|a| a.is_empty())
    );
}

#[test]
fn a_plugin_follows_a_redirect_to_another_allowed_host_without_its_headers() {
    let a = Api::start();
    let b = Api::start();
    a.arm_fault(json!({
        "path": "/api/start", "status": 302,
        "location": format!("{}/api/things", b.url()),
    }));
    let project = fetch_project(&a, &b, &format!("\"{}\", \"{}\"", a.url(), b.url()));

    project.apirun(&["up"]).success();
    let at_a = a.requests_to("GET", "/api/start");
    assert_eq!(at_a.len(), 1);
    assert_eq!(header(&at_a[0], "x-api-key"), Some("key-for-a-only"));
    let at_b = b.requests_to("GET", "/api/things");
    assert_eq!(at_b.len(), 1, "followed to B: {:?}", b.requests());
    assert_eq!(
        header(&at_b[0], "x-api-key"),
        None,
        "headers do not cross origins: {:#}",
        at_b[0]
    );
}

/// The http step with a header and an auth provider; `follow` is its
/// `follow_redirects` line (or nothing).
fn step_project(a: &Api, b: &Api, method: &str, follow: &str, response: &str) -> Project {
    let project = Project::new();
    project.write("config.yaml", &config(&a.url(), &b.url(), ""));
    let body = if method == "GET" {
        ""
    } else {
        "    body: '{\"name\": \"x\"}'\n"
    };
    project.write(
        "migration/001_step.yaml",
        &format!(
            r#"up:
  request:
    auth_name: admin
    method: {method}
    url: "{{{{.api_base}}}}/api/start"
    headers:
      - name: X-Api-Key
        value: key-for-a-only
{body}{follow}{response}"#
        ),
    );
    project
}

#[test]
fn the_http_step_does_not_follow_a_redirect_to_another_origin_by_default() {
    let a = Api::start();
    let b = Api::start();
    a.arm_fault(json!({
        "path": "/api/start", "status": 302,
        "location": format!("{}/api/things", b.url()),
    }));
    let project = step_project(&a, &b, "GET", "", "");
    let run = project.apirun(&["up"]);
    run.code(1);
    let text = run.all_output();
    assert!(text.contains("follow_redirects: any"), "says how: {text}");
    assert!(
        text.contains(&format!("{}/api/things", b.url())),
        "names the Location: {text}"
    );
    assert!(
        b.requests().is_empty(),
        "B gets nothing: {:?}",
        b.requests()
    );
}

#[test]
fn follow_redirects_any_sends_no_header_and_no_auth_to_the_other_origin() {
    let a = Api::start();
    let b = Api::start();
    // A same-origin hop first (headers kept), then one to B (headers dropped).
    a.arm_fault(json!({
        "path": "/api/start", "status": 301,
        "location": "/api/next",
    }));
    a.arm_fault(json!({
        "path": "/api/next", "status": 302,
        "location": format!("{}/api/things", b.url()),
    }));
    let project = step_project(&a, &b, "GET", "    follow_redirects: any\n", "");
    project.apirun(&["up"]).success();

    let next = a.requests_to("GET", "/api/next");
    assert_eq!(next.len(), 1, "{:?}", a.requests());
    assert_eq!(header(&next[0], "x-api-key"), Some("key-for-a-only"));
    assert!(
        header(&next[0], "authorization").is_some(),
        "same origin keeps auth"
    );

    let at_b = b.requests_to("GET", "/api/things");
    assert_eq!(at_b.len(), 1, "{:?}", b.requests());
    assert_eq!(header(&at_b[0], "x-api-key"), None, "{:#}", at_b[0]);
    assert_eq!(header(&at_b[0], "authorization"), None, "{:#}", at_b[0]);
    assert_eq!(status(&project)["applied"], json!([1]));
}

#[test]
fn a_post_answered_with_a_redirect_is_not_resent_as_a_get_nor_recorded_as_applied() {
    let a = Api::start();
    let b = Api::start();
    a.arm_fault(json!({
        "path": "/api/start", "status": 302,
        "location": "/api/moved",
    }));
    let project = step_project(&a, &b, "POST", "", "");
    let run = project.apirun(&["up"]);
    run.code(1);
    let text = run.all_output();
    assert!(text.contains("not re-send a POST as a GET"), "{text}");
    assert!(text.contains("/api/moved"), "names the Location: {text}");
    assert!(
        a.requests().iter().all(|r| r["path"] != "/api/moved"),
        "nothing sent to the Location: {:?}",
        a.requests()
    );
    let status = status(&project);
    assert_eq!(status["applied"], json!([]), "{status:#}");
    // The server may have applied the POST: the outcome is unknown, the run
    // stays marked as interrupted (not failed-and-safe-to-resend).
    assert_eq!(status["dirty"]["version"], 1, "{status:#}");
    assert_eq!(status["dirty"]["state"], "running", "{status:#}");
}

#[test]
fn a_post_redirected_with_307_is_resent_as_the_same_post_with_its_body() {
    let a = Api::start();
    let b = Api::start();
    a.arm_fault(json!({
        "path": "/api/start", "status": 307,
        "location": "/api/things",
    }));
    let project = step_project(&a, &b, "POST", "", "");
    project.apirun(&["up"]).success();
    let posts = a.requests_to("POST", "/api/things");
    assert_eq!(posts.len(), 1, "{:?}", a.requests());
    assert_eq!(posts[0]["body"], "{\"name\": \"x\"}");
    assert_eq!(posts[0]["status"], 201);
    assert_eq!(status(&project)["applied"], json!([1]));
}

#[test]
fn a_redirect_accepted_by_result_code_is_the_answer_with_follow_redirects_none() {
    let a = Api::start();
    let b = Api::start();
    a.arm_fault(json!({
        "path": "/api/start", "status": 302,
        "location": format!("{}/api/things", b.url()),
    }));
    let project = step_project(
        &a,
        &b,
        "POST",
        "    follow_redirects: none\n",
        "  response:\n    result_code: [\"302\"]\n    env_from:\n      where: {from: header, path: Location}\n",
    );
    project.apirun(&["up"]).success();
    assert!(b.requests().is_empty(), "{:?}", b.requests());
    assert_eq!(status(&project)["applied"], json!([1]));
}

// ------------------------------------------------------ bounded response bodies

/// A server that answers every request with `status` and a body of `size`
/// bytes, produced lazily (64 KiB at a time, never held in memory), either
/// with a Content-Length or chunked. Counts connections.
struct BigServer {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl BigServer {
    fn start(status: u16, size: u64, chunked: bool) -> BigServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || serve_big(stream, status, size, chunked));
            }
        });
        BigServer { port, connections }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve_big(stream: TcpStream, status: u16, size: u64, chunked: bool) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    // Read the request head and any Content-Length body.
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut out = stream;
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {size}")
    };
    let head =
        format!("HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n");
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    let block = vec![b' '; 64 * 1024];
    let mut sent = 0u64;
    // Stops when the client hangs up (a write fails) or all is sent.
    while sent < size {
        let n = (size - sent).min(block.len() as u64) as usize;
        let ok = if chunked {
            out.write_all(format!("{n:x}\r\n").as_bytes()).is_ok()
                && out.write_all(&block[..n]).is_ok()
                && out.write_all(b"\r\n").is_ok()
        } else {
            out.write_all(&block[..n]).is_ok()
        };
        if !ok {
            return;
        }
        sent += n as u64;
    }
    if chunked {
        let _ = out.write_all(b"0\r\n\r\n");
    }
}

/// Run apirun in `project` and return the run and the child's peak resident
/// memory in KiB (its own rusage, from wait4).
fn apirun_measured(project: &Project, args: &[&str]) -> (Run, u64) {
    let out = project.path().join("stdout.txt");
    let err = project.path().join("stderr.txt");
    let child = Command::new(apirun_bin())
        .current_dir(project.path())
        .arg("--config")
        .arg(project.config())
        .args(args)
        .env("APIRUN_CACHE_DIR", cache_dir())
        .env("APIRUN_PROGRESS", "plain")
        .env_remove("APIRUN_CONFIG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("apirun starts");
    let pid = child.id() as libc::pid_t;
    let mut wait_status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for; both pointers are valid.
    let waited = unsafe { libc::wait4(pid, &mut wait_status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    // The child is reaped; forget std's handle (it must not wait again).
    std::mem::forget(child);
    let code = if libc::WIFEXITED(wait_status) {
        libc::WEXITSTATUS(wait_status)
    } else {
        -1
    };
    let run = Run {
        code,
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    };
    // Linux reports ru_maxrss in KiB.
    let rss_kib = usage.ru_maxrss as u64;
    eprintln!("apirun {args:?}: peak RSS {rss_kib} KiB");
    (run, rss_kib)
}

fn big_project(url: &str, method: &str, client: &str) -> Project {
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!("migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {url}\n{client}"),
    );
    let body = if method == "GET" {
        ""
    } else {
        "    body: '{\"a\": 1}'\n"
    };
    project.write(
        "migration/001_big.yaml",
        &format!(
            "up:\n  request:\n    method: {method}\n    url: \"{{{{.api_base}}}}/big\"\n{body}\
             \x20 response:\n    env_from:\n      x: a\n"
        ),
    );
    project
}

const TWO_GIB: u64 = 2 * 1024 * 1024 * 1024;
/// The process stays under this (issue: "under ~100 MiB").
const MAX_RSS_KIB: u64 = 100 * 1024;

#[test]
fn a_2_gib_content_length_body_fails_the_step_naming_the_limit_and_memory_stays_bounded() {
    let server = BigServer::start(200, TWO_GIB, false);
    let project = big_project(&server.url(), "GET", "");
    let (run, rss_kib) = apirun_measured(&project, &["up"]);
    run.code(1);
    let text = run.all_output();
    assert!(
        text.contains("client.max_response_bytes"),
        "names the setting: {text}"
    );
    assert!(text.contains("8 MiB"), "names the limit: {text}");
    assert!(
        text.contains(&TWO_GIB.to_string()),
        "names the declared size: {text}"
    );
    assert!(rss_kib < MAX_RSS_KIB, "peak RSS {rss_kib} KiB");
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "an answer too large is not retried"
    );
    // A GET changed nothing: an ordinary failure, safe to rerun.
    assert_eq!(status(&project)["dirty"]["state"], "failed");
}

#[test]
fn a_2_gib_chunked_body_fails_the_step_and_memory_stays_bounded() {
    let server = BigServer::start(200, TWO_GIB, true);
    let project = big_project(&server.url(), "GET", "");
    let (run, rss_kib) = apirun_measured(&project, &["up"]);
    run.code(1);
    let text = run.all_output();
    assert!(
        text.contains("larger than the response limit of 8 MiB"),
        "{text}"
    );
    assert!(text.contains("client.max_response_bytes"), "{text}");
    assert!(rss_kib < MAX_RSS_KIB, "peak RSS {rss_kib} KiB");
}

#[test]
fn max_response_bytes_raises_the_limit() {
    // 9 MiB: over the default, under the configured 16 MiB.
    let size = 9 * 1024 * 1024;
    let server = BigServer::start(200, size, true);
    let project = big_project(
        &server.url(),
        "GET",
        "client:\n  max_response_bytes: 16MiB\n",
    );
    project.apirun(&["up"]).success();
    let project = big_project(&server.url(), "GET", "");
    project.apirun(&["up"]).code(1);
}

#[test]
fn a_post_accepted_with_a_body_over_the_cap_is_an_unknown_outcome_not_a_failure() {
    let server = BigServer::start(201, 1024 * 1024, true);
    let project = big_project(
        &server.url(),
        "POST",
        "client:\n  max_response_bytes: 64KiB\n",
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    let text = run.all_output();
    assert!(text.contains("64 KiB"), "{text}");
    assert!(text.contains("outcome is unknown"), "{text}");
    let status = status(&project);
    assert_eq!(status["applied"], json!([]), "{status:#}");
    assert_eq!(status["dirty"]["version"], 1, "{status:#}");
    assert_eq!(
        status["dirty"]["state"], "running",
        "left as interrupted, not failed: {status:#}"
    );
}

// ----------------------------------------------------------------------- TLS

/// An HTTPS server (python3 `ssl` + `http.server`) with a certificate made by
/// `openssl req -x509` at test time; logs one line per TCP connection.
struct TlsServer {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

const TLS_SERVER: &str = r#"
import http.server, json, ssl, sys
cert, key, log, port_file = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"ok": True, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = answer
    do_POST = answer
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    def get_request(self):
        sock, addr = self.socket.accept()
        with open(log, "a") as f:
            f.write("connection\n")
        return ctx.wrap_socket(sock, server_side=True), addr
    def handle_error(self, request, address):
        pass
server = Server(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"#;

impl TlsServer {
    fn start() -> TlsServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("openssl runs");
        assert!(
            made.status.success(),
            "openssl req -x509: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let log = dir.path().join("connections.log");
        let port_file = dir.path().join("port");
        let child = Command::new("python3")
            .arg("-c")
            .arg(TLS_SERVER)
            .arg(&cert)
            .arg(&key)
            .arg(&log)
            .arg(&port_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text.trim().parse().expect("port");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "TLS server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        TlsServer { child, port, dir }
    }

    fn cert(&self) -> &Path {
        self.dir.path()
    }

    fn connections(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("connections.log"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_project(base: &str, client: &str) -> Project {
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!("migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {base}\n{client}"),
    );
    project.write(
        "migration/001_tls.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/hello\"\n  response:\n    env_from:\n      ok: ok\n",
    );
    project
}

#[test]
fn a_self_signed_certificate_given_as_ca_file_is_accepted() {
    let server = TlsServer::start();
    let ca = server.cert().join("cert.pem");
    for host in ["127.0.0.1", "localhost"] {
        let project = tls_project(
            &format!("https://{host}:{}", server.port),
            &format!("client:\n  ca_file: {}\n", ca.display()),
        );
        let run = project.apirun(&["up"]);
        run.success();
    }
}

#[test]
fn an_untrusted_certificate_fails_once_naming_the_host_and_the_fix() {
    let server = TlsServer::start();
    let project = tls_project(&format!("https://127.0.0.1:{}", server.port), "");
    let run = project.apirun(&["up"]);
    run.code(1);
    let text = run.all_output();
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port)),
        "names the host: {text}"
    );
    assert!(text.contains("client.ca_file"), "says ca_file: {text}");
    assert!(text.contains("insecure: true"), "says insecure: {text}");
    assert!(
        !text.contains("CaUsedAsEndEntity"),
        "no rustls debug text: {text}"
    );
    assert_eq!(
        server.connections(),
        1,
        "a certificate error is not retried"
    );
}

#[test]
fn bad_network_settings_are_config_errors_naming_the_field() {
    let a = Api::start();
    let b = Api::start();
    let project = step_project(&a, &b, "GET", "    follow_redirects: sometimes\n", "");
    let run = project.apirun(&["validate"]);
    run.code(2);
    let text = run.all_output();
    assert!(text.contains("up.request.follow_redirects"), "{text}");
    assert!(text.contains("same-origin, any, none"), "{text}");

    let project = big_project(&a.url(), "GET", "client:\n  max_response_bytes: 2TB\n");
    let run = project.apirun(&["validate"]);
    run.code(2);
    let text = run.all_output();
    assert!(text.contains("client.max_response_bytes"), "{text}");
    assert!(a.requests().is_empty() && b.requests().is_empty());
}

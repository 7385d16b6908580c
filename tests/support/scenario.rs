//! Builders for the project scaffolding most end-to-end tests repeat: a
//! config.yaml pointing at a server and one-request migration files.
//!
//! Tests whose subject is the YAML itself (an odd shape, a Go-tool file, a
//! malformed field) keep writing it inline; these builders are for the
//! common "POST this, expect that, extract this id" files, so that a test
//! reads as its scenario.
//!
//! ```ignore
//! let project = Project::with_config(&basic_config(&api.url()));
//! // or, for a stage with plugins and auth providers:
//! let project = Project::with_stage(
//!     stage(&api.url())
//!         .plugin("ping", &ping_wasm)
//!         .allowed_hosts(&[&api.url()])
//!         .auth("static_token", "api", "{token: t-1}"),
//! );
//! project.migration(
//!     "001_team",
//!     post("{{.api_base}}/api/teams")
//!         .auth("admin")
//!         .body(r#"{"name": "core"}"#)
//!         .extract("team_id", "id")
//!         .down(delete("{{.api_base}}/api/teams/{{.team_id}}").auth("admin")),
//! );
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::Project;

/// One HTTP request of a migration (`up.request` + `up.response`, or a
/// `down` block).
#[derive(Debug, Clone)]
pub struct Request {
    name: Option<String>,
    method: String,
    url: String,
    auth: Option<String>,
    body: Option<String>,
    codes: Vec<String>,
    extract: Vec<(String, String)>,
}

/// A request with this method and URL (a template).
pub fn request(method: &str, url: &str) -> Request {
    Request {
        name: None,
        method: method.to_string(),
        url: url.to_string(),
        auth: None,
        body: None,
        codes: Vec::new(),
        extract: Vec::new(),
    }
}

pub fn get(url: &str) -> Request {
    request("GET", url)
}

pub fn post(url: &str) -> Request {
    request("POST", url)
}

pub fn put(url: &str) -> Request {
    request("PUT", url)
}

pub fn patch(url: &str) -> Request {
    request("PATCH", url)
}

pub fn delete(url: &str) -> Request {
    request("DELETE", url)
}

impl Request {
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// `auth_name:` (up) / `auth:` (down): the auth provider to inject.
    pub fn auth(mut self, provider: &str) -> Self {
        self.auth = Some(provider.to_string());
        self
    }

    /// The body, a template; written as a single-quoted YAML scalar.
    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.to_string());
        self
    }

    /// `result_code:` (default: any 2xx).
    pub fn expect(mut self, codes: &[&str]) -> Self {
        self.codes = codes.iter().map(|c| c.to_string()).collect();
        self
    }

    /// `env_from: {variable: path}`.
    pub fn extract(mut self, variable: &str, path: &str) -> Self {
        self.extract.push((variable.to_string(), path.to_string()));
        self
    }

    /// A migration with this request as `up` and `down` as its rollback.
    pub fn down(self, down: Request) -> Migration {
        Migration {
            up: self,
            down: Some(down),
        }
    }

    /// The request and response lines at `indent` spaces: method, url,
    /// body, then `response:` at `response_indent` when it has anything.
    fn write(&self, out: &mut String, indent: usize, response_indent: usize, auth_key: &str) {
        let pad = " ".repeat(indent);
        if let Some(auth) = &self.auth {
            let _ = writeln!(out, "{pad}{auth_key}: {auth}");
        }
        let _ = writeln!(out, "{pad}method: {}", self.method);
        let _ = writeln!(out, "{pad}url: {}", yaml_quoted(&self.url));
        if let Some(body) = &self.body {
            let _ = writeln!(out, "{pad}body: {}", yaml_single_quoted(body));
        }
        if self.codes.is_empty() && self.extract.is_empty() {
            return;
        }
        let rpad = " ".repeat(response_indent);
        let _ = writeln!(out, "{rpad}response:");
        if !self.codes.is_empty() {
            let codes: Vec<String> = self.codes.iter().map(|c| yaml_quoted(c)).collect();
            let _ = writeln!(out, "{rpad}  result_code: [{}]", codes.join(", "));
        }
        if !self.extract.is_empty() {
            let _ = writeln!(out, "{rpad}  env_from:");
            for (variable, path) in &self.extract {
                let _ = writeln!(out, "{rpad}    {variable}: {}", yaml_quoted(path));
            }
        }
    }
}

/// A migration file: an `up` request and an optional `down`.
#[derive(Debug, Clone)]
pub struct Migration {
    up: Request,
    down: Option<Request>,
}

impl From<Request> for Migration {
    fn from(up: Request) -> Migration {
        Migration { up, down: None }
    }
}

impl Migration {
    /// The file's YAML, in the documented layout (docs/migrations.md).
    pub fn to_yaml(&self) -> String {
        let mut out = String::from("up:\n");
        if let Some(name) = &self.up.name {
            let _ = writeln!(out, "  name: {}", yaml_quoted(name));
        }
        out.push_str("  request:\n");
        self.up.write(&mut out, 4, 2, "auth_name");
        if let Some(down) = &self.down {
            out.push_str("down:\n");
            if let Some(name) = &down.name {
                let _ = writeln!(out, "  name: {}", yaml_quoted(name));
            }
            down.write(&mut out, 2, 2, "auth");
        }
        out
    }
}

/// A stage's config.yaml: `migrate_dir: ./migration`, `env:` (`api_base`
/// first), `plugins:` entries and `auth:` providers.
#[derive(Debug, Clone)]
pub struct StageConfig {
    env: Vec<(String, String)>,
    extra: Vec<String>,
    plugins: Vec<PluginEntry>,
    auth: Vec<String>,
}

#[derive(Debug, Clone)]
struct PluginEntry {
    name: String,
    path: String,
    lines: Vec<String>,
}

/// A stage whose `api_base` is `api_base`.
pub fn stage(api_base: &str) -> StageConfig {
    StageConfig {
        env: vec![("api_base".to_string(), api_base.to_string())],
        extra: Vec::new(),
        plugins: Vec::new(),
        auth: Vec::new(),
    }
}

impl StageConfig {
    /// Another `env:` value.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// A top-level block written as is (`client:` settings, ...).
    pub fn raw(mut self, yaml: &str) -> Self {
        self.extra.push(yaml.trim_end().to_string());
        self
    }

    /// A `plugins:` entry; the setters below apply to the last one.
    pub fn plugin(mut self, name: &str, path: &Path) -> Self {
        self.plugins.push(PluginEntry {
            name: name.to_string(),
            path: yaml_quoted(&path.display().to_string()),
            lines: Vec::new(),
        });
        self
    }

    pub fn allowed_hosts(self, hosts: &[&str]) -> Self {
        let hosts: Vec<String> = hosts.iter().map(|h| yaml_quoted(h)).collect();
        self.plugin_line(format!("allowed_hosts: [{}]", hosts.join(", ")))
    }

    /// `variables:`: the variables the plugin is granted.
    pub fn variables(self, names: &[&str]) -> Self {
        self.plugin_line(format!("variables: [{}]", names.join(", ")))
    }

    /// `config:`, a YAML flow mapping.
    pub fn plugin_config(self, flow: &str) -> Self {
        self.plugin_line(format!("config: {flow}"))
    }

    /// `sha256:`, the pinned digest.
    pub fn sha256(self, pin: &str) -> Self {
        self.plugin_line(format!("sha256: {pin}"))
    }

    /// `reuse_instance: true`: one instance serves the plugin's calls.
    pub fn reuse_instance(self) -> Self {
        self.plugin_line("reuse_instance: true".to_string())
    }

    fn plugin_line(mut self, line: String) -> Self {
        self.plugins
            .last_mut()
            .expect("plugin(...) before its settings")
            .lines
            .push(line);
        self
    }

    /// An `auth:` provider of type `kind` named `name`; `config` is a YAML
    /// flow mapping.
    pub fn auth(mut self, kind: &str, name: &str, config: &str) -> Self {
        self.auth.push(format!(
            "  - type: {kind}\n    name: {name}\n    config: {config}"
        ));
        self
    }

    pub fn to_yaml(&self) -> String {
        let mut out = String::from("migrate_dir: ./migration\n");
        for block in &self.extra {
            let _ = writeln!(out, "{block}");
        }
        out.push_str("env:\n");
        for (name, value) in &self.env {
            let _ = writeln!(out, "  - name: {name}\n    value: {}", yaml_quoted(value));
        }
        if !self.plugins.is_empty() {
            out.push_str("plugins:\n");
            for plugin in &self.plugins {
                let _ = writeln!(out, "  - name: {}\n    path: {}", plugin.name, plugin.path);
                for line in &plugin.lines {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        if !self.auth.is_empty() {
            out.push_str("auth:\n");
            for provider in &self.auth {
                let _ = writeln!(out, "{provider}");
            }
        }
        out
    }
}

impl Project {
    /// A project whose config.yaml is `stage`.
    pub fn with_stage(stage: StageConfig) -> Project {
        Project::with_config(&stage.to_yaml())
    }

    /// A project whose config.yaml is `config`.
    pub fn with_config(config: &str) -> Project {
        let project = Project::new();
        project.write("config.yaml", config);
        project
    }

    /// Writes `migration/<stem>.yaml`.
    pub fn migration(&self, stem: &str, migration: impl Into<Migration>) -> PathBuf {
        self.write(
            &format!("migration/{stem}.yaml"),
            &migration.into().to_yaml(),
        )
    }
}

/// A double-quoted YAML scalar (JSON string syntax is valid YAML).
fn yaml_quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A single-quoted YAML scalar: no escapes but `''`, so JSON bodies stay
/// readable in a failing test's output.
fn yaml_single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

//! The plugins one stage can use: the built-ins plus the stage's `plugins:`
//! entries, resolved by name for each role (step type, auth type, extractor).
//! A `plugins:` entry with a built-in's name replaces that built-in for the
//! stage. Components load lazily, on first use.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{AllowedHosts, BUILTINS, HostServices, Plugin, PluginError, PluginKind, PluginRuntime};
use crate::transport::HttpClient;

/// One `plugins:` entry of a stage config.
#[derive(Debug, Clone)]
pub struct PluginSource {
    pub name: String,
    pub path: PathBuf,
    pub allowed_hosts: Vec<String>,
    pub config: serde_json::Value,
    /// The variables granted to the plugin (`variables:`): a step plugin's
    /// `step-input.variables` holds these and nothing else.
    pub variables: Vec<String>,
    /// The pinned SHA-256 (lower-case hex): another file is refused.
    pub sha256: Option<String>,
    /// Keep one instance between the plugin's calls in a stage run
    /// (`reuse_instance: true`; default: a fresh instance per call).
    pub reuse_instance: bool,
}

pub struct PluginSet {
    runtime: Arc<PluginRuntime>,
    http: HttpClient,
    sources: Vec<PluginSource>,
    bound: Mutex<HashMap<(PluginKind, String), Plugin>>,
}

/// Built-ins that send requests to URLs the user configured (the http step's
/// URL, an OAuth2 token_url, a PocketBase base_url) may reach any host; the
/// others need no network at all.
fn builtin_allowed_hosts(name: &str, kind: PluginKind) -> AllowedHosts {
    match (kind, name) {
        (PluginKind::Step, "http") => AllowedHosts::Any,
        (PluginKind::Auth, "oauth2" | "pocketbase") => AllowedHosts::Any,
        _ => AllowedHosts::none(),
    }
}

impl PluginSet {
    pub fn new(runtime: Arc<PluginRuntime>, http: HttpClient, sources: Vec<PluginSource>) -> Self {
        PluginSet {
            runtime,
            http,
            sources,
            bound: Mutex::new(HashMap::new()),
        }
    }

    pub fn runtime(&self) -> &Arc<PluginRuntime> {
        &self.runtime
    }

    pub fn sources(&self) -> &[PluginSource] {
        &self.sources
    }

    /// Whether `name` names a plugin of this role (built-in or configured),
    /// without loading anything.
    pub fn knows(&self, kind: PluginKind, name: &str) -> bool {
        self.sources.iter().any(|s| s.name == name)
            || BUILTINS.iter().any(|b| b.kind == kind && b.name == name)
    }

    /// The variables a step plugin named `name` is handed, from those in
    /// scope: a `plugins:` entry gets only what its `variables:` grants
    /// (in scope and granted; default none). A built-in step gets none: the
    /// `http` step receives its request already rendered.
    pub fn granted_variables(
        &self,
        name: &str,
        in_scope: &std::collections::BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        let Some(source) = self.sources.iter().find(|s| s.name == name) else {
            return Vec::new();
        };
        let mut granted: Vec<(String, String)> = source
            .variables
            .iter()
            .filter_map(|n| in_scope.get(n).map(|v| (n.clone(), v.clone())))
            .collect();
        granted.sort();
        granted.dedup();
        granted
    }

    /// The plugin named `name` in role `kind`.
    pub fn get(&self, kind: PluginKind, name: &str) -> Result<Plugin, PluginError> {
        let key = (kind, name.to_string());
        if let Some(plugin) = self.lock().get(&key) {
            return Ok(plugin.clone());
        }
        let plugin = self.bind(kind, name)?;
        self.lock().insert(key, plugin.clone());
        Ok(plugin)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(PluginKind, String), Plugin>> {
        self.bound.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bind(&self, kind: PluginKind, name: &str) -> Result<Plugin, PluginError> {
        if let Some(source) = self.sources.iter().find(|s| s.name == name) {
            let component =
                self.runtime
                    .load_file_pinned(name, &source.path, source.sha256.as_deref())?;
            let allowed_hosts =
                AllowedHosts::from_entries(&source.allowed_hosts).map_err(|message| {
                    PluginError::Returned {
                        plugin: name.to_string(),
                        failure: super::PluginFailure::InvalidConfig(message),
                    }
                })?;
            let services = HostServices {
                plugin_name: name.to_string(),
                http: self.http.clone(),
                allowed_hosts,
            };
            return Ok(Plugin::new(
                self.runtime.clone(),
                component,
                kind,
                services,
                &source.config,
            )?
            .reuse_instance(source.reuse_instance));
        }
        let builtin = BUILTINS
            .iter()
            .find(|b| b.kind == kind && b.name == name)
            .ok_or_else(|| PluginError::NotFound {
                plugin: name.to_string(),
                kind,
                known: self.known_names(kind),
            })?;
        let component = self.runtime.load_builtin(builtin)?;
        let services = HostServices {
            plugin_name: name.to_string(),
            http: self.http.clone(),
            allowed_hosts: builtin_allowed_hosts(name, kind),
        };
        // A built-in keeps nothing between calls (it is our code), so its
        // instance serves every call of the stage run (plugin/mod.rs, "Instances").
        Ok(Plugin::new(
            self.runtime.clone(),
            component,
            kind,
            services,
            &serde_json::Value::Null,
        )?
        .reuse_instance(true))
    }

    fn known_names(&self, kind: PluginKind) -> Vec<String> {
        let mut names: Vec<String> = BUILTINS
            .iter()
            .filter(|b| b.kind == kind)
            .map(|b| b.name.to_string())
            .chain(self.sources.iter().map(|s| s.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

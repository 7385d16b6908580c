//! Test plugin: a step that shows what it was handed (docs/security.md).
//! Built against apirun:plugin@0.2.0; `tests/fixtures/plugins/echo-0.1.0.wasm`
//! is this plugin as it was built against 0.1.0.
//!
//! `with:` keys:
//! - `trap: true`: panics (a wasm `unreachable` trap), to test how a crash is reported;
//! - `set: {name: value}`: sets these variables (and declares their names,
//!   so `apirun validate` knows them);
//! - `count_into: NAME`: also sets NAME to how many calls this instance has
//!   run, this one included (1 in a fresh instance; more when the host
//!   keeps the instance between calls, `reuse_instance: true`);
//! - `url`: POSTs `{"variables": {name: value}, "config": <config>}` there
//!   through `host.send` and returns the answer;
//! - otherwise returns `status` (default 200) with a plain-text body listing
//!   every variable and config value as `name -> value` (a form no masking
//!   pattern recognises, so only registered secrets are masked in it).

wit_bindgen::generate!({
    path: "../../../wit/0.2.0",
    world: "step-plugin",
});

use apirun::plugin::host;
use apirun::plugin::types::{Header, HttpRequest, HttpResponse, PluginError, Variable};
use exports::apirun::plugin::metadata::{self, PluginMetadata};
use exports::apirun::plugin::step::{Guest, StepInput, StepOutput, StepSpec, VariableDeclaration};

struct Echo;

/// Calls run by this instance (see `count_into`).
static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The names a step's `with:` sets: its `set:` keys and its `count_into`.
fn set_names(spec: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = set_block(spec).into_iter().map(|(name, _)| name).collect();
    names.extend(spec["count_into"].as_str().map(str::to_string));
    names
}

/// The `set:` block of a step's `with:`, as name/value pairs.
fn set_block(spec: &serde_json::Value) -> Vec<(String, String)> {
    spec["set"]
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| {
                    let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Guest for Echo {
    fn run(input: StepInput) -> Result<StepOutput, PluginError> {
        let StepSpec::Custom(spec) = input.spec else {
            return Err(PluginError::InvalidConfig("echo: not an http step".into()));
        };
        let spec: serde_json::Value = serde_json::from_str(&spec)
            .map_err(|e| PluginError::InvalidConfig(format!("echo: spec is not JSON: {e}")))?;
        if spec["trap"] == serde_json::Value::Bool(true) {
            panic!("echo: asked to trap");
        }
        let calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let mut set: Vec<Variable> = set_block(&spec)
            .into_iter()
            .map(|(name, value)| Variable { name, value })
            .collect();
        if let Some(name) = spec["count_into"].as_str() {
            set.push(Variable {
                name: name.to_string(),
                value: calls.to_string(),
            });
        }
        let config: serde_json::Value =
            serde_json::from_str(&input.config).unwrap_or(serde_json::Value::Null);
        let variables: serde_json::Map<String, serde_json::Value> = input
            .variables
            .iter()
            .map(|v| (v.name.clone(), serde_json::Value::String(v.value.clone())))
            .collect();
        if let Some(url) = spec["url"].as_str() {
            let body = serde_json::json!({"variables": variables, "config": config});
            let response = host::send(&HttpRequest {
                method: "POST".into(),
                url: url.into(),
                headers: vec![Header {
                    name: "content-type".into(),
                    value: "application/json".into(),
                }],
                body: Some(body.to_string().into_bytes()),
                timeout_ms: None,
                retry: None,
                follow_redirects: None,
            })?;
            return Ok(StepOutput {
                response: Some(response),
                variables: set,
            });
        }
        let mut text = String::from("echo got");
        for v in &input.variables {
            text.push_str(&format!(" var {} -> {};", v.name, v.value));
        }
        if let Some(map) = config.as_object() {
            for (key, value) in map {
                let value = value
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or(value.to_string());
                text.push_str(&format!(" config {key} -> {value};"));
            }
        }
        let status = spec["status"].as_u64().unwrap_or(200) as u16;
        Ok(StepOutput {
            response: Some(HttpResponse {
                status,
                headers: Vec::new(),
                body: text.into_bytes(),
            }),
            variables: set,
        })
    }

    fn declared_variables(
        spec: String,
        _config: String,
    ) -> Result<Vec<VariableDeclaration>, PluginError> {
        let spec: serde_json::Value = serde_json::from_str(&spec)
            .map_err(|e| PluginError::InvalidConfig(format!("echo: spec is not JSON: {e}")))?;
        Ok(set_names(&spec)
            .into_iter()
            .map(|name| VariableDeclaration {
                name,
                description: "set by the echo step's `set:` or `count_into`".into(),
            })
            .collect())
    }
}

impl metadata::Guest for Echo {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "echo".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test step: shows what it was handed.".into(),
        }
    }
}

export!(Echo);

//! Test plugin: a step that shows what it was handed (docs/security.md).
//!
//! `with:` keys:
//! - `trap: true`: panics (a wasm `unreachable` trap), to test how a crash is reported;
//! - `url`: POSTs `{"variables": {name: value}, "config": <config>}` there
//!   through `host.send` and returns the answer;
//! - otherwise returns `status` (default 200) with a plain-text body listing
//!   every variable and config value as `name -> value` (a form no masking
//!   pattern recognises, so only registered secrets are masked in it).

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "step-plugin",
});

use apirun::plugin::host;
use apirun::plugin::types::{Header, HttpRequest, HttpResponse, PluginError};
use exports::apirun::plugin::step::{Guest, StepInput, StepOutput};

struct Echo;

impl Guest for Echo {
    fn run(input: StepInput) -> Result<StepOutput, PluginError> {
        let spec: serde_json::Value = serde_json::from_str(&input.spec)
            .map_err(|e| PluginError::InvalidConfig(format!("echo: spec is not JSON: {e}")))?;
        if spec["trap"] == serde_json::Value::Bool(true) {
            panic!("echo: asked to trap");
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
            })?;
            return Ok(StepOutput {
                response: Some(response),
                variables: Vec::new(),
            });
        }
        let mut text = String::from("echo got");
        for v in &input.variables {
            text.push_str(&format!(" var {} -> {};", v.name, v.value));
        }
        if let Some(map) = config.as_object() {
            for (key, value) in map {
                let value = value.as_str().map(str::to_string).unwrap_or(value.to_string());
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
            variables: Vec::new(),
        })
    }
}

export!(Echo);

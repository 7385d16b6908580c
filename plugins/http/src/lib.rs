//! The built-in `http` step: turns a rendered request spec into one HTTP
//! request sent through the host, and returns the answer.

use serde::Deserialize;

wit_bindgen::generate!({
    path: "../../wit/0.1.0",
    world: "step-plugin",
});

use apirun::plugin::host;
use apirun::plugin::types::{Header, HttpRequest, PluginError};
use exports::apirun::plugin::step::{Guest, StepInput, StepOutput};

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameValue {
    name: String,
    value: String,
}

/// The JSON the host sends as `step-input.spec` for an http step.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestSpec {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<NameValue>,
    #[serde(default)]
    queries: Vec<NameValue>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    retry: Option<bool>,
    #[serde(default)]
    timeout_ms: Option<u32>,
}

struct HttpStep;

impl Guest for HttpStep {
    fn run(input: StepInput) -> Result<StepOutput, PluginError> {
        let spec: RequestSpec = serde_json::from_str(&input.spec)
            .map_err(|e| PluginError::InvalidConfig(format!("http step spec: {e}")))?;
        let request = build_request(spec)?;
        let response = host::send(&request)?;
        Ok(StepOutput {
            response: Some(response),
            variables: Vec::new(),
        })
    }
}

fn build_request(spec: RequestSpec) -> Result<HttpRequest, PluginError> {
    let method = spec.method.trim().to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(PluginError::InvalidConfig(format!(
            "unknown method {:?}; use one of {}",
            spec.method,
            METHODS.join(", ")
        )));
    }
    let mut url = url::Url::parse(spec.url.trim())
        .map_err(|e| PluginError::InvalidConfig(format!("invalid url {:?}: {e}", spec.url)))?;
    if !spec.queries.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for q in &spec.queries {
            pairs.append_pair(&q.name, &q.value);
        }
    }
    let mut headers: Vec<Header> = spec
        .headers
        .into_iter()
        .map(|h| Header {
            name: h.name,
            value: h.value,
        })
        .collect();
    let has_content_type = headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("content-type"));
    let body = match spec.body {
        Some(body) if !body.is_empty() => {
            // A JSON body gets a JSON content type, unless the user chose one.
            if !has_content_type && looks_like_json(&body) {
                headers.push(Header {
                    name: "Content-Type".into(),
                    value: "application/json".into(),
                });
            }
            Some(body.into_bytes())
        }
        _ => None,
    };
    Ok(HttpRequest {
        method,
        url: url.into(),
        headers,
        body,
        timeout_ms: spec.timeout_ms,
        retry: spec.retry,
    })
}

fn looks_like_json(body: &str) -> bool {
    let trimmed = body.trim_start();
    (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok()
}

export!(HttpStep);

//! The built-in `http` step: turns the rendered request (WIT 0.2
//! `http-step-request`) into one HTTP request sent through the host, and
//! returns the answer.

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "step-plugin",
});

use apirun::plugin::host;
use apirun::plugin::types::{Header, HttpRequest, PluginError};
use exports::apirun::plugin::metadata::{self, PluginMetadata};
use exports::apirun::plugin::step::{
    Guest, HttpStepRequest, StepInput, StepOutput, StepSpec, VariableDeclaration,
};

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

struct HttpStep;

impl Guest for HttpStep {
    fn run(input: StepInput) -> Result<StepOutput, PluginError> {
        let StepSpec::Http(spec) = input.spec else {
            return Err(PluginError::InvalidConfig(
                "the http plugin runs `http` steps only (it got another step type's `with:`)"
                    .into(),
            ));
        };
        let request = build_request(spec)?;
        let response = host::send(&request)?;
        Ok(StepOutput {
            response: Some(response),
            variables: Vec::new(),
        })
    }

    /// The http step sets no variables itself (`env_from` extraction is the host's).
    fn declared_variables(
        _spec: String,
        _config: String,
    ) -> Result<Vec<VariableDeclaration>, PluginError> {
        Ok(Vec::new())
    }
}

impl metadata::Guest for HttpStep {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "http".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Sends the step's request and returns the answer (built in).".into(),
        }
    }
}

fn build_request(spec: HttpStepRequest) -> Result<HttpRequest, PluginError> {
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
    let mut headers: Vec<Header> = spec.headers;
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
            Some(body)
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
        follow_redirects: spec.follow_redirects,
    })
}

fn looks_like_json(body: &[u8]) -> bool {
    let trimmed = body.trim_ascii_start();
    (trimmed.starts_with(b"{") || trimmed.starts_with(b"["))
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

export!(HttpStep);

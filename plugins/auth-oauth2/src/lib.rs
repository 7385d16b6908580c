//! The built-in `oauth2` auth provider: gets an access token from `token_url`
//! with the client_credentials, password or refresh_token grant
//! (docs/plugins.md) and turns it into `Authorization: Bearer <token>`.
//!
//! The config is flat (as the Go tool's docs show) or nested under
//! `grant_config:` (as its code reads it); both may be mixed, nested wins.

use apirun_plugin_util::unknown_key_message;
use base64::Engine as _;
use serde_json::{Map, Value};

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "auth-plugin",
});

use apirun::plugin::host;
use apirun::plugin::types::{Header, HttpRequest, PluginError};
use exports::apirun::plugin::auth::{AcquireInput, Credential, Guest};
use exports::apirun::plugin::metadata::{self, PluginMetadata};

/// Every key the provider reads. `auth_url` and `redirect_url` are accepted
/// (the Go tool's configs carry them) and ignored: no grant here needs them.
const KNOWN_KEYS: [&str; 15] = [
    "grant_type",
    "grant_config",
    "token_url",
    "client_id",
    "client_secret",
    "scopes",
    "scope",
    "username",
    "password",
    "refresh_token",
    "auth_style",
    "audience",
    "extra_params",
    "auth_url",
    "redirect_url",
];

/// Form parameters the provider sets itself; `extra_params` may not repeat them.
const RESERVED_PARAMS: [&str; 8] = [
    "grant_type",
    "client_id",
    "client_secret",
    "username",
    "password",
    "refresh_token",
    "scope",
    "audience",
];

const SUPPORTED: &str = "client_credentials, password or refresh_token";

#[derive(Debug, PartialEq)]
enum Grant {
    ClientCredentials,
    Password { username: String, password: String },
    RefreshToken { refresh_token: String },
}

#[derive(Debug, PartialEq)]
enum AuthStyle {
    /// client_id and client_secret as form parameters (the default).
    Body,
    /// client_id:client_secret as an HTTP Basic header (RFC 6749 2.3.1).
    Header,
}

#[derive(Debug)]
struct Settings {
    grant: Grant,
    token_url: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    scopes: Vec<String>,
    audience: Option<String>,
    auth_style: AuthStyle,
    extra_params: Vec<(String, String)>,
}

struct OAuth2;

impl Guest for OAuth2 {
    fn acquire(input: AcquireInput) -> Result<Credential, PluginError> {
        let mut settings = parse_config(&input.provider_config)?;
        // A server that rotates refresh tokens invalidates the configured one
        // once used: the rotated one, carried over in `state`, is used instead.
        if let (Grant::RefreshToken { refresh_token }, Some(rotated)) =
            (&mut settings.grant, input.state.as_deref().and_then(rotated_refresh_token))
        {
            *refresh_token = rotated;
        }
        let response = host::send(&build_request(&settings))?;
        parse_token_response(&settings.token_url, response.status, &response.body)
    }
}

impl metadata::Guest for OAuth2 {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "oauth2".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "OAuth2 bearer tokens (client_credentials, password, refresh_token grants; built in)."
                .into(),
        }
    }
}

/// The refresh token a previous acquisition carried over (`{"refresh_token": "..."}`).
fn rotated_refresh_token(state: &str) -> Option<String> {
    let value: Value = serde_json::from_str(state).ok()?;
    value
        .get("refresh_token")?
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn invalid(message: impl std::fmt::Display) -> PluginError {
    PluginError::InvalidConfig(format!("oauth2 auth: {message}"))
}

/// Reads the rendered config into settings, checking every required field.
fn parse_config(config: &str) -> Result<Settings, PluginError> {
    let value: Value =
        serde_json::from_str(config).map_err(|e| invalid(format!("config is not JSON: {e}")))?;
    let map = merge_grant_config(value)?;
    if let Some(key) = map.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return Err(invalid(unknown_key_message(key, &KNOWN_KEYS)));
    }

    let grant_type = scalar(&map, "grant_type")?
        .map(|g| g.trim().to_ascii_lowercase().replace('-', "_"))
        .filter(|g| !g.is_empty())
        .ok_or_else(|| invalid(format!("`grant_type` is missing; use {SUPPORTED}")))?;
    let required = |key: &str| {
        non_empty(scalar(&map, key)?)
            .ok_or_else(|| invalid(format!("`{key}` is required for the {grant_type} grant")))
    };
    let grant = match grant_type.as_str() {
        "client_credentials" => Grant::ClientCredentials,
        "password" => Grant::Password {
            username: required("username")?,
            password: required("password")?,
        },
        "refresh_token" => Grant::RefreshToken {
            refresh_token: required("refresh_token")?,
        },
        "authorization_code"
        | "implicit"
        | "device_code"
        | "urn:ietf:params:oauth:grant_type:device_code" => {
            return Err(invalid(format!(
                "the {grant_type} grant needs a user at a browser, which a migration run does not have; \
                 use {SUPPORTED} (e.g. a refresh_token obtained once by hand)"
            )));
        }
        other => {
            return Err(invalid(format!(
                "unsupported grant_type {other:?}; use {SUPPORTED}"
            )));
        }
    };

    let token_url = non_empty(scalar(&map, "token_url")?)
        .ok_or_else(|| invalid("`token_url` is missing"))?
        .trim()
        .to_string();
    let lower = token_url.to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err(invalid(format!(
            "`token_url` must be an absolute http(s) URL, got {token_url:?}"
        )));
    }

    let client_id = non_empty(scalar(&map, "client_id")?);
    let client_secret = non_empty(scalar(&map, "client_secret")?);
    if grant == Grant::ClientCredentials {
        required("client_id")?;
        required("client_secret")?;
    }

    let auth_style = match non_empty(scalar(&map, "auth_style")?)
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("body") | Some("params") | Some("in_params") => AuthStyle::Body,
        Some("header") | Some("basic") | Some("in_header") => AuthStyle::Header,
        Some(other) => {
            return Err(invalid(format!(
                "unknown auth_style {other:?}; use body (the default) or header"
            )));
        }
    };
    if auth_style == AuthStyle::Header && client_id.is_none() {
        return Err(invalid("`client_id` is required with auth_style: header"));
    }

    let mut scopes = scope_list(&map, "scopes")?;
    scopes.extend(scope_list(&map, "scope")?);

    Ok(Settings {
        grant,
        token_url,
        client_id,
        client_secret,
        scopes,
        audience: non_empty(scalar(&map, "audience")?),
        auth_style,
        extra_params: extra_params(&map)?,
    })
}

/// The flat keys, overlaid with those under `grant_config:` (nested wins).
fn merge_grant_config(value: Value) -> Result<Map<String, Value>, PluginError> {
    let mut map = match value {
        Value::Object(map) => map,
        Value::Null => {
            return Err(invalid(
                "config is missing; it needs grant_type and token_url",
            ));
        }
        other => return Err(invalid(format!("config must be an object, got {other}"))),
    };
    match map.remove("grant_config") {
        None | Some(Value::Null) => {}
        Some(Value::Object(nested)) => {
            for (key, value) in nested {
                if key == "grant_config" {
                    return Err(invalid(
                        "`grant_config` may not contain another grant_config",
                    ));
                }
                // A null nested value (an empty YAML key) does not hide a flat one.
                if !value.is_null() {
                    map.insert(key, value);
                }
            }
        }
        Some(other) => {
            return Err(invalid(format!(
                "`grant_config` must be an object, got {other}"
            )));
        }
    }
    Ok(map)
}

/// A scalar config value as text: strings as they are, numbers and bools
/// printed, null as absent. Lists and objects are an error.
fn scalar(map: &Map<String, Value>, key: &str) -> Result<Option<String>, PluginError> {
    scalar_value(map.get(key).unwrap_or(&Value::Null))
        .map_err(|kind| invalid(format!("`{key}` must be a string, not {kind}")))
}

fn scalar_value(value: &Value) -> Result<Option<String>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Array(_) => Err("a list"),
        Value::Object(_) => Err("an object"),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// `scopes: [a, b]` or `scopes: "a b"` (space- or comma-separated).
fn scope_list(map: &Map<String, Value>, key: &str) -> Result<Vec<String>, PluginError> {
    let split = |s: &str| -> Vec<String> {
        s.split(|c: char| c.is_whitespace() || c == ',')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            let mut scopes = Vec::new();
            for item in items {
                let text = scalar_value(item).map_err(|kind| {
                    invalid(format!("`{key}` items must be strings, not {kind}"))
                })?;
                scopes.extend(text.as_deref().map(split).unwrap_or_default());
            }
            Ok(scopes)
        }
        Some(_) => Ok(scalar(map, key)?.map(|s| split(&s)).unwrap_or_default()),
    }
}

/// `extra_params: {name: value}`; a list value repeats the parameter.
fn extra_params(map: &Map<String, Value>) -> Result<Vec<(String, String)>, PluginError> {
    let params = match map.get("extra_params") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(params)) => params,
        Some(other) => {
            return Err(invalid(format!(
                "`extra_params` must be an object, got {other}"
            )));
        }
    };
    let mut out = Vec::new();
    for (name, value) in params {
        if RESERVED_PARAMS.contains(&name.as_str()) {
            return Err(invalid(format!(
                "extra_params.{name} repeats a parameter the provider sets; use the `{}` key instead",
                if name == "scope" { "scopes" } else { name }
            )));
        }
        let values = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        for value in values {
            let text = scalar_value(value).map_err(|kind| {
                invalid(format!("extra_params.{name} must be a string, not {kind}"))
            })?;
            if let Some(text) = text {
                out.push((name.clone(), text));
            }
        }
    }
    Ok(out)
}

/// The token request (RFC 6749 sections 4.3, 4.4 and 6).
fn build_request(settings: &Settings) -> HttpRequest {
    let mut params: Vec<(&str, &str)> = Vec::new();
    match &settings.grant {
        Grant::ClientCredentials => params.push(("grant_type", "client_credentials")),
        Grant::Password { username, password } => {
            params.push(("grant_type", "password"));
            params.push(("username", username));
            params.push(("password", password));
        }
        Grant::RefreshToken { refresh_token } => {
            params.push(("grant_type", "refresh_token"));
            params.push(("refresh_token", refresh_token));
        }
    }
    let scope = settings.scopes.join(" ");
    if !scope.is_empty() {
        params.push(("scope", &scope));
    }
    if let Some(audience) = &settings.audience {
        params.push(("audience", audience));
    }

    let mut headers = vec![
        header("Content-Type", "application/x-www-form-urlencoded"),
        header("Accept", "application/json"),
    ];
    match settings.auth_style {
        AuthStyle::Body => {
            if let Some(id) = &settings.client_id {
                params.push(("client_id", id));
            }
            if let Some(secret) = &settings.client_secret {
                params.push(("client_secret", secret));
            }
        }
        AuthStyle::Header => {
            // RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
            let encode =
                |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!(
                "{}:{}",
                encode(settings.client_id.as_deref().unwrap_or_default()),
                encode(settings.client_secret.as_deref().unwrap_or_default())
            );
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.push(header("Authorization", &format!("Basic {basic}")));
        }
    }
    for (name, value) in &settings.extra_params {
        params.push((name, value));
    }

    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    HttpRequest {
        method: "POST".into(),
        url: settings.token_url.clone(),
        headers,
        body: Some(body.into_bytes()),
        timeout_ms: None,
        // Asking for a new token twice does no harm for these grants; a
        // refresh token may be single-use, so that grant is not retried.
        retry: Some(!matches!(settings.grant, Grant::RefreshToken { .. })),
        follow_redirects: None,
    }
}

fn header(name: &str, value: &str) -> Header {
    Header {
        name: name.into(),
        value: value.into(),
    }
}

/// Turns the token endpoint's answer into a credential (RFC 6749 5.1 and 5.2).
fn parse_token_response(
    token_url: &str,
    status: u16,
    body: &[u8],
) -> Result<Credential, PluginError> {
    let fields = response_fields(body);
    let field = |name: &str| {
        fields
            .as_ref()
            .and_then(|f| f.get(name))
            .and_then(|v| scalar_value(v).ok().flatten())
            .filter(|v| !v.is_empty())
    };
    // The server's RFC 6749 error, else the start of the body; a successful
    // answer's JSON is not quoted, as it may hold credentials.
    let error_detail = |quote_json: bool| match (field("error"), field("error_description")) {
        (Some(error), Some(description)) => format!(": {error}: {description}"),
        (Some(error), None) => format!(": {error}"),
        (None, Some(description)) => format!(": {description}"),
        (None, None) if (quote_json || fields.is_none()) && !body.trim_ascii().is_empty() => {
            format!(": {}", snippet(&String::from_utf8_lossy(body)))
        }
        (None, None) => String::new(),
    };
    if !(200..300).contains(&status) {
        return Err(PluginError::Failed(format!(
            "oauth2 auth: token endpoint {token_url} answered {status}{}",
            error_detail(true)
        )));
    }
    let Some(token) = field("access_token") else {
        return Err(PluginError::Failed(format!(
            "oauth2 auth: token endpoint {token_url} answered {status} without an access_token{}",
            error_detail(false)
        )));
    };
    let expires_in_secs = fields
        .as_ref()
        .and_then(|f| f.get("expires_in"))
        .and_then(|v| match v {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
    // A refresh token in the answer (issued or rotated) is kept for the
    // next acquisition of this provider in the run (WIT 0.2 `state`).
    let state = field("refresh_token").map(|t| serde_json::json!({"refresh_token": t}).to_string());
    Ok(Credential {
        header_name: "Authorization".into(),
        header_value: format!("Bearer {token}"),
        token,
        expires_in_secs,
        state,
    })
}

/// The answer's fields: a JSON object, or (as some older servers send)
/// a form-encoded body. None when it is neither.
fn response_fields(body: &[u8]) -> Option<Map<String, Value>> {
    if let Ok(Value::Object(map)) = serde_json::from_slice(body) {
        return Some(map);
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() || text.starts_with(['{', '[', '<']) || !text.contains('=') {
        return None;
    }
    Some(
        form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect(),
    )
}

fn snippet(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

export!(OAuth2);

#[cfg(test)]
mod tests;

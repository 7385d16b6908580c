//! The built-in `pocketbase` auth provider: logs in with `auth-with-password`
//! as a superuser (falling back to the pre-0.23 admin API) or as a record of an
//! auth collection, and returns PocketBase's token (docs/plugins.md).
//!
//! PocketBase takes the bare token in `Authorization` (its docs and SDKs send
//! it so; recent versions also accept `Bearer <token>`).

use apirun_plugin_util::unknown_key_message;
use serde_json::{Map, Value, json};

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "auth-plugin",
});

use apirun::plugin::host;
use apirun::plugin::types::{Header, HttpRequest, HttpResponse, PluginError};
use exports::apirun::plugin::auth::{AcquireInput, Credential, Guest};
use exports::apirun::plugin::metadata::{self, PluginMetadata};

const KNOWN_KEYS: [&str; 6] = [
    "base_url",
    "email",
    "identity",
    "password",
    "type",
    "collection",
];

#[derive(Debug, PartialEq)]
enum Target {
    /// `_superusers` (PocketBase 0.23+), then the legacy `/api/admins` login.
    Superuser,
    /// A user auth collection, by name or id.
    Collection(String),
}

#[derive(Debug)]
struct Settings {
    base_url: String,
    identity: String,
    password: String,
    target: Target,
}

struct PocketBase;

impl Guest for PocketBase {
    fn acquire(input: AcquireInput) -> Result<Credential, PluginError> {
        let settings = parse_config(&input.provider_config)?;
        login(&settings, |request| host::send(&request))
    }
}

impl metadata::Guest for PocketBase {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "pocketbase".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "PocketBase superuser or auth-collection login (built in).".into(),
        }
    }
}

fn invalid(message: impl std::fmt::Display) -> PluginError {
    PluginError::InvalidConfig(format!("pocketbase auth: {message}"))
}

fn parse_config(config: &str) -> Result<Settings, PluginError> {
    let value: Value =
        serde_json::from_str(config).map_err(|e| invalid(format!("config is not JSON: {e}")))?;
    let map = match value {
        Value::Object(map) => map,
        Value::Null => {
            return Err(invalid(
                "config is missing; it needs base_url, email and password",
            ));
        }
        other => return Err(invalid(format!("config must be an object, got {other}"))),
    };
    if let Some(key) = map.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return Err(invalid(unknown_key_message(key, &KNOWN_KEYS)));
    }

    let base_url = text(&map, "base_url")?
        .ok_or_else(|| invalid("`base_url` is missing"))?
        .trim()
        .trim_end_matches('/')
        .to_string();
    let lower = base_url.to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err(invalid(format!(
            "`base_url` must be an absolute http(s) URL, got {base_url:?}"
        )));
    }

    let identity = match (text(&map, "email")?, text(&map, "identity")?) {
        (Some(email), Some(identity)) if email.trim() != identity.trim() => {
            return Err(invalid(
                "`email` and `identity` differ; set only one of them",
            ));
        }
        (Some(login), _) | (None, Some(login)) => login.trim().to_string(),
        (None, None) => return Err(invalid("`email` is missing (or set `identity`)")),
    };
    let password = text(&map, "password")?.ok_or_else(|| invalid("`password` is missing"))?;

    let collection = text(&map, "collection")?.map(|c| c.trim().to_string());
    let kind = text(&map, "type")?.map(|t| t.trim().to_ascii_lowercase());
    let target = match (kind.as_deref(), collection) {
        // A collection without a type means a user collection.
        (None, Some(collection)) if collection != "_superusers" => Target::Collection(collection),
        (None | Some("superuser" | "superusers" | "admin" | "admins"), None) => Target::Superuser,
        (None | Some("superuser" | "superusers" | "admin" | "admins"), Some(collection)) => {
            if collection != "_superusers" {
                return Err(invalid(format!(
                    "`collection` ({collection:?}) applies to type: user only; superusers log in via _superusers"
                )));
            }
            Target::Superuser
        }
        (Some("user" | "users" | "record"), collection) => {
            Target::Collection(collection.unwrap_or_else(|| "users".into()))
        }
        (Some(other), _) => {
            return Err(invalid(format!(
                "unknown type {other:?}; use superuser (the default), admin or user"
            )));
        }
    };
    if let Target::Collection(name) = &target
        && !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(invalid(format!(
            "`collection` {name:?} is not a collection name (letters, digits and _)"
        )));
    }
    Ok(Settings {
        base_url,
        identity,
        password,
        target,
    })
}

/// A config value as text (numbers and bools printed); null or empty = absent.
fn text(map: &Map<String, Value>, key: &str) -> Result<Option<String>, PluginError> {
    let text = match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(_) => return Err(invalid(format!("`{key}` must be a string"))),
    };
    Ok(text.filter(|t| !t.trim().is_empty()))
}

/// The login URLs to try, in order: the next one only after a 404.
fn login_urls(settings: &Settings) -> Vec<String> {
    let base = &settings.base_url;
    match &settings.target {
        Target::Superuser => vec![
            format!("{base}/api/collections/_superusers/auth-with-password"),
            format!("{base}/api/admins/auth-with-password"),
        ],
        Target::Collection(name) => {
            vec![format!("{base}/api/collections/{name}/auth-with-password")]
        }
    }
}

fn build_request(url: &str, settings: &Settings) -> HttpRequest {
    let body = json!({"identity": settings.identity, "password": settings.password});
    HttpRequest {
        method: "POST".into(),
        url: url.into(),
        headers: vec![
            Header {
                name: "Content-Type".into(),
                value: "application/json".into(),
            },
            Header {
                name: "Accept".into(),
                value: "application/json".into(),
            },
        ],
        body: Some(body.to_string().into_bytes()),
        timeout_ms: None,
        // Logging in twice does no harm.
        retry: Some(true),
        follow_redirects: None,
    }
}

/// Tries each login URL through `send`; a 404 moves on to the next one.
fn login(
    settings: &Settings,
    mut send: impl FnMut(HttpRequest) -> Result<HttpResponse, PluginError>,
) -> Result<Credential, PluginError> {
    let urls = login_urls(settings);
    let mut last_message = String::new();
    for url in &urls {
        let response = send(build_request(url, settings))?;
        match interpret(url, response.status, &response.body)? {
            Some(credential) => return Ok(credential),
            None => last_message = server_message(&response.body).unwrap_or_default(),
        }
    }
    Err(PluginError::Failed(match &settings.target {
        Target::Superuser => format!(
            "pocketbase auth: no superuser login found: {} and {} both answered 404; \
             is base_url ({}) the PocketBase server's address?",
            urls[0], urls[1], settings.base_url
        ),
        Target::Collection(name) => format!(
            "pocketbase auth: {} answered 404{}; is {name:?} an auth collection?",
            urls[0],
            if last_message.is_empty() {
                String::new()
            } else {
                format!(": {last_message}")
            }
        ),
    }))
}

/// A login answer: the credential, None for a 404 (try the next URL), or an error.
fn interpret(url: &str, status: u16, body: &[u8]) -> Result<Option<Credential>, PluginError> {
    if status == 404 {
        return Ok(None);
    }
    if !(200..300).contains(&status) {
        let detail = match server_message(body) {
            Some(message) => format!(": {message}"),
            None => snippet(&String::from_utf8_lossy(body)),
        };
        return Err(PluginError::Failed(format!(
            "pocketbase auth: {url} answered {status}{detail}"
        )));
    }
    let token = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_string))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            PluginError::Failed(format!(
                "pocketbase auth: {url} answered {status} without a token"
            ))
        })?;
    Ok(Some(Credential {
        header_name: "Authorization".into(),
        header_value: token.clone(),
        token,
        // The token's lifetime is set on the server (a day for superusers by
        // default); with no clock here its `exp` claim cannot be turned into
        // seconds left. A 401 makes the host acquire again.
        expires_in_secs: None,
        state: None,
    }))
}

/// PocketBase's error `message`, with the per-field messages of `data`.
fn server_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let mut message = value.get("message")?.as_str()?.trim().to_string();
    if let Some(Value::Object(fields)) = value.get("data") {
        let details: Vec<String> = fields
            .iter()
            .filter_map(|(field, error)| {
                let text = error.get("message")?.as_str()?;
                Some(format!("{field}: {text}"))
            })
            .collect();
        if !details.is_empty() {
            message = format!("{message} ({})", details.join("; "));
        }
    }
    Some(message)
}

/// The start of a body that is not PocketBase's JSON (a proxy's page, say).
fn snippet(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!(": {}...", &text[..cut]),
        None if text.is_empty() => String::new(),
        None => format!(": {text}"),
    }
}

export!(PocketBase);

#[cfg(test)]
mod tests;

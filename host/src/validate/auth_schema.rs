//! A host-side schema check of the built-in auth providers' `config:` blocks
//! (basic, oauth2, pocketbase), shared by `validate` and by `up`/`down`/dry
//! runs when a stage opens (docs/configuration.md, docs/migrations.md).
//!
//! Without it a misspelt or missing key is found only when the provider's
//! plugin first acquires a credential, in the middle of a run, after earlier
//! migrations were applied. The rules mirror what the built-in plugins read
//! (plugins/auth-*/src/lib.rs); values are templates, so only keys, and the
//! values written literally (no `{{`), are checked here. A stage whose
//! `plugins:` replaces a built-in (an entry named `oauth2`, say) is not
//! checked: the replacement reads whatever keys it wants.

use serde_json::{Map, Value};

use crate::config::{Diagnostic, StageConfig, suggest};

/// Keys the built-in oauth2 provider reads (`auth_url` and `redirect_url` are
/// accepted and ignored, as the Go tool's configs carry them).
const OAUTH2_KEYS: &[&str] = &[
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
const OAUTH2_GRANTS: &str = "client_credentials, password or refresh_token";

const POCKETBASE_KEYS: &[&str] = &[
    "base_url",
    "email",
    "identity",
    "password",
    "type",
    "collection",
];

const BASIC_KEYS: &[&str] = &["username", "password"];

/// Problems of every built-in auth entry's config.
pub fn check_auth_configs(config: &StageConfig) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, auth) in config.auth.iter().enumerate() {
        // A `plugins:` entry with the built-in's name replaces it.
        if config.plugins.iter().any(|p| p.name == auth.kind) {
            continue;
        }
        let field = format!("auth[{i}].config");
        // The keys and literal values as written (templates stay unrendered).
        let written = auth.config.source();
        let problems = match auth.kind.as_str() {
            "oauth2" => oauth2(&written),
            "pocketbase" => pocketbase(&written),
            "basic" => basic(&written),
            _ => continue,
        };
        for problem in problems {
            let message = format!("auth provider `{}`: {}", auth.name, problem.message);
            let d = match problem.severity {
                Level::Error => Diagnostic::error(&config.path, message),
                Level::Warning => Diagnostic::warning(&config.path, message),
            };
            out.push(d.field(field.clone()).maybe_hint(problem.hint));
        }
    }
    out
}

enum Level {
    Error,
    Warning,
}

struct Problem {
    severity: Level,
    message: String,
    hint: Option<String>,
}

fn error(message: String) -> Problem {
    Problem {
        severity: Level::Error,
        message,
        hint: None,
    }
}

/// `did you mean` for a misspelt key, or the list of keys.
fn unknown_key(kind: &str, key: &str, known: &[&str]) -> Problem {
    Problem {
        severity: Level::Error,
        message: format!("{kind} auth: unknown config key `{key}`"),
        hint: Some(suggest::did_you_mean(key, known)),
    }
}

/// The config as an object; `None` with the problem when it is not one.
fn object<'v>(
    kind: &str,
    value: &'v Value,
    needs: &str,
    out: &mut Vec<Problem>,
) -> Option<&'v Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        Value::Null => {
            out.push(error(format!(
                "{kind} auth: config is missing; it needs {needs}"
            )));
            None
        }
        other => {
            out.push(error(format!(
                "{kind} auth: config must be an object, got {other}"
            )));
            None
        }
    }
}

/// Present and not empty (a template counts as present: its value is not known yet).
fn present(map: &Map<String, Value>, key: &str) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// A value written literally (not a template), as text.
fn literal<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    match map.get(key) {
        Some(Value::String(s)) if !s.contains("{{") => Some(s.as_str()),
        _ => None,
    }
}

fn oauth2(value: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(flat) = object("oauth2", value, "grant_type and token_url", &mut out) else {
        return out;
    };
    let mut map = flat.clone();
    match map.remove("grant_config") {
        None | Some(Value::Null) => {}
        Some(Value::Object(nested)) => {
            for (key, value) in nested {
                if !value.is_null() {
                    map.insert(key, value);
                }
            }
        }
        Some(other) => out.push(error(format!(
            "oauth2 auth: `grant_config` must be an object, got {other}"
        ))),
    }
    for key in map.keys() {
        if !OAUTH2_KEYS.contains(&key.as_str()) || key == "grant_config" {
            out.push(unknown_key("oauth2", key, OAUTH2_KEYS));
        }
    }
    if !present(&map, "grant_type") {
        out.push(error(format!(
            "oauth2 auth: `grant_type` is missing; use {OAUTH2_GRANTS}"
        )));
    }
    if !present(&map, "token_url") {
        out.push(error("oauth2 auth: `token_url` is missing".into()));
    }
    if let Some(grant) = literal(&map, "grant_type") {
        let grant = grant.trim().to_ascii_lowercase().replace('-', "_");
        let required: &[&str] = match grant.as_str() {
            "" => &[],
            "client_credentials" => &["client_id", "client_secret"],
            "password" => &["username", "password"],
            "refresh_token" => &["refresh_token"],
            "authorization_code"
            | "implicit"
            | "device_code"
            | "urn:ietf:params:oauth:grant_type:device_code" => {
                out.push(error(format!(
                    "oauth2 auth: the {grant} grant needs a user at a browser, which a migration run does not have; \
                     use {OAUTH2_GRANTS} (e.g. a refresh_token obtained once by hand)"
                )));
                &[]
            }
            other => {
                out.push(error(format!(
                    "oauth2 auth: unsupported grant_type {other:?}; use {OAUTH2_GRANTS}"
                )));
                &[]
            }
        };
        for key in required {
            if !present(&map, key) {
                out.push(error(format!(
                    "oauth2 auth: `{key}` is required for the {grant} grant"
                )));
            }
        }
    }
    out
}

fn pocketbase(value: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(map) = object(
        "pocketbase",
        value,
        "base_url, email and password",
        &mut out,
    ) else {
        return out;
    };
    for key in map.keys() {
        if key == "username" || key == "user" || key == "login" {
            // The Go tool's docs call the login `username`; PocketBase calls it `identity`.
            out.push(Problem {
                severity: Level::Error,
                message: format!("pocketbase auth: unknown config key `{key}`"),
                hint: Some(
                    "PocketBase logs in with `email` (or `identity`): rename the key to `email`"
                        .into(),
                ),
            });
        } else if !POCKETBASE_KEYS.contains(&key.as_str()) {
            out.push(unknown_key("pocketbase", key, POCKETBASE_KEYS));
        }
    }
    if !present(map, "base_url") {
        out.push(error("pocketbase auth: `base_url` is missing".into()));
    }
    let has_login = ["email", "identity", "username", "user", "login"]
        .iter()
        .any(|k| present(map, k));
    if !has_login {
        out.push(error(
            "pocketbase auth: `email` is missing (or set `identity`)".into(),
        ));
    }
    if !map.contains_key("password") {
        out.push(error("pocketbase auth: `password` is missing".into()));
    }
    out
}

fn basic(value: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(map) = object("basic", value, "username and password", &mut out) else {
        return out;
    };
    for key in map.keys() {
        if !BASIC_KEYS.contains(&key.as_str()) {
            // The basic plugin ignores other keys: a warning, not an error,
            // so that `validate` refuses exactly what a run refuses.
            let mut problem = unknown_key("basic", key, BASIC_KEYS);
            problem.severity = Level::Warning;
            problem.message.push_str(" (ignored)");
            out.push(problem);
        }
    }
    if !present(map, "username") {
        out.push(error(
            "basic auth: `username` is missing or empty".to_string(),
        ));
    }
    if !map.contains_key("password") {
        out.push(error("basic auth: `password` is missing".into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(problems: Vec<Problem>) -> Vec<String> {
        problems.into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn oauth2_needs_a_grant_type_and_knows_its_keys() {
        let m = messages(oauth2(
            &json!({"token_url": "http://a/t", "client_id": "a"}),
        ));
        assert_eq!(
            m,
            [
                "oauth2 auth: `grant_type` is missing; use client_credentials, password or refresh_token"
            ]
        );
        let m = messages(oauth2(&json!({"grant_type": "client_credentials",
            "grant_config": {"token_url": "http://a/t", "client_id": "a", "client_secert": "b"}})));
        assert!(m.contains(&"oauth2 auth: unknown config key `client_secert`".to_string()));
        assert!(
            m.contains(
                &"oauth2 auth: `client_secret` is required for the client_credentials grant"
                    .to_string()
            )
        );
        // Templates count as present; their values are checked at run time.
        assert!(oauth2(&json!({"grant_type": "{{.g}}", "token_url": "{{.u}}"})).is_empty());
    }

    #[test]
    fn pocketbase_username_names_the_key_it_expects() {
        let p = pocketbase(&json!({"base_url": "http://a", "username": "u", "password": "p"}));
        assert_eq!(p.len(), 1);
        assert!(p[0].hint.as_deref().unwrap_or("").contains("`email`"));
        assert!(
            pocketbase(&json!({"base_url": "http://a", "email": "u", "password": ""})).is_empty()
        );
    }
}

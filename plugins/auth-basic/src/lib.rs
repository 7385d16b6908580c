//! The built-in `basic` auth provider: `Authorization: Basic base64(user:pass)`.

use base64::Engine as _;
use serde::Deserialize;

wit_bindgen::generate!({
    path: "../../wit/0.2.0",
    world: "auth-plugin",
});

use apirun::plugin::types::PluginError;
use exports::apirun::plugin::auth::{AcquireInput, Credential, Guest};
use exports::apirun::plugin::metadata::{self, PluginMetadata};

#[derive(Deserialize)]
struct BasicConfig {
    username: Option<String>,
    password: Option<String>,
}

struct BasicAuth;

impl Guest for BasicAuth {
    fn acquire(input: AcquireInput) -> Result<Credential, PluginError> {
        let config: BasicConfig = serde_json::from_str(&input.provider_config)
            .map_err(|e| PluginError::InvalidConfig(format!("basic auth config: {e}")))?;
        let username = config.username.filter(|u| !u.is_empty()).ok_or_else(|| {
            PluginError::InvalidConfig("basic auth: `username` is missing or empty".into())
        })?;
        let password = config.password.ok_or_else(|| {
            PluginError::InvalidConfig("basic auth: `password` is missing".into())
        })?;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        Ok(Credential {
            header_name: "Authorization".into(),
            header_value: format!("Basic {token}"),
            token,
            expires_in_secs: None,
            state: None,
        })
    }
}

impl metadata::Guest for BasicAuth {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "basic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "HTTP Basic authentication from a username and password (built in).".into(),
        }
    }
}

export!(BasicAuth);

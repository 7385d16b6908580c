//! `__NAME__`: an auth provider. Its `config: {token}` becomes
//! `Authorization: Bearer <token>`; `{{.auth.<provider name>}}` renders the token.

use apirun_plugin_sdk::{AcquireInput, Auth, Credential, PluginError, export_auth, invalid_config};
use serde::Deserialize;

/// The provider's `config:` under `auth:` (rendered: templates applied).
#[derive(Debug, Deserialize)]
struct Config {
    #[serde(default)]
    token: String,
}

/// The plugin's logic, kept free of host calls so that `cargo test` runs it natively.
fn credential(config: &Config) -> Result<Credential, PluginError> {
    let token = config.token.trim();
    if token.is_empty() {
        return Err(invalid_config("`token` is missing or empty; set config.token"));
    }
    Ok(Credential::bearer(token))
}

struct Plugin;

impl Auth for Plugin {
    fn acquire(input: AcquireInput) -> Result<Credential, PluginError> {
        let config: Config = input.provider_config()?;
        credential(&config)
    }
}

export_auth!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header() {
        let credential = credential(&Config { token: "t0k".into() }).unwrap();
        assert_eq!(credential.header_name, "Authorization");
        assert_eq!(credential.header_value, "Bearer t0k");
        assert_eq!(credential.token, "t0k");
    }

    #[test]
    fn refuses_a_missing_token() {
        assert!(matches!(credential(&Config { token: String::new() }), Err(PluginError::InvalidConfig(_))));
    }
}

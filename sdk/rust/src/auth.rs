//! The `auth-plugin` world: an auth provider (`auth: - type: <name>`).

use serde::de::DeserializeOwned;

use crate::{AcquireInput, Credential, PluginError, parse_json};

/// Implement this and export it with [`export_auth!`](crate::export_auth).
pub trait Auth {
    /// Turn the provider's configuration into a credential.
    fn acquire(input: AcquireInput) -> Result<Credential, PluginError>;
}

impl AcquireInput {
    /// The provider's rendered `config:` (under `auth:`) parsed into `T`.
    pub fn provider_config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        parse_json(&self.provider_config, "the auth provider's `config:`")
    }

    /// The plugin's static `config:` (from its `plugins:` entry) parsed into `T`.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        parse_json(&self.config, "the plugin's `config:`")
    }
}

impl Credential {
    /// `Authorization: Bearer <token>`; `{{.auth.<name>}}` renders the token.
    pub fn bearer(token: impl Into<String>) -> Credential {
        let token = token.into();
        Credential::header("Authorization", format!("Bearer {token}"), token)
    }

    /// Any header: `header_value` is sent, `token` is what `{{.auth.<name>}}` renders.
    pub fn header(
        name: impl Into<String>,
        header_value: impl Into<String>,
        token: impl Into<String>,
    ) -> Credential {
        Credential {
            header_name: name.into(),
            header_value: header_value.into(),
            token: token.into(),
            expires_in_secs: None,
            state: None,
        }
    }

    /// apirun re-acquires the credential shortly before this many seconds pass.
    pub fn expires_in(mut self, secs: u64) -> Credential {
        self.expires_in_secs = Some(secs);
        self
    }

    /// State handed to this provider's next `acquire` in the same run
    /// (`input.state`), e.g. a rotated refresh token. Kept in memory only.
    pub fn with_state(mut self, state: impl Into<String>) -> Credential {
        self.state = Some(state.into());
        self
    }
}

/// Export a type implementing [`Auth`] as the component's auth provider. Its
/// name, version and description come from the plugin's Cargo.toml.
#[macro_export]
macro_rules! export_auth {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __ApirunAuthExport;

        impl $crate::bindings::exports::apirun::plugin::auth::Guest for __ApirunAuthExport {
            fn acquire(
                input: $crate::AcquireInput,
            ) -> ::core::result::Result<$crate::Credential, $crate::PluginError> {
                <$ty as $crate::Auth>::acquire(input)
            }
        }

        impl $crate::bindings::exports::apirun::plugin::metadata::Guest for __ApirunAuthExport {
            fn metadata() -> $crate::PluginMetadata {
                $crate::__metadata(
                    env!("CARGO_PKG_NAME"),
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_DESCRIPTION"),
                )
            }
        }

        $crate::bindings::__apirun_export_world!(__ApirunAuthExport);
    };
}

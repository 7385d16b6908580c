//! Auth providers of a stage: `auth:` entries bound to auth plugins.
//!
//! Tokens are acquired lazily (the first time a request names the provider),
//! once per run, and cached; a credential with an expiry is re-acquired a
//! little before it expires, and [`AuthManager::invalidate`] drops one after a
//! 401 so the next use re-acquires. The provider's config values are templates
//! over the stage's variables, rendered at acquisition. Tokens are never stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::output::Masker;
use crate::plugin::{Credential, PluginError, PluginFailure, PluginKind, PluginSet};
use crate::template::{Context, TemplateError, TemplateTree};

/// Re-acquire this long before a credential's announced expiry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// One `auth:` entry.
#[derive(Debug, Clone)]
pub struct AuthProvider {
    /// Its name (`auth_name:` / `down.auth:` / `{{.auth.<name>}}`).
    pub name: String,
    /// Its type: the auth plugin (`basic`, `oauth2`, `pocketbase`, or a plugin's name).
    pub kind: String,
    /// Its config as loaded: every string in it a template, parsed once.
    pub config: TemplateTree,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("auth provider `{0}` is not defined; add it under `auth:` in the stage config")]
    Unknown(String),
    #[error("auth provider `{provider}`: config field `{field}`: {source}")]
    Template {
        provider: String,
        field: String,
        source: TemplateError,
    },
    #[error(
        "auth provider `{provider}` could not get a credential: {source}{}",
        config_hint(source)
    )]
    Plugin {
        provider: String,
        source: PluginError,
    },
}

/// When the provider says its config is wrong, say where that config is.
fn config_hint(error: &PluginError) -> &'static str {
    match error.failure() {
        Some(PluginFailure::InvalidConfig(_)) => {
            " (fix this provider's `config:` under `auth:` in the stage config)"
        }
        _ => "",
    }
}

struct Cached {
    credential: Credential,
    expires_at: Option<Instant>,
}

/// Per provider: its cached credential, and the state its last acquisition
/// returned (WIT 0.2 `credential.state`, e.g. a rotated refresh token),
/// handed to its next acquisition. In memory only, for one run; a 401 drops
/// the credential but keeps the state.
#[derive(Default)]
struct AuthCache {
    credentials: HashMap<String, Cached>,
    states: HashMap<String, String>,
}

pub struct AuthManager {
    providers: HashMap<String, AuthProvider>,
    plugins: Arc<PluginSet>,
    masker: Arc<Masker>,
    cache: Mutex<AuthCache>,
    acquisitions: std::sync::atomic::AtomicU64,
}

impl AuthManager {
    pub fn new(providers: Vec<AuthProvider>, plugins: Arc<PluginSet>, masker: Arc<Masker>) -> Self {
        AuthManager {
            providers: providers.into_iter().map(|p| (p.name.clone(), p)).collect(),
            plugins,
            masker,
            cache: Mutex::new(AuthCache::default()),
            acquisitions: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.providers.contains_key(name)
    }

    pub fn provider_names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// How many credentials were acquired so far (for reports and tests).
    pub fn acquisitions(&self) -> u64 {
        self.acquisitions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The credential of provider `name`, acquiring it if needed.
    /// `vars` renders the provider's config on acquisition.
    pub async fn credential(
        &self,
        name: &str,
        vars: &Context<'_>,
    ) -> Result<Credential, AuthError> {
        let provider = self
            .providers
            .get(name)
            .ok_or_else(|| AuthError::Unknown(name.to_string()))?;
        // Holding the lock across acquisition means concurrent steps wait for
        // one token request instead of sending several.
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.credentials.get(name) {
            let fresh = cached
                .expires_at
                .is_none_or(|at| Instant::now() + EXPIRY_MARGIN < at);
            if fresh {
                return Ok(cached.credential.clone());
            }
        }
        let config =
            provider
                .config
                .render(vars)
                .map_err(|(field, source)| AuthError::Template {
                    provider: name.to_string(),
                    field,
                    source,
                })?;
        // Secret-named values as rendered (`password: "{{.pw}}"`) are masked
        // like secret variables from now on (docs/security.md).
        self.masker.add_secret_fields(&config);
        let plugin = self
            .plugins
            .get(PluginKind::Auth, &provider.kind)
            .map_err(|source| AuthError::Plugin {
                provider: name.to_string(),
                source,
            })?;
        let credential = plugin
            .acquire_with(&config, cache.states.get(name).map(String::as_str))
            .await
            .map_err(|source| AuthError::Plugin {
                provider: name.to_string(),
                source,
            })?;
        self.acquisitions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.masker.add_secret(&credential.token);
        self.masker.add_secret(&credential.header_value);
        if let Some(state) = &credential.state {
            // State is typically a refresh token: masked like one, whole and
            // (when JSON) field by field.
            self.masker.add_secret(state);
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(state) {
                self.masker.add_secret_fields(&value);
            }
            cache.states.insert(name.to_string(), state.clone());
        }
        let expires_at = credential.expires_in.map(|d| Instant::now() + d);
        cache.credentials.insert(
            name.to_string(),
            Cached {
                credential: credential.clone(),
                expires_at,
            },
        );
        Ok(credential)
    }

    /// Forget a cached credential (after the server answered 401 with it).
    pub async fn invalidate(&self, name: &str) {
        self.cache.lock().await.credentials.remove(name);
    }
}

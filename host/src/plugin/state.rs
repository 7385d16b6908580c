//! The per-call store data of a plugin, and the host functions it may call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::error::PluginFailure;
use super::policy::AllowedHosts;
use crate::transport::{
    FollowRedirects, HttpClient, RedirectRefusal, Redirects, Request, Response, TransportError,
};

/// What the host gives one plugin instance: its HTTP client and its policy.
pub struct HostServices {
    pub plugin_name: String,
    pub http: HttpClient,
    pub allowed_hosts: AllowedHosts,
}

/// Caps a plugin's linear memory and remembers that the cap was hit, so the
/// error can say so instead of reporting a bare trap.
pub(crate) struct MemoryLimiter {
    pub max_bytes: usize,
    pub exceeded: bool,
    /// The largest linear memory granted so far: an instance that grew past
    /// `plugin::WARM_MAX_MEMORY` is not kept for another call.
    pub peak_bytes: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

pub(crate) struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    /// When the current call started, and the time it spent inside host
    /// calls (`send`), which is not counted against the plugin's
    /// execution-time budget.
    pub call_started: Instant,
    pub host_time: Duration,
    services: Arc<HostServices>,
    /// Which redirects this call's sends follow (see [`PluginState::new`]).
    follow_redirects: FollowRedirects,
    /// Set when a send of this call failed after the server may have
    /// applied it (e.g. a 2xx POST whose body was over the cap): the call's
    /// failure then has an unknown outcome, whatever the plugin reports.
    pub outcome_unknown: Option<String>,
}

impl PluginState {
    /// `follow_redirects`: the http step passes its request's setting. Other
    /// plugins follow a redirect to another origin only when their
    /// `allowed_hosts` names hosts (each hop must be in it); with any host
    /// allowed (`*`, the built-in auth providers), only within the origin,
    /// so a redirect cannot carry their requests somewhere nobody named.
    pub fn new(
        services: Arc<HostServices>,
        max_memory_bytes: usize,
        follow_redirects: Option<FollowRedirects>,
    ) -> Self {
        // No preopened directories, no environment, no arguments, stdio closed
        // or discarded, and no sockets: the only way out is `host.send`.
        let mut builder = WasiCtx::builder();
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        PluginState {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_bytes: max_memory_bytes,
                exceeded: false,
                peak_bytes: 0,
            },
            call_started: Instant::now(),
            host_time: Duration::ZERO,
            follow_redirects: default_follow(follow_redirects, &services),
            outcome_unknown: None,
            services,
        }
    }

    /// Ready for another call in the same instance: every per-call field as
    /// [`PluginState::new`] sets it (the instance's memory is what is kept).
    pub fn begin_call(&mut self, follow_redirects: Option<FollowRedirects>) {
        self.follow_redirects = default_follow(follow_redirects, &self.services);
        self.call_started = Instant::now();
        self.host_time = Duration::ZERO;
        self.outcome_unknown = None;
        self.limiter.exceeded = false;
    }

    /// Guest execution time of the current call so far (host I/O excluded).
    pub fn guest_time(&self) -> Duration {
        self.call_started.elapsed().saturating_sub(self.host_time)
    }
}

/// Which redirects a call's sends follow when its request does not say.
fn default_follow(
    follow_redirects: Option<FollowRedirects>,
    services: &HostServices,
) -> FollowRedirects {
    follow_redirects.unwrap_or(match services.allowed_hosts {
        AllowedHosts::Any => FollowRedirects::SameOrigin,
        AllowedHosts::Only(_) => FollowRedirects::Any,
    })
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl PluginState {
    /// `host.send`, whatever the contract version (each version's `Host`
    /// impl converts its WIT types and calls this): policy, then the
    /// transport. The request's own `follow_redirects` (WIT 0.2) wins over
    /// this call's default.
    pub async fn send_request(&mut self, request: Request) -> Result<Response, PluginFailure> {
        let services = self.services.clone();
        let url = reqwest::Url::parse(&request.url).map_err(|e| {
            PluginFailure::InvalidConfig(format!("invalid url {:?}: {e}", request.url))
        })?;
        let policy = |url: &reqwest::Url| -> Result<(), String> {
            if services.allowed_hosts.permits(url) {
                return Ok(());
            }
            Err(format!(
                "plugin `{}` may not send to {}://{}; its allowed_hosts: {}",
                services.plugin_name,
                url.scheme(),
                url.host_str().unwrap_or("?").to_string()
                    + &url.port().map(|p| format!(":{p}")).unwrap_or_default(),
                services.allowed_hosts
            ))
        };
        policy(&url).map_err(PluginFailure::Denied)?;
        let started = std::time::Instant::now();
        let redirects = Redirects {
            follow: self.follow_redirects,
            policy: Some(&policy),
        };
        let sent = services.http.send_with(&request, redirects).await;
        self.host_time += started.elapsed();
        match sent {
            Ok(response) => Ok(response),
            Err(TransportError::InvalidRequest(message))
            | Err(TransportError::Settings(message)) => Err(PluginFailure::InvalidConfig(message)),
            Err(e @ TransportError::Send { .. }) => Err(PluginFailure::Transport(e.to_string())),
            Err(
                e @ TransportError::Redirect {
                    reason: RedirectRefusal::Denied(_),
                    ..
                },
            ) => Err(PluginFailure::Denied(e.to_string())),
            Err(e @ TransportError::Redirect { .. }) => Err(PluginFailure::Failed(e.to_string())),
            Err(e @ TransportError::TooLarge { .. }) => {
                if e.may_have_applied() {
                    self.outcome_unknown = Some(e.to_string());
                }
                Err(PluginFailure::Failed(e.to_string()))
            }
        }
    }

    /// `host.log`, whatever the contract version.
    pub fn log_line(&self, level: tracing::Level, message: &str) {
        let plugin = self.services.plugin_name.as_str();
        match level {
            tracing::Level::TRACE => tracing::trace!(plugin, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(plugin, "{message}"),
            tracing::Level::INFO => tracing::info!(plugin, "{message}"),
            tracing::Level::WARN => tracing::warn!(plugin, "{message}"),
            tracing::Level::ERROR => tracing::error!(plugin, "{message}"),
        }
    }
}

//! `apirun:plugin@0.2.x` (`wit/0.2.0/`): the current contract (the built-ins use it).

use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};

use super::super::error::PluginFailure;
use super::super::state::PluginState;
use super::super::types::{
    Credential, HttpStepRequest, Metadata, PluginResponse, StepOutcome, StepSpec,
    VariableDeclaration, duration_ms,
};
use super::super::version::PluginKind;
use crate::transport::{FollowRedirects, Request};

pub mod step {
    wasmtime::component::bindgen!({
        path: "wit/0.2.0",
        world: "step-plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

pub mod auth {
    wasmtime::component::bindgen!({
        path: "wit/0.2.0",
        world: "auth-plugin",
        imports: { default: async },
        exports: { default: async },
        with: {
            "apirun:plugin/types": super::step::apirun::plugin::types,
            "apirun:plugin/host": super::step::apirun::plugin::host,
        },
    });
}

pub mod extractor {
    wasmtime::component::bindgen!({
        path: "wit/0.2.0",
        world: "extractor-plugin",
        imports: { default: async },
        exports: { default: async },
        with: {
            "apirun:plugin/types": super::step::apirun::plugin::types,
            "apirun:plugin/host": super::step::apirun::plugin::host,
        },
    });
}

use step::apirun::plugin::host as host_iface;
use step::apirun::plugin::types as wit;
use step::exports::apirun::plugin::step as step_iface;

pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    host_iface::add_to_linker::<PluginState, HasSelf<PluginState>>(linker, |s| s)?;
    wit::add_to_linker::<PluginState, HasSelf<PluginState>>(linker, |s| s)
}

// ---- host functions: the version-neutral ones in state.rs, converted ----

impl wit::Host for PluginState {}

impl host_iface::Host for PluginState {
    async fn send(
        &mut self,
        request: wit::HttpRequest,
    ) -> Result<wit::HttpResponse, wit::PluginError> {
        self.send_request(request.into())
            .await
            .map(Into::into)
            .map_err(Into::into)
    }

    async fn log(&mut self, level: host_iface::LogLevel, message: String) {
        use host_iface::LogLevel as L;
        let level = match level {
            L::Trace => tracing::Level::TRACE,
            L::Debug => tracing::Level::DEBUG,
            L::Info => tracing::Level::INFO,
            L::Warn => tracing::Level::WARN,
            L::Error => tracing::Level::ERROR,
        };
        self.log_line(level, &message);
    }
}

// ---- conversions between the 0.2 WIT types and the host's ----

impl From<wit::FollowRedirects> for FollowRedirects {
    fn from(f: wit::FollowRedirects) -> Self {
        match f {
            wit::FollowRedirects::None => FollowRedirects::None,
            wit::FollowRedirects::SameOrigin => FollowRedirects::SameOrigin,
            wit::FollowRedirects::Any => FollowRedirects::Any,
        }
    }
}

impl From<FollowRedirects> for wit::FollowRedirects {
    fn from(f: FollowRedirects) -> Self {
        match f {
            FollowRedirects::None => wit::FollowRedirects::None,
            FollowRedirects::SameOrigin => wit::FollowRedirects::SameOrigin,
            FollowRedirects::Any => wit::FollowRedirects::Any,
        }
    }
}

impl From<wit::HttpRequest> for Request {
    fn from(r: wit::HttpRequest) -> Self {
        Request {
            method: r.method,
            url: r.url,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
            timeout: r.timeout_ms.map(|ms| Duration::from_millis(u64::from(ms))),
            retry: r.retry,
            queries: Vec::new(),
            follow_redirects: r.follow_redirects.map(Into::into),
        }
    }
}

impl From<PluginResponse> for wit::HttpResponse {
    fn from(r: PluginResponse) -> Self {
        wit::HttpResponse {
            status: r.status,
            headers: headers(&r.headers),
            body: r.body,
        }
    }
}

impl From<wit::HttpResponse> for PluginResponse {
    fn from(r: wit::HttpResponse) -> Self {
        PluginResponse {
            status: r.status,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
            attempts: 1,
        }
    }
}

impl From<wit::PluginError> for PluginFailure {
    fn from(e: wit::PluginError) -> Self {
        match e {
            wit::PluginError::InvalidConfig(m) => PluginFailure::InvalidConfig(m),
            wit::PluginError::Transport(m) => PluginFailure::Transport(m),
            wit::PluginError::Denied(m) => PluginFailure::Denied(m),
            wit::PluginError::Failed(m) => PluginFailure::Failed(m),
        }
    }
}

impl From<PluginFailure> for wit::PluginError {
    fn from(e: PluginFailure) -> Self {
        match e {
            PluginFailure::InvalidConfig(m) => wit::PluginError::InvalidConfig(m),
            PluginFailure::Transport(m) => wit::PluginError::Transport(m),
            PluginFailure::Denied(m) => wit::PluginError::Denied(m),
            PluginFailure::Failed(m) => wit::PluginError::Failed(m),
        }
    }
}

impl From<&HttpStepRequest> for step_iface::HttpStepRequest {
    fn from(r: &HttpStepRequest) -> Self {
        step_iface::HttpStepRequest {
            method: r.method.clone(),
            url: r.url.clone(),
            headers: headers(&r.headers),
            queries: r
                .queries
                .iter()
                .map(|(name, value)| wit::QueryParam {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            body: r.body.clone(),
            timeout_ms: r.timeout.map(duration_ms),
            retry: r.retry,
            follow_redirects: r.follow_redirects.map(Into::into),
        }
    }
}

fn headers(pairs: &[(String, String)]) -> Vec<wit::Header> {
    pairs
        .iter()
        .map(|(name, value)| wit::Header {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

// ---- the calls ----

/// Where a 0.2 component's exports are, looked up once when it is linked;
/// each call loads them from the instance it runs in.
pub(crate) struct Exports {
    step: Option<step::StepPluginIndices>,
    auth: Option<auth::AuthPluginIndices>,
    extractor: Option<extractor::ExtractorPluginIndices>,
}

type CallResult<T> = wasmtime::Result<Result<T, PluginFailure>>;

impl Exports {
    pub fn new(pre: &InstancePre<PluginState>, kinds: &[PluginKind]) -> wasmtime::Result<Self> {
        let has = |kind| kinds.contains(&kind);
        Ok(Exports {
            step: has(PluginKind::Step)
                .then(|| step::StepPluginIndices::new(pre))
                .transpose()?,
            auth: has(PluginKind::Auth)
                .then(|| auth::AuthPluginIndices::new(pre))
                .transpose()?,
            extractor: has(PluginKind::Extractor)
                .then(|| extractor::ExtractorPluginIndices::new(pre))
                .transpose()?,
        })
    }

    pub async fn run(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        spec: &StepSpec,
        variables: &[(String, String)],
        config: &str,
    ) -> CallResult<StepOutcome> {
        let indices = self.step.as_ref().ok_or_else(|| missing("step"))?;
        let input = step_iface::StepInput {
            spec: match spec {
                StepSpec::Http(request) => step_iface::StepSpec::Http(request.into()),
                StepSpec::Custom(with) => step_iface::StepSpec::Custom(with.to_string()),
            },
            variables: variables
                .iter()
                .map(|(name, value)| wit::Variable {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            config: config.to_string(),
        };
        let world = indices.load(&mut *store, instance)?;
        let output = world
            .apirun_plugin_step()
            .call_run(&mut *store, &input)
            .await?;
        Ok(output
            .map(|o| StepOutcome {
                response: o.response.map(Into::into),
                variables: o.variables.into_iter().map(|v| (v.name, v.value)).collect(),
            })
            .map_err(Into::into))
    }

    pub async fn declared_variables(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        spec: &serde_json::Value,
        config: &str,
    ) -> CallResult<Vec<VariableDeclaration>> {
        let indices = self.step.as_ref().ok_or_else(|| missing("step"))?;
        let world = indices.load(&mut *store, instance)?;
        let declared = world
            .apirun_plugin_step()
            .call_declared_variables(&mut *store, &spec.to_string(), config)
            .await?;
        Ok(declared
            .map(|list| {
                list.into_iter()
                    .map(|d| VariableDeclaration {
                        name: d.name,
                        description: d.description,
                    })
                    .collect()
            })
            .map_err(Into::into))
    }

    pub async fn acquire(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        provider_config: &str,
        config: &str,
        state: Option<&str>,
    ) -> CallResult<Credential> {
        let indices = self.auth.as_ref().ok_or_else(|| missing("auth"))?;
        let input = auth::exports::apirun::plugin::auth::AcquireInput {
            provider_config: provider_config.to_string(),
            config: config.to_string(),
            state: state.map(str::to_string),
        };
        let world = indices.load(&mut *store, instance)?;
        let credential = world
            .apirun_plugin_auth()
            .call_acquire(&mut *store, &input)
            .await?;
        Ok(credential
            .map(|c| Credential {
                header_name: c.header_name,
                header_value: c.header_value,
                token: c.token,
                expires_in: c.expires_in_secs.map(Duration::from_secs),
                state: c.state,
            })
            .map_err(Into::into))
    }

    pub async fn extract(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        response: &PluginResponse,
        paths: &[String],
        config: &str,
    ) -> CallResult<Vec<Option<String>>> {
        let indices = self
            .extractor
            .as_ref()
            .ok_or_else(|| missing("extractor"))?;
        let input = extractor::exports::apirun::plugin::extractor::ExtractInput {
            status: response.status,
            headers: headers(&response.headers),
            body: response.body.clone(),
            content_type: response.header("content-type").map(str::to_string),
            config: config.to_string(),
        };
        let world = indices.load(&mut *store, instance)?;
        let values = world
            .apirun_plugin_extractor()
            .call_extract(&mut *store, &input, paths)
            .await?;
        Ok(values.map_err(Into::into))
    }

    /// Every 0.2 world exports `metadata`; any of the component's worlds will do.
    pub async fn metadata(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
    ) -> wasmtime::Result<Metadata> {
        let found = if let Some(indices) = &self.step {
            let world = indices.load(&mut *store, instance)?;
            world
                .apirun_plugin_metadata()
                .call_metadata(&mut *store)
                .await?
        } else if let Some(indices) = &self.auth {
            let world = indices.load(&mut *store, instance)?;
            let m = world
                .apirun_plugin_metadata()
                .call_metadata(&mut *store)
                .await?;
            step::exports::apirun::plugin::metadata::PluginMetadata {
                name: m.name,
                version: m.version,
                description: m.description,
            }
        } else if let Some(indices) = &self.extractor {
            let world = indices.load(&mut *store, instance)?;
            let m = world
                .apirun_plugin_metadata()
                .call_metadata(&mut *store)
                .await?;
            step::exports::apirun::plugin::metadata::PluginMetadata {
                name: m.name,
                version: m.version,
                description: m.description,
            }
        } else {
            return Err(missing("metadata"));
        };
        Ok(Metadata {
            name: found.name,
            version: found.version,
            description: found.description,
        })
    }
}

/// Unreachable in practice: `Plugin::new` checks the world first.
fn missing(what: &str) -> wasmtime::Error {
    wasmtime::format_err!("the component does not export apirun:plugin/{what}")
}

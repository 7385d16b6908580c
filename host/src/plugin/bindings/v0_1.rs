//! `apirun:plugin@0.1.x` (`wit/0.1.0/`): the first contract, still run.
//!
//! What 0.1 lacks is filled in here, so the rest of the host need not know:
//! the `http` step's typed request goes over as the JSON text 0.1 defined,
//! the static `config` reaches only the step world, auth has no state, and a
//! 0.1 component declares no variables and no metadata.

use std::time::Duration;

use serde_json::json;
use wasmtime::Store;
use wasmtime::component::{HasSelf, Instance, InstancePre, Linker};

use super::super::error::PluginFailure;
use super::super::state::PluginState;
use super::super::types::{
    Credential, HttpStepRequest, PluginResponse, StepOutcome, StepSpec, duration_ms,
};
use super::super::version::PluginKind;
use crate::transport::Request;

pub mod step {
    wasmtime::component::bindgen!({
        path: "wit/0.1.0",
        world: "step-plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

pub mod auth {
    wasmtime::component::bindgen!({
        path: "wit/0.1.0",
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
        path: "wit/0.1.0",
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

// ---- conversions between the 0.1 WIT types and the host's ----

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
            follow_redirects: None,
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

fn headers(pairs: &[(String, String)]) -> Vec<wit::Header> {
    pairs
        .iter()
        .map(|(name, value)| wit::Header {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// The JSON `spec` 0.1 defined for the http step:
/// `{"method","url","headers","queries","body","retry","timeout_ms"}`
/// (`timeout_ms` only when set; the body as text).
fn http_spec_json(request: &HttpStepRequest) -> serde_json::Value {
    let pairs = |items: &[(String, String)]| {
        items
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect::<Vec<_>>()
    };
    let mut spec = json!({
        "method": request.method,
        "url": request.url,
        "headers": pairs(&request.headers),
        "queries": pairs(&request.queries),
        "body": request.body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()),
        "retry": request.retry,
    });
    if let Some(timeout) = request.timeout {
        spec["timeout_ms"] = json!(duration_ms(timeout));
    }
    spec
}

// ---- the calls ----

/// Where a 0.1 component's exports are, looked up once when it is linked;
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
        let spec = match spec {
            StepSpec::Http(request) => http_spec_json(request),
            StepSpec::Custom(with) => with.clone(),
        };
        let input = step::exports::apirun::plugin::step::StepInput {
            spec: spec.to_string(),
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

    pub async fn acquire(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        provider_config: &str,
    ) -> CallResult<Credential> {
        let indices = self.auth.as_ref().ok_or_else(|| missing("auth"))?;
        let world = indices.load(&mut *store, instance)?;
        let credential = world
            .apirun_plugin_auth()
            .call_acquire(&mut *store, provider_config)
            .await?;
        Ok(credential
            .map(|c| Credential {
                header_name: c.header_name,
                header_value: c.header_value,
                token: c.token,
                expires_in: c.expires_in_secs.map(Duration::from_secs),
                state: None,
            })
            .map_err(Into::into))
    }

    pub async fn extract(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        response: &PluginResponse,
        paths: &[String],
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
        };
        let world = indices.load(&mut *store, instance)?;
        let values = world
            .apirun_plugin_extractor()
            .call_extract(&mut *store, &input, paths)
            .await?;
        Ok(values.map_err(Into::into))
    }
}

/// Unreachable in practice: `Plugin::new` checks the world first.
fn missing(what: &str) -> wasmtime::Error {
    wasmtime::format_err!("the component does not export apirun:plugin/{what}")
}

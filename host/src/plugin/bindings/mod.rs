//! Host-side bindings, one module per contract version: `v0_1` for
//! `wit/0.1.0/`, `v0_2` for `wit/0.2.0/` (as Zed's extension host keeps one
//! `since_vX` module per API version). [`Exports`] is the one enum over the
//! versioned bindings; the runtime calls a plugin through it and never
//! names a version. Each version module holds its `From` conversions between
//! its WIT types and the host's (`plugin::types`, `transport`).
//!
//! Adding a version: copy `wit/<latest>/` to `wit/<new>/`, add a module
//! here, a variant to [`Exports`] and [`Contract`], and convert what changed.

pub(crate) mod v0_1;
pub(crate) mod v0_2;

use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker};

use super::error::PluginFailure;
use super::state::PluginState;
use super::types::{
    Credential, Metadata, PluginResponse, StepOutcome, StepSpec, VariableDeclaration,
};
use super::version::{Contract, PluginKind};

/// Adds every version's `host` and `types` imports to the linker.
pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    v0_1::add_to_linker(linker)?;
    v0_2::add_to_linker(linker)
}

/// A component's pre-linked exports, for the contract version it was built against.
pub(crate) enum Exports {
    V0_1(v0_1::Exports),
    V0_2(v0_2::Exports),
}

type CallResult<T> = wasmtime::Result<Result<T, PluginFailure>>;

impl Exports {
    pub fn new(
        contract: Contract,
        pre: &InstancePre<PluginState>,
        kinds: &[PluginKind],
    ) -> wasmtime::Result<Self> {
        Ok(match contract {
            Contract::V0_1 => Exports::V0_1(v0_1::Exports::new(pre, kinds)?),
            Contract::V0_2 => Exports::V0_2(v0_2::Exports::new(pre, kinds)?),
        })
    }

    pub async fn run(
        &self,
        store: &mut Store<PluginState>,
        spec: &StepSpec,
        variables: &[(String, String)],
        config: &str,
    ) -> CallResult<StepOutcome> {
        match self {
            Exports::V0_1(e) => e.run(store, spec, variables, config).await,
            Exports::V0_2(e) => e.run(store, spec, variables, config).await,
        }
    }

    /// The variables a step declares it sets; 0.1 has no way to say (None).
    pub async fn declared_variables(
        &self,
        store: &mut Store<PluginState>,
        spec: &serde_json::Value,
        config: &str,
    ) -> CallResult<Option<Vec<VariableDeclaration>>> {
        match self {
            Exports::V0_1(_) => Ok(Ok(None)),
            Exports::V0_2(e) => Ok(e.declared_variables(store, spec, config).await?.map(Some)),
        }
    }

    pub async fn acquire(
        &self,
        store: &mut Store<PluginState>,
        provider_config: &str,
        config: &str,
        state: Option<&str>,
    ) -> CallResult<Credential> {
        match self {
            Exports::V0_1(e) => e.acquire(store, provider_config).await,
            Exports::V0_2(e) => e.acquire(store, provider_config, config, state).await,
        }
    }

    pub async fn extract(
        &self,
        store: &mut Store<PluginState>,
        response: &PluginResponse,
        paths: &[String],
        config: &str,
    ) -> CallResult<Vec<Option<String>>> {
        match self {
            Exports::V0_1(e) => e.extract(store, response, paths).await,
            Exports::V0_2(e) => e.extract(store, response, paths, config).await,
        }
    }

    /// What the plugin says about itself; a 0.1 component says nothing (None).
    pub async fn metadata(&self, store: &mut Store<PluginState>) -> CallResult<Option<Metadata>> {
        match self {
            Exports::V0_1(_) => Ok(Ok(None)),
            Exports::V0_2(e) => Ok(Ok(Some(e.metadata(store).await?))),
        }
    }
}

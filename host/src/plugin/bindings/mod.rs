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
use wasmtime::component::{Instance, InstancePre, Linker};

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

/// A component pre-linked (its `InstancePre`) with where its exports are,
/// for the contract version it was built against. Instantiating and calling
/// are separate steps, so one instance can serve several calls where the
/// runtime allows it (`plugin::Plugin`, "Instances").
pub(crate) struct Exports {
    pre: InstancePre<PluginState>,
    api: Api,
}

enum Api {
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
        let api = match contract {
            Contract::V0_1 => Api::V0_1(v0_1::Exports::new(pre, kinds)?),
            Contract::V0_2 => Api::V0_2(v0_2::Exports::new(pre, kinds)?),
        };
        Ok(Exports {
            pre: pre.clone(),
            api,
        })
    }

    /// A new instance of the component in `store`.
    pub async fn instantiate(&self, store: &mut Store<PluginState>) -> wasmtime::Result<Instance> {
        self.pre.instantiate_async(store).await
    }

    pub async fn run(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        spec: &StepSpec,
        variables: &[(String, String)],
        config: &str,
    ) -> CallResult<StepOutcome> {
        match &self.api {
            Api::V0_1(e) => e.run(store, instance, spec, variables, config).await,
            Api::V0_2(e) => e.run(store, instance, spec, variables, config).await,
        }
    }

    /// The variables a step declares it sets; 0.1 has no way to say (None).
    pub async fn declared_variables(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        spec: &serde_json::Value,
        config: &str,
    ) -> CallResult<Option<Vec<VariableDeclaration>>> {
        match &self.api {
            Api::V0_1(_) => Ok(Ok(None)),
            Api::V0_2(e) => Ok(e
                .declared_variables(store, instance, spec, config)
                .await?
                .map(Some)),
        }
    }

    pub async fn acquire(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        provider_config: &str,
        config: &str,
        state: Option<&str>,
    ) -> CallResult<Credential> {
        match &self.api {
            Api::V0_1(e) => e.acquire(store, instance, provider_config).await,
            Api::V0_2(e) => {
                e.acquire(store, instance, provider_config, config, state)
                    .await
            }
        }
    }

    pub async fn extract(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
        response: &PluginResponse,
        paths: &[String],
        config: &str,
    ) -> CallResult<Vec<Option<String>>> {
        match &self.api {
            Api::V0_1(e) => e.extract(store, instance, response, paths).await,
            Api::V0_2(e) => e.extract(store, instance, response, paths, config).await,
        }
    }

    /// What the plugin says about itself; a 0.1 component says nothing (None).
    pub async fn metadata(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
    ) -> CallResult<Option<Metadata>> {
        match &self.api {
            Api::V0_1(_) => Ok(Ok(None)),
            Api::V0_2(e) => Ok(Ok(Some(e.metadata(store, instance).await?))),
        }
    }
}

//! The plugin runtime: WebAssembly components behind the WIT contract in
//! `wit/<version>/plugin.wit` (0.1.x and 0.2.x run side by side:
//! [`bindings`] holds one module per version and one enum over them), run
//! with wasmtime.
//!
//! - One [`wasmtime::Engine`] per [`PluginRuntime`] (one per process in the CLI).
//! - Components are compiled once and cached on disk ([`cache`]); each is
//!   pre-linked once (an `InstancePre`).
//! - Instances: a third-party plugin gets a fresh `Store` and instance for
//!   every call, so its calls share no state and a crashed call leaves
//!   nothing behind. A built-in plugin (our own code, which keeps nothing
//!   between calls), or a `plugins:` entry that opts in with
//!   `reuse_instance: true`, keeps its instance for the next call of the
//!   same plugin in the same stage: instantiating is then paid once per run
//!   instead of per call (docs/performance.md). A kept instance is dropped
//!   after a trap, a timeout, a memory overrun, or a call that grew its
//!   memory past [`WARM_MAX_MEMORY`]; at most [`MAX_WARM`] are kept at once.
//!   Instances come from wasmtime's pooling allocator (reused memory, table
//!   and stack slots), which keeps instantiation cheap.
//! - No WASI preopens, environment or sockets: a plugin reaches the network
//!   only through the host's `send`, which enforces its `allowed_hosts`.
//! - Per-call limits: guest execution time (epoch interruption; time the host
//!   spends sending requests for the plugin is not counted, those have their
//!   own HTTP timeouts) and linear memory (a store limiter).

mod bindings;
pub mod builtin;
mod cache;
mod error;
pub mod inspect;
mod instances;
pub mod policy;
pub mod registry;
mod state;
mod types;
mod version;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Instance, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};

pub use builtin::{BUILTINS, Builtin};
pub use cache::{CompileCache, LoadSource};
pub use error::{PluginError, PluginFailure};
pub use policy::AllowedHosts;
pub use registry::{PluginSet, PluginSource};
pub use state::HostServices;
pub use types::{
    Credential, HttpStepRequest, Metadata, PluginResponse, StepOutcome, StepSpec,
    VariableDeclaration,
};
pub use version::{
    ComponentInfo, Contract, HOST_WIT_VERSION, HOST_WIT_VERSIONS, PluginKind, compatible,
    host_version, host_versions, host_versions_text, supported,
};

use crate::transport::FollowRedirects;
use bindings::Exports;
use instances::{CallInstance, Warm};
pub use instances::{MAX_WARM, WARM_MAX_MEMORY};
use state::PluginState;

/// How often the epoch advances; the time limit is checked at this granularity.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Ticks between two checks of a running call's time budget.
const CHECK_EVERY_TICKS: u64 = 5;

/// Plugin instances that may be alive at once in one runtime; further calls
/// wait for a free slot (see [`PluginRuntime::slot`]).
const POOL_INSTANCES: u32 = 32;

/// Limits applied to every plugin call.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Guest execution time per call (host I/O excluded).
    pub time: Duration,
    /// Linear memory per call.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(10),
            memory_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled components are cached; None disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    pub limits: Limits,
    /// Use wasmtime's pooling allocator (the default): faster per-call
    /// instantiation, at the price of reserving address space up front
    /// (about 0.5 TiB of virtual memory, not RAM). `false` allocates each
    /// instance on demand, for environments that cap virtual memory.
    pub pooling: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            cache_dir: CompileCache::default_dir(),
            limits: Limits::default(),
            pooling: true,
        }
    }
}

/// The engine, the linker with the host functions, and the loaded components.
pub struct PluginRuntime {
    /// This runtime itself, so `&self` methods can bind plugins (which hold an `Arc`).
    me: std::sync::Weak<PluginRuntime>,
    engine: Engine,
    linker: Linker<PluginState>,
    cache: Option<CompileCache>,
    loaded: Mutex<HashMap<String, Arc<LoadedComponent>>>,
    limits: Limits,
    /// One permit per instance slot of the pooling allocator, so that many
    /// concurrent calls queue instead of failing with "pool exhausted".
    slots: Arc<tokio::sync::Semaphore>,
    /// Instances kept between calls now (at most [`MAX_WARM`]).
    warm: Arc<AtomicUsize>,
    /// Instances created so far (for `-vv` and the tests of reuse).
    instantiations: AtomicU64,
}

/// A compiled, pre-linked component (shared by every plugin that uses the same bytes).
pub struct LoadedComponent {
    digest: String,
    info: ComponentInfo,
    source: LoadSource,
    compile_time: Duration,
    /// The contract version it was built against.
    contract: Contract,
    exports: Exports,
}

impl LoadedComponent {
    pub fn info(&self) -> &ComponentInfo {
        &self.info
    }
    pub fn digest(&self) -> &str {
        &self.digest
    }
    /// Where this load came from (compiled now, disk cache, or memory).
    pub fn source(&self) -> LoadSource {
        self.source
    }
    /// Time spent compiling or deserialising it.
    pub fn load_time(&self) -> Duration {
        self.compile_time
    }
    pub fn kinds(&self) -> Vec<PluginKind> {
        self.info.worlds.iter().map(|(kind, _)| *kind).collect()
    }
    pub fn contract(&self) -> Contract {
        self.contract
    }
}

impl PluginRuntime {
    pub fn new(options: RuntimeOptions) -> Result<Arc<Self>, PluginError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        // Every call instantiates afresh, so instantiation is the per-call
        // cost: the pooling allocator reuses pre-reserved memory, table and
        // fiber-stack slots instead of mmap/munmap per call
        // (host/benches/plugins.rs measures the difference).
        if options.pooling {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config(
                &options.limits,
            )));
        }
        let engine = Engine::new(&config).map_err(|e| PluginError::Compile {
            plugin: "<engine>".into(),
            message: format!("{e:#}"),
        })?;
        start_epoch_ticker(&engine);

        let mut linker: Linker<PluginState> = Linker::new(&engine);
        let link_err = |e: wasmtime::Error| PluginError::Link {
            plugin: "<host>".into(),
            message: format!("{e:#}"),
        };
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link_err)?;
        bindings::add_to_linker(&mut linker).map_err(link_err)?;

        let cache =
            options
                .cache_dir
                .and_then(|dir| match CompileCache::new(dir.clone(), &engine) {
                    Ok(cache) => Some(cache),
                    Err(e) => {
                        tracing::warn!(
                            "plugin compile cache disabled: cannot use {}: {e}",
                            dir.display()
                        );
                        None
                    }
                });
        Ok(Arc::new_cyclic(|me| PluginRuntime {
            me: me.clone(),
            engine,
            linker,
            cache,
            loaded: Mutex::new(HashMap::new()),
            limits: options.limits,
            slots: Arc::new(tokio::sync::Semaphore::new(POOL_INSTANCES as usize)),
            warm: Arc::new(AtomicUsize::new(0)),
            instantiations: AtomicU64::new(0),
        }))
    }

    /// Wait for a free instance slot; hold the permit until the instance's
    /// store is dropped. (The semaphore is never closed, so this always
    /// succeeds.)
    async fn slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.slots.clone().acquire_owned().await.ok()
    }

    /// How many plugin instances this runtime has created.
    pub fn instantiations(&self) -> u64 {
        self.instantiations.load(Ordering::Relaxed)
    }

    pub fn cache(&self) -> Option<&CompileCache> {
        self.cache.as_ref()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Load a built-in plugin.
    pub fn load_builtin(&self, builtin: &Builtin) -> Result<Arc<LoadedComponent>, PluginError> {
        self.load_bytes(builtin.name, builtin.wasm)
    }

    /// Load a component from a `.wasm` file.
    pub fn load_file(&self, name: &str, path: &Path) -> Result<Arc<LoadedComponent>, PluginError> {
        self.load_file_pinned(name, path, None)
    }

    /// Load a component from a `.wasm` file whose SHA-256 must be `sha256`
    /// (lower-case hex) when given: checked on the bytes read, before they
    /// are compiled or looked up in the cache.
    pub fn load_file_pinned(
        &self,
        name: &str,
        path: &Path,
        sha256: Option<&str>,
    ) -> Result<Arc<LoadedComponent>, PluginError> {
        let bytes = read_component(name, path)?;
        if let Some(expected) = sha256 {
            let actual = hex::encode(Sha256::digest(&bytes));
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(PluginError::DigestMismatch {
                    plugin: name.to_string(),
                    path: path.to_path_buf(),
                    expected: expected.to_string(),
                    actual,
                });
            }
        }
        self.load_bytes(name, &bytes)
    }

    /// Load a component from its bytes: from memory if this process already
    /// did, else from the disk cache, else compile it.
    pub fn load_bytes(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<Arc<LoadedComponent>, PluginError> {
        let digest = hex::encode(Sha256::digest(bytes));
        if let Some(found) = self.lock_loaded().get(&digest) {
            return Ok(found.clone());
        }
        let started = Instant::now();
        let compile_err = |e: wasmtime::Error| PluginError::Compile {
            plugin: name.to_string(),
            message: format!("{e:#}"),
        };
        let (component, source) = match &self.cache {
            Some(cache) => cache
                .load_or_compile(&self.engine, &digest, bytes)
                .map_err(compile_err)?,
            None => (
                Component::new(&self.engine, bytes).map_err(compile_err)?,
                LoadSource::Compiled,
            ),
        };
        let compile_time = started.elapsed();
        let loaded = Arc::new(self.link(name, digest.clone(), component, source, compile_time)?);
        self.lock_loaded().insert(digest, loaded.clone());
        Ok(loaded)
    }

    fn lock_loaded(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LoadedComponent>>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (single insert/get), so a poisoned lock is still usable.
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn link(
        &self,
        name: &str,
        digest: String,
        component: Component,
        source: LoadSource,
        compile_time: Duration,
    ) -> Result<LoadedComponent, PluginError> {
        let info = version::inspect(&self.engine, &component);
        if info.worlds.is_empty() {
            return Err(PluginError::Compile {
                plugin: name.to_string(),
                message: format!(
                    "it exports no apirun:plugin world (step, auth or extractor); its exports: {}",
                    if info.exports.is_empty() {
                        "none".to_string()
                    } else {
                        info.exports.join(", ")
                    }
                ),
            });
        }
        // One component, one contract version: its worlds' versions must
        // all map to the same binding.
        let mut contract = None;
        for (_, found) in &info.worlds {
            let Some(this) = Contract::for_version(found) else {
                return Err(PluginError::Incompatible {
                    plugin: name.to_string(),
                    found: found.clone(),
                    host: host_version(),
                    supported: host_versions_text(),
                });
            };
            if contract.is_some_and(|c| c != this) {
                return Err(PluginError::Compile {
                    plugin: name.to_string(),
                    message: "it exports worlds of different apirun:plugin versions; build it against one".into(),
                });
            }
            contract = Some(this);
        }
        let contract = contract.unwrap_or(Contract::V0_2);
        let link_err = |e: wasmtime::Error| PluginError::Link {
            plugin: name.to_string(),
            message: format!("{e:#}"),
        };
        let pre = self.linker.instantiate_pre(&component).map_err(link_err)?;
        let exports = Exports::new(contract, &pre, &info.kinds()).map_err(link_err)?;
        Ok(LoadedComponent {
            digest,
            info,
            source,
            compile_time,
            contract,
            exports,
        })
    }

    /// What a loaded component says about itself (WIT 0.2 `metadata`; None
    /// for a 0.1 component), asked with no network and no config.
    pub async fn metadata(
        &self,
        name: &str,
        component: &Arc<LoadedComponent>,
    ) -> Result<Option<Metadata>, PluginError> {
        let Some(kind) = component.kinds().first().copied() else {
            return Ok(None);
        };
        self.offline(name, component, kind, &serde_json::Value::Null)?
            .metadata()
            .await
    }

    /// `component` bound as a plugin that may send nothing: for questions
    /// asked outside a run (metadata, declared variables).
    pub fn offline(
        &self,
        name: &str,
        component: &Arc<LoadedComponent>,
        kind: PluginKind,
        config: &serde_json::Value,
    ) -> Result<Plugin, PluginError> {
        let failed = |message: String| PluginError::Returned {
            plugin: name.to_string(),
            failure: PluginFailure::Failed(message),
        };
        let runtime = self
            .me
            .upgrade()
            .ok_or_else(|| failed("the plugin runtime is shutting down".into()))?;
        let http = crate::transport::HttpClient::new(Default::default())
            .map_err(|e| failed(e.to_string()))?;
        let services = HostServices {
            plugin_name: name.to_string(),
            http,
            allowed_hosts: AllowedHosts::none(),
        };
        Plugin::new(runtime, component.clone(), kind, services, config)
    }

    /// Inspect a component file without running it: the worlds and version
    /// it implements and what it imports.
    pub fn inspect_file(&self, path: &Path) -> Result<ComponentInfo, PluginError> {
        let name = path.display().to_string();
        let bytes = read_component(&name, path)?;
        self.inspect_bytes(&name, &bytes)
    }

    /// As [`Self::inspect_file`], for bytes already read. Goes through the
    /// compile cache: a component refused at link time was compiled (and
    /// cached) by the load that refused it.
    pub fn inspect_bytes(&self, name: &str, bytes: &[u8]) -> Result<ComponentInfo, PluginError> {
        let compile_err = |e: wasmtime::Error| PluginError::Compile {
            plugin: name.to_string(),
            message: format!("{e:#}"),
        };
        let component = match &self.cache {
            Some(cache) => {
                let digest = hex::encode(Sha256::digest(bytes));
                cache
                    .load_or_compile(&self.engine, &digest, bytes)
                    .map_err(compile_err)?
                    .0
            }
            None => Component::new(&self.engine, bytes).map_err(compile_err)?,
        };
        Ok(version::inspect(&self.engine, &component))
    }

    fn new_store(
        &self,
        services: Arc<HostServices>,
        follow_redirects: Option<FollowRedirects>,
    ) -> Store<PluginState> {
        let mut store = Store::new(
            &self.engine,
            PluginState::new(services, self.limits.memory_bytes, follow_redirects),
        );
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(CHECK_EVERY_TICKS);
        let budget = self.limits.time;
        store.epoch_deadline_callback(move |ctx| {
            if ctx.data().guest_time() > budget {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Yield so other stages' tasks keep running while this one computes.
                Ok(UpdateDeadline::Yield(CHECK_EVERY_TICKS))
            }
        });
        store
    }

    fn classify(
        &self,
        plugin: &str,
        store: &Store<PluginState>,
        error: wasmtime::Error,
    ) -> PluginError {
        if store.data().limiter.exceeded {
            return PluginError::MemoryExceeded {
                plugin: plugin.to_string(),
                limit_bytes: self.limits.memory_bytes,
            };
        }
        if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return PluginError::Timeout {
                plugin: plugin.to_string(),
                limit: self.limits.time,
            };
        }
        // One line for the user: what trapped ("wasm `unreachable`
        // instruction executed"). The wasm backtrace wasmtime attaches (often
        // twenty lines) is for the plugin's author: debug level.
        tracing::debug!("plugin `{plugin}` trapped: {error:?}");
        PluginError::Trap {
            plugin: plugin.to_string(),
            message: trap_summary(&error),
        }
    }
}

/// The one-line reason of a failed plugin call: the trap code when wasmtime
/// reports one, else the innermost error's first line (a host function's
/// error, an instantiation failure).
fn trap_summary(error: &wasmtime::Error) -> String {
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return format!("wasm trap: {trap}");
    }
    let root = error.root_cause().to_string();
    let first = root.lines().map(str::trim).find(|l| !l.is_empty());
    crate::output::escape_line(first.unwrap_or("unknown error")).into_owned()
}

/// Pool sizes: generous per component (componentize-py and jco components
/// have many core instances and large tables), bounded in total. Memory slots
/// are address-space reservations, committed only as a plugin touches them.
fn pooling_config(limits: &Limits) -> PoolingAllocationConfig {
    const WASM_PAGE: usize = 64 * 1024;
    let max_memory = limits
        .memory_bytes
        .div_ceil(WASM_PAGE)
        .saturating_mul(WASM_PAGE)
        .clamp(WASM_PAGE, 1 << 32);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 32)
        .total_memories(POOL_INSTANCES * 4)
        .total_tables(POOL_INSTANCES * 8)
        .total_stacks(POOL_INSTANCES)
        .max_tables_per_module(4)
        .table_elements(100_000)
        // The store limiter sees a growth first and reports MemoryExceeded;
        // this is the hard ceiling behind it.
        .max_memory_size(max_memory)
        // Reset cost per call (every call gets a fresh instance): the first
        // KEEP_RESIDENT bytes of a slot's memory and table are restored with
        // memset instead of handed back to the kernel with madvise, and with
        // pagemap_scan (Linux 6.7+) only the pages the call touched are
        // restored. madvise on a process with several threads costs a TLB
        // shootdown on other cores (issue 11's profile). Either way the next
        // instance starts from a clean image: no data crosses calls
        // (docs/security.md), only fewer page faults and system calls.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT / 16)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

/// Bytes of each pooled memory reset in place between calls (1 MiB: about
/// what a built-in plugin touches per call). See [`pooling_config`].
const KEEP_RESIDENT: usize = 1 << 20;

/// Advance the engine's epoch on a background thread; stops when the engine
/// is dropped (the thread holds only a weak reference).
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("apirun-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(|_| ())
        .unwrap_or_else(|e| tracing::warn!("no epoch thread ({e}); plugin time limits are off"));
}

/// A loaded component bound to a name, a world, its host services
/// (HTTP client, allowed hosts) and its static config.
#[derive(Clone)]
pub struct Plugin {
    name: String,
    kind: PluginKind,
    runtime: Arc<PluginRuntime>,
    component: Arc<LoadedComponent>,
    services: Arc<HostServices>,
    /// The `plugins:` entry's static `config:` as JSON ("null" when absent).
    config_json: Arc<str>,
    /// The instance kept for the next call, shared by the clones of this
    /// plugin; None when every call gets a fresh instance (see "Instances").
    warm: Option<Arc<Mutex<Option<Warm>>>>,
}

impl Plugin {
    /// Bind `component` as a plugin of `kind`; refuses a component of another world.
    pub fn new(
        runtime: Arc<PluginRuntime>,
        component: Arc<LoadedComponent>,
        kind: PluginKind,
        services: HostServices,
        config: &serde_json::Value,
    ) -> Result<Self, PluginError> {
        let name = services.plugin_name.clone();
        if !component.kinds().contains(&kind) {
            let found_kinds = component
                .kinds()
                .iter()
                .map(|k| k.world())
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(PluginError::WrongWorld {
                plugin: name,
                expected: kind,
                found: component
                    .info
                    .exports
                    .iter()
                    .filter(|e| e.starts_with("apirun:"))
                    .cloned()
                    .collect(),
                found_kinds: if found_kinds.is_empty() {
                    "nothing".into()
                } else {
                    found_kinds
                },
            });
        }
        Ok(Plugin {
            name,
            kind,
            runtime,
            component,
            services: Arc::new(services),
            config_json: config.to_string().into(),
            warm: None,
        })
    }

    /// Keep the instance between this plugin's calls (see "Instances" in
    /// the module docs): for the built-ins, and for `plugins:` entries with
    /// `reuse_instance: true`.
    pub fn reuse_instance(mut self, reuse: bool) -> Self {
        self.warm = reuse.then(|| Arc::new(Mutex::new(None)));
        self
    }

    /// Whether calls of this plugin may share an instance.
    pub fn reuses_instance(&self) -> bool {
        self.warm.is_some()
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn kind(&self) -> PluginKind {
        self.kind
    }
    pub fn component(&self) -> &Arc<LoadedComponent> {
        &self.component
    }

    /// Every plugin call: an instance (kept from the previous call, or a
    /// fresh store with its limits and epoch budget, after waiting for a
    /// pool slot), the call itself through the versioned [`Exports`], then
    /// one classification of what went wrong. `call` gets the store by value
    /// and hands it back, so the future may borrow the call's input.
    async fn call<'s, T, F, Fut>(
        &'s self,
        follow: Option<FollowRedirects>,
        call: F,
    ) -> Result<T, PluginError>
    where
        F: FnOnce(&'s Exports, Store<PluginState>, Instance) -> Fut,
        Fut: std::future::Future<
                Output = (
                    Store<PluginState>,
                    wasmtime::Result<Result<T, PluginFailure>>,
                ),
            >,
    {
        let CallInstance {
            store,
            instance,
            slot,
            ticket,
        } = self.instance(follow).await?;
        let (mut store, result) = call(&self.component.exports, store, instance).await;
        // A send the server may have applied makes the call's failure an
        // unknown outcome, whatever the plugin made of it.
        let unknown = match result {
            Ok(Ok(_)) => None,
            _ => store.data_mut().outcome_unknown.take(),
        };
        let result = match result {
            // A trap (a crash, the time or memory limit) leaves the instance
            // in an unknown state: it is dropped with its store.
            Err(trap) => Err(self.runtime.classify(&self.name, &store, trap)),
            Ok(returned) => {
                self.keep(store, instance, slot, ticket);
                returned.map_err(|failure| self.returned(failure))
            }
        };
        match unknown {
            Some(message) => Err(PluginError::OutcomeUnknown {
                plugin: self.name.clone(),
                message,
            }),
            None => result,
        }
    }

    /// A plugin's own error. Its message is put on one line with control
    /// characters escaped: it often quotes a server (a token endpoint's
    /// answer), and a plugin is not trusted to keep the terminal intact.
    fn returned(&self, failure: PluginFailure) -> PluginError {
        let line = |m: String| crate::output::escape_line(&m).into_owned();
        PluginError::Returned {
            plugin: self.name.clone(),
            failure: match failure {
                PluginFailure::InvalidConfig(m) => PluginFailure::InvalidConfig(line(m)),
                PluginFailure::Transport(m) => PluginFailure::Transport(line(m)),
                PluginFailure::Denied(m) => PluginFailure::Denied(line(m)),
                PluginFailure::Failed(m) => PluginFailure::Failed(line(m)),
            },
        }
    }

    /// Run a step. An `http` spec's `follow_redirects` (None: the plugin's
    /// default, see `PluginState::new`) is also the default of the call's
    /// sends, so a 0.1 `http` replacement, which cannot be told, follows it
    /// too. Hops are always checked against the plugin's `allowed_hosts`.
    pub async fn run_step(
        &self,
        spec: &StepSpec,
        variables: &[(String, String)],
    ) -> Result<StepOutcome, PluginError> {
        self.expect(PluginKind::Step)?;
        let follow = match spec {
            StepSpec::Http(request) => request.follow_redirects,
            StepSpec::Custom(_) => None,
        };
        let config = self.config_json.clone();
        self.call(follow, |exports, mut store, instance| async move {
            let result = exports
                .run(&mut store, &instance, spec, variables, &config)
                .await;
            (store, result)
        })
        .await
    }

    /// The variables a step with this `with:` block (unrendered) declares it
    /// sets; None when the component cannot say (a 0.1 component).
    pub async fn declared_variables(
        &self,
        with: &serde_json::Value,
    ) -> Result<Option<Vec<VariableDeclaration>>, PluginError> {
        self.expect(PluginKind::Step)?;
        let config = self.config_json.clone();
        self.call(None, |exports, mut store, instance| async move {
            let result = exports
                .declared_variables(&mut store, &instance, with, &config)
                .await;
            (store, result)
        })
        .await
    }

    /// Acquire a credential; `config` is the provider's rendered config.
    pub async fn acquire(&self, config: &serde_json::Value) -> Result<Credential, PluginError> {
        self.acquire_with(config, None).await
    }

    /// Acquire a credential, handing the plugin the state its previous
    /// acquisition returned (WIT 0.2; a 0.1 plugin never sees it).
    pub async fn acquire_with(
        &self,
        provider_config: &serde_json::Value,
        state: Option<&str>,
    ) -> Result<Credential, PluginError> {
        self.expect(PluginKind::Auth)?;
        let provider_config = provider_config.to_string();
        let config = self.config_json.clone();
        self.call(None, |exports, mut store, instance| async move {
            let result = exports
                .acquire(&mut store, &instance, &provider_config, &config, state)
                .await;
            (store, result)
        })
        .await
    }

    /// Extract `paths` from a response; one optional value per path.
    pub async fn extract(
        &self,
        response: &PluginResponse,
        paths: &[String],
    ) -> Result<Vec<Option<String>>, PluginError> {
        self.expect(PluginKind::Extractor)?;
        let config = self.config_json.clone();
        let values = self
            .call(None, |exports, mut store, instance| async move {
                let result = exports
                    .extract(&mut store, &instance, response, paths, &config)
                    .await;
                (store, result)
            })
            .await?;
        if values.len() != paths.len() {
            return Err(PluginError::Returned {
                plugin: self.name.clone(),
                failure: PluginFailure::Failed(format!(
                    "returned {} values for {} paths",
                    values.len(),
                    paths.len()
                )),
            });
        }
        Ok(values)
    }

    /// What the plugin says about itself (None for a 0.1 component).
    pub async fn metadata(&self) -> Result<Option<Metadata>, PluginError> {
        self.call(None, |exports, mut store, instance| async move {
            let result = exports.metadata(&mut store, &instance).await;
            (store, result)
        })
        .await
    }

    fn expect(&self, kind: PluginKind) -> Result<(), PluginError> {
        if self.kind == kind && self.component.kinds().contains(&kind) {
            return Ok(());
        }
        Err(PluginError::WrongWorld {
            plugin: self.name.clone(),
            expected: kind,
            found: Vec::new(),
            found_kinds: self.kind.world().into(),
        })
    }
}

/// Reads a component file through the checks every user-named file gets (regular file,
/// size limit, WebAssembly magic first: see config/files.rs).
pub fn read_component(name: &str, path: &Path) -> Result<Vec<u8>, PluginError> {
    use crate::config::files;
    files::read(path, files::FileKind::Plugin).map_err(|e| match e {
        // Same error as a component that fails to compile, found before reading it whole.
        files::FileError::BadMagic { .. } => PluginError::Compile {
            plugin: name.to_string(),
            message: format!("{} does not start with \\0asm", path.display()),
        },
        e => PluginError::Read {
            plugin: name.to_string(),
            path: path.to_path_buf(),
            source: std::io::Error::new(
                e.io_kind().unwrap_or(std::io::ErrorKind::InvalidData),
                e.reason(),
            ),
        },
    })
}

//! The plugin runtime: WebAssembly components behind the WIT contract in
//! `wit/plugin.wit`, run with wasmtime.
//!
//! - One [`wasmtime::Engine`] per [`PluginRuntime`] (one per process in the CLI).
//! - Components are compiled once and cached on disk ([`cache`]); each is
//!   pre-linked once (an `InstancePre`), and every call gets a fresh `Store`,
//!   so calls share no state and a crashed call leaves nothing behind.
//!   Instances come from wasmtime's pooling allocator (reused memory, table
//!   and stack slots), which keeps that per-call instantiation cheap.
//! - No WASI preopens, environment or sockets: a plugin reaches the network
//!   only through the host's `send`, which enforces its `allowed_hosts`.
//! - Per-call limits: guest execution time (epoch interruption; time the host
//!   spends sending requests for the plugin is not counted, those have their
//!   own HTTP timeouts) and linear memory (a store limiter).

mod bindings;
pub mod builtin;
mod cache;
mod error;
pub mod policy;
pub mod registry;
mod state;
mod version;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
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
pub use version::{ComponentInfo, HOST_WIT_VERSION, PluginKind, compatible, host_version};

use crate::transport::FollowRedirects;
use bindings::types as wit;
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
    engine: Engine,
    linker: Linker<PluginState>,
    cache: Option<CompileCache>,
    loaded: Mutex<HashMap<String, Arc<LoadedComponent>>>,
    limits: Limits,
    /// One permit per instance slot of the pooling allocator, so that many
    /// concurrent calls queue instead of failing with "pool exhausted".
    slots: tokio::sync::Semaphore,
}

/// A compiled, pre-linked component (shared by every plugin that uses the same bytes).
pub struct LoadedComponent {
    digest: String,
    info: ComponentInfo,
    source: LoadSource,
    compile_time: Duration,
    step: Option<bindings::step::StepPluginPre<PluginState>>,
    auth: Option<bindings::auth::AuthPluginPre<PluginState>>,
    extractor: Option<bindings::extractor::ExtractorPluginPre<PluginState>>,
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
        bindings::host_iface::add_to_linker::<PluginState, HasSelf<PluginState>>(
            &mut linker,
            |s| s,
        )
        .map_err(link_err)?;
        bindings::types::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)
            .map_err(link_err)?;

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
        Ok(Arc::new(PluginRuntime {
            engine,
            linker,
            cache,
            loaded: Mutex::new(HashMap::new()),
            limits: options.limits,
            slots: tokio::sync::Semaphore::new(POOL_INSTANCES as usize),
        }))
    }

    /// Wait for a free instance slot; hold the permit until the call's store
    /// is dropped. (The semaphore is never closed, so this always succeeds.)
    async fn slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.slots.acquire().await.ok()
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
        let bytes = read_component(name, path)?;
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
        let host = host_version();
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
        for (_, found) in &info.worlds {
            if !compatible(&host, found) {
                return Err(PluginError::Incompatible {
                    plugin: name.to_string(),
                    found: found.clone(),
                    host,
                });
            }
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Link {
                plugin: name.to_string(),
                message: format!("{e:#}"),
            })?;
        let exports = |kind: PluginKind| info.worlds.iter().any(|(k, _)| *k == kind);
        let export_err = |e: wasmtime::Error| PluginError::Link {
            plugin: name.to_string(),
            message: format!("{e:#}"),
        };
        let step = if exports(PluginKind::Step) {
            Some(bindings::step::StepPluginPre::new(pre.clone()).map_err(export_err)?)
        } else {
            None
        };
        let auth = if exports(PluginKind::Auth) {
            Some(bindings::auth::AuthPluginPre::new(pre.clone()).map_err(export_err)?)
        } else {
            None
        };
        let extractor = if exports(PluginKind::Extractor) {
            Some(bindings::extractor::ExtractorPluginPre::new(pre).map_err(export_err)?)
        } else {
            None
        };
        Ok(LoadedComponent {
            digest,
            info,
            source,
            compile_time,
            step,
            auth,
            extractor,
        })
    }

    /// Inspect a component file without running it: the worlds and version
    /// it implements and what it imports.
    pub fn inspect_file(&self, path: &Path) -> Result<ComponentInfo, PluginError> {
        let name = path.display().to_string();
        let bytes = read_component(&name, path)?;
        let component = Component::new(&self.engine, &bytes).map_err(|e| PluginError::Compile {
            plugin: name,
            message: format!("{e:#}"),
        })?;
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
        let started = Instant::now();
        store.epoch_deadline_callback(move |ctx| {
            let guest_time = started.elapsed().saturating_sub(ctx.data().host_time);
            if guest_time > budget {
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

/// A response as a step plugin returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl PluginResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    pub response: Option<PluginResponse>,
    pub variables: Vec<(String, String)>,
}

/// What an auth plugin returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub header_name: String,
    pub header_value: String,
    pub token: String,
    pub expires_in: Option<Duration>,
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
    config_json: String,
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
            config_json: config.to_string(),
        })
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

    /// A plugin's own error. Its message is put on one line with control
    /// characters escaped: it often quotes a server (a token endpoint's
    /// answer), and a plugin is not trusted to keep the terminal intact.
    fn returned(&self, failure: wit::PluginError) -> PluginError {
        let line = |m: String| crate::output::escape_line(&m).into_owned();
        PluginError::Returned {
            plugin: self.name.clone(),
            failure: match failure {
                wit::PluginError::InvalidConfig(m) => PluginFailure::InvalidConfig(line(m)),
                wit::PluginError::Transport(m) => PluginFailure::Transport(line(m)),
                wit::PluginError::Denied(m) => PluginFailure::Denied(line(m)),
                wit::PluginError::Failed(m) => PluginFailure::Failed(line(m)),
            },
        }
    }

    /// Run a step: `spec` is the rendered step spec (JSON object).
    pub async fn run_step(
        &self,
        spec: &serde_json::Value,
        variables: &[(String, String)],
    ) -> Result<StepOutcome, PluginError> {
        self.run_step_with(spec, variables, None).await
    }

    /// Run a step whose sends follow redirects as `follow_redirects` says
    /// (the http step's `follow_redirects`); None: the plugin's default
    /// (see `PluginState::new`). Hops are always checked against the
    /// plugin's `allowed_hosts`.
    pub async fn run_step_with(
        &self,
        spec: &serde_json::Value,
        variables: &[(String, String)],
        follow_redirects: Option<FollowRedirects>,
    ) -> Result<StepOutcome, PluginError> {
        let pre = self
            .component
            .step
            .as_ref()
            .ok_or_else(|| self.not_a(PluginKind::Step))?;
        // Declared before the store so the store (and its instance) is dropped first.
        let _slot = self.runtime.slot().await;
        let mut store = self
            .runtime
            .new_store(self.services.clone(), follow_redirects);
        let input = bindings::step::exports::apirun::plugin::step::StepInput {
            spec: spec.to_string(),
            variables: variables
                .iter()
                .map(|(name, value)| wit::Variable {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            config: self.config_json.clone(),
        };
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .apirun_plugin_step()
                .call_run(&mut store, &input)
                .await
        }
        .await;
        // A send the server may have applied makes the call's failure an
        // unknown outcome, whatever the plugin made of it.
        if !matches!(result, Ok(Ok(_)))
            && let Some(message) = store.data_mut().outcome_unknown.take()
        {
            return Err(PluginError::OutcomeUnknown {
                plugin: self.name.clone(),
                message,
            });
        }
        match result {
            Err(trap) => Err(self.runtime.classify(&self.name, &store, trap)),
            Ok(Err(failure)) => Err(self.returned(failure)),
            Ok(Ok(output)) => Ok(StepOutcome {
                response: output.response.map(|r| PluginResponse {
                    status: r.status,
                    headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                    body: r.body,
                }),
                variables: output
                    .variables
                    .into_iter()
                    .map(|v| (v.name, v.value))
                    .collect(),
            }),
        }
    }

    /// Acquire a credential; `config` is the provider's rendered config.
    pub async fn acquire(&self, config: &serde_json::Value) -> Result<Credential, PluginError> {
        let pre = self
            .component
            .auth
            .as_ref()
            .ok_or_else(|| self.not_a(PluginKind::Auth))?;
        // Declared before the store so the store (and its instance) is dropped first.
        let _slot = self.runtime.slot().await;
        let mut store = self.runtime.new_store(self.services.clone(), None);
        let config = config.to_string();
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .apirun_plugin_auth()
                .call_acquire(&mut store, &config)
                .await
        }
        .await;
        match result {
            Err(trap) => Err(self.runtime.classify(&self.name, &store, trap)),
            Ok(Err(failure)) => Err(self.returned(failure)),
            Ok(Ok(credential)) => Ok(Credential {
                header_name: credential.header_name,
                header_value: credential.header_value,
                token: credential.token,
                expires_in: credential.expires_in_secs.map(Duration::from_secs),
            }),
        }
    }

    /// Extract `paths` from a response; one optional value per path.
    pub async fn extract(
        &self,
        response: &PluginResponse,
        paths: &[String],
    ) -> Result<Vec<Option<String>>, PluginError> {
        let pre = self
            .component
            .extractor
            .as_ref()
            .ok_or_else(|| self.not_a(PluginKind::Extractor))?;
        // Declared before the store so the store (and its instance) is dropped first.
        let _slot = self.runtime.slot().await;
        let mut store = self.runtime.new_store(self.services.clone(), None);
        let input = bindings::extractor::exports::apirun::plugin::extractor::ExtractInput {
            status: response.status,
            headers: response
                .headers
                .iter()
                .map(|(name, value)| wit::Header {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            body: response.body.clone(),
            content_type: response.header("content-type").map(str::to_string),
        };
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .apirun_plugin_extractor()
                .call_extract(&mut store, &input, paths)
                .await
        }
        .await;
        match result {
            Err(trap) => Err(self.runtime.classify(&self.name, &store, trap)),
            Ok(Err(failure)) => Err(self.returned(failure)),
            Ok(Ok(values)) if values.len() == paths.len() => Ok(values),
            Ok(Ok(values)) => Err(PluginError::Returned {
                plugin: self.name.clone(),
                failure: PluginFailure::Failed(format!(
                    "returned {} values for {} paths",
                    values.len(),
                    paths.len()
                )),
            }),
        }
    }

    fn not_a(&self, kind: PluginKind) -> PluginError {
        PluginError::WrongWorld {
            plugin: self.name.clone(),
            expected: kind,
            found: Vec::new(),
            found_kinds: self.kind.world().into(),
        }
    }
}

/// Reads a component file through the checks every user-named file gets (regular file,
/// size limit, WebAssembly magic first: see config/files.rs).
fn read_component(name: &str, path: &Path) -> Result<Vec<u8>, PluginError> {
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

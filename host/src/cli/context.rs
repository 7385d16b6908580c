//! What one run of `apirun` shares between its parts, built once from the
//! global flags ([`super::defs::GlobalArgs`]): the async runtime, the plugin
//! runtime, the process masker (with logging set up on it), the progress
//! display and the variables given on the command line. Command modules get
//! a `&Context` and the definitions of their flags, and nothing else.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use super::defs::{ColorArg, GlobalArgs, ProgressArg};
use super::exit::Failure;
use crate::config::StageConfig;
use crate::migrate::{
    EngineError, MigrationEvent, NoticeLevel, Observer, Services, StageEnd, Vars,
};
use crate::output::{
    self, Masker, MigrationOutcome, Progress, ProgressMode, Renderer, RunSummary, StageState,
};
use crate::plugin::{PluginRuntime, RuntimeOptions};
use crate::store::Access;

/// The tokio runtime every command runs on. The one place its kind is chosen:
/// the `stages` commands, which run independent stages at once
/// (`max_concurrent_stages`), get a multi-threaded runtime; every other
/// command runs one stage, one migration at a time, on the calling thread (a
/// current-thread runtime): a migration never crosses threads, so no worker
/// wake-ups or task hand-offs per request, SQLite calls run inline, and
/// resetting a pooled wasm memory does not interrupt other cores
/// (docs/performance.md).
pub fn async_runtime(concurrent_stages: bool) -> Result<tokio::runtime::Runtime, Failure> {
    let mut builder = if concurrent_stages {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))
}

/// `--color`: the output module colours a terminal unless `NO_COLOR` is set
/// (<https://no-color.org>), so `never` sets it and `always` clears it for
/// this process. Called first thing in `main`, before any thread exists.
pub fn apply_color(choice: ColorArg) {
    match choice {
        // SAFETY: single-threaded here (before the async runtime starts), so
        // no other thread reads the environment meanwhile.
        ColorArg::Never => unsafe { std::env::set_var("NO_COLOR", "1") },
        ColorArg::Always => unsafe { std::env::remove_var("NO_COLOR") },
        ColorArg::Auto => {}
    }
}

/// One run's shared state.
pub struct Context {
    pub global: GlobalArgs,
    /// `--var`, `--var-file` and `APIRUN_VAR_*` values, merged (command line wins).
    pub vars: Vars,
    /// `--secret` values: variables too, always masked.
    pub secrets: Vars,
    masker: OnceLock<Arc<Masker>>,
    runtime: OnceLock<Arc<PluginRuntime>>,
}

/// Which logging settings apply: a stage's `logging:` block, or the
/// defaults (several stages in one process, or no config at all).
pub enum LogFrom<'a> {
    Stage(&'a StageConfig),
    Defaults,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Result<Context, Failure> {
        let (vars, secrets) = super::vars::collect(&global.vars)?;
        Ok(Context {
            global,
            vars,
            secrets,
            masker: OnceLock::new(),
            runtime: OnceLock::new(),
        })
    }

    /// Every command-line variable, `--secret` values included (they win).
    pub fn all_vars(&self) -> Vars {
        let mut all = self.vars.clone();
        all.extend(self.secrets.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }

    /// `validate`: warns about each `--var`/`--secret` name that no
    /// template uses and no `env` defines (a typo, or a leftover).
    pub fn warn_unused_vars(&self, used: &std::collections::BTreeSet<String>) {
        for name in super::vars::flag_names(&self.global.vars) {
            if !used.contains(&name) {
                err!(
                    "warning: --var {name}: no template uses `{name}` and no env defines it; \
                     check the name (variables are case-sensitive)"
                );
            }
        }
    }

    /// The global `--config` (a stage's config.yaml).
    pub fn config(&self) -> &Path {
        &self.global.config
    }

    /// `-v` given at least once.
    pub fn verbose(&self) -> bool {
        self.global.verbose > 0
    }

    /// The plugin runtime (and its compile cache), created on first use.
    pub fn plugin_runtime(&self) -> Result<Arc<PluginRuntime>, Failure> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime.clone());
        }
        let runtime = PluginRuntime::new(RuntimeOptions::default()).map_err(Failure::failed)?;
        Ok(self.runtime.get_or_init(|| runtime).clone())
    }

    /// Makes `masker` the process masker: registers the `--secret` values on
    /// it, hands it to the final error message and installs logging with it.
    /// The first call wins (a process has one masker and one log subscriber).
    pub fn install_masker(&self, masker: Masker, log: LogFrom<'_>) -> Arc<Masker> {
        if let Some(installed) = self.masker.get() {
            return installed.clone();
        }
        let masker = Arc::new(masker);
        for value in self.secrets.values() {
            masker.add_secret(value);
        }
        output::set_process_masker(&masker);
        self.configure_logging(&masker, log);
        self.masker.get_or_init(|| masker).clone()
    }

    /// The installed masker, or a default one installed now.
    pub fn masker(&self) -> Arc<Masker> {
        match self.masker.get() {
            Some(masker) => masker.clone(),
            None => self.install_masker(Masker::new(), LogFrom::Defaults),
        }
    }

    /// The log level and format for this run (stage config, then -v/-q,
    /// then APIRUN_LOG), handed to the one installer, `output::init_logging`.
    fn configure_logging(&self, masker: &Arc<Masker>, log: LogFrom<'_>) {
        use crate::config::{LogFormat, LogLevel};
        let (level, format) = match log {
            LogFrom::Stage(config) => (
                match config.logging.level {
                    LogLevel::Error => output::LogLevel::Error,
                    LogLevel::Warn => output::LogLevel::Warn,
                    LogLevel::Info => output::LogLevel::Info,
                    LogLevel::Debug => output::LogLevel::Debug,
                },
                match config.logging.format {
                    LogFormat::Text => output::LogFormat::Text,
                    LogFormat::Json => output::LogFormat::Json,
                    LogFormat::Color => output::LogFormat::Color,
                },
            ),
            // Stage configs may differ in logging settings; the process has
            // one subscriber, so stages use the defaults (APIRUN_LOG overrides them).
            LogFrom::Defaults => (output::LogLevel::Info, output::LogFormat::Text),
        };
        // -v: request lines (debug); -vv: headers and bodies too (trace);
        // --quiet: errors only. APIRUN_LOG still overrides all of them.
        let level = match (self.global.quiet, self.global.verbose) {
            (true, _) => output::LogLevel::Error,
            (false, 0) => level,
            (false, 1) => level.min(output::LogLevel::Debug),
            (false, _) => output::LogLevel::Trace,
        };
        if let Err(e) = output::init_logging(output::LogSettings {
            level,
            format,
            masker: masker.clone(),
        }) {
            err!("warning: logging not set up: {e:?}");
        }
    }

    /// The progress display, on stderr when stdout carries JSON
    /// (`--output json`): plain lines there, or nothing with `--quiet`.
    pub fn progress_for(&self, json_on_stdout: bool) -> Progress {
        if !json_on_stdout {
            return self.progress();
        }
        let quiet = self.global.quiet || matches!(self.global.progress, ProgressArg::Quiet);
        let renderer = if quiet {
            Renderer::Quiet
        } else {
            Renderer::Plain
        };
        Progress::with_writer(std::io::stderr(), renderer, self.masker())
    }

    /// The progress display the global flags ask for.
    pub fn progress(&self) -> Progress {
        // `--color never` / NO_COLOR: no escape sequences at all, so the live
        // display (which redraws with cursor movements) gives way to plain lines.
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let mode = match self.global.progress {
            _ if self.global.quiet => ProgressMode::Quiet,
            ProgressArg::Auto if no_color => ProgressMode::Plain,
            ProgressArg::Auto => ProgressMode::Auto,
            ProgressArg::Plain => ProgressMode::Plain,
            ProgressArg::Quiet => ProgressMode::Quiet,
        };
        Progress::new(mode, self.masker())
    }

    /// The library's services for a stage: this run's plugin runtime and
    /// masker. `read_only`: the command only reads (status, dry runs), so
    /// stores are opened read-only and nothing is created or written.
    pub fn services(&self, read_only: bool) -> Result<Services, Failure> {
        Ok(Services {
            runtime: self.plugin_runtime()?,
            masker: self.masker(),
            store_access: if read_only {
                Access::ReadOnly
            } else {
                Access::ReadWrite
            },
        })
    }
}

/// Feeds engine events to the progress display.
pub struct ProgressObserver(pub Progress);

impl Observer for ProgressObserver {
    fn event(&self, event: MigrationEvent<'_>) {
        match event {
            MigrationEvent::Started {
                version,
                name,
                direction,
            } => self.0.migration_started(version, name, direction),
            MigrationEvent::Finished {
                version,
                name,
                direction,
                status,
                duration,
            } => self.0.migration_finished(
                version,
                name,
                direction,
                MigrationOutcome::Ok {
                    status: status.map(|s| s.to_string()).unwrap_or_else(|| "ok".into()),
                    duration,
                },
            ),
            MigrationEvent::Failed {
                version,
                name,
                direction,
                error,
                duration,
                ..
            } => self.0.migration_finished(
                version,
                name,
                direction,
                MigrationOutcome::Failed {
                    error: error.to_string(),
                    duration,
                },
            ),
            MigrationEvent::StagePlanned { stage } => {
                self.0.stage_state(stage, StageState::Pending, None)
            }
            MigrationEvent::StageStarted { stage } => {
                self.0.stage_state(stage, StageState::Running, None)
            }
            MigrationEvent::StageFinished {
                stage,
                end,
                duration,
                detail,
                ..
            } => {
                let state = match end {
                    StageEnd::Applied => StageState::Applied,
                    StageEnd::RolledBack => StageState::RolledBack,
                    StageEnd::Failed => StageState::Failed,
                    StageEnd::Skipped
                    | StageEnd::ConditionFalse
                    | StageEnd::NothingApplied
                    | StageEnd::NotStarted => StageState::Skipped,
                };
                self.0.stage_state(stage, state, duration);
                match (end, detail) {
                    (StageEnd::Failed, Some(error)) => {
                        self.0.println(&format!("error: stage `{stage}`: {error}"))
                    }
                    (_, Some(why)) => self.0.println(&format!("skipped [{stage}]: {why}")),
                    (_, None) => {}
                }
            }
            MigrationEvent::StageRolledBack { stage, .. } => {
                self.0.stage_state(stage, StageState::RolledBack, None)
            }
            MigrationEvent::Notice { level, text, .. } => match level {
                NoticeLevel::Info => self.0.println(text),
                NoticeLevel::Warning | NoticeLevel::Error => {
                    // Config warnings already carry their `warning:` heading.
                    let head = format!("{}: ", level.as_str());
                    if text.starts_with(&head) {
                        self.0.println(text)
                    } else {
                        self.0.println(&format!("{head}{text}"))
                    }
                }
            },
        }
    }
}

/// Counts what ran, so that the summary of a run that failed half-way (or was
/// refused before anything ran) says what it really did.
pub struct Counting {
    progress: Progress,
    inner: ProgressObserver,
    /// The run's machine-readable views (`--output json`, reports).
    others: Vec<Box<dyn Observer>>,
    started: std::time::Instant,
    done: std::sync::atomic::AtomicUsize,
    failed: std::sync::atomic::AtomicUsize,
}

impl Counting {
    /// Feeds every event to the progress display and to `others`.
    pub fn with(progress: Progress, others: Vec<Box<dyn Observer>>) -> Self {
        Counting {
            inner: ProgressObserver(progress.clone()),
            others,
            progress,
            started: std::time::Instant::now(),
            done: Default::default(),
            failed: Default::default(),
        }
    }

    /// Prints the run's summary line, and returns it.
    pub fn finish(&self, result: Result<std::time::Duration, &EngineError>) -> RunSummary {
        use std::sync::atomic::Ordering::Relaxed;
        let summary = RunSummary {
            applied: self.done.load(Relaxed),
            // A run refused before any migration started (lock, drift, dirty) still failed.
            failed: match result {
                Ok(_) => 0,
                Err(_) => self.failed.load(Relaxed).max(1),
            },
            skipped: 0,
            duration: result.unwrap_or_else(|_| self.started.elapsed()),
        };
        self.progress.run_finished(&summary);
        summary
    }
}

impl Observer for Counting {
    fn event(&self, event: MigrationEvent<'_>) {
        use std::sync::atomic::Ordering::Relaxed;
        match &event {
            MigrationEvent::Finished { .. } => self.done.fetch_add(1, Relaxed),
            MigrationEvent::Failed { .. } => self.failed.fetch_add(1, Relaxed),
            _ => 0,
        };
        self.others.event(event.clone());
        self.inner.event(event)
    }
}

//! Single-stage commands: up, down, status, create, validate, resolve.

use std::path::Path;
use std::sync::Arc;

use super::args::{
    CreateArgs, DownArgs, OutputFormat, ProgressArg, ResolveArgs, StatusArgs, UpArgs, ValidateArgs,
};
use super::{Failure, new_progress, render};
use crate::config::{Loaded, StageConfig, load_stage_config};
use crate::migrate::{
    DownOptions, EngineError, InheritedVars, MigrationEvent, Observer, Services, Stage, UpOptions,
};
use crate::output::{self, Masker, MigrationOutcome, Progress, RunSummary};
use crate::plugin::{PluginRuntime, RuntimeOptions};
use crate::store::{Access, Resolution};

/// Feeds engine events to the progress display.
pub(crate) struct ProgressObserver(pub Progress);

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
            } => self.0.migration_finished(
                version,
                name,
                direction,
                MigrationOutcome::Failed {
                    error: error.to_string(),
                    duration,
                },
            ),
        }
    }
}

/// Load the config, set up masking and logging from it.
pub(crate) fn load_config(path: &Path) -> Result<(Loaded<StageConfig>, Arc<Masker>), Failure> {
    let loaded = load_stage_config(path).map_err(EngineError::Invalid)?;
    let masking = &loaded.value.logging.masking;
    let masker = Arc::new(
        Masker::from_config(masking.enabled, &masking.patterns).map_err(|e| Failure {
            message: format!("error: {}: logging.masking.patterns: {e}", path.display()),
            code: 2,
        })?,
    );
    // Literal secrets of the config (auth and plugin `config:` values named
    // like secrets, the PostgreSQL password) are masked from the start.
    crate::migrate::register_config_secrets(&loaded.value, &masker);
    output::set_process_masker(&masker);
    init_logging(&loaded.value, &masker);
    Ok((loaded, masker))
}

pub(crate) fn init_logging(config: &StageConfig, masker: &Arc<Masker>) {
    use crate::config::{LogFormat, LogLevel};
    let level = match config.logging.level {
        LogLevel::Error => output::LogLevel::Error,
        LogLevel::Warn => output::LogLevel::Warn,
        LogLevel::Info => output::LogLevel::Info,
        LogLevel::Debug => output::LogLevel::Debug,
    };
    let format = match config.logging.format {
        LogFormat::Text => output::LogFormat::Text,
        LogFormat::Json => output::LogFormat::Json,
        LogFormat::Color => output::LogFormat::Color,
    };
    if let Err(e) = output::init_logging(output::LogSettings {
        level,
        format,
        masker: masker.clone(),
    }) {
        err!("warning: logging not set up: {e:?}");
    }
}

pub(crate) fn plugin_runtime() -> Result<Arc<PluginRuntime>, Failure> {
    PluginRuntime::new(RuntimeOptions::default()).map_err(|e| Failure {
        message: format!("error: {e}"),
        code: 1,
    })
}

/// `access`: [`Access::ReadOnly`] for commands that only read (status, dry
/// runs): they create and write nothing.
pub(super) async fn open(path: &Path, access: Access) -> Result<(Stage, Arc<Masker>), Failure> {
    let (loaded, masker) = load_config(path)?;
    let services = Services {
        runtime: plugin_runtime()?,
        masker: masker.clone(),
        store_access: access,
    };
    let stage = Stage::from_loaded(loaded, &services, &InheritedVars::default()).await?;
    // Notes (e.g. ignored files) are for `validate`; warnings always show.
    for warning in stage
        .warnings
        .iter()
        .filter(|d| d.severity == crate::config::Severity::Warning)
    {
        err!("{warning}");
    }
    Ok((stage, masker))
}

pub async fn up(path: &Path, progress: ProgressArg, args: &UpArgs) -> Result<u8, Failure> {
    let dry = args.dry_run || args.dry_run_from.is_some();
    let (stage, masker) = open(path, access(dry)).await?;
    if dry {
        let plan = stage.plan_up_dry(args.to, args.dry_run_from).await?;
        render::print_plan(&plan, "up");
        return Ok(0);
    }
    let progress = new_progress(progress, &masker);
    let observer = Counting::new(ProgressObserver(progress.clone()));
    let options = UpOptions {
        to: args.to,
        allow_out_of_order: args.allow_out_of_order,
        strict: args.strict,
        retry_interrupted: args.retry_interrupted,
    };
    let result = stage.up(&options, &observer).await;
    finish(&progress, &observer, result.as_ref().map(|r| r.duration));
    result?;
    Ok(0)
}

pub async fn down(path: &Path, progress: ProgressArg, args: &DownArgs) -> Result<u8, Failure> {
    let (stage, masker) = open(path, access(args.dry_run)).await?;
    if args.dry_run {
        let plan = stage.plan_down_dry(args.to).await?;
        render::print_plan(&plan, "down");
        return Ok(0);
    }
    let progress = new_progress(progress, &masker);
    let observer = Counting::new(ProgressObserver(progress.clone()));
    let result = stage.down(&DownOptions { to: args.to }, &observer).await;
    finish(&progress, &observer, result.as_ref().map(|r| r.duration));
    result?;
    Ok(0)
}

/// Counts what ran, so that the summary of a run that failed half-way (or was
/// refused before anything ran) says what it really did.
struct Counting {
    inner: ProgressObserver,
    started: std::time::Instant,
    done: std::sync::atomic::AtomicUsize,
    failed: std::sync::atomic::AtomicUsize,
}

impl Counting {
    fn new(inner: ProgressObserver) -> Self {
        Counting {
            inner,
            started: std::time::Instant::now(),
            done: Default::default(),
            failed: Default::default(),
        }
    }
}

impl Observer for Counting {
    fn event(&self, event: MigrationEvent<'_>) {
        use std::sync::atomic::Ordering::Relaxed;
        match &event {
            MigrationEvent::Finished { .. } => self.done.fetch_add(1, Relaxed),
            MigrationEvent::Failed { .. } => self.failed.fetch_add(1, Relaxed),
            MigrationEvent::Started { .. } => 0,
        };
        self.inner.event(event)
    }
}

fn finish(
    progress: &Progress,
    counted: &Counting,
    result: Result<std::time::Duration, &EngineError>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    progress.run_finished(&RunSummary {
        applied: counted.done.load(Relaxed),
        // A run refused before any migration started (lock, drift, dirty) still failed.
        failed: match result {
            Ok(_) => 0,
            Err(_) => counted.failed.load(Relaxed).max(1),
        },
        skipped: 0,
        duration: result.unwrap_or_else(|_| counted.started.elapsed()),
    });
}

fn access(read_only: bool) -> Access {
    if read_only {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    }
}

pub async fn status(path: &Path, args: &StatusArgs) -> Result<u8, Failure> {
    let (stage, masker) = open(path, Access::ReadOnly).await?;
    let history = if args.history_all {
        Some(None)
    } else if args.history {
        Some(Some(args.history_limit))
    } else {
        None
    };
    let report = stage.status(history).await?;
    match args.output {
        OutputFormat::Json => {
            let mut value = serde_json::to_value(&report).map_err(|e| Failure {
                message: format!("error: {e}"),
                code: 1,
            })?;
            masker.mask_json(&mut value);
            out_json!(&value);
        }
        OutputFormat::Text => render::print_status(&report, &masker),
    }
    Ok(0)
}

pub async fn create(path: &Path, args: &CreateArgs) -> Result<u8, Failure> {
    let (loaded, _masker) = load_config(path)?;
    let created = crate::migrate::create_migration(&loaded.value.migrate_dir, &args.name)?;
    out!("{}", created.display());
    Ok(0)
}

pub async fn validate(path: &Path, args: &ValidateArgs) -> Result<u8, Failure> {
    // Plugins load through the same runtime (and compile cache) as `up`.
    let runtime = plugin_runtime()?;
    let result = crate::validate::validate_stage(path, &Default::default(), Some(&runtime));
    for diagnostic in &result.diagnostics {
        err!("{diagnostic}");
    }
    let mut errors = result.errors().count();
    // Drift: compare the files with what the store says was applied. Reads the
    // store read-only (creating and writing nothing); sends no HTTP request.
    // Skipped when files are invalid: a file that failed to load would look deleted.
    if let Some(config) = result.config.as_ref().filter(|_| errors == 0) {
        let level = if args.strict { "error" } else { "warning" };
        match crate::migrate::drift_against_store(config, &result.migrations).await {
            Ok(Some(drift)) => {
                for d in &drift {
                    err!("{level}: {}", d.describe());
                }
                if args.strict {
                    errors += drift.len();
                }
            }
            Ok(None) => {}
            Err(e) => {
                err!(
                    "{level}: cannot compare the migration files with the store, so changed or \
                     deleted applied files are not reported: {e}"
                );
                if args.strict {
                    errors += 1;
                }
            }
        }
    }
    if errors > 0 {
        err!("{errors} problem(s) found; nothing was sent");
        return Ok(2);
    }
    out!(
        "ok: {} and {} migration file(s) are valid",
        path.display(),
        result.migrations.len()
    );
    Ok(0)
}

pub async fn resolve(path: &Path, args: &ResolveArgs) -> Result<u8, Failure> {
    let (stage, _masker) = open(path, Access::ReadWrite).await?;
    let Some(store) = stage.store() else {
        return Err(Failure {
            message:
                "error: the store is disabled (store.disabled: true); there is nothing to resolve"
                    .into(),
            code: 2,
        });
    };
    let resolution = if args.applied {
        let migration = stage.migration(args.version).ok_or_else(|| Failure {
            message: format!("error: no migration file has version {}", args.version),
            code: 2,
        })?;
        Resolution::Applied {
            checksum: migration.checksum.clone(),
            name: migration.name.clone(),
        }
    } else {
        Resolution::RolledBack
    };
    let _lock = store
        .lock(stage.config.store.lock_timeout)
        .await
        .map_err(|e| Failure::from(crate::migrate::EngineError::store(store.describe(), e)))?;
    store
        .resolve(args.version, resolution)
        .await
        .map_err(|e| Failure {
            message: format!("error: {e}"),
            code: 2,
        })?;
    out!(
        "version {} resolved as {}",
        args.version,
        if args.applied {
            "applied"
        } else {
            "rolled back"
        }
    );
    Ok(0)
}

//! Single-stage commands: up, down, status, create, validate, resolve.

use std::sync::Arc;

use super::context::{Context, Counting, LogFrom};
use super::defs::{
    CreateArgs, DownArgs, OutputFormat, ResolveArgs, StatusArgs, UpArgs, ValidateArgs,
};
use super::exit::{Exit, Failure};
use super::render;
use crate::config::{Loaded, StageConfig, load_stage_config};
use crate::migrate::{DownOptions, InheritedVars, Stage, UpOptions};
use crate::output::Masker;
use crate::store::Resolution;

/// Load the config, set up masking and logging from it.
fn load_config(ctx: &Context) -> Result<(Loaded<StageConfig>, Arc<Masker>), Failure> {
    let path = ctx.config();
    let loaded = load_stage_config(path)?;
    let masking = &loaded.value.logging.masking;
    let masker = Masker::from_config(masking.enabled, &masking.patterns).map_err(|e| {
        Failure::bad_input(format!("{}: logging.masking.patterns: {e}", path.display()))
    })?;
    let masker = ctx.install_masker(masker, LogFrom::Stage(&loaded.value));
    // Literal secrets of the config (auth and plugin `config:` values named
    // like secrets, the PostgreSQL password) are masked from the start.
    crate::migrate::register_config_secrets(&loaded.value, &masker);
    Ok((loaded, masker))
}

/// `read_only` for commands that only read (status, dry runs): they create
/// and write nothing.
async fn open(ctx: &Context, read_only: bool) -> Result<(Stage, Arc<Masker>), Failure> {
    let (loaded, masker) = load_config(ctx)?;
    let services = ctx.services(read_only)?;
    let inherited = InheritedVars {
        cli: ctx.all_vars(),
        ..InheritedVars::default()
    };
    let stage = Stage::from_loaded(loaded, &services, &inherited).await?;
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

pub async fn up(ctx: &Context, args: &UpArgs) -> Result<Exit, Failure> {
    not_wired(args.output.output, args.report.report_junit.is_some())?;
    let from = args.dry_run_from.dry_run_from;
    let dry = args.dry_run.dry_run || from.is_some();
    let (stage, _masker) = open(ctx, dry).await?;
    if dry {
        let plan = stage.plan_up_dry(args.to, from).await?;
        render::print_plan(&plan, "up");
        return Ok(Exit::Ok);
    }
    let observer = Counting::new(ctx.progress());
    let options = UpOptions {
        to: args.to,
        allow_out_of_order: args.allow_out_of_order,
        strict: args.strict.strict,
        retry_interrupted: args.retry_interrupted.retry_interrupted,
    };
    let result = stage.up(&options, &observer).await;
    observer.finish(result.as_ref().map(|r| r.duration));
    result?;
    Ok(Exit::Ok)
}

pub async fn down(ctx: &Context, args: &DownArgs) -> Result<Exit, Failure> {
    not_wired(args.output.output, args.report.report_junit.is_some())?;
    let Some(to) = args.to else {
        return Err(Failure::bad_input(
            "down needs --to VERSION (roll back every applied version above it; 0 = all)",
        ));
    };
    let dry = args.dry_run.dry_run;
    let (stage, _masker) = open(ctx, dry).await?;
    if dry {
        let plan = stage.plan_down_dry(to).await?;
        render::print_plan(&plan, "down");
        return Ok(Exit::Ok);
    }
    let observer = Counting::new(ctx.progress());
    let result = stage.down(&DownOptions { to }, &observer).await;
    observer.finish(result.as_ref().map(|r| r.duration));
    result?;
    Ok(Exit::Ok)
}

/// `--output json` on a streaming command and `--report-junit` are defined
/// in [`super::defs`] but not written yet: say so instead of ignoring them.
fn not_wired(output: OutputFormat, junit: bool) -> Result<(), Failure> {
    if output == OutputFormat::Json {
        return Err(Failure::not_available("--output json"));
    }
    if junit {
        return Err(Failure::not_available("--report-junit"));
    }
    Ok(())
}

pub async fn status(ctx: &Context, args: &StatusArgs) -> Result<Exit, Failure> {
    let (stage, masker) = open(ctx, true).await?;
    let history = if args.history_all {
        Some(None)
    } else if args.history {
        Some(Some(args.history_limit))
    } else {
        None
    };
    let report = stage.status(history).await?;
    match args.output.output {
        OutputFormat::Json => {
            let mut value = serde_json::to_value(&report).map_err(Failure::failed)?;
            masker.mask_json(&mut value);
            out_json!(&value);
        }
        OutputFormat::Text => render::print_status(&report, &masker),
    }
    Ok(Exit::Ok)
}

pub async fn create(ctx: &Context, args: &CreateArgs) -> Result<Exit, Failure> {
    not_wired(args.output.output, false)?;
    let (loaded, _masker) = load_config(ctx)?;
    let created = crate::migrate::create_migration(&loaded.value.migrate_dir, &args.name)?;
    out!("{}", created.display());
    Ok(Exit::Ok)
}

pub async fn validate(ctx: &Context, args: &ValidateArgs) -> Result<Exit, Failure> {
    not_wired(args.output.output, false)?;
    let path = ctx.config();
    // Plugins load through the same runtime (and compile cache) as `up`.
    let runtime = ctx.plugin_runtime()?;
    let outer = crate::validate::OuterNames {
        global: ctx.all_vars().into_keys().collect(),
        ..Default::default()
    };
    let result = crate::validate::validate_stage(path, &outer, Some(&runtime));
    for diagnostic in &result.diagnostics {
        err!("{diagnostic}");
    }
    if result.config.is_some() {
        ctx.warn_unused_vars(&result.used);
    }
    let mut errors = result.errors().count();
    // Drift: compare the files with what the store says was applied. Reads the
    // store read-only (creating and writing nothing); sends no HTTP request.
    // Skipped when files are invalid: a file that failed to load would look deleted.
    if let Some(config) = result.config.as_ref().filter(|_| errors == 0) {
        let level = if args.strict.strict {
            "error"
        } else {
            "warning"
        };
        match crate::migrate::drift_against_store(config, &result.migrations).await {
            Ok(Some(drift)) => {
                for d in &drift {
                    err!("{level}: {}", d.describe());
                }
                if args.strict.strict {
                    errors += drift.len();
                }
            }
            Ok(None) => {}
            Err(e) => {
                err!(
                    "{level}: cannot compare the migration files with the store, so changed or \
                     deleted applied files are not reported: {e}"
                );
                if args.strict.strict {
                    errors += 1;
                }
            }
        }
    }
    if errors > 0 {
        err!("{errors} problem(s) found; nothing was sent");
        return Ok(Exit::BadInput);
    }
    out!(
        "ok: {} and {} migration file(s) are valid",
        path.display(),
        result.migrations.len()
    );
    Ok(Exit::Ok)
}

pub async fn resolve(ctx: &Context, args: &ResolveArgs) -> Result<Exit, Failure> {
    not_wired(args.output.output, false)?;
    let (stage, _masker) = open(ctx, false).await?;
    let Some(store) = stage.store() else {
        return Err(Failure::bad_input(
            "the store is disabled (store.disabled: true); there is nothing to resolve",
        ));
    };
    let resolution = if args.applied {
        let migration = stage.migration(args.version).ok_or_else(|| {
            Failure::bad_input(format!("no migration file has version {}", args.version))
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
        .map_err(Failure::bad_input)?;
    out!(
        "version {} resolved as {}",
        args.version,
        if args.applied {
            "applied"
        } else {
            "rolled back"
        }
    );
    Ok(Exit::Ok)
}

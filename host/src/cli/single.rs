//! Single-stage commands: up, down, status, create, validate, resolve.

use std::sync::Arc;

use super::context::{Context, Counting, LogFrom};
use super::defs::{
    CreateArgs, DownArgs, OutputFormat, ReportArgs, ResolveArgs, StatusArgs, UpArgs, ValidateArgs,
};
use super::exit::{Exit, Failure};
use super::render;
use crate::config::{Loaded, StageConfig, load_stage_config};
use crate::migrate::{DownOptions, InheritedVars, Stage, UpOptions};
use crate::output::Masker;
use crate::output::events::RunOutputs;
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
pub(super) async fn open(ctx: &Context, read_only: bool) -> Result<(Stage, Arc<Masker>), Failure> {
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
    let from = args.dry_run_from.dry_run_from;
    let dry = args.dry_run.dry_run || from.is_some();
    let (stage, _masker) = open(ctx, dry).await?;
    let outputs = run_outputs(ctx, args.output.output, &args.report);
    outputs.run_started("up", dry);
    if dry {
        let plan = stage.plan_up_dry(args.to, from).await;
        return dry_run_finished(&outputs, plan, "up");
    }
    // The versions this run would apply: those it does not reach (a failure
    // before them) are reported as skipped.
    let pending = match &outputs.report {
        Some(_) => pending_versions(&stage, args.to).await,
        None => Vec::new(),
    };
    let observer = Counting::with(
        ctx.progress_for(outputs.json_on_stdout()),
        outputs.observers(),
    );
    let options = UpOptions {
        to: args.to,
        allow_out_of_order: args.allow_out_of_order,
        strict: args.strict.strict,
        retry_interrupted: args.retry_interrupted.retry_interrupted,
    };
    let result = stage.up(&options, &observer).await;
    let summary = observer.finish(result.as_ref().map(|r| r.duration));
    if let (Some(report), Err(_)) = (&outputs.report, &result) {
        for (version, name) in &pending {
            report.skip_unless_run(
                *version,
                name,
                crate::store::Direction::Up,
                "not run: the run stopped before it",
            );
        }
    }
    run_finished(&outputs, &summary, result.map(|_| ()))
}

pub async fn down(ctx: &Context, args: &DownArgs) -> Result<Exit, Failure> {
    if args.to.is_none() && args.steps.is_none() {
        return Err(Failure::bad_input(
            "down needs how far to roll back: --to VERSION (every applied version above it; \
             0 = everything) or --steps N (the newest N applied versions)",
        ));
    }
    let from = args.dry_run_from.dry_run_from;
    let dry = args.dry_run.dry_run || from.is_some();
    let (stage, _masker) = open(ctx, dry).await?;
    let to = match (args.to, args.steps) {
        (Some(to), _) => to,
        (None, Some(steps)) => steps_target(&stage, steps, from).await?,
        (None, None) => 0, // refused above
    };
    let outputs = run_outputs(ctx, args.output.output, &args.report);
    outputs.run_started("down", dry);
    if dry {
        let plan = stage.plan_down_dry(to, from).await;
        return dry_run_finished(&outputs, plan, "down");
    }
    let observer = Counting::with(
        ctx.progress_for(outputs.json_on_stdout()),
        outputs.observers(),
    );
    let result = stage.down(&DownOptions { to }, &observer).await;
    let summary = observer.finish(result.as_ref().map(|r| r.duration));
    run_finished(&outputs, &summary, result.map(|_| ()))
}

/// `--steps N` as a `--to`: the version below the newest N applied ones (0
/// when N covers them all). With `--dry-run-from F`, "applied" means every
/// migration file up to F. Rolling back rolls back every applied version
/// above `to`, so out-of-order gaps are counted as the store has them.
async fn steps_target(stage: &Stage, steps: u64, from: Option<u64>) -> Result<u64, Failure> {
    if steps == 0 {
        return Err(Failure::bad_input(
            "--steps 0 rolls back nothing; give 1 or more",
        ));
    }
    let mut applied: Vec<u64> = match from {
        Some(from) => stage
            .migrations
            .iter()
            .map(|m| m.version)
            .filter(|v| *v <= from)
            .collect(),
        None => stage.status(None).await?.applied,
    };
    applied.sort_unstable_by(|a, b| b.cmp(a));
    applied.dedup();
    Ok(usize::try_from(steps)
        .ok()
        .and_then(|n| applied.get(n).copied())
        .unwrap_or(0))
}

/// `--output json` and the report files of `up`/`down` (docs/output.md);
/// the report's suite is the config file. Call after `open` (it uses the
/// installed masker).
fn run_outputs(ctx: &Context, output: OutputFormat, report: &ReportArgs) -> RunOutputs {
    RunOutputs::new(
        output == OutputFormat::Json,
        report.report_junit.clone(),
        report.report_json.clone(),
        &ctx.config().display().to_string(),
        &ctx.masker(),
    )
}

/// Versions `up` would apply (up to `to`, 0 = all), from the store.
async fn pending_versions(stage: &Stage, to: u64) -> Vec<(u64, String)> {
    match stage.status(None).await {
        Ok(status) => status
            .versions
            .into_iter()
            .filter(|v| v.state == "pending" && (to == 0 || v.version <= to))
            .map(|v| (v.version, v.name))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The plan of a dry run: as JSON events with `--output json`, else as text.
fn dry_run_finished(
    outputs: &RunOutputs,
    plan: Result<Vec<crate::migrate::PlannedMigration>, crate::migrate::EngineError>,
    direction: &str,
) -> Result<Exit, Failure> {
    let summary = crate::output::RunSummary::default();
    match plan {
        Ok(plan) => {
            if outputs.json_on_stdout() {
                outputs.planned(None, &plan);
            } else {
                render::print_plan(&plan, direction);
            }
            run_finished(outputs, &summary, Ok(()))
        }
        Err(e) => run_finished(outputs, &summary, Err(e)),
    }
}

/// Ends a run's machine-readable views (`run_finished`, report files) with
/// the exit status and error the process ends with.
fn run_finished(
    outputs: &RunOutputs,
    summary: &crate::output::RunSummary,
    result: Result<(), crate::migrate::EngineError>,
) -> Result<Exit, Failure> {
    let result = result.map_err(Failure::from);
    let (exit, error) = match &result {
        Ok(()) => (Exit::Ok, None),
        Err(failure) => (
            failure.exit,
            Some(failure.message.trim_start_matches("error: ")),
        ),
    };
    if let Err(e) = outputs.finish(summary, exit as u8, error) {
        // The run's own failure matters more than its report's.
        result?;
        return Err(Failure::failed(e));
    }
    result.map(|()| exit)
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
    if args.check.check {
        return Ok(render::print_check(
            &[(None, render::check_reasons(&report))],
            args.output.output,
        ));
    }
    Ok(Exit::Ok)
}

pub async fn create(ctx: &Context, args: &CreateArgs) -> Result<Exit, Failure> {
    let (loaded, _masker) = load_config(ctx)?;
    let created = crate::migrate::create_migration(&loaded.value.migrate_dir, &args.name)?;
    match args.output.output {
        OutputFormat::Json => out_json!(&serde_json::json!({
            "schema": crate::output::events::EVENT_SCHEMA,
            "created": created.display().to_string(),
        })),
        OutputFormat::Text => out!("{}", created.display()),
    }
    Ok(Exit::Ok)
}

pub async fn validate(ctx: &Context, args: &ValidateArgs) -> Result<Exit, Failure> {
    let json = args.output.output == OutputFormat::Json;
    // With --output json, every problem is also in the document (stderr
    // keeps the same lines for people reading the CI log).
    let mut problems: Vec<serde_json::Value> = Vec::new();
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
        problems.push(serde_json::json!({
            "severity": diagnostic.severity,
            "file": diagnostic.file.display().to_string(),
            "line": diagnostic.line,
            "column": diagnostic.column,
            "field": diagnostic.field,
            "message": diagnostic.message,
            "hint": diagnostic.hint,
        }));
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
                    problems.push(serde_json::json!({"severity": level, "message": d.describe()}));
                }
                if args.strict.strict {
                    errors += drift.len();
                }
            }
            Ok(None) => {}
            Err(e) => {
                let text = format!(
                    "cannot compare the migration files with the store, so changed or deleted \
                     applied files are not reported: {e}"
                );
                err!("{level}: {text}");
                problems.push(serde_json::json!({"severity": level, "message": text}));
                if args.strict.strict {
                    errors += 1;
                }
            }
        }
    }
    if json {
        let mut value = serde_json::json!({
            "schema": crate::output::events::EVENT_SCHEMA,
            "config": path.display().to_string(),
            "valid": errors == 0,
            "errors": errors,
            "migrations": result.migrations.len(),
            "problems": problems,
        });
        ctx.masker().mask_json(&mut value);
        out_json!(&value);
    }
    if errors > 0 {
        err!("{errors} problem(s) found; nothing was sent");
        return Ok(Exit::BadInput);
    }
    if json {
        return Ok(Exit::Ok);
    }
    out!(
        "ok: {} and {} migration file(s) are valid",
        path.display(),
        result.migrations.len()
    );
    Ok(Exit::Ok)
}

pub async fn resolve(ctx: &Context, args: &ResolveArgs) -> Result<Exit, Failure> {
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
    if args.output.output == OutputFormat::Json {
        out_json!(&serde_json::json!({
            "schema": crate::output::events::EVENT_SCHEMA,
            "version": args.version,
            "resolved_as": if args.applied { "applied" } else { "rolled_back" },
        }));
        return Ok(Exit::Ok);
    }
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

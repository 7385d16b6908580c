//! `apirun stages up|down|status|validate`: multi-stage orchestration over a
//! stages.yaml (docs/multi-stage.md). The work is in [`crate::orchestrate`];
//! this parses flags and prints. (`stages init` is in [`super::init`].)

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use super::context::{Context, LogFrom, ProgressObserver};
use super::defs::{OutputFormat, StagesRunArgs, StagesStatusArgs, StagesValidateArgs};
use super::exit::{Exit, Failure};
use super::render;
use crate::orchestrate::{
    Orchestration, RunOptions, Selection, StageOutcome, StagesError, Way, inspect_stage,
    validate_stages,
};
use crate::output::events::RunOutputs;
use crate::output::{self, Masker, RunSummary};

pub(super) fn load(ctx: &Context, path: &Path) -> Result<Arc<Orchestration>, Failure> {
    let mut orchestration = Orchestration::load(path)?;
    orchestration.cli_vars = ctx.all_vars();
    for warning in orchestration
        .warnings
        .iter()
        .filter(|d| d.severity == crate::config::Severity::Warning)
    {
        err!("{warning}");
    }
    Ok(Arc::new(orchestration))
}

pub async fn up_or_down(ctx: &Context, args: &StagesRunArgs, way: Way) -> Result<Exit, Failure> {
    let orchestration = load(ctx, &args.file.config)?;
    let selection = Selection {
        stage: args.stage.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
    };
    let selected = orchestration.select(&selection, way)?;
    orchestration.check_files(&selected)?;
    let masker = ctx.install_masker(
        process_masker(&orchestration, &selected)?,
        LogFrom::Defaults,
    );
    let dry = args.dry_run.dry_run;
    let outputs = RunOutputs::new(
        args.output.output == OutputFormat::Json,
        args.report.report_junit.clone(),
        args.report.report_json.clone(),
        &args.file.config.display().to_string(),
        &masker,
    );
    let command = match way {
        Way::Up => "stages up",
        Way::Down => "stages down",
    };
    outputs.run_started(command, dry);
    // Refusals before anything runs end the event stream too.
    let refused = |e: StagesError| -> Failure {
        let failure = Failure::from(e);
        let _ = outputs.finish(
            &RunSummary::default(),
            failure.exit as u8,
            Some(failure.message.trim_start_matches("error: ")),
        );
        failure
    };
    let services = ctx.services(dry)?;
    match way {
        Way::Up => {
            orchestration
                .check_up_dependencies(&selected, &services)
                .await
        }
        Way::Down => orchestration.check_down_dependents(&selected).await,
    }
    .map_err(refused)?;
    if dry {
        let (levels, plans) = orchestration
            .dry_run(&selected, way, &services)
            .await
            .map_err(refused)?;
        if outputs.json_on_stdout() {
            for plan in &plans {
                outputs.planned(Some(&plan.name), &plan.migrations);
            }
        } else {
            print_dry_run(&orchestration, &levels, &plans, way, &masker);
        }
        outputs
            .finish(&RunSummary::default(), Exit::Ok as u8, None)
            .map_err(Failure::failed)?;
        return Ok(Exit::Ok);
    }
    let progress = ctx.progress_for(outputs.json_on_stdout());
    let mut events = outputs.observers();
    events.push(Box::new(ProgressObserver(progress.clone())));
    let outputs = Arc::new(outputs);
    let factory_outputs = Arc::clone(&outputs);
    let factory_progress = progress.clone();
    let options = RunOptions {
        services,
        events: Arc::new(events),
        observer: Arc::new(move |stage: &str| {
            let mut observers = factory_outputs.stage_observers(stage);
            observers.push(Box::new(ProgressObserver(factory_progress.stage(stage))));
            Box::new(observers) as Box<dyn crate::migrate::Observer>
        }),
        wait_between_stages: args.wait_between_stages,
        retry_interrupted: args.retry_interrupted.retry_interrupted,
    };
    let outcome = orchestration.run(&selected, way, &options).await;
    progress.run_finished(&outcome.summary);
    // Human lines go where progress goes: stdout, or stderr when stdout is JSON.
    let human = |line: String| {
        if outputs.json_on_stdout() {
            err!("{line}");
        } else {
            out!("{line}");
        }
    };
    if ctx.verbose() {
        for (name, stage) in &outcome.stages {
            human(format!("  {name}: {}", masker.mask(&describe(stage))));
        }
    }
    for (name, versions) in &outcome.rolled_back {
        human(format!(
            "rolled back [{name}]: {}",
            versions
                .iter()
                .map(|v| format!("{v:03}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let exit = if outcome.failed {
        Exit::MigrationFailed
    } else {
        Exit::Ok
    };
    let mut error = None;
    if outcome.failed {
        let failed: Vec<String> = outcome
            .stages
            .iter()
            .filter_map(|(n, o)| match o {
                StageOutcome::Failed { error, .. } => {
                    Some(format!("  {n}: {}", masker.mask(error)))
                }
                _ => None,
            })
            .collect();
        let text = format!("stage(s) failed:\n{}", failed.join("\n"));
        err!("error: {text}");
        for e in &outcome.rollback_errors {
            err!("error: {}", masker.mask(e));
        }
        error = Some(text);
    }
    outputs
        .finish(&outcome.summary, exit as u8, error.as_deref())
        .map_err(Failure::failed)?;
    Ok(exit)
}

/// One masker for the process: the `logging.masking` patterns of every
/// selected stage together; masking is off only if every stage turns it off.
fn process_masker(
    orchestration: &Orchestration,
    selected: &BTreeSet<String>,
) -> Result<Masker, Failure> {
    let mut patterns = Vec::new();
    let mut enabled = false;
    let mut any = false;
    for def in orchestration
        .file
        .stages
        .iter()
        .filter(|d| selected.contains(&d.name))
    {
        // check_files already loaded these; a failure here was reported there.
        if let Ok(loaded) = crate::config::load_stage_config(&def.config_path) {
            any = true;
            let masking = &loaded.value.logging.masking;
            if let Err(e) = Masker::from_config(true, &masking.patterns) {
                return Err(Failure::bad_input(format!(
                    "{}: logging.masking.patterns: {e}",
                    def.config_path.display()
                )));
            }
            enabled |= masking.enabled;
            patterns.extend(masking.patterns.iter().cloned());
        }
    }
    Masker::from_config(enabled || !any, &patterns)
        .map_err(|e| Failure::bad_input(format!("logging.masking.patterns of a stage: {e}")))
}

fn describe(outcome: &StageOutcome) -> String {
    match outcome {
        StageOutcome::Done {
            migrations,
            duration,
        } => {
            format!(
                "done, {migrations} migration(s) in {}",
                output::format_duration(*duration)
            )
        }
        StageOutcome::ConditionFalse => "skipped: condition is false".into(),
        StageOutcome::Failed { error, policy, .. } => {
            format!("FAILED (on_failure: {policy:?}): {error}")
        }
        StageOutcome::Skipped { because } => format!("skipped: {because}"),
        StageOutcome::NotStarted => "not started (the run stopped)".into(),
        StageOutcome::NothingApplied => "skipped: nothing applied, nothing to roll back".into(),
    }
}

fn print_dry_run(
    orchestration: &Orchestration,
    levels: &[Vec<String>],
    plans: &[crate::orchestrate::StagePlan],
    way: Way,
    masker: &Masker,
) {
    let verb = if way == Way::Up { "up" } else { "down" };
    let total: usize = plans.iter().map(|p| p.migrations.len()).sum();
    out!(
        "dry run: stages {verb} ({} stage(s), {total} migration(s)); nothing is sent and no store is written",
        plans.len()
    );
    out!(
        "max_concurrent_stages: {}; stages on one level may run at the same time",
        orchestration.file.global.max_concurrent_stages
    );
    for (i, level) in levels.iter().enumerate() {
        out!("  level {}: {}", i + 1, level.join(", "));
    }
    for plan in plans {
        out!();
        out!(
            "[{}] {} migration(s) to {verb}",
            plan.name,
            plan.migrations.len()
        );
        if let Some(condition) = &plan.condition {
            out!("  condition: {}", masker.mask(condition));
        }
        for migration in &plan.migrations {
            for line in super::render::plan_lines(migration) {
                out!("{line}");
            }
        }
    }
}

pub async fn status(ctx: &Context, args: &StagesStatusArgs) -> Result<Exit, Failure> {
    let orchestration = load(ctx, &args.file.config)?;
    let masker = ctx.masker();
    // Register secret-named variables known without running anything, so a
    // value that appears elsewhere is masked too.
    for (k, v) in &orchestration.file.global.env {
        masker.add_variable(k, v);
    }
    let mut rows = Vec::new();
    for def in &orchestration.file.stages {
        for (k, v) in &def.env {
            masker.add_variable(k, v);
        }
        // What `status` of the stage alone masks: its config's literal
        // secrets and its secret-named variables, so an exported value that
        // contains one is masked here too.
        if let Ok(loaded) = crate::config::load_stage_config(&def.config_path) {
            crate::migrate::register_stage_secrets(
                &loaded.value,
                &orchestration.inherited(def),
                &masker,
            );
        }
        let info = inspect_stage(def).await?;
        for (k, v) in &info.exported {
            masker.add_variable(k, v);
        }
        rows.push((def, info));
    }
    match args.output.output {
        OutputFormat::Json => {
            let stages: Vec<serde_json::Value> = rows
                .iter()
                .map(|(def, info)| {
                    let mut v = json!({
                        "name": def.name,
                        "config": def.config_path.display().to_string(),
                        "depends_on": def.depends_on,
                        "store": info.store,
                        "migrations": info.migrations,
                        "applied": info.applied,
                        "pending": info.pending,
                        "state": state_word(info),
                        "last_run": info.last_run,
                    });
                    if ctx.verbose() {
                        v["exported"] = info
                            .exported
                            .iter()
                            .map(|(k, val)| (k.clone(), json!(masker.mask_variable(k, val))))
                            .collect::<serde_json::Map<_, _>>()
                            .into();
                        v["imports"] = def
                            .env_from_stages
                            .iter()
                            .map(|i| json!({"stage": i.stage, "vars": i.vars}))
                            .collect::<Vec<_>>()
                            .into();
                    }
                    v
                })
                .collect();
            let mut out =
                json!({"file": orchestration.file.path.display().to_string(), "stages": stages});
            masker.mask_json(&mut out);
            out_json!(&out);
        }
        OutputFormat::Text => {
            out!("stages: {}", orchestration.file.path.display());
            // Wide enough for the longest stage name, so columns stay aligned.
            let width = rows
                .iter()
                .map(|(def, _)| def.name.chars().count())
                .chain([18])
                .max()
                .unwrap_or(18);
            out!(
                "  {:<width$} {:<9} {:>7} {:>7}  {:<44} depends on",
                "stage",
                "state",
                "applied",
                "pending",
                "last run"
            );
            for (def, info) in &rows {
                let last = info
                    .last_run
                    .as_ref()
                    .map(|r| {
                        format!(
                            "{} {:03} {} {}",
                            r.direction, r.version, r.state, r.started_at
                        )
                    })
                    .unwrap_or_else(|| "-".into());
                let deps = if def.depends_on.is_empty() {
                    "-".to_string()
                } else {
                    def.depends_on.join(", ")
                };
                out!(
                    "  {:<width$} {:<9} {:>7} {:>7}  {:<44} {deps}",
                    def.name,
                    state_word(info),
                    info.applied.len(),
                    info.pending.len(),
                    last
                );
            }
            if ctx.verbose() {
                for (def, info) in &rows {
                    out!();
                    out!("[{}]", def.name);
                    out!("  config:   {}", def.config_path.display());
                    out!("  store:    {}", info.store);
                    if let Some(run) = &info.last_run
                        && let Some(error) = &run.error
                    {
                        out!("  last error: {}", masker.mask(error));
                    }
                    for import in &def.env_from_stages {
                        out!(
                            "  imports from {}: {}",
                            import.stage,
                            import.vars.join(", ")
                        );
                    }
                    if info.exported.is_empty() {
                        out!("  exported: (none)");
                    } else {
                        out!("  exported:");
                        for (k, v) in &info.exported {
                            out!("    {k} = {}", masker.mask_variable(k, v));
                        }
                    }
                }
            }
        }
    }
    if args.check.check {
        return check(ctx, &orchestration, args.output.output).await;
    }
    Ok(Exit::Ok)
}

/// `stages status --check`: each stage's full status (read-only, as
/// `status` of the stage alone): pending, dirty, out of order, changed, missing.
async fn check(
    ctx: &Context,
    orchestration: &Orchestration,
    output: OutputFormat,
) -> Result<Exit, Failure> {
    let services = ctx.services(true)?;
    let mut reasons = Vec::new();
    for def in &orchestration.file.stages {
        let stage = orchestration.open_stage(def, &services, true).await?;
        let report = stage.status(None).await?;
        reasons.push((Some(def.name.as_str()), render::check_reasons(&report)));
    }
    Ok(render::print_check(&reasons, output))
}

fn state_word(info: &crate::orchestrate::StageInfo) -> &'static str {
    match (info.applied.is_empty(), info.pending.is_empty()) {
        (_, true) if info.migrations > 0 || !info.applied.is_empty() => "applied",
        (_, true) => "empty",
        (true, false) => "pending",
        (false, false) => "partial",
    }
}

pub fn validate(ctx: &Context, args: &StagesValidateArgs) -> Result<Exit, Failure> {
    let json = args.output.output == OutputFormat::Json;
    let path = args.file.config.as_path();
    // Plugins load through the same runtime (and compile cache) as `stages up`.
    let runtime = ctx.plugin_runtime()?;
    let cli: BTreeSet<String> = ctx.all_vars().into_keys().collect();
    let result = validate_stages(path, Some(&runtime), &cli);
    for d in result.all() {
        err!("{d}");
    }
    ctx.warn_unused_vars(&result.used);
    let errors = result.error_count();
    if json {
        // One document; stderr keeps the same lines for people.
        let problems: Vec<serde_json::Value> = result
            .all()
            .map(|d| {
                json!({
                    "severity": d.severity,
                    "file": d.file.display().to_string(),
                    "line": d.line,
                    "column": d.column,
                    "field": d.field,
                    "message": d.message,
                    "hint": d.hint,
                })
            })
            .collect();
        let mut value = json!({
            "schema": crate::output::events::EVENT_SCHEMA,
            "config": path.display().to_string(),
            "valid": errors == 0,
            "errors": errors,
            "stages": result.stages.len(),
            "migrations": result.migrations.values().sum::<usize>(),
            "problems": problems,
        });
        ctx.masker().mask_json(&mut value);
        out_json!(&value);
    }
    if errors > 0 {
        let stages: BTreeSet<&str> = result
            .stages
            .iter()
            .filter(|(_, d)| d.iter().any(|d| d.is_error()))
            .map(|(n, _)| n.as_str())
            .collect();
        err!(
            "{errors} problem(s) found{}; nothing was sent",
            if stages.is_empty() {
                String::new()
            } else {
                format!(
                    " (stages: {})",
                    stages.into_iter().collect::<Vec<_>>().join(", ")
                )
            }
        );
        return Ok(Exit::BadInput);
    }
    if json {
        return Ok(Exit::Ok);
    }
    let files: usize = result.migrations.values().sum();
    out!(
        "ok: {} and its {} stage(s) ({files} migration file(s)) are valid",
        path.display(),
        result.stages.len()
    );
    Ok(Exit::Ok)
}

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
use crate::orchestrate::{
    Orchestration, RunOptions, Selection, StageOutcome, Way, inspect_stage, validate_stages,
};
use crate::output::{self, Masker};

fn load(ctx: &Context, path: &Path) -> Result<Arc<Orchestration>, Failure> {
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
    if args.output.output == OutputFormat::Json {
        return Err(Failure::not_available("--output json"));
    }
    if args.report.report_junit.is_some() {
        return Err(Failure::not_available("--report-junit"));
    }
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
    let services = ctx.services(args.dry_run.dry_run)?;
    match way {
        Way::Up => {
            orchestration
                .check_up_dependencies(&selected, &services)
                .await?
        }
        Way::Down => orchestration.check_down_dependents(&selected).await?,
    }
    if args.dry_run.dry_run {
        let (levels, plans) = orchestration.dry_run(&selected, way, &services).await?;
        print_dry_run(&orchestration, &levels, &plans, way, &masker);
        return Ok(Exit::Ok);
    }
    let progress = ctx.progress();
    let factory_progress = progress.clone();
    let options = RunOptions {
        services,
        progress: progress.clone(),
        observer: Arc::new(move |stage: &str| {
            Box::new(ProgressObserver(factory_progress.stage(stage)))
                as Box<dyn crate::migrate::Observer>
        }),
        wait_between_stages: args.wait_between_stages,
        retry_interrupted: args.retry_interrupted.retry_interrupted,
    };
    let outcome = orchestration.run(&selected, way, &options).await;
    if ctx.verbose() {
        for (name, stage) in &outcome.stages {
            out!("  {name}: {}", masker.mask(&describe(stage)));
        }
    }
    for (name, versions) in &outcome.rolled_back {
        out!(
            "rolled back [{name}]: {}",
            versions
                .iter()
                .map(|v| format!("{v:03}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if outcome.code != 0 {
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
        err!("error: stage(s) failed:\n{}", failed.join("\n"));
        for e in &outcome.rollback_errors {
            err!("error: {}", masker.mask(e));
        }
    }
    Ok(Exit::from_code(outcome.code))
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
    Ok(Exit::Ok)
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
    if args.output.output == OutputFormat::Json {
        return Err(Failure::not_available("--output json"));
    }
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
    let files: usize = result.migrations.values().sum();
    out!(
        "ok: {} and its {} stage(s) ({files} migration file(s)) are valid",
        path.display(),
        result.stages.len()
    );
    Ok(Exit::Ok)
}

//! `apirun verify` and `apirun stages verify`: run the `verify:` block of every
//! applied migration against the live system (docs/migrations.md, "Live
//! verification"). Exit 0 when everything checked is ok, 3 when anything
//! drifted or is gone (the gate convention of a check), 1 when a check could
//! not run, 2 for bad usage.

use serde_json::json;

use super::context::Context;
use super::defs::{OutputFormat, StagesVerifyArgs, VerifyArgs};
use super::exit::{Exit, Failure};
use crate::migrate::{VerifyResult, VerifyState};
use crate::output::Masker;

/// `apirun verify`.
pub async fn verify(ctx: &Context, args: &VerifyArgs) -> Result<Exit, Failure> {
    let (stage, masker) = super::single::open(ctx, true).await?;
    let results = stage.verify_live().await?;
    match args.output.output {
        OutputFormat::Json => print_json(&json!({ "migrations": results }), &masker),
        OutputFormat::Text => print_text(None, &results),
    }
    Ok(exit_of(results.iter()))
}

/// `apirun stages verify`: every stage in dependency order.
pub async fn stages_verify(ctx: &Context, args: &StagesVerifyArgs) -> Result<Exit, Failure> {
    let orchestration = super::stages::load(ctx, &args.file.config)?;
    let masker = ctx.masker();
    let services = ctx.services(true)?;
    let mut all = Vec::new();
    for name in orchestration.graph.order() {
        let Some(def) = orchestration.def(&name) else {
            continue;
        };
        let stage = orchestration.open_stage(def, &services, true).await?;
        let results = stage.verify_live().await.map_err(|e| {
            let mut failure = Failure::from(e);
            failure.message = format!("stage `{}`: {}", def.name, failure.message);
            failure
        })?;
        if args.output.output == OutputFormat::Text {
            print_text(Some(&def.name), &results);
        }
        all.push((def.name.clone(), results));
    }
    if args.output.output == OutputFormat::Json {
        let stages: Vec<serde_json::Value> = all
            .iter()
            .map(|(name, results)| json!({"name": name, "migrations": results}))
            .collect();
        print_json(&json!({ "stages": stages }), &masker);
    }
    Ok(exit_of(all.iter().flat_map(|(_, r)| r.iter())))
}

fn print_json(value: &serde_json::Value, masker: &Masker) {
    let mut value = value.clone();
    masker.mask_json(&mut value);
    out_json!(&value);
}

fn print_text(stage: Option<&str>, results: &[VerifyResult]) {
    // Stages: a `[stage]` header, then its migrations indented.
    let prefix = match stage {
        Some(name) => {
            out!("[{name}]");
            "  "
        }
        None => "",
    };
    if results.is_empty() {
        out!("{prefix}nothing applied");
        return;
    }
    for r in results {
        let status = r.status.map(|s| format!(" ({s})")).unwrap_or_default();
        let detail = r
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        out!(
            "{prefix}{:>4} {:<30} {}{status}{detail}",
            r.version,
            r.name,
            r.state.as_str()
        );
    }
}

/// 3 if anything drifted or is gone (the gate status of `--check`), else 1
/// if a check could not run, else 0.
fn exit_of<'a>(results: impl Iterator<Item = &'a VerifyResult>) -> Exit {
    let mut exit = Exit::Ok;
    for r in results {
        match r.state {
            VerifyState::Drifted | VerifyState::Gone => return Exit::CheckFoundWork,
            VerifyState::Error => exit = Exit::MigrationFailed,
            VerifyState::Ok | VerifyState::Unchecked => {}
        }
    }
    exit
}

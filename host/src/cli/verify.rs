//! `apirun verify` and `apirun stages verify`: run the `verify:` block of every
//! applied migration against the live system (docs/migrations.md, "Live
//! verification"). Exit 0 when everything checked is ok, 3 when anything
//! drifted or is gone (the gate convention of a check), 1 when a check could
//! not run, 2 for bad usage.

use std::path::Path;
use std::sync::Arc;

use clap::Args;
use serde_json::json;

use super::Failure;
use super::args::OutputFormat;
use crate::migrate::{VerifyResult, VerifyState};
use crate::output::Masker;
use crate::store::Access;

/// Exit status when the live system no longer matches what was applied.
pub const EXIT_DRIFT: u8 = 3;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long, env = "APIRUN_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct StagesVerifyArgs {
    #[command(flatten)]
    pub file: super::stages::StagesFileArg,
    #[arg(long, env = "APIRUN_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `apirun verify`.
pub async fn verify(path: &Path, args: &VerifyArgs) -> Result<u8, Failure> {
    let (stage, masker) = super::single::open(path, Access::ReadOnly).await?;
    let results = stage.verify_live().await?;
    match args.output {
        OutputFormat::Json => print_json(&json!({ "migrations": results }), &masker)?,
        OutputFormat::Text => print_text(None, &results),
    }
    Ok(exit_code(results.iter()))
}

/// `apirun stages verify`: every stage in dependency order.
pub async fn stages_verify(args: &StagesVerifyArgs) -> Result<u8, Failure> {
    let orchestration = super::stages::load(&args.file.config)?;
    let masker = Arc::new(Masker::new());
    crate::output::set_process_masker(&masker);
    let services = super::stages::services(&masker, true)?;
    let mut all = Vec::new();
    for name in orchestration.graph.order() {
        let Some(def) = orchestration.def(&name) else {
            continue;
        };
        let stage = orchestration.open_stage(def, &services, true).await?;
        let results = stage
            .verify_live()
            .await
            .map_err(|e| Failure {
                code: e.exit_code() as u8,
                message: format!("error: stage `{}`: {e}", def.name),
            })?;
        if args.output == OutputFormat::Text {
            print_text(Some(&def.name), &results);
        }
        all.push((def.name.clone(), results));
    }
    if args.output == OutputFormat::Json {
        let stages: Vec<serde_json::Value> = all
            .iter()
            .map(|(name, results)| json!({"name": name, "migrations": results}))
            .collect();
        print_json(&json!({ "stages": stages }), &masker)?;
    }
    Ok(exit_code(all.iter().flat_map(|(_, r)| r.iter())))
}

fn print_json(value: &serde_json::Value, masker: &Masker) -> Result<(), Failure> {
    let mut value = value.clone();
    masker.mask_json(&mut value);
    out_json!(&value);
    Ok(())
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

/// 3 if anything drifted or is gone, else 1 if a check could not run, else 0.
fn exit_code<'a>(results: impl Iterator<Item = &'a VerifyResult>) -> u8 {
    let mut code = 0;
    for r in results {
        match r.state {
            VerifyState::Drifted | VerifyState::Gone => return EXIT_DRIFT,
            VerifyState::Error => code = 1,
            VerifyState::Ok | VerifyState::Unchecked => {}
        }
    }
    code
}

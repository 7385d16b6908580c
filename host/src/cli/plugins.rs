//! `apirun plugins list|inspect`: which plugins a stage can use, and what a
//! component file implements (docs/plugins.md).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};

use super::context::Context;
use super::defs::{InspectArgs, ListArgs, OutputFormat, PluginsArgs, PluginsCommand};
use super::exit::{Exit, Failure};
use crate::config::load_stage_config;
use crate::plugin::{BUILTINS, ComponentInfo, PluginKind, PluginRuntime, compatible, host_version};

pub async fn run(ctx: &Context, args: &PluginsArgs) -> Result<Exit, Failure> {
    match &args.command {
        PluginsCommand::List(list_args) => list(ctx, list_args),
        PluginsCommand::Inspect(inspect_args) => inspect(ctx, inspect_args),
    }
}

/// One row of `plugins list`.
struct Row {
    name: String,
    /// World and version, or why the component cannot be used.
    world: Result<Vec<(PluginKind, semver::Version)>, String>,
    source: String,
    note: Option<String>,
}

fn worlds(info: &ComponentInfo) -> Vec<(PluginKind, semver::Version)> {
    info.worlds.clone()
}

fn list(ctx: &Context, args: &ListArgs) -> Result<Exit, Failure> {
    let config = ctx.config();
    let runtime = ctx.plugin_runtime()?;
    // Without a stage config there is still something to show: the built-ins.
    let configured = if config.exists() {
        let loaded = load_stage_config(config)?;
        Some(loaded.value.plugins)
    } else {
        None
    };
    let entries = configured.as_deref().unwrap_or_default();

    let mut rows = Vec::new();
    for builtin in BUILTINS {
        let replaced_by = entries.iter().find(|p| p.name == builtin.name);
        rows.push(Row {
            name: builtin.name.to_string(),
            world: runtime
                .load_builtin(builtin)
                .map(|c| worlds(c.info()))
                .map_err(|e| e.to_string()),
            source: "built-in".to_string(),
            note: replaced_by.map(|p| format!("replaced in this stage by {}", p.path.display())),
        });
    }
    for entry in entries {
        let replaces = BUILTINS.iter().any(|b| b.name == entry.name);
        rows.push(Row {
            name: entry.name.clone(),
            world: load_file(&runtime, &entry.name, &entry.path),
            source: entry.path.display().to_string(),
            note: replaces.then(|| "replaces the built-in of this name".to_string()),
        });
    }
    let failed = rows.iter().any(|r| r.world.is_err());

    let mut out = String::new();
    match args.output.output {
        OutputFormat::Json => {
            let items: Vec<Value> = rows
                .iter()
                .map(|row| {
                    let mut item = json!({
                        "name": row.name,
                        "source": row.source,
                        "note": row.note,
                    });
                    match &row.world {
                        Ok(found) => {
                            item["worlds"] = found
                                .iter()
                                .map(|(kind, version)| json!({"world": kind.world(), "version": version.to_string()}))
                                .collect();
                        }
                        Err(message) => item["error"] = json!(message),
                    }
                    item
                })
                .collect();
            let report = json!({
                "host_wit_version": host_version().to_string(),
                "config": configured.as_ref().map(|_| config.display().to_string()),
                "plugins": items,
            });
            out = serde_json::to_string_pretty(&report).unwrap_or_default();
            out.push('\n');
        }
        OutputFormat::Text => {
            let _ = writeln!(out, "apirun:plugin@{} (this apirun)", host_version());
            let _ = match &configured {
                Some(_) => writeln!(out, "stage config: {}", config.display()),
                None => writeln!(
                    out,
                    "no stage config at {}: built-in plugins only",
                    config.display()
                ),
            };
            let world_text = |row: &Row| match &row.world {
                Ok(found) => found
                    .iter()
                    .map(|(kind, version)| format!("{} {version}", kind.world()))
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(_) => "-".to_string(),
            };
            let name_width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
            let world_width = rows
                .iter()
                .map(|r| world_text(r).len())
                .max()
                .unwrap_or(5)
                .max(5);
            let _ = writeln!(
                out,
                "{:name_width$}  {:world_width$}  SOURCE",
                "NAME", "WORLD VERSION"
            );
            for row in &rows {
                let note = row
                    .note
                    .as_ref()
                    .map(|n| format!("  ({n})"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:name_width$}  {:world_width$}  {}{note}",
                    row.name,
                    world_text(row),
                    row.source
                );
                if let Err(message) = &row.world {
                    let _ = writeln!(out, "{:name_width$}  error: {message}", "");
                }
            }
        }
    }
    print_all(&out);
    Ok(if failed { Exit::BadInput } else { Exit::Ok })
}

fn load_file(
    runtime: &Arc<PluginRuntime>,
    name: &str,
    path: &Path,
) -> Result<Vec<(PluginKind, semver::Version)>, String> {
    runtime
        .load_file(name, path)
        .map(|c| worlds(c.info()))
        .map_err(|e| e.to_string())
}

fn inspect(ctx: &Context, args: &InspectArgs) -> Result<Exit, Failure> {
    let runtime = ctx.plugin_runtime()?;
    // Loading goes through the compile cache (a Python component takes
    // seconds to compile) and also proves the imports link; only a component
    // the host refuses is compiled again here, to show what it contains.
    let (info, refused) = match runtime.load_file(&args.path.display().to_string(), &args.path) {
        Ok(component) => (component.info().clone(), None),
        Err(load_error) => {
            let info = runtime
                .inspect_file(&args.path)
                .map_err(Failure::bad_input)?;
            (info, Some(load_error.to_string()))
        }
    };
    let host = host_version();
    let usable = refused.is_none();
    let verdict = match &refused {
        None => format!("loads in this apirun (apirun:plugin@{host})"),
        Some(_) if info.worlds.is_empty() => {
            "not an apirun plugin: it exports no apirun:plugin world (step, auth or extractor)"
                .to_string()
        }
        Some(reason) => format!("refused by this apirun (apirun:plugin@{host}): {reason}"),
    };
    let mut out = String::new();
    match args.output.output {
        OutputFormat::Json => {
            let report = json!({
                "path": args.path.display().to_string(),
                "worlds": info.worlds.iter()
                    .map(|(kind, version)| json!({"world": kind.world(), "version": version.to_string(), "compatible": compatible(&host, version)}))
                    .collect::<Vec<_>>(),
                "host_wit_version": host.to_string(),
                "loads": usable,
                "error": refused,
                "imports": info.imports,
                "exports": info.exports,
            });
            out = serde_json::to_string_pretty(&report).unwrap_or_default();
            out.push('\n');
        }
        OutputFormat::Text => {
            let _ = writeln!(out, "file:    {}", args.path.display());
            if info.worlds.is_empty() {
                let _ = writeln!(out, "world:   none");
            }
            for (kind, version) in &info.worlds {
                let _ = writeln!(
                    out,
                    "world:   {} (exports apirun:plugin/{}@{version})",
                    kind.world(),
                    kind.interface()
                );
                let _ = writeln!(out, "version: {version}");
            }
            let _ = writeln!(out, "status:  {verdict}");
            let _ = writeln!(out, "imports:");
            for import in &info.imports {
                let _ = writeln!(out, "  {import}");
            }
            let _ = writeln!(out, "exports:");
            for export in &info.exports {
                let _ = writeln!(out, "  {export}");
            }
        }
    }
    print_all(&out);
    Ok(if usable { Exit::Ok } else { Exit::BadInput })
}

/// Writes to stdout, ignoring a closed pipe (`apirun plugins list | head`).
fn print_all(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

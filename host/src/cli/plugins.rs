//! `apirun plugins list|inspect`: which plugins a stage can use, and what a
//! component file implements (docs/plugins.md).

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::Digest as _;

use super::context::Context;
use super::defs::{InspectArgs, ListArgs, NewArgs, OutputFormat, PluginsArgs, PluginsCommand};
use super::exit::{Exit, Failure};
use crate::config::load_stage_config;
use crate::plugin::inspect::{Toolchain, missing_imports, shown_exports};
use crate::plugin::{
    BUILTINS, ComponentInfo, HOST_WIT_VERSIONS, LoadedComponent, Metadata, PluginKind,
    PluginRuntime, host_version, host_versions_text, read_component, supported,
};

pub async fn run(ctx: &Context, args: &PluginsArgs) -> Result<Exit, Failure> {
    match &args.command {
        PluginsCommand::List(list_args) => list(ctx, list_args).await,
        PluginsCommand::Inspect(inspect_args) => inspect(ctx, inspect_args).await,
        PluginsCommand::New(new_args) => new_project(new_args),
    }
}

/// One row of `plugins list`.
struct Row {
    name: String,
    /// World and version, or why the component cannot be used.
    world: Result<Vec<(PluginKind, semver::Version)>, String>,
    /// What the plugin says about itself (None: a 0.1 component, or it failed).
    metadata: Option<Metadata>,
    source: String,
    note: Option<String>,
}

fn worlds(info: &ComponentInfo) -> Vec<(PluginKind, semver::Version)> {
    info.worlds.clone()
}

/// A component's metadata; a plugin that fails to say is shown without
/// (the failure is for `inspect` to report).
async fn metadata_of(
    runtime: &Arc<PluginRuntime>,
    name: &str,
    component: &Arc<LoadedComponent>,
) -> Option<Metadata> {
    runtime.metadata(name, component).await.ok().flatten()
}

async fn list(ctx: &Context, args: &ListArgs) -> Result<Exit, Failure> {
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
        let loaded = runtime.load_builtin(builtin);
        let metadata = match &loaded {
            Ok(component) => metadata_of(&runtime, builtin.name, component).await,
            Err(_) => None,
        };
        rows.push(Row {
            name: builtin.name.to_string(),
            world: loaded.map(|c| worlds(c.info())).map_err(|e| e.to_string()),
            metadata,
            source: "built-in".to_string(),
            note: replaced_by.map(|p| format!("replaced in this stage by {}", p.path.display())),
        });
    }
    for entry in entries {
        let replaces = BUILTINS.iter().any(|b| b.name == entry.name);
        let loaded = runtime.load_file_pinned(&entry.name, &entry.path, entry.sha256.as_deref());
        let metadata = match &loaded {
            Ok(component) => metadata_of(&runtime, &entry.name, component).await,
            Err(_) => None,
        };
        rows.push(Row {
            name: entry.name.clone(),
            world: loaded.map(|c| worlds(c.info())).map_err(|e| e.to_string()),
            metadata,
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
                        "metadata": row.metadata.as_ref().map(metadata_json),
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
                "host_wit_versions": HOST_WIT_VERSIONS,
                "config": configured.as_ref().map(|_| config.display().to_string()),
                "plugins": items,
            });
            out = serde_json::to_string_pretty(&report).unwrap_or_default();
            out.push('\n');
        }
        OutputFormat::Text => {
            let _ = writeln!(
                out,
                "this apirun runs plugins built against apirun:plugin {} (new plugins: {})",
                host_versions_text(),
                host_version()
            );
            let _ = match &configured {
                Some(_) => writeln!(out, "stage config: {}", config.display()),
                None => writeln!(
                    out,
                    "no stage config at {}: built-in plugins only",
                    config.display()
                ),
            };
            let table = rows
                .iter()
                .map(|row| {
                    let (world, contract) = match &row.world {
                        Ok(found) => (
                            found
                                .iter()
                                .map(|(kind, _)| kind.world())
                                .collect::<Vec<_>>()
                                .join(", "),
                            found
                                .first()
                                .map(|(_, v)| v.to_string())
                                .unwrap_or_else(|| "-".into()),
                        ),
                        Err(_) => ("-".to_string(), "-".to_string()),
                    };
                    let (version, description) = match &row.metadata {
                        Some(m) => (line(&m.version), line(&m.description)),
                        None => ("-".to_string(), String::new()),
                    };
                    let note = row
                        .note
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default();
                    [
                        row.name.clone(),
                        world,
                        contract,
                        version,
                        format!("{}{note}", row.source),
                        description,
                    ]
                })
                .collect::<Vec<_>>();
            let header = [
                "NAME",
                "WORLD",
                "CONTRACT",
                "VERSION",
                "SOURCE",
                "DESCRIPTION",
            ];
            let widths: Vec<usize> = (0..header.len())
                .map(|i| {
                    table
                        .iter()
                        .map(|r| r[i].chars().count())
                        .chain([header[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let format_row = |cells: &[&str]| {
                let mut text = String::new();
                for (i, cell) in cells.iter().enumerate() {
                    if i + 1 == cells.len() {
                        text.push_str(cell);
                    } else {
                        let pad = widths[i].saturating_sub(cell.chars().count());
                        text.push_str(cell);
                        text.push_str(&" ".repeat(pad + 2));
                    }
                }
                text.trim_end().to_string()
            };
            let _ = writeln!(out, "{}", format_row(&header));
            for (row, cells) in rows.iter().zip(&table) {
                let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                let _ = writeln!(out, "{}", format_row(&cells));
                if let Err(message) = &row.world {
                    let _ = writeln!(out, "  error: {message}");
                }
            }
        }
    }
    print_all(&out);
    Ok(if failed { Exit::BadInput } else { Exit::Ok })
}

/// A plugin's own text on one line, control characters escaped (a plugin
/// is not trusted to keep the terminal intact).
fn line(text: &str) -> String {
    crate::output::escape_line(text).into_owned()
}

fn metadata_json(m: &Metadata) -> Value {
    json!({"name": m.name, "version": m.version, "description": m.description})
}

async fn inspect(ctx: &Context, args: &InspectArgs) -> Result<Exit, Failure> {
    let runtime = ctx.plugin_runtime()?;
    let name = args.path.display().to_string();
    // Read once (through the checks every component file gets) for the
    // digest, the toolchain guess and the load.
    let bytes = read_component(&name, &args.path).map_err(Failure::bad_input)?;
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    let toolchain = Toolchain::detect(&bytes);
    // Loading goes through the compile cache (a Python component takes
    // seconds to compile) and also proves the imports link; only a component
    // the host refuses is compiled again here, to show what it contains.
    let (info, refused, metadata) = match runtime.load_bytes(&name, &bytes) {
        Ok(component) => {
            let metadata = runtime.metadata(&name, &component).await;
            (component.info().clone(), None, metadata)
        }
        Err(load_error) => {
            let info = runtime
                .inspect_bytes(&name, &bytes)
                .map_err(Failure::bad_input)?;
            (info, Some(load_error.to_string()), Ok(None))
        }
    };
    // A 0.2 plugin whose `metadata` traps or fails is refused too: every
    // call a run makes would fail the same way.
    let (metadata, refused) = match metadata {
        Ok(m) => (m, refused),
        Err(e) => (None, Some(e.to_string())),
    };
    let missing = missing_imports(&info.imports);
    let fix = (!missing.is_empty()).then(|| toolchain.fix(&missing));
    let exports = shown_exports(&info.exports);
    let usable = refused.is_none();
    let verdict = match &refused {
        None => format!(
            "loads in this apirun (apirun:plugin {})",
            host_versions_text()
        ),
        Some(_) if info.worlds.is_empty() => {
            "not an apirun plugin: it exports no apirun:plugin world (step, auth or extractor)"
                .to_string()
        }
        Some(reason) => format!(
            "refused by this apirun (apirun:plugin {}): {reason}",
            host_versions_text()
        ),
    };
    let mut out = String::new();
    match args.output.output {
        OutputFormat::Json => {
            let report = json!({
                "path": args.path.display().to_string(),
                "sha256": digest,
                "worlds": info.worlds.iter()
                    .map(|(kind, version)| json!({"world": kind.world(), "version": version.to_string(), "compatible": supported(version)}))
                    .collect::<Vec<_>>(),
                "metadata": metadata.as_ref().map(metadata_json),
                "host_wit_version": host_version().to_string(),
                "host_wit_versions": HOST_WIT_VERSIONS,
                "loads": usable,
                "error": refused,
                "toolchain": toolchain.to_string(),
                "missing_imports": missing,
                "fix": fix,
                "imports": info.imports,
                "exports": exports,
            });
            out = serde_json::to_string_pretty(&report).unwrap_or_default();
            out.push('\n');
        }
        OutputFormat::Text => {
            let _ = writeln!(out, "file:    {}", args.path.display());
            let _ = writeln!(
                out,
                "sha256:  {digest}  (pin it: `sha256: {digest}` in the plugins: entry)"
            );
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
            match &metadata {
                Some(m) => {
                    let _ = writeln!(out, "plugin:  {} {}", line(&m.name), line(&m.version));
                    let _ = writeln!(out, "about:   {}", line(&m.description));
                }
                None if usable => {
                    let _ = writeln!(
                        out,
                        "plugin:  (no name, version or description: built against apirun:plugin 0.1)"
                    );
                }
                None => {}
            }
            let _ = writeln!(
                out,
                "built:   {toolchain} (guessed from the component's contents)"
            );
            let _ = writeln!(out, "status:  {verdict}");
            if !missing.is_empty() {
                let _ = writeln!(out, "missing: imports apirun does not provide:");
                for import in &missing {
                    let _ = writeln!(out, "  {import}");
                }
                if let Some(fix) = &fix {
                    let _ = writeln!(out, "fix:     {fix}");
                }
            }
            let _ = writeln!(out, "imports:");
            for import in &info.imports {
                let _ = writeln!(out, "  {import}");
            }
            let _ = writeln!(out, "exports:");
            for export in &exports {
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

/// `plugins new`: write a plugin project (crate::scaffold) and say how to build it.
fn new_project(args: &NewArgs) -> Result<Exit, Failure> {
    let dir = args.dir.clone().unwrap_or_else(|| args.name.clone().into());
    let created = crate::scaffold::create(&crate::scaffold::NewPlugin {
        name: args.name.clone(),
        lang: args.lang,
        kind: args.kind,
        dir,
        sdk_root: args.sdk.clone(),
    })
    .map_err(Failure::bad_input)?;
    let mut out = format!(
        "created {} ({} {} plugin):\n",
        created.dir.display(),
        args.lang,
        args.kind
    );
    for file in &created.files {
        let _ = writeln!(out, "  {}", file.display());
    }
    let _ = write!(
        out,
        "next:\n  cd {}\n  {}\n  apirun plugins inspect {}\n  {}   # unit test\n  apirun --config example/config.yaml up   # see README.md\n",
        created.dir.display(),
        created.build_command,
        created.wasm.display(),
        created.test_command,
    );
    print_all(&out);
    Ok(Exit::Ok)
}

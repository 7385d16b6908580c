//! `stages validate`: everything that can be checked without sending a
//! request: the stages file, the dependency graph (cycles shown as paths),
//! conditions, each stage's config and migrations, every template variable
//! that nothing defines, and every import against what the exporting stage
//! extracts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{StageGraph, condition, cycle_text};
use crate::config::stages_file::load_stages_file_lenient;
use crate::config::{Diagnostic, Severity};
use crate::plugin::PluginRuntime;
use crate::validate::{OuterNames, StageValidation, validate_stage};

/// Everything found, in stage order.
#[derive(Debug, Default)]
pub struct StagesValidation {
    /// Problems of the stages file and the graph.
    pub file: Vec<Diagnostic>,
    /// Each stage's problems (config, migrations, variables, imports).
    pub stages: Vec<(String, Vec<Diagnostic>)>,
    /// Migration files per stage.
    pub migrations: BTreeMap<String, usize>,
    /// Variables some stage uses or defines (for `validate`'s warning about
    /// an unused `--var`).
    pub used: BTreeSet<String>,
}

impl StagesValidation {
    pub fn all(&self) -> impl Iterator<Item = &Diagnostic> {
        self.file
            .iter()
            .chain(self.stages.iter().flat_map(|(_, d)| d.iter()))
    }

    pub fn error_count(&self) -> usize {
        self.all().filter(|d| d.severity == Severity::Error).count()
    }
}

/// `runtime`: load every stage's configured plugins as `stages up` does.
/// `cli`: the names of variables given on the command line (defined in
/// every stage).
pub fn validate_stages(
    path: &Path,
    runtime: Option<&PluginRuntime>,
    cli: &BTreeSet<String>,
) -> StagesValidation {
    let mut out = StagesValidation::default();
    // Lenient: with errors in stages.yaml, still check the graph and every
    // stage that could be read, so that every problem is reported at once.
    let (file, diagnostics) = load_stages_file_lenient(path);
    out.file.extend(diagnostics);
    let Some(file) = file else { return out };
    let graph = StageGraph::new(&file);
    // Self-dependencies are already reported by the loader.
    for cycle in graph.cycles().into_iter().filter(|c| c.len() > 2) {
        out.file.push(
            Diagnostic::error(
                &file.path,
                format!("dependency cycle: {}", cycle_text(&cycle)),
            )
            .field("depends_on")
            .hint("remove one of these dependencies"),
        );
    }
    let global: BTreeSet<String> = file.global.env.keys().chain(cli.iter()).cloned().collect();
    out.used.extend(file.global.env.keys().cloned());

    // Validate each stage once, then check imports against exports.
    let mut results: BTreeMap<String, StageValidation> = BTreeMap::new();
    for def in &file.stages {
        if results.contains_key(&def.name) || !def.config_path.is_file() {
            continue; // duplicate name or missing config: the loader said so
        }
        let outer = OuterNames {
            global: global.clone(),
            stage: def.env.keys().cloned().collect(),
            imported: def
                .env_from_stages
                .iter()
                .flat_map(|i| i.vars.iter().cloned())
                .collect(),
        };
        results.insert(
            def.name.clone(),
            validate_stage(&def.config_path, &outer, runtime),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, def) in file.stages.iter().enumerate() {
        if !seen.insert(def.name.as_str()) {
            continue;
        }
        let Some(result) = results.get(&def.name) else {
            continue;
        };
        let mut diags = result.diagnostics.clone();
        for (j, import) in def.env_from_stages.iter().enumerate() {
            let Some(source) = results.get(&import.stage) else {
                continue;
            };
            if source.config.is_none() {
                continue; // its own errors say why
            }
            for (k, var) in import.vars.iter().enumerate() {
                if source.exported.contains(var) {
                    continue;
                }
                if source.plugin_steps {
                    diags.push(
                        Diagnostic::warning(
                            &file.path,
                            format!(
                                "variable `{var}` is imported by stage `{}` from stage `{}`, which extracts it in no migration; a step plugin of `{}` may set it",
                                def.name, import.stage, import.stage
                            ),
                        )
                        .field(format!("stages[{i}].env_from_stages[{j}].vars[{k}]")),
                    );
                } else if !result.unguarded.contains(var) {
                    // Defined as empty at run time, with a warning (the Go tool's
                    // behaviour); safe because every use is guarded.
                    diags.push(
                        Diagnostic::warning(
                            &file.path,
                            format!(
                                "variable `{var}` is imported by stage `{}` from stage `{}`, but no migration of `{}` extracts it; it will be empty",
                                def.name, import.stage, import.stage
                            ),
                        )
                        .field(format!("stages[{i}].env_from_stages[{j}].vars[{k}]"))
                        .hint(format!(
                            "`{}` uses it only inside `default` or `{{{{if}}}}` (or not at all); extract it in `{}` or remove it from the import",
                            def.name, import.stage
                        )),
                    );
                } else {
                    diags.push(
                        Diagnostic::error(
                            &file.path,
                            format!(
                                "variable `{var}` is imported by stage `{}` from stage `{}`, but no migration of `{}` extracts it",
                                def.name, import.stage, import.stage
                            ),
                        )
                        .field(format!("stages[{i}].env_from_stages[{j}].vars[{k}]"))
                        .hint(format!(
                            "`{}` uses it unguarded; extract `{var}` in a migration of `{}` (response.env_from), \
                             remove it from the import, or use it as {{{{.{var} | default \"...\"}}}} or inside {{{{if .{var}}}}}",
                            def.name, import.stage
                        )),
                    );
                }
            }
        }
        if let Some(source) = &def.condition {
            let field = format!("stages[{i}].condition");
            match condition::check(source) {
                Err(e) => {
                    let mut d = Diagnostic::error(&file.path, format!("condition of stage `{}`: {e}", def.name))
                        .field(field)
                        .hint("write a template that renders to true or false, or `{{.environment}} == 'production'` (or !=)");
                    // A part that does not parse: where it is (kept from loading).
                    if let Some((line, column)) = e.at {
                        d = d.at(line, column);
                    }
                    diags.push(d);
                }
                Ok(refs) => {
                    out.used.extend(refs.iter().map(|(name, _)| name.clone()));
                    let mut defined: BTreeSet<String> = global.clone();
                    defined.extend(def.env.keys().cloned());
                    defined.extend(
                        def.env_from_stages
                            .iter()
                            .flat_map(|i| i.vars.iter().cloned()),
                    );
                    if let Some(config) = &result.config {
                        defined.extend(config.env.iter().map(|e| e.name.clone()));
                    }
                    defined.extend(result.exported.iter().cloned());
                    for (name, optional) in refs {
                        if !optional && !defined.contains(&name) {
                            diags.push(
                                Diagnostic::error(
                                    &file.path,
                                    format!("variable `{name}` is used in the condition of stage `{}` but nothing defines it", def.name),
                                )
                                .field(field.clone()),
                            );
                        }
                    }
                }
            }
        }
        out.migrations
            .insert(def.name.clone(), result.migrations.len());
        out.used.extend(result.used.iter().cloned());
        out.used.extend(def.env.keys().cloned());
        out.stages.push((def.name.clone(), diags));
    }
    out
}

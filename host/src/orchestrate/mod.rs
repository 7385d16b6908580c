//! Multi-stage orchestration (docs/multi-stage.md): `stages.yaml` loaded
//! into a dependency graph ([`graph`]), selections (`--stage`, `--from`,
//! `--to`), variables imported from other stages' stores, the scheduler
//! ([`run`]) and the read-only views (`status`, `validate`, dry run).
//!
//! Every stage is a [`crate::migrate::Stage`] opened from its own config
//! (store, auth, plugins, env, client, wait); the process shares one plugin
//! runtime and one masker between them.

pub mod condition;
pub mod graph;
mod run;
mod validate;
mod view;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use graph::StageGraph;
pub use run::{RunOptions, RunOutcome, StageOutcome};
pub use validate::{StagesValidation, validate_stages};
pub use view::{LastRun, StageInfo, StagePlan, inspect_stage};

use crate::config::{Diagnostic, StageDef, StagesFile, load_stages_file};
use crate::migrate::{EngineError, InheritedVars, Services, Stage, Vars};
use crate::store::Store;

/// A failure of a stages command: what to print and the exit status
/// (1 a stage failed, 2 bad usage, config or files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagesError {
    pub message: String,
    pub code: u8,
}

impl StagesError {
    pub fn usage(message: impl Into<String>) -> StagesError {
        StagesError {
            message: message.into(),
            code: 2,
        }
    }

    pub fn failed(message: impl Into<String>) -> StagesError {
        StagesError {
            message: message.into(),
            code: 1,
        }
    }

    fn engine(stage: &str, e: EngineError) -> StagesError {
        let code = e.exit_code() as u8;
        let message = match &e {
            EngineError::Invalid(d) => format!("stage `{stage}`: invalid files:\n{d}"),
            other => format!("stage `{stage}`: {other}"),
        };
        StagesError { message, code }
    }
}

impl std::fmt::Display for StagesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Which way a command walks the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Up,
    Down,
}

/// `--stage`, `--from`, `--to`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub stage: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A loaded, acyclic `stages.yaml`.
#[derive(Debug, Clone)]
pub struct Orchestration {
    pub file: StagesFile,
    pub graph: StageGraph,
    /// Warnings and notes of the stages file.
    pub warnings: Vec<Diagnostic>,
    /// Variables given on the command line: every stage gets them, above
    /// every file (docs/configuration.md, "Variables from the command line").
    pub cli_vars: Vars,
}

/// `a -> b -> a`.
pub fn cycle_text(cycle: &[String]) -> String {
    cycle.join(" -> ")
}

impl Orchestration {
    /// Loads `path`; invalid files and dependency cycles are errors (exit 2).
    pub fn load(path: &Path) -> Result<Orchestration, StagesError> {
        let loaded = load_stages_file(path).map_err(|d| {
            StagesError::usage(format!(
                "error: {} is invalid ({} problem(s)):\n{d}\nrun `apirun stages validate -c {}` for every problem at once",
                path.display(),
                d.errors().count(),
                path.display()
            ))
        })?;
        let graph = StageGraph::new(&loaded.value);
        let cycles = graph.cycles();
        if !cycles.is_empty() {
            let text: Vec<String> = cycles.iter().map(|c| cycle_text(c)).collect();
            return Err(StagesError::usage(format!(
                "error: {}: depends_on: dependency cycle: {}; remove one of these dependencies",
                path.display(),
                text.join("; ")
            )));
        }
        Ok(Orchestration {
            file: loaded.value,
            graph,
            warnings: loaded.warnings,
            cli_vars: Vars::new(),
        })
    }

    pub fn def(&self, name: &str) -> Option<&StageDef> {
        self.file.stage(name)
    }

    fn known(&self, name: &str, flag: &str) -> Result<(), StagesError> {
        if self.graph.contains(name) {
            Ok(())
        } else {
            Err(StagesError::usage(format!(
                "error: {flag} {name}: no stage is named `{name}` in {}; stages: {}",
                self.file.path.display(),
                self.graph.names().join(", ")
            )))
        }
    }

    /// The stages a command acts on (docs/multi-stage.md). For `down`,
    /// `--from` names the first stage rolled back (the most downstream) and
    /// `--to` the last.
    pub fn select(&self, selection: &Selection, way: Way) -> Result<BTreeSet<String>, StagesError> {
        for (flag, value) in [
            ("--stage", &selection.stage),
            ("--from", &selection.from),
            ("--to", &selection.to),
        ] {
            if let Some(name) = value {
                self.known(name, flag)?;
            }
        }
        let with = |name: &str, set: BTreeSet<String>| {
            let mut set = set;
            set.insert(name.to_string());
            set
        };
        if let Some(stage) = &selection.stage {
            if selection.from.is_some() || selection.to.is_some() {
                return Err(StagesError::usage(
                    "error: --stage cannot be combined with --from or --to; use --from A --to B for a range",
                ));
            }
            return Ok([stage.clone()].into());
        }
        // A range runs from its upstream end to its downstream end. For `up`,
        // --from is the upstream end; for `down`, which runs the other way,
        // --from is the downstream end. Upstream of a stage = what it depends
        // on; downstream = its dependents.
        let (upstream_end, downstream_end) = match way {
            Way::Up => (&selection.from, &selection.to),
            Way::Down => (&selection.to, &selection.from),
        };
        let downstream = |s: &str| with(s, self.graph.descendants(s));
        let upstream = |s: &str| with(s, self.graph.ancestors(s));
        let selected = match (upstream_end, downstream_end) {
            (None, None) => self.graph.names().into_iter().collect(),
            (Some(first), None) => downstream(first),
            (None, Some(last)) => upstream(last),
            (Some(first), Some(last)) => {
                let set: BTreeSet<String> = downstream(first)
                    .intersection(&upstream(last))
                    .cloned()
                    .collect();
                if set.is_empty() {
                    let (from, to) = (
                        selection.from.as_deref().unwrap_or_default(),
                        selection.to.as_deref().unwrap_or_default(),
                    );
                    let meaning = match way {
                        Way::Up => {
                            "for `up`, --from names the upstream stage and --to the downstream one"
                        }
                        Way::Down => {
                            "for `down`, --from names the first stage rolled back (the most downstream) and --to the last"
                        }
                    };
                    return Err(StagesError::usage(format!(
                        "error: --from {from} --to {to}: `{last}` does not depend on `{first}`, so no stage lies between them; {meaning}"
                    )));
                }
                set
            }
        };
        Ok(selected)
    }

    /// `global.env` and the stage's env as inherited variables (imports empty).
    pub fn inherited(&self, def: &StageDef) -> InheritedVars {
        InheritedVars {
            global: self
                .file
                .global
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            stage: def
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            imported: Vars::new(),
            cli: self.cli_vars.clone(),
        }
    }

    /// The variables `def` imports with `env_from_stages`, read from each
    /// exporting stage's store, and warnings. With `lenient` (dry run,
    /// status) a variable not there yet becomes the placeholder `<name>`.
    /// Otherwise (docs/multi-stage.md, "Variables"): when the exporting
    /// stage was never applied or never extracted the variable, it is an
    /// error naming both stages if `def` uses the variable unguarded (a
    /// template would fail or print nothing); else the variable is empty
    /// and a warning says so (as the Go tool does).
    pub async fn imports(
        &self,
        def: &StageDef,
        lenient: bool,
    ) -> Result<(Vars, Vec<String>), StagesError> {
        let mut out = Vars::new();
        let mut warnings = Vec::new();
        let mut unguarded: Option<BTreeSet<String>> = None;
        for import in &def.env_from_stages {
            let Some(source) = self.def(&import.stage) else {
                return Err(StagesError::usage(format!(
                    "error: stage `{}` imports from unknown stage `{}`",
                    def.name, import.stage
                )));
            };
            let info = inspect_stage(source).await?;
            for var in &import.vars {
                if let Some(value) = info.exported.get(var) {
                    out.insert(var.clone(), value.clone());
                    continue;
                }
                if lenient {
                    out.insert(var.clone(), format!("<{var}>"));
                    continue;
                }
                let used = unguarded
                    .get_or_insert_with(|| crate::validate::unguarded_in_stage(&def.config_path))
                    .contains(var);
                let never_applied = info.applied.is_empty();
                if !used {
                    warnings.push(format!(
                        "stage `{}` imports `{var}` from stage `{}`, which {}; `{var}` is empty \
                         (`{}` uses it only inside `default` or `{{{{if}}}}`, or not at all)",
                        def.name,
                        source.name,
                        if never_applied {
                            "has never been applied"
                        } else {
                            "does not export it"
                        },
                        def.name
                    ));
                    out.insert(var.clone(), String::new());
                } else if never_applied {
                    return Err(StagesError::failed(format!(
                        "error: stage `{}` imports {} from stage `{}`, but `{}` has never been applied (its store {} has no applied migration); \
                         run `apirun stages up --stage {}` (or without --stage) first",
                        def.name,
                        import.vars.join(", "),
                        source.name,
                        source.name,
                        info.store,
                        source.name
                    )));
                } else {
                    let exported: Vec<&str> = info.exported.keys().map(String::as_str).collect();
                    return Err(StagesError::failed(format!(
                        "error: stage `{}` imports `{var}` from stage `{}`, but `{}` does not export `{var}` \
                         (no applied migration extracted it; it exports: {}) and `{}` uses it unguarded; extract it in one of `{}`'s migrations \
                         (response.env_from), remove it from env_from_stages, or use it as {{{{.{var} | default \"...\"}}}} or inside {{{{if .{var}}}}}",
                        def.name,
                        source.name,
                        source.name,
                        if exported.is_empty() {
                            "nothing".to_string()
                        } else {
                            exported.join(", ")
                        },
                        def.name,
                        source.name
                    )));
                }
            }
        }
        Ok((out, warnings))
    }

    /// Opens `def` as a [`Stage`] with its inherited and imported variables.
    pub async fn open_stage(
        &self,
        def: &StageDef,
        services: &Services,
        lenient: bool,
    ) -> Result<Stage, StagesError> {
        let mut inherited = self.inherited(def);
        let (imported, warnings) = self.imports(def, lenient).await?;
        inherited.imported = imported;
        let mut stage = Stage::open(&def.config_path, services, &inherited)
            .await
            .map_err(|e| StagesError::engine(&def.name, e))?;
        stage.warnings.extend(
            warnings
                .into_iter()
                .map(|w| Diagnostic::warning(&self.file.path, w)),
        );
        Ok(stage)
    }

    /// The stage's variables for its `condition`: base variables (global,
    /// config, stage env, imports) and what its applied migrations extracted.
    pub async fn condition_holds(
        &self,
        def: &StageDef,
        stage: &Stage,
    ) -> Result<bool, StagesError> {
        let Some(source) = &def.condition else {
            return Ok(true);
        };
        let mut vars = stage.base_vars().clone();
        vars.extend(
            stage
                .exported_vars()
                .await
                .map_err(|e| StagesError::engine(&def.name, e))?,
        );
        condition::evaluate(source, &vars).map_err(|e| {
            StagesError::usage(format!(
                "error: {}: stages[{}].condition of stage `{}`: {e}",
                self.file.path.display(),
                self.file
                    .stages
                    .iter()
                    .position(|s| s.name == def.name)
                    .unwrap_or(0),
                def.name
            ))
        })
    }

    /// Per-stage state for `up` preconditions: a stage outside the selection
    /// that a selected stage depends on must be applied (no pending
    /// migration), unless its condition is false.
    pub async fn check_up_dependencies(
        &self,
        selected: &BTreeSet<String>,
        services: &Services,
    ) -> Result<(), StagesError> {
        let mut problems = Vec::new();
        let mut checked = BTreeSet::new();
        for name in self.graph.order() {
            if !selected.contains(&name) {
                continue;
            }
            for dep in self.graph.dependencies(&name) {
                if selected.contains(&dep) || !checked.insert(dep.clone()) {
                    continue;
                }
                let Some(def) = self.def(&dep) else { continue };
                let info = inspect_stage(def).await?;
                if info.pending.is_empty() {
                    continue;
                }
                // A stage whose condition is false counts as satisfied.
                if def.condition.is_some()
                    && let Ok(stage) = self.open_stage(def, services, true).await
                    && let Ok(false) = self.condition_holds(def, &stage).await
                {
                    continue;
                }
                problems.push(format!(
                    "`{dep}` ({} of {} migration(s) pending; needed by `{name}`)",
                    info.pending.len(),
                    info.migrations
                ));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(StagesError::usage(format!(
            "error: not applied yet: {}; apply them first, e.g. `apirun stages up --to {}`, or run without --stage",
            problems.join(", "),
            selected.iter().next().cloned().unwrap_or_default()
        )))
    }

    /// `down` preconditions: a stage outside the selection that depends on a
    /// selected stage must not be applied any more.
    pub async fn check_down_dependents(
        &self,
        selected: &BTreeSet<String>,
    ) -> Result<(), StagesError> {
        let mut problems = Vec::new();
        let mut checked = BTreeSet::new();
        for name in self.graph.order() {
            if !selected.contains(&name) {
                continue;
            }
            for dependent in self.graph.dependents(&name) {
                if selected.contains(&dependent) || !checked.insert(dependent.clone()) {
                    continue;
                }
                let Some(def) = self.def(&dependent) else {
                    continue;
                };
                let info = inspect_stage(def).await?;
                if !info.applied.is_empty() {
                    problems.push(format!(
                        "`{dependent}` ({} migration(s) applied; depends on `{name}`)",
                        info.applied.len()
                    ));
                }
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(StagesError::usage(format!(
            "error: cannot roll back: these dependents are still applied: {}; roll them back first \
             (e.g. `apirun stages down --to {}` rolls back a stage and everything that depends on it)",
            problems.join(", "),
            selected.iter().next().cloned().unwrap_or_default()
        )))
    }

    /// Checks every selected stage's config and migration files before
    /// anything runs, so bad files stop the run with exit 2 up front.
    pub fn check_files(&self, selected: &BTreeSet<String>) -> Result<(), StagesError> {
        let mut problems = Vec::new();
        for (i, def) in self
            .file
            .stages
            .iter()
            .enumerate()
            .filter(|(_, d)| selected.contains(&d.name))
        {
            if let Some(source) = &def.condition
                && let Err(e) = condition::check(source)
            {
                problems.push(format!(
                    "{}: stages[{i}].condition of stage `{}`: {e}; write a template that renders to true or false, \
                     or `{{{{.environment}}}} == 'production'` (or !=)",
                    self.file.path.display(),
                    def.name
                ));
            }
            let config = match crate::config::load_stage_config(&def.config_path) {
                Ok(loaded) => loaded.value,
                Err(d) => {
                    problems.push(format!("stage `{}`:\n{d}", def.name));
                    continue;
                }
            };
            let migrations = match crate::config::load_migrations(&config.migrate_dir) {
                Ok(loaded) => loaded.value,
                Err(d) => {
                    problems.push(format!("stage `{}`:\n{d}", def.name));
                    continue;
                }
            };
            let errors: Vec<String> = crate::config::check_references(&config, &migrations)
                .into_iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect();
            if !errors.is_empty() {
                problems.push(format!("stage `{}`:\n{}", def.name, errors.join("\n")));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StagesError::usage(format!(
                "error: invalid files; nothing was run:\n{}\nrun `apirun stages validate -c {}` for details",
                problems.join("\n"),
                self.file.path.display()
            )))
        }
    }
}

/// Opens the store a stage config names, without resolving its variables.
async fn config_store(
    def: &StageDef,
) -> Result<(crate::config::StageConfig, Option<Arc<dyn Store>>), StagesError> {
    let config = crate::config::load_stage_config(&def.config_path)
        .map_err(|d| {
            StagesError::usage(format!("error: stage `{}`: invalid config:\n{d}", def.name))
        })?
        .value;
    let store = crate::migrate::open_config_store(&config)
        .await
        .map_err(|e| StagesError::engine(&def.name, e))?;
    Ok((config, store))
}

/// Parses a `--wait-between-stages` style duration (`10s`, `0`, `500ms`).
pub fn parse_wait(text: &str) -> Result<Duration, String> {
    crate::config::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// infrastructure -> services -> configuration, plus monitoring -> infrastructure.
    fn seed() -> Orchestration {
        let file = super::graph::tests::file(&[
            ("infrastructure", &[]),
            ("services", &["infrastructure"]),
            ("configuration", &["services"]),
            ("monitoring", &["infrastructure"]),
        ]);
        Orchestration {
            graph: StageGraph::new(&file),
            file,
            warnings: Vec::new(),
            cli_vars: Vars::new(),
        }
    }

    fn sel(stage: Option<&str>, from: Option<&str>, to: Option<&str>) -> Selection {
        Selection {
            stage: stage.map(String::from),
            from: from.map(String::from),
            to: to.map(String::from),
        }
    }

    fn names(set: BTreeSet<String>) -> Vec<String> {
        set.into_iter().collect()
    }

    #[test]
    fn up_selections() {
        let o = seed();
        let up = |s| names(o.select(&s, Way::Up).expect("selects"));
        assert_eq!(up(sel(None, None, None)).len(), 4);
        assert_eq!(up(sel(Some("services"), None, None)), ["services"]);
        assert_eq!(
            up(sel(None, None, Some("services"))),
            ["infrastructure", "services"]
        );
        assert_eq!(
            up(sel(None, Some("services"), None)),
            ["configuration", "services"]
        );
        assert_eq!(
            up(sel(None, Some("infrastructure"), Some("configuration"))),
            ["configuration", "infrastructure", "services"]
        );
        assert_eq!(
            o.select(
                &sel(None, Some("configuration"), Some("infrastructure")),
                Way::Up
            )
            .map_err(|e| e.code),
            Err(2)
        );
        assert_eq!(
            o.select(&sel(Some("nope"), None, None), Way::Up)
                .map_err(|e| e.code),
            Err(2)
        );
    }

    #[test]
    fn down_selections_read_from_downstream_to_upstream() {
        let o = seed();
        let down = |s| names(o.select(&s, Way::Down).expect("selects"));
        assert_eq!(
            down(sel(None, Some("configuration"), Some("services"))),
            ["configuration", "services"]
        );
        assert_eq!(
            down(sel(None, None, Some("services"))),
            ["configuration", "services"]
        );
        assert_eq!(
            down(sel(None, Some("services"), None)),
            ["infrastructure", "services"]
        );
        assert_eq!(
            o.select(
                &sel(None, Some("services"), Some("configuration")),
                Way::Down
            )
            .map_err(|e| e.code),
            Err(2)
        );
    }
}

//! `stages.yaml`: multi-stage orchestration (section 8). Cycles are checked elsewhere.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;

use super::decode::{self, Ctx, Fields, fields, index};
use super::error::{Diagnostics, Loaded, finish};
use super::paths::{Need, base_dir, resolve};
use super::suggest::closest;
use super::yaml::{Node, Pos, Value};

/// The only `apiVersion` understood.
pub const API_VERSION: &str = "apirun/v1";
/// The only `kind` understood.
pub const KIND: &str = "StageOrchestration";

/// A loaded `stages.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StagesFile {
    /// The stages file itself.
    pub path: PathBuf,
    /// YAML key `apiVersion`.
    pub api_version: String,
    pub kind: String,
    /// In file order.
    pub stages: Vec<StageDef>,
    pub global: GlobalConfig,
}

impl StagesFile {
    /// Looks up a stage by name.
    pub fn stage(&self, name: &str) -> Option<&StageDef> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// One stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageDef {
    pub name: String,
    /// Resolved path of the stage's config.yaml (relative paths: to stages.yaml's directory).
    pub config_path: PathBuf,
    pub depends_on: Vec<String>,
    /// Stage variables (scalars of any type as their text).
    pub env: IndexMap<String, String>,
    pub env_from_stages: Vec<EnvFromStage>,
    /// None: no limit (also for `0`).
    pub timeout: Option<Duration>,
    pub on_failure: OnFailure,
    /// Parsed at load, with its position; checked and evaluated by the orchestrator.
    pub condition: Option<super::Condition>,
}

/// `env_from_stages` entry: import `vars` exported by `stage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvFromStage {
    pub stage: String,
    pub vars: Vec<String>,
}

/// `on_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    #[default]
    Stop,
    Continue,
    SkipDependents,
}

/// `global:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalConfig {
    pub env: IndexMap<String, String>,
    pub wait_between_stages: Duration,
    /// At least 1 (default 1).
    pub max_concurrent_stages: usize,
    pub rollback_on_failure: bool,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            env: IndexMap::new(),
            wait_between_stages: Duration::ZERO,
            max_concurrent_stages: 1,
            rollback_on_failure: false,
        }
    }
}

const TOP_KEYS: &[&str] = &["apiVersion", "kind", "stages", "global"];
const STAGE_KEYS: &[&str] = &[
    "name",
    "config_path",
    "depends_on",
    "env",
    "env_from_stages",
    "timeout",
    "on_failure",
    "condition",
];
const GLOBAL_KEYS: &[&str] = &[
    "env",
    "wait_between_stages",
    "max_concurrent_stages",
    "rollback_on_failure",
];

/// Loads and checks a stages file: keys, types, duplicate names, unknown or self
/// dependencies, imports from unknown stages, missing stage configs. Every problem is
/// reported at once. Cycles are not checked here.
pub fn load_stages_file(path: &Path) -> Result<Loaded<StagesFile>, Diagnostics> {
    let src = super::read_file(path)?;
    let mut ctx = Ctx::new(path, "stages.yaml");
    let file = decode_stages_file(&mut ctx, &src);
    finish(file, ctx.diags)
}

/// Like [`load_stages_file`], but with errors it still returns what could be
/// read (a stage missing its name or config_path is left out), so that
/// `stages validate` can go on to check the graph and every stage's own
/// files and report every problem at once. `None` if the file cannot be read.
pub fn load_stages_file_lenient(path: &Path) -> (Option<StagesFile>, Vec<super::Diagnostic>) {
    let src = match super::read_file(path) {
        Ok(src) => src,
        Err(d) => return (None, d.0),
    };
    let mut ctx = Ctx::new(path, "stages.yaml");
    let file = decode_stages_file(&mut ctx, &src);
    let mut diags = Diagnostics(ctx.diags);
    diags.sort();
    (Some(file), diags.0)
}

/// A stage as read, with the positions needed for cross-checks.
struct Read {
    def: StageDef,
    name_pos: Option<Pos>,
    path: String,
    deps: Vec<(String, Pos)>,
    imports: Vec<(String, Pos)>,
}

pub(crate) fn decode_stages_file(ctx: &mut Ctx, src: &str) -> StagesFile {
    let root = ctx.parse(src);
    let base = base_dir(&ctx.file);
    let top = fields(ctx, root.as_ref(), "", TOP_KEYS).unwrap_or(Fields::empty(""));

    let api_version = header(ctx, &top, "apiVersion", API_VERSION);
    let kind = header(ctx, &top, "kind", KIND);

    let mut read: Vec<Read> = Vec::new();
    match top.get("stages") {
        None => top.missing(
            ctx,
            "stages",
            Some("list the stages under `stages:`".to_string()),
        ),
        Some(n) => match &n.value {
            Value::Seq(items) => {
                if items.is_empty() {
                    ctx.error(Some(n.pos), "stages", "no stages are defined", None);
                }
                for (i, item) in items.iter().enumerate() {
                    if let Some(r) = decode_stage(ctx, item, &index("stages", i), &base) {
                        read.push(r);
                    }
                }
            }
            _ => ctx.error(
                Some(n.pos),
                "stages",
                format!("expected a list of stages, found {}", n.kind_name()),
                Some("write each stage as a `- name: ...` item".to_string()),
            ),
        },
    }

    check_stages(ctx, &read);

    let global = decode_global(ctx, top.raw("global"));
    StagesFile {
        path: ctx.file.clone(),
        api_version,
        kind,
        stages: read.into_iter().map(|r| r.def).collect(),
        global,
    }
}

/// `apiVersion` / `kind`: must be `expected`; a missing one is only a warning.
fn header(ctx: &mut Ctx, top: &Fields<'_>, key: &str, expected: &str) -> String {
    match top.get(key) {
        None => {
            ctx.warning(
                top.pos,
                key,
                format!("{key} is missing; assuming {expected}"),
                Some(format!("add `{key}: {expected}`")),
            );
            expected.to_string()
        }
        Some(n) => {
            let value = decode::string(ctx, n, key).unwrap_or_default();
            if value.trim() != expected {
                ctx.error(
                    Some(n.pos),
                    key,
                    format!("unsupported {key} \"{value}\""),
                    Some(format!("use `{key}: {expected}`")),
                );
            }
            value.trim().to_string()
        }
    }
}

fn decode_stage(ctx: &mut Ctx, node: &Node, path: &str, base: &Path) -> Option<Read> {
    let f = fields(ctx, Some(node), path, STAGE_KEYS)?;
    let name = match f.get("name") {
        None => {
            f.missing(ctx, "name", None);
            None
        }
        Some(n) => decode::non_empty(ctx, n, &f.path_of("name")).map(|s| s.trim().to_string()),
    };
    let config_path = match f.get("config_path") {
        None => {
            f.missing(
                ctx,
                "config_path",
                Some("point to the stage's config.yaml".to_string()),
            );
            None
        }
        Some(n) => decode::non_empty(ctx, n, &f.path_of("config_path")).map(|raw| {
            resolve(
                ctx,
                base,
                &raw,
                Some(n.pos),
                &f.path_of("config_path"),
                Need::ExistingFile,
            )
        }),
    };

    let deps = names_with_pos(ctx, f.get("depends_on"), &f.path_of("depends_on"));
    let env = f.string_map(ctx, "env");

    let mut env_from_stages = Vec::new();
    let mut imports = Vec::new();
    if let Some(n) = f.get("env_from_stages") {
        let p = f.path_of("env_from_stages");
        match &n.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let ip = index(&p, i);
                    let Some(ef) = fields(ctx, Some(item), &ip, &["stage", "vars"]) else {
                        continue;
                    };
                    let stage = match ef.get("stage") {
                        None => {
                            ef.missing(ctx, "stage", None);
                            None
                        }
                        Some(sn) => decode::non_empty(ctx, sn, &ef.path_of("stage"))
                            .map(|s| (s.trim().to_string(), sn.pos)),
                    };
                    let vars = ef.string_list(ctx, "vars");
                    if !ef.has("vars") {
                        ef.missing(
                            ctx,
                            "vars",
                            Some("list the variables to import".to_string()),
                        );
                    } else if vars.is_empty() {
                        ctx.warning(
                            ef.value_pos("vars"),
                            &ef.path_of("vars"),
                            "no variables listed",
                            None,
                        );
                    }
                    for (j, v) in vars.iter().enumerate() {
                        if v.trim().is_empty() {
                            ctx.error(
                                ef.value_pos("vars"),
                                &index(&ef.path_of("vars"), j),
                                "empty variable name",
                                None,
                            );
                        }
                    }
                    if let Some((stage, pos)) = stage {
                        imports.push((stage.clone(), pos));
                        env_from_stages.push(EnvFromStage { stage, vars });
                    }
                }
            }
            _ => ctx.error(
                Some(n.pos),
                &p,
                format!("expected a list, found {}", n.kind_name()),
                Some("write `- stage: name` / `  vars: [a, b]` items".to_string()),
            ),
        }
    }

    let timeout = f.opt_duration(ctx, "timeout").filter(|d| !d.is_zero());
    let on_failure = match f
        .opt_choice(ctx, "on_failure", &["stop", "continue", "skip_dependents"])
        .as_deref()
    {
        Some("continue") => OnFailure::Continue,
        Some("skip_dependents") => OnFailure::SkipDependents,
        _ => OnFailure::Stop,
    };
    let condition = f.get("condition").and_then(|n| {
        let text = decode::string(ctx, n, &f.path_of("condition"))?;
        let origin = ctx.origin(n);
        (!text.trim().is_empty()).then(|| super::Condition::new(text, origin))
    });

    let (name, config_path) = (name?, config_path?);
    Some(Read {
        name_pos: f.value_pos("name"),
        path: path.to_string(),
        def: StageDef {
            name,
            config_path,
            depends_on: deps.iter().map(|(d, _)| d.clone()).collect(),
            env,
            env_from_stages,
            timeout,
            on_failure,
            condition,
        },
        deps,
        imports,
    })
}

/// A list of names with each one's position.
fn names_with_pos(ctx: &mut Ctx, node: Option<&Node>, path: &str) -> Vec<(String, Pos)> {
    let Some(node) = node else {
        return Vec::new();
    };
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Scalar { .. } => vec![node],
        _ => {
            ctx.error(
                Some(node.pos),
                path,
                format!("expected a list of stage names, found {}", node.kind_name()),
                Some("e.g. depends_on: [infrastructure]".to_string()),
            );
            return Vec::new();
        }
    };
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, n)| {
            decode::non_empty(ctx, n, &index(path, i)).map(|s| (s.trim().to_string(), n.pos))
        })
        .collect()
}

fn check_stages(ctx: &mut Ctx, read: &[Read]) {
    let mut names: Vec<&str> = Vec::new();
    for r in read {
        if !names.contains(&r.def.name.as_str()) {
            names.push(&r.def.name);
        }
    }
    let mut first: HashMap<&str, Option<Pos>> = HashMap::new();
    for r in read {
        if let Some(prev) = first.get(r.def.name.as_str()) {
            let at = prev
                .map(|p| format!(" (first at line {})", p.line))
                .unwrap_or_default();
            ctx.error(
                r.name_pos,
                &format!("{}.name", r.path),
                format!("stage \"{}\" is defined twice{at}", r.def.name),
                Some("stage names must be unique".to_string()),
            );
        } else {
            first.insert(&r.def.name, r.name_pos);
        }
    }

    let unknown_hint = |name: &str| match closest(name, &names) {
        Some(c) => format!("did you mean \"{c}\"?"),
        None => format!("known stages: {}", names.join(", ")),
    };

    for r in read {
        let mut seen = HashSet::new();
        for (i, (dep, pos)) in r.deps.iter().enumerate() {
            let field = index(&format!("{}.depends_on", r.path), i);
            if dep == &r.def.name {
                ctx.error(
                    Some(*pos),
                    &field,
                    format!("stage \"{dep}\" depends on itself (cycle: {dep} -> {dep})"),
                    Some("remove it from depends_on".to_string()),
                );
            } else if !names.contains(&dep.as_str()) {
                ctx.error(
                    Some(*pos),
                    &field,
                    format!(
                        "stage \"{}\" depends on unknown stage \"{dep}\"",
                        r.def.name
                    ),
                    Some(unknown_hint(dep)),
                );
            } else if !seen.insert(dep.as_str()) {
                ctx.warning(
                    Some(*pos),
                    &field,
                    format!("\"{dep}\" is listed twice"),
                    None,
                );
            }
        }
        for (i, (stage, pos)) in r.imports.iter().enumerate() {
            let field = format!("{}.stage", index(&format!("{}.env_from_stages", r.path), i));
            if !names.contains(&stage.as_str()) {
                ctx.error(
                    Some(*pos),
                    &field,
                    format!(
                        "stage \"{}\" imports from unknown stage \"{stage}\"",
                        r.def.name
                    ),
                    Some(unknown_hint(stage)),
                );
            } else if stage == &r.def.name {
                ctx.error(
                    Some(*pos),
                    &field,
                    format!("stage \"{stage}\" imports from itself"),
                    Some("a stage's own extracted variables are already visible to it".to_string()),
                );
            } else if !depends_transitively(read, &r.def.name, stage) {
                ctx.warning(
                    Some(*pos),
                    &field,
                    format!(
                        "stage \"{}\" imports from \"{stage}\" but does not depend on it, so it may run first",
                        r.def.name
                    ),
                    Some(format!("add \"{stage}\" to depends_on")),
                );
            }
        }
    }
}

/// True if `from` depends on `target` directly or through other stages (cycle-safe).
fn depends_transitively(read: &[Read], from: &str, target: &str) -> bool {
    let deps: HashMap<&str, Vec<&str>> = read
        .iter()
        .map(|r| {
            (
                r.def.name.as_str(),
                r.def.depends_on.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let mut stack = vec![from];
    let mut seen = HashSet::new();
    while let Some(s) = stack.pop() {
        if !seen.insert(s) {
            continue;
        }
        for d in deps.get(s).into_iter().flatten() {
            if *d == target {
                return true;
            }
            stack.push(d);
        }
    }
    false
}

fn decode_global(ctx: &mut Ctx, node: Option<&Node>) -> GlobalConfig {
    let Some(f) = fields(ctx, node, "global", GLOBAL_KEYS) else {
        return GlobalConfig::default();
    };
    let max = match f.get("max_concurrent_stages") {
        Some(n) => match decode::string(ctx, n, "global.max_concurrent_stages") {
            Some(t) if t.trim() == "0" => {
                ctx.error(
                    Some(n.pos),
                    "global.max_concurrent_stages",
                    "max_concurrent_stages must be at least 1",
                    Some("use 1 to run stages one at a time".to_string()),
                );
                1
            }
            Some(_) => decode::uint(ctx, n, "global.max_concurrent_stages", 1, 1024)
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(1),
            None => 1,
        },
        None => 1,
    };
    GlobalConfig {
        env: f.string_map(ctx, "env"),
        wait_between_stages: f.duration_or(ctx, "wait_between_stages", Duration::ZERO),
        max_concurrent_stages: max,
        rollback_on_failure: f.bool_or(ctx, "rollback_on_failure", false),
    }
}

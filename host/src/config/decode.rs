//! Reading typed values out of a [`Node`] tree while collecting every problem: the schema
//! helpers every file loader uses. Each helper reports what is wrong (with the node's line
//! and column and the dotted field path) and returns a usable fallback, so that decoding
//! always goes on to the end of the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value as Json;

use super::duration::parse_duration;
use super::error::Diagnostic;
use super::suggest::closest;
use super::yaml::{self, Key, Node, Pos, Value};
use crate::template::{Layout, Origin, TemplateText, TemplateTree};

/// The file being decoded and the diagnostics found so far.
pub(crate) struct Ctx {
    pub file: PathBuf,
    /// How the file is named in messages: "config.yaml", "stages.yaml", "migration file".
    pub doc_name: String,
    pub diags: Vec<Diagnostic>,
    /// The lines of the text last parsed, to tell how a template value sits in the file
    /// ([`Ctx::origin`]).
    lines: Vec<String>,
}

impl Ctx {
    pub fn new(file: &Path, doc_name: impl Into<String>) -> Self {
        Ctx {
            file: file.to_path_buf(),
            doc_name: doc_name.into(),
            diags: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// Where a scalar's text is in the file parsed last, and its layout: a block scalar
    /// (`|`, `>`) starts on the next line at its content's indentation; a quoted one a
    /// column after the quote. Kept in each template value, so that a position inside the
    /// template maps to the file without reading it again.
    pub fn origin(&self, node: &Node) -> Origin {
        let Pos { line, column } = node.pos;
        let text = line.checked_sub(1).and_then(|i| self.lines.get(i));
        let first = text.and_then(|t| t.chars().nth(column.saturating_sub(1)));
        let content_indent = |from: usize| {
            self.lines
                .iter()
                .skip(from)
                .find(|l| !l.trim().is_empty())
                .map(|l| l.len() - l.trim_start_matches(' ').len())
                .unwrap_or(0)
        };
        // The parser places a block scalar at its first content line; the line
        // before ends with the indicator (`key: |`, `- >-`, `|2`).
        let after_indicator = || {
            let only_indent = text.is_some_and(|t| {
                t.chars()
                    .take(column.saturating_sub(1))
                    .all(char::is_whitespace)
            });
            let previous = line
                .checked_sub(2)
                .and_then(|i| self.lines.get(i))
                .map(|l| l.trim_end())
                .unwrap_or("");
            let indicator =
                previous.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
            only_indent && (indicator.ends_with('|') || indicator.ends_with('>'))
        };
        let (line, layout) = match first {
            Some('|' | '>') => (
                line + 1,
                Layout::Block {
                    indent: content_indent(line),
                },
            ),
            Some('"' | '\'') => (line, Layout::Quoted),
            _ if after_indicator() => (
                line,
                Layout::Block {
                    indent: column.saturating_sub(1),
                },
            ),
            _ => (line, Layout::Plain),
        };
        Origin {
            line,
            column,
            layout,
        }
    }

    fn located(&self, d: Diagnostic, pos: Option<Pos>, field: &str) -> Diagnostic {
        let d = d.field(field);
        match pos {
            Some(p) if p.line > 0 => d.at(p.line, p.column),
            _ => d,
        }
    }

    /// Records an error.
    pub fn error(
        &mut self,
        pos: Option<Pos>,
        field: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let d = Diagnostic::error(&self.file, message).maybe_hint(hint);
        let d = self.located(d, pos, field);
        self.diags.push(d);
    }

    /// Records a warning.
    pub fn warning(
        &mut self,
        pos: Option<Pos>,
        field: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let d = Diagnostic::warning(&self.file, message).maybe_hint(hint);
        let d = self.located(d, pos, field);
        self.diags.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }

    /// Parses `src`, recording YAML problems; returns the root (None if empty or unparseable).
    pub fn parse(&mut self, src: &str) -> Option<Node> {
        let parsed = yaml::parse(src);
        self.lines = src.lines().map(str::to_string).collect();
        for p in parsed.problems {
            if p.warning {
                self.warning(Some(p.pos), "", p.message, p.hint);
            } else {
                self.error(Some(p.pos), "", p.message, p.hint);
            }
        }
        parsed.root
    }
}

/// `parent.key`, or `key` at the top.
pub(crate) fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `parent[i]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A mapping being read: its entries and where it is. Unknown keys were reported when it
/// was opened.
pub(crate) struct Fields<'a> {
    pub pos: Option<Pos>,
    pub path: String,
    entries: &'a [(Key, Node)],
    /// Go-tool keys read under apirun's name (`store.driver` as `store.type`): the apirun
    /// key and the index of the entry that stands for it.
    aliases: Vec<(&'static str, usize)>,
}

impl<'a> Fields<'a> {
    /// An empty mapping at `path` (what a missing block reads as).
    pub fn empty(path: &str) -> Fields<'a> {
        Fields {
            pos: None,
            path: path.to_string(),
            entries: &[],
            aliases: Vec::new(),
        }
    }

    /// The entry written under `key`, or under a Go-tool key read as `key`.
    fn entry(&self, key: &str) -> Option<&'a (Key, Node)> {
        self.entries
            .iter()
            .find(|(k, _)| k.text == key)
            .or_else(|| {
                self.aliases
                    .iter()
                    .find(|(name, _)| *name == key)
                    .and_then(|(_, i)| self.entries.get(*i))
            })
    }

    /// The value of `key`, null values included.
    pub fn raw(&self, key: &str) -> Option<&'a Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The value of `key`; a null value counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.raw(key).filter(|n| !n.is_null())
    }

    /// True if `key` is written (even with a null value).
    pub fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    /// The position of `key` itself (for "remove this key" messages), else of its value,
    /// else of the mapping.
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entry(key).map(|(k, _)| k.pos).or(self.pos)
    }

    /// The position of `key`'s value (or the mapping when absent).
    pub fn value_pos(&self, key: &str) -> Option<Pos> {
        self.raw(key).map(|n| n.pos).or(self.pos)
    }

    /// Dotted path of `key`.
    pub fn path_of(&self, key: &str) -> String {
        child(&self.path, key)
    }

    /// Reports that `key` is required and missing.
    pub fn missing(&self, ctx: &mut Ctx, key: &str, hint: Option<String>) {
        let what = if self.path.is_empty() {
            ctx.doc_name.clone()
        } else {
            self.path.clone()
        };
        ctx.error(
            self.pos,
            &self.path_of(key),
            format!("missing required key \"{key}\" in {what}"),
            hint,
        );
    }

    /// A required string.
    pub fn req_string(&self, ctx: &mut Ctx, key: &str) -> Option<String> {
        match self.get(key) {
            None => {
                self.missing(ctx, key, None);
                None
            }
            Some(n) => string(ctx, n, &self.path_of(key)),
        }
    }

    /// An optional string (null counts as absent).
    pub fn opt_string(&self, ctx: &mut Ctx, key: &str) -> Option<String> {
        self.get(key)
            .and_then(|n| string(ctx, n, &self.path_of(key)))
    }

    /// An optional template (null counts as absent), parsed once with its position.
    pub fn opt_template(&self, ctx: &mut Ctx, key: &str) -> Option<TemplateText> {
        self.get(key)
            .and_then(|n| template(ctx, n, &self.path_of(key)))
    }

    pub fn opt_bool(&self, ctx: &mut Ctx, key: &str) -> Option<bool> {
        self.get(key)
            .and_then(|n| boolean(ctx, n, &self.path_of(key)))
    }

    pub fn bool_or(&self, ctx: &mut Ctx, key: &str, default: bool) -> bool {
        self.opt_bool(ctx, key).unwrap_or(default)
    }

    pub fn opt_uint(&self, ctx: &mut Ctx, key: &str, min: u64, max: u64) -> Option<u64> {
        self.get(key)
            .and_then(|n| uint(ctx, n, &self.path_of(key), min, max))
    }

    pub fn opt_duration(&self, ctx: &mut Ctx, key: &str) -> Option<Duration> {
        self.get(key)
            .and_then(|n| duration(ctx, n, &self.path_of(key)))
    }

    pub fn duration_or(&self, ctx: &mut Ctx, key: &str, default: Duration) -> Duration {
        self.opt_duration(ctx, key).unwrap_or(default)
    }

    pub fn string_list(&self, ctx: &mut Ctx, key: &str) -> Vec<String> {
        self.get(key)
            .map(|n| string_list(ctx, n, &self.path_of(key)))
            .unwrap_or_default()
    }

    pub fn string_map(&self, ctx: &mut Ctx, key: &str) -> IndexMap<String, String> {
        self.get(key)
            .map(|n| string_map(ctx, n, &self.path_of(key)))
            .unwrap_or_default()
    }

    /// A mapping of names to templates (a migration's `env`), each parsed once.
    pub fn template_map(&self, ctx: &mut Ctx, key: &str) -> IndexMap<String, TemplateText> {
        self.get(key)
            .map(|n| template_map(ctx, n, &self.path_of(key)))
            .unwrap_or_default()
    }

    /// A choice among fixed words (compared case-insensitively); reports a bad one with a
    /// suggestion.
    pub fn opt_choice(&self, ctx: &mut Ctx, key: &str, choices: &[&str]) -> Option<String> {
        let node = self.get(key)?;
        let path = self.path_of(key);
        let text = string(ctx, node, &path)?;
        let lower = text.trim().to_ascii_lowercase();
        if choices.contains(&lower.as_str()) {
            return Some(lower);
        }
        bad_choice(ctx, node.pos, &path, key, &text, choices);
        None
    }
}

/// Reports a value that is not one of `choices`.
pub(crate) fn bad_choice(
    ctx: &mut Ctx,
    pos: Pos,
    path: &str,
    what: &str,
    text: &str,
    choices: &[&str],
) {
    let list = choices.join(", ");
    let hint = match closest(text, choices) {
        Some(c) => format!("did you mean \"{c}\"? (valid: {list})"),
        None => format!("use one of {list}"),
    };
    ctx.error(
        Some(pos),
        path,
        format!("unknown {what} \"{text}\""),
        Some(hint),
    );
}

/// Opens a mapping. A missing or null node is an empty mapping. Every key not in `known`
/// is reported with the closest known key. Returns None (after reporting) if the node is
/// not a mapping.
pub(crate) fn fields<'a>(
    ctx: &mut Ctx,
    node: Option<&'a Node>,
    path: &str,
    known: &[&str],
) -> Option<Fields<'a>> {
    let Some(node) = node else {
        return Some(Fields::empty(path));
    };
    match &node.value {
        Value::Null => Some(Fields {
            pos: Some(node.pos),
            ..Fields::empty(path)
        }),
        Value::Map(entries) => {
            let mut aliases = Vec::new();
            for (i, (key, _)) in entries.iter().enumerate() {
                if known.contains(&key.text.as_str()) {
                    continue;
                }
                match go_tool_key(&ctx.doc_name, path, &key.text) {
                    Some(go) => {
                        let alias = go
                            .read_as
                            .filter(|a| !entries.iter().any(|(k, _)| k.text == *a));
                        let (message, hint) = match (go.read_as, alias) {
                            (_, Some(a)) => (
                                format!(
                                    "\"{}\" is the Go tool's key; apirun reads it as \"{a}\"",
                                    key.text
                                ),
                                format!("write `{a}:` instead"),
                            ),
                            (Some(a), None) => (
                                format!(
                                    "\"{}\" (the Go tool's key) is ignored: \"{a}\" is set too",
                                    key.text
                                ),
                                format!("remove `{}:`", key.text),
                            ),
                            (None, _) => (
                                format!(
                                    "\"{}\" (a key of the Go tool) is ignored: {}",
                                    key.text, go.instead
                                ),
                                format!("remove `{}:`", key.text),
                            ),
                        };
                        ctx.warning(Some(key.pos), &child(path, &key.text), message, Some(hint));
                        if let Some(a) = alias {
                            aliases.push((a, i));
                        }
                    }
                    None => unknown_key(ctx, key, path, known),
                }
            }
            Some(Fields {
                pos: Some(node.pos),
                path: path.to_string(),
                entries,
                aliases,
            })
        }
        _ => {
            let what = if path.is_empty() {
                format!("{} must be a mapping of keys", ctx.doc_name)
            } else {
                "expected a mapping (key: value lines)".to_string()
            };
            ctx.error(
                Some(node.pos),
                path,
                format!("{what}, found {}", node.kind_name()),
                None,
            );
            None
        }
    }
}

/// A key the Go tool reads or tolerates but apirun does not use: a warning, not an error,
/// so that the Go tool's files run unchanged (docs/configuration.md, "Keys of the Go tool").
pub(crate) struct GoToolKey {
    /// Which file: the `Ctx::doc_name` ("config.yaml", "migration file", "stages.yaml").
    pub doc: &'static str,
    /// The dotted path of the mapping the key is in ("" for the top level).
    pub path: &'static str,
    pub key: &'static str,
    /// The apirun key it is read as (when that one is not written too).
    pub read_as: Option<&'static str>,
    /// What apirun does instead, for the warning (when `read_as` is None).
    pub instead: &'static str,
}

/// Every Go-tool key apirun warns about instead of refusing. The Go tool decodes with
/// yaml.v3 defaults, which ignore unknown keys, and its examples and library use these.
pub(crate) const GO_TOOL_KEYS: &[GoToolKey] = &[
    GoToolKey {
        doc: "config.yaml",
        path: "",
        key: "base_env",
        read_as: None,
        instead: "variables come from `env:`",
    },
    GoToolKey {
        doc: "config.yaml",
        path: "store",
        key: "driver",
        read_as: Some("type"),
        instead: "",
    },
    GoToolKey {
        doc: "config.yaml",
        path: "store",
        key: "path",
        read_as: None,
        instead: "the SQLite file is `store.sqlite.path` (default <migrate_dir>/apirun.db); \
                  move the value there to choose it",
    },
    GoToolKey {
        doc: "migration file",
        path: "",
        key: "apiVersion",
        read_as: None,
        instead: "migration files have no version header",
    },
    GoToolKey {
        doc: "migration file",
        path: "",
        key: "kind",
        read_as: None,
        instead: "migration files have no kind header",
    },
];

fn go_tool_key(doc: &str, path: &str, key: &str) -> Option<&'static GoToolKey> {
    GO_TOOL_KEYS
        .iter()
        .find(|g| g.doc == doc && g.path == path && g.key == key)
}

fn unknown_key(ctx: &mut Ctx, key: &Key, path: &str, known: &[&str]) {
    let place = if path.is_empty() {
        ctx.doc_name.clone()
    } else {
        path.to_string()
    };
    let hint = match closest(&key.text, known) {
        Some(c) => format!("did you mean \"{c}\"?"),
        None => format!("known keys here: {}", known.join(", ")),
    };
    ctx.error(
        Some(key.pos),
        &child(path, &key.text),
        format!("unknown key \"{}\" in {place}", key.text),
        Some(hint),
    );
}

/// Any scalar as its text (`3` gives "3", `true` gives "true"). Null gives None without
/// a report; a list or mapping is reported.
pub(crate) fn string(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    match &node.value {
        Value::Null => None,
        Value::Scalar { text, .. } => Some(text.clone()),
        _ => {
            ctx.error(
                Some(node.pos),
                path,
                format!("expected a single value, found {}", node.kind_name()),
                Some("quote the value if it contains { or [ (e.g. \"{{.var}}\")".to_string()),
            );
            None
        }
    }
}

/// A template-bearing scalar: its text parsed once, with where it is ([`Ctx::origin`]).
/// Null gives None without a report; a list or mapping is reported.
pub(crate) fn template(ctx: &mut Ctx, node: &Node, path: &str) -> Option<TemplateText> {
    let text = string(ctx, node, path)?;
    Some(TemplateText::new(text, ctx.origin(node)))
}

/// A string that may not be empty or blank.
pub(crate) fn non_empty(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    let s = string(ctx, node, path)?;
    if s.trim().is_empty() {
        ctx.error(Some(node.pos), path, "must not be empty", None);
        return None;
    }
    Some(s)
}

pub(crate) fn boolean(ctx: &mut Ctx, node: &Node, path: &str) -> Option<bool> {
    let text = string(ctx, node, path)?;
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" => Some(false),
        _ => {
            ctx.error(
                Some(node.pos),
                path,
                format!("expected true or false, found \"{text}\""),
                None,
            );
            None
        }
    }
}

/// An unsigned integer within `min..=max`.
pub(crate) fn uint(ctx: &mut Ctx, node: &Node, path: &str, min: u64, max: u64) -> Option<u64> {
    let text = string(ctx, node, path)?;
    let t = text.trim().replace('_', "");
    let parsed = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = t.strip_prefix("0o") {
        u64::from_str_radix(oct, 8).ok()
    } else {
        t.strip_prefix('+').unwrap_or(&t).parse::<u64>().ok()
    };
    match parsed {
        Some(v) if (min..=max).contains(&v) => Some(v),
        Some(v) => {
            ctx.error(
                Some(node.pos),
                path,
                format!("{v} is out of range ({min} to {max})"),
                None,
            );
            None
        }
        None => {
            ctx.error(
                Some(node.pos),
                path,
                format!("expected a whole number, found \"{text}\""),
                None,
            );
            None
        }
    }
}

pub(crate) fn duration(ctx: &mut Ctx, node: &Node, path: &str) -> Option<Duration> {
    let text = string(ctx, node, path)?;
    match parse_duration(&text) {
        Ok(d) => Some(d),
        Err(msg) => {
            ctx.error(Some(node.pos), path, msg, None);
            None
        }
    }
}

/// A list of scalars; a single scalar counts as a one-element list.
pub(crate) fn string_list(ctx: &mut Ctx, node: &Node, path: &str) -> Vec<String> {
    match &node.value {
        Value::Null => Vec::new(),
        Value::Scalar { text, .. } => vec![text.clone()],
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let p = index(path, i);
                if item.is_null() {
                    ctx.error(Some(item.pos), &p, "empty list item", None);
                    return None;
                }
                string(ctx, item, &p)
            })
            .collect(),
        Value::Map(_) => {
            ctx.error(
                Some(node.pos),
                path,
                "expected a list, found a mapping",
                Some("write items as `- item` lines or [a, b]".to_string()),
            );
            Vec::new()
        }
    }
}

/// Like [`string_list`], each item a template parsed once with its position.
pub(crate) fn template_list(ctx: &mut Ctx, node: &Node, path: &str) -> Vec<TemplateText> {
    let texts = string_list(ctx, node, path);
    let origins: Vec<Origin> = match &node.value {
        Value::Seq(items) => items
            .iter()
            .filter(|item| !item.is_null())
            .map(|item| ctx.origin(item))
            .collect(),
        _ => vec![ctx.origin(node)],
    };
    // `string_list` keeps every non-null item in order (a list or mapping item is
    // reported and dropped, so its origin may shift later ones: the list is then
    // refused anyway).
    texts
        .into_iter()
        .enumerate()
        .map(|(i, text)| TemplateText::new(text, origins.get(i).copied().unwrap_or_default()))
        .collect()
}

/// A mapping of names to scalar values, in file order; scalars of any type become strings,
/// a null value becomes "".
pub(crate) fn string_map(ctx: &mut Ctx, node: &Node, path: &str) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    match &node.value {
        Value::Null => {}
        Value::Map(entries) => {
            for (key, value) in entries {
                let p = child(path, &key.text);
                if key.text.trim().is_empty() {
                    ctx.error(Some(key.pos), &p, "empty variable name", None);
                    continue;
                }
                let v = match &value.value {
                    Value::Null => Some(String::new()),
                    _ => string(ctx, value, &p),
                };
                if let Some(v) = v {
                    out.insert(key.text.clone(), v);
                }
            }
        }
        _ => ctx.error(
            Some(node.pos),
            path,
            format!(
                "expected a mapping of names to values, found {}",
                node.kind_name()
            ),
            Some("write `name: value` lines".to_string()),
        ),
    }
    out
}

/// Like [`string_map`], each value a template parsed once with its position.
pub(crate) fn template_map(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
) -> IndexMap<String, TemplateText> {
    let texts = string_map(ctx, node, path);
    let Value::Map(entries) = &node.value else {
        return IndexMap::new();
    };
    // Duplicate keys are reported by the YAML layer; the last one wins in both maps.
    let origins: std::collections::HashMap<&str, Origin> = entries
        .iter()
        .map(|(k, v)| (k.text.as_str(), ctx.origin(v)))
        .collect();
    texts
        .into_iter()
        .map(|(name, text)| {
            let origin = origins.get(name.as_str()).copied().unwrap_or_default();
            (name, TemplateText::new(text, origin))
        })
        .collect()
}

/// Any node as JSON. Plain scalars are typed by the YAML 1.2 core schema (`3` is a number,
/// `true` a boolean); quoted scalars are strings.
pub(crate) fn json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Scalar { text, quoted: true } => Json::String(text.clone()),
        Value::Scalar {
            text,
            quoted: false,
        } => plain_scalar_json(text),
        Value::Seq(items) => Json::Array(items.iter().map(json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.text.clone(), json(v)))
                .collect(),
        ),
    }
}

/// Any node as a [`TemplateTree`]: typed as [`json`] types it, each string a template
/// parsed once with its position (`with:` blocks, auth `config:`).
pub(crate) fn template_tree(ctx: &Ctx, node: &Node) -> TemplateTree {
    match &node.value {
        Value::Null => TemplateTree::Null,
        Value::Scalar { text, quoted: true } => {
            TemplateTree::String(TemplateText::new(text.clone(), ctx.origin(node)))
        }
        Value::Scalar {
            text,
            quoted: false,
        } => match plain_scalar_json(text) {
            Json::String(text) => TemplateTree::String(TemplateText::new(text, ctx.origin(node))),
            typed => TemplateTree::from(typed),
        },
        Value::Seq(items) => {
            TemplateTree::Array(items.iter().map(|item| template_tree(ctx, item)).collect())
        }
        Value::Map(entries) => TemplateTree::Object(
            entries
                .iter()
                .map(|(k, v)| (k.text.clone(), template_tree(ctx, v)))
                .collect(),
        ),
    }
}

fn plain_scalar_json(text: &str) -> Json {
    match text {
        "true" | "True" | "TRUE" => return Json::Bool(true),
        "false" | "False" | "FALSE" => return Json::Bool(false),
        _ => {}
    }
    let looks_numeric = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'));
    if looks_numeric {
        if let Ok(i) = text.parse::<i64>() {
            return Json::from(i);
        }
        if let Ok(u) = text.parse::<u64>() {
            return Json::from(u);
        }
        if let Some(hex) = text.strip_prefix("0x")
            && let Ok(u) = u64::from_str_radix(hex, 16)
        {
            return Json::from(u);
        }
        if let Some(oct) = text.strip_prefix("0o")
            && let Ok(u) = u64::from_str_radix(oct, 8)
        {
            return Json::from(u);
        }
        let is_float_syntax = text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'));
        if is_float_syntax
            && let Ok(f) = text.parse::<f64>()
            && let Some(n) = serde_json::Number::from_f64(f)
        {
            return Json::Number(n);
        }
    }
    Json::String(text.to_string())
}

/// A mapping of templates (an auth provider's `config:`): null is an empty object.
pub(crate) fn template_object(ctx: &mut Ctx, node: Option<&Node>, path: &str) -> TemplateTree {
    match node {
        Some(n) if matches!(n.value, Value::Map(_)) => template_tree(ctx, n),
        Some(n) if !n.is_null() => {
            ctx.error(
                Some(n.pos),
                path,
                format!("expected a mapping, found {}", n.kind_name()),
                None,
            );
            TemplateTree::empty_object()
        }
        _ => TemplateTree::empty_object(),
    }
}

/// A mapping given as JSON (for `config:` blocks): null is an empty object.
pub(crate) fn json_object(ctx: &mut Ctx, node: Option<&Node>, path: &str) -> Json {
    match node {
        None => Json::Object(serde_json::Map::new()),
        Some(n) => match &n.value {
            Value::Null => Json::Object(serde_json::Map::new()),
            Value::Map(_) => json(n),
            _ => {
                ctx.error(
                    Some(n.pos),
                    path,
                    format!("expected a mapping, found {}", n.kind_name()),
                    None,
                );
                Json::Object(serde_json::Map::new())
            }
        },
    }
}

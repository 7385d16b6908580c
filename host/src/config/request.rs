//! Requests and responses as written in migration files (`request:`, `response:`, the flat
//! form under `down:`, `find:`, steps), and `headers`/`queries` lists.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

use super::decode::{self, Ctx, Fields, child, fields, index};
use super::paths::{Need, resolve, tidy};
use super::suggest::closest;
use super::yaml::{Node, Value};
use crate::template::{Layout, Origin, TemplateText};
use crate::transport::FollowRedirects;

/// HTTP methods a request may use.
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// One header or query parameter. Order is kept, and names may repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameValue {
    pub name: TemplateText,
    pub value: TemplateText,
}

/// A request's `body_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum BodyFile {
    /// A plain path, resolved and checked at load.
    Path(PathBuf),
    /// A path that is a template (`payloads/{{.kind}}.json`): parsed at load
    /// with its position, rendered at run time, then taken relative to
    /// `base` (the migration file's directory). Only the rendered text is
    /// joined, so a `{{` in the directory's own name is never read as one.
    Template { path: TemplateText, base: PathBuf },
}

impl BodyFile {
    /// The file for this run: `render` turns a templated path into text.
    pub fn resolve<E>(
        &self,
        render: impl FnOnce(&TemplateText) -> Result<String, E>,
    ) -> Result<PathBuf, E> {
        match self {
            BodyFile::Path(path) => Ok(path.clone()),
            BodyFile::Template { path, base } => Ok(tidy(&base.join(render(path)?))),
        }
    }
}

/// An HTTP request. Every template-bearing string is a [`TemplateText`]: parsed once at
/// load, with its position in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestSpec {
    /// The auth provider whose credential is injected (`auth_name`, or `down.auth`).
    pub auth_name: Option<String>,
    /// Upper-case, one of [`METHODS`].
    pub method: String,
    pub url: TemplateText,
    pub headers: Vec<NameValue>,
    pub queries: Vec<NameValue>,
    /// Inline body. A YAML mapping or list given as body is turned into compact JSON text.
    pub body: Option<TemplateText>,
    /// Body file, relative to the migration file.
    pub body_file: Option<BodyFile>,
    /// None: use the config's `render_body`.
    pub render_body: Option<bool>,
    /// Some(true): retry even if the method is not idempotent.
    pub retry: Option<bool>,
    /// Which redirects to follow; None: `client.follow_redirects`.
    pub follow_redirects: Option<FollowRedirects>,
    /// This request's own timeout (`timeout: 5s`); None: `client.timeout`.
    pub timeout: Option<std::time::Duration>,
}

/// `env_missing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvMissing {
    /// Leave the variable unset (default).
    #[default]
    Skip,
    /// Fail the step.
    Fail,
}

/// How one `env_from` variable is extracted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtractSpec {
    /// `gjson` (default, the plain-string form), `header`, or a plugin's name.
    pub from: String,
    /// The path / header name / plugin expression: a template, parsed at load.
    pub path: TemplateText,
}

/// What a response must look like and what to take from it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ResponseSpec {
    /// Accepted statuses as written: 3-digit codes, a class (`2xx`), `any`, or templates
    /// (`{{.code}}`) checked when rendered. Empty (the key absent): any 2xx. An explicit
    /// `result_code: []` is stored as `["any"]` (see docs/compatibility.md).
    pub result_code: Vec<TemplateText>,
    pub env_missing: EnvMissing,
    /// Variable name -> extraction, in file order.
    pub env_from: IndexMap<String, ExtractSpec>,
    /// `assert:`: checks the answer must pass, after `result_code` (docs/migrations.md).
    pub assert: Vec<super::assert::AssertSpec>,
    /// `poll:`: re-send until `result_code` and `assert` hold.
    pub poll: Option<super::assert::PollSpec>,
}

/// Keys of a `request:` block.
pub(crate) const REQUEST_KEYS: &[&str] = &[
    "auth_name",
    "method",
    "url",
    "headers",
    "queries",
    "body",
    "body_file",
    "render_body",
    "retry",
    "follow_redirects",
    "timeout",
];

const RESPONSE_KEYS: &[&str] = &["result_code", "env_missing", "env_from", "assert", "poll"];

/// The `result_code` entry that accepts every status.
pub const ANY_STATUS: &str = "any";

/// A literal `result_code` entry in its canonical form: a 3-digit code from 100 to 599,
/// a class `1xx`..`5xx` (any case, stored lowercase), or `any`. None if it is none of these.
/// Also used on rendered templates when the status is checked.
pub fn status_pattern(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_lowercase();
    let b = code.as_bytes();
    let valid = code == ANY_STATUS
        || (b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && &b[1..] == b"xx")
        || (b.len() == 3
            && b.iter().all(u8::is_ascii_digit)
            && ("100"..="599").contains(&code.as_str()));
    valid.then_some(code)
}

/// Whether `status` matches one canonical `result_code` entry (see [`status_pattern`]).
pub fn status_matches(pattern: &str, status: u16) -> bool {
    match status_pattern(pattern) {
        Some(p) if p == ANY_STATUS => true,
        Some(p) if p.ends_with("xx") => p.as_bytes()[0] - b'0' == (status / 100) as u8,
        Some(p) => p == status.to_string(),
        None => false,
    }
}

/// `headers` / `queries`: the Go list form `[{name: X, value: Y}]` or a mapping `{X: Y}`.
pub(crate) fn name_values(ctx: &mut Ctx, node: &Node, path: &str, what: &str) -> Vec<NameValue> {
    let mut out = Vec::new();
    match &node.value {
        Value::Null => {}
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = index(path, i);
                let Some(f) = fields(ctx, Some(item), &p, &["name", "value"]) else {
                    continue;
                };
                let Some(name) = f.req_string(ctx, "name") else {
                    continue;
                };
                let origin = f.get("name").map(|n| ctx.origin(n)).unwrap_or_default();
                let name = TemplateText::new(name, origin);
                if name.trim().is_empty() {
                    ctx.error(
                        f.value_pos("name"),
                        &f.path_of("name"),
                        format!("empty {what} name"),
                        None,
                    );
                    continue;
                }
                let value = match f.get("value") {
                    Some(n) => decode::template(ctx, n, &f.path_of("value")).unwrap_or_default(),
                    None => TemplateText::default(),
                };
                out.push(NameValue { name, value });
            }
        }
        Value::Map(entries) => {
            for (key, value) in entries {
                let p = child(path, &key.text);
                if key.text.trim().is_empty() {
                    ctx.error(Some(key.pos), &p, format!("empty {what} name"), None);
                    continue;
                }
                let value = match &value.value {
                    Value::Null => Some(TemplateText::default()),
                    _ => decode::template(ctx, value, &p),
                };
                if let Some(value) = value {
                    let origin = Origin {
                        line: key.pos.line,
                        column: key.pos.column,
                        layout: Layout::Plain,
                    };
                    out.push(NameValue {
                        name: TemplateText::new(key.text.clone(), origin),
                        value,
                    });
                }
            }
        }
        Value::Scalar { .. } => ctx.error(
            Some(node.pos),
            path,
            format!("expected a list of {what}s, found a scalar"),
            Some("write `- name: X` / `  value: Y` items, or `X: Y` lines".to_string()),
        ),
    }
    out
}

/// Reads the request keys of `f` (a `request:` block, or the `down:` block itself, whose
/// auth key is `auth`). Returns None (after reporting) if it cannot be used.
pub(crate) fn request_from_fields(
    ctx: &mut Ctx,
    f: &Fields<'_>,
    base: &Path,
    auth_key: &str,
) -> Option<RequestSpec> {
    let auth_name = f
        .opt_string(ctx, auth_key)
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());

    let method = match f.get("method") {
        None => {
            f.missing(
                ctx,
                "method",
                Some(format!("use one of {}", METHODS.join(", "))),
            );
            None
        }
        Some(n) => decode::string(ctx, n, &f.path_of("method")).and_then(|m| {
            let upper = m.trim().to_ascii_uppercase();
            if METHODS.contains(&upper.as_str()) {
                Some(upper)
            } else {
                let list = METHODS.join(", ");
                let hint = match closest(&upper, METHODS) {
                    Some(c) => format!("did you mean {c}? (use one of {list})"),
                    None => format!("use one of {list}"),
                };
                ctx.error(
                    Some(n.pos),
                    &f.path_of("method"),
                    format!("unknown method \"{m}\""),
                    Some(hint),
                );
                None
            }
        }),
    };

    let url = match f.get("url") {
        None => {
            f.missing(ctx, "url", None);
            None
        }
        Some(n) => decode::non_empty(ctx, n, &f.path_of("url"))
            .map(|url| TemplateText::new(url, ctx.origin(n))),
    };

    let headers = f
        .get("headers")
        .map(|n| name_values(ctx, n, &f.path_of("headers"), "header"))
        .unwrap_or_default();
    let queries = f
        .get("queries")
        .map(|n| name_values(ctx, n, &f.path_of("queries"), "query"))
        .unwrap_or_default();

    let body = f.get("body").and_then(|n| match &n.value {
        // A mapping or list as body is sent as JSON.
        Value::Map(_) | Value::Seq(_) => Some(TemplateText::new(
            decode::json(n).to_string(),
            Origin {
                layout: Layout::Converted,
                ..ctx.origin(n)
            },
        )),
        _ => decode::template(ctx, n, &f.path_of("body")),
    });

    let body_file = f.get("body_file").and_then(|n| {
        let path = f.path_of("body_file");
        let raw = decode::non_empty(ctx, n, &path)?;
        if body.is_some() {
            ctx.error(
                f.key_pos("body_file"),
                &path,
                "body and body_file cannot both be set",
                Some("keep one of them".to_string()),
            );
        }
        if raw.contains("{{") {
            Some(BodyFile::Template {
                path: TemplateText::new(raw, ctx.origin(n)),
                base: base.to_path_buf(),
            })
        } else {
            Some(BodyFile::Path(resolve(
                ctx,
                base,
                &raw,
                Some(n.pos),
                &path,
                Need::ExistingFile,
            )))
        }
    });

    let render_body = f.opt_bool(ctx, "render_body");
    let retry = f.opt_bool(ctx, "retry");
    let follow_redirects = super::settings::decode_follow_redirects(ctx, f);
    let timeout = f.opt_duration(ctx, "timeout");
    if timeout.is_some_and(|t| t.is_zero()) {
        ctx.error(
            f.value_pos("timeout"),
            &f.path_of("timeout"),
            "timeout must be above 0",
            Some("leave it out to use client.timeout".to_string()),
        );
    }

    Some(RequestSpec {
        auth_name,
        method: method?,
        url: url?,
        headers,
        queries,
        body,
        body_file,
        render_body,
        retry,
        follow_redirects,
        timeout,
    })
}

/// A `request:` block.
pub(crate) fn decode_request(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    base: &Path,
) -> Option<RequestSpec> {
    let f = fields(ctx, Some(node), path, REQUEST_KEYS)?;
    request_from_fields(ctx, &f, base, "auth_name")
}

/// A `response:` block (None if absent or null).
pub(crate) fn decode_response(
    ctx: &mut Ctx,
    node: Option<&Node>,
    path: &str,
) -> Option<ResponseSpec> {
    let node = node.filter(|n| !n.is_null())?;
    let f = fields(ctx, Some(node), path, RESPONSE_KEYS)?;
    let mut out = ResponseSpec::default();

    if let Some(n) = f.get("result_code") {
        let p = f.path_of("result_code");
        let items: Vec<(usize, &Node)> = match &n.value {
            // The Go tool documents `result_code: []` as "any status code accepted" (and its
            // code does that), so a Go-tool file keeps that meaning; the warning points to the
            // explicit spelling, because an empty list reads like "nothing" and an absent key
            // means any 2xx here (docs/compatibility.md).
            Value::Seq(items) if items.is_empty() => {
                ctx.warning(
                    Some(n.pos),
                    &p,
                    "`result_code: []` accepts any status, as in the Go tool",
                    Some(
                        "write result_code: [\"any\"] to say so without this warning, a class \
                         such as [\"2xx\", \"404\"], or remove the key to accept any 2xx"
                            .to_string(),
                    ),
                );
                out.result_code.push(TemplateText::from(ANY_STATUS));
                Vec::new()
            }
            Value::Seq(items) => items.iter().enumerate().collect(),
            Value::Scalar { .. } => vec![(0, n)],
            _ => {
                ctx.error(
                    Some(n.pos),
                    &p,
                    format!("expected a list of status codes, found {}", n.kind_name()),
                    Some("e.g. result_code: [\"200\", \"201\"]".to_string()),
                );
                Vec::new()
            }
        };
        for (i, item) in items {
            let ip = index(&p, i);
            let Some(code) = decode::string(ctx, item, &ip) else {
                if item.is_null() {
                    ctx.error(Some(item.pos), &ip, "empty status code", None);
                }
                continue;
            };
            let code = code.trim().to_string();
            if code.contains("{{") {
                out.result_code
                    .push(TemplateText::new(code, ctx.origin(item)));
            } else if let Some(code) = status_pattern(&code) {
                out.result_code
                    .push(TemplateText::new(code, ctx.origin(item)));
            } else {
                ctx.error(
                    Some(item.pos),
                    &ip,
                    format!("\"{code}\" is not an HTTP status code"),
                    Some(
                        "use 3-digit codes from 100 to 599 (\"200\"), a class (\"2xx\") or \
                         \"any\""
                            .to_string(),
                    ),
                );
            }
        }
    }

    if let Some(v) = f.opt_choice(ctx, "env_missing", &["skip", "fail"]) {
        out.env_missing = if v == "fail" {
            EnvMissing::Fail
        } else {
            EnvMissing::Skip
        };
    }

    if let Some(n) = f.get("env_from") {
        out.env_from = decode_env_from(ctx, n, &f.path_of("env_from"));
    }
    if let Some(n) = f.get("assert") {
        out.assert = super::assert::decode_asserts(ctx, n, &f.path_of("assert"));
    }
    if let Some(n) = f.get("poll") {
        out.poll = super::assert::decode_poll(ctx, n, &f.path_of("poll"));
    }
    Some(out)
}

fn decode_env_from(ctx: &mut Ctx, node: &Node, path: &str) -> IndexMap<String, ExtractSpec> {
    let mut out = IndexMap::new();
    let Value::Map(entries) = &node.value else {
        ctx.error(
            Some(node.pos),
            path,
            format!(
                "expected a mapping of variable names to paths, found {}",
                node.kind_name()
            ),
            Some("write `variable: json.path` lines".to_string()),
        );
        return out;
    };
    for (key, value) in entries {
        let p = child(path, &key.text);
        if key.text.trim().is_empty() {
            ctx.error(Some(key.pos), &p, "empty variable name", None);
            continue;
        }
        let spec = match &value.value {
            Value::Map(_) => {
                let Some(f) = fields(ctx, Some(value), &p, &["from", "path"]) else {
                    continue;
                };
                let from = f
                    .opt_string(ctx, "from")
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "gjson".to_string());
                let Some(path_text) = f.req_string(ctx, "path") else {
                    continue;
                };
                if path_text.trim().is_empty() {
                    ctx.error(f.value_pos("path"), &f.path_of("path"), "empty path", None);
                    continue;
                }
                let origin = f.get("path").map(|n| ctx.origin(n)).unwrap_or_default();
                ExtractSpec {
                    from,
                    path: TemplateText::new(path_text.trim(), origin),
                }
            }
            _ => {
                let Some(text) = decode::string(ctx, value, &p) else {
                    ctx.error(
                        Some(value.pos),
                        &p,
                        format!("no path given for \"{}\"", key.text),
                        Some("e.g. `user_id: data.id`".to_string()),
                    );
                    continue;
                };
                if text.trim().is_empty() {
                    ctx.error(Some(value.pos), &p, "empty path", None);
                    continue;
                }
                ExtractSpec {
                    from: "gjson".to_string(),
                    path: TemplateText::new(text.trim(), ctx.origin(value)),
                }
            }
        };
        out.insert(key.text.clone(), spec);
    }
    out
}

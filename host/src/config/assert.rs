//! `assert:` and `poll:` in a `response` block, and a migration's `verify:` block, as
//! written (docs/migrations.md, "Assertions", "Polling", "Live verification").

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::decode::{self, Ctx, fields, index};
use super::request::{RequestSpec, ResponseSpec, decode_request, decode_response};
use super::yaml::{Node, Value};
use crate::template::TemplateText;

/// The operators of an assertion, as written (the YAML key).
pub const ASSERT_OPERATORS: &[&str] = &[
    "equals",
    "not_equals",
    "exists",
    "contains",
    "matches",
    "greater_than",
    "less_than",
    "one_of",
];

/// Where an assertion reads its value.
const ASSERT_SOURCES: &[&str] = &["path", "header", "from"];

/// Longest regex accepted by `matches` (compiled size is capped too, see
/// [`compile_regex`]).
pub const MAX_REGEX_LEN: usize = 1024;

/// One check on a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssertSpec {
    /// The extractor that reads the value: `gjson` (a `path:`), `header`, or the
    /// extractor named by `from:`.
    pub from: String,
    /// The gjson path, header name or extractor expression: a template, parsed at load.
    pub path: TemplateText,
    pub op: AssertOp,
}

impl AssertSpec {
    /// How the source is written, for messages: `path status`, `header Content-Type`,
    /// `regex id=(\d+)`.
    pub fn describe_source(&self, rendered_path: &str) -> String {
        match self.from.as_str() {
            "gjson" => format!("path `{rendered_path}`"),
            "header" => format!("header `{rendered_path}`"),
            other => format!("{other} `{rendered_path}`"),
        }
    }
}

/// An operator and its expected value(s) (templates, parsed at load).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertOp {
    Equals(TemplateText),
    NotEquals(TemplateText),
    Exists(bool),
    Contains(TemplateText),
    Matches(TemplateText),
    GreaterThan(TemplateText),
    LessThan(TemplateText),
    OneOf(Vec<TemplateText>),
}

impl AssertOp {
    /// The YAML key of the operator.
    pub fn name(&self) -> &'static str {
        match self {
            AssertOp::Equals(_) => "equals",
            AssertOp::NotEquals(_) => "not_equals",
            AssertOp::Exists(_) => "exists",
            AssertOp::Contains(_) => "contains",
            AssertOp::Matches(_) => "matches",
            AssertOp::GreaterThan(_) => "greater_than",
            AssertOp::LessThan(_) => "less_than",
            AssertOp::OneOf(_) => "one_of",
        }
    }

    /// Every template the operator holds (for validation and rendering).
    pub fn templates(&self) -> Vec<&TemplateText> {
        match self {
            AssertOp::Exists(_) => Vec::new(),
            AssertOp::OneOf(items) => items.iter().collect(),
            AssertOp::Equals(v)
            | AssertOp::NotEquals(v)
            | AssertOp::Contains(v)
            | AssertOp::Matches(v)
            | AssertOp::GreaterThan(v)
            | AssertOp::LessThan(v) => vec![v],
        }
    }
}

/// `poll:`: re-send the request until the response holds (docs/migrations.md, "Polling").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PollSpec {
    pub interval: Duration,
    pub timeout: Duration,
}

/// Default `poll.interval`.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Default `poll.timeout`.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(300);

/// A migration's `verify:` block: one read-only request whose answer says whether what
/// the migration created is still there as it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifySpec {
    pub request: RequestSpec,
    pub response: Option<ResponseSpec>,
}

/// Methods a `verify` request may use: it must change nothing.
pub const VERIFY_METHODS: &[&str] = &["GET", "HEAD"];

/// A regex as `matches` compiles it: bounded size (a hostile or careless pattern cannot
/// take unbounded memory; the `regex` crate matches in linear time).
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!(
            "the regex is {} bytes long; the limit is {MAX_REGEX_LEN}",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .dfa_size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string().replace('\n', " "))
}

/// `assert:`: a list of checks.
pub(crate) fn decode_asserts(ctx: &mut Ctx, node: &Node, path: &str) -> Vec<AssertSpec> {
    let items: Vec<&Node> = match &node.value {
        Value::Null => return Vec::new(),
        Value::Seq(items) => items.iter().collect(),
        Value::Map(_) => vec![node],
        Value::Scalar { .. } => {
            ctx.error(
                Some(node.pos),
                path,
                "expected a list of assertions, found a scalar",
                Some("write `- path: status` / `  equals: active` items".to_string()),
            );
            return Vec::new();
        }
    };
    let mut known: Vec<&str> = ASSERT_SOURCES.to_vec();
    known.extend_from_slice(ASSERT_OPERATORS);
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let p = if matches!(node.value, Value::Seq(_)) {
            index(path, i)
        } else {
            path.to_string()
        };
        let Some(f) = fields(ctx, Some(item), &p, &known) else {
            continue;
        };
        // The source: `path`, `header`, or `from` + `path`.
        let from = f
            .opt_string(ctx, "from")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let source = match (f.get("path"), f.get("header")) {
            (Some(_), Some(_)) => {
                ctx.error(
                    f.key_pos("header"),
                    &f.path_of("header"),
                    "an assertion reads either a `path` or a `header`, not both",
                    Some("split it into two assertions".to_string()),
                );
                None
            }
            (Some(n), None) => decode::non_empty(ctx, n, &f.path_of("path")).map(|p| {
                let p = TemplateText::new(p.trim(), ctx.origin(n));
                (from.clone().unwrap_or_else(|| "gjson".to_string()), p)
            }),
            (None, Some(n)) => {
                if from.is_some() {
                    ctx.error(
                        f.key_pos("from"),
                        &f.path_of("from"),
                        "`from` goes with `path`, not with `header`",
                        Some("write `header: Name` alone, or `from: X` with `path:`".to_string()),
                    );
                }
                decode::non_empty(ctx, n, &f.path_of("header")).map(|h| {
                    (
                        "header".to_string(),
                        TemplateText::new(h.trim(), ctx.origin(n)),
                    )
                })
            }
            (None, None) => {
                f.missing(
                    ctx,
                    "path",
                    Some(
                        "say what to check: `path: status` (a gjson path into the body), \
                         `header: Content-Type`, or `from: regex` with `path:`"
                            .to_string(),
                    ),
                );
                None
            }
        };
        // Exactly one operator.
        let written: Vec<&str> = ASSERT_OPERATORS
            .iter()
            .copied()
            .filter(|op| f.has(op))
            .collect();
        let op = match written.as_slice() {
            [] => {
                ctx.error(
                    f.pos,
                    &p,
                    "the assertion has no operator",
                    Some(format!("add one of {}", ASSERT_OPERATORS.join(", "))),
                );
                None
            }
            [one] => decode_op(ctx, &f, one),
            [_, second, ..] => {
                ctx.error(
                    f.key_pos(second),
                    &f.path_of(second),
                    format!(
                        "one assertion, one operator: found {}",
                        written.join(" and ")
                    ),
                    Some("write each check as its own `- ` item".to_string()),
                );
                None
            }
        };
        if let (Some((from, path)), Some(op)) = (source, op) {
            out.push(AssertSpec { from, path, op });
        }
    }
    out
}

fn decode_op(ctx: &mut Ctx, f: &decode::Fields<'_>, op: &str) -> Option<AssertOp> {
    let path = f.path_of(op);
    let node = f.raw(op)?;
    if op == "exists" {
        // `exists:` alone reads as `exists: true`.
        if node.is_null() {
            return Some(AssertOp::Exists(true));
        }
        return decode::boolean(ctx, node, &path).map(AssertOp::Exists);
    }
    if op == "one_of" {
        let items = decode::template_list(ctx, node, &path);
        if items.is_empty() {
            ctx.error(
                Some(node.pos),
                &path,
                "one_of needs at least one value",
                Some("e.g. one_of: [available, ready]".to_string()),
            );
            return None;
        }
        return Some(AssertOp::OneOf(items));
    }
    // A null value compares with the empty string (what gjson gives for JSON null).
    let value = if node.is_null() {
        TemplateText::default()
    } else {
        decode::template(ctx, node, &path)?
    };
    Some(match op {
        "equals" => AssertOp::Equals(value),
        "not_equals" => AssertOp::NotEquals(value),
        "contains" => AssertOp::Contains(value),
        "matches" => {
            // A template is checked once rendered, at run time.
            if !value.contains("{{")
                && let Err(e) = compile_regex(&value)
            {
                ctx.error(
                    Some(node.pos),
                    &path,
                    format!("invalid regex: {e}"),
                    Some("the syntax is Rust's regex crate (RE2-like)".to_string()),
                );
                return None;
            }
            AssertOp::Matches(value)
        }
        "greater_than" | "less_than" => {
            if !value.contains("{{") && value.trim().parse::<f64>().is_err() {
                ctx.error(
                    Some(node.pos),
                    &path,
                    format!("{op} compares numbers; \"{value}\" is not a number"),
                    None,
                );
                return None;
            }
            if op == "greater_than" {
                AssertOp::GreaterThan(value)
            } else {
                AssertOp::LessThan(value)
            }
        }
        _ => return None,
    })
}

/// `poll:` (in a response, or on a step).
pub(crate) fn decode_poll(ctx: &mut Ctx, node: &Node, path: &str) -> Option<PollSpec> {
    let f = fields(ctx, Some(node), path, &["interval", "timeout"])?;
    let interval = f.duration_or(ctx, "interval", POLL_INTERVAL);
    let timeout = f.duration_or(ctx, "timeout", POLL_TIMEOUT);
    if interval.is_zero() {
        ctx.error(
            f.value_pos("interval"),
            &f.path_of("interval"),
            "poll.interval must be more than 0",
            Some("e.g. interval: 2s".to_string()),
        );
        return None;
    }
    if timeout < interval {
        ctx.error(
            f.value_pos("timeout"),
            &f.path_of("timeout"),
            "poll.timeout is shorter than poll.interval",
            Some("e.g. interval: 2s, timeout: 5m".to_string()),
        );
        return None;
    }
    Some(PollSpec { interval, timeout })
}

/// A polled request is sent again and again: only a method that may be repeated safely
/// (GET, HEAD, OPTIONS, PUT, DELETE), unless the request says `retry: true`.
pub(crate) fn check_poll_method(
    ctx: &mut Ctx,
    request: Option<&RequestSpec>,
    response: Option<&ResponseSpec>,
    node: Option<&Node>,
    path: &str,
) {
    let (Some(request), Some(response)) = (request, response) else {
        return;
    };
    if response.poll.is_none() {
        return;
    }
    let idempotent = matches!(
        request.method.as_str(),
        "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE"
    );
    if !idempotent && request.retry != Some(true) {
        ctx.error(
            node.map(|n| n.pos),
            path,
            format!(
                "poll re-sends the request, and {} is not idempotent",
                request.method
            ),
            Some(
                "poll a GET of the resource in a next step, or set `retry: true` on the \
                 request if sending it again is safe"
                    .to_string(),
            ),
        );
    }
}

/// `verify:` of a migration.
pub(crate) fn decode_verify(ctx: &mut Ctx, node: &Node, base: &Path) -> Option<VerifySpec> {
    let f = fields(ctx, Some(node), "verify", &["request", "response"])?;
    let request = match f.get("request") {
        Some(n) => decode_request(ctx, n, "verify.request", base),
        None => {
            f.missing(
                ctx,
                "request",
                Some("e.g. `request: {method: GET, url: ...}`".to_string()),
            );
            None
        }
    };
    let response = decode_response(ctx, f.get("response"), "verify.response");
    let request = request?;
    if !VERIFY_METHODS.contains(&request.method.as_str()) {
        let pos = f
            .get("request")
            .and_then(|n| match &n.value {
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.text == "method")
                    .map(|(_, v)| v.pos),
                _ => None,
            })
            .or(f.pos);
        ctx.error(
            pos,
            "verify.request.method",
            format!(
                "verify sends only {}: it must change nothing, and {} may",
                VERIFY_METHODS.join(" or "),
                request.method
            ),
            Some("read the resource with a GET".to_string()),
        );
        return None;
    }
    if response.as_ref().is_some_and(|r| r.poll.is_some()) {
        ctx.error(
            f.get("response").map(|n| n.pos),
            "verify.response.poll",
            "verify does not poll: it reports what the system looks like now",
            Some("remove poll".to_string()),
        );
    }
    Some(VerifySpec { request, response })
}

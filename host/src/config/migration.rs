//! One migration file (`<version>_<name>.yaml`): its `up` and optional `down` (section 3).

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::decode::{Ctx, Fields, fields, index};
use super::error::{Diagnostics, Loaded, finish};
use super::paths::base_dir;
use super::request::{
    REQUEST_KEYS, RequestSpec, ResponseSpec, decode_request, decode_response, request_from_fields,
};
use super::yaml::{Node, Value};
use crate::template::{TemplateText, TemplateTree};

/// The step type of plain HTTP steps.
pub const HTTP_STEP: &str = "http";

/// A loaded migration file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Migration {
    /// The file name's number (`001` is 1; timestamps such as 20261127093000 fit).
    pub version: u64,
    /// The file name's part after `<digits>_`, without the extension.
    pub name: String,
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub checksum: String,
    pub up: UpSpec,
    pub down: Option<DownSpec>,
    /// `verify:`: a read-only request that checks the live system still matches
    /// (docs/migrations.md, "Live verification").
    pub verify: Option<super::assert::VerifySpec>,
}

/// `up:`. Written either as `request` (+ `response`) or as `steps:`; `steps` is always
/// filled (a single-request `up` becomes one http step named like the `up`), so callers
/// only need `steps`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpSpec {
    pub name: Option<String>,
    /// Variables local to this migration (raw templates, in file order).
    pub env: IndexMap<String, TemplateText>,
    /// As written (single-request form only).
    pub request: Option<RequestSpec>,
    /// As written (single-request form only).
    pub response: Option<ResponseSpec>,
    /// Never empty.
    pub steps: Vec<StepSpec>,
}

impl UpSpec {
    /// The steps to run, in order (never empty).
    pub fn steps(&self) -> &[StepSpec] {
        &self.steps
    }
}

/// One step: an HTTP request (`type: http`, the default) or another step type from a plugin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSpec {
    pub name: Option<String>,
    /// YAML key `type` (default `http`).
    pub kind: String,
    /// Variables local to this step.
    pub env: IndexMap<String, TemplateText>,
    /// Always present for http steps.
    pub request: Option<RequestSpec>,
    pub response: Option<ResponseSpec>,
    /// Input for non-http step types: any YAML, as a JSON tree whose strings are
    /// templates parsed at load (rendered when the step runs).
    pub with: Option<TemplateTree>,
}

/// `down.find:`: a lookup run before the down request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindSpec {
    pub request: RequestSpec,
    pub response: Option<ResponseSpec>,
}

/// `down:`. The Go form puts `method`, `url`, `headers`, `queries`, `body` directly under
/// `down` with `auth`; they are normalised into `request` (with `auth_name` = `auth`).
/// `steps` is always filled: the `find` step (if any), then the down request, or the
/// `steps:` as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DownSpec {
    pub name: Option<String>,
    /// Auth provider for the down request and `find` (unless they name their own).
    pub auth: Option<String>,
    pub env: IndexMap<String, TemplateText>,
    pub find: Option<FindSpec>,
    /// The down request (None only when written as `steps:`).
    pub request: Option<RequestSpec>,
    /// Down success: the status is in `result_code`, or any 2xx when absent.
    pub response: Option<ResponseSpec>,
    /// Never empty.
    pub steps: Vec<StepSpec>,
}

impl DownSpec {
    /// The steps to run, in order (never empty).
    pub fn steps(&self) -> &[StepSpec] {
        &self.steps
    }
}

const FILE_KEYS: &[&str] = &["up", "down", "verify"];
const UP_KEYS: &[&str] = &["name", "env", "request", "response", "steps"];
const STEP_KEYS: &[&str] = &["name", "type", "env", "request", "response", "with", "poll"];
const DOWN_KEYS: &[&str] = &[
    "name",
    "auth",
    "env",
    "find",
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
    "response",
    "steps",
    "request",
];
/// Request keys written directly under `down:` (the Go form).
const DOWN_FLAT_KEYS: &[&str] = &[
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

/// SHA-256 of `bytes` as lower-case hex.
pub fn checksum(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Loads one migration file; warnings (e.g. a path found only from the working directory)
/// are dropped: use [`load_migration_file_with_warnings`] to get them.
pub fn load_migration_file(
    path: &Path,
    version: u64,
    name: &str,
) -> Result<Migration, Diagnostics> {
    load_migration_file_with_warnings(path, version, name).map(|l| l.value)
}

/// Loads one migration file, reporting every problem in it at once.
pub fn load_migration_file_with_warnings(
    path: &Path,
    version: u64,
    name: &str,
) -> Result<Loaded<Migration>, Diagnostics> {
    let bytes = super::files::read(path, super::files::FileKind::Yaml)
        .map_err(|e| Diagnostics::from(super::file_error(path, &e)))?;
    let mut ctx = Ctx::new(path, "migration file");
    let migration = decode_migration(&mut ctx, &bytes, version, name);
    finish(migration, ctx.diags)
}

/// Decodes a migration file's bytes (positions and paths relative to `ctx.file`).
pub(crate) fn decode_migration(ctx: &mut Ctx, bytes: &[u8], version: u64, name: &str) -> Migration {
    let checksum = checksum(bytes);
    let base = base_dir(&ctx.file);
    let (up, down, verify) = match super::utf8(ctx, bytes) {
        None => (None, None, None),
        Some(src) => {
            let root = ctx.parse(src);
            match root.as_ref() {
                None => {
                    if !ctx.has_errors() {
                        ctx.error(
                            None,
                            "",
                            "the migration file is empty",
                            Some("add an `up:` block".to_string()),
                        );
                    }
                    (None, None, None)
                }
                Some(root) => match fields(ctx, Some(root), "", FILE_KEYS) {
                    None => (None, None, None),
                    Some(top) => {
                        let up = match top.get("up") {
                            None => {
                                top.missing(
                                    ctx,
                                    "up",
                                    Some("every migration needs an `up:` block".to_string()),
                                );
                                None
                            }
                            Some(n) => decode_up(ctx, n, &base),
                        };
                        let down = top.get("down").and_then(|n| decode_down(ctx, n, &base));
                        let verify = top
                            .get("verify")
                            .and_then(|n| super::assert::decode_verify(ctx, n, &base));
                        (up, down, verify)
                    }
                },
            }
        }
    };
    Migration {
        version,
        name: name.to_string(),
        path: ctx.file.clone(),
        checksum,
        up: up.unwrap_or_else(|| UpSpec {
            name: None,
            env: IndexMap::new(),
            request: None,
            response: None,
            steps: Vec::new(),
        }),
        down,
        verify,
    }
}

fn opt_name(ctx: &mut Ctx, f: &Fields<'_>) -> Option<String> {
    f.opt_string(ctx, "name")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn decode_up(ctx: &mut Ctx, node: &Node, base: &std::path::Path) -> Option<UpSpec> {
    let f = fields(ctx, Some(node), "up", UP_KEYS)?;
    let name = opt_name(ctx, &f);
    let env = f.template_map(ctx, "env");

    if let Some(steps_node) = f.get("steps") {
        for key in ["request", "response"] {
            if f.has(key) {
                ctx.error(
                    f.key_pos(key),
                    &f.path_of(key),
                    format!("up has both steps and {key}"),
                    Some("move the request into a step, or remove steps".to_string()),
                );
            }
        }
        let steps = decode_steps(ctx, steps_node, "up.steps", base, None);
        return Some(UpSpec {
            name,
            env,
            request: None,
            response: None,
            steps,
        });
    }

    let request = match f.get("request") {
        Some(n) => decode_request(ctx, n, "up.request", base),
        None => {
            f.missing(
                ctx,
                "request",
                Some("give the request (method, url, ...) or a list of steps".to_string()),
            );
            None
        }
    };
    let response = decode_response(ctx, f.get("response"), "up.response");
    super::assert::check_poll_method(
        ctx,
        request.as_ref(),
        response.as_ref(),
        f.get("response"),
        "up.response.poll",
    );
    let request = request?;
    Some(UpSpec {
        name: name.clone(),
        env,
        request: Some(request.clone()),
        response: response.clone(),
        steps: vec![StepSpec {
            name,
            kind: HTTP_STEP.to_string(),
            env: IndexMap::new(),
            request: Some(request),
            response,
            with: None,
        }],
    })
}

/// `steps:` (under `up` or `down`). `default_auth` fills the requests' `auth_name` when unset.
fn decode_steps(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    base: &std::path::Path,
    default_auth: Option<&str>,
) -> Vec<StepSpec> {
    let items = match &node.value {
        Value::Seq(items) => items,
        _ => {
            ctx.error(
                Some(node.pos),
                path,
                format!("expected a list of steps, found {}", node.kind_name()),
                Some("write each step as a `- ` item".to_string()),
            );
            return Vec::new();
        }
    };
    if items.is_empty() {
        ctx.error(
            Some(node.pos),
            path,
            "steps is empty",
            Some("add at least one step".to_string()),
        );
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = index(path, i);
        let Some(f) = fields(ctx, Some(item), &p, STEP_KEYS) else {
            continue;
        };
        let name = opt_name(ctx, &f);
        let kind = f
            .opt_string(ctx, "type")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| HTTP_STEP.to_string());
        let env = f.template_map(ctx, "env");
        let mut request = f
            .get("request")
            .and_then(|n| decode_request(ctx, n, &f.path_of("request"), base));
        let mut response = decode_response(ctx, f.get("response"), &f.path_of("response"));
        // `poll:` on the step is the response's poll (one place to read it).
        if let Some(n) = f.get("poll") {
            let poll = super::assert::decode_poll(ctx, n, &f.path_of("poll"));
            if response.as_ref().is_some_and(|r| r.poll.is_some()) {
                ctx.error(
                    f.key_pos("poll"),
                    &f.path_of("poll"),
                    "poll is set on both the step and its response",
                    Some("keep one of them".to_string()),
                );
            }
            response.get_or_insert_with(Default::default).poll = poll;
        }
        super::assert::check_poll_method(
            ctx,
            request.as_ref(),
            response.as_ref(),
            f.get("poll").or(f.get("response")),
            &f.path_of("poll"),
        );
        let with = f.get("with").map(|n| super::decode::template_tree(ctx, n));
        if kind == HTTP_STEP {
            if !f.has("request") {
                f.missing(
                    ctx,
                    "request",
                    Some("an http step sends a request (method, url, ...)".to_string()),
                );
            }
            if f.has("with") {
                ctx.error(
                    f.key_pos("with"),
                    &f.path_of("with"),
                    "`with` is for plugin step types; an http step uses request",
                    Some("set `type:` to the plugin's name, or remove `with`".to_string()),
                );
            }
        }
        if let Some(req) = request.as_mut()
            && req.auth_name.is_none()
        {
            req.auth_name = default_auth.map(str::to_string);
        }
        out.push(StepSpec {
            name,
            kind,
            env,
            request,
            response,
            with,
        });
    }
    out
}

fn decode_down(ctx: &mut Ctx, node: &Node, base: &std::path::Path) -> Option<DownSpec> {
    let f = fields(ctx, Some(node), "down", DOWN_KEYS)?;
    let name = opt_name(ctx, &f);
    let auth = f
        .opt_string(ctx, "auth")
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    let env = f.template_map(ctx, "env");
    let flat: Vec<&str> = DOWN_FLAT_KEYS
        .iter()
        .copied()
        .filter(|k| f.has(k))
        .collect();

    if let Some(steps_node) = f.get("steps") {
        for key in flat.iter().copied().chain(["request", "find", "response"]) {
            if f.has(key) {
                ctx.error(
                    f.key_pos(key),
                    &f.path_of(key),
                    format!("down has both steps and {key}"),
                    Some("move it into a step, or remove steps".to_string()),
                );
            }
        }
        let steps = decode_steps(ctx, steps_node, "down.steps", base, auth.as_deref());
        return Some(DownSpec {
            name,
            auth,
            env,
            find: None,
            request: None,
            response: None,
            steps,
        });
    }

    let find = f.get("find").and_then(|n| {
        let ff = fields(ctx, Some(n), "down.find", &["request", "response"])?;
        let request = match ff.get("request") {
            Some(rn) => decode_request(ctx, rn, "down.find.request", base),
            None => {
                ff.missing(ctx, "request", None);
                None
            }
        };
        let response = decode_response(ctx, ff.get("response"), "down.find.response");
        super::assert::check_poll_method(
            ctx,
            request.as_ref(),
            response.as_ref(),
            ff.get("response"),
            "down.find.response.poll",
        );
        let mut request = request?;
        if request.auth_name.is_none() {
            request.auth_name = auth.clone();
        }
        Some(FindSpec { request, response })
    });

    let request = if let Some(rn) = f.get("request") {
        for key in &flat {
            ctx.error(
                f.key_pos(key),
                &f.path_of(key),
                format!("down has both request and {key}"),
                Some(format!("move {key} into down.request")),
            );
        }
        decode_request(ctx, rn, "down.request", base).map(|mut r| {
            if r.auth_name.is_none() {
                r.auth_name = auth.clone();
            }
            r
        })
    } else if flat.is_empty() {
        ctx.error(
            f.pos,
            "down",
            "down has no request",
            Some("add `method:` and `url:` under down (or remove the down block)".to_string()),
        );
        None
    } else {
        // Go form: the request keys are down's own; `auth` is the auth name.
        request_from_fields(ctx, &f, base, "auth")
    };
    debug_assert!(
        REQUEST_KEYS
            .iter()
            .all(|k| *k == "auth_name" || DOWN_FLAT_KEYS.contains(k))
    );
    let response = decode_response(ctx, f.get("response"), "down.response");
    super::assert::check_poll_method(
        ctx,
        request.as_ref(),
        response.as_ref(),
        f.get("response"),
        "down.response.poll",
    );
    let request = request?;

    let mut steps = Vec::new();
    if let Some(find) = &find {
        steps.push(StepSpec {
            name: Some("find".to_string()),
            kind: HTTP_STEP.to_string(),
            env: IndexMap::new(),
            request: Some(find.request.clone()),
            response: find.response.clone(),
            with: None,
        });
    }
    steps.push(StepSpec {
        name: name.clone(),
        kind: HTTP_STEP.to_string(),
        env: IndexMap::new(),
        request: Some(request.clone()),
        response: response.clone(),
        with: None,
    });
    Some(DownSpec {
        name,
        auth,
        env,
        find,
        request: Some(request),
        response,
        steps,
    })
}

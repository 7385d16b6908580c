//! `config.yaml`: one stage's configuration (docs/configuration.md; auth and plugins: docs/plugins.md; store: docs/store.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value as Json;

use super::decode::{self, Ctx, Fields, fields, index, json_object};
use super::error::{Diagnostics, Loaded, finish};
use super::paths::{Need, base_dir, resolve};
use super::settings::{
    ClientConfig, LoggingConfig, WaitConfig, decode_client, decode_logging, decode_wait,
};
use super::store::{StoreConfig, decode_store};
use super::suggest::closest;
use super::yaml::{Node, Value};
use crate::template::{TemplateText, TemplateTree};

/// Auth provider types built into the binary; a plugin may add more (section 7, 9).
pub const BUILTIN_AUTH_TYPES: &[&str] = &["basic", "oauth2", "pocketbase"];

/// A stage's configuration (`config.yaml`). Strings are raw templates: nothing is rendered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageConfig {
    /// The config file itself.
    pub path: PathBuf,
    /// Where the migration files are (default: the config file's directory).
    pub migrate_dir: PathBuf,
    pub env: Vec<EnvEntry>,
    pub auth: Vec<AuthEntry>,
    pub plugins: Vec<PluginEntry>,
    pub store: StoreConfig,
    pub wait: Option<WaitConfig>,
    pub client: ClientConfig,
    pub logging: LoggingConfig,
    /// Default `render_body` for every request (default true).
    pub render_body: bool,
    /// Pause between two migrations (default 0).
    pub delay_between_migrations: Duration,
}

/// One `env:` entry. Exactly one of `value` / `value_from_env` is set, unless `default`
/// is given (then both may be absent and the default is the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvEntry {
    pub name: String,
    /// The value as written (a template over earlier variables, parsed at load); scalars
    /// of any YAML type are kept as their text.
    pub value: Option<TemplateText>,
    /// YAML key `valueFromEnv`: the OS environment variable to read.
    pub value_from_env: Option<String>,
    /// Used when `valueFromEnv` names an unset variable (or when nothing else is given);
    /// a template too.
    pub default: Option<TemplateText>,
}

/// One `auth:` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthEntry {
    /// YAML key `type`: `basic`, `oauth2`, `pocketbase` or a plugin's name.
    pub kind: String,
    pub name: String,
    /// The provider's settings: a JSON object whose strings are templates, parsed
    /// when the file is loaded (rendered when a credential is acquired).
    pub config: TemplateTree,
}

/// One `plugins:` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginEntry {
    pub name: String,
    /// Resolved path of the `.wasm` component.
    pub path: PathBuf,
    /// Where the plugin may send requests (default: nowhere).
    pub allowed_hosts: Vec<String>,
    /// Static configuration handed to the plugin (a JSON object, empty by default).
    pub config: Json,
    /// The variables a step plugin is handed in `step-input.variables`
    /// (default: none; docs/plugins.md, "What a plugin sees").
    pub variables: Vec<String>,
    /// The pinned SHA-256 of the component file (lower-case hex): a file
    /// with another digest is refused (docs/plugins.md, "Pinning").
    pub sha256: Option<String>,
    /// Keep one instance between the plugin's calls in a stage run instead
    /// of a fresh one per call (docs/plugins.md, "Instances"; default false).
    pub reuse_instance: bool,
}

impl StageConfig {
    /// Looks up an auth entry by name.
    pub fn auth_entry(&self, name: &str) -> Option<&AuthEntry> {
        self.auth.iter().find(|a| a.name == name)
    }

    /// Looks up a plugin by name.
    pub fn plugin(&self, name: &str) -> Option<&PluginEntry> {
        self.plugins.iter().find(|p| p.name == name)
    }
}

const TOP_KEYS: &[&str] = &[
    "migrate_dir",
    "env",
    "auth",
    "plugins",
    "store",
    "wait",
    "client",
    "logging",
    "render_body",
    "delay_between_migrations",
];

/// Loads and checks a `config.yaml`. Every problem in the file is reported at once.
///
/// When the config has errors, the migration files of its `migrate_dir` (as far as the
/// broken config says where that is) are checked too and their errors and warnings are
/// part of the returned [`Diagnostics`]: one run lists every problem, instead of a config
/// error hiding those of the migration files until it is fixed.
pub fn load_stage_config(path: &Path) -> Result<Loaded<StageConfig>, Diagnostics> {
    let src = super::read_file(path)?;
    let mut ctx = Ctx::new(path, "config.yaml");
    let config = decode_stage_config(&mut ctx, &src);
    if ctx.has_errors() && config.migrate_dir.is_dir() {
        let (_, diags) = super::load_migrations_lenient(&config.migrate_dir);
        ctx.diags.extend(
            diags
                .into_iter()
                .filter(|d| d.severity != super::Severity::Note),
        );
    }
    finish(config, ctx.diags)
}

/// Decodes a config file's text (positions and paths relative to `ctx.file`).
pub(crate) fn decode_stage_config(ctx: &mut Ctx, src: &str) -> StageConfig {
    let root = ctx.parse(src);
    let base = base_dir(&ctx.file);
    let empty = Fields::empty("");
    let top = fields(ctx, root.as_ref(), "", TOP_KEYS).unwrap_or(empty);

    let migrate_dir = match top.get("migrate_dir") {
        Some(n) => match decode::non_empty(ctx, n, "migrate_dir") {
            Some(raw) => resolve(
                ctx,
                &base,
                &raw,
                Some(n.pos),
                "migrate_dir",
                Need::Directory,
            ),
            None => super::paths::tidy(&base),
        },
        None => super::paths::tidy(&base),
    };

    let env = decode_env(ctx, top.get("env"));
    let plugins = decode_plugins(ctx, &base, top.get("plugins"));
    let auth = decode_auth(ctx, top.get("auth"), &plugins);
    let store = decode_store(ctx, &base, &migrate_dir, top.raw("store"));
    let wait = decode_wait(ctx, top.raw("wait"));
    let client = decode_client(ctx, &base, top.raw("client"));
    let logging = decode_logging(ctx, top.raw("logging"));
    let render_body = top.bool_or(ctx, "render_body", true);
    let delay_between_migrations = top.duration_or(ctx, "delay_between_migrations", Duration::ZERO);

    StageConfig {
        path: ctx.file.clone(),
        migrate_dir,
        env,
        auth,
        plugins,
        store,
        wait,
        client,
        logging,
        render_body,
        delay_between_migrations,
    }
}

fn decode_env(ctx: &mut Ctx, node: Option<&Node>) -> Vec<EnvEntry> {
    let Some(node) = node else {
        return Vec::new();
    };
    let mut out: Vec<EnvEntry> = Vec::new();
    match &node.value {
        // Convenience: `env: {name: value}`.
        Value::Map(_) => {
            for (name, value) in decode::template_map(ctx, node, "env") {
                out.push(EnvEntry {
                    name,
                    value: Some(value),
                    value_from_env: None,
                    default: None,
                });
            }
        }
        Value::Seq(items) => {
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (i, item) in items.iter().enumerate() {
                let path = index("env", i);
                let Some(f) = fields(
                    ctx,
                    Some(item),
                    &path,
                    &["name", "value", "valueFromEnv", "default"],
                ) else {
                    continue;
                };
                let Some(name) = f.req_string(ctx, "name") else {
                    continue;
                };
                if name.trim().is_empty() {
                    ctx.error(
                        f.value_pos("name"),
                        &f.path_of("name"),
                        "empty variable name",
                        None,
                    );
                    continue;
                }
                // `value:` with nothing after it is an empty value (as in the Go tool).
                let value = match f.raw("value") {
                    Some(n) if n.is_null() => Some(TemplateText::default()),
                    Some(n) => decode::template(ctx, n, &f.path_of("value")),
                    None => None,
                };
                let value_from_env = match f.get("valueFromEnv") {
                    Some(n) => decode::non_empty(ctx, n, &f.path_of("valueFromEnv")),
                    None => None,
                };
                let default = f.opt_template(ctx, "default");
                let given = (f.has("value"), f.has("valueFromEnv"), f.has("default"));
                match given {
                    (true, true, _) => ctx.error(
                        f.key_pos("valueFromEnv"),
                        &path,
                        format!("variable \"{name}\" has both value and valueFromEnv"),
                        Some("keep only one of them".to_string()),
                    ),
                    (false, false, false) => ctx.error(
                        f.pos,
                        &path,
                        format!("variable \"{name}\" has neither value nor valueFromEnv"),
                        Some("add `value: ...` or `valueFromEnv: OS_VARIABLE`".to_string()),
                    ),
                    (true, false, true) => ctx.warning(
                        f.key_pos("default"),
                        &f.path_of("default"),
                        format!("default of \"{name}\" is never used: the variable has a value"),
                        Some("default goes with valueFromEnv".to_string()),
                    ),
                    _ => {}
                }
                if let Some(first) = seen.get(&name) {
                    ctx.warning(
                        f.value_pos("name"),
                        &f.path_of("name"),
                        format!("variable \"{name}\" is defined again (first at env[{first}]); the later one wins"),
                        None,
                    );
                } else {
                    seen.insert(name.clone(), i);
                }
                out.push(EnvEntry {
                    name,
                    value,
                    value_from_env,
                    default,
                });
            }
        }
        _ => ctx.error(
            Some(node.pos),
            "env",
            format!("expected a list of variables, found {}", node.kind_name()),
            Some("write `- name: x` / `  value: y` entries".to_string()),
        ),
    }
    out
}

fn decode_plugins(ctx: &mut Ctx, base: &Path, node: Option<&Node>) -> Vec<PluginEntry> {
    let mut out: Vec<PluginEntry> = Vec::new();
    let Some(items) = list_items(ctx, node, "plugins") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let path = index("plugins", i);
        let Some(f) = fields(
            ctx,
            Some(item),
            &path,
            &[
                "name",
                "path",
                "allowed_hosts",
                "config",
                "variables",
                "sha256",
                "reuse_instance",
            ],
        ) else {
            continue;
        };
        let name = f.req_string(ctx, "name");
        let file = match f.get("path") {
            None => {
                f.missing(
                    ctx,
                    "path",
                    Some("give the .wasm component's path".to_string()),
                );
                None
            }
            Some(n) => decode::non_empty(ctx, n, &f.path_of("path")).map(|raw| {
                resolve(
                    ctx,
                    base,
                    &raw,
                    Some(n.pos),
                    &f.path_of("path"),
                    Need::ExistingFile,
                )
            }),
        };
        let allowed_hosts = f.string_list(ctx, "allowed_hosts");
        for (j, host) in allowed_hosts.iter().enumerate() {
            if host.trim().is_empty() {
                ctx.error(
                    f.value_pos("allowed_hosts"),
                    &index(&f.path_of("allowed_hosts"), j),
                    "empty host",
                    None,
                );
            }
        }
        let config = json_object(ctx, f.get("config"), &f.path_of("config"));
        let variables = f.string_list(ctx, "variables");
        for (j, variable) in variables.iter().enumerate() {
            if variable.trim().is_empty() {
                ctx.error(
                    f.value_pos("variables"),
                    &index(&f.path_of("variables"), j),
                    "empty variable name",
                    Some("list the names of the variables the plugin may read".to_string()),
                );
            }
        }
        let sha256 = f.opt_string(ctx, "sha256").and_then(|raw| {
            // `sha256:<hex>` (as `plugins inspect` prints it) or the bare hex.
            let hex = raw.trim();
            let hex = hex
                .strip_prefix("sha256:")
                .unwrap_or(hex)
                .to_ascii_lowercase();
            if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                Some(hex)
            } else {
                ctx.error(
                    f.value_pos("sha256"),
                    &f.path_of("sha256"),
                    format!("sha256 {raw:?} is not a SHA-256 digest (64 hex digits)"),
                    Some("copy the digest `apirun plugins inspect <file>` prints".to_string()),
                );
                None
            }
        });
        let reuse_instance = f.opt_bool(ctx, "reuse_instance").unwrap_or(false);
        let (Some(name), Some(file)) = (name, file) else {
            continue;
        };
        if out.iter().any(|p| p.name == name) {
            ctx.error(
                f.value_pos("name"),
                &f.path_of("name"),
                format!("plugin \"{name}\" is defined twice"),
                Some("plugin names must be unique".to_string()),
            );
            continue;
        }
        out.push(PluginEntry {
            name,
            path: file,
            allowed_hosts,
            config,
            variables,
            sha256,
            reuse_instance,
        });
    }
    out
}

fn decode_auth(ctx: &mut Ctx, node: Option<&Node>, plugins: &[PluginEntry]) -> Vec<AuthEntry> {
    let mut out: Vec<AuthEntry> = Vec::new();
    let Some(items) = list_items(ctx, node, "auth") else {
        return out;
    };
    let mut known_types: Vec<&str> = BUILTIN_AUTH_TYPES.to_vec();
    known_types.extend(plugins.iter().map(|p| p.name.as_str()));
    for (i, item) in items.iter().enumerate() {
        let path = index("auth", i);
        let Some(f) = fields(
            ctx,
            Some(item),
            &path,
            &["type", "name", "config", "providers"],
        ) else {
            continue;
        };
        let kind = f.req_string(ctx, "type").map(|t| t.trim().to_string());
        if let Some(kind) = &kind
            && !known_types.contains(&kind.as_str())
        {
            let hint = match closest(kind, &known_types) {
                Some(c) => format!("did you mean \"{c}\"?"),
                None => format!(
                    "use one of {}, or add a plugin of that name under plugins:",
                    known_types.join(", ")
                ),
            };
            ctx.error(
                f.value_pos("type"),
                &f.path_of("type"),
                format!("unknown auth type \"{kind}\""),
                Some(hint),
            );
        }
        let mut config = decode::template_object(ctx, f.get("config"), &f.path_of("config"));
        // Older Go-tool configs (its keycloak example) put the provider's name
        // inside `config:`; accept that when there is no top-level `name`.
        let nested_name = match (f.has("name"), &mut config) {
            (false, TemplateTree::Object(map)) => match map.get("name") {
                Some(TemplateTree::String(n)) => {
                    let n = n.source().to_string();
                    map.shift_remove("name");
                    Some(n)
                }
                _ => None,
            },
            _ => None,
        };
        let name = match nested_name {
            Some(n) => Some(n.trim().to_string()),
            None => f.req_string(ctx, "name").map(|n| n.trim().to_string()),
        };
        if f.has("providers") {
            ctx.warning(
                f.key_pos("providers"),
                &f.path_of("providers"),
                "the legacy `providers` list is ignored (as by the Go tool)",
                Some("write one auth entry per provider".to_string()),
            );
        }
        let (Some(kind), Some(name)) = (kind, name) else {
            continue;
        };
        if name.is_empty() {
            ctx.error(
                f.value_pos("name"),
                &f.path_of("name"),
                "must not be empty",
                None,
            );
            continue;
        }
        if out.iter().any(|a| a.name == name) {
            ctx.error(
                f.value_pos("name"),
                &f.path_of("name"),
                format!("auth \"{name}\" is defined twice"),
                Some("auth names must be unique".to_string()),
            );
            continue;
        }
        out.push(AuthEntry { kind, name, config });
    }
    out
}

/// The items of a list-valued key (None, after reporting, if it is not a list).
fn list_items<'a>(ctx: &mut Ctx, node: Option<&'a Node>, path: &str) -> Option<&'a [Node]> {
    let node = node?;
    match &node.value {
        Value::Null => None,
        Value::Seq(items) => Some(items),
        _ => {
            ctx.error(
                Some(node.pos),
                path,
                format!("expected a list, found {}", node.kind_name()),
                Some("write each entry as a `- ` item".to_string()),
            );
            None
        }
    }
}

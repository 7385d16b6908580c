//! Configuration model and loader: `config.yaml` (one stage), migration files and their
//! directory, and `stages.yaml` (docs/configuration.md, docs/migrations.md, docs/store.md,
//! docs/plugins.md, docs/multi-stage.md).
//!
//! Everything here only reads and checks files. Strings that are templates are parsed
//! once, as they are loaded, into [`crate::template::TemplateText`] (or, for `with:` and
//! auth `config:` blocks, [`crate::template::TemplateTree`]) values that keep their YAML
//! position; rendering, extraction, HTTP and the store belong to other modules.
//!
//! # Loading and diagnostics
//!
//! [`load_stage_config`], [`load_migrations`], [`load_migration_file`] and
//! [`load_stages_file`] return either the value with its warnings ([`Loaded`]) or
//! [`Diagnostics`]: every problem found (errors, plus any warnings and notes), never just the
//! first. A [`Diagnostic`] names the file, the line and column, the dotted field path and
//! says what to do, e.g.
//!
//! ```text
//! migration/001_x.yaml:12:5: up.request.method: unknown method "FETCH"; use one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS
//! config/config.yaml:2:1: migrat_dir: unknown key "migrat_dir" in config.yaml; did you mean "migrate_dir"?
//! ```
//!
//! Unknown keys are errors at every nesting level, with the closest known key suggested.
//! Semantic errors (bad method, bad status code, both `body` and `body_file`, bad table
//! name, unknown stage, ...) carry the line and column of the offending value too.
//!
//! # Choice of YAML crate
//!
//! Both candidates report line and column for type errors and unknown fields when used
//! through serde (`#[serde(deny_unknown_fields)]`): serde_yaml_ng says
//! `inner.port: invalid type: string "abc", expected u16 at line 4 column 9`, serde-saphyr
//! says the same with a source snippet. But through serde either one stops at the *first*
//! error of a file, gives no position for errors found after deserialising (a bad method, a
//! bad status code), and serde's "expected one of" list is not a "did you mean" suggestion.
//! serde_yaml_ng keeps no positions at all once a value is parsed.
//!
//! We use the serde-saphyr family, at the level below serde: its parser crate,
//! `granit-parser` (same author, the exact parser serde-saphyr 2.2 runs on, so nothing
//! more to compile if serde-saphyr is used elsewhere). From its events `yaml.rs` builds a
//! small tree in which every node and every key knows its line and column, and `decode.rs`
//! reads the model out of that tree by hand. That gives: all problems of a file in one
//! pass; a position for every semantic error; suggestions for unknown keys at every level;
//! and scalars kept as written (`replicas: 3` is "3", `version: 1.10` stays "1.10" as in
//! Go's yaml.v3, which serde's typed deserialisation would turn into 1.1). Anchors,
//! aliases (with an expansion limit) and merge keys are supported; duplicate keys are
//! errors, as in yaml.v3.
//!
//! # Decisions
//!
//! - Version 0 (`000_x.yaml`) is rejected: version 0 means "nothing applied", so
//!   `down --to 0` rolls everything back.
//! - `result_code` entries that contain `{{` are templates (as in the Go tool) and are
//!   checked only after rendering, elsewhere.
//! - Go-tool compatibility keys are accepted: `logging.mask_sensitive`, `logging.color`,
//!   `format: colour`, `auth[].providers` (ignored with a warning, as Go ignores it).
//! - A value of `0` for a stage `timeout` means no timeout.
//! - `env:` in config.yaml may also be a mapping `{name: value}`; a single scalar where a
//!   list is expected (`depends_on: a`, `result_code: 200`) is a one-element list.
//! - A `body:` written as a YAML mapping or list is sent as compact JSON text.
//! - `down` may also be written with a nested `request:` or with `steps:`; `find` and the
//!   down requests use `down.auth` unless they name their own `auth_name`.
//! - Application YAML tags (`!env X`) are ignored with a warning; a second YAML document in
//!   a file is ignored with a warning (yaml.v3 read only the first).
//!
//! # Limits
//!
//! - YAML-level problems (syntax, duplicate keys, unquoted templates) carry line and column
//!   but no field path.
//! - [`check_references`] (auth names, step types and extractors used by migrations but
//!   not defined in config.yaml) reports file and field path only: the model keeps no
//!   positions.

pub mod assert;
pub mod condition;
mod decode;
pub mod duration;
pub mod error;
pub mod files;
pub mod migration;
pub mod migration_dir;
pub(crate) mod paths;
pub mod references;
pub mod request;
pub mod settings;
pub mod stage_config;
pub mod stages_file;
pub mod store;
pub mod suggest;
pub mod var_file;
pub(crate) mod yaml;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use assert::{AssertOp, AssertSpec, PollSpec, VerifySpec};
pub use condition::{Condition, ConditionForm};
pub use duration::{format_duration, parse_duration};
pub use error::{Diagnostic, Diagnostics, Loaded, Severity};
pub use migration::{
    DownSpec, FindSpec, HTTP_STEP, Migration, StepSpec, UpSpec, checksum, load_migration_file,
    load_migration_file_with_warnings,
};
pub use migration_dir::{load_migrations, load_migrations_lenient, parse_migration_file_name};
pub use references::{BUILTIN_EXTRACTORS, check_references};
pub use request::{
    BodyFile, EnvMissing, ExtractSpec, METHODS, NameValue, RequestSpec, ResponseSpec,
};
pub use settings::{
    ClientConfig, LogFormat, LogLevel, LoggingConfig, MaskingConfig, TlsVersion, WaitConfig,
    WaitMethod,
};
pub use stage_config::{
    AuthEntry, BUILTIN_AUTH_TYPES, EnvEntry, PluginEntry, StageConfig, load_stage_config,
};
pub use stages_file::{
    API_VERSION, EnvFromStage, GlobalConfig, KIND, OnFailure, StageDef, StagesFile,
    load_stages_file,
};
pub use store::{PostgresConfig, SqliteConfig, StoreConfig, StoreKind};

/// A file that could not be read (or was refused: not a regular file, too large) as a
/// diagnostic.
pub(crate) fn file_error(path: &Path, e: &files::FileError) -> Diagnostic {
    use files::FileError;
    let hint = match e {
        FileError::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => Some(
                "check the path (relative paths are relative to the working directory on the command line, and to the file that names them inside files)",
            ),
            std::io::ErrorKind::PermissionDenied => Some("check the file's permissions"),
            _ => None,
        },
        FileError::NotRegular { .. } => {
            Some("point to a regular file (a symlink to a regular file is fine)")
        }
        _ => None,
    };
    let d = Diagnostic::error(path, e.reason());
    match hint {
        Some(h) => d.hint(h),
        None => d,
    }
}

/// Reads a whole user-named file (config.yaml, stages.yaml) as UTF-8 text, through the
/// checks of [`files::read`].
pub(crate) fn read_file(path: &Path) -> Result<String, Diagnostics> {
    let bytes = files::read(path, files::FileKind::Yaml)
        .map_err(|e| Diagnostics::from(file_error(path, &e)))?;
    let mut ctx = decode::Ctx::new(path, "");
    match utf8(&mut ctx, &bytes) {
        Some(s) => Ok(s.to_string()),
        None => Err(Diagnostics(ctx.diags)),
    }
}

/// The bytes as UTF-8 text without a leading byte-order mark; reports invalid UTF-8.
pub(crate) fn utf8<'a>(ctx: &mut decode::Ctx, bytes: &'a [u8]) -> Option<&'a str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Some(s.strip_prefix('\u{feff}').unwrap_or(s)),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            ctx.error(
                Some(yaml::Pos { line, column: 1 }),
                "",
                "the file is not valid UTF-8 text",
                Some("save it as UTF-8".to_string()),
            );
            None
        }
    }
}

//! `store:` in config.yaml (docs/store.md#configuration).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::decode::{self, Ctx, Fields, bad_choice, fields};
use super::paths::{Need, resolve};
use super::yaml::Node;
use crate::template::TemplateText;

/// `store.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// `store:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreConfig {
    /// YAML key `type`: `sqlite` (default) or `postgres` (`postgresql` accepted).
    pub kind: StoreKind,
    /// Run without state.
    pub disabled: bool,
    pub save_response_body: bool,
    /// `table_prefix` as written, if any.
    pub table_prefix: Option<String>,
    /// Resolved table names: explicit names win over the prefix, which wins over defaults.
    pub table_schema_migrations: String,
    pub table_migration_runs: String,
    pub table_stored_env: String,
    /// How long to wait for another apirun holding the store's lock (default 30s).
    pub lock_timeout: Duration,
    pub sqlite: SqliteConfig,
    pub postgres: PostgresConfig,
}

/// `store.sqlite:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqliteConfig {
    /// Resolved database path (default `<migrate_dir>/apirun.db`).
    pub path: PathBuf,
    /// `path` as written when it is a template (`{{.state_dir}}/apirun.db`),
    /// parsed at load: rendered with the config's variables when the store is
    /// opened, then resolved against `base` (docs/store.md, "Templates in store
    /// settings").
    pub template: Option<TemplateText>,
    /// The directory of the config file (what a relative `path` is relative to).
    pub base: PathBuf,
}

/// `store.postgres:`: either `dsn` or the parts. `Debug` hides the password
/// and the DSN (which may hold one). The strings are templates over the
/// config's variables, parsed at load; the store is handed them rendered
/// ([`TemplateText::literal`]).
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct PostgresConfig {
    pub dsn: Option<TemplateText>,
    pub host: Option<TemplateText>,
    pub port: Option<u16>,
    pub user: Option<TemplateText>,
    pub password: Option<TemplateText>,
    pub dbname: Option<TemplateText>,
    pub sslmode: Option<TemplateText>,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<TemplateText>| v.as_ref().map(|_| "<hidden>");
        f.debug_struct("PostgresConfig")
            .field("dsn", &hidden(&self.dsn))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &hidden(&self.password))
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .finish()
    }
}

const STORE_KEYS: &[&str] = &[
    "type",
    "disabled",
    "save_response_body",
    "table_prefix",
    "table_schema_migrations",
    "table_migration_runs",
    "table_stored_env",
    "lock_timeout",
    "sqlite",
    "postgres",
];

const POSTGRES_KEYS: &[&str] = &[
    "dsn", "host", "port", "user", "password", "dbname", "sslmode",
];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(crate) fn decode_store(
    ctx: &mut Ctx,
    base: &Path,
    migrate_dir: &Path,
    node: Option<&Node>,
) -> StoreConfig {
    let f = fields(ctx, node, "store", STORE_KEYS).unwrap_or(Fields::empty("store"));

    let kind = match f.get("type") {
        None => StoreKind::Sqlite,
        Some(n) => match decode::string(ctx, n, "store.type") {
            None => StoreKind::Sqlite,
            Some(t) => match t.trim().to_ascii_lowercase().as_str() {
                "" | "sqlite" | "sqlite3" => StoreKind::Sqlite,
                "postgres" | "postgresql" => StoreKind::Postgres,
                _ => {
                    bad_choice(
                        ctx,
                        n.pos,
                        "store.type",
                        "store type",
                        &t,
                        &["sqlite", "postgres", "postgresql"],
                    );
                    StoreKind::Sqlite
                }
            },
        },
    };

    let disabled = f.bool_or(ctx, "disabled", false);
    let save_response_body = f.bool_or(ctx, "save_response_body", false);
    let lock_timeout = f.duration_or(ctx, "lock_timeout", Duration::from_secs(30));

    // Table names: explicit > prefix + "_" + default > default.
    let table_prefix = f
        .opt_string(ctx, "table_prefix")
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    let prefix_ok = match &table_prefix {
        Some(p) if !is_identifier(p) => {
            ctx.error(
                f.value_pos("table_prefix"),
                "store.table_prefix",
                format!("table prefix \"{p}\" would give invalid table names"),
                Some("use letters, digits and _ only, not starting with a digit".to_string()),
            );
            false
        }
        _ => true,
    };
    let table = |ctx: &mut Ctx, key: &str, default: &str| -> String {
        let explicit = f
            .opt_string(ctx, key)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        match explicit {
            Some(name) => {
                if !is_identifier(&name) {
                    ctx.error(
                        f.value_pos(key),
                        &f.path_of(key),
                        format!("invalid table name \"{name}\""),
                        Some("a table name must match ^[A-Za-z_][A-Za-z0-9_]*$".to_string()),
                    );
                } else if kind == StoreKind::Postgres && name.len() > 63 {
                    ctx.error(
                        f.value_pos(key),
                        &f.path_of(key),
                        format!("table name \"{name}\" is longer than PostgreSQL's 63 characters"),
                        None,
                    );
                }
                name
            }
            None => match (&table_prefix, prefix_ok) {
                (Some(p), true) => format!("{p}_{default}"),
                _ => default.to_string(),
            },
        }
    };
    let table_schema_migrations = table(ctx, "table_schema_migrations", "schema_migrations");
    let table_migration_runs = table(ctx, "table_migration_runs", "migration_runs");
    let table_stored_env = table(ctx, "table_stored_env", "stored_env");

    // SQLite.
    let sf = fields(ctx, f.raw("sqlite"), "store.sqlite", &["path"])
        .unwrap_or(Fields::empty("store.sqlite"));
    let mut sqlite_template = None;
    let sqlite_path = match sf.get("path") {
        Some(n) => match decode::non_empty(ctx, n, "store.sqlite.path") {
            // Resolved when the store is opened, once the variables are known.
            Some(raw) if raw.contains("{{") => {
                sqlite_template = Some(TemplateText::new(raw.clone(), ctx.origin(n)));
                PathBuf::from(raw)
            }
            Some(raw) => resolve(
                ctx,
                base,
                &raw,
                Some(n.pos),
                "store.sqlite.path",
                Need::MayNotExist,
            ),
            None => migrate_dir.join("apirun.db"),
        },
        None => migrate_dir.join("apirun.db"),
    };

    // PostgreSQL.
    let pf = fields(ctx, f.raw("postgres"), "store.postgres", POSTGRES_KEYS)
        .unwrap_or(Fields::empty("store.postgres"));
    let postgres = PostgresConfig {
        dsn: pf.opt_template(ctx, "dsn"),
        host: pf.opt_template(ctx, "host"),
        port: pf
            .opt_uint(ctx, "port", 1, 65535)
            .and_then(|p| u16::try_from(p).ok()),
        user: pf.opt_template(ctx, "user"),
        password: pf.opt_template(ctx, "password"),
        dbname: pf.opt_template(ctx, "dbname"),
        sslmode: pf.opt_template(ctx, "sslmode"),
    };
    let pg_given = POSTGRES_KEYS.iter().any(|k| pf.get(k).is_some());
    match kind {
        StoreKind::Postgres if !disabled => {
            if postgres.dsn.is_none() && postgres.host.is_none() {
                ctx.error(
                    f.value_pos("type").or(f.pos),
                    "store.postgres",
                    "a postgres store needs store.postgres.dsn or store.postgres.host",
                    Some(
                        "e.g. dsn: postgres://user:pass@localhost:5432/apirun?sslmode=disable"
                            .to_string(),
                    ),
                );
            }
            if postgres.dsn.is_some() && postgres.host.is_some() {
                ctx.warning(
                    pf.key_pos("host"),
                    "store.postgres.host",
                    "both dsn and host are set; dsn is used and host/port/user/password/dbname/sslmode are ignored",
                    None,
                );
            }
        }
        StoreKind::Sqlite if pg_given => ctx.warning(
            f.key_pos("postgres"),
            "store.postgres",
            "store.postgres is ignored because store.type is sqlite",
            Some("set `type: postgres` to use PostgreSQL".to_string()),
        ),
        _ => {}
    }

    StoreConfig {
        kind,
        disabled,
        save_response_body,
        table_prefix,
        table_schema_migrations,
        table_migration_runs,
        table_stored_env,
        lock_timeout,
        sqlite: SqliteConfig {
            path: sqlite_path,
            template: sqlite_template,
            base: base.to_path_buf(),
        },
        postgres,
    }
}

#[cfg(test)]
mod debug_tests {
    use super::PostgresConfig;

    #[test]
    fn debug_hides_the_password_and_the_dsn() {
        let config = PostgresConfig {
            dsn: Some("postgres://app:dsn-pw-1234@db/x".into()),
            host: Some("db".into()),
            password: Some("field-pw-5678".into()),
            ..PostgresConfig::default()
        };
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("dsn-pw-1234"), "{shown}");
        assert!(!shown.contains("field-pw-5678"), "{shown}");
        assert!(
            shown.contains("<hidden>") && shown.contains("\"db\""),
            "{shown}"
        );
        // The store connects with this same type: its settings hide both too.
        for connect in [
            crate::store::PgConnect::from(&config),
            crate::store::PgConnect::from(&PostgresConfig {
                dsn: None,
                ..config.clone()
            }),
        ] {
            let shown = format!("{connect:?} {connect:#?}");
            assert!(!shown.contains("dsn-pw-1234"), "{shown}");
            assert!(!shown.contains("field-pw-5678"), "{shown}");
        }
    }
}

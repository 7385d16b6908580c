//! The store's table layout and the upgrade path from older layouts (the Go
//! tool's tables, which it still reads and writes), decided once for every
//! backend: pure functions over the column lists a backend reads from its
//! catalog. The backend then writes the DDL its database needs for the plan
//! (SQLite rebuilds a table where PostgreSQL alters it in place).

use super::rows::StoreCtx;
use super::{STORE_SCHEMA_VERSION, StoreError};

/// One column of an existing table, as the backend's catalog reports it: the
/// type as written in the DDL (SQLite) or by `format_type` (PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub name: String,
    pub ty: String,
}

pub(crate) fn column_type<'a>(cols: &'a [Column], name: &str) -> Option<&'a str> {
    cols.iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
        .map(|c| c.ty.as_str())
}

pub(crate) fn has(cols: &[Column], name: &str) -> bool {
    column_type(cols, name).is_some()
}

/// A table with one of our names that lacks a column every layout has is not
/// ours: refuse it rather than write into someone else's table.
pub(crate) fn require_columns(
    ctx: &StoreCtx,
    table: &str,
    cols: &[Column],
    needed: &[&str],
) -> Result<(), StoreError> {
    let missing: Vec<&str> = needed.iter().copied().filter(|n| !has(cols, n)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::ForeignTable {
        store: ctx.describe.clone(),
        table: table.to_owned(),
        detail: format!("it has no column {}", missing.join(", ")),
    })
}

/// What a column of `migration_runs` holds; each backend maps a kind to its
/// SQL type ([`runs_columns_sql`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The run id: an auto-incrementing 64-bit primary key.
    Id,
    /// A 64-bit version, not null.
    Version,
    /// Text, not null, default `''`.
    TextDefaultEmpty,
    /// Text, not null, no default.
    TextRequired,
    /// `state`: NULL (a Go tool row) or one of the run states.
    State,
    /// A nullable integer (HTTP status).
    Int,
    /// Nullable text.
    Text,
    /// The Go tool's `failed` flag, not null, default false.
    Failed,
    /// The Go tool's start time, not null, with a default.
    RanAt,
    /// A nullable 64-bit integer (milliseconds).
    BigInt,
}

/// The `state` column's check, the same in every backend.
pub(crate) const STATE_CHECK: &str =
    "TEXT CHECK (state IS NULL OR state IN ('running', 'succeeded', 'failed', 'resolved'))";

/// `migration_runs` in the current layout, in order.
pub(crate) const RUNS_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Id),
    ("version", Kind::Version),
    ("name", Kind::TextDefaultEmpty),
    ("direction", Kind::TextRequired),
    ("state", Kind::State),
    ("status_code", Kind::Int),
    ("body", Kind::Text),
    ("env_json", Kind::Text),
    ("error", Kind::Text),
    ("failed", Kind::Failed),
    ("ran_at", Kind::RanAt),
    ("started_at", Kind::Text),
    ("duration_ms", Kind::BigInt),
    ("resolved_as", Kind::Text),
    ("resolved_at", Kind::Text),
];

/// The column list of `CREATE TABLE migration_runs (...)`, with the backend's types.
pub(crate) fn runs_columns_sql(sql_type: impl Fn(Kind) -> &'static str) -> String {
    RUNS_COLUMNS
        .iter()
        .map(|(name, kind)| format!("{name} {}", sql_type(*kind)))
        .collect::<Vec<_>>()
        .join(",\n    ")
}

/// apirun's columns of `schema_migrations` beyond the Go tool's `version`
/// (text, not null, default `''`).
pub(crate) const SCHEMA_MIGRATIONS_EXTRA: &[&str] = &["name", "checksum", "applied_at"];

/// What to do with one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TablePlan {
    /// It does not exist: create it in the current layout.
    Create,
    /// It exists; add these columns of ours (none: it is current).
    Existing { missing: Vec<&'static str> },
}

/// `schema_migrations`: the Go tool's table has `(version)` or
/// `(version, applied_at)`; ours adds `name` and `checksum`.
pub(crate) fn plan_schema_migrations(
    ctx: &StoreCtx,
    cols: &[Column],
) -> Result<TablePlan, StoreError> {
    if cols.is_empty() {
        return Ok(TablePlan::Create);
    }
    require_columns(ctx, &ctx.tables.schema_migrations, cols, &["version"])?;
    let missing = SCHEMA_MIGRATIONS_EXTRA
        .iter()
        .copied()
        .filter(|c| !has(cols, c))
        .collect();
    Ok(TablePlan::Existing { missing })
}

/// `migration_runs`: the Go tool's table has no `state` (and a `status_code
/// NOT NULL` that a run still in flight cannot fill); it is upgraded, keeping
/// its ids and rows. A table with `state` is ours.
pub(crate) fn plan_migration_runs(
    ctx: &StoreCtx,
    cols: &[Column],
) -> Result<TablePlan, StoreError> {
    if cols.is_empty() {
        return Ok(TablePlan::Create);
    }
    if has(cols, "state") {
        return Ok(TablePlan::Existing {
            missing: Vec::new(),
        });
    }
    require_columns(
        ctx,
        &ctx.tables.migration_runs,
        cols,
        &["version", "direction"],
    )?;
    let missing = RUNS_COLUMNS
        .iter()
        .map(|(name, _)| *name)
        .filter(|c| !has(cols, c))
        .collect();
    Ok(TablePlan::Existing { missing })
}

/// `stored_env`: one of the Go tool's layouts has an `id` and no unique key
/// on `(version, name)`; the other has no `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvPlan {
    Create,
    Existing {
        /// It has an `id` column (the order variables were recorded in).
        has_id: bool,
        /// Add a unique key on `(version, name)`, keeping the newest row of
        /// any duplicates.
        add_unique_key: bool,
    },
}

pub(crate) fn plan_stored_env(
    ctx: &StoreCtx,
    cols: &[Column],
    has_unique_version_name: bool,
) -> Result<EnvPlan, StoreError> {
    if cols.is_empty() {
        return Ok(EnvPlan::Create);
    }
    require_columns(
        ctx,
        &ctx.tables.stored_env,
        cols,
        &["version", "name", "value"],
    )?;
    Ok(EnvPlan::Existing {
        has_id: has(cols, "id"),
        add_unique_key: !has_unique_version_name,
    })
}

/// The layout version found in the meta table: a newer apirun's store is
/// refused, never written (an older apirun would corrupt it).
pub(crate) fn check_layout_version(ctx: &StoreCtx, found: Option<&str>) -> Result<(), StoreError> {
    let Some(found) = found else {
        return Ok(());
    };
    let found: i64 = found
        .trim()
        .parse()
        .map_err(|_| ctx.corrupt(format!("layout version {found:?} in {}", ctx.tables.meta())))?;
    if found > STORE_SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            store: ctx.describe.clone(),
            found,
            supported: STORE_SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// For a reading command, which writes nothing and so cannot upgrade: given
/// which of the store's tables exist (`present`, meta table included) and the
/// layout version in the meta table, `Ok(true)` if none exists (the store reads
/// as empty), `Ok(false)` if all are in the current layout, else an error
/// telling the user to upgrade with a writing command.
pub(crate) fn read_only_layout(
    ctx: &StoreCtx,
    present: &[&str],
    version: Option<&str>,
) -> Result<bool, StoreError> {
    if present.is_empty() {
        return Ok(true);
    }
    match version.and_then(|v| v.trim().parse::<i64>().ok()) {
        Some(found) if found > STORE_SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            store: ctx.describe.clone(),
            found,
            supported: STORE_SCHEMA_VERSION,
        }),
        Some(_) if present.len() == 4 => Ok(false),
        _ => Err(ctx.corrupt(format!(
            "its tables ({}) are in an older layout (the Go tool's, or an earlier \
             apirun's) or incomplete, and a reading command does not change them; run \
             `apirun up` once to upgrade them",
            present.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TableNames;

    fn ctx() -> StoreCtx {
        StoreCtx::new("test:store".into(), TableNames::default(), false)
    }

    fn cols(names: &[&str]) -> Vec<Column> {
        names
            .iter()
            .map(|n| Column {
                name: (*n).to_owned(),
                ty: "TEXT".to_owned(),
            })
            .collect()
    }

    #[test]
    fn the_go_tools_layouts_are_upgraded_column_by_column() {
        let c = ctx();
        // Its Ensure layout: schema_migrations(version).
        assert_eq!(
            plan_schema_migrations(&c, &cols(&["version"])).unwrap(),
            TablePlan::Existing {
                missing: vec!["name", "checksum", "applied_at"]
            }
        );
        // Its goose layout keeps applied_at.
        assert_eq!(
            plan_schema_migrations(&c, &cols(&["VERSION", "applied_at"])).unwrap(),
            TablePlan::Existing {
                missing: vec!["name", "checksum"]
            }
        );
        let go_runs = cols(&[
            "id",
            "version",
            "direction",
            "status_code",
            "body",
            "env_json",
            "failed",
            "ran_at",
        ]);
        let TablePlan::Existing { missing } = plan_migration_runs(&c, &go_runs).unwrap() else {
            panic!("the runs table exists");
        };
        assert_eq!(
            missing,
            [
                "name",
                "state",
                "error",
                "started_at",
                "duration_ms",
                "resolved_as",
                "resolved_at"
            ]
        );
        // Ours (it has `state`) is left alone.
        let ours: Vec<&str> = RUNS_COLUMNS.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            plan_migration_runs(&c, &cols(&ours)).unwrap(),
            TablePlan::Existing { missing: vec![] }
        );
        assert_eq!(plan_migration_runs(&c, &[]).unwrap(), TablePlan::Create);
        assert_eq!(
            plan_stored_env(&c, &cols(&["id", "version", "name", "value"]), false).unwrap(),
            EnvPlan::Existing {
                has_id: true,
                add_unique_key: true
            }
        );
    }

    #[test]
    fn a_foreign_table_with_our_name_is_refused() {
        let c = ctx();
        let err = plan_stored_env(&c, &cols(&["key", "data"]), false).unwrap_err();
        assert!(matches!(err, StoreError::ForeignTable { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("no column version, name, value"), "{msg}");
        assert!(plan_migration_runs(&c, &cols(&["version"])).is_err());
        assert!(plan_schema_migrations(&c, &cols(&["v"])).is_err());
    }

    #[test]
    fn layout_versions() {
        let c = ctx();
        assert!(check_layout_version(&c, None).is_ok());
        assert!(check_layout_version(&c, Some(" 1 ")).is_ok());
        let err = check_layout_version(&c, Some("99")).unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }));
        let err = check_layout_version(&c, Some("x")).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");

        assert!(read_only_layout(&c, &[], None).unwrap());
        let all = ["a", "b", "c", "d"];
        assert!(!read_only_layout(&c, &all, Some("1")).unwrap());
        let err = read_only_layout(&c, &all[..3], None).unwrap_err();
        assert!(err.to_string().contains("apirun up"), "{err}");
        assert!(matches!(
            read_only_layout(&c, &all, Some("7")).unwrap_err(),
            StoreError::SchemaTooNew { .. }
        ));
    }

    #[test]
    fn runs_ddl_lists_every_column_once() {
        let sql = runs_columns_sql(|k| match k {
            Kind::Id => "ID",
            _ => "T",
        });
        assert!(sql.starts_with("id ID,"), "{sql}");
        assert_eq!(sql.matches(",\n").count(), RUNS_COLUMNS.len() - 1);
    }
}

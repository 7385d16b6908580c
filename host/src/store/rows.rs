//! Backend-neutral row handling: the names the SQL uses, what a run's outcome
//! becomes as column values, and raw rows (as the database hands them over,
//! signed integers and text) turned into the [`Store`](super::Store) types.
//!
//! Every check on data read back (a negative version, an unknown state) lives
//! here once, so both backends report a damaged row the same way.

use std::time::Duration;

use super::{
    AppliedMigration, Direction, DirtyMark, RunId, RunOutcome, RunRecord, RunState, StoreError,
    StoredVar, TableNames,
};

/// Quoted identifiers of one store's tables (names are validated, so quoting
/// cannot be escaped; quoting makes keywords such as `order` harmless).
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub sm: String,
    pub mr: String,
    pub se: String,
    pub meta: String,
}

/// `"name"`: an identifier quoted as both SQLite and PostgreSQL read it.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

impl Names {
    pub fn new(tables: &TableNames) -> Names {
        Names {
            sm: quote(&tables.schema_migrations),
            mr: quote(&tables.migration_runs),
            se: quote(&tables.stored_env),
            meta: quote(&tables.meta()),
        }
    }
}

/// What one store is, for the rules: its description for messages, its
/// tables, and whether it may write. Each backend keeps one.
#[derive(Debug, Clone)]
pub(crate) struct StoreCtx {
    pub describe: String,
    pub tables: TableNames,
    pub names: Names,
    /// Opened for a reading command: every writing call is refused.
    pub read_only: bool,
}

impl StoreCtx {
    pub fn new(describe: String, tables: TableNames, read_only: bool) -> StoreCtx {
        let names = Names::new(&tables);
        StoreCtx {
            describe,
            tables,
            names,
            read_only,
        }
    }

    /// Refuse a writing call on a read-only store.
    pub fn writable(&self, op: &str) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                store: self.describe.clone(),
                op: op.to_owned(),
            });
        }
        Ok(())
    }

    pub fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            store: self.describe.clone(),
            detail: detail.into(),
        }
    }

    pub fn internal(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Internal {
            store: self.describe.clone(),
            detail: detail.into(),
        }
    }

    pub fn version_from_db(&self, table: &str, v: i64) -> Result<u64, StoreError> {
        u64::try_from(v).map_err(|_| self.corrupt(format!("negative version {v} in {table}")))
    }

    pub fn parse_direction(&self, s: &str) -> Result<Direction, StoreError> {
        s.parse()
            .map_err(|e: String| self.corrupt(format!("{e} in {}", self.tables.migration_runs)))
    }

    pub fn parse_state(&self, s: &str) -> Result<RunState, StoreError> {
        s.parse()
            .map_err(|e: String| self.corrupt(format!("{e} in {}", self.tables.migration_runs)))
    }

    pub fn applied(&self, row: RawApplied) -> Result<AppliedMigration, StoreError> {
        Ok(AppliedMigration {
            version: self.version_from_db(&self.tables.schema_migrations, row.version)?,
            name: row.name,
            checksum: row.checksum,
            applied_at: row.applied_at,
        })
    }

    pub fn stored_var(&self, row: RawVar) -> Result<StoredVar, StoreError> {
        Ok(StoredVar {
            version: self.version_from_db(&self.tables.stored_env, row.version)?,
            name: row.name,
            value: row.value,
        })
    }

    pub fn run_head(&self, row: RawRunHead) -> Result<RunHead, StoreError> {
        Ok(RunHead {
            version: self.version_from_db(&self.tables.migration_runs, row.version)?,
            direction: self.parse_direction(&row.direction)?,
            state: self.parse_state(&row.state)?,
        })
    }

    pub fn run_record(&self, row: RawRun) -> Result<RunRecord, StoreError> {
        Ok(RunRecord {
            id: RunId(row.id),
            version: self.version_from_db(&self.tables.migration_runs, row.version)?,
            name: row.name,
            direction: self.parse_direction(&row.direction)?,
            state: self.parse_state(&row.state)?,
            // The Go tool writes 0 when no response arrived.
            status_code: row
                .status_code
                .and_then(|s| u16::try_from(s).ok())
                .filter(|s| *s != 0),
            body: row.body,
            env_json: row.env_json,
            error: row.error,
            started_at: row.started_at.unwrap_or_default(),
            duration_ms: row.duration_ms.and_then(|v| u64::try_from(v).ok()),
            resolved_as: row.resolved_as,
            resolved_at: row.resolved_at,
        })
    }

    pub fn dirty_mark(&self, row: RawDirty) -> Result<DirtyMark, StoreError> {
        Ok(DirtyMark {
            version: self.version_from_db(&self.tables.migration_runs, row.version)?,
            name: row.name,
            state: self.parse_state(&row.state)?,
            direction: self.parse_direction(&row.direction)?,
            run_id: RunId(row.id),
            error: row.error,
            started_at: row.started_at.unwrap_or_default(),
        })
    }
}

/// One result row, read by column position: what both drivers' rows offer,
/// so that each raw row below is read in one place.
pub(crate) trait RowRead {
    type Error;
    /// An integer column of any width.
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
}

/// A `schema_migrations` row as read (`COALESCE`d to text, see [`applied_sql`]).
pub(crate) struct RawApplied {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    pub applied_at: String,
}

impl RawApplied {
    /// The columns of [`applied_sql`].
    pub fn read<R: RowRead>(r: &R) -> Result<Self, R::Error> {
        Ok(RawApplied {
            version: r.int(0)?,
            name: r.text(1)?,
            checksum: r.text(2)?,
            applied_at: r.text(3)?,
        })
    }
}

/// `SELECT` list and order of the applied versions (`FROM` the
/// `schema_migrations` table), read by [`RawApplied::read`].
pub(crate) fn applied_sql(sm: &str) -> String {
    format!(
        "SELECT version, COALESCE(name, ''), COALESCE(checksum, ''), COALESCE(applied_at, '')
         FROM {sm} ORDER BY version"
    )
}

/// A `stored_env` row as read.
pub(crate) struct RawVar {
    pub version: i64,
    pub name: String,
    pub value: String,
}

impl RawVar {
    pub fn read<R: RowRead>(r: &R) -> Result<Self, R::Error> {
        Ok(RawVar {
            version: r.int(0)?,
            name: r.text(1)?,
            value: r.text(2)?,
        })
    }
}

/// The stored variables of the versions still applied (a row left by another
/// tool for a rolled-back version is ignored), in the order recorded: `order`
/// is the backend's record-order column (SQLite's `rowid`, PostgreSQL's `id`).
pub(crate) fn stored_env_sql(names: &Names, order: &str) -> String {
    format!(
        "SELECT e.version, e.name, e.value FROM {se} e
         WHERE e.version IN (SELECT version FROM {sm}) ORDER BY e.version, e.{order}",
        se = names.se,
        sm = names.sm
    )
}

/// What finishing a run needs to know of it: version, direction and state
/// (the state as stored, or derived from the Go tool's `failed`).
pub(crate) struct RawRunHead {
    pub version: i64,
    pub direction: String,
    pub state: String,
}

/// [`RawRunHead`], checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunHead {
    pub version: u64,
    pub direction: Direction,
    pub state: RunState,
}

/// A `migration_runs` row as read for the history (`runs`), in the column
/// order of [`RUN_COLUMNS`].
pub(crate) struct RawRun {
    pub id: i64,
    pub version: i64,
    pub name: String,
    pub direction: String,
    pub state: String,
    pub status_code: Option<i64>,
    pub body: Option<String>,
    pub env_json: Option<String>,
    pub error: Option<String>,
    pub started_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub resolved_as: Option<String>,
    pub resolved_at: Option<String>,
}

impl RawRun {
    /// The columns of [`run_columns`].
    pub fn read<R: RowRead>(r: &R) -> Result<Self, R::Error> {
        Ok(RawRun {
            id: r.int(0)?,
            version: r.int(1)?,
            name: r.text(2)?,
            direction: r.text(3)?,
            state: r.text(4)?,
            status_code: r.opt_int(5)?,
            body: r.opt_text(6)?,
            env_json: r.opt_text(7)?,
            error: r.opt_text(8)?,
            started_at: r.opt_text(9)?,
            duration_ms: r.opt_int(10)?,
            resolved_as: r.opt_text(11)?,
            resolved_at: r.opt_text(12)?,
        })
    }
}

/// The newest run of the lowest dirty version, as read (`dirty`).
pub(crate) struct RawDirty {
    pub id: i64,
    pub version: i64,
    pub name: String,
    pub direction: String,
    pub state: String,
    pub error: Option<String>,
    pub started_at: Option<String>,
}

impl RawDirty {
    /// The columns of [`dirty_sql`].
    pub fn read<R: RowRead>(r: &R) -> Result<Self, R::Error> {
        Ok(RawDirty {
            id: r.int(0)?,
            version: r.int(1)?,
            name: r.text(2)?,
            direction: r.text(3)?,
            state: r.text(4)?,
            error: r.opt_text(5)?,
            started_at: r.opt_text(6)?,
        })
    }
}

/// The newest run of the lowest version whose newest run is running or
/// failed. `state` is the backend's state expression for alias `r.` (see
/// [`state_expr`]), `ran_at` its `r.ran_at` as text.
pub(crate) fn dirty_sql(mr: &str, state: &str, ran_at: &str) -> String {
    format!(
        "SELECT r.id, r.version, r.name, r.direction, {state}, r.error,
                COALESCE(r.started_at, {ran_at})
         FROM {mr} r
         WHERE r.id = (SELECT MAX(l.id) FROM {mr} l WHERE l.version = r.version)
           AND {state} IN ('running', 'failed')
         ORDER BY r.version LIMIT 1"
    )
}

/// The history's select list, given the backend's expressions for the state
/// (see [`state_expr`]) and for the start time (`COALESCE(started_at, ran_at)`
/// with `ran_at` as text). Rows come back in [`RawRun`]'s order.
pub(crate) fn run_columns(state: &str, started_at: &str) -> String {
    format!(
        "id, version, name, direction, {state}, status_code, body, env_json, error, \
         {started_at}, duration_ms, resolved_as, resolved_at"
    )
}

/// The columns [`run_columns`] lists, for documentation and tests.
#[cfg(test)]
pub(crate) const RUN_COLUMNS: usize = 13;

/// A run's state as stored, or derived from `failed` for rows the Go tool
/// wrote. `alias` is `""` or `"r."`; `failed_true` is the backend's test of
/// that row's `failed` being true (`r.failed <> 0` in SQLite, `r.failed` in
/// PostgreSQL).
pub(crate) fn state_expr(alias: &str, failed_true: &str) -> String {
    format!("COALESCE({alias}state, CASE WHEN {failed_true} THEN 'failed' ELSE 'succeeded' END)")
}

/// The column values of a finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutcomeRow<'a> {
    pub state: &'static str,
    /// The Go tool's flag: true unless succeeded.
    pub failed: bool,
    pub status_code: Option<i32>,
    pub body: Option<&'a str>,
    pub env_json: Option<String>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
}

impl<'a> OutcomeRow<'a> {
    pub fn new(state: RunState, outcome: &'a RunOutcome) -> OutcomeRow<'a> {
        OutcomeRow {
            state: state.as_str(),
            failed: state != RunState::Succeeded,
            status_code: outcome.status_code.map(i32::from),
            body: outcome.body.as_deref(),
            env_json: env_json(&outcome.env),
            error: outcome.error.as_deref(),
            duration_ms: duration_ms(outcome.duration),
        }
    }
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Extracted variables as a JSON object; `None` (NULL) when there are none, as
/// the Go tool writes. A repeated name: the last one wins.
pub(crate) fn env_json(env: &[(String, String)]) -> Option<String> {
    if env.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

/// `vars` as they are stored: a repeated name keeps its last value, at the
/// position of its last occurrence (what SQLite's `INSERT OR REPLACE` does
/// row by row).
pub(crate) fn dedup_last_wins(vars: &[(String, String)]) -> Vec<&(String, String)> {
    let mut out: Vec<&(String, String)> = Vec::with_capacity(vars.len());
    for (i, var) in vars.iter().enumerate() {
        if !vars[i + 1..].iter().any(|(later, _)| *later == var.0) {
            out.push(var);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> StoreCtx {
        StoreCtx::new("test:store".into(), TableNames::default(), false)
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn repeated_variable_names_keep_the_last_value_at_its_last_place() {
        let v = vars(&[("a", "1"), ("b", "2"), ("a", "3"), ("c", "4")]);
        let got: Vec<(&str, &str)> = dedup_last_wins(&v)
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, [("b", "2"), ("a", "3"), ("c", "4")]);
    }

    #[test]
    fn outcome_columns() {
        let outcome = RunOutcome {
            status_code: Some(201),
            env: vars(&[("id", "5"), ("id", "6")]),
            duration: Duration::from_millis(1500),
            ..RunOutcome::default()
        };
        let row = OutcomeRow::new(RunState::Succeeded, &outcome);
        assert_eq!(row.state, "succeeded");
        assert!(!row.failed);
        assert_eq!(row.status_code, Some(201));
        assert_eq!(row.env_json.as_deref(), Some("{\"id\":\"6\"}"));
        assert_eq!(row.duration_ms, 1500);
        // Running (an unknown outcome) counts as failed for the Go tool's users.
        assert!(OutcomeRow::new(RunState::Running, &outcome).failed);
        assert_eq!(env_json(&[]), None);
    }

    #[test]
    fn damaged_rows_are_reported_not_trusted() {
        let c = ctx();
        let bad = RawRun {
            id: 1,
            version: -3,
            name: String::new(),
            direction: "up".into(),
            state: "running".into(),
            status_code: Some(0),
            body: None,
            env_json: None,
            error: None,
            started_at: None,
            duration_ms: Some(-1),
            resolved_as: None,
            resolved_at: None,
        };
        let err = c.run_record(bad).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("negative version -3"), "{err}");
        let err = c
            .run_head(RawRunHead {
                version: 1,
                direction: "sideways".into(),
                state: "running".into(),
            })
            .unwrap_err();
        assert!(err.to_string().contains("sideways"), "{err}");
        let rec = c
            .run_record(RawRun {
                id: 2,
                version: 1,
                name: "n".into(),
                direction: "down".into(),
                state: "failed".into(),
                status_code: Some(0),
                body: None,
                env_json: None,
                error: None,
                started_at: None,
                duration_ms: Some(-1),
                resolved_as: None,
                resolved_at: None,
            })
            .unwrap();
        assert_eq!(rec.status_code, None, "the Go tool's 0 means no response");
        assert_eq!(rec.duration_ms, None);
        assert_eq!(rec.started_at, "");
        assert_eq!(run_columns("s", "t").split(", ").count(), RUN_COLUMNS);
    }

    #[test]
    fn read_only_refuses_writes() {
        let c = StoreCtx::new("x".into(), TableNames::default(), true);
        let err = c.writable("record a run").unwrap_err();
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
        assert!(ctx().writable("record a run").is_ok());
        assert_eq!(ctx().names.meta, "\"schema_migrations_meta\"");
    }
}

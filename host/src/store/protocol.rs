//! The recording protocol, written once for every backend (docs/store.md,
//! "Recording protocol"), in the manner of sqlx's `Migrator` over `Migrate`:
//! a backend implements the primitives of [`RunTx`] and [`SchemaTx`] (one SQL
//! statement or catalog read each, inside one transaction it opened), and the
//! rules (which run may be finished, how, what a resolution records, which
//! tables to create or upgrade and in what order) live here.
//!
//! Both traits promise `Send` futures, so the PostgreSQL backend can await them
//! inside the [`Store`](super::Store) trait's futures; the SQLite backend's
//! primitives never suspend (rusqlite is synchronous) and it polls these
//! futures to completion on the thread that holds its connection.

use std::future::Future;

use super::go_upgrade::{self, Column, EnvPlan, TablePlan};
use super::rows::{OutcomeRow, RawRunHead, RunHead, StoreCtx, dedup_last_wins};
use super::{
    AppliedMigration, Direction, Resolution, RunId, RunOutcome, RunState, StoreError, now_rfc3339,
    version_to_db,
};

/// One write transaction on the store's run tables. Dropping it without
/// [`RunTx::commit`] rolls back.
pub(crate) trait RunTx: Send {
    /// Version, direction and state of run `id` (`None`: no such run), locked
    /// against a concurrent finisher until the transaction ends.
    fn load_run(
        &mut self,
        id: RunId,
    ) -> impl Future<Output = Result<Option<RawRunHead>, StoreError>> + Send;

    /// Write the outcome columns of run `id`.
    fn write_outcome(
        &mut self,
        id: RunId,
        row: &OutcomeRow<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Insert or replace the applied version `version`.
    fn upsert_applied(
        &mut self,
        version: i64,
        name: &str,
        checksum: &str,
        applied_at: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Remove `version` from the applied versions, with its stored variables.
    fn remove_applied(
        &mut self,
        version: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Replace the stored variables of `version` by `vars` (names unique, in
    /// the order to record them).
    fn replace_vars(
        &mut self,
        version: i64,
        vars: &[&(String, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Id and state of the newest run of `version`, locked until the
    /// transaction ends.
    fn newest_run(
        &mut self,
        version: i64,
    ) -> impl Future<Output = Result<Option<(i64, String)>, StoreError>> + Send;

    /// Run `id` becomes `resolved` as `resolved_as` at `at`.
    fn mark_resolved(
        &mut self,
        id: i64,
        resolved_as: &str,
        at: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A successful `up`: load run `id`, let `check` accept it, then write
    /// its outcome, the applied version and its variables
    /// ([`RunTx::write_outcome`], [`RunTx::upsert_applied`],
    /// [`RunTx::replace_vars`], in this order). The caller commits only if
    /// this succeeds. The default does each in turn and writes nothing unless
    /// `check` passes; a backend may send the writes before `check` has seen
    /// the run, as long as a refused run's writes are never committed
    /// (PostgreSQL pipelines the read and the writes: one round trip instead
    /// of five, and the caller does not commit a refused run).
    fn record_up_success<C>(
        &mut self,
        id: RunId,
        check: C,
        row: &OutcomeRow<'_>,
        applied: &AppliedRow<'_>,
        vars: &[&(String, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send
    where
        C: FnOnce(Option<RawRunHead>) -> Result<(), StoreError> + Send,
    {
        async move {
            check(self.load_run(id).await?)?;
            self.write_outcome(id, row).await?;
            self.upsert_applied(
                applied.version,
                applied.name,
                applied.checksum,
                applied.applied_at,
            )
            .await?;
            self.replace_vars(applied.version, vars).await
        }
    }

    /// Commit; `op` names the whole operation for the error message.
    fn commit(self, op: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// An applied version as [`RunTx::record_up_success`] records it.
pub(crate) struct AppliedRow<'a> {
    pub version: i64,
    pub name: &'a str,
    pub checksum: &'a str,
    pub applied_at: &'a str,
}

/// Check that run `id` is running (and, if given, of this direction and
/// version), then write its outcome with `state`.
pub(crate) async fn finish_run<T: RunTx>(
    tx: &mut T,
    ctx: &StoreCtx,
    id: RunId,
    outcome: &RunOutcome,
    state: RunState,
    expect: Option<(Direction, u64)>,
) -> Result<RunHead, StoreError> {
    let run = load_finishable(tx, ctx, id, expect).await?;
    tx.write_outcome(id, &OutcomeRow::new(state, outcome))
        .await?;
    Ok(run)
}

/// Run `id`, locked, after checking that it may be finished (see
/// [`check_finishable`]).
async fn load_finishable<T: RunTx>(
    tx: &mut T,
    ctx: &StoreCtx,
    id: RunId,
    expect: Option<(Direction, u64)>,
) -> Result<RunHead, StoreError> {
    let raw = tx.load_run(id).await?;
    finishable(ctx, id, raw, expect)
}

/// Run `id` as loaded (`None`: there is no such run), if it may be finished.
fn finishable(
    ctx: &StoreCtx,
    id: RunId,
    raw: Option<RawRunHead>,
    expect: Option<(Direction, u64)>,
) -> Result<RunHead, StoreError> {
    let Some(raw) = raw else {
        return Err(StoreError::RunNotFound {
            store: ctx.describe.clone(),
            id,
        });
    };
    let run = ctx.run_head(raw)?;
    check_finishable(ctx, id, &run, expect)?;
    Ok(run)
}

/// A run can be finished once, and only as what it was started as.
pub(crate) fn check_finishable(
    ctx: &StoreCtx,
    id: RunId,
    run: &RunHead,
    expect: Option<(Direction, u64)>,
) -> Result<(), StoreError> {
    if run.state != RunState::Running {
        return Err(StoreError::RunNotRunning {
            store: ctx.describe.clone(),
            id,
            state: run.state,
        });
    }
    if let Some((direction, version)) = expect
        && (run.direction, run.version) != (direction, version)
    {
        return Err(StoreError::RunMismatch {
            store: ctx.describe.clone(),
            id,
            actual: format!("a {} run of version {}", run.direction, run.version),
            expected: format!("a {direction} run of version {version}"),
        });
    }
    Ok(())
}

/// [`Store::finish_up_success`](super::Store::finish_up_success) in `tx`.
pub(crate) async fn finish_up_success<T: RunTx>(
    mut tx: T,
    ctx: &StoreCtx,
    id: RunId,
    outcome: &RunOutcome,
    applied: &AppliedMigration,
    vars: &[(String, String)],
) -> Result<(), StoreError> {
    let version = version_to_db(applied.version)?;
    let expect = Some((Direction::Up, applied.version));
    let row = AppliedRow {
        version,
        name: &applied.name,
        checksum: &applied.checksum,
        applied_at: &applied.applied_at,
    };
    tx.record_up_success(
        id,
        |raw| finishable(ctx, id, raw, expect).map(drop),
        &OutcomeRow::new(RunState::Succeeded, outcome),
        &row,
        &dedup_last_wins(vars),
    )
    .await?;
    tx.commit(&up_success_op(applied.version)).await
}

/// [`Store::finish_down_success`](super::Store::finish_down_success) in `tx`.
pub(crate) async fn finish_down_success<T: RunTx>(
    mut tx: T,
    ctx: &StoreCtx,
    id: RunId,
    outcome: &RunOutcome,
    version: u64,
) -> Result<(), StoreError> {
    let db_version = version_to_db(version)?;
    let expect = Some((Direction::Down, version));
    finish_run(&mut tx, ctx, id, outcome, RunState::Succeeded, expect).await?;
    tx.remove_applied(db_version).await?;
    tx.commit(&down_success_op(version)).await
}

/// [`Store::finish_failed`](super::Store::finish_failed) (`Failed`) and
/// [`Store::finish_interrupted`](super::Store::finish_interrupted) (`Running`) in `tx`.
pub(crate) async fn finish_without_applying<T: RunTx>(
    mut tx: T,
    ctx: &StoreCtx,
    id: RunId,
    outcome: &RunOutcome,
    state: RunState,
) -> Result<(), StoreError> {
    finish_run(&mut tx, ctx, id, outcome, state, None).await?;
    tx.commit(&finish_op(id, state)).await
}

/// [`Store::resolve`](super::Store::resolve) in `tx`: the newest run of
/// `version` must be running or failed.
pub(crate) async fn resolve<T: RunTx>(
    mut tx: T,
    ctx: &StoreCtx,
    version: u64,
    resolution: &Resolution,
) -> Result<(), StoreError> {
    let db_version = version_to_db(version)?;
    let dirty_id = match tx.newest_run(db_version).await? {
        Some((id, state))
            if matches!(
                ctx.parse_state(&state)?,
                RunState::Running | RunState::Failed
            ) =>
        {
            id
        }
        _ => {
            return Err(StoreError::NotDirty {
                store: ctx.describe.clone(),
                version,
            });
        }
    };
    let now = now_rfc3339();
    tx.mark_resolved(dirty_id, resolution.as_str(), &now)
        .await?;
    match resolution {
        Resolution::Applied { checksum, name } => {
            tx.upsert_applied(db_version, name, checksum, &now).await?;
        }
        Resolution::RolledBack => tx.remove_applied(db_version).await?,
    }
    tx.commit(&resolve_op(version, resolution)).await
}

/// What each transaction does, for its messages (the backend names the same
/// operation when it begins the transaction).
pub(crate) fn up_success_op(version: u64) -> String {
    format!("record version {version} as applied")
}

pub(crate) fn down_success_op(version: u64) -> String {
    format!("record version {version} as rolled back")
}

pub(crate) fn finish_op(id: RunId, state: RunState) -> String {
    match state {
        RunState::Running => format!("record run {id} as interrupted"),
        state => format!("record run {id} as {state}"),
    }
}

pub(crate) fn resolve_op(version: u64, resolution: &Resolution) -> String {
    format!("resolve version {version} as {}", resolution.as_str())
}

/// The store's table-creation transaction ([`Store::init`](super::Store::init)).
/// The backend turns each plan into its DDL.
pub(crate) trait SchemaTx: Send {
    /// Columns of `table` (empty if it does not exist).
    fn columns(
        &mut self,
        table: &str,
    ) -> impl Future<Output = Result<Vec<Column>, StoreError>> + Send;

    /// Create the `<schema_migrations>_meta` table if missing.
    fn create_meta(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The `schema_version` recorded in the meta table, if any.
    fn layout_version(&mut self)
    -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    fn apply_schema_migrations(
        &mut self,
        plan: &TablePlan,
        cols: &[Column],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Create or upgrade `migration_runs`, and its index on `(version, id)`.
    fn apply_migration_runs(
        &mut self,
        plan: &TablePlan,
        cols: &[Column],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether `table` has a unique key on exactly `(version, name)`.
    fn has_unique_version_name(
        &mut self,
        table: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn apply_stored_env(
        &mut self,
        plan: &EnvPlan,
        cols: &[Column],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record [`STORE_SCHEMA_VERSION`](super::STORE_SCHEMA_VERSION) in the meta table.
    fn set_layout_version(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn commit(self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Create the tables if missing and bring older layouts (the Go tool's) to the
/// current one, in one transaction: a failure (a foreign table with our name)
/// leaves nothing half-created.
pub(crate) async fn init<T: SchemaTx>(mut tx: T, ctx: &StoreCtx) -> Result<(), StoreError> {
    let t = &ctx.tables;
    tx.create_meta().await?;
    let found = tx.layout_version().await?;
    go_upgrade::check_layout_version(ctx, found.as_deref())?;

    let cols = tx.columns(&t.schema_migrations).await?;
    let plan = go_upgrade::plan_schema_migrations(ctx, &cols)?;
    tx.apply_schema_migrations(&plan, &cols).await?;

    let cols = tx.columns(&t.migration_runs).await?;
    let plan = go_upgrade::plan_migration_runs(ctx, &cols)?;
    tx.apply_migration_runs(&plan, &cols).await?;

    let cols = tx.columns(&t.stored_env).await?;
    let unique = !cols.is_empty() && tx.has_unique_version_name(&t.stored_env).await?;
    let plan = go_upgrade::plan_stored_env(ctx, &cols, unique)?;
    tx.apply_stored_env(&plan, &cols).await?;

    tx.set_layout_version().await?;
    tx.commit().await
}

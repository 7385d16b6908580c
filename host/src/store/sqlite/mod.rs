//! SQLite backend of the [`Store`].
//!
//! # Durability: WAL with `synchronous=FULL`
//! Every commit is fsynced before it returns. With `NORMAL` (the usual WAL
//! setting) a commit survives the process dying but not a power cut or kernel
//! crash: the last transactions can silently roll back. For us such a lost
//! commit means an API call that was made but is not recorded, and the next
//! `up` sends it again (a POST creating a second user). Measured with the
//! `durability_cost` test below (release build, 1,000 calls, ext4 on the
//! project's 2-core VM under load from other builds): `finish_up_success` takes
//! 0.65-2.3 ms per call with FULL and 0.14-0.17 ms with NORMAL; `begin_run`
//! 0.6-2.5 ms vs 0.08 ms. A step makes two commits, so FULL costs a few
//! milliseconds per migration, next to HTTP requests that take tens to hundreds
//! of milliseconds: we pay it. WAL keeps readers (`status` in another process)
//! from blocking the writer.
//!
//! # Threads
//! One `rusqlite::Connection` behind a `std::sync::Mutex`. A commit with an
//! fsync, or a wait on `busy_timeout` for another process's write, can block
//! for milliseconds to seconds. On a multi-threaded tokio runtime (stages run
//! concurrently, each with its own store) every operation therefore runs on a
//! thread of the store's own, so it never stalls the workers that drive other
//! stages' HTTP requests. On a current-thread runtime (the single-stage
//! command) there is nothing else to stall, and the hop to another thread and
//! back (thread wake-ups per call) would be most of a call's CPU cost: the
//! operation runs inline on the calling thread. `calls.rs` has the choice and
//! its figures. Opening the store ([`SqliteStore::open`]) is synchronous: it
//! happens once, before any request.
//!
//! # Rules and SQL
//! This module holds SQLite's SQL and connection handling only: what a
//! run, a resolution or an upgrade must check and in what order is
//! `store::protocol` and `store::go_upgrade` (shared with PostgreSQL); the
//! primitives they call are in `tx.rs` and `schema.rs`.
//!
//! # Layout
//! Compatible with the Go tool's tables (it reads and writes the same columns),
//! plus ours:
//! - `schema_migrations(version INTEGER PRIMARY KEY, name, checksum, applied_at)`
//! - `migration_runs(id, version, name, direction, state, status_code, body,
//!   env_json, error, failed, ran_at, started_at, duration_ms, resolved_as,
//!   resolved_at)`: `failed` is kept for Go users' queries and is 1 for every run
//!   that has not succeeded (running rows included); `state` may be NULL in rows
//!   the Go tool writes, and is then read from `failed`; `ran_at` is the start time.
//! - `stored_env(version, name, value, PRIMARY KEY(version, name))`
//! - `<schema_migrations>_meta(key, value)`: the layout version.

mod calls;
mod files;
mod schema;
#[cfg(test)]
mod tests;
mod tx;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

pub use self::calls::CallThread;
use self::calls::Calls;
use self::files::{absolute, copy_read_only, lock_path_for, refuse_emptied_file, switch_to_wal};
use self::tx::{SqliteTx, complete, state_of};
use super::lock::FileLockGuard;
use super::protocol;
use super::rows::{
    RawApplied, RawDirty, RawRun, RawVar, StoreCtx, applied_sql, dirty_sql, run_columns,
    stored_env_sql,
};
use super::{
    AppliedMigration, DirtyMark, Resolution, RunId, RunOutcome, RunRecord, RunStart, RunState,
    Store, StoreError, StoreLock, StoredVar, TableNames, version_to_db,
};

/// `PRAGMA synchronous` for the WAL journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync on every commit: committed state survives power loss. The default.
    #[default]
    Full,
    /// Committed state survives a crash of the process, not of the machine.
    Normal,
}

/// Connection settings. `apirun` uses the defaults; the knobs exist for tests and
/// for measuring.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// How long a statement waits for another process's write transaction.
    pub busy_timeout: Duration,
    /// Which thread runs each call.
    pub calls: CallThread,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(10),
            calls: CallThread::Auto,
        }
    }
}

/// Environment variable that overrides `synchronous` (`full` or `normal`) for
/// [`SqliteStore::open`]. A knob for measuring what durability costs
/// (scripts/bench-store.sh) and for throwaway stores; see docs/store.md.
pub const SYNCHRONOUS_ENV: &str = "APIRUN_SQLITE_SYNCHRONOUS";

/// The WAL is checkpointed into the database once it holds this many pages
/// (SQLite's default is 1,000). After a checkpoint SQLite writes the log again
/// from its start, inside the file's current size, and an fsync of a file that
/// did not grow is cheaper. SQLite removes the log when the last connection
/// closes, so a 1,000-page log grows through the first few hundred migrations
/// of every run; a 100-page one stops growing after a dozen. The extra
/// checkpoints (one every dozen migrations, with an fsync of the database
/// file) are in the figures (docs/store.md, "A small WAL"). Durability is the
/// same: every commit is fsynced in the log before it returns.
const WAL_AUTOCHECKPOINT_PAGES: i64 = 100;

impl SqliteOptions {
    /// The defaults, with `synchronous` from [`SYNCHRONOUS_ENV`] if it is set.
    /// An unknown value keeps `FULL` (the safe choice) and logs a warning.
    pub fn from_env() -> Self {
        let mut options = SqliteOptions::default();
        if let Ok(value) = std::env::var(SYNCHRONOUS_ENV) {
            match value.trim().to_ascii_lowercase().as_str() {
                "full" | "" => options.synchronous = Synchronous::Full,
                "normal" => options.synchronous = Synchronous::Normal,
                other => tracing::warn!(
                    "{SYNCHRONOUS_ENV}={other:?} is not `full` or `normal`; using full"
                ),
            }
        }
        if let Ok(value) = std::env::var(CALLS_ENV) {
            match value.trim().parse() {
                Ok(calls) => options.calls = calls,
                Err(e) => tracing::warn!("{CALLS_ENV}: {e}; using auto"),
            }
        }
        options
    }
}

/// Environment variable that overrides [`SqliteOptions::calls`] (`auto`,
/// `blocking-pool`, `caller`, `dedicated`) for [`SqliteStore::open`]: a knob
/// for measuring what the thread hop costs (docs/store.md).
pub const CALLS_ENV: &str = "APIRUN_SQLITE_CALLS";

/// The SQLite store. Cheap to clone (shares one connection).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
    lock_path: PathBuf,
    calls: Calls,
    /// The configured `PRAGMA synchronous` (`FULL` or `NORMAL`), which
    /// `begin_run` relaxes and restores.
    synchronous: &'static str,
    /// Description, tables; `read_only` when opened with
    /// [`SqliteStore::open_read_only`]: `conn` is then a private in-memory
    /// copy, and every writing call is refused.
    ctx: StoreCtx,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("tables", &self.inner.ctx.tables)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (creating the file and its parent folders if needed) with the default
    /// options. Does not create tables: call [`Store::init`].
    pub fn open(path: &Path, tables: TableNames) -> Result<Self, StoreError> {
        Self::open_with(path, tables, SqliteOptions::from_env())
    }

    pub fn open_with(
        path: &Path,
        tables: TableNames,
        options: SqliteOptions,
    ) -> Result<Self, StoreError> {
        tables.validate()?;
        let path = absolute(path)?;
        let lock_path = lock_path_for(&path, &tables);
        refuse_emptied_file(&path, &lock_path)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|cause| StoreError::Io {
                path: parent.to_owned(),
                op: "create the store's folder".to_owned(),
                cause,
            })?;
        }
        let err = |op: &str| {
            let op = op.to_owned();
            let db = path.clone();
            move |cause| StoreError::Sqlite { db, op, cause }
        };
        let conn = Connection::open(&path).map_err(err("open the database"))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(err("set the busy timeout"))?;
        // WAL needs shared memory; on file systems without it (some network file
        // systems) SQLite keeps its rollback journal, which is slower but as safe.
        switch_to_wal(&conn, options.busy_timeout).map_err(err("switch to the WAL journal"))?;
        let sync = match options.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)
            .map_err(err("set synchronous"))?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .map_err(err("set wal_autocheckpoint"))?;

        let ctx = StoreCtx::new(format!("sqlite:{}", path.display()), tables, false);
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                path,
                lock_path,
                calls: Calls::new(options.calls),
                synchronous: sync,
                ctx,
            }),
        })
    }

    /// Open for a reading command (`status`, `validate`, dry runs): creates no
    /// folder, no file, no lock file, and writes nothing to the database, even
    /// when it is read-only or sits in a read-only folder. The database is
    /// copied (SQLite's online backup, a consistent snapshot) into a private
    /// in-memory database, which is then brought to the current layout (so the
    /// Go tool's tables read like ours); a missing file reads as an empty store.
    /// Already initialised: calling [`Store::init`] is not needed (and a no-op).
    /// Writing calls fail with [`StoreError::ReadOnly`].
    pub fn open_read_only(path: &Path, tables: TableNames) -> Result<Self, StoreError> {
        tables.validate()?;
        let path = absolute(path)?;
        let lock_path = lock_path_for(&path, &tables);
        let err = |op: &str| {
            let op = op.to_owned();
            let db = path.clone();
            move |cause| StoreError::Sqlite { db, op, cause }
        };
        let mut copy = Connection::open_in_memory().map_err(err("open an in-memory copy"))?;
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(cause) => {
                return Err(StoreError::Io {
                    path: path.clone(),
                    op: "read the store file".to_owned(),
                    cause,
                });
            }
            Ok(meta) if meta.len() == 0 => refuse_emptied_file(&path, &lock_path)?,
            Ok(_) => copy_read_only(&path, &mut copy).map_err(err("read the database"))?,
        }
        let ctx = StoreCtx::new(format!("sqlite:{}", path.display()), tables, true);
        let store = SqliteStore {
            inner: Arc::new(Inner {
                conn: Mutex::new(copy),
                path,
                lock_path,
                calls: Calls::new(CallThread::Auto),
                // Read-only: nothing is committed, so nothing is synced.
                synchronous: "NORMAL",
                ctx,
            }),
        };
        {
            let inner = &store.inner;
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            init_schema(&mut conn, inner)?;
        }
        Ok(store)
    }

    /// The database file (absolute).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The file locked by [`Store::lock`]: `<db>.lock`, or `<db>.<schema_migrations>.lock`
    /// for non-default table names, so that stores sharing one file under different
    /// prefixes (stages running side by side) do not wait for each other.
    pub fn lock_path(&self) -> &Path {
        &self.inner.lock_path
    }

    pub fn tables(&self) -> &TableNames {
        &self.inner.ctx.tables
    }

    /// Run `f` with the connection, on the thread [`CallThread`] says (by
    /// default: inline on a current-thread runtime or outside any runtime,
    /// else on the store's own thread; see "Threads" above).
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let call = move || {
            // A panic while the mutex was held rolled back any open transaction
            // (an uncommitted SqliteTx rolls back on drop), so the connection is fine.
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn, &inner)
        };
        self.inner.calls.run(&self.inner.ctx, call).await
    }

    /// Run one protocol transaction (`op` names it) with the connection.
    async fn with_tx<T, F>(&self, op: String, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(SqliteTx<'_>, &Inner) -> Result<T, StoreError> + Send + 'static,
    {
        self.inner.ctx.writable("record a run")?;
        self.with_conn(move |conn, inner| f(SqliteTx::begin(conn, inner, &op)?, inner))
            .await
    }
}

impl Inner {
    fn err<S: Into<String>>(&self, op: S) -> impl FnOnce(rusqlite::Error) -> StoreError + use<S> {
        let op = op.into();
        let db = self.path.clone();
        move |cause| StoreError::Sqlite { db, op, cause }
    }
}

fn init_schema(conn: &mut Connection, inner: &Inner) -> Result<(), StoreError> {
    let tx = SqliteTx::begin(conn, inner, "create the tables")?;
    complete(inner, protocol::init(tx, &inner.ctx))
}

/// Read every row of `sql` with `get`; `op` names the read for errors.
fn read_all<T>(
    conn: &Connection,
    inner: &Inner,
    op: &str,
    sql: &str,
    arg: impl rusqlite::Params,
    get: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(inner.err(op))?;
    let rows = stmt.query_map(arg, get).map_err(inner.err(op))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(inner.err(op))
}

#[async_trait]
impl Store for SqliteStore {
    async fn init(&self) -> Result<(), StoreError> {
        if self.inner.ctx.read_only {
            // The in-memory copy was brought to the current layout when opened.
            return Ok(());
        }
        self.with_conn(init_schema).await
    }

    async fn lock(&self, timeout: Duration) -> Result<Box<dyn StoreLock>, StoreError> {
        let inner = &self.inner;
        inner.ctx.writable("take the store lock")?;
        let guard = FileLockGuard::acquire(&inner.lock_path, timeout, &inner.ctx.describe).await?;
        Ok(Box::new(guard))
    }

    async fn applied(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        self.with_conn(|conn, inner| {
            let sql = applied_sql(&inner.ctx.names.sm);
            let op = "read the applied versions";
            let rows = read_all(conn, inner, op, &sql, [], |r| RawApplied::read(r))?;
            rows.into_iter().map(|r| inner.ctx.applied(r)).collect()
        })
        .await
    }

    async fn stored_env(&self) -> Result<Vec<StoredVar>, StoreError> {
        self.with_conn(|conn, inner| {
            let sql = stored_env_sql(&inner.ctx.names, "rowid");
            let op = "read the stored variables";
            let rows = read_all(conn, inner, op, &sql, [], |r| RawVar::read(r))?;
            rows.into_iter().map(|r| inner.ctx.stored_var(r)).collect()
        })
        .await
    }

    async fn begin_run(&self, run: &RunStart) -> Result<RunId, StoreError> {
        self.inner.ctx.writable("record a run")?;
        let version = version_to_db(run.version)?;
        let run = run.clone();
        self.with_conn(move |conn, inner| {
            // The 'running' mark only has to survive the process being killed,
            // which a WAL commit without fsync (synchronous=NORMAL) already
            // does; the result commit that follows runs with the configured
            // setting, and its fsync also makes this mark durable. This halves
            // the fsyncs per migration (see docs/store.md for the figures).
            let configured = inner.synchronous;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(inner.err("relax synchronous for the start mark"))?;
            let inserted = conn
                .prepare_cached(&format!(
                    "INSERT INTO {} (version, name, direction, state, failed, ran_at, started_at)
                     VALUES (?1, ?2, ?3, 'running', 1, ?4, ?4)",
                    inner.ctx.names.mr
                ))
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        version,
                        run.name,
                        run.direction.as_str(),
                        run.started_at
                    ])
                })
                .map_err(inner.err(format!(
                    "record the start of the {} run of version {}",
                    run.direction, run.version
                )));
            let id = RunId(conn.last_insert_rowid());
            conn.pragma_update(None, "synchronous", configured)
                .map_err(inner.err("restore the synchronous setting"))?;
            inserted?;
            Ok(id)
        })
        .await
    }

    async fn finish_up_success(
        &self,
        id: RunId,
        outcome: &RunOutcome,
        applied: &AppliedMigration,
        vars: &[(String, String)],
    ) -> Result<(), StoreError> {
        let (outcome, applied, vars) = (outcome.clone(), applied.clone(), vars.to_vec());
        let op = protocol::up_success_op(applied.version);
        self.with_tx(op, move |tx, inner| {
            let fut = protocol::finish_up_success(tx, &inner.ctx, id, &outcome, &applied, &vars);
            complete(inner, fut)
        })
        .await
    }

    async fn finish_down_success(
        &self,
        id: RunId,
        outcome: &RunOutcome,
        version: u64,
    ) -> Result<(), StoreError> {
        let outcome = outcome.clone();
        self.with_tx(protocol::down_success_op(version), move |tx, inner| {
            let fut = protocol::finish_down_success(tx, &inner.ctx, id, &outcome, version);
            complete(inner, fut)
        })
        .await
    }

    async fn finish_failed(&self, id: RunId, outcome: &RunOutcome) -> Result<(), StoreError> {
        self.finish_without_applying(id, outcome, RunState::Failed)
            .await
    }

    async fn finish_interrupted(&self, id: RunId, outcome: &RunOutcome) -> Result<(), StoreError> {
        self.finish_without_applying(id, outcome, RunState::Running)
            .await
    }

    async fn runs(&self, limit: Option<usize>) -> Result<Vec<RunRecord>, StoreError> {
        // SQLite: a negative LIMIT means none.
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        self.with_conn(move |conn, inner| {
            let sql = format!(
                "SELECT {} FROM {} ORDER BY id DESC LIMIT ?1",
                run_columns(&state_of(""), "COALESCE(started_at, ran_at)"),
                inner.ctx.names.mr
            );
            let op = "read the run history";
            let rows = read_all(conn, inner, op, &sql, [limit], |r| RawRun::read(r))?;
            rows.into_iter().map(|r| inner.ctx.run_record(r)).collect()
        })
        .await
    }

    async fn dirty(&self) -> Result<Option<DirtyMark>, StoreError> {
        self.with_conn(|conn, inner| {
            let sql = dirty_sql(&inner.ctx.names.mr, &state_of("r."), "r.ran_at");
            let row = conn
                .prepare_cached(&sql)
                .and_then(|mut stmt| stmt.query_row([], |r| RawDirty::read(r)).optional())
                .map_err(inner.err("look for failed or interrupted runs"))?;
            row.map(|r| inner.ctx.dirty_mark(r)).transpose()
        })
        .await
    }

    async fn resolve(&self, version: u64, resolution: Resolution) -> Result<(), StoreError> {
        self.inner.ctx.writable("resolve a version")?;
        let op = protocol::resolve_op(version, &resolution);
        self.with_tx(op, move |tx, inner| {
            complete(
                inner,
                protocol::resolve(tx, &inner.ctx, version, &resolution),
            )
        })
        .await
    }

    fn describe(&self) -> String {
        self.inner.ctx.describe.clone()
    }

    async fn lock_holder(&self) -> Result<Option<String>, StoreError> {
        FileLockGuard::probe(&self.inner.lock_path)
    }
}

impl SqliteStore {
    async fn finish_without_applying(
        &self,
        id: RunId,
        outcome: &RunOutcome,
        state: RunState,
    ) -> Result<(), StoreError> {
        let outcome = outcome.clone();
        self.with_tx(protocol::finish_op(id, state), move |tx, inner| {
            let fut = protocol::finish_without_applying(tx, &inner.ctx, id, &outcome, state);
            complete(inner, fut)
        })
        .await
    }
}

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
//! One `rusqlite::Connection` behind a `std::sync::Mutex`. Every operation runs
//! on tokio's blocking pool (`spawn_blocking`): a commit with an fsync, or a
//! wait on `busy_timeout` for another process's write, can block for
//! milliseconds to seconds, which must not stall the async workers that drive
//! other stages' HTTP requests (stages run concurrently, each with its own
//! store). Opening the store ([`SqliteStore::open`]) is synchronous: it happens
//! once, before any request.
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

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::lock::FileLockGuard;
use super::{
    AppliedMigration, Direction, DirtyMark, Resolution, RunId, RunOutcome, RunRecord, RunStart,
    RunState, STORE_SCHEMA_VERSION, Store, StoreError, StoreLock, StoredVar, TableNames,
    now_rfc3339, version_to_db,
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
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// Environment variable that overrides `synchronous` (`full` or `normal`) for
/// [`SqliteStore::open`]. A knob for measuring what durability costs
/// (scripts/bench-store.sh) and for throwaway stores; see docs/store.md.
pub const SYNCHRONOUS_ENV: &str = "APIRUN_SQLITE_SYNCHRONOUS";

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
        options
    }
}

/// The SQLite store. Cheap to clone (shares one connection).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    path: PathBuf,
    lock_path: PathBuf,
    tables: TableNames,
    describe: String,
    /// Opened with [`SqliteStore::open_read_only`]: `conn` is a private
    /// in-memory copy, and every writing call is refused.
    read_only: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("tables", &self.inner.tables)
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

        let describe = format!("sqlite:{}", path.display());
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                path,
                lock_path,
                tables,
                describe,
                read_only: false,
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
        let describe = format!("sqlite:{}", path.display());
        let store = SqliteStore {
            inner: Arc::new(Inner {
                conn: Mutex::new(copy),
                path,
                lock_path,
                tables,
                describe,
                read_only: true,
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
        &self.inner.tables
    }

    /// Run `f` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let describe = inner.describe.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while the mutex was held rolled back any open transaction
            // (rusqlite's Transaction rolls back on drop), so the connection is fine.
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn, &inner)
        })
        .await
        .map_err(|e| StoreError::Internal {
            store: describe,
            detail: format!("store task failed: {e}"),
        })?
    }
}

fn absolute(path: &Path) -> Result<PathBuf, StoreError> {
    std::path::absolute(path).map_err(|cause| StoreError::Io {
        path: path.to_owned(),
        op: "resolve the store's path".to_owned(),
        cause,
    })
}

/// Copy the database at `path` into `copy` without writing anything next to
/// it. A read-only connection to a WAL database creates the `-wal` and `-shm`
/// files when they are missing, and cannot delete them afterwards. They are
/// missing when no writer has the database open (the last one checkpoints and
/// removes them): then everything is in the main file, which is read as
/// `immutable` (no locking, no side files). When a `-wal` exists (a writer is
/// running, or one crashed), the ordinary read-only connection sees its
/// commits; if that fails because the `-shm` cannot be opened (a read-only
/// folder), the main file is read as `immutable` after all: it then misses
/// only commits not yet checkpointed by a writer that is gone.
fn copy_read_only(path: &Path, copy: &mut Connection) -> Result<(), rusqlite::Error> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let backup = |src: &Connection, copy: &mut Connection| {
        rusqlite::backup::Backup::new(src, copy)?.run_to_completion(1024, Duration::ZERO, None)
    };
    let immutable = |copy: &mut Connection| {
        let src = Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_path(path)),
            flags | OpenFlags::SQLITE_OPEN_URI,
        )?;
        backup(&src, copy)
    };
    let side = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p).exists()
    };
    if !side("-wal") && !side("-journal") {
        return immutable(copy);
    }
    let first = Connection::open_with_flags(path, flags).and_then(|src| {
        src.busy_timeout(Duration::from_secs(10))?;
        backup(&src, copy)
    });
    match first {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly
            ) =>
        {
            immutable(copy)
        }
        other => other,
    }
}

/// `path` for an SQLite `file:` URI: `%`, `?` and `#` percent-encoded.
fn uri_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// SQLite treats a 0-byte file as an empty database, so a store file that was
/// truncated (a failed copy, a full disk, `> apirun.db`) would silently become
/// a new store and every migration would be sent again. A 0-byte file is
/// accepted as new only when nothing says a store lived there: the lock file
/// (written by every `up`, `down` and `resolve`, never deleted) and a
/// write-ahead log are such evidence (docs/store.md, "An emptied store file").
fn refuse_emptied_file(path: &Path, lock_path: &Path) -> Result<(), StoreError> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Ok(());
    }
    let mut evidence = Vec::new();
    // Our lock file, and those of stores sharing the file under other table names.
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut lock_files: Vec<PathBuf> = Vec::new();
    if let (Some(name), Some(dir)) = (&name, path.parent())
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.starts_with(&format!("{name}.")) && file.ends_with(".lock") {
                lock_files.push(entry.path());
            }
        }
    }
    lock_files.sort();
    if let Some(lock) = lock_files.first() {
        evidence.push(format!(
            "an apirun has used it before (its lock file {} exists)",
            lock.display()
        ));
    }
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        evidence.push(format!(
            "its write-ahead log {} is not empty",
            wal.display()
        ));
    }
    if evidence.is_empty() {
        return Ok(());
    }
    Err(StoreError::EmptyStoreFile {
        path: path.to_owned(),
        lock_file: lock_files
            .into_iter()
            .next()
            .unwrap_or_else(|| lock_path.to_owned()),
        evidence: evidence.join(" and "),
    })
}

fn lock_path_for(db: &Path, tables: &TableNames) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    if !tables.is_default() {
        name.push(".");
        name.push(&tables.schema_migrations);
    }
    name.push(".lock");
    db.with_file_name(name)
}

/// Quoted identifiers (names are validated, so quoting cannot be escaped).
struct Names {
    sm: String,
    mr: String,
    se: String,
    meta: String,
}

impl Inner {
    fn names(&self) -> Names {
        let q = |n: &str| format!("\"{n}\"");
        Names {
            sm: q(&self.tables.schema_migrations),
            mr: q(&self.tables.migration_runs),
            se: q(&self.tables.stored_env),
            meta: q(&self.tables.meta()),
        }
    }

    fn err<S: Into<String>>(&self, op: S) -> impl FnOnce(rusqlite::Error) -> StoreError + use<S> {
        let op = op.into();
        let db = self.path.clone();
        move |cause| StoreError::Sqlite { db, op, cause }
    }

    /// Refuse a writing call on a read-only store.
    fn writable(&self, op: &str) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                store: self.describe.clone(),
                op: op.to_owned(),
            });
        }
        Ok(())
    }

    fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            store: self.describe.clone(),
            detail: detail.into(),
        }
    }

    fn version_from_db(&self, table: &str, v: i64) -> Result<u64, StoreError> {
        u64::try_from(v).map_err(|_| self.corrupt(format!("negative version {v} in {table}")))
    }
}

/// A run's state as stored, or derived from `failed` for rows the Go tool wrote.
fn state_expr(alias: &str) -> String {
    format!(
        "COALESCE({alias}state, CASE WHEN {alias}failed <> 0 THEN 'failed' ELSE 'succeeded' END)"
    )
}

fn begin<'c>(
    conn: &'c mut Connection,
    inner: &Inner,
    op: &str,
) -> Result<Transaction<'c>, StoreError> {
    // IMMEDIATE: take the write lock now, so a concurrent writer makes us wait on
    // busy_timeout here rather than fail with SQLITE_BUSY at the first write.
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(inner.err(format!("begin a transaction to {op}")))
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn env_json(env: &[(String, String)]) -> Option<String> {
    if env.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    Some(serde_json::Value::Object(map).to_string())
}

// ---------------------------------------------------------------------------
// Schema creation and upgrade

const RUNS_COLUMNS_SQL: &str = "
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version INTEGER NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    direction TEXT NOT NULL,
    state TEXT CHECK (state IS NULL OR state IN ('running', 'succeeded', 'failed', 'resolved')),
    status_code INTEGER,
    body TEXT,
    env_json TEXT,
    error TEXT,
    failed INTEGER NOT NULL DEFAULT 0,
    ran_at TEXT NOT NULL DEFAULT '',
    started_at TEXT,
    duration_ms INTEGER,
    resolved_as TEXT,
    resolved_at TEXT";

/// Columns of `table` (empty if the table does not exist).
fn columns(tx: &Transaction<'_>, inner: &Inner, table: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = tx
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .map_err(inner.err(format!("read the columns of {table}")))?;
    let rows = stmt
        .query_map([table], |r| r.get::<_, String>(0))
        .map_err(inner.err(format!("read the columns of {table}")))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(inner.err(format!("read the columns of {table}")))
}

fn has(cols: &[String], name: &str) -> bool {
    cols.iter().any(|c| c.eq_ignore_ascii_case(name))
}

fn require_columns(
    inner: &Inner,
    table: &str,
    cols: &[String],
    needed: &[&str],
) -> Result<(), StoreError> {
    let missing: Vec<&str> = needed.iter().copied().filter(|n| !has(cols, n)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::ForeignTable {
        store: inner.describe.clone(),
        table: table.to_owned(),
        detail: format!("it has no column {}", missing.join(", ")),
    })
}

fn exec(tx: &Transaction<'_>, inner: &Inner, op: &str, sql: &str) -> Result<(), StoreError> {
    tx.execute_batch(sql).map_err(inner.err(op))
}

fn init_schema(conn: &mut Connection, inner: &Inner) -> Result<(), StoreError> {
    let n = inner.names();
    let t = &inner.tables;
    let tx = begin(conn, inner, "create the tables")?;

    exec(
        &tx,
        inner,
        &format!("create table {}", t.meta()),
        &format!(
            "CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            n.meta
        ),
    )?;
    let found: Option<String> = tx
        .query_row(
            &format!("SELECT value FROM {} WHERE key = 'schema_version'", n.meta),
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(inner.err("read the store's layout version"))?;
    if let Some(found) = found {
        let found: i64 = found
            .trim()
            .parse()
            .map_err(|_| inner.corrupt(format!("layout version {found:?} in {}", t.meta())))?;
        if found > STORE_SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                store: inner.describe.clone(),
                found,
                supported: STORE_SCHEMA_VERSION,
            });
        }
    }

    // schema_migrations: the Go tool's table has (version) or (version, applied_at).
    let table = &t.schema_migrations;
    let cols = columns(&tx, inner, table)?;
    if cols.is_empty() {
        exec(
            &tx,
            inner,
            &format!("create table {table}"),
            &format!(
                "CREATE TABLE {} (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL DEFAULT '',
                    checksum TEXT NOT NULL DEFAULT '',
                    applied_at TEXT NOT NULL DEFAULT '')",
                n.sm
            ),
        )?;
    } else {
        require_columns(inner, table, &cols, &["version"])?;
        for col in ["name", "checksum", "applied_at"] {
            if !has(&cols, col) {
                exec(
                    &tx,
                    inner,
                    &format!("add column {col} to {table}"),
                    &format!(
                        "ALTER TABLE {} ADD COLUMN {col} TEXT NOT NULL DEFAULT ''",
                        n.sm
                    ),
                )?;
            }
        }
    }

    // migration_runs: the Go tool's table lacks state and has status_code NOT NULL,
    // which a run still in flight cannot fill: rebuild it (SQLite cannot drop a
    // NOT NULL constraint in place), keeping ids and rows.
    let table = &t.migration_runs;
    let cols = columns(&tx, inner, table)?;
    if cols.is_empty() {
        exec(
            &tx,
            inner,
            &format!("create table {table}"),
            &format!("CREATE TABLE {} ({RUNS_COLUMNS_SQL})", n.mr),
        )?;
    } else if !has(&cols, "state") {
        require_columns(inner, table, &cols, &["version", "direction"])?;
        let or = |col: &str, default: &str| {
            if has(&cols, col) {
                col.to_owned()
            } else {
                default.to_owned()
            }
        };
        let tmp = format!("\"{}__apirun_upgrade\"", table);
        let failed = or("failed", "0");
        let ran_at = or("ran_at", "''");
        let sql = format!(
            "DROP TABLE IF EXISTS {tmp};
             CREATE TABLE {tmp} ({RUNS_COLUMNS_SQL});
             INSERT INTO {tmp} (id, version, direction, state, status_code, body, env_json,
                                failed, ran_at, started_at)
               SELECT {id}, version, direction,
                      CASE WHEN {failed} <> 0 THEN 'failed' ELSE 'succeeded' END,
                      {status}, {body}, {env}, {failed}, {ran_at}, {ran_at}
               FROM {old} ORDER BY {id};
             DROP TABLE {old};
             ALTER TABLE {tmp} RENAME TO {old};",
            id = or("id", "NULL"),
            status = or("status_code", "NULL"),
            body = or("body", "NULL"),
            env = or("env_json", "NULL"),
            old = n.mr,
        );
        exec(&tx, inner, &format!("upgrade table {table}"), &sql)?;
    }
    exec(
        &tx,
        inner,
        &format!("create an index on {table}"),
        &format!(
            "CREATE INDEX IF NOT EXISTS \"{}_version_id_idx\" ON {} (version, id)",
            table, n.mr
        ),
    )?;

    // stored_env: one of the Go tool's layouts has an id column and no unique key
    // on (version, name); add one, keeping the newest row of any duplicates.
    let table = &t.stored_env;
    let cols = columns(&tx, inner, table)?;
    if cols.is_empty() {
        exec(
            &tx,
            inner,
            &format!("create table {table}"),
            &format!(
                "CREATE TABLE {} (
                    version INTEGER NOT NULL,
                    name TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (version, name))",
                n.se
            ),
        )?;
    } else {
        require_columns(inner, table, &cols, &["version", "name", "value"])?;
        if !has_unique_version_name(&tx, inner, table)? {
            exec(
                &tx,
                inner,
                &format!("add a unique key to {table}"),
                &format!(
                    "DELETE FROM {se} WHERE rowid NOT IN
                        (SELECT MAX(rowid) FROM {se} GROUP BY version, name);
                     CREATE UNIQUE INDEX \"{table}_version_name_key\" ON {se} (version, name);",
                    se = n.se
                ),
            )?;
        }
    }

    tx.execute(
        &format!(
            "INSERT INTO {} (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            n.meta
        ),
        [STORE_SCHEMA_VERSION.to_string()],
    )
    .map_err(inner.err("record the store's layout version"))?;
    tx.commit().map_err(inner.err("commit the table creation"))
}

fn has_unique_version_name(
    tx: &Transaction<'_>,
    inner: &Inner,
    table: &str,
) -> Result<bool, StoreError> {
    let op = || inner.err(format!("read the indexes of {table}"));
    let indexes: Vec<String> = {
        let mut stmt = tx
            .prepare("SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1")
            .map_err(op())?;
        let rows = stmt.query_map([table], |r| r.get(0)).map_err(op())?;
        rows.collect::<Result<_, _>>().map_err(op())?
    };
    for index in indexes {
        let mut stmt = tx
            .prepare("SELECT name FROM pragma_index_info(?1)")
            .map_err(op())?;
        let rows = stmt
            .query_map([&index], |r| r.get::<_, Option<String>>(0))
            .map_err(op())?;
        let mut cols: Vec<String> = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(op())?
            .into_iter()
            .flatten()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        cols.sort();
        if cols == ["name", "version"] {
            return Ok(true);
        }
    }
    Ok(false)
}

// ---------------------------------------------------------------------------
// Runs

struct RunRow {
    version: u64,
    direction: Direction,
    state: RunState,
}

fn parse_direction(inner: &Inner, s: &str) -> Result<Direction, StoreError> {
    s.parse()
        .map_err(|e: String| inner.corrupt(format!("{e} in {}", inner.tables.migration_runs)))
}

fn parse_state(inner: &Inner, s: &str) -> Result<RunState, StoreError> {
    s.parse()
        .map_err(|e: String| inner.corrupt(format!("{e} in {}", inner.tables.migration_runs)))
}

fn load_run(tx: &Transaction<'_>, inner: &Inner, id: RunId) -> Result<RunRow, StoreError> {
    let n = inner.names();
    let row: Option<(i64, String, String)> = tx
        .query_row(
            &format!(
                "SELECT version, direction, {} FROM {} WHERE id = ?1",
                state_expr(""),
                n.mr
            ),
            [id.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(inner.err(format!("read run {id}")))?;
    let Some((version, direction, state)) = row else {
        return Err(StoreError::RunNotFound {
            store: inner.describe.clone(),
            id,
        });
    };
    Ok(RunRow {
        version: inner.version_from_db(&inner.tables.migration_runs, version)?,
        direction: parse_direction(inner, &direction)?,
        state: parse_state(inner, &state)?,
    })
}

/// Check that run `id` is running (and, if given, of this direction and version),
/// then write its outcome with `state`.
fn finish_run(
    tx: &Transaction<'_>,
    inner: &Inner,
    id: RunId,
    outcome: &RunOutcome,
    state: RunState,
    expect: Option<(Direction, u64)>,
) -> Result<RunRow, StoreError> {
    let run = load_run(tx, inner, id)?;
    if run.state != RunState::Running {
        return Err(StoreError::RunNotRunning {
            store: inner.describe.clone(),
            id,
            state: run.state,
        });
    }
    if let Some((direction, version)) = expect
        && (run.direction, run.version) != (direction, version)
    {
        return Err(StoreError::RunMismatch {
            store: inner.describe.clone(),
            id,
            actual: format!("a {} run of version {}", run.direction, run.version),
            expected: format!("a {direction} run of version {version}"),
        });
    }
    let n = inner.names();
    tx.execute(
        &format!(
            "UPDATE {} SET state = ?1, failed = ?2, status_code = ?3, body = ?4, env_json = ?5,
                           error = ?6, duration_ms = ?7
             WHERE id = ?8",
            n.mr
        ),
        params![
            state.as_str(),
            i64::from(state != RunState::Succeeded),
            outcome.status_code,
            outcome.body,
            env_json(&outcome.env),
            outcome.error,
            duration_ms(outcome.duration),
            id.0,
        ],
    )
    .map_err(inner.err(format!("record the outcome of run {id}")))?;
    Ok(run)
}

fn upsert_applied(
    tx: &Transaction<'_>,
    inner: &Inner,
    version: i64,
    name: &str,
    checksum: &str,
    applied_at: &str,
) -> Result<(), StoreError> {
    let n = inner.names();
    tx.execute(
        &format!(
            "INSERT INTO {} (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (version) DO UPDATE SET
                name = excluded.name, checksum = excluded.checksum, applied_at = excluded.applied_at",
            n.sm
        ),
        params![version, name, checksum, applied_at],
    )
    .map_err(inner.err(format!("record version {version} as applied")))?;
    Ok(())
}

fn remove_applied(tx: &Transaction<'_>, inner: &Inner, version: i64) -> Result<(), StoreError> {
    let n = inner.names();
    tx.execute(
        &format!("DELETE FROM {} WHERE version = ?1", n.sm),
        [version],
    )
    .map_err(inner.err(format!(
        "remove version {version} from the applied versions"
    )))?;
    tx.execute(
        &format!("DELETE FROM {} WHERE version = ?1", n.se),
        [version],
    )
    .map_err(inner.err(format!("remove the variables of version {version}")))?;
    Ok(())
}

fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

#[async_trait]
impl Store for SqliteStore {
    async fn init(&self) -> Result<(), StoreError> {
        if self.inner.read_only {
            // The in-memory copy was brought to the current layout when opened.
            return Ok(());
        }
        self.with_conn(init_schema).await
    }

    async fn lock(&self, timeout: Duration) -> Result<Box<dyn StoreLock>, StoreError> {
        self.inner.writable("take the store lock")?;
        let guard =
            FileLockGuard::acquire(&self.inner.lock_path, timeout, &self.inner.describe).await?;
        Ok(Box::new(guard))
    }

    async fn applied(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        self.with_conn(|conn, inner| {
            let n = inner.names();
            let op = || inner.err("read the applied versions");
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT version, COALESCE(name, ''), COALESCE(checksum, ''),
                            COALESCE(applied_at, '')
                     FROM {} ORDER BY version",
                    n.sm
                ))
                .map_err(op())?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get(2)?,
                        r.get(3)?,
                    ))
                })
                .map_err(op())?;
            let mut out = Vec::new();
            for row in rows {
                let (version, name, checksum, applied_at) = row.map_err(op())?;
                out.push(AppliedMigration {
                    version: inner.version_from_db(&inner.tables.schema_migrations, version)?,
                    name,
                    checksum,
                    applied_at,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn stored_env(&self) -> Result<Vec<StoredVar>, StoreError> {
        self.with_conn(|conn, inner| {
            let n = inner.names();
            let op = || inner.err("read the stored variables");
            // Only versions still applied count (a row left by another tool for a
            // rolled-back version is ignored).
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT e.version, e.name, e.value FROM {se} e
                     WHERE e.version IN (SELECT version FROM {sm})
                     ORDER BY e.version, e.rowid",
                    se = n.se,
                    sm = n.sm
                ))
                .map_err(op())?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?))
                })
                .map_err(op())?;
            let mut out = Vec::new();
            for row in rows {
                let (version, name, value) = row.map_err(op())?;
                out.push(StoredVar {
                    version: inner.version_from_db(&inner.tables.stored_env, version)?,
                    name,
                    value,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn begin_run(&self, run: &RunStart) -> Result<RunId, StoreError> {
        self.inner.writable("record a run")?;
        let version = version_to_db(run.version)?;
        let run = run.clone();
        self.with_conn(move |conn, inner| {
            let n = inner.names();
            // The 'running' mark only has to survive the process being killed,
            // which a WAL commit without fsync (synchronous=NORMAL) already
            // does; the result commit that follows runs with the configured
            // setting, and its fsync also makes this mark durable. This halves
            // the fsyncs per migration (see docs/store.md for the figures).
            let configured: i64 = conn
                .pragma_query_value(None, "synchronous", |row| row.get(0))
                .map_err(inner.err("read the synchronous setting".to_string()))?;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(inner.err("relax synchronous for the start mark".to_string()))?;
            let inserted = conn
                .prepare_cached(&format!(
                    "INSERT INTO {} (version, name, direction, state, failed, ran_at, started_at)
                 VALUES (?1, ?2, ?3, 'running', 1, ?4, ?4)",
                    n.mr
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
                .map_err(inner.err("restore the synchronous setting".to_string()))?;
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
        self.inner.writable("record a run")?;
        let version = version_to_db(applied.version)?;
        let (outcome, applied, vars) = (outcome.clone(), applied.clone(), vars.to_vec());
        self.with_conn(move |conn, inner| {
            let n = inner.names();
            let op = format!("record version {} as applied", applied.version);
            let tx = begin(conn, inner, &op)?;
            finish_run(
                &tx,
                inner,
                id,
                &outcome,
                RunState::Succeeded,
                Some((Direction::Up, applied.version)),
            )?;
            upsert_applied(
                &tx,
                inner,
                version,
                &applied.name,
                &applied.checksum,
                &applied.applied_at,
            )?;
            tx.execute(
                &format!("DELETE FROM {} WHERE version = ?1", n.se),
                [version],
            )
            .map_err(inner.err(format!("replace the variables of version {version}")))?;
            {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "INSERT OR REPLACE INTO {} (version, name, value) VALUES (?1, ?2, ?3)",
                        n.se
                    ))
                    .map_err(inner.err(format!("store the variables of version {version}")))?;
                for (name, value) in &vars {
                    stmt.execute(params![version, name, value]).map_err(
                        inner.err(format!("store variable {name} of version {version}")),
                    )?;
                }
            }
            tx.commit().map_err(inner.err(format!("commit: {op}")))
        })
        .await
    }

    async fn finish_down_success(
        &self,
        id: RunId,
        outcome: &RunOutcome,
        version: u64,
    ) -> Result<(), StoreError> {
        self.inner.writable("record a run")?;
        let db_version = version_to_db(version)?;
        let outcome = outcome.clone();
        self.with_conn(move |conn, inner| {
            let op = format!("record version {version} as rolled back");
            let tx = begin(conn, inner, &op)?;
            finish_run(
                &tx,
                inner,
                id,
                &outcome,
                RunState::Succeeded,
                Some((Direction::Down, version)),
            )?;
            remove_applied(&tx, inner, db_version)?;
            tx.commit().map_err(inner.err(format!("commit: {op}")))
        })
        .await
    }

    async fn finish_failed(&self, id: RunId, outcome: &RunOutcome) -> Result<(), StoreError> {
        self.inner.writable("record a run")?;
        let outcome = outcome.clone();
        self.with_conn(move |conn, inner| {
            let op = format!("record run {id} as failed");
            let tx = begin(conn, inner, &op)?;
            finish_run(&tx, inner, id, &outcome, RunState::Failed, None)?;
            tx.commit().map_err(inner.err(format!("commit: {op}")))
        })
        .await
    }

    async fn finish_interrupted(&self, id: RunId, outcome: &RunOutcome) -> Result<(), StoreError> {
        self.inner.writable("record a run")?;
        let outcome = outcome.clone();
        self.with_conn(move |conn, inner| {
            let op = format!("record run {id} as interrupted");
            let tx = begin(conn, inner, &op)?;
            finish_run(&tx, inner, id, &outcome, RunState::Running, None)?;
            tx.commit().map_err(inner.err(format!("commit: {op}")))
        })
        .await
    }

    async fn runs(&self, limit: Option<usize>) -> Result<Vec<RunRecord>, StoreError> {
        // SQLite: a negative LIMIT means none.
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        self.with_conn(move |conn, inner| {
            let n = inner.names();
            let op = || inner.err("read the run history");
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT id, version, name, direction, {state}, status_code, body, env_json,
                            error, COALESCE(started_at, ran_at), duration_ms, resolved_as,
                            resolved_at
                     FROM {mr} ORDER BY id DESC LIMIT ?1",
                    state = state_expr(""),
                    mr = n.mr
                ))
                .map_err(op())?;
            let mut rows = stmt.query([limit]).map_err(op())?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(op())? {
                let get = |r: &rusqlite::Row<'_>| -> rusqlite::Result<_> {
                    Ok((
                        (
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                        ),
                        (
                            r.get::<_, Option<i64>>(5)?,
                            r.get::<_, Option<String>>(6)?,
                            r.get::<_, Option<String>>(7)?,
                            r.get::<_, Option<String>>(8)?,
                            r.get::<_, String>(9)?,
                        ),
                        (
                            r.get::<_, Option<i64>>(10)?,
                            r.get::<_, Option<String>>(11)?,
                            r.get::<_, Option<String>>(12)?,
                        ),
                    ))
                };
                let (
                    (id, version, name, direction, state),
                    (status, body, env_json, error, started_at),
                    (duration, resolved_as, resolved_at),
                ) = get(r).map_err(op())?;
                out.push(RunRecord {
                    id: RunId(id),
                    version: inner.version_from_db(&inner.tables.migration_runs, version)?,
                    name,
                    direction: parse_direction(inner, &direction)?,
                    state: parse_state(inner, &state)?,
                    // The Go tool writes 0 when no response arrived.
                    status_code: status
                        .and_then(|s| u16::try_from(s).ok())
                        .filter(|s| *s != 0),
                    body,
                    env_json,
                    error,
                    started_at,
                    duration_ms: opt_u64(duration),
                    resolved_as,
                    resolved_at,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn dirty(&self) -> Result<Option<DirtyMark>, StoreError> {
        self.with_conn(|conn, inner| {
            let n = inner.names();
            let state = state_expr("r.");
            let row: Option<(i64, i64, String, String, String, Option<String>, String)> = conn
                .prepare_cached(&format!(
                    "SELECT r.id, r.version, r.name, r.direction, {state}, r.error,
                            COALESCE(r.started_at, r.ran_at)
                     FROM {mr} r
                     WHERE r.id = (SELECT MAX(l.id) FROM {mr} l WHERE l.version = r.version)
                       AND {state} IN ('running', 'failed')
                     ORDER BY r.version LIMIT 1",
                    mr = n.mr
                ))
                .and_then(|mut stmt| {
                    stmt.query_row([], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                        ))
                    })
                    .optional()
                })
                .map_err(inner.err("look for failed or interrupted runs"))?;
            let Some((id, version, name, direction, state, error, started_at)) = row else {
                return Ok(None);
            };
            Ok(Some(DirtyMark {
                version: inner.version_from_db(&inner.tables.migration_runs, version)?,
                name,
                state: parse_state(inner, &state)?,
                direction: parse_direction(inner, &direction)?,
                run_id: RunId(id),
                error,
                started_at,
            }))
        })
        .await
    }

    async fn resolve(&self, version: u64, resolution: Resolution) -> Result<(), StoreError> {
        self.inner.writable("resolve a version")?;
        let db_version = version_to_db(version)?;
        self.with_conn(move |conn, inner| {
            let n = inner.names();
            let op = format!("resolve version {version} as {}", resolution.as_str());
            let tx = begin(conn, inner, &op)?;
            let newest: Option<(i64, String)> = tx
                .query_row(
                    &format!(
                        "SELECT id, {} FROM {} WHERE version = ?1 ORDER BY id DESC LIMIT 1",
                        state_expr(""),
                        n.mr
                    ),
                    [db_version],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(inner.err(format!("read the runs of version {version}")))?;
            let dirty_id = match newest {
                Some((id, state))
                    if matches!(
                        parse_state(inner, &state)?,
                        RunState::Running | RunState::Failed
                    ) =>
                {
                    id
                }
                _ => {
                    return Err(StoreError::NotDirty {
                        store: inner.describe.clone(),
                        version,
                    });
                }
            };
            let now = now_rfc3339();
            tx.execute(
                &format!(
                    "UPDATE {} SET state = 'resolved', resolved_as = ?1, resolved_at = ?2
                     WHERE id = ?3",
                    n.mr
                ),
                params![resolution.as_str(), now, dirty_id],
            )
            .map_err(inner.err(format!("mark run {dirty_id} as resolved")))?;
            match &resolution {
                Resolution::Applied { checksum, name } => {
                    upsert_applied(&tx, inner, db_version, name, checksum, &now)?;
                }
                Resolution::RolledBack => remove_applied(&tx, inner, db_version)?,
            }
            tx.commit().map_err(inner.err(format!("commit: {op}")))
        })
        .await
    }

    fn describe(&self) -> String {
        self.inner.describe.clone()
    }

    async fn lock_holder(&self) -> Result<Option<String>, StoreError> {
        FileLockGuard::probe(&self.inner.lock_path)
    }
}

/// Switch a database to WAL. Switching a new database needs an exclusive
/// lock, and SQLite does not call the busy handler for it: when two apirun
/// processes open a fresh store at once, one gets "database is locked" at
/// once. Retry (with a short backoff) until `timeout`; once the file is in WAL
/// mode, the switch is a no-op and needs no lock.
fn switch_to_wal(conn: &Connection, timeout: Duration) -> Result<(), rusqlite::Error> {
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        match conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(code, _))
                if matches!(
                    code.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::TableOverrides;
    use super::super::conformance::{
        Harness, applied, conformance_tests, env_of, failed, ok, start, up, vars, versions,
    };
    use super::*;

    use std::time::Instant;

    fn open(dir: &Path) -> SqliteStore {
        SqliteStore::open(&dir.join("apirun.db"), TableNames::default()).unwrap()
    }

    async fn open_init(dir: &Path) -> SqliteStore {
        let s = open(dir);
        s.init().await.unwrap();
        s
    }

    fn raw(s: &SqliteStore) -> Connection {
        Connection::open(s.path()).unwrap()
    }

    /// The conformance suite's store: `apirun.db` in a directory of its own.
    struct SqliteHarness(tempfile::TempDir);

    impl Harness for SqliteHarness {
        type S = SqliteStore;

        async fn open(&self) -> SqliteStore {
            open(self.0.path())
        }

        async fn execute(&self, sql: &str) {
            Connection::open(self.0.path().join("apirun.db"))
                .unwrap()
                .execute_batch(sql)
                .unwrap();
        }

        async fn open_read_only(&self) -> SqliteStore {
            SqliteStore::open_read_only(&self.0.path().join("apirun.db"), TableNames::default())
                .unwrap()
        }
    }

    mod conformance {
        use super::*;
        conformance_tests!(Some(SqliteHarness(tempfile::tempdir().unwrap())));
    }

    #[tokio::test]
    async fn init_creates_tables_and_parent_dirs_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/apirun.db");
        let s = SqliteStore::open(&path, TableNames::default()).unwrap();
        s.init().await.unwrap();
        s.init().await.unwrap();
        assert!(path.exists());
        assert_eq!(s.describe(), format!("sqlite:{}", path.display()));
        assert_eq!(s.lock_path(), dir.path().join("a/b/apirun.db.lock"));
        let c = raw(&s);
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for t in [
            "migration_runs",
            "schema_migrations",
            "schema_migrations_meta",
            "stored_env",
        ] {
            assert!(tables.iter().any(|x| x == t), "{t} missing from {tables:?}");
        }
        assert!(s.applied().await.unwrap().is_empty());
        assert!(s.runs(None).await.unwrap().is_empty());
        assert_eq!(s.dirty().await.unwrap(), None);
    }

    #[tokio::test]
    async fn wal_and_synchronous_full_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let s = open_init(dir.path()).await;
        let (mode, sync) = s
            .with_conn(|c, _| {
                let mode: String = c
                    .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .unwrap();
                let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
                Ok((mode, sync))
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "FULL");
    }

    #[tokio::test]
    async fn go_compatible_failed_column() {
        let dir = tempfile::tempdir().unwrap();
        let s = open_init(dir.path()).await;
        up(&s, 1, &[]).await;
        let id = s.begin_run(&start(2, Direction::Up)).await.unwrap();
        s.finish_failed(id, &failed("boom")).await.unwrap();
        s.begin_run(&start(3, Direction::Up)).await.unwrap();
        let c = raw(&s);
        let rows: Vec<(i64, i64, String, String)> = c
            .prepare("SELECT version, failed, direction, ran_at FROM migration_runs ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let flags: Vec<(i64, i64, &str)> = rows
            .iter()
            .map(|(v, f, d, _)| (*v, *f, d.as_str()))
            .collect();
        // Running counts as failed for Go users: it has not succeeded.
        assert_eq!(flags, [(1, 0, "up"), (2, 1, "up"), (3, 1, "up")]);
        assert!(rows.iter().all(|r| r.3.len() == 24));
    }

    #[tokio::test]
    async fn operations_before_init_fail_naming_the_file_and_operation() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let err = s.applied().await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("apirun.db"), "{msg}");
        assert!(msg.contains("read the applied versions"), "{msg}");
        assert!(msg.contains("no such table"), "{msg}");
    }

    #[tokio::test]
    async fn custom_table_names_share_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let a_tables = TableNames::new(Some("infra"), &TableOverrides::default()).unwrap();
        let b_tables = TableNames::new(
            None,
            &TableOverrides {
                migration_runs: Some("svc_runs".into()),
                schema_migrations: Some("svc_versions".into()),
                stored_env: Some("svc_vars".into()),
            },
        )
        .unwrap();
        let a = SqliteStore::open(&path, a_tables).unwrap();
        let b = SqliteStore::open(&path, b_tables).unwrap();
        a.init().await.unwrap();
        b.init().await.unwrap();
        up(&a, 1, &[("vpc_id", "vpc-1")]).await;
        up(&b, 7, &[]).await;
        assert_eq!(versions(&a.applied().await.unwrap()), [1]);
        assert_eq!(versions(&b.applied().await.unwrap()), [7]);
        assert_eq!(
            env_of(&a.stored_env().await.unwrap()),
            [(1, "vpc_id", "vpc-1")]
        );
        assert!(b.stored_env().await.unwrap().is_empty());
        assert_eq!(
            a.lock_path(),
            dir.path().join("shared.db.infra_schema_migrations.lock")
        );
        assert_eq!(
            b.lock_path(),
            dir.path().join("shared.db.svc_versions.lock")
        );
        // Different table sets lock independently.
        let _la = a.lock(Duration::ZERO).await.unwrap();
        let _lb = b.lock(Duration::ZERO).await.unwrap();
        let c = raw(&a);
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM infra_migration_runs", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn store_lock_excludes_a_second_store_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let a = open_init(dir.path()).await;
        let b = open_init(dir.path()).await; // same file, second connection
        let held = a.lock(Duration::from_secs(1)).await.unwrap();
        let me = format!("{}@", std::process::id());
        assert!(held.holder().starts_with(&me));
        let err = b.lock(Duration::from_millis(150)).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::LockTimeout { .. }), "{err:?}");
        assert!(msg.contains(&me), "{msg}");
        assert!(msg.contains(" since "), "{msg}");
        assert!(msg.contains(&a.describe()), "{msg}");
        drop(held);
        let again = b.lock(Duration::ZERO).await.unwrap();
        again.release().await.unwrap();
        let _ = a.lock(Duration::ZERO).await.unwrap();
    }

    /// A database written by the Go tool (its `Ensure` layout and its older goose
    /// layout), then opened by us: rows are kept and read, and a legacy failed
    /// run with nothing after it shows as dirty.
    #[tokio::test]
    async fn upgrades_the_go_tool_tables() {
        for variant in ["ensure", "goose"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("apirun.db");
            {
                let c = Connection::open(&path).unwrap();
                let ddl = if variant == "ensure" {
                    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);
                     CREATE TABLE migration_runs (id INTEGER PRIMARY KEY AUTOINCREMENT,
                        version INTEGER NOT NULL, direction TEXT NOT NULL,
                        status_code INTEGER NOT NULL, body TEXT NULL, env_json TEXT NULL,
                        failed INTEGER NOT NULL DEFAULT 0, ran_at TEXT NOT NULL);
                     CREATE TABLE stored_env (version INTEGER NOT NULL, name TEXT NOT NULL,
                        value TEXT NOT NULL, PRIMARY KEY(version, name));
                     INSERT INTO schema_migrations VALUES (1);
                     INSERT INTO migration_runs (version, direction, status_code, env_json, failed, ran_at)
                        VALUES (1, 'up', 201, '{\"id\":\"5\"}', 0, '2025-01-01T00:00:00Z'),
                               (2, 'up', 500, NULL, 1, '2025-01-02T00:00:00Z');
                     INSERT INTO stored_env VALUES (1, 'id', '5');"
                } else {
                    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
                     CREATE TABLE migration_runs (id INTEGER PRIMARY KEY AUTOINCREMENT,
                        version INTEGER NOT NULL, direction TEXT NOT NULL,
                        status_code INTEGER NOT NULL, body TEXT, env_json TEXT, ran_at TEXT NOT NULL);
                     CREATE TABLE stored_env (id INTEGER PRIMARY KEY AUTOINCREMENT,
                        version INTEGER NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL);
                     INSERT INTO schema_migrations VALUES (1, '2025-01-01T00:00:00Z');
                     INSERT INTO migration_runs (version, direction, status_code, env_json, ran_at)
                        VALUES (1, 'up', 201, '{\"id\":\"5\"}', '2025-01-01T00:00:00Z');
                     INSERT INTO stored_env (version, name, value)
                        VALUES (1, 'id', 'old'), (1, 'id', '5');"
                };
                c.execute_batch(ddl).unwrap();
            }
            let s = open_init(dir.path()).await;
            s.init().await.unwrap(); // idempotent after an upgrade too
            let a = s.applied().await.unwrap();
            assert_eq!(versions(&a), [1], "{variant}");
            assert_eq!(
                env_of(&s.stored_env().await.unwrap()),
                [(1, "id", "5")],
                "{variant}"
            );
            let runs = s.runs(None).await.unwrap();
            let oldest = runs.last().unwrap();
            assert_eq!(oldest.state, RunState::Succeeded, "{variant}");
            assert_eq!(oldest.started_at, "2025-01-01T00:00:00Z");
            assert_eq!(oldest.env_json.as_deref(), Some("{\"id\":\"5\"}"));
            if variant == "ensure" {
                assert_eq!(runs.len(), 2);
                let d = s.dirty().await.unwrap().unwrap();
                assert_eq!((d.version, d.state), (2, RunState::Failed));
            } else {
                assert_eq!(s.dirty().await.unwrap(), None);
            }
            // New runs continue after the old ids, and work end to end.
            let id = up(&s, 2, &[("x", "y")]).await;
            assert!(id.0 > runs[0].id.0);
            assert_eq!(s.dirty().await.unwrap(), None);
            assert_eq!(versions(&s.applied().await.unwrap()), [1, 2]);

            // The Go tool can still write its rows; we read their state from `failed`.
            let c = raw(&s);
            c.execute(
                "INSERT INTO migration_runs (version, direction, status_code, body, env_json, failed, ran_at)
                 VALUES (3, 'up', 0, NULL, NULL, 1, '2025-02-01T00:00:00Z')",
                [],
            )
            .unwrap();
            let insert = if variant == "ensure" {
                "INSERT OR IGNORE INTO schema_migrations (version) VALUES (9)"
            } else {
                "INSERT OR IGNORE INTO schema_migrations (version, applied_at) VALUES (9, 'x')"
            };
            c.execute(insert, []).unwrap();
            let d = s.dirty().await.unwrap().unwrap();
            assert_eq!((d.version, d.state), (3, RunState::Failed), "{variant}");
            assert_eq!(s.runs(Some(1)).await.unwrap()[0].status_code, None);
            assert!(versions(&s.applied().await.unwrap()).contains(&9));
        }
    }

    #[tokio::test]
    async fn refuses_a_foreign_table_with_our_name() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        raw(&s)
            .execute_batch("CREATE TABLE stored_env (key TEXT, data BLOB)")
            .unwrap();
        let err = s.init().await.unwrap_err();
        assert!(matches!(err, StoreError::ForeignTable { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("stored_env") && msg.contains("table_prefix"),
            "{msg}"
        );
        // Nothing was half-created: the transaction rolled back.
        let n: i64 = raw(&s)
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
    }

    /// The cost of `synchronous=FULL`: 1,000 `finish_up_success` calls (each one
    /// transaction) with FULL and with NORMAL, on a real file system (not /tmp,
    /// which may be tmpfs). Run with
    /// `cargo test --release -- --ignored durability_cost --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "benchmark: prints timings"]
    async fn durability_cost() {
        let base = std::env::var_os("APIRUN_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::current_dir().unwrap());
        const N: u64 = 1000;
        for sync in [Synchronous::Full, Synchronous::Normal, Synchronous::Full] {
            let dir = tempfile::tempdir_in(&base).unwrap();
            let s = SqliteStore::open_with(
                &dir.path().join("bench.db"),
                TableNames::default(),
                SqliteOptions {
                    synchronous: sync,
                    ..SqliteOptions::default()
                },
            )
            .unwrap();
            s.init().await.unwrap();
            let env = vars(&[("user_id", "12345"), ("token_ref", "abc")]);
            let outcome = RunOutcome {
                env: env.clone(),
                ..ok(201, &[])
            };
            let (mut begin_t, mut finish_t) = (Duration::ZERO, Duration::ZERO);
            for v in 1..=N {
                let t = Instant::now();
                let id = s.begin_run(&start(v, Direction::Up)).await.unwrap();
                begin_t += t.elapsed();
                let t = Instant::now();
                s.finish_up_success(id, &outcome, &applied(v), &env)
                    .await
                    .unwrap();
                finish_t += t.elapsed();
            }
            println!(
                "synchronous={sync:?}: finish_up_success {:.3} ms/op, begin_run {:.3} ms/op ({N} ops, {})",
                finish_t.as_secs_f64() * 1000.0 / N as f64,
                begin_t.as_secs_f64() * 1000.0 / N as f64,
                base.display()
            );
        }
    }
}

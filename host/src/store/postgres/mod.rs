//! PostgreSQL backend of the [`Store`] (`store.type: postgres`).
//!
//! Same semantics as the SQLite backend, by construction: the rules (finishing a
//! run, resolving, reading rows back, upgrading the Go tool's tables) are
//! `store::protocol`, `store::rows` and `store::go_upgrade`, shared by both.
//! This module and its files hold PostgreSQL's SQL and connection handling:
//! `connect.rs` (settings, DSN, description, connections), `tls.rs`,
//! `tx.rs` (the protocol's primitives), `schema.rs` (DDL and upgrades) and
//! `lock.rs` (the advisory store lock).
//!
//! # Connections
//! One `tokio_postgres` connection per store, its I/O task spawned on the current
//! tokio runtime, behind an async mutex (a transaction needs the connection to
//! itself). If the server closes it (restart, idle timeout), the next operation
//! reconnects. Every connection sets `application_name` to `apirun <pid>@<host>`,
//! so the holder of the store lock is visible in `pg_stat_activity`.
//!
//! # Layout
//! Compatible with the Go tool's PostgreSQL tables (it reads and writes the same
//! columns, with its types: `failed BOOLEAN`, `ran_at TIMESTAMPTZ`), plus ours:
//! - `schema_migrations(version BIGINT PRIMARY KEY, name, checksum, applied_at TEXT)`
//! - `migration_runs(id BIGSERIAL, version BIGINT, name, direction, state,
//!   status_code INTEGER, body, env_json, error, failed BOOLEAN, ran_at TIMESTAMPTZ,
//!   started_at TEXT, duration_ms BIGINT, resolved_as, resolved_at)`: as in SQLite,
//!   `failed` is true for every run that has not succeeded and `state` may be NULL
//!   in rows the Go tool writes; `ran_at` is the server's time at `begin_run`.
//! - `stored_env(version BIGINT, name, value, id BIGSERIAL, PRIMARY KEY(version, name))`:
//!   `id` keeps the order in which variables were recorded (SQLite's implicit rowid).
//! - `<schema_migrations>_meta(key, value)`: the layout version.
//!
//! Times written by apirun are RFC 3339 UTC text, as in SQLite.
//!
//! # Lock
//! [`Store::lock`] takes the session-level advisory lock [`PostgresStore::lock_key`]
//! (from the current schema and the `schema_migrations` table name, so stores with
//! other table names or in other schemas do not wait for each other) on a
//! connection of its own, held by the guard. Releasing unlocks; dropping the guard
//! closes that connection, and PostgreSQL releases a session's advisory locks when
//! the session ends, so a crashed `apirun` never blocks the next one (the lock
//! connection sets short TCP keepalives, so a holder whose machine vanished is
//! noticed within about a minute). Connection
//! poolers in transaction mode (PgBouncer `pool_mode=transaction`) break session
//! locks: connect apirun to the server directly or through session pooling.
//!
//! # TLS
//! `sslmode` `disable` (the default for the field form), `prefer` (the default in
//! a DSN, as in libpq) and `require`, with rustls. As in libpq without a root
//! certificate, `prefer` and `require` encrypt but do not verify the server's
//! certificate; `verify-ca` / `verify-full` are not supported yet and rejected.

mod connect;
mod lock;
mod schema;
#[cfg(test)]
mod tests;
mod tls;
mod tx;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, Config, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

pub use self::connect::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DBNAME, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_USER, PgConnect,
    PgSslMode, PostgresConfig, error_text,
};
use self::connect::{describe_config, open_client};
pub use self::lock::{PgLockGuard, advisory_key};
use self::schema::{read_only_layout, ts_text};
use self::tls::tls_connector;
use self::tx::{OpenTx, PgTx, Statements, state_of};
use super::protocol;
use super::rows::{
    RawApplied, RawDirty, RawRun, RawVar, StoreCtx, applied_sql, dirty_sql, run_columns,
    stored_env_sql,
};
use super::{
    AppliedMigration, DirtyMark, Resolution, RunId, RunOutcome, RunRecord, RunStart, RunState,
    Store, StoreError, StoreLock, StoredVar, TableNames, version_to_db,
};

// ---------------------------------------------------------------------------
// The store

/// The PostgreSQL store. Cheap to clone (shares one connection).
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    tls: MakeRustlsConnect,
    client: Mutex<Client>,
    /// Description (never with the password), tables; `read_only` when opened
    /// with [`PostgresStore::connect_read_only`]: writing calls are refused.
    ctx: StoreCtx,
    /// `current_schema()` when connecting: part of the lock keys.
    schema: String,
    lock_key: i64,
    /// Read-only and the store's tables do not exist: every read is empty.
    absent: bool,
    /// Statements prepared on `client`'s current connection.
    statements: Statements,
    /// A transaction left open on `client` by a dropped [`PgTx`].
    open_tx: OpenTx,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("store", &self.inner.ctx.describe)
            .field("schema", &self.inner.schema)
            .field("tables", &self.inner.ctx.tables)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connect (on the current tokio runtime). Does not create tables: call
    /// [`Store::init`].
    pub async fn connect(conn: &PgConnect, tables: TableNames) -> Result<Self, StoreError> {
        Self::connect_with(conn, tables, false).await
    }

    /// Connect for a reading command (`status`, `validate`, dry runs): creates
    /// no table and writes no row. Missing tables read as an empty store; tables
    /// in an older layout (the Go tool's) are refused, since upgrading them is a
    /// write: a writing command (`apirun up`) upgrades them. Already initialised:
    /// [`Store::init`] is a no-op. Writing calls fail with [`StoreError::ReadOnly`].
    pub async fn connect_read_only(
        conn: &PgConnect,
        tables: TableNames,
    ) -> Result<Self, StoreError> {
        let mut store = Self::connect_with(conn, tables, true).await?;
        let absent = {
            let client = store.client().await?;
            read_only_layout(&*client, &store.inner).await?
        };
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.absent = absent;
        }
        Ok(store)
    }

    async fn connect_with(
        conn: &PgConnect,
        tables: TableNames,
        read_only: bool,
    ) -> Result<Self, StoreError> {
        tables.validate()?;
        let config = conn.to_config()?;
        let describe = describe_config(&config);
        let tls = tls_connector()?;
        let client = open_client(&config, &tls)
            .await
            .map_err(pg_err(&describe, "connect"))?;
        let schema: Option<String> = client
            .query_one("SELECT current_schema()::text", &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(pg_err(&describe, "read the current schema"))?;
        let Some(schema) = schema else {
            return Err(StoreError::PostgresConfig {
                detail: format!(
                    "{describe}: the search_path names no existing schema, so there is \
                     nowhere to keep the store's tables; set search_path or create the schema"
                ),
            });
        };
        let lock_key = advisory_key("lock", &schema, &tables.schema_migrations);
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                config,
                tls,
                client: Mutex::new(client),
                ctx: StoreCtx::new(describe, tables, read_only),
                schema,
                lock_key,
                absent: false,
                statements: Statements::default(),
                open_tx: OpenTx::default(),
            }),
        })
    }

    pub fn tables(&self) -> &TableNames {
        &self.inner.ctx.tables
    }

    /// The schema the store's tables are created in (`current_schema()`).
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// The key of the session advisory lock taken by [`Store::lock`]; the holder
    /// shows in `pg_locks` with `locktype = 'advisory'`, `classid` = the high and
    /// `objid` = the low 32 bits, `objsubid = 1`.
    pub fn lock_key(&self) -> i64 {
        self.inner.lock_key
    }

    /// The store's connection, reconnecting first if the server closed it,
    /// and outside any transaction: one a dropped [`PgTx`] left open is
    /// rolled back first (see [`OpenTx`]).
    async fn client(&self) -> Result<MutexGuard<'_, Client>, StoreError> {
        let mut client = self.inner.client.lock().await;
        let left_open = self.inner.open_tx.take();
        if left_open && !client.is_closed() {
            client
                .batch_execute("ROLLBACK")
                .await
                .map_err(self.inner.err("roll back an unfinished transaction"))?;
        }
        if client.is_closed() {
            // The old session's prepared statements went with it.
            self.inner.statements.clear();
            *client = open_client(&self.inner.config, &self.inner.tls)
                .await
                .map_err(self.inner.err("reconnect"))?;
        }
        Ok(client)
    }

    async fn finish_without_applying(
        &self,
        id: RunId,
        outcome: &RunOutcome,
        state: RunState,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner.ctx.writable("record a run")?;
        let mut client = self.client().await?;
        let tx = PgTx::begin_with_first_statement(&mut client, inner);
        protocol::finish_without_applying(tx, &inner.ctx, id, outcome, state).await
    }
}

fn pg_err<S: Into<String>>(
    store: &str,
    op: S,
) -> impl FnOnce(tokio_postgres::Error) -> StoreError + use<S> {
    let store = store.to_owned();
    let op = op.into();
    move |cause| StoreError::Postgres { store, op, cause }
}

impl Inner {
    fn err<S: Into<String>>(
        &self,
        op: S,
    ) -> impl FnOnce(tokio_postgres::Error) -> StoreError + use<S> {
        pg_err(&self.ctx.describe, op)
    }
}

/// Read every row of `sql` with `get`; `op` names the read for errors.
fn from_rows<T>(
    rows: Result<Vec<Row>, tokio_postgres::Error>,
    inner: &Inner,
    op: &str,
    get: impl Fn(&Row) -> Result<T, tokio_postgres::Error>,
) -> Result<Vec<T>, StoreError> {
    let rows = rows.map_err(inner.err(op))?;
    rows.iter()
        .map(get)
        .collect::<Result<Vec<_>, _>>()
        .map_err(inner.err(op))
}

#[async_trait]
impl Store for PostgresStore {
    async fn init(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        if inner.ctx.read_only {
            // Checked when connecting; a reading command creates no table.
            return Ok(());
        }
        let mut client = self.client().await?;
        let tx = PgTx::begin(&mut client, inner, "create the tables").await?;
        tx.serialise_init(&inner.schema).await?;
        protocol::init(tx, &inner.ctx).await
    }

    async fn lock(&self, timeout: Duration) -> Result<Box<dyn StoreLock>, StoreError> {
        self.inner.ctx.writable("take the store lock")?;
        let guard = PgLockGuard::acquire(&self.inner, timeout).await?;
        Ok(Box::new(guard))
    }

    async fn applied(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        let inner = &self.inner;
        if inner.absent {
            return Ok(Vec::new());
        }
        let sql = applied_sql(&inner.ctx.names.sm);
        let rows = self.client().await?.query(&sql, &[]).await;
        let rows = from_rows(rows, inner, "read the applied versions", RawApplied::read)?;
        rows.into_iter().map(|r| inner.ctx.applied(r)).collect()
    }

    async fn stored_env(&self) -> Result<Vec<StoredVar>, StoreError> {
        let inner = &self.inner;
        if inner.absent {
            return Ok(Vec::new());
        }
        let sql = stored_env_sql(&inner.ctx.names, "id");
        let rows = self.client().await?.query(&sql, &[]).await;
        let rows = from_rows(rows, inner, "read the stored variables", RawVar::read)?;
        rows.into_iter().map(|r| inner.ctx.stored_var(r)).collect()
    }

    async fn begin_run(&self, run: &RunStart) -> Result<RunId, StoreError> {
        let inner = &self.inner;
        inner.ctx.writable("record a run")?;
        let version = version_to_db(run.version)?;
        let sql = format!(
            "INSERT INTO {} (version, name, direction, state, failed, ran_at, started_at)
             VALUES ($1, $2, $3, 'running', TRUE, now(), $4)
             RETURNING id",
            inner.ctx.names.mr
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [
            &version,
            &run.name,
            &run.direction.as_str(),
            &run.started_at,
        ];
        let client = self.client().await?;
        let op = || {
            format!(
                "record the start of the {} run of version {}",
                run.direction, run.version
            )
        };
        let statement = inner
            .statements
            .prepare(&*client, &sql)
            .await
            .map_err(inner.err(op()))?;
        let id: i64 = client
            .query_one(&statement, &params)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(inner.err(op()))?;
        Ok(RunId(id))
    }

    async fn finish_up_success(
        &self,
        id: RunId,
        outcome: &RunOutcome,
        applied: &AppliedMigration,
        vars: &[(String, String)],
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner.ctx.writable("record a run")?;
        let mut client = self.client().await?;
        let tx = PgTx::begin_with_first_statement(&mut client, inner);
        protocol::finish_up_success(tx, &inner.ctx, id, outcome, applied, vars).await
    }

    async fn finish_down_success(
        &self,
        id: RunId,
        outcome: &RunOutcome,
        version: u64,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner.ctx.writable("record a run")?;
        let mut client = self.client().await?;
        let tx = PgTx::begin_with_first_statement(&mut client, inner);
        protocol::finish_down_success(tx, &inner.ctx, id, outcome, version).await
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
        let inner = &self.inner;
        if inner.absent {
            return Ok(Vec::new());
        }
        // LIMIT NULL means no limit.
        let limit: Option<i64> = limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
        let started_at = format!("COALESCE(started_at, {})", ts_text("ran_at"));
        let sql = format!(
            "SELECT {} FROM {} ORDER BY id DESC LIMIT $1",
            run_columns(&state_of(""), &started_at),
            inner.ctx.names.mr
        );
        let rows = self.client().await?.query(&sql, &[&limit]).await;
        let rows = from_rows(rows, inner, "read the run history", RawRun::read)?;
        rows.into_iter().map(|r| inner.ctx.run_record(r)).collect()
    }

    async fn dirty(&self) -> Result<Option<DirtyMark>, StoreError> {
        let inner = &self.inner;
        if inner.absent {
            return Ok(None);
        }
        let sql = dirty_sql(&inner.ctx.names.mr, &state_of("r."), &ts_text("r.ran_at"));
        let rows = self.client().await?.query(&sql, &[]).await;
        let op = "look for failed or interrupted runs";
        let rows = from_rows(rows, inner, op, RawDirty::read)?;
        rows.into_iter()
            .next()
            .map(|r| inner.ctx.dirty_mark(r))
            .transpose()
    }

    async fn resolve(&self, version: u64, resolution: Resolution) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner.ctx.writable("resolve a version")?;
        let mut client = self.client().await?;
        let tx = PgTx::begin_with_first_statement(&mut client, inner);
        protocol::resolve(tx, &inner.ctx, version, &resolution).await
    }

    fn describe(&self) -> String {
        self.inner.ctx.describe.clone()
    }

    /// Tries the advisory lock on the store's own session and lets go at once
    /// (session advisory locks write nothing, so a read-only store can do it).
    async fn lock_holder(&self) -> Result<Option<String>, StoreError> {
        let inner = &self.inner;
        let key = inner.lock_key;
        let client = self.client().await?;
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1::bigint)", &[&key])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(inner.err("probe the store lock"))?;
        if got {
            client
                .execute("SELECT pg_advisory_unlock($1::bigint)", &[&key])
                .await
                .map_err(inner.err("release the probed store lock"))?;
            return Ok(None);
        }
        Ok(Some(lock::lock_holder(&client, key).await))
    }
}

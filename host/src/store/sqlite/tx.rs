//! SQLite's primitives of the recording protocol ([`RunTx`]): one statement
//! each, inside an `IMMEDIATE` transaction. The rules are in `store::protocol`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rusqlite::{Connection, OptionalExtension, params};

use super::Inner;
use crate::store::protocol::RunTx;
use crate::store::rows::{OutcomeRow, RawRunHead, RowRead, state_expr};
use crate::store::{RunId, StoreError};

/// `failed` is an INTEGER in SQLite (the Go tool's layout).
pub(super) fn failed_true(alias: &str) -> String {
    format!("{alias}failed <> 0")
}

/// A run's state, stored or derived from `failed` (see [`state_expr`]).
pub(super) fn state_of(alias: &str) -> String {
    state_expr(alias, &failed_true(alias))
}

/// One write transaction. It holds the connection (`&mut`, which is `Send`,
/// unlike rusqlite's `Transaction`, which borrows a `!Sync` connection), and
/// rolls back when dropped uncommitted.
pub(super) struct SqliteTx<'c> {
    conn: &'c mut Connection,
    inner: &'c Inner,
    open: bool,
}

impl<'c> SqliteTx<'c> {
    /// `BEGIN IMMEDIATE`: take the write lock now, so a concurrent writer makes
    /// us wait on busy_timeout here rather than fail with SQLITE_BUSY at the
    /// first write.
    pub fn begin(
        conn: &'c mut Connection,
        inner: &'c Inner,
        op: &str,
    ) -> Result<SqliteTx<'c>, StoreError> {
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(inner.err(format!("begin a transaction to {op}")))?;
        Ok(SqliteTx {
            conn,
            inner,
            open: true,
        })
    }

    pub fn conn(&self) -> &Connection {
        self.conn
    }

    pub fn inner(&self) -> &Inner {
        self.inner
    }

    /// Run a batch of statements; `op` names them for the error.
    pub fn exec(&self, op: &str, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql).map_err(self.inner.err(op))
    }

    pub fn finish(mut self, op: &str) -> Result<(), StoreError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(self.inner.err(format!("commit: {op}")))?;
        self.open = false;
        Ok(())
    }
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            // Best effort, as rusqlite's Transaction does on drop; a failed
            // rollback leaves the transaction to end with the connection.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Poll a protocol future whose primitives never suspend (SQLite's are
/// synchronous) to its end, on this thread.
pub(super) fn complete<T>(
    inner: &Inner,
    fut: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(inner
            .ctx
            .internal("an SQLite store operation waited on something asynchronous")),
    }
}

impl RunTx for SqliteTx<'_> {
    async fn load_run(&mut self, id: RunId) -> Result<Option<RawRunHead>, StoreError> {
        let sql = format!(
            "SELECT version, direction, {} FROM {} WHERE id = ?1",
            state_of(""),
            self.inner.ctx.names.mr
        );
        self.conn
            .query_row(&sql, [id.0], |r| {
                Ok(RawRunHead {
                    version: r.get(0)?,
                    direction: r.get(1)?,
                    state: r.get(2)?,
                })
            })
            .optional()
            .map_err(self.inner.err(format!("read run {id}")))
    }

    async fn write_outcome(&mut self, id: RunId, row: &OutcomeRow<'_>) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE {} SET state = ?1, failed = ?2, status_code = ?3, body = ?4, env_json = ?5,
                           error = ?6, duration_ms = ?7
             WHERE id = ?8",
            self.inner.ctx.names.mr
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| {
                stmt.execute(params![
                    row.state,
                    i64::from(row.failed),
                    row.status_code,
                    row.body,
                    row.env_json,
                    row.error,
                    row.duration_ms,
                    id.0,
                ])
            })
            .map_err(self.inner.err(format!("record the outcome of run {id}")))?;
        Ok(())
    }

    async fn upsert_applied(
        &mut self,
        version: i64,
        name: &str,
        checksum: &str,
        applied_at: &str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {} (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (version) DO UPDATE SET
                name = excluded.name, checksum = excluded.checksum, applied_at = excluded.applied_at",
            self.inner.ctx.names.sm
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.execute(params![version, name, checksum, applied_at]))
            .map_err(
                self.inner
                    .err(format!("record version {version} as applied")),
            )?;
        Ok(())
    }

    async fn remove_applied(&mut self, version: i64) -> Result<(), StoreError> {
        let n = &self.inner.ctx.names;
        self.conn
            .execute(
                &format!("DELETE FROM {} WHERE version = ?1", n.sm),
                [version],
            )
            .map_err(self.inner.err(format!(
                "remove version {version} from the applied versions"
            )))?;
        self.conn
            .execute(
                &format!("DELETE FROM {} WHERE version = ?1", n.se),
                [version],
            )
            .map_err(
                self.inner
                    .err(format!("remove the variables of version {version}")),
            )?;
        Ok(())
    }

    async fn replace_vars(
        &mut self,
        version: i64,
        vars: &[&(String, String)],
    ) -> Result<(), StoreError> {
        let se = &self.inner.ctx.names.se;
        self.conn
            .prepare_cached(&format!("DELETE FROM {se} WHERE version = ?1"))
            .and_then(|mut stmt| stmt.execute([version]))
            .map_err(
                self.inner
                    .err(format!("replace the variables of version {version}")),
            )?;
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "INSERT INTO {se} (version, name, value) VALUES (?1, ?2, ?3)"
            ))
            .map_err(
                self.inner
                    .err(format!("store the variables of version {version}")),
            )?;
        for (name, value) in vars {
            stmt.execute(params![version, name, value]).map_err(
                self.inner
                    .err(format!("store variable {name} of version {version}")),
            )?;
        }
        Ok(())
    }

    async fn newest_run(&mut self, version: i64) -> Result<Option<(i64, String)>, StoreError> {
        let sql = format!(
            "SELECT id, {} FROM {} WHERE version = ?1 ORDER BY id DESC LIMIT 1",
            state_of(""),
            self.inner.ctx.names.mr
        );
        self.conn
            .query_row(&sql, [version], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(
                self.inner
                    .err(format!("read the runs of version {version}")),
            )
    }

    async fn mark_resolved(
        &mut self,
        id: i64,
        resolved_as: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE {} SET state = 'resolved', resolved_as = ?1, resolved_at = ?2 WHERE id = ?3",
            self.inner.ctx.names.mr
        );
        self.conn
            .execute(&sql, params![resolved_as, at, id])
            .map_err(self.inner.err(format!("mark run {id} as resolved")))?;
        Ok(())
    }

    async fn commit(self, op: &str) -> Result<(), StoreError> {
        self.finish(op)
    }
}

impl RowRead for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }
    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }
}

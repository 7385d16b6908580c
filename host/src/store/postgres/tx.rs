//! PostgreSQL's primitives of the recording protocol ([`RunTx`]): one
//! statement each, inside a transaction. The rules are in `store::protocol`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, Row, Statement, Transaction};

use super::{Inner, pg_err};
use crate::store::protocol::{AppliedRow, RunTx};
use crate::store::rows::{OutcomeRow, RawRunHead, RowRead, StoreCtx, state_expr};
use crate::store::{RunId, StoreError};

/// A run's state, stored or derived from the Go tool's `failed BOOLEAN`.
pub(super) fn state_of(alias: &str) -> String {
    state_expr(alias, &format!("{alias}failed"))
}

/// The statements prepared on the store's connection, by SQL text: the
/// statements of a migration's record run once per migration, and preparing
/// one costs a round trip to the server (docs/performance.md). Cleared when
/// the connection is replaced (statements belong to one session). The SQL
/// texts are the store's own, a few dozen at most.
#[derive(Default)]
pub(super) struct Statements(Mutex<HashMap<String, Statement>>);

impl Statements {
    /// `sql` prepared on `client`'s session, once.
    pub async fn prepare<C: GenericClient>(
        &self,
        client: &C,
        sql: &str,
    ) -> Result<Statement, tokio_postgres::Error> {
        if let Some(found) = self.lock().get(sql) {
            return Ok(found.clone());
        }
        let statement = client.prepare(sql).await?;
        self.lock().insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Forget every statement (the connection they were prepared on is gone).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Statement>> {
        // Only inserts and lookups happen under the lock: a poisoned map is whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One transaction on the store's connection; dropped uncommitted, it rolls back.
pub(super) struct PgTx<'a> {
    pub tx: Transaction<'a>,
    pub ctx: &'a StoreCtx,
    statements: &'a Statements,
}

impl<'a> PgTx<'a> {
    /// `op` names the whole operation for the error message.
    pub async fn begin(
        client: &'a mut Client,
        inner: &'a Inner,
        op: &str,
    ) -> Result<PgTx<'a>, StoreError> {
        let ctx = &inner.ctx;
        let tx = client.transaction().await.map_err(pg_err(
            &ctx.describe,
            format!("begin a transaction to {op}"),
        ))?;
        Ok(PgTx {
            tx,
            ctx,
            statements: &inner.statements,
        })
    }

    /// `sql` prepared once per connection (see [`Statements`]).
    async fn prepared(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        self.statements.prepare(&self.tx, sql).await
    }

    pub fn err<S: Into<String>>(
        &self,
        op: S,
    ) -> impl FnOnce(tokio_postgres::Error) -> StoreError + use<S> {
        pg_err(&self.ctx.describe, op)
    }

    /// Run a batch of statements; `op` names them for the error.
    pub async fn exec(&self, op: &str, sql: &str) -> Result<(), StoreError> {
        self.tx.batch_execute(sql).await.map_err(self.err(op))
    }

    async fn execute(
        &self,
        op: String,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<(), StoreError> {
        let statement = self.prepared(sql).await.map_err(self.err(op.clone()))?;
        self.tx
            .execute(&statement, params)
            .await
            .map_err(self.err(op))?;
        Ok(())
    }

    pub async fn finish(self, op: &str) -> Result<(), StoreError> {
        let err = self.err(format!("commit: {op}"));
        self.tx.commit().await.map_err(err)
    }
}

/// The writes of a finished run, as `&self` futures so that
/// [`RunTx::write_up_success`] can pipeline them.
impl PgTx<'_> {
    fn outcome_sql(&self) -> String {
        format!(
            "UPDATE {} SET state = $1, failed = $2, status_code = $3, body = $4, env_json = $5,
                           error = $6, duration_ms = $7
             WHERE id = $8",
            self.ctx.names.mr
        )
    }

    fn applied_sql(&self) -> String {
        format!(
            "INSERT INTO {} (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (version) DO UPDATE SET
                name = excluded.name, checksum = excluded.checksum, applied_at = excluded.applied_at",
            self.ctx.names.sm
        )
    }

    fn delete_vars_sql(&self) -> String {
        format!("DELETE FROM {} WHERE version = $1", self.ctx.names.se)
    }

    fn insert_vars_sql(&self) -> String {
        // One statement; WITH ORDINALITY keeps the recorded order in `id`.
        format!(
            "INSERT INTO {} (version, name, value)
             SELECT $1, v.name, v.value
             FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS v(name, value, i)
             ORDER BY v.i",
            self.ctx.names.se
        )
    }

    async fn outcome(&self, id: RunId, row: &OutcomeRow<'_>) -> Result<(), StoreError> {
        let sql = self.outcome_sql();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
            &row.state,
            &row.failed,
            &row.status_code,
            &row.body,
            &row.env_json,
            &row.error,
            &row.duration_ms,
            &id.0,
        ];
        self.execute(format!("record the outcome of run {id}"), &sql, &params)
            .await
    }

    async fn applied(
        &self,
        version: i64,
        name: &str,
        checksum: &str,
        applied_at: &str,
    ) -> Result<(), StoreError> {
        let sql = self.applied_sql();
        let op = format!("record version {version} as applied");
        self.execute(op, &sql, &[&version, &name, &checksum, &applied_at])
            .await
    }

    async fn delete_vars(&self, version: i64) -> Result<(), StoreError> {
        let sql = self.delete_vars_sql();
        let op = format!("replace the variables of version {version}");
        self.execute(op, &sql, &[&version]).await
    }

    async fn insert_vars(
        &self,
        version: i64,
        vars: &[&(String, String)],
    ) -> Result<(), StoreError> {
        if vars.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<&str> = vars.iter().map(|(_, v)| v.as_str()).collect();
        let sql = self.insert_vars_sql();
        let op = format!("store the variables of version {version}");
        self.execute(op, &sql, &[&version, &names, &values]).await
    }
}

impl RunTx for PgTx<'_> {
    async fn load_run(&mut self, id: RunId) -> Result<Option<RawRunHead>, StoreError> {
        // FOR UPDATE: two finishers of one run serialise, and the second sees it finished.
        let sql = format!(
            "SELECT version, direction, {} FROM {} WHERE id = $1 FOR UPDATE",
            state_of(""),
            self.ctx.names.mr
        );
        let get = |r: Row| -> Result<_, tokio_postgres::Error> {
            Ok(RawRunHead {
                version: r.try_get(0)?,
                direction: r.try_get(1)?,
                state: r.try_get(2)?,
            })
        };
        let statement = self
            .prepared(&sql)
            .await
            .map_err(self.err(format!("read run {id}")))?;
        self.tx
            .query_opt(&statement, &[&id.0])
            .await
            .and_then(|row| row.map(get).transpose())
            .map_err(self.err(format!("read run {id}")))
    }

    async fn write_outcome(&mut self, id: RunId, row: &OutcomeRow<'_>) -> Result<(), StoreError> {
        self.outcome(id, row).await
    }

    async fn upsert_applied(
        &mut self,
        version: i64,
        name: &str,
        checksum: &str,
        applied_at: &str,
    ) -> Result<(), StoreError> {
        self.applied(version, name, checksum, applied_at).await
    }

    async fn remove_applied(&mut self, version: i64) -> Result<(), StoreError> {
        let n = &self.ctx.names;
        let sql = format!("DELETE FROM {} WHERE version = $1", n.sm);
        let op = format!("remove version {version} from the applied versions");
        self.execute(op, &sql, &[&version]).await?;
        let sql = format!("DELETE FROM {} WHERE version = $1", n.se);
        let op = format!("remove the variables of version {version}");
        self.execute(op, &sql, &[&version]).await
    }

    async fn replace_vars(
        &mut self,
        version: i64,
        vars: &[&(String, String)],
    ) -> Result<(), StoreError> {
        self.delete_vars(version).await?;
        self.insert_vars(version, vars).await
    }

    /// The four writes pipelined: sent together, answered in order, so the
    /// success of a migration costs one round trip for them instead of four
    /// (docs/performance.md). PostgreSQL runs them in the order sent; after
    /// a failure the rest fail too (the transaction is aborted) and the first
    /// error is returned.
    async fn write_up_success(
        &mut self,
        id: RunId,
        row: &OutcomeRow<'_>,
        applied: &AppliedRow<'_>,
        vars: &[&(String, String)],
    ) -> Result<(), StoreError> {
        let version = applied.version;
        // Prepared first (once per connection): each write below is then
        // sent on its first poll, in this order, so the DELETE of the old
        // variables reaches the server before the INSERT of the new ones.
        for sql in [
            self.outcome_sql(),
            self.applied_sql(),
            self.delete_vars_sql(),
            self.insert_vars_sql(),
        ] {
            self.prepared(&sql)
                .await
                .map_err(self.err(format!("record version {version} as applied")))?;
        }
        tokio::try_join!(
            self.outcome(id, row),
            self.applied(version, applied.name, applied.checksum, applied.applied_at),
            self.delete_vars(version),
            self.insert_vars(version, vars),
        )?;
        Ok(())
    }
    async fn newest_run(&mut self, version: i64) -> Result<Option<(i64, String)>, StoreError> {
        let sql = format!(
            "SELECT id, {} FROM {} WHERE version = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE",
            state_of(""),
            self.ctx.names.mr
        );
        self.tx
            .query_opt(&sql, &[&version])
            .await
            .and_then(|row| row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose())
            .map_err(self.err(format!("read the runs of version {version}")))
    }

    async fn mark_resolved(
        &mut self,
        id: i64,
        resolved_as: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE {} SET state = 'resolved', resolved_as = $1, resolved_at = $2 WHERE id = $3",
            self.ctx.names.mr
        );
        let op = format!("mark run {id} as resolved");
        self.execute(op, &sql, &[&resolved_as, &at, &id]).await
    }

    async fn commit(self, op: &str) -> Result<(), StoreError> {
        self.finish(op).await
    }
}

/// PostgreSQL's integers have fixed widths: `status_code` is an `INTEGER`, the
/// ids, versions and durations are `BIGINT`s.
fn int_of(r: &Row, i: usize) -> Result<Option<i64>, tokio_postgres::Error> {
    if r.columns().get(i).is_some_and(|c| *c.type_() == Type::INT4) {
        return Ok(r.try_get::<_, Option<i32>>(i)?.map(i64::from));
    }
    r.try_get(i)
}

impl RowRead for Row {
    type Error = tokio_postgres::Error;
    fn int(&self, i: usize) -> Result<i64, Self::Error> {
        match int_of(self, i)? {
            Some(v) => Ok(v),
            // Let the driver say what is wrong (a NULL in a NOT NULL read).
            None => self.try_get(i),
        }
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error> {
        int_of(self, i)
    }
    fn text(&self, i: usize) -> Result<String, Self::Error> {
        self.try_get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error> {
        self.try_get(i)
    }
}

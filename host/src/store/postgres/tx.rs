//! PostgreSQL's primitives of the recording protocol ([`RunTx`]): one
//! statement each, inside a transaction. The rules are in `store::protocol`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, Row, Statement};

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

/// Whether a transaction is open on the store's connection: set when one
/// begins, cleared when it ends. A [`PgTx`] dropped before its commit (an
/// error, a check that refused the run, a cancelled run) leaves it set; its
/// `Drop` then has a task roll it back as soon as the connection is free, and
/// whichever comes first, that task or the next use of the connection
/// (`PostgresStore::client`), sends the `ROLLBACK`. tokio-postgres's own
/// `Transaction` rolls back from its `Drop`, but it must send `BEGIN` alone
/// and wait for the answer; managing the transaction here lets `BEGIN`
/// travel with the first statement, one round trip fewer per record
/// (docs/performance.md).
#[derive(Default)]
pub(super) struct OpenTx(AtomicBool);

impl OpenTx {
    /// True if a transaction was left open (and forget it: the caller ends it).
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// Roll back the transaction a dropped [`PgTx`] left open on `inner`'s
/// connection, once the connection is free: a transaction left open would
/// keep its row locks (the `FOR UPDATE` of a run) until the connection's next
/// use, and a long-lived embedding program might not use it again soon.
/// Outside a tokio runtime, the next use rolls back (or the server does,
/// when the connection closes).
fn roll_back_soon(inner: &Arc<Inner>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let inner = Arc::clone(inner);
    runtime.spawn(async move {
        let client = inner.client.lock().await;
        if inner.open_tx.take()
            && !client.is_closed()
            && let Err(e) = client.batch_execute("ROLLBACK").await
        {
            // The connection is going away: the server ends the transaction.
            tracing::debug!("{}: roll back: {}", inner.ctx.describe, e);
        }
    });
}

/// One transaction on the store's connection; dropped uncommitted, it rolls
/// back (see [`OpenTx`]).
pub(super) struct PgTx<'a> {
    /// The store's connection, inside the transaction once `BEGIN` is sent.
    pub client: &'a Client,
    pub ctx: &'a StoreCtx,
    inner: &'a Arc<Inner>,
    /// `BEGIN` not sent yet: the first statement takes it along.
    begin_pending: AtomicBool,
    /// Committed: nothing to roll back.
    ended: bool,
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if self.begin_pending.load(Ordering::Acquire) {
            // Nothing was sent: no transaction is open.
            self.inner.open_tx.take();
            return;
        }
        roll_back_soon(self.inner);
    }
}

impl<'a> PgTx<'a> {
    /// Begin now: for transactions whose statements are sent from other
    /// modules (the schema's), which do not go through [`PgTx::begun`].
    /// `op` names the whole operation for the error message.
    pub async fn begin(
        client: &'a mut Client,
        inner: &'a Arc<Inner>,
        op: &str,
    ) -> Result<PgTx<'a>, StoreError> {
        let tx = Self::begin_with_first_statement(client, inner);
        tx.begin_pending.store(false, Ordering::Release);
        tx.client.batch_execute("BEGIN").await.map_err(pg_err(
            &inner.ctx.describe,
            format!("begin a transaction to {op}"),
        ))?;
        Ok(tx)
    }

    /// Begin with the first statement: `BEGIN` is sent in the same round trip
    /// as it. Every statement of the recording protocol ([`RunTx`]) goes through
    /// [`PgTx::begun`], so none can run outside the transaction.
    pub fn begin_with_first_statement(client: &'a mut Client, inner: &'a Arc<Inner>) -> PgTx<'a> {
        inner.open_tx.0.store(true, Ordering::Release);
        PgTx {
            client,
            ctx: &inner.ctx,
            inner,
            begin_pending: AtomicBool::new(true),
            ended: false,
        }
    }

    /// `statement`, preceded by `BEGIN` if that is not sent yet. Both are sent
    /// on the first poll, in this order (tokio-postgres sends a request when
    /// its future is first polled, and `try_join!` polls in order).
    async fn begun<T>(
        &self,
        statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, tokio_postgres::Error> {
        if self.begin_pending.swap(false, Ordering::AcqRel) {
            let ((), out) = tokio::try_join!(self.client.batch_execute("BEGIN"), statement)?;
            return Ok(out);
        }
        statement.await
    }

    /// `sql` prepared once per connection (see [`Statements`]).
    async fn prepared(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        self.inner.statements.prepare(self.client, sql).await
    }

    pub fn err<S: Into<String>>(
        &self,
        op: S,
    ) -> impl FnOnce(tokio_postgres::Error) -> StoreError + use<S> {
        pg_err(&self.ctx.describe, op)
    }

    /// Run a batch of statements; `op` names them for the error.
    pub async fn exec(&self, op: &str, sql: &str) -> Result<(), StoreError> {
        self.begun(self.client.batch_execute(sql))
            .await
            .map_err(self.err(op))
    }

    async fn execute(
        &self,
        op: String,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<(), StoreError> {
        let statement = self.prepared(sql).await.map_err(self.err(op.clone()))?;
        self.begun(self.client.execute(&statement, params))
            .await
            .map_err(self.err(op))?;
        Ok(())
    }

    pub async fn finish(mut self, op: &str) -> Result<(), StoreError> {
        if self.begin_pending.load(Ordering::Acquire) {
            // Nothing was sent: there is nothing to commit (`Drop` clears the mark).
            return Ok(());
        }
        let err = self.err(format!("commit: {op}"));
        self.client.batch_execute("COMMIT").await.map_err(err)?;
        self.ended = true;
        self.inner.open_tx.take();
        Ok(())
    }
}

/// The writes of a finished run, as `&self` futures so that
/// [`RunTx::record_up_success`] can pipeline them.
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

impl PgTx<'_> {
    fn load_run_sql(&self) -> String {
        // FOR UPDATE: two finishers of one run serialise, and the second sees it finished.
        format!(
            "SELECT version, direction, {} FROM {} WHERE id = $1 FOR UPDATE",
            state_of(""),
            self.ctx.names.mr
        )
    }

    /// `&self`, so that [`RunTx::record_up_success`] can pipeline it with the writes.
    async fn read_run(&self, id: RunId) -> Result<Option<RawRunHead>, StoreError> {
        let get = |r: Row| -> Result<_, tokio_postgres::Error> {
            Ok(RawRunHead {
                version: r.try_get(0)?,
                direction: r.try_get(1)?,
                state: r.try_get(2)?,
            })
        };
        let statement = self
            .prepared(&self.load_run_sql())
            .await
            .map_err(self.err(format!("read run {id}")))?;
        self.begun(self.client.query_opt(&statement, &[&id.0]))
            .await
            .and_then(|row| row.map(get).transpose())
            .map_err(self.err(format!("read run {id}")))
    }
}

impl RunTx for PgTx<'_> {
    async fn load_run(&mut self, id: RunId) -> Result<Option<RawRunHead>, StoreError> {
        self.read_run(id).await
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

    /// The read and the four writes pipelined (with `BEGIN`): sent together,
    /// answered in order, one round trip instead of six (docs/performance.md).
    /// The writes go out before `check` has seen the run: if it refuses the
    /// run, the caller returns without committing and the transaction is
    /// rolled back, so they never take effect. PostgreSQL runs the statements
    /// in the order sent, the writes after the `FOR UPDATE` read has locked
    /// the run; after a failure the rest fail too (the transaction is
    /// aborted) and the first error is returned.
    async fn record_up_success<C>(
        &mut self,
        id: RunId,
        check: C,
        row: &OutcomeRow<'_>,
        applied: &AppliedRow<'_>,
        vars: &[&(String, String)],
    ) -> Result<(), StoreError>
    where
        C: FnOnce(Option<RawRunHead>) -> Result<(), StoreError> + Send,
    {
        let version = applied.version;
        // Prepared first (once per connection): each statement below is then
        // sent on its first poll, in this order, so the run is read (and
        // locked) first and the DELETE of the old variables reaches the server
        // before the INSERT of the new ones.
        for sql in [
            self.load_run_sql(),
            self.outcome_sql(),
            self.applied_sql(),
            self.delete_vars_sql(),
            self.insert_vars_sql(),
        ] {
            self.prepared(&sql)
                .await
                .map_err(self.err(format!("record version {version} as applied")))?;
        }
        let (loaded, written) = tokio::join!(self.read_run(id), async {
            tokio::try_join!(
                self.outcome(id, row),
                self.applied(version, applied.name, applied.checksum, applied.applied_at),
                self.delete_vars(version),
                self.insert_vars(version, vars),
            )
        });
        check(loaded?)?;
        written?;
        Ok(())
    }

    async fn newest_run(&mut self, version: i64) -> Result<Option<(i64, String)>, StoreError> {
        let sql = format!(
            "SELECT id, {} FROM {} WHERE version = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE",
            state_of(""),
            self.ctx.names.mr
        );
        self.begun(self.client.query_opt(&sql, &[&version]))
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

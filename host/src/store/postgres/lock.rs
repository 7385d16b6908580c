//! The PostgreSQL store lock: a session-level advisory lock on a connection of
//! its own (see the module docs of `postgres`), and who holds it.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use super::connect::{error_text, open_client, process_identity};
use super::schema::ts_text;
use super::tx::Statements;
use super::{Inner, pg_err};
use crate::store::lock::holder_description;
use crate::store::{StoreError, StoreLock};

const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(250);

/// A stable advisory lock key: the first 8 bytes of SHA-256 of
/// `apirun:<purpose>:<schema>.<table>`, big-endian, as a signed 64-bit integer.
pub fn advisory_key(purpose: &str, schema: &str, table: &str) -> i64 {
    let digest = Sha256::digest(format!("apirun:{purpose}:{schema}.{table}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The store lock: a session advisory lock held by a connection of its own.
/// Dropping the guard closes that connection, which releases the lock.
pub struct PgLockGuard {
    pub(super) client: Option<Client>,
    /// The lock check of [`StoreLock::verify`] (run before every migration),
    /// prepared once on the lock's connection.
    verify_statements: Statements,
    key: i64,
    holder: String,
    store: String,
}

impl fmt::Debug for PgLockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgLockGuard")
            .field("store", &self.store)
            .field("key", &self.key)
            .field("holder", &self.holder)
            .field("held", &self.client.is_some())
            .finish()
    }
}

impl PgLockGuard {
    pub(super) async fn acquire(inner: &Inner, timeout: Duration) -> Result<Self, StoreError> {
        let client = open_client(&inner.config, &inner.tls)
            .await
            .map_err(inner.err("open a connection for the store lock"))?;
        // If the holder's machine or network goes away without closing the
        // connection, the server notices within about a minute (instead of the OS
        // default of two hours) and releases the lock. Best effort: a server that
        // refuses these settings still gives a working lock.
        let _ = client
            .batch_execute(
                "SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; \
                 SET tcp_keepalives_count = 3",
            )
            .await;
        let key = inner.lock_key;
        let start = Instant::now();
        // A timeout too large to add to "now" means: wait as long as it takes.
        let deadline = start.checked_add(timeout);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1::bigint)", &[&key])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(inner.err("take the store lock"))?;
            if got {
                return Ok(PgLockGuard {
                    client: Some(client),
                    verify_statements: Statements::default(),
                    key,
                    holder: holder_description(),
                    store: inner.ctx.describe.clone(),
                });
            }
            let now = Instant::now();
            let sleep = match deadline {
                Some(d) if now >= d => {
                    let holder = lock_holder(&client, key).await;
                    return Err(StoreError::LockTimeout {
                        store: inner.ctx.describe.clone(),
                        holder,
                        waited: timeout,
                    });
                }
                Some(d) => backoff.min(d - now),
                None => backoff,
            };
            tokio::time::sleep(sleep).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The advisory lock key held.
    pub fn key(&self) -> i64 {
        self.key
    }
}

/// Who holds advisory lock `key` in this database, as well as `pg_locks` and
/// `pg_stat_activity` tell: `<pid>@<host> since <time> (PostgreSQL session …)` for
/// an apirun, the session's details for anything else.
pub(super) async fn lock_holder(client: &Client, key: i64) -> String {
    let high = (key >> 32) & 0xffff_ffff;
    let low = key & 0xffff_ffff;
    let params: [&(dyn ToSql + Sync); 2] = [&high, &low];
    let rows = client
        .query(
            &format!(
                "SELECT l.pid, a.application_name, a.usename::text,
                        CASE WHEN a.client_addr IS NOT NULL
                                  THEN host(a.client_addr) || ':' || a.client_port
                             WHEN a.client_port = -1 THEN 'local socket' END,
                        {query_start}, {backend_start}
                 FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND l.classid::bigint = $1 AND l.objid::bigint = $2
                 ORDER BY l.pid",
                query_start = ts_text("a.query_start"),
                backend_start = ts_text("a.backend_start"),
            ),
            &params,
        )
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            return format!(
                "an unknown session (cannot read pg_locks: {})",
                error_text(&e)
            );
        }
    };
    let me = process_identity();
    let mut holders = Vec::new();
    for r in &rows {
        let get = |r: &Row| -> Result<_, tokio_postgres::Error> {
            Ok((
                r.try_get::<_, i32>(0)?,
                r.try_get::<_, Option<String>>(1)?,
                r.try_get::<_, Option<String>>(2)?,
                r.try_get::<_, Option<String>>(3)?,
                r.try_get::<_, Option<String>>(4)?,
                r.try_get::<_, Option<String>>(5)?,
            ))
        };
        let Ok((pid, app, user, client_addr, query_start, backend_start)) = get(r) else {
            continue;
        };
        let mut session = format!("PostgreSQL session pid {pid}");
        if let Some(user) = &user {
            session.push_str(&format!(", user {user}"));
        }
        if let Some(addr) = &client_addr {
            session.push_str(&format!(", client {addr}"));
        }
        let text = match app.as_deref().and_then(|a| a.strip_prefix("apirun ")) {
            Some(who) => {
                // The lock connection runs nothing after taking the lock, so its last
                // query's start is when it took it.
                let since = query_start
                    .or(backend_start)
                    .unwrap_or_else(|| "an unknown time".to_owned());
                if who == me {
                    format!("{who} since {since} (this process) ({session})")
                } else {
                    format!(
                        "{who} since {since} ({session}; if that apirun is gone, end its \
                         session with SELECT pg_terminate_backend({pid}))"
                    )
                }
            }
            None => {
                let app = app
                    .filter(|a| !a.is_empty())
                    .map(|a| format!(", application_name {a:?}"))
                    .unwrap_or_default();
                let since = backend_start
                    .map(|t| format!(", connected since {t}"))
                    .unwrap_or_default();
                format!("a session that is not apirun ({session}{app}{since})")
            }
        };
        holders.push(text);
    }
    if holders.is_empty() {
        "an unknown session (it let go just now, or this user cannot see it in pg_locks)".to_owned()
    } else {
        holders.join("; ")
    }
}

#[async_trait]
impl StoreLock for PgLockGuard {
    fn holder(&self) -> &str {
        &self.holder
    }

    /// Asks the lock's own session whether it still holds the lock. If that
    /// session was ended (`pg_terminate_backend`, a restart, a dropped
    /// connection), the query fails or finds no lock: the lock is lost.
    async fn verify(&self) -> Result<(), StoreError> {
        let lost = |detail: String| StoreError::LockLost {
            store: self.store.clone(),
            detail,
        };
        let Some(client) = &self.client else {
            return Err(lost("the lock was released".to_owned()));
        };
        let high = (self.key >> 32) & 0xffff_ffff;
        let low = self.key & 0xffff_ffff;
        let sql = "SELECT EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'advisory' AND granted AND objsubid = 1
                     AND pid = pg_backend_pid()
                     AND classid::bigint = $1 AND objid::bigint = $2)";
        let held: Result<bool, _> = match self.verify_statements.prepare(client, sql).await {
            Ok(statement) => client
                .query_one(&statement, &[&high, &low])
                .await
                .and_then(|r| r.try_get(0)),
            Err(e) => Err(e),
        };
        match held {
            Ok(true) => Ok(()),
            Ok(false) => Err(lost(
                "its PostgreSQL session no longer holds the advisory lock".to_owned(),
            )),
            Err(e) => Err(lost(format!(
                "the PostgreSQL session holding it is gone ({})",
                error_text(&e)
            ))),
        }
    }

    async fn release(mut self: Box<Self>) -> Result<(), StoreError> {
        let Some(client) = self.client.take() else {
            return Ok(());
        };
        let unlocked: bool = client
            .query_one("SELECT pg_advisory_unlock($1::bigint)", &[&self.key])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(pg_err(&self.store, "release the store lock"))?;
        // Closing the session would release it anyway.
        drop(client);
        if unlocked {
            Ok(())
        } else {
            Err(StoreError::Internal {
                store: self.store.clone(),
                detail: "the store lock was not held at release (its connection was reset?)"
                    .to_owned(),
            })
        }
    }
}

impl Drop for PgLockGuard {
    fn drop(&mut self) {
        // Dropping the client ends its connection task, which closes the session;
        // PostgreSQL then releases the session's advisory locks.
        self.client.take();
    }
}

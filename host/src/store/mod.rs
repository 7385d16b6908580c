//! The state store: what has been applied, every run, and the variables each
//! applied version extracted (docs/store.md).
//!
//! The [`Store`] trait is what the migrator talks to. It is async so that a
//! network backend fits: the SQLite backend ([`SqliteStore`]) runs its blocking
//! calls inline on a current-thread runtime and on a thread of its own on a
//! multi-threaded one; the PostgreSQL backend ([`PostgresStore`]) is async
//! through and through.
//!
//! # Rules once, SQL per backend
//! What the protocol below requires (which run may be finished and how, what a
//! resolution records, how a damaged row is reported, which tables to create
//! or upgrade from the Go tool's layouts) is decided once, in `protocol`,
//! `rows` and `go_upgrade`; each backend implements their primitives
//! (`protocol::RunTx`, `protocol::SchemaTx`) with its own SQL, and keeps its
//! connection handling and locking (docs/store.md, "For maintainers").
//!
//! # Recording protocol (docs/store.md#recording-protocol)
//!
//! For every step the migrator:
//! 1. holds [`Store::lock`] for the whole command (two `apirun` processes on
//!    one store never run at once);
//! 2. calls [`Store::begin_run`] *before* sending the request, which commits a
//!    run row in state `running`: if the process is killed mid-request, that row
//!    stays behind and [`Store::dirty`] reports it;
//! 3. calls exactly one of [`Store::finish_up_success`],
//!    [`Store::finish_down_success`] or [`Store::finish_failed`]. The two success
//!    calls record the run, the applied version and the extracted variables in
//!    ONE transaction, so a crash never leaves "applied but not recorded" or the
//!    reverse half-written.
//!
//! A version is *dirty* when its newest run is `running` (interrupted) or
//! `failed`. `up` refuses to go past a dirty version until a rerun of that
//! version succeeds or the user resolves it ([`Store::resolve`]).
//!
//! Mutating calls do not take the lock themselves: the caller holds the guard
//! from [`Store::lock`] around a whole command.

#[cfg(test)]
mod conformance;
mod go_upgrade;
mod lock;
pub mod postgres;
mod protocol;
mod rows;
mod sqlite;
mod tables;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;

pub use lock::{FileLockGuard, holder_description};
pub use postgres::{PgConnect, PgLockGuard, PgSslMode, PostgresStore};
pub use sqlite::{CALLS_ENV, CallThread, SYNCHRONOUS_ENV, SqliteOptions, SqliteStore, Synchronous};
pub use tables::{TableNames, TableOverrides};

/// Version of the store's own table layout, written into the `<schema_migrations>_meta`
/// table. An older `apirun` that finds a larger number refuses to touch the store
/// ([`StoreError::SchemaTooNew`]).
pub const STORE_SCHEMA_VERSION: i64 = 1;

/// The state store. Implemented by [`SqliteStore`] and [`PostgresStore`].
#[async_trait]
pub trait Store: Send + Sync {
    /// Create the tables if missing and upgrade older layouts (the Go tool's
    /// tables included). Idempotent; safe to call from several processes at once.
    /// Call it before anything else.
    async fn init(&self) -> Result<(), StoreError>;

    /// Take the store's exclusive lock, shared by all processes on this machine
    /// (SQLite) or all clients of the database (PostgreSQL). Waits up to `timeout`
    /// and then fails with [`StoreError::LockTimeout`] naming the holder. The lock
    /// is released when the guard is dropped or [`StoreLock::release`]d, and by
    /// the OS / the server if the holding process dies.
    async fn lock(&self, timeout: Duration) -> Result<Box<dyn StoreLock>, StoreError>;

    /// Applied versions, ascending.
    async fn applied(&self) -> Result<Vec<AppliedMigration>, StoreError>;

    /// Every variable extracted by an applied version, ascending version (and, within
    /// a version, in the order they were recorded).
    async fn stored_env(&self) -> Result<Vec<StoredVar>, StoreError>;

    /// Record (and commit) a run in state `running` before its request is sent.
    async fn begin_run(&self, run: &RunStart) -> Result<RunId, StoreError>;

    /// In one transaction: the run becomes `succeeded` with the outcome, the version
    /// is recorded as applied, and that version's stored variables are replaced by `vars`.
    async fn finish_up_success(
        &self,
        id: RunId,
        outcome: &RunOutcome,
        applied: &AppliedMigration,
        vars: &[(String, String)],
    ) -> Result<(), StoreError>;

    /// In one transaction: the run becomes `succeeded`, and `version` is removed from
    /// the applied versions together with its stored variables.
    async fn finish_down_success(
        &self,
        id: RunId,
        outcome: &RunOutcome,
        version: u64,
    ) -> Result<(), StoreError>;

    /// The run becomes `failed`; nothing is applied or removed.
    async fn finish_failed(&self, id: RunId, outcome: &RunOutcome) -> Result<(), StoreError>;

    /// The run's outcome is unknown (its request may have taken effect but its
    /// answer was lost: a connection lost after the request was sent, a
    /// response too large to read after a 2xx): record what is known (error,
    /// status code, duration) and leave the run `running`, exactly as a killed
    /// process would, so that the next `up` stops at it instead of resending
    /// (docs/store.md, "Unknown outcomes").
    async fn finish_interrupted(&self, id: RunId, outcome: &RunOutcome) -> Result<(), StoreError>;

    /// Run history, newest first; `limit` `None` means all.
    async fn runs(&self, limit: Option<usize>) -> Result<Vec<RunRecord>, StoreError>;

    /// The lowest version whose newest run is `running` or `failed` (a later success
    /// or a resolution clears it), or `None` if the store is clean.
    async fn dirty(&self) -> Result<Option<DirtyMark>, StoreError>;

    /// Resolve a dirty version by hand: its dirty run becomes `resolved`.
    /// [`Resolution::Applied`] also records the version as applied (the API is in the
    /// "up" state); [`Resolution::RolledBack`] removes it and its stored variables
    /// (the API is in the "not applied" state). Fails with [`StoreError::NotDirty`]
    /// if the version is not dirty.
    async fn resolve(&self, version: u64, resolution: Resolution) -> Result<(), StoreError>;

    /// Where the state lives, for messages: `sqlite:/path/to/apirun.db`.
    fn describe(&self) -> String;

    /// Who holds the store lock right now (`None`: nobody), found without
    /// taking it and without writing anything (for `status`, which may run on
    /// a read-only store).
    async fn lock_holder(&self) -> Result<Option<String>, StoreError> {
        match self.lock(Duration::ZERO).await {
            Ok(guard) => {
                guard.release().await?;
                Ok(None)
            }
            Err(StoreError::LockTimeout { holder, .. }) => Ok(Some(holder)),
            Err(e) => Err(e),
        }
    }
}

/// Guard of the store lock. Dropping it releases the lock; [`StoreLock::release`]
/// does the same and reports errors.
#[async_trait]
pub trait StoreLock: Send + Sync + fmt::Debug {
    /// Who holds the lock, as written for waiters: `pid@host since <RFC 3339 time>`.
    fn holder(&self) -> &str;
    /// Release the lock now.
    async fn release(self: Box<Self>) -> Result<(), StoreError>;
    /// Fails with [`StoreError::LockLost`] if the lock is no longer held (its
    /// PostgreSQL session was ended or its connection dropped): another apirun
    /// may hold it now, so the caller must stop before sending anything more.
    /// A file lock cannot be lost while the process lives.
    async fn verify(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// How a command uses the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// `up`, `down`, `resolve`: create the store if missing, take its lock, write.
    #[default]
    ReadWrite,
    /// `status`, `validate`, dry runs: create nothing, write nothing; a missing
    /// store reads as empty (docs/store.md, "Reading commands write nothing").
    ReadOnly,
}

/// Identifier of a run row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    /// `up` / `down`, as stored (the Go tool's values).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "up" => Ok(Direction::Up),
            "down" => Ok(Direction::Down),
            other => Err(format!("unknown run direction {other:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Recorded before the request was sent and never finished: in progress, or the
    /// process died.
    Running,
    Succeeded,
    Failed,
    /// Was running or failed; the user resolved it by hand.
    Resolved,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Resolved => "resolved",
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "running" => Ok(RunState::Running),
            "succeeded" => Ok(RunState::Succeeded),
            "failed" => Ok(RunState::Failed),
            "resolved" => Ok(RunState::Resolved),
            other => Err(format!("unknown run state {other:?}")),
        }
    }
}

/// One applied version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: u64,
    /// The migration's name (from the file name); empty for versions recorded by the Go tool.
    pub name: String,
    /// Checksum of the migration file when it was applied; empty if unknown.
    pub checksum: String,
    /// RFC 3339 UTC; empty if unknown.
    pub applied_at: String,
}

/// One variable extracted by an applied version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVar {
    pub version: u64,
    pub name: String,
    pub value: String,
}

/// What is known before a step's request is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStart {
    pub version: u64,
    pub name: String,
    pub direction: Direction,
    /// RFC 3339 UTC, e.g. from [`now_rfc3339`].
    pub started_at: String,
}

/// What a finished step produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunOutcome {
    /// HTTP status of the (last) response; `None` if no response arrived.
    pub status_code: Option<u16>,
    /// Response body, only when `store.save_response_body` asks for it.
    pub body: Option<String>,
    /// Variables extracted by the step; stored as a JSON object in `env_json`
    /// (NULL when empty, as the Go tool does). A repeated name: the last one wins.
    pub env: Vec<(String, String)>,
    /// Why the step failed.
    pub error: Option<String>,
    pub duration: Duration,
}

/// One row of the run history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub id: RunId,
    pub version: u64,
    pub name: String,
    pub direction: Direction,
    pub state: RunState,
    pub status_code: Option<u16>,
    pub body: Option<String>,
    pub env_json: Option<String>,
    pub error: Option<String>,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// `None` while running (or for rows written by the Go tool).
    pub duration_ms: Option<u64>,
    /// For [`RunState::Resolved`] runs: `applied` or `rolled_back`.
    pub resolved_as: Option<String>,
    pub resolved_at: Option<String>,
}

/// The run that makes a version dirty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyMark {
    pub version: u64,
    pub name: String,
    /// [`RunState::Running`] (interrupted) or [`RunState::Failed`].
    pub state: RunState,
    pub direction: Direction,
    pub run_id: RunId,
    pub error: Option<String>,
    pub started_at: String,
}

/// How the user resolved a dirty version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The API is in the state the `up` step would have produced: record the version
    /// as applied, with this file checksum and name.
    Applied { checksum: String, name: String },
    /// The API is in the state before the `up` step (or after the `down` step):
    /// the version is not applied.
    RolledBack,
}

impl Resolution {
    /// `applied` / `rolled_back`, as stored in `resolved_as`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Resolution::Applied { .. } => "applied",
            Resolution::RolledBack => "rolled_back",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An SQLite call failed. `op` says what we were doing, `db` which file.
    /// (The message already contains the cause; it is not repeated as `source()`.)
    #[error("SQLite store {}: cannot {op}: {cause}", db.display())]
    Sqlite {
        db: PathBuf,
        op: String,
        cause: rusqlite::Error,
    },

    /// A PostgreSQL call failed. `store` is [`Store::describe`] (never with the
    /// password), `op` says what we were doing. (The message already contains the
    /// cause; it is not repeated as `source()`.)
    #[error(
        "PostgreSQL store {store}: cannot {op}: {}",
        postgres::error_text(cause)
    )]
    Postgres {
        store: String,
        op: String,
        cause: tokio_postgres::Error,
    },

    /// The PostgreSQL connection settings are unusable (a malformed DSN, an
    /// unsupported `sslmode`).
    #[error("PostgreSQL store settings: {detail}")]
    PostgresConfig { detail: String },

    /// A file operation (creating the store's folder, the lock file) failed.
    #[error("{}: cannot {op}: {cause}", path.display())]
    Io {
        path: PathBuf,
        op: String,
        cause: std::io::Error,
    },

    /// Another process (or another store object in this process) holds the lock.
    #[error(
        "another apirun is using the store {store}: its lock is held by {holder}; \
         gave up after waiting {}. Wait for that run to finish, or stop it and run again",
        humanize(*waited)
    )]
    LockTimeout {
        store: String,
        holder: String,
        waited: Duration,
    },

    /// The lock's PostgreSQL session ended while this apirun held it (the
    /// connection dropped, or someone ran `pg_terminate_backend`).
    #[error(
        "lost the lock on the store {store}: {detail}; another apirun may be running \
         migrations now, so this one stops before sending anything more. Check \
         `apirun status`, then run again"
    )]
    LockLost { store: String, detail: String },

    /// A 0-byte SQLite file where an earlier apirun kept state.
    #[error(
        "the store file {} is empty (0 bytes) but {evidence}, so its recorded state \
         seems lost; treating it as a new store would send every migration again. \
         Restore the file from a backup, or if this really is a new store, delete {} \
         (and {}) and run again",
        path.display(), path.display(), lock_file.display()
    )]
    EmptyStoreFile {
        path: PathBuf,
        lock_file: PathBuf,
        evidence: String,
    },

    /// A writing call on a store opened with [`Access::ReadOnly`].
    #[error("{store}: internal error: cannot {op}: the store was opened read-only")]
    ReadOnly { store: String, op: String },

    #[error("invalid table name {name:?} for {setting}: {reason}")]
    InvalidTableName {
        setting: String,
        name: String,
        reason: String,
    },

    #[error(
        "the store {store} was written by a newer apirun (store layout {found}, this apirun \
         knows up to {supported}); upgrade apirun"
    )]
    SchemaTooNew {
        store: String,
        found: i64,
        supported: i64,
    },

    /// A table with one of our names exists but is not an apirun table.
    #[error(
        "the store {store} has a table {table} that apirun did not create ({detail}); \
         choose other table names (store.table_prefix or the explicit table names)"
    )]
    ForeignTable {
        store: String,
        table: String,
        detail: String,
    },

    #[error(
        "version {version} is too large for the store (the maximum is {})",
        i64::MAX
    )]
    VersionOutOfRange { version: u64 },

    #[error("{store}: run {id} does not exist")]
    RunNotFound { store: String, id: RunId },

    #[error("{store}: run {id} is already {state}; it can only be finished once")]
    RunNotRunning {
        store: String,
        id: RunId,
        state: RunState,
    },

    #[error("{store}: run {id} is {actual}, not {expected}")]
    RunMismatch {
        store: String,
        id: RunId,
        actual: String,
        expected: String,
    },

    #[error("{store}: version {version} has no failed or interrupted run to resolve")]
    NotDirty { store: String, version: u64 },

    #[error("{store}: unexpected data: {detail}")]
    Corrupt { store: String, detail: String },

    #[error("{store}: internal error: {detail}")]
    Internal { store: String, detail: String },
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

const RFC3339_MILLIS: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

/// The current time as RFC 3339 UTC with milliseconds, e.g. `2026-11-27T09:30:00.123Z`.
/// Fixed width, so these strings sort like the times they name.
pub fn now_rfc3339() -> String {
    format_rfc3339(time::OffsetDateTime::now_utc())
}

/// `t` (converted to UTC) as RFC 3339 with milliseconds.
pub fn format_rfc3339(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(RFC3339_MILLIS)
        // Only years outside 0..=9999 fail to format.
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Versions are stored as signed 64-bit integers (SQLite INTEGER, PostgreSQL BIGINT).
pub fn version_to_db(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::VersionOutOfRange { version })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_fixed_width_utc() {
        let t = time::macros::datetime!(2026-11-27 09:30:00.5 +02:00);
        assert_eq!(format_rfc3339(t), "2026-11-27T07:30:00.500Z");
        let now = now_rfc3339();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn versions_beyond_i64_are_rejected() {
        assert_eq!(version_to_db(20261127093000).ok(), Some(20261127093000));
        assert_eq!(version_to_db(i64::MAX as u64).ok(), Some(i64::MAX));
        let err = version_to_db(i64::MAX as u64 + 1).unwrap_err();
        assert!(matches!(err, StoreError::VersionOutOfRange { .. }));
        assert!(err.to_string().contains("9223372036854775808"), "{err}");
    }

    #[test]
    fn enums_round_trip() {
        for d in [Direction::Up, Direction::Down] {
            assert_eq!(d.as_str().parse::<Direction>(), Ok(d));
        }
        for s in [
            RunState::Running,
            RunState::Succeeded,
            RunState::Failed,
            RunState::Resolved,
        ] {
            assert_eq!(s.as_str().parse::<RunState>(), Ok(s));
        }
        assert!("sideways".parse::<Direction>().is_err());
    }

    #[test]
    fn lock_timeout_message_names_holder_and_wait() {
        let err = StoreError::LockTimeout {
            store: "sqlite:/x/apirun.db".into(),
            holder: "42@box since 2026-11-27T09:30:00.000Z".into(),
            waited: Duration::from_millis(1500),
        };
        let msg = err.to_string();
        assert!(
            msg.contains("42@box since 2026-11-27T09:30:00.000Z"),
            "{msg}"
        );
        assert!(msg.contains("1.5s"), "{msg}");
        assert!(msg.contains("sqlite:/x/apirun.db"), "{msg}");
    }
}

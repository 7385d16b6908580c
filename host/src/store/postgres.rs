//! PostgreSQL backend of the [`Store`] (`store.type: postgres`).
//!
//! Same semantics as the SQLite backend (see the module docs of `store` and
//! `sqlite.rs`): the same tables and columns, the same run states, dirty
//! detection, resolution, and `<schema_migrations>_meta` layout table.
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

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, GenericClient, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::lock::holder_description;
use super::{
    AppliedMigration, Direction, DirtyMark, Resolution, RunId, RunOutcome, RunRecord, RunStart,
    RunState, STORE_SCHEMA_VERSION, Store, StoreError, StoreLock, StoredVar, TableNames,
    now_rfc3339, version_to_db,
};

pub const DEFAULT_HOST: &str = "localhost";
pub const DEFAULT_PORT: u16 = 5432;
pub const DEFAULT_USER: &str = "postgres";
pub const DEFAULT_DBNAME: &str = "postgres";
/// Applied when the settings give no `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `init` waits for another process's `init` or for table locks.
const INIT_LOCK_TIMEOUT: &str = "60s";

const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(250);

// ---------------------------------------------------------------------------
// Connection settings

/// `sslmode`: what this backend supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgSslMode {
    /// No TLS. The default for the field form.
    #[default]
    Disable,
    /// TLS if the server offers it, else plain. The default in a DSN (as in libpq).
    Prefer,
    /// TLS or fail. The certificate is not verified (libpq's `require`).
    Require,
}

impl PgSslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PgSslMode::Disable => "disable",
            PgSslMode::Prefer => "prefer",
            PgSslMode::Require => "require",
        }
    }

    fn to_tokio(self) -> SslMode {
        match self {
            PgSslMode::Disable => SslMode::Disable,
            PgSslMode::Prefer => SslMode::Prefer,
            PgSslMode::Require => SslMode::Require,
        }
    }
}

impl std::str::FromStr for PgSslMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "disable" => Ok(PgSslMode::Disable),
            "prefer" => Ok(PgSslMode::Prefer),
            "require" => Ok(PgSslMode::Require),
            other @ ("allow" | "verify-ca" | "verify-full") => Err(format!(
                "sslmode {other:?} is not supported; use disable, prefer or require"
            )),
            other => Err(format!(
                "unknown sslmode {other:?}; use disable, prefer or require"
            )),
        }
    }
}

/// `store.postgres.host/port/user/password/dbname/sslmode`; unset fields take the
/// defaults (localhost, 5432, postgres, no password, postgres, disable).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PgFields {
    /// A host name, an IP address, or (Unix) the folder of the server's socket.
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dbname: Option<String>,
    /// `disable`, `prefer` or `require`.
    pub sslmode: Option<String>,
}

impl fmt::Debug for PgFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgFields")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .finish()
    }
}

/// Where the PostgreSQL store lives: `store.postgres.dsn`, or the separate fields.
#[derive(Clone, PartialEq, Eq)]
pub enum PgConnect {
    /// `postgres://user:pass@host:port/db?sslmode=disable` (or `postgresql://`), or
    /// the key=value form `host=h port=5432 user=u password=p dbname=d sslmode=require`.
    /// Parts it leaves out take the same defaults as [`PgFields`], except `sslmode`,
    /// which is `prefer` as in libpq.
    Dsn(String),
    Fields(PgFields),
}

impl fmt::Debug for PgConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The DSN may hold a password: show what `describe` shows.
            PgConnect::Dsn(dsn) => {
                let shown = match dsn_config(dsn) {
                    Ok(c) => describe_config(&c),
                    Err(_) => "<invalid DSN>".to_owned(),
                };
                f.debug_tuple("Dsn").field(&shown).finish()
            }
            PgConnect::Fields(fields) => f.debug_tuple("Fields").field(fields).finish(),
        }
    }
}

impl PgConnect {
    /// The `tokio_postgres` settings, defaults applied (application_name and the
    /// connect timeout included).
    pub fn to_config(&self) -> Result<Config, StoreError> {
        let mut config = match self {
            PgConnect::Dsn(dsn) => {
                let mut config = dsn_config(dsn)?;
                if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
                    config.host(DEFAULT_HOST);
                }
                if config.get_user().is_none() {
                    config.user(DEFAULT_USER);
                }
                if config.get_dbname().is_none() {
                    config.dbname(DEFAULT_DBNAME);
                }
                config
            }
            PgConnect::Fields(f) => {
                let mut config = Config::new();
                let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
                config.host(nonempty(&f.host).as_deref().unwrap_or(DEFAULT_HOST));
                config.port(f.port.unwrap_or(DEFAULT_PORT));
                config.user(nonempty(&f.user).as_deref().unwrap_or(DEFAULT_USER));
                if let Some(password) = f.password.as_deref().filter(|p| !p.is_empty()) {
                    config.password(password);
                }
                config.dbname(nonempty(&f.dbname).as_deref().unwrap_or(DEFAULT_DBNAME));
                let mode = match nonempty(&f.sslmode) {
                    None => PgSslMode::default(),
                    Some(s) => s.parse().map_err(|e: String| StoreError::PostgresConfig {
                        detail: format!("store.postgres.sslmode: {e}"),
                    })?,
                };
                config.ssl_mode(mode.to_tokio());
                config
            }
        };
        config.application_name(application_name());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        Ok(config)
    }

    /// `postgres://user@host:port/dbname`, never with the password.
    pub fn describe(&self) -> Result<String, StoreError> {
        Ok(describe_config(&self.to_config()?))
    }
}

fn dsn_config(dsn: &str) -> Result<Config, StoreError> {
    dsn.trim().parse::<Config>().map_err(|e| {
        // tokio_postgres names the option, not its value (which may be a password).
        let mut detail = format!(
            "store.postgres.dsn is not a valid connection string: {}",
            error_text(&e)
        );
        if detail.contains("sslmode") {
            detail.push_str(" (supported: disable, prefer, require)");
        }
        StoreError::PostgresConfig { detail }
    })
}

/// `postgres://user@host:port,host2:port/dbname`; Unix socket folders as
/// `postgres://user@/dbname?host=/run/postgresql&port=5432`.
fn describe_config(config: &Config) -> String {
    let user = config.get_user().unwrap_or(DEFAULT_USER);
    let db = config.get_dbname().unwrap_or(DEFAULT_DBNAME);
    let ports = config.get_ports();
    let port_of = |i: usize| match ports {
        [] => DEFAULT_PORT,
        [one] => *one,
        many => many.get(i).copied().unwrap_or(DEFAULT_PORT),
    };
    let mut tcp = Vec::new();
    let mut unix = Vec::new();
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        for (i, addr) in config.get_hostaddrs().iter().enumerate() {
            tcp.push(match addr {
                std::net::IpAddr::V6(a) => format!("[{a}]:{}", port_of(i)),
                std::net::IpAddr::V4(a) => format!("{a}:{}", port_of(i)),
            });
        }
    }
    for (i, host) in hosts.iter().enumerate() {
        match host {
            Host::Tcp(h) if h.contains(':') => tcp.push(format!("[{h}]:{}", port_of(i))),
            Host::Tcp(h) => tcp.push(format!("{h}:{}", port_of(i))),
            #[cfg(unix)]
            Host::Unix(path) => unix.push(format!("{}&port={}", path.display(), port_of(i))),
        }
    }
    if !unix.is_empty() && tcp.is_empty() {
        return format!("postgres://{user}@/{db}?host={}", unix.join(","));
    }
    format!("postgres://{user}@{}/{db}", tcp.join(","))
}

/// `apirun <pid>@<host>`, at most 63 bytes (PostgreSQL's limit).
fn application_name() -> String {
    let mut name = format!("apirun {}", process_identity());
    if name.len() > 63 {
        let mut end = 63;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

/// `<pid>@<host>`: the start of [`holder_description`].
fn process_identity() -> String {
    let holder = holder_description();
    match holder.split_once(" since ") {
        Some((who, _)) => who.to_owned(),
        None => holder,
    }
}

/// A PostgreSQL error as text: the server's message (with DETAIL and HINT) for a
/// database error, else the client's error and its causes.
pub fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.to_string();
    }
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

// ---------------------------------------------------------------------------
// TLS

/// libpq's `sslmode=require` / `prefer` without a root certificate: the channel is
/// encrypted and the handshake signatures are checked, but the certificate chain
/// and name are not.
#[derive(Debug)]
struct NoCertificateVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_connector() -> Result<MakeRustlsConnect, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::PostgresConfig {
            detail: format!("cannot set up TLS: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoCertificateVerification(provider)))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

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
    tables: TableNames,
    /// `current_schema()` when connecting: part of the lock keys.
    schema: String,
    lock_key: i64,
    describe: String,
    /// Opened with [`PostgresStore::connect_read_only`]: writing calls are refused.
    read_only: bool,
    /// Read-only and the store's tables do not exist: every read is empty.
    absent: bool,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("store", &self.inner.describe)
            .field("schema", &self.inner.schema)
            .field("tables", &self.inner.tables)
            .finish_non_exhaustive()
    }
}

/// A stable advisory lock key: the first 8 bytes of SHA-256 of
/// `apirun:<purpose>:<schema>.<table>`, big-endian, as a signed 64-bit integer.
pub fn advisory_key(purpose: &str, schema: &str, table: &str) -> i64 {
    let digest = Sha256::digest(format!("apirun:{purpose}:{schema}.{table}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
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
                tables,
                schema,
                lock_key,
                describe,
                read_only,
                absent: false,
            }),
        })
    }

    pub fn tables(&self) -> &TableNames {
        &self.inner.tables
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

    /// The store's connection, reconnecting first if the server closed it.
    async fn client(&self) -> Result<MutexGuard<'_, Client>, StoreError> {
        let mut client = self.inner.client.lock().await;
        if client.is_closed() {
            *client = open_client(&self.inner.config, &self.inner.tls)
                .await
                .map_err(self.inner.err("reconnect"))?;
        }
        Ok(client)
    }
}

/// Connect and spawn the connection's I/O task on the current runtime. The task
/// ends when the [`Client`] is dropped (closing the session) or the server goes away.
async fn open_client(
    config: &Config,
    tls: &MakeRustlsConnect,
) -> Result<Client, tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    tokio::spawn(async move {
        // Drive the connection ourselves rather than `connection.await`, which
        // logs every server notice at info level (`NOTICE: relation ... already
        // exists, skipping` on every command): notices go to debug instead.
        // An error here (the server went away) shows as "connection closed" on
        // the next call, which reconnects.
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notice(notice) = message {
                tracing::debug!("PostgreSQL {}: {}", notice.severity(), notice.message());
            }
        }
    });
    Ok(client)
}

/// For a read-only store: `true` if none of its tables exist (it reads as
/// empty); `Ok(false)` if they are in the current layout; an error otherwise.
async fn read_only_layout(client: &impl GenericClient, inner: &Inner) -> Result<bool, StoreError> {
    let t = &inner.tables;
    let meta = t.meta();
    let mut present = Vec::new();
    for table in [
        &meta,
        &t.schema_migrations,
        &t.migration_runs,
        &t.stored_env,
    ] {
        if !columns(client, inner, table).await?.is_empty() {
            present.push(table.as_str());
        }
    }
    if present.is_empty() {
        return Ok(true);
    }
    let version: Option<String> = if present.contains(&meta.as_str()) {
        client
            .query_opt(
                &format!(
                    "SELECT value FROM {} WHERE key = 'schema_version'",
                    quote(&meta)
                ),
                &[],
            )
            .await
            .and_then(|row| row.map(|r| r.try_get(0)).transpose())
            .map_err(inner.err("read the store's layout version"))?
    } else {
        None
    };
    let found = version
        .as_deref()
        .and_then(|v| v.trim().parse::<i64>().ok());
    match found {
        Some(found) if found > STORE_SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            store: inner.describe.clone(),
            found,
            supported: STORE_SCHEMA_VERSION,
        }),
        Some(_) if present.len() == 4 => Ok(false),
        _ => Err(StoreError::Corrupt {
            store: inner.describe.clone(),
            detail: format!(
                "its tables ({}) are in an older layout (the Go tool's, or an earlier \
                 apirun's) or incomplete, and a reading command does not change them; run \
                 `apirun up` once to upgrade them",
                present.join(", ")
            ),
        }),
    }
}

fn pg_err(store: &str, op: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    let store = store.to_owned();
    let op = op.into();
    move |cause| StoreError::Postgres { store, op, cause }
}

/// Quoted identifiers (names are validated, so quoting cannot be escaped).
struct Names {
    sm: String,
    mr: String,
    se: String,
    meta: String,
}

fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

impl Inner {
    fn names(&self) -> Names {
        Names {
            sm: quote(&self.tables.schema_migrations),
            mr: quote(&self.tables.migration_runs),
            se: quote(&self.tables.stored_env),
            meta: quote(&self.tables.meta()),
        }
    }

    fn err(&self, op: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
        pg_err(&self.describe, op)
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

    fn parse_direction(&self, s: &str) -> Result<Direction, StoreError> {
        s.parse()
            .map_err(|e: String| self.corrupt(format!("{e} in {}", self.tables.migration_runs)))
    }

    fn parse_state(&self, s: &str) -> Result<RunState, StoreError> {
        s.parse()
            .map_err(|e: String| self.corrupt(format!("{e} in {}", self.tables.migration_runs)))
    }
}

/// A run's state as stored, or derived from `failed` for rows the Go tool wrote.
fn state_expr(alias: &str) -> String {
    format!("COALESCE({alias}state, CASE WHEN {alias}failed THEN 'failed' ELSE 'succeeded' END)")
}

/// A `timestamptz` column as RFC 3339 UTC text with milliseconds (like [`now_rfc3339`]).
fn ts_text(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
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

/// `vars` as SQLite's `INSERT OR REPLACE` stores them: a repeated name keeps its
/// last value, at the position of its last occurrence.
fn dedup_last_wins(vars: &[(String, String)]) -> Vec<&(String, String)> {
    let mut out: Vec<&(String, String)> = Vec::with_capacity(vars.len());
    for (i, var) in vars.iter().enumerate() {
        if !vars[i + 1..].iter().any(|(later, _)| *later == var.0) {
            out.push(var);
        }
    }
    out
}

fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

// ---------------------------------------------------------------------------
// Schema creation and upgrade

const RUNS_COLUMNS_SQL: &str = "
    id BIGSERIAL PRIMARY KEY,
    version BIGINT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    direction TEXT NOT NULL,
    state TEXT CHECK (state IS NULL OR state IN ('running', 'succeeded', 'failed', 'resolved')),
    status_code INTEGER,
    body TEXT,
    env_json TEXT,
    error TEXT,
    failed BOOLEAN NOT NULL DEFAULT FALSE,
    ran_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TEXT,
    duration_ms BIGINT,
    resolved_as TEXT,
    resolved_at TEXT";

/// Columns of the table an unqualified `table` resolves to (through search_path),
/// with their types as `format_type` writes them; empty if there is none.
async fn columns(
    tx: &impl GenericClient,
    inner: &Inner,
    table: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = tx
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a
             WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0
               AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&table],
        )
        .await
        .map_err(inner.err(format!("read the columns of {table}")))?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(inner.err(format!("read the columns of {table}")))
}

fn column_type<'a>(cols: &'a [(String, String)], name: &str) -> Option<&'a str> {
    cols.iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(name))
        .map(|(_, t)| t.as_str())
}

fn has(cols: &[(String, String)], name: &str) -> bool {
    column_type(cols, name).is_some()
}

fn require_columns(
    inner: &Inner,
    table: &str,
    cols: &[(String, String)],
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

async fn exec(
    tx: &impl GenericClient,
    inner: &Inner,
    op: &str,
    sql: &str,
) -> Result<(), StoreError> {
    tx.batch_execute(sql).await.map_err(inner.err(op))
}

/// `ALTER TABLE t ALTER COLUMN c TYPE BIGINT` if `c` is a smaller integer (the Go
/// tool's `INTEGER` versions and `SERIAL` ids), with its sequence if it has one.
async fn widen_to_bigint(
    tx: &impl GenericClient,
    inner: &Inner,
    table: &str,
    cols: &[(String, String)],
    column: &str,
) -> Result<(), StoreError> {
    match column_type(cols, column) {
        Some("integer" | "smallint") => {}
        _ => return Ok(()),
    }
    let op = format!("widen {table}.{column} to BIGINT");
    exec(
        tx,
        inner,
        &op,
        &format!(
            "ALTER TABLE {} ALTER COLUMN {column} TYPE BIGINT",
            quote(table)
        ),
    )
    .await?;
    let seq: Option<String> = tx
        .query_one(
            "SELECT pg_get_serial_sequence(quote_ident($1), $2)",
            &[&table, &column],
        )
        .await
        .and_then(|r| r.try_get(0))
        .map_err(inner.err(op.clone()))?;
    if let Some(seq) = seq {
        // pg_get_serial_sequence returns the name quoted as needed.
        exec(tx, inner, &op, &format!("ALTER SEQUENCE {seq} AS BIGINT")).await?;
    }
    Ok(())
}

async fn has_unique_version_name(
    tx: &impl GenericClient,
    inner: &Inner,
    table: &str,
) -> Result<bool, StoreError> {
    tx.query_one(
        "SELECT EXISTS (
            SELECT 1 FROM pg_index i
            WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisunique
              AND i.indpred IS NULL AND i.indnatts = 2
              AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text)
                   FROM pg_attribute a
                   WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[]))
                  = ARRAY['name', 'version'])",
        &[&table],
    )
    .await
    .and_then(|r| r.try_get(0))
    .map_err(inner.err(format!("read the indexes of {table}")))
}

async fn init_schema(client: &mut Client, inner: &Inner) -> Result<(), StoreError> {
    let n = inner.names();
    let t = &inner.tables;
    let tx = client
        .transaction()
        .await
        .map_err(inner.err("begin a transaction to create the tables"))?;
    exec(
        &tx,
        inner,
        "set the lock timeout",
        &format!("SET LOCAL lock_timeout = '{INIT_LOCK_TIMEOUT}'"),
    )
    .await?;
    // Two processes creating the same tables at once would collide in the catalog
    // (CREATE TABLE IF NOT EXISTS is not safe against that): serialise on a
    // transaction-level advisory lock per table, taken in a fixed order.
    let mut keys: Vec<i64> = [
        &t.meta(),
        &t.schema_migrations,
        &t.migration_runs,
        &t.stored_env,
    ]
    .iter()
    .map(|table| advisory_key("init", &inner.schema, table))
    .collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        tx.execute("SELECT pg_advisory_xact_lock($1::bigint)", &[&key])
            .await
            .map_err(inner.err("wait for another apirun creating the same tables"))?;
    }

    let meta = t.meta();
    if columns(&tx, inner, &meta).await?.is_empty() {
        exec(
            &tx,
            inner,
            &format!("create table {meta}"),
            &format!(
                "CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                n.meta
            ),
        )
        .await?;
    }
    let found: Option<String> = tx
        .query_opt(
            &format!("SELECT value FROM {} WHERE key = 'schema_version'", n.meta),
            &[],
        )
        .await
        .and_then(|row| row.map(|r| r.try_get(0)).transpose())
        .map_err(inner.err("read the store's layout version"))?;
    if let Some(found) = found {
        let found: i64 = found
            .trim()
            .parse()
            .map_err(|_| inner.corrupt(format!("layout version {found:?} in {meta}")))?;
        if found > STORE_SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                store: inner.describe.clone(),
                found,
                supported: STORE_SCHEMA_VERSION,
            });
        }
    }

    // schema_migrations: the Go tool's table has (version INTEGER) or
    // (version INTEGER, applied_at TIMESTAMPTZ).
    let table = &t.schema_migrations;
    let cols = columns(&tx, inner, table).await?;
    if cols.is_empty() {
        exec(
            &tx,
            inner,
            &format!("create table {table}"),
            &format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    version BIGINT PRIMARY KEY,
                    name TEXT NOT NULL DEFAULT '',
                    checksum TEXT NOT NULL DEFAULT '',
                    applied_at TEXT NOT NULL DEFAULT '')",
                n.sm
            ),
        )
        .await?;
    } else {
        require_columns(inner, table, &cols, &["version"])?;
        widen_to_bigint(&tx, inner, table, &cols, "version").await?;
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
                )
                .await?;
            }
        }
        if let Some(ty @ ("timestamp with time zone" | "timestamp without time zone")) =
            column_type(&cols, "applied_at")
        {
            let as_utc = if ty == "timestamp with time zone" {
                "applied_at"
            } else {
                // A plain timestamp is taken to be UTC.
                "(applied_at AT TIME ZONE 'UTC')"
            };
            exec(
                &tx,
                inner,
                &format!("convert {table}.applied_at to text"),
                &format!(
                    "ALTER TABLE {sm} ALTER COLUMN applied_at TYPE TEXT
                        USING COALESCE({}, ''),
                     ALTER COLUMN applied_at SET DEFAULT '';
                     UPDATE {sm} SET applied_at = '' WHERE applied_at IS NULL;
                     ALTER TABLE {sm} ALTER COLUMN applied_at SET NOT NULL",
                    ts_text(as_utc),
                    sm = n.sm
                ),
            )
            .await?;
        }
    }

    // migration_runs: the Go tool's table lacks state, has INTEGER versions, a
    // SERIAL id, and status_code NOT NULL, which a run still in flight cannot fill.
    let table = &t.migration_runs;
    let cols = columns(&tx, inner, table).await?;
    if cols.is_empty() {
        exec(
            &tx,
            inner,
            &format!("create table {table}"),
            &format!("CREATE TABLE IF NOT EXISTS {} ({RUNS_COLUMNS_SQL})", n.mr),
        )
        .await?;
    } else if !has(&cols, "state") {
        require_columns(inner, table, &cols, &["version", "direction"])?;
        let op = format!("upgrade table {table}");
        widen_to_bigint(&tx, inner, table, &cols, "version").await?;
        widen_to_bigint(&tx, inner, table, &cols, "id").await?;
        let mut alter: Vec<String> = Vec::new();
        let mut add = |col: &str, def: &str| {
            if !has(&cols, col) {
                alter.push(format!("ADD COLUMN {col} {def}"));
            }
        };
        add("id", "BIGSERIAL PRIMARY KEY");
        add("name", "TEXT NOT NULL DEFAULT ''");
        add(
            "state",
            "TEXT CHECK (state IS NULL OR state IN ('running', 'succeeded', 'failed', 'resolved'))",
        );
        add("status_code", "INTEGER");
        add("body", "TEXT");
        add("env_json", "TEXT");
        add("error", "TEXT");
        add("failed", "BOOLEAN NOT NULL DEFAULT FALSE");
        add("ran_at", "TIMESTAMPTZ NOT NULL DEFAULT now()");
        add("started_at", "TEXT");
        add("duration_ms", "BIGINT");
        add("resolved_as", "TEXT");
        add("resolved_at", "TEXT");
        if has(&cols, "status_code") {
            alter.push("ALTER COLUMN status_code DROP NOT NULL".to_owned());
        }
        if has(&cols, "ran_at") {
            alter.push("ALTER COLUMN ran_at SET DEFAULT now()".to_owned());
        }
        exec(
            &tx,
            inner,
            &op,
            &format!("ALTER TABLE {} {}", n.mr, alter.join(", ")),
        )
        .await?;
        exec(
            &tx,
            inner,
            &op,
            &format!(
                "UPDATE {mr} SET state = CASE WHEN failed THEN 'failed' ELSE 'succeeded' END,
                                 started_at = {ran_at}",
                mr = n.mr,
                ran_at = ts_text("ran_at")
            ),
        )
        .await?;
    }
    exec(
        &tx,
        inner,
        &format!("create an index on {table}"),
        &format!(
            "CREATE INDEX IF NOT EXISTS \"{}_version_id_idx\" ON {} (version, id)",
            table, n.mr
        ),
    )
    .await?;

    // stored_env: one of the Go tool's layouts has an id column and no unique key on
    // (version, name): add one, keeping the newest row of any duplicates. The other
    // has no id: add one (it keeps the order in which variables were recorded).
    let table = &t.stored_env;
    let cols = columns(&tx, inner, table).await?;
    if cols.is_empty() {
        exec(
            &tx,
            inner,
            &format!("create table {table}"),
            &format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    version BIGINT NOT NULL,
                    name TEXT NOT NULL,
                    value TEXT NOT NULL,
                    id BIGSERIAL,
                    PRIMARY KEY (version, name))",
                n.se
            ),
        )
        .await?;
    } else {
        require_columns(inner, table, &cols, &["version", "name", "value"])?;
        widen_to_bigint(&tx, inner, table, &cols, "version").await?;
        if !has(&cols, "id") {
            exec(
                &tx,
                inner,
                &format!("add column id to {table}"),
                &format!("ALTER TABLE {} ADD COLUMN id BIGSERIAL", n.se),
            )
            .await?;
        } else {
            widen_to_bigint(&tx, inner, table, &cols, "id").await?;
        }
        if !has_unique_version_name(&tx, inner, table).await? {
            exec(
                &tx,
                inner,
                &format!("add a unique key to {table}"),
                &format!(
                    "DELETE FROM {se} WHERE id NOT IN
                        (SELECT MAX(id) FROM {se} GROUP BY version, name);
                     CREATE UNIQUE INDEX \"{table}_version_name\" ON {se} (version, name);",
                    se = n.se
                ),
            )
            .await?;
        }
    }

    tx.execute(
        &format!(
            "INSERT INTO {} (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            n.meta
        ),
        &[&STORE_SCHEMA_VERSION.to_string()],
    )
    .await
    .map_err(inner.err("record the store's layout version"))?;
    tx.commit()
        .await
        .map_err(inner.err("commit the table creation"))
}

// ---------------------------------------------------------------------------
// Runs

struct RunRow {
    version: u64,
    direction: Direction,
    state: RunState,
}

async fn load_run(tx: &impl GenericClient, inner: &Inner, id: RunId) -> Result<RunRow, StoreError> {
    let n = inner.names();
    // FOR UPDATE: two finishers of one run serialise, and the second sees it finished.
    let row = tx
        .query_opt(
            &format!(
                "SELECT version, direction, {} FROM {} WHERE id = $1 FOR UPDATE",
                state_expr(""),
                n.mr
            ),
            &[&id.0],
        )
        .await
        .map_err(inner.err(format!("read run {id}")))?;
    let Some(row) = row else {
        return Err(StoreError::RunNotFound {
            store: inner.describe.clone(),
            id,
        });
    };
    let get = |r: &Row| -> Result<(i64, String, String), tokio_postgres::Error> {
        Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
    };
    let (version, direction, state) = get(&row).map_err(inner.err(format!("read run {id}")))?;
    Ok(RunRow {
        version: inner.version_from_db(&inner.tables.migration_runs, version)?,
        direction: inner.parse_direction(&direction)?,
        state: inner.parse_state(&state)?,
    })
}

/// Check that run `id` is running (and, if given, of this direction and version),
/// then write its outcome with `state`.
async fn finish_run(
    tx: &impl GenericClient,
    inner: &Inner,
    id: RunId,
    outcome: &RunOutcome,
    state: RunState,
    expect: Option<(Direction, u64)>,
) -> Result<RunRow, StoreError> {
    let run = load_run(tx, inner, id).await?;
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
    let status: Option<i32> = outcome.status_code.map(i32::from);
    tx.execute(
        &format!(
            "UPDATE {} SET state = $1, failed = $2, status_code = $3, body = $4, env_json = $5,
                           error = $6, duration_ms = $7
             WHERE id = $8",
            n.mr
        ),
        &[
            &state.as_str(),
            &(state != RunState::Succeeded),
            &status,
            &outcome.body,
            &env_json(&outcome.env),
            &outcome.error,
            &duration_ms(outcome.duration),
            &id.0,
        ],
    )
    .await
    .map_err(inner.err(format!("record the outcome of run {id}")))?;
    Ok(run)
}

async fn upsert_applied(
    tx: &impl GenericClient,
    inner: &Inner,
    version: i64,
    name: &str,
    checksum: &str,
    applied_at: &str,
) -> Result<(), StoreError> {
    let n = inner.names();
    tx.execute(
        &format!(
            "INSERT INTO {} (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (version) DO UPDATE SET
                name = excluded.name, checksum = excluded.checksum, applied_at = excluded.applied_at",
            n.sm
        ),
        &[&version, &name, &checksum, &applied_at],
    )
    .await
    .map_err(inner.err(format!("record version {version} as applied")))?;
    Ok(())
}

async fn remove_applied(
    tx: &impl GenericClient,
    inner: &Inner,
    version: i64,
) -> Result<(), StoreError> {
    let n = inner.names();
    tx.execute(
        &format!("DELETE FROM {} WHERE version = $1", n.sm),
        &[&version],
    )
    .await
    .map_err(inner.err(format!(
        "remove version {version} from the applied versions"
    )))?;
    tx.execute(
        &format!("DELETE FROM {} WHERE version = $1", n.se),
        &[&version],
    )
    .await
    .map_err(inner.err(format!("remove the variables of version {version}")))?;
    Ok(())
}

fn row_err(inner: &Inner, op: &str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    let store = inner.describe.clone();
    let op = op.to_owned();
    move |cause| StoreError::Postgres {
        store: store.clone(),
        op: op.clone(),
        cause,
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn init(&self) -> Result<(), StoreError> {
        if self.inner.read_only {
            // Checked when connecting; a reading command creates no table.
            return Ok(());
        }
        let mut client = self.client().await?;
        init_schema(&mut client, &self.inner).await
    }

    async fn lock(&self, timeout: Duration) -> Result<Box<dyn StoreLock>, StoreError> {
        self.inner.writable("take the store lock")?;
        let guard = PgLockGuard::acquire(&self.inner, timeout).await?;
        Ok(Box::new(guard))
    }

    async fn applied(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        if self.inner.absent {
            return Ok(Vec::new());
        }
        let inner = &self.inner;
        let n = inner.names();
        let op = "read the applied versions";
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT version, COALESCE(name, ''), COALESCE(checksum, ''),
                            COALESCE(applied_at, '')
                     FROM {} ORDER BY version",
                    n.sm
                ),
                &[],
            )
            .await
            .map_err(inner.err(op))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let get = |r: &Row| -> Result<_, tokio_postgres::Error> {
                Ok((
                    r.try_get::<_, i64>(0)?,
                    r.try_get::<_, String>(1)?,
                    r.try_get::<_, String>(2)?,
                    r.try_get::<_, String>(3)?,
                ))
            };
            let (version, name, checksum, applied_at) = get(r).map_err(inner.err(op))?;
            out.push(AppliedMigration {
                version: inner.version_from_db(&inner.tables.schema_migrations, version)?,
                name,
                checksum,
                applied_at,
            });
        }
        Ok(out)
    }

    async fn stored_env(&self) -> Result<Vec<StoredVar>, StoreError> {
        if self.inner.absent {
            return Ok(Vec::new());
        }
        let inner = &self.inner;
        let n = inner.names();
        let op = "read the stored variables";
        // Only versions still applied count (a row left by another tool for a
        // rolled-back version is ignored).
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT e.version, e.name, e.value FROM {se} e
                     WHERE e.version IN (SELECT version FROM {sm})
                     ORDER BY e.version, e.id",
                    se = n.se,
                    sm = n.sm
                ),
                &[],
            )
            .await
            .map_err(inner.err(op))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let get = |r: &Row| -> Result<_, tokio_postgres::Error> {
                Ok((
                    r.try_get::<_, i64>(0)?,
                    r.try_get::<_, String>(1)?,
                    r.try_get::<_, String>(2)?,
                ))
            };
            let (version, name, value) = get(r).map_err(inner.err(op))?;
            out.push(StoredVar {
                version: inner.version_from_db(&inner.tables.stored_env, version)?,
                name,
                value,
            });
        }
        Ok(out)
    }

    async fn begin_run(&self, run: &RunStart) -> Result<RunId, StoreError> {
        self.inner.writable("record a run")?;
        let version = version_to_db(run.version)?;
        let inner = &self.inner;
        let n = inner.names();
        let id: i64 = self
            .client()
            .await?
            .query_one(
                &format!(
                    "INSERT INTO {} (version, name, direction, state, failed, ran_at, started_at)
                     VALUES ($1, $2, $3, 'running', TRUE, now(), $4)
                     RETURNING id",
                    n.mr
                ),
                &[
                    &version,
                    &run.name,
                    &run.direction.as_str(),
                    &run.started_at,
                ],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(inner.err(format!(
                "record the start of the {} run of version {}",
                run.direction, run.version
            )))?;
        Ok(RunId(id))
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
        let inner = &self.inner;
        let n = inner.names();
        let op = format!("record version {} as applied", applied.version);
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(inner.err(format!("begin a transaction to {op}")))?;
        finish_run(
            &tx,
            inner,
            id,
            outcome,
            RunState::Succeeded,
            Some((Direction::Up, applied.version)),
        )
        .await?;
        upsert_applied(
            &tx,
            inner,
            version,
            &applied.name,
            &applied.checksum,
            &applied.applied_at,
        )
        .await?;
        tx.execute(
            &format!("DELETE FROM {} WHERE version = $1", n.se),
            &[&version],
        )
        .await
        .map_err(inner.err(format!("replace the variables of version {version}")))?;
        let vars = dedup_last_wins(vars);
        if !vars.is_empty() {
            let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
            let values: Vec<&str> = vars.iter().map(|(_, v)| v.as_str()).collect();
            // One statement; WITH ORDINALITY keeps the recorded order in `id`.
            tx.execute(
                &format!(
                    "INSERT INTO {} (version, name, value)
                     SELECT $1, v.name, v.value
                     FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS v(name, value, i)
                     ORDER BY v.i
                     ON CONFLICT (version, name) DO UPDATE SET value = excluded.value",
                    n.se
                ),
                &[&version, &names, &values],
            )
            .await
            .map_err(inner.err(format!("store the variables of version {version}")))?;
        }
        tx.commit()
            .await
            .map_err(inner.err(format!("commit: {op}")))
    }

    async fn finish_down_success(
        &self,
        id: RunId,
        outcome: &RunOutcome,
        version: u64,
    ) -> Result<(), StoreError> {
        self.inner.writable("record a run")?;
        let db_version = version_to_db(version)?;
        let inner = &self.inner;
        let op = format!("record version {version} as rolled back");
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(inner.err(format!("begin a transaction to {op}")))?;
        finish_run(
            &tx,
            inner,
            id,
            outcome,
            RunState::Succeeded,
            Some((Direction::Down, version)),
        )
        .await?;
        remove_applied(&tx, inner, db_version).await?;
        tx.commit()
            .await
            .map_err(inner.err(format!("commit: {op}")))
    }

    async fn finish_failed(&self, id: RunId, outcome: &RunOutcome) -> Result<(), StoreError> {
        self.inner.writable("record a run")?;
        let inner = &self.inner;
        let op = format!("record run {id} as failed");
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(inner.err(format!("begin a transaction to {op}")))?;
        finish_run(&tx, inner, id, outcome, RunState::Failed, None).await?;
        tx.commit()
            .await
            .map_err(inner.err(format!("commit: {op}")))
    }

    async fn finish_interrupted(&self, id: RunId, outcome: &RunOutcome) -> Result<(), StoreError> {
        self.inner.writable("record a run")?;
        let inner = &self.inner;
        let op = format!("record run {id} as interrupted");
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(inner.err(format!("begin a transaction to {op}")))?;
        finish_run(&tx, inner, id, outcome, RunState::Running, None).await?;
        tx.commit()
            .await
            .map_err(inner.err(format!("commit: {op}")))
    }

    async fn runs(&self, limit: Option<usize>) -> Result<Vec<RunRecord>, StoreError> {
        if self.inner.absent {
            return Ok(Vec::new());
        }
        // LIMIT NULL means no limit.
        let limit: Option<i64> = limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
        let inner = &self.inner;
        let n = inner.names();
        let op = "read the run history";
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT id, version, name, direction, {state}, status_code, body, env_json,
                            error, COALESCE(started_at, {ran_at}), duration_ms, resolved_as,
                            resolved_at
                     FROM {mr} ORDER BY id DESC LIMIT $1",
                    state = state_expr(""),
                    ran_at = ts_text("ran_at"),
                    mr = n.mr
                ),
                &[&limit],
            )
            .await
            .map_err(inner.err(op))?;
        let mut out = Vec::with_capacity(rows.len());
        let err = row_err(inner, op);
        for r in &rows {
            let status: Option<i32> = r.try_get(5).map_err(&err)?;
            out.push(RunRecord {
                id: RunId(r.try_get(0).map_err(&err)?),
                version: inner
                    .version_from_db(&inner.tables.migration_runs, r.try_get(1).map_err(&err)?)?,
                name: r.try_get(2).map_err(&err)?,
                direction: inner.parse_direction(r.try_get(3).map_err(&err)?)?,
                state: inner.parse_state(r.try_get(4).map_err(&err)?)?,
                // The Go tool writes 0 when no response arrived.
                status_code: status
                    .and_then(|s| u16::try_from(s).ok())
                    .filter(|s| *s != 0),
                body: r.try_get(6).map_err(&err)?,
                env_json: r.try_get(7).map_err(&err)?,
                error: r.try_get(8).map_err(&err)?,
                started_at: r
                    .try_get::<_, Option<String>>(9)
                    .map_err(&err)?
                    .unwrap_or_default(),
                duration_ms: opt_u64(r.try_get(10).map_err(&err)?),
                resolved_as: r.try_get(11).map_err(&err)?,
                resolved_at: r.try_get(12).map_err(&err)?,
            });
        }
        Ok(out)
    }

    async fn dirty(&self) -> Result<Option<DirtyMark>, StoreError> {
        if self.inner.absent {
            return Ok(None);
        }
        let inner = &self.inner;
        let n = inner.names();
        let op = "look for failed or interrupted runs";
        let state = state_expr("r.");
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT r.id, r.version, r.name, r.direction, {state}, r.error,
                            COALESCE(r.started_at, {ran_at})
                     FROM {mr} r
                     WHERE r.id = (SELECT MAX(l.id) FROM {mr} l WHERE l.version = r.version)
                       AND {state} IN ('running', 'failed')
                     ORDER BY r.version LIMIT 1",
                    ran_at = ts_text("r.ran_at"),
                    mr = n.mr
                ),
                &[],
            )
            .await
            .map_err(inner.err(op))?;
        let Some(r) = row else {
            return Ok(None);
        };
        let err = row_err(inner, op);
        Ok(Some(DirtyMark {
            run_id: RunId(r.try_get(0).map_err(&err)?),
            version: inner
                .version_from_db(&inner.tables.migration_runs, r.try_get(1).map_err(&err)?)?,
            name: r.try_get(2).map_err(&err)?,
            direction: inner.parse_direction(r.try_get(3).map_err(&err)?)?,
            state: inner.parse_state(r.try_get(4).map_err(&err)?)?,
            error: r.try_get(5).map_err(&err)?,
            started_at: r
                .try_get::<_, Option<String>>(6)
                .map_err(&err)?
                .unwrap_or_default(),
        }))
    }

    async fn resolve(&self, version: u64, resolution: Resolution) -> Result<(), StoreError> {
        self.inner.writable("resolve a version")?;
        let db_version = version_to_db(version)?;
        let inner = &self.inner;
        let n = inner.names();
        let op = format!("resolve version {version} as {}", resolution.as_str());
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(inner.err(format!("begin a transaction to {op}")))?;
        let newest = tx
            .query_opt(
                &format!(
                    "SELECT id, {} FROM {} WHERE version = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE",
                    state_expr(""),
                    n.mr
                ),
                &[&db_version],
            )
            .await
            .and_then(|row| {
                row.map(|r| Ok((r.try_get::<_, i64>(0)?, r.try_get::<_, String>(1)?)))
                    .transpose()
            })
            .map_err(inner.err(format!("read the runs of version {version}")))?;
        let dirty_id = match newest {
            Some((id, state))
                if matches!(
                    inner.parse_state(&state)?,
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
                "UPDATE {} SET state = 'resolved', resolved_as = $1, resolved_at = $2
                 WHERE id = $3",
                n.mr
            ),
            &[&resolution.as_str(), &now, &dirty_id],
        )
        .await
        .map_err(inner.err(format!("mark run {dirty_id} as resolved")))?;
        match &resolution {
            Resolution::Applied { checksum, name } => {
                upsert_applied(&tx, inner, db_version, name, checksum, &now).await?;
            }
            Resolution::RolledBack => remove_applied(&tx, inner, db_version).await?,
        }
        tx.commit()
            .await
            .map_err(inner.err(format!("commit: {op}")))
    }

    fn describe(&self) -> String {
        self.inner.describe.clone()
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
        Ok(Some(lock_holder(&client, key).await))
    }
}

// ---------------------------------------------------------------------------
// Lock

/// The store lock: a session advisory lock held by a connection of its own.
/// Dropping the guard closes that connection, which releases the lock.
pub struct PgLockGuard {
    client: Option<Client>,
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
    async fn acquire(inner: &Inner, timeout: Duration) -> Result<Self, StoreError> {
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
                    key,
                    holder: holder_description(),
                    store: inner.describe.clone(),
                });
            }
            let now = Instant::now();
            let sleep = match deadline {
                Some(d) if now >= d => {
                    let holder = lock_holder(&client, key).await;
                    return Err(StoreError::LockTimeout {
                        store: inner.describe.clone(),
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
async fn lock_holder(client: &Client, key: i64) -> String {
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
        let held: Result<bool, _> = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'advisory' AND granted AND objsubid = 1
                     AND pid = pg_backend_pid()
                     AND classid::bigint = $1 AND objid::bigint = $2)",
                &[&high, &low],
            )
            .await
            .and_then(|r| r.try_get(0));
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

#[cfg(test)]
mod tests {
    //! Tests against a real server: they read its DSN from `APIRUN_TEST_PG_DSN`
    //! (start one with `.ci/start-postgres.sh`, which prints it). Without it they
    //! fail, unless `APIRUN_TEST_PG_OPTIONAL=1`, which makes them skip. Each test
    //! works in a database of its own, dropped at the end (even on failure).

    use super::super::TableOverrides;
    use super::super::conformance::{
        Harness, conformance_tests, env_of, failed, start, up, vars, versions,
    };
    use super::*;
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};

    const DSN_ENV: &str = "APIRUN_TEST_PG_DSN";
    const OPTIONAL_ENV: &str = "APIRUN_TEST_PG_OPTIONAL";

    // -- Without a server --------------------------------------------------

    #[test]
    fn describe_hides_the_password_and_applies_defaults() {
        let c =
            PgConnect::Dsn("postgres://alice:s3cret@db.example:6543/app?sslmode=disable".into());
        assert_eq!(
            c.describe().unwrap(),
            "postgres://alice@db.example:6543/app"
        );
        assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");

        let c = PgConnect::Dsn("host=h1 port=5433 user=bob password='p w' dbname=x".into());
        assert_eq!(c.describe().unwrap(), "postgres://bob@h1:5433/x");
        assert!(!format!("{c:?}").contains("p w"));

        // Everything left out takes the defaults.
        let c = PgConnect::Dsn("postgresql://".into());
        assert_eq!(
            c.describe().unwrap(),
            "postgres://postgres@localhost:5432/postgres"
        );
        let config = c.to_config().unwrap();
        assert_eq!(
            config.get_ssl_mode(),
            SslMode::Prefer,
            "libpq's default in a DSN"
        );
        assert_eq!(config.get_connect_timeout(), Some(&DEFAULT_CONNECT_TIMEOUT));
        assert!(
            config
                .get_application_name()
                .unwrap()
                .starts_with(&format!("apirun {}@", std::process::id()))
        );

        let fields = PgFields {
            password: Some("hunter2".into()),
            ..PgFields::default()
        };
        let c = PgConnect::Fields(fields.clone());
        assert_eq!(
            c.describe().unwrap(),
            "postgres://postgres@localhost:5432/postgres"
        );
        let config = c.to_config().unwrap();
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        assert_eq!(config.get_password(), Some(&b"hunter2"[..]));
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");

        let c = PgConnect::Fields(PgFields {
            host: Some("10.0.0.5".into()),
            port: Some(6000),
            user: Some("svc".into()),
            dbname: Some("state".into()),
            sslmode: Some("require".into()),
            ..fields
        });
        assert_eq!(c.describe().unwrap(), "postgres://svc@10.0.0.5:6000/state");
        assert_eq!(c.to_config().unwrap().get_ssl_mode(), SslMode::Require);

        let c = PgConnect::Fields(PgFields {
            host: Some("/run/postgresql".into()),
            ..PgFields::default()
        });
        assert_eq!(
            c.describe().unwrap(),
            "postgres://postgres@/postgres?host=/run/postgresql&port=5432"
        );
        let c = PgConnect::Dsn("postgres://u@[::1]:5432/d".into());
        assert_eq!(c.describe().unwrap(), "postgres://u@[::1]:5432/d");
    }

    #[test]
    fn bad_settings_are_rejected_without_echoing_secrets() {
        for mode in ["verify-full", "verify-ca", "allow"] {
            let c = PgConnect::Fields(PgFields {
                sslmode: Some(mode.into()),
                ..PgFields::default()
            });
            let err = c.to_config().unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, StoreError::PostgresConfig { .. }), "{err:?}");
            assert!(msg.contains("store.postgres.sslmode"), "{msg}");
            assert!(msg.contains("not supported"), "{msg}");
        }
        let err = PgConnect::Fields(PgFields {
            sslmode: Some("sometimes".into()),
            ..PgFields::default()
        })
        .to_config()
        .unwrap_err();
        assert!(
            err.to_string().contains("disable, prefer or require"),
            "{err}"
        );

        let err = PgConnect::Dsn("postgres://u:topsecret@h/d?sslmode=verify-full".into())
            .to_config()
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("store.postgres.dsn"), "{msg}");
        assert!(msg.contains("sslmode"), "{msg}");
        assert!(!msg.contains("topsecret"), "{msg}");
        let err = PgConnect::Dsn("host=h password=topsecret bogus=1".into())
            .to_config()
            .unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
        assert!(
            PgConnect::Dsn("postgres://u@h:notaport/d".into())
                .to_config()
                .is_err()
        );
        assert_eq!("Require".parse::<PgSslMode>(), Ok(PgSslMode::Require));
    }

    #[test]
    fn advisory_keys_are_stable_and_distinct() {
        // Fixed forever: another apirun version must compute the same key.
        let k = advisory_key("lock", "public", "schema_migrations");
        assert_eq!(k, advisory_key("lock", "public", "schema_migrations"));
        let digest = Sha256::digest(b"apirun:lock:public.schema_migrations");
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        assert_eq!(k, i64::from_be_bytes(first));
        assert_ne!(k, advisory_key("lock", "public", "p_schema_migrations"));
        assert_ne!(k, advisory_key("lock", "other", "schema_migrations"));
        assert_ne!(k, advisory_key("init", "public", "schema_migrations"));
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
    fn application_name_fits_postgres_limit() {
        let name = application_name();
        assert!(name.len() <= 63, "{name}");
        assert!(name.starts_with("apirun "), "{name}");
    }

    // -- Harness -------------------------------------------------------------

    /// A database of its own for one test; dropped (WITH FORCE) when this is dropped.
    struct TestDb {
        admin: Config,
        name: String,
        fields: PgFields,
    }

    fn admin_dsn() -> Option<String> {
        match std::env::var(DSN_ENV) {
            Ok(dsn) if !dsn.trim().is_empty() => Some(dsn),
            _ if std::env::var(OPTIONAL_ENV).as_deref() == Ok("1") => {
                eprintln!(
                    "SKIPPED: {DSN_ENV} is not set and {OPTIONAL_ENV}=1: PostgreSQL store test skipped"
                );
                None
            }
            _ => panic!(
                "{DSN_ENV} is not set. The PostgreSQL store tests need a server: run \
                 `export {DSN_ENV}=\"$(bash .ci/start-postgres.sh)\"` (it installs and starts \
                 one on 127.0.0.1:55432), or set {OPTIONAL_ENV}=1 to skip them"
            ),
        }
    }

    async fn admin_client(admin: &Config) -> Client {
        let tls = tls_connector().unwrap();
        open_client(admin, &tls).await.unwrap_or_else(|e| {
            panic!(
                "cannot connect to the test server {} ({DSN_ENV}): {}; is it running? \
                 (`bash .ci/start-postgres.sh`)",
                describe_config(admin),
                error_text(&e)
            )
        })
    }

    fn host_text(config: &Config) -> String {
        match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => DEFAULT_HOST.to_owned(),
        }
    }

    impl TestDb {
        async fn new() -> Option<TestDb> {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let dsn = admin_dsn()?;
            let admin = PgConnect::Dsn(dsn).to_config().unwrap();
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let name = format!(
                "apirun_test_{}_{}_{}",
                std::process::id(),
                nanos,
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let client = admin_client(&admin).await;
            client
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap();
            let sslmode = match admin.get_ssl_mode() {
                SslMode::Require => "require",
                SslMode::Disable => "disable",
                _ => "prefer",
            };
            let fields = PgFields {
                host: Some(host_text(&admin)),
                port: admin.get_ports().first().copied(),
                user: admin.get_user().map(str::to_owned),
                password: admin
                    .get_password()
                    .map(|p| String::from_utf8_lossy(p).into_owned()),
                dbname: Some(name.clone()),
                sslmode: Some(sslmode.to_owned()),
            };
            Some(TestDb {
                admin,
                name,
                fields,
            })
        }

        fn connect_settings(&self) -> PgConnect {
            PgConnect::Fields(self.fields.clone())
        }

        /// The key=value DSN of this database.
        fn dsn(&self, sslmode: &str) -> String {
            let q = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
            let f = &self.fields;
            let mut dsn = format!(
                "host={} port={} user={} dbname={} sslmode={sslmode}",
                q(f.host.as_deref().unwrap_or(DEFAULT_HOST)),
                f.port.unwrap_or(DEFAULT_PORT),
                q(f.user.as_deref().unwrap_or(DEFAULT_USER)),
                q(&self.name),
            );
            if let Some(p) = &f.password {
                dsn.push_str(&format!(" password={}", q(p)));
            }
            dsn
        }

        async fn open(&self) -> PostgresStore {
            self.open_with(TableNames::default()).await
        }

        async fn open_with(&self, tables: TableNames) -> PostgresStore {
            PostgresStore::connect(&self.connect_settings(), tables)
                .await
                .unwrap()
        }

        async fn open_init(&self) -> PostgresStore {
            let s = self.open().await;
            s.init().await.unwrap();
            s
        }

        /// A plain connection to this database, for looking at the tables.
        async fn raw(&self) -> Client {
            let config = self.connect_settings().to_config().unwrap();
            admin_client(&config).await
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let admin = self.admin.clone();
            let name = self.name.clone();
            // Async work in Drop: a thread with a runtime of its own.
            let dropped = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async {
                    let tls = tls_connector().map_err(|e| e.to_string())?;
                    let client = open_client(&admin, &tls)
                        .await
                        .map_err(|e| error_text(&e))?;
                    client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await
                        .map_err(|e| error_text(&e))
                })
            })
            .join();
            match dropped {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("warning: cannot drop test database {}: {e}", self.name),
                Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
            }
        }
    }

    /// The conformance suite's store: a database of its own.
    impl Harness for TestDb {
        type S = PostgresStore;

        async fn open(&self) -> PostgresStore {
            TestDb::open(self).await
        }

        async fn execute(&self, sql: &str) {
            self.raw().await.batch_execute(sql).await.unwrap();
        }

        async fn open_read_only(&self) -> PostgresStore {
            PostgresStore::connect_read_only(&self.connect_settings(), TableNames::default())
                .await
                .unwrap()
        }
    }

    mod conformance {
        use super::*;
        conformance_tests!(TestDb::new().await);
    }

    /// `let Some(db) = test_db!() else { return };`
    macro_rules! test_db {
        () => {
            TestDb::new().await
        };
    }

    async fn column_types(c: &Client, table: &str) -> Vec<(String, String)> {
        c.query(
            "SELECT column_name::text, data_type::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    }

    // -- With a server -------------------------------------------------------

    #[tokio::test]
    async fn init_creates_tables_and_is_idempotent() {
        let Some(db) = test_db!() else { return };
        let s = db.open().await;
        s.init().await.unwrap();
        s.init().await.unwrap();
        assert_eq!(
            s.describe(),
            format!(
                "postgres://{}@{}:{}/{}",
                db.fields.user.as_deref().unwrap_or("postgres"),
                db.fields.host.as_deref().unwrap_or("localhost"),
                db.fields.port.unwrap_or(5432),
                db.name
            )
        );
        assert_eq!(s.schema(), "public");
        let c = db.raw().await;
        let tables: Vec<String> = c
            .query(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = 'public' ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(
            tables,
            [
                "migration_runs",
                "schema_migrations",
                "schema_migrations_meta",
                "stored_env"
            ]
        );
        let sm = column_types(&c, "schema_migrations").await;
        assert_eq!(sm[0], ("version".to_owned(), "bigint".to_owned()));
        let mr = column_types(&c, "migration_runs").await;
        let ty = |name: &str| {
            mr.iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.as_str())
                .unwrap_or("missing")
        };
        assert_eq!(ty("id"), "bigint");
        assert_eq!(ty("version"), "bigint");
        assert_eq!(ty("failed"), "boolean");
        assert_eq!(ty("ran_at"), "timestamp with time zone");
        for col in [
            "name",
            "direction",
            "state",
            "status_code",
            "body",
            "env_json",
            "error",
            "started_at",
            "duration_ms",
            "resolved_as",
            "resolved_at",
        ] {
            assert_ne!(ty(col), "missing", "{col}");
        }
        let v: String = c
            .query_one(
                "SELECT value FROM schema_migrations_meta WHERE key = 'schema_version'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, STORE_SCHEMA_VERSION.to_string());
        assert!(s.applied().await.unwrap().is_empty());
        assert!(s.runs(None).await.unwrap().is_empty());
        assert_eq!(s.dirty().await.unwrap(), None);
    }

    #[tokio::test]
    async fn go_compatible_failed_and_ran_at_columns() {
        let Some(db) = test_db!() else { return };
        let s = db.open_init().await;
        up(&s, 1, &[]).await;
        let id = s.begin_run(&start(2, Direction::Up)).await.unwrap();
        s.finish_failed(id, &failed("boom")).await.unwrap();
        s.begin_run(&start(3, Direction::Up)).await.unwrap();
        let rows = db
            .raw()
            .await
            .query(
                "SELECT version, failed, direction, ran_at > now() - interval '1 minute'
                 FROM migration_runs ORDER BY id",
                &[],
            )
            .await
            .unwrap();
        let flags: Vec<(i64, bool, String, bool)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        // Running counts as failed for Go users: it has not succeeded.
        let want = [(1, false), (2, true), (3, true)];
        for ((v, f, d, recent), (wv, wf)) in flags.iter().zip(want) {
            assert_eq!((*v, *f, d.as_str(), *recent), (wv, wf, "up", true));
        }
    }

    #[tokio::test]
    async fn operations_before_init_fail_naming_the_store_and_operation() {
        let Some(db) = test_db!() else { return };
        let s = db.open().await;
        let err = s.applied().await.unwrap_err();
        assert!(matches!(err, StoreError::Postgres { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("PostgreSQL store {}", s.describe())),
            "{msg}"
        );
        assert!(msg.contains(&db.name), "{msg}");
        assert!(msg.contains("read the applied versions"), "{msg}");
        assert!(
            msg.contains("\"schema_migrations\" does not exist"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn connection_failures_name_the_store_without_the_password() {
        // Nothing listens on port 1.
        let c = PgConnect::Fields(PgFields {
            host: Some("127.0.0.1".into()),
            port: Some(1),
            password: Some("sekrit".into()),
            ..PgFields::default()
        });
        let err = PostgresStore::connect(&c, TableNames::default())
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "PostgreSQL store postgres://postgres@127.0.0.1:1/postgres: cannot connect: "
            ),
            "{msg}"
        );
        assert!(msg.contains("refused"), "{msg}");
        assert!(!msg.contains("sekrit"), "{msg}");
    }

    #[tokio::test]
    async fn table_prefix_and_explicit_names_share_one_database() {
        let Some(db) = test_db!() else { return };
        let a_tables = TableNames::new(Some("infra"), &TableOverrides::default()).unwrap();
        let b_tables = TableNames::new(
            None,
            &TableOverrides {
                migration_runs: Some("svc_runs".into()),
                schema_migrations: Some("Svc_Versions".into()),
                stored_env: Some("order".into()), // a keyword: quoted everywhere
            },
        )
        .unwrap();
        let a = db.open_with(a_tables).await;
        let b = db.open_with(b_tables).await;
        a.init().await.unwrap();
        b.init().await.unwrap();
        up(&a, 1, &[("vpc_id", "vpc-1")]).await;
        up(&b, 7, &[("k", "v")]).await;
        let id = b.begin_run(&start(8, Direction::Up)).await.unwrap();
        b.finish_failed(id, &failed("x")).await.unwrap();
        assert_eq!(versions(&a.applied().await.unwrap()), [1]);
        assert_eq!(versions(&b.applied().await.unwrap()), [7]);
        assert_eq!(
            env_of(&a.stored_env().await.unwrap()),
            [(1, "vpc_id", "vpc-1")]
        );
        assert_eq!(env_of(&b.stored_env().await.unwrap()), [(7, "k", "v")]);
        assert_eq!(a.dirty().await.unwrap(), None);
        assert_eq!(b.dirty().await.unwrap().unwrap().version, 8);
        b.resolve(8, Resolution::RolledBack).await.unwrap();

        let c = db.raw().await;
        for t in [
            "infra_schema_migrations_meta",
            "Svc_Versions_meta",
            "order",
            "svc_runs",
        ] {
            let n: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = $1",
                    &[&t],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, 1, "{t}");
        }
        let n: i64 = c
            .query_one("SELECT COUNT(*) FROM infra_migration_runs", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
        // Different table sets lock independently.
        assert_ne!(a.lock_key(), b.lock_key());
        let la = a.lock(Duration::ZERO).await.unwrap();
        let lb = b.lock(Duration::ZERO).await.unwrap();
        la.release().await.unwrap();
        lb.release().await.unwrap();
    }

    #[tokio::test]
    async fn lock_excludes_a_second_store_names_the_holder_and_is_freed_on_drop() {
        let Some(db) = test_db!() else { return };
        let a = db.open_init().await;
        let b = db.open_init().await;
        let held = a.lock(Duration::from_secs(5)).await.unwrap();
        let me = format!("{}@", std::process::id());
        assert!(held.holder().starts_with(&me), "{}", held.holder());

        let started = Instant::now();
        let err = b.lock(Duration::from_millis(300)).await.unwrap_err();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        let msg = err.to_string();
        match &err {
            StoreError::LockTimeout { holder, store, .. } => {
                assert!(holder.starts_with(&me), "{holder}");
                assert!(holder.contains(" since "), "{holder}");
                assert!(holder.contains("(this process)"), "{holder}");
                assert!(holder.contains("PostgreSQL session pid "), "{holder}");
                assert_eq!(store, &a.describe());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(msg.contains("0.3s"), "{msg}");
        // The same store object cannot take it twice either (a second session).
        assert!(a.lock(Duration::ZERO).await.is_err());

        // The holder is visible to operators in pg_locks / pg_stat_activity.
        let c = db.raw().await;
        let app: String = c
            .query_one(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                 WHERE l.locktype = 'advisory' AND l.granted
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
                &[&a.lock_key()],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(app, application_name());

        // The lock connection tells the server to notice a vanished holder quickly.
        let guard = PgLockGuard::acquire(&b.inner, Duration::ZERO).await;
        assert!(guard.is_err(), "held by a");
        drop(held);
        let guard = PgLockGuard::acquire(&b.inner, Duration::from_secs(10))
            .await
            .unwrap();
        let idle: String = guard
            .client
            .as_ref()
            .unwrap()
            .query_one("SHOW tcp_keepalives_idle", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(idle, "30");
        let held = Box::new(guard);

        // Dropping the guard closes its connection, which frees the lock.
        drop(held);
        let again = b.lock(Duration::from_secs(10)).await.unwrap();
        assert!(a.lock(Duration::from_millis(50)).await.is_err());
        again.release().await.unwrap();
        // Released explicitly: free at once.
        let third = a.lock(Duration::ZERO).await.unwrap();
        drop(third);
        b.lock(Duration::from_secs(10)).await.unwrap();
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_the_holder_lets_go() {
        let Some(db) = test_db!() else { return };
        let a = db.open_init().await;
        let b = db.open_init().await;
        let held = a.lock(Duration::ZERO).await.unwrap();
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            held.release().await.unwrap();
        });
        let got = b.lock(Duration::from_secs(10)).await;
        assert!(got.is_ok(), "{got:?}");
        releaser.await.unwrap();
    }

    #[tokio::test]
    async fn lock_holder_that_is_not_apirun_is_described() {
        let Some(db) = test_db!() else { return };
        let s = db.open_init().await;
        let c = db.raw().await;
        c.batch_execute("SET application_name = 'psql'")
            .await
            .unwrap();
        c.execute("SELECT pg_advisory_lock($1::bigint)", &[&s.lock_key()])
            .await
            .unwrap();
        let err = s.lock(Duration::from_millis(50)).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a session that is not apirun"), "{msg}");
        assert!(msg.contains("application_name \"psql\""), "{msg}");
        drop(c);
        s.lock(Duration::from_secs(10)).await.unwrap();
    }

    const CHILD_ENV: &str = "APIRUN_PG_LOCK_TEST_CHILD";

    /// Not a test on its own: when re-executed by
    /// `lock_is_freed_when_the_holding_process_dies` with CHILD_ENV set
    /// (`<dsn>\n<ready file>`), this takes the lock and holds it until killed.
    #[tokio::test]
    async fn lock_child_process_helper() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        let (dsn, ready) = spec.split_once('\n').unwrap();
        let s = PostgresStore::connect(&PgConnect::Dsn(dsn.to_owned()), TableNames::default())
            .await
            .unwrap();
        let guard = s.lock(Duration::ZERO).await.unwrap();
        std::fs::write(ready, guard.holder()).unwrap();
        // Held until the parent kills us (bounded, in case the parent died).
        tokio::time::sleep(Duration::from_secs(60)).await;
    }

    #[tokio::test]
    async fn lock_is_freed_when_the_holding_process_dies() {
        let Some(db) = test_db!() else { return };
        let s = db.open_init().await;
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let module = module_path!();
        let test_name = match module.split_once("::") {
            Some((_, rest)) => format!("{rest}::lock_child_process_helper"),
            None => "lock_child_process_helper".to_owned(),
        };
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                test_name.as_str(),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(
                CHILD_ENV,
                format!("{}\n{}", db.dsn("disable"), ready.display()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !ready.exists() || std::fs::read_to_string(&ready).unwrap().is_empty() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("child exited early: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "child never took the lock"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let child_holder = std::fs::read_to_string(&ready).unwrap();
        let child_who = format!("{}@", child.id());
        assert!(child_holder.starts_with(&child_who), "{child_holder}");

        let err = s.lock(Duration::from_millis(200)).await.unwrap_err();
        match &err {
            StoreError::LockTimeout { holder, .. } => {
                assert!(holder.starts_with(&child_who), "{holder}");
                assert!(!holder.contains("this process"), "{holder}");
                assert!(holder.contains("pg_terminate_backend("), "{holder}");
            }
            other => panic!("unexpected {other:?}"),
        }

        // Kill -9: no destructor runs in the child; the server must release the lock
        // when the child's connection closes.
        child.kill().unwrap();
        child.wait().unwrap();
        let guard = s.lock(Duration::from_secs(10)).await;
        assert!(guard.is_ok(), "{guard:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_init_on_a_fresh_database_succeeds() {
        let Some(db) = test_db!() else { return };
        for round in 0..3 {
            let tables =
                TableNames::new(Some(&format!("r{round}")), &TableOverrides::default()).unwrap();
            let mut stores = Vec::new();
            for _ in 0..4 {
                stores.push(db.open_with(tables.clone()).await);
            }
            let tasks: Vec<_> = stores
                .iter()
                .cloned()
                .map(|s| tokio::spawn(async move { s.init().await }))
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            up(&stores[0], 1, &[]).await;
            assert_eq!(versions(&stores[3].applied().await.unwrap()), [1]);
        }
    }

    #[tokio::test]
    async fn reconnects_after_the_server_closes_the_connection() {
        let Some(db) = test_db!() else { return };
        let s = db.open_init().await;
        up(&s, 1, &[]).await;
        let pid: i32 = s
            .client()
            .await
            .unwrap()
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        let terminated: bool = db
            .raw()
            .await
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap()
            .get(0);
        assert!(terminated);
        // The call that finds the connection dead fails (or reconnects, if the
        // close was already seen); the next one works either way.
        let started = Instant::now();
        loop {
            if let Ok(a) = s.applied().await {
                assert_eq!(versions(&a), [1]);
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no reconnect");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let new_pid: i32 = s
            .client()
            .await
            .unwrap()
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        assert_ne!(pid, new_pid);
    }

    #[tokio::test]
    async fn sslmodes_and_dsn_forms() {
        let Some(db) = test_db!() else { return };
        let ssl_on: String = db
            .raw()
            .await
            .query_one("SHOW ssl", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            ssl_on, "on",
            "the test server has TLS off; `.ci/start-postgres.sh` turns it on"
        );
        let in_tls = |s: PostgresStore| async move {
            let row = s
                .client()
                .await
                .unwrap()
                .query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap();
            row.get::<_, bool>(0)
        };
        for (mode, want) in [("disable", false), ("prefer", true), ("require", true)] {
            let s = PostgresStore::connect(&PgConnect::Dsn(db.dsn(mode)), TableNames::default())
                .await
                .unwrap();
            s.init().await.unwrap();
            assert_eq!(in_tls(s.clone()).await, want, "{mode}");
            // The lock connection uses the same settings.
            s.lock(Duration::ZERO)
                .await
                .unwrap()
                .release()
                .await
                .unwrap();

            let s = PostgresStore::connect(
                &PgConnect::Fields(PgFields {
                    sslmode: Some(mode.to_owned()),
                    ..db.fields.clone()
                }),
                TableNames::default(),
            )
            .await
            .unwrap();
            assert_eq!(in_tls(s).await, want, "{mode}");
        }
        // The URL form.
        let f = &db.fields;
        let url = format!(
            "postgres://{}@{}:{}/{}?sslmode=require",
            f.user.as_deref().unwrap_or("postgres"),
            f.host.as_deref().unwrap_or("localhost"),
            f.port.unwrap_or(5432),
            db.name
        );
        if f.password.is_none() {
            let s = PostgresStore::connect(&PgConnect::Dsn(url), TableNames::default())
                .await
                .unwrap();
            assert!(in_tls(s).await);
        }
    }

    /// The Go tool's PostgreSQL layouts (its `Ensure` statements and its older goose
    /// migrations), then opened by us: rows are kept and read, and a legacy failed
    /// run with nothing after it shows as dirty.
    #[tokio::test]
    async fn upgrades_the_go_tool_tables() {
        let Some(db) = test_db!() else { return };
        for variant in ["ensure", "goose"] {
            let c = db.raw().await;
            c.batch_execute(
                "DROP TABLE IF EXISTS schema_migrations, migration_runs, stored_env,
                                      schema_migrations_meta",
            )
            .await
            .unwrap();
            let ddl = if variant == "ensure" {
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);
                 CREATE TABLE migration_runs (id SERIAL PRIMARY KEY, version INTEGER NOT NULL,
                    direction TEXT NOT NULL, status_code INTEGER NOT NULL, body TEXT NULL,
                    env_json TEXT NULL, failed BOOLEAN NOT NULL DEFAULT FALSE,
                    ran_at TIMESTAMPTZ NOT NULL);
                 CREATE TABLE stored_env (version INTEGER NOT NULL, name TEXT NOT NULL,
                    value TEXT NOT NULL, PRIMARY KEY(version, name));
                 INSERT INTO schema_migrations VALUES (1);
                 INSERT INTO migration_runs (version, direction, status_code, env_json, failed, ran_at)
                    VALUES (1, 'up', 201, '{\"id\":\"5\"}', FALSE, '2025-01-01T00:00:00Z'),
                           (2, 'up', 500, NULL, TRUE, '2025-01-02T00:00:00Z');
                 INSERT INTO stored_env VALUES (1, 'id', '5');"
            } else {
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,
                    applied_at TIMESTAMPTZ NOT NULL);
                 CREATE TABLE migration_runs (id BIGSERIAL PRIMARY KEY, version INTEGER NOT NULL,
                    direction TEXT NOT NULL, status_code INTEGER NOT NULL, body TEXT,
                    env_json TEXT, ran_at TIMESTAMPTZ NOT NULL);
                 CREATE TABLE stored_env (id BIGSERIAL PRIMARY KEY, version INTEGER NOT NULL,
                    name TEXT NOT NULL, value TEXT NOT NULL);
                 INSERT INTO schema_migrations VALUES (1, '2025-01-01T00:00:00Z');
                 INSERT INTO migration_runs (version, direction, status_code, env_json, ran_at)
                    VALUES (1, 'up', 201, '{\"id\":\"5\"}', '2025-01-01T00:00:00Z');
                 INSERT INTO stored_env (version, name, value)
                    VALUES (1, 'id', 'old'), (1, 'id', '5');"
            };
            c.batch_execute(ddl).await.unwrap();
            let s = db.open_init().await;
            s.init().await.unwrap(); // idempotent after an upgrade too
            let a = s.applied().await.unwrap();
            assert_eq!(versions(&a), [1], "{variant}");
            if variant == "goose" {
                assert_eq!(a[0].applied_at, "2025-01-01T00:00:00.000Z");
            } else {
                assert_eq!(a[0].applied_at, "");
            }
            assert_eq!(
                env_of(&s.stored_env().await.unwrap()),
                [(1, "id", "5")],
                "{variant}"
            );
            let runs = s.runs(None).await.unwrap();
            let oldest = runs.last().unwrap();
            assert_eq!(oldest.state, RunState::Succeeded, "{variant}");
            assert_eq!(oldest.started_at, "2025-01-01T00:00:00.000Z");
            assert_eq!(oldest.env_json.as_deref(), Some("{\"id\":\"5\"}"));
            if variant == "ensure" {
                assert_eq!(runs.len(), 2);
                let d = s.dirty().await.unwrap().unwrap();
                assert_eq!((d.version, d.state), (2, RunState::Failed));
            } else {
                assert_eq!(s.dirty().await.unwrap(), None);
            }
            // New runs continue after the old ids, with versions beyond INTEGER.
            let id = up(&s, 2, &[("x", "y")]).await;
            assert!(id.0 > runs[0].id.0);
            assert_eq!(s.dirty().await.unwrap(), None);
            up(&s, 20261127093000, &[("big", "1")]).await;
            assert_eq!(
                versions(&s.applied().await.unwrap()),
                [1, 2, 20261127093000]
            );
            let seq_type: String = c
                .query_one(
                    "SELECT data_type::text FROM information_schema.sequences
                     WHERE sequence_name = 'migration_runs_id_seq'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(seq_type, "bigint", "{variant}");

            // The Go tool can still write its rows; we read their state from `failed`.
            c.execute(
                "INSERT INTO migration_runs (version, direction, status_code, body, env_json, failed, ran_at)
                 VALUES (3, 'up', 0, NULL, NULL, TRUE, now())",
                &[],
            )
            .await
            .unwrap();
            c.execute(
                "INSERT INTO schema_migrations (version) VALUES (9) ON CONFLICT DO NOTHING",
                &[],
            )
            .await
            .unwrap();
            c.execute(
                "INSERT INTO stored_env (version, name, value) VALUES (9, 'n', 'v')",
                &[],
            )
            .await
            .unwrap();
            let d = s.dirty().await.unwrap().unwrap();
            assert_eq!((d.version, d.state), (3, RunState::Failed), "{variant}");
            assert_eq!(s.runs(Some(1)).await.unwrap()[0].status_code, None);
            assert!(versions(&s.applied().await.unwrap()).contains(&9));
            assert!(
                env_of(&s.stored_env().await.unwrap()).contains(&(9, "n", "v")),
                "{variant}"
            );
        }
    }

    #[tokio::test]
    async fn refuses_a_foreign_table_with_our_name() {
        let Some(db) = test_db!() else { return };
        let s = db.open().await;
        let c = db.raw().await;
        c.batch_execute("CREATE TABLE stored_env (key TEXT, data BYTEA)")
            .await
            .unwrap();
        let err = s.init().await.unwrap_err();
        assert!(matches!(err, StoreError::ForeignTable { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("stored_env") && msg.contains("table_prefix"),
            "{msg}"
        );
        // Nothing was half-created: the transaction rolled back.
        let n: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM information_schema.tables
                 WHERE table_name IN ('schema_migrations', 'schema_migrations_meta')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0);
        // The store's connection is fine afterwards.
        c.batch_execute("DROP TABLE stored_env").await.unwrap();
        s.init().await.unwrap();
    }
}

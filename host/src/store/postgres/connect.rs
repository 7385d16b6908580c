//! Where the PostgreSQL store lives: the settings (`store.postgres`, one
//! [`PostgresConfig`] whose `Debug` hides the password and the DSN), the
//! `tokio_postgres` configuration built from them, the description used in
//! messages (never with the password), and opening a connection.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

pub use crate::config::PostgresConfig;
use crate::store::StoreError;
use crate::store::lock::holder_description;
use crate::template::TemplateText;

pub const DEFAULT_HOST: &str = "localhost";
pub const DEFAULT_PORT: u16 = 5432;
pub const DEFAULT_USER: &str = "postgres";
pub const DEFAULT_DBNAME: &str = "postgres";
/// Applied when the settings give no `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Where the PostgreSQL store lives: `store.postgres.dsn`, or the separate fields.
#[derive(Clone, PartialEq, Eq)]
pub enum PgConnect {
    /// `postgres://user:pass@host:port/db?sslmode=disable` (or `postgresql://`), or
    /// the key=value form `host=h port=5432 user=u password=p dbname=d sslmode=require`.
    /// Parts it leaves out take the same defaults as the fields, except `sslmode`,
    /// which is `prefer` as in libpq.
    Dsn(String),
    /// `store.postgres.host/port/user/password/dbname/sslmode` (its `dsn` is not
    /// read); unset fields take the defaults (localhost, 5432, postgres, no
    /// password, postgres, disable). Boxed: its strings are templates as
    /// loaded (rendered by then), much larger than a DSN.
    Fields(Box<PostgresConfig>),
}

impl From<&PostgresConfig> for PgConnect {
    /// The DSN when one is given (it wins over the fields), else the fields.
    fn from(config: &PostgresConfig) -> PgConnect {
        match &config.dsn {
            Some(dsn) => PgConnect::Dsn(dsn.to_string()),
            None => PgConnect::Fields(Box::new(config.clone())),
        }
    }
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
                let nonempty = |s: &Option<TemplateText>| {
                    s.as_deref()
                        .filter(|s| !s.trim().is_empty())
                        .map(str::to_string)
                };
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

pub(super) fn dsn_config(dsn: &str) -> Result<Config, StoreError> {
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
pub(super) fn describe_config(config: &Config) -> String {
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
pub(super) fn application_name() -> String {
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
pub(super) fn process_identity() -> String {
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

/// Connect and spawn the connection's I/O task on the current runtime. The task
/// ends when the [`Client`] is dropped (closing the session) or the server goes away.
pub(super) async fn open_client(
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

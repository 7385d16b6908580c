//! Tests against a real server: they read its DSN from `APIRUN_TEST_PG_DSN`
//! (start one with `.ci/start-postgres.sh`, which prints it). Without it they
//! fail, unless `APIRUN_TEST_PG_OPTIONAL=1`, which makes them skip. Each test
//! works in a database of its own, dropped at the end (even on failure).
//!
//! Over 800 lines on purpose: one file, so that every PostgreSQL-specific
//! case (settings, TLS, the advisory lock and its holder, reconnects, the Go
//! tool's PostgreSQL layouts) shares the `TestDb` harness; the contract both
//! backends share is `store/conformance.rs`, not repeated here.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio_postgres::config::{Host, SslMode};

use super::connect::application_name;
use super::*;
use crate::store::conformance::{
    Harness, applied, conformance_tests, env_of, failed, go_rows_survive_the_upgrade,
    go_rows_written_after_the_upgrade_read, ok, start, up, versions,
};
use crate::store::{Direction, STORE_SCHEMA_VERSION, TableOverrides};

const DSN_ENV: &str = "APIRUN_TEST_PG_DSN";
const OPTIONAL_ENV: &str = "APIRUN_TEST_PG_OPTIONAL";

// -- Without a server --------------------------------------------------

#[test]
fn describe_hides_the_password_and_applies_defaults() {
    let c = PgConnect::Dsn("postgres://alice:s3cret@db.example:6543/app?sslmode=disable".into());
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

    let fields = PostgresConfig {
        password: Some("hunter2".into()),
        ..PostgresConfig::default()
    };
    let c = PgConnect::Fields(Box::new(fields.clone()));
    assert_eq!(
        c.describe().unwrap(),
        "postgres://postgres@localhost:5432/postgres"
    );
    let config = c.to_config().unwrap();
    assert_eq!(config.get_ssl_mode(), SslMode::Disable);
    assert_eq!(config.get_password(), Some(&b"hunter2"[..]));
    assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");

    let c = PgConnect::Fields(Box::new(PostgresConfig {
        host: Some("10.0.0.5".into()),
        port: Some(6000),
        user: Some("svc".into()),
        dbname: Some("state".into()),
        sslmode: Some("require".into()),
        ..fields
    }));
    assert_eq!(c.describe().unwrap(), "postgres://svc@10.0.0.5:6000/state");
    assert_eq!(c.to_config().unwrap().get_ssl_mode(), SslMode::Require);

    let c = PgConnect::Fields(Box::new(PostgresConfig {
        host: Some("/run/postgresql".into()),
        ..PostgresConfig::default()
    }));
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
        let c = PgConnect::Fields(Box::new(PostgresConfig {
            sslmode: Some(mode.into()),
            ..PostgresConfig::default()
        }));
        let err = c.to_config().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::PostgresConfig { .. }), "{err:?}");
        assert!(msg.contains("store.postgres.sslmode"), "{msg}");
        assert!(msg.contains("not supported"), "{msg}");
    }
    let err = PgConnect::Fields(Box::new(PostgresConfig {
        sslmode: Some("sometimes".into()),
        ..PostgresConfig::default()
    }))
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
    fields: PostgresConfig,
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
        let fields = PostgresConfig {
            dsn: None,
            host: Some(host_text(&admin).into()),
            port: admin.get_ports().first().copied(),
            user: admin.get_user().map(Into::into),
            password: admin
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned().into()),
            dbname: Some(name.clone().into()),
            sslmode: Some(sslmode.into()),
        };
        Some(TestDb {
            admin,
            name,
            fields,
        })
    }

    fn connect_settings(&self) -> PgConnect {
        PgConnect::Fields(Box::new(self.fields.clone()))
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
    let c = PgConnect::Fields(Box::new(PostgresConfig {
        host: Some("127.0.0.1".into()),
        port: Some(1),
        password: Some("sekrit".into()),
        ..PostgresConfig::default()
    }));
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
    let spec = format!("{}\n{}", db.dsn("disable"), ready.display());
    let mut child = crate::store::lock::spawn_test_child(module_path!(), CHILD_ENV, spec);
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

/// The record of a successful `up` sends its writes with the read of the run
/// (one round trip) and commits only if the run passes the check. A refused
/// one must not leave its transaction open on the connection until the
/// store's next use: that transaction holds the run's row lock, and another
/// process finishing the run (`--retry-interrupted` after this one gave up)
/// would wait for it. The timeout only turns such a hang into a failure.
#[tokio::test]
async fn a_refused_finish_leaves_no_transaction_open_behind_it() {
    let Some(db) = test_db!() else { return };
    let s = db.open_init().await;
    let id = s.begin_run(&start(2, Direction::Up)).await.unwrap();
    let err = s
        .finish_up_success(id, &ok(201, &[("k", "v")]), &applied(3), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::RunMismatch { .. }), "{err:?}");

    let other = db.open().await;
    let finished = tokio::time::timeout(
        Duration::from_secs(60),
        other.finish_failed(id, &failed("given up")),
    )
    .await;
    assert!(matches!(finished, Ok(Ok(()))), "{finished:?}");
    assert!(versions(&other.applied().await.unwrap()).is_empty());
    assert_eq!(other.runs(None).await.unwrap()[0].state, RunState::Failed);
    // The refused store's connection is usable and out of any transaction.
    assert!(versions(&s.applied().await.unwrap()).is_empty());
    up(&s, 2, &[]).await;
    assert_eq!(versions(&other.applied().await.unwrap()), [2]);
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
            &PgConnect::Fields(Box::new(PostgresConfig {
                sslmode: Some(mode.into()),
                ..db.fields.clone()
            })),
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
        let a = s.applied().await.unwrap();
        if variant == "goose" {
            assert_eq!(a[0].applied_at, "2025-01-01T00:00:00.000Z");
        } else {
            assert_eq!(a[0].applied_at, "");
        }
        go_rows_survive_the_upgrade(&s, variant, "2025-01-01T00:00:00.000Z").await;
        // Versions beyond INTEGER.
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
        go_rows_written_after_the_upgrade_read(&s, variant).await;
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

//! Tests of the SQLite backend's own behaviour (PRAGMAs, files, the Go tool's
//! SQLite layouts); the shared contract is `store::conformance`.

use super::super::TableOverrides;
use super::super::conformance::{
    Harness, applied, conformance_tests, env_of, failed, go_rows_survive_the_upgrade,
    go_rows_written_after_the_upgrade_read, ok, start, up, vars, versions,
};
use super::*;
use crate::store::Direction;

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

/// The log is checkpointed every `WAL_AUTOCHECKPOINT_PAGES` pages, and then
/// reused from its start: after many migrations the `-wal` file has stayed
/// about that size instead of growing to SQLite's default 1,000 pages.
#[tokio::test]
async fn the_wal_stays_small_and_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_init(dir.path()).await;
    let page_size: i64 = s
        .with_conn(|c, _| Ok(c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap()))
        .await
        .unwrap();
    for v in 1..=300 {
        up(&s, v, &[("id", "abc123")]).await;
    }
    let wal = dir.path().join("apirun.db-wal");
    let pages = std::fs::metadata(&wal).unwrap().len() / page_size as u64;
    // A frame is a page plus a 24-byte header; one migration writes a handful.
    let limit = (WAL_AUTOCHECKPOINT_PAGES as u64) * 3 / 2;
    assert!(
        pages <= limit,
        "{} is {pages} pages after 300 migrations (limit {limit})",
        wal.display()
    );
    assert_eq!(s.applied().await.unwrap().len(), 300);
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
        go_rows_survive_the_upgrade(&s, variant, "2025-01-01T00:00:00Z").await;
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
        go_rows_written_after_the_upgrade_read(&s, variant).await;
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

/// Which thread runs a call: the caller's on a current-thread runtime (or with
/// `CallThread::Caller`), another one on a multi-threaded runtime (or with
/// `BlockingPool` / `Dedicated`); every mode works end to end on both kinds.
#[test]
fn calls_run_where_the_mode_says_on_both_runtime_kinds() {
    use tokio::runtime::Builder;
    let runtimes = [
        (
            "current_thread",
            Builder::new_current_thread().enable_all().build(),
        ),
        (
            "multi_thread",
            Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
        ),
    ];
    for (flavor, rt) in runtimes {
        let rt = rt.unwrap();
        for calls in [
            CallThread::Auto,
            CallThread::BlockingPool,
            CallThread::Caller,
            CallThread::Dedicated,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let options = SqliteOptions {
                calls,
                ..SqliteOptions::default()
            };
            let s =
                SqliteStore::open_with(&dir.path().join("a.db"), TableNames::default(), options)
                    .unwrap();
            rt.block_on(async {
                s.init().await.unwrap();
                up(&s, 1, &[("k", "v")]).await;
                let caller = std::thread::current().id();
                let ran_on = s
                    .with_conn(|_, _| Ok(std::thread::current().id()))
                    .await
                    .unwrap();
                let inline = match calls {
                    CallThread::Auto => flavor == "current_thread",
                    CallThread::Caller => true,
                    CallThread::BlockingPool | CallThread::Dedicated => false,
                };
                assert_eq!(ran_on == caller, inline, "{flavor} {calls:?}");
                assert_eq!(versions(&s.applied().await.unwrap()), [1]);
                assert_eq!(env_of(&s.stored_env().await.unwrap()), [(1, "k", "v")]);
            });
        }
    }
}

/// Process totals: CPU time (user + system) and context switches (voluntary +
/// involuntary) so far, over all threads.
#[cfg(unix)]
fn cpu_and_switches() -> (f64, i64) {
    // SAFETY: getrusage writes into the struct we hand it and reads nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        secs(u.ru_utime) + secs(u.ru_stime),
        (u.ru_nvcsw + u.ru_nivcsw) as i64,
    )
}

/// What one store call costs on each thread choice and runtime kind (the
/// hop between threads is what differs): `begin_run` + `finish_up_success`,
/// the two calls of a migration, with `synchronous=NORMAL` so that no fsync
/// hides the hop. Prints wall time, CPU time and context switches per
/// migration (the last is what a hop costs, and the figure least disturbed by
/// other load); modes are interleaved over several rounds and the median round
/// is printed. Run with
/// `cargo test --release -p apirun --lib -- --ignored call_cost --nocapture`
/// (`APIRUN_BENCH_DIR` picks the folder; /tmp may be tmpfs).
#[cfg(unix)]
#[test]
#[ignore = "benchmark: prints timings"]
fn call_cost() {
    use tokio::runtime::Builder;
    const N: u64 = 500;
    const ROUNDS: usize = 7;
    let base = std::env::var_os("APIRUN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::current_dir().unwrap());
    let modes = [
        CallThread::BlockingPool,
        CallThread::Dedicated,
        CallThread::Caller,
    ];
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for flavor in ["current_thread", "multi_thread"] {
        let rt = match flavor {
            "current_thread" => Builder::new_current_thread().enable_all().build(),
            _ => Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
        }
        .unwrap();
        // Per mode: wall us, CPU us, switches, per migration, one entry per round.
        let mut figures: Vec<[Vec<f64>; 3]> = vec![Default::default(); modes.len()];
        for _ in 0..ROUNDS {
            for (m, calls) in modes.iter().enumerate() {
                let dir = tempfile::tempdir_in(&base).unwrap();
                let options = SqliteOptions {
                    synchronous: Synchronous::Normal,
                    calls: *calls,
                    ..SqliteOptions::default()
                };
                let path = dir.path().join("b.db");
                let s = SqliteStore::open_with(&path, TableNames::default(), options).unwrap();
                let (wall, cpu, switches) = rt.block_on(async {
                    s.init().await.unwrap();
                    let env = vars(&[("user_id", "12345")]);
                    let outcome = RunOutcome {
                        env: env.clone(),
                        ..ok(201, &[])
                    };
                    let (cpu0, sw0) = cpu_and_switches();
                    let t = Instant::now();
                    for v in 1..=N {
                        let id = s.begin_run(&start(v, Direction::Up)).await.unwrap();
                        let a = applied(v);
                        s.finish_up_success(id, &outcome, &a, &env).await.unwrap();
                    }
                    let (cpu1, sw1) = cpu_and_switches();
                    (t.elapsed().as_secs_f64(), cpu1 - cpu0, sw1 - sw0)
                });
                let per = |x: f64| x / N as f64;
                figures[m][0].push(per(wall * 1e6));
                figures[m][1].push(per(cpu * 1e6));
                figures[m][2].push(per(switches as f64));
            }
        }
        for (m, calls) in modes.iter().enumerate() {
            let [wall, cpu, switches] = &mut figures[m];
            println!(
                "{flavor} {calls:?}: per migration (2 calls), median of {ROUNDS} rounds of {N}: \
                 wall {:.0} us, CPU {:.0} us, {:.1} context switches",
                median(wall),
                median(cpu),
                median(switches)
            );
        }
    }
}

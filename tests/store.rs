//! End-to-end: state you can trust (docs/store.md). The real `apirun`
//! binary, the demo API on 127.0.0.1, SQLite files and a real PostgreSQL
//! server (each PostgreSQL test in a database of its own): concurrent runs,
//! the store lock and its timeout, `kill -9` mid-request, drift, history,
//! `store.disabled`, table prefixes.

mod store_support;
mod support;

use support::DemoApiAdmin as _;

use std::time::Duration;

use store_support::{
    Backend, PgDb, config, finish, items, post_migration, spawn_apirun, sqlite_file, status_json,
    wait_until,
};
use support::{Api, Project};

/// Three slow migrations (200 ms each), so two runs started together overlap.
fn slow_project(api: &Api, backend: &Backend, store_extra: &str) -> Project {
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(&api.url(), &backend.store_block(store_extra)),
    );
    for (i, c) in ["m1", "m2", "m3"].iter().enumerate() {
        project.write(
            &format!("migration/00{}_{c}.yaml", i + 1),
            &post_migration(c, "?_delay_ms=200"),
        );
    }
    project
}

fn concurrent_up_applies_each_migration_once(backend: Backend) {
    let api = Api::start();
    let project = slow_project(&api, &backend, "");
    let mut a = spawn_apirun(&project, &["up"], &[]);
    let mut b = spawn_apirun(&project, &["up"], &[]);
    // They overlap: when the first POST arrives, neither has exited (the one
    // not sending waits for the lock, held until the sender has done all three).
    wait_until(Duration::from_secs(30), "the first POST", || {
        !api.requests_to("POST", "/api/m1").is_empty()
    });
    assert!(a.try_wait().unwrap().is_none() && b.try_wait().unwrap().is_none());
    let (a, b) = (finish(a), finish(b));
    a.success();
    b.success();
    for c in ["m1", "m2", "m3"] {
        assert_eq!(
            api.requests_to("POST", &format!("/api/{c}")).len(),
            1,
            "POST /api/{c} sent once\nA:\n{}\nB:\n{}",
            a.all_output(),
            b.all_output()
        );
    }
    // One run did the work; the other waited for the lock, then found nothing pending.
    let outputs = [a.all_output(), b.all_output()];
    assert!(
        outputs.iter().any(|o| o.contains("done: 3 applied"))
            && outputs.iter().any(|o| o.contains("done: 0 applied")),
        "{outputs:#?}"
    );
    let status = status_json(&project, &["--history-all"]);
    assert_eq!(status["applied"], serde_json::json!([1, 2, 3]));
    let history = status["history"].as_array().unwrap();
    assert_eq!(history.len(), 3, "one run per migration: {history:#?}");
    assert!(
        history.iter().all(|r| r["state"] == "succeeded"),
        "{history:#?}"
    );
}

/// Two processes opening a new SQLite store at the same moment: switching the
/// file to WAL needs an exclusive lock that SQLite does not wait for, so one
/// of them used to fail with "database is locked" (about one time in three).
#[test]
fn processes_opening_a_new_sqlite_store_at_once_both_succeed() {
    let api = Api::start();
    for _ in 0..8 {
        let project = Project::new();
        project.write(
            "config.yaml",
            &config(&api.url(), &Backend::Sqlite.store_block("")),
        );
        project.write("migration/001_a.yaml", &post_migration("a", ""));
        let a = spawn_apirun(&project, &["status"], &[]);
        let b = spawn_apirun(&project, &["status"], &[]);
        let (a, b) = (finish(a), finish(b));
        a.success();
        b.success();
    }
}

#[test]
fn concurrent_up_on_one_sqlite_store_applies_each_migration_once() {
    concurrent_up_applies_each_migration_once(Backend::Sqlite);
}

#[test]
fn concurrent_up_on_one_postgres_store_applies_each_migration_once() {
    concurrent_up_applies_each_migration_once(Backend::postgres());
}

/// With a small `store.lock_timeout`, the second run gives up with exit 1
/// naming the holder (its pid) and sends nothing.
fn second_up_times_out_naming_the_holder(backend: Backend) {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(&api.url(), &backend.store_block("  lock_timeout: 300ms\n")),
    );
    project.write(
        "migration/001_slow.yaml",
        &post_migration("slow", "?_delay_ms=3000"),
    );
    let first = spawn_apirun(&project, &["up"], &[]);
    let holder_pid = first.id();
    // The first run holds the lock from before its request until it exits.
    wait_until(Duration::from_secs(30), "the first run's POST", || {
        !api.requests_to("POST", "/api/slow").is_empty()
    });
    let second = project.apirun(&["up"]);
    second.code(1);
    assert!(
        second.stderr.contains(&format!("{holder_pid}@")),
        "names the holder pid {holder_pid}: {}",
        second.stderr
    );
    assert!(second.stderr.contains("lock"), "{}", second.stderr);
    finish(first).success();
    assert_eq!(
        api.requests_to("POST", "/api/slow").len(),
        1,
        "the second run sent nothing"
    );
}

#[test]
fn second_up_times_out_naming_the_holder_on_sqlite() {
    second_up_times_out_naming_the_holder(Backend::Sqlite);
}

#[test]
fn second_up_times_out_naming_the_holder_on_postgres() {
    second_up_times_out_naming_the_holder(Backend::postgres());
}

/// Migrations 1 (fast), 2 (slow: 5 s at the server) and 3 (fast).
fn interrupted_project(api: &Api, backend: &Backend) -> Project {
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(&api.url(), &backend.store_block("  lock_timeout: 20s\n")),
    );
    project.write("migration/001_fast.yaml", &post_migration("fast", ""));
    project.write(
        "migration/002_slow.yaml",
        &post_migration("slow", "?_delay_ms=5000"),
    );
    project.write("migration/003_last.yaml", &post_migration("last", ""));
    project
}

/// `up` stopped at interrupted version 2: exit 2, the message names it, when
/// it started and the ways out; nothing more was sent.
fn assert_stops_at_interrupted_version_2(api: &Api, run: &support::Run) {
    run.code(2);
    for needle in [
        "version 2 (slow) was interrupted",
        "started at 20",
        "apirun resolve 2 --applied",
        "apirun resolve 2 --rolled-back",
        "--retry-interrupted",
        "nothing was sent",
    ] {
        assert!(
            run.stderr.contains(needle),
            "{needle:?} in:\n{}",
            run.stderr
        );
    }
    assert_eq!(
        api.requests_to("POST", "/api/slow").len(),
        1,
        "the interrupted POST is not sent again"
    );
    assert!(api.requests_to("POST", "/api/last").is_empty());
}

/// `kill -9` while migration 2's request is in flight: the lock is freed by the
/// OS / the server, `status` shows version 2 dirty (`running`) in text and JSON;
/// the next `up` stops at it (its outcome is unknown: the server may have
/// applied it) until `--retry-interrupted` (here through its environment
/// variable) sends it again, once, and the run ends consistent.
fn kill_9_mid_request_then_retry(backend: Backend) {
    let api = Api::start();
    let project = interrupted_project(&api, &backend);
    let mut child = spawn_apirun(&project, &["up"], &[]);
    wait_until(Duration::from_secs(30), "migration 2's POST", || {
        !api.requests_to("POST", "/api/slow").is_empty()
    });
    // While it runs, status tells a live run from an interrupted one.
    let live = project.apirun(&["status"]);
    assert!(
        live.stdout.contains("RUNNING: version 2 (slow)"),
        "{}",
        live.stdout
    );
    let json = status_json(&project, &[]);
    let holder = json["dirty"]["in_progress_by"].as_str().unwrap_or_default();
    assert!(holder.contains(&format!("{}@", child.id())), "{json:#}");

    child.kill().expect("SIGKILL apirun");
    let _ = child.wait();

    let text = project.apirun(&["status"]);
    text.success();
    assert!(text.stdout.contains("DIRTY"), "{}", text.stdout);
    assert!(text.stdout.contains("version 2 (slow)"), "{}", text.stdout);
    assert!(text.stdout.contains("apirun resolve 2"), "{}", text.stdout);
    let json = status_json(&project, &[]);
    assert_eq!(json["dirty"]["version"], 2, "{json:#}");
    assert_eq!(json["dirty"]["state"], "running", "{json:#}");
    assert!(
        json["dirty"].get("in_progress_by").is_none(),
        "the lock died with it: {json:#}"
    );
    assert_eq!(json["applied"], serde_json::json!([1]), "{json:#}");

    // The next `up` stops there, and so does the one after it.
    assert_stops_at_interrupted_version_2(&api, &project.apirun(&["up"]));
    assert_stops_at_interrupted_version_2(&api, &project.apirun(&["up"]));

    // An explicit retry sends it again, once, and goes on.
    let rerun = project.apirun_env(&["up"], &[("APIRUN_RETRY_INTERRUPTED", "true")]);
    rerun.success();
    assert!(
        rerun.stderr.contains("sending it again"),
        "{}",
        rerun.stderr
    );
    assert_eq!(
        api.requests_to("POST", "/api/fast").len(),
        1,
        "version 1 not resent"
    );
    assert_eq!(
        api.requests_to("POST", "/api/slow").len(),
        2,
        "version 2 retried once"
    );
    assert_eq!(api.requests_to("POST", "/api/last").len(), 1);

    let json = status_json(&project, &["--history-all"]);
    assert_eq!(json["applied"], serde_json::json!([1, 2, 3]), "{json:#}");
    assert!(
        json.get("dirty").is_none(),
        "clean after the retry: {json:#}"
    );
    let history = json["history"].as_array().unwrap();
    let v2: Vec<_> = history.iter().filter(|r| r["version"] == 2).collect();
    assert_eq!(v2.len(), 2, "{history:#?}");
    // Newest first: the retry succeeded; the killed run is now failed as interrupted.
    assert_eq!(v2[0]["state"], "succeeded", "{history:#?}");
    assert_eq!(v2[1]["state"], "failed", "{history:#?}");
    assert!(
        v2[1]["error"]
            .as_str()
            .unwrap_or("")
            .contains("interrupted"),
        "{history:#?}"
    );
    // The API holds what the store says: one item per collection.
    let state = api.state();
    assert_eq!(items(&state, "fast"), 1, "{state}");
    assert_eq!(items(&state, "slow"), 1, "{state}");
}

#[test]
fn kill_9_mid_request_stops_the_next_up_until_retry_interrupted_on_sqlite() {
    kill_9_mid_request_then_retry(Backend::Sqlite);
}

#[test]
fn kill_9_mid_request_stops_the_next_up_until_retry_interrupted_on_postgres() {
    kill_9_mid_request_then_retry(Backend::postgres());
}

/// A second `up` waiting for the lock while the first is killed mid-request
/// takes the lock and then stops at the interrupted version (it does not
/// resend it); `resolve 2 --applied` (the change is in place) lets the next
/// `up` go on without sending version 2 again.
fn a_waiting_up_stops_at_the_interrupted_version_then_resolve(backend: Backend) {
    let api = Api::start();
    let project = interrupted_project(&api, &backend);
    let mut first = spawn_apirun(&project, &["up"], &[]);
    wait_until(Duration::from_secs(30), "migration 2's POST", || {
        !api.requests_to("POST", "/api/slow").is_empty()
    });
    let mut waiter = spawn_apirun(&project, &["up"], &[]);
    // The waiter is blocked on the lock (it has sent nothing and not exited).
    std::thread::sleep(Duration::from_millis(300));
    assert!(waiter.try_wait().unwrap().is_none(), "the second up waits");
    first.kill().expect("SIGKILL apirun");
    let _ = first.wait();
    let waited = finish(waiter);
    assert_stops_at_interrupted_version_2(&api, &waited);

    let resolved = project.apirun(&["resolve", "2", "--applied"]);
    resolved.success();
    let up = project.apirun(&["up"]);
    up.success();
    assert_eq!(
        api.requests_to("POST", "/api/slow").len(),
        1,
        "resolved as applied: not sent again"
    );
    assert_eq!(api.requests_to("POST", "/api/last").len(), 1);
    let json = status_json(&project, &[]);
    assert_eq!(json["applied"], serde_json::json!([1, 2, 3]), "{json:#}");
    assert!(json.get("dirty").is_none(), "{json:#}");
}

#[test]
fn a_waiting_up_stops_at_an_interrupted_version_and_resolve_applied_continues_on_sqlite() {
    a_waiting_up_stops_at_the_interrupted_version_then_resolve(Backend::Sqlite);
}

#[test]
fn a_waiting_up_stops_at_an_interrupted_version_and_resolve_applied_continues_on_postgres() {
    a_waiting_up_stops_at_the_interrupted_version_then_resolve(Backend::postgres());
}

/// A failed `down` leaves its version dirty; `up` refuses to go past it to a
/// newer pending version (exit 2, naming the command) until `resolve`.
#[test]
fn a_dirty_version_blocks_up_until_resolved() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(&api.url(), &Backend::Sqlite.store_block("")),
    );
    project.write("migration/001_a.yaml", &post_migration("a", ""));
    // Its down fails (500).
    project.write(
        "migration/002_b.yaml",
        &post_migration("b", "").replace("/api/b/1\"", "/api/b/1?_status=500\""),
    );
    project.apirun(&["up"]).success();
    let down = project.apirun(&["down", "--to", "1"]);
    down.code(1);
    assert!(down.stderr.contains("002_b.yaml"), "{}", down.stderr);
    let json = status_json(&project, &[]);
    assert_eq!(json["dirty"]["version"], 2, "{json:#}");
    assert_eq!(json["dirty"]["state"], "failed", "{json:#}");
    assert_eq!(
        json["applied"],
        serde_json::json!([1, 2]),
        "a failed down removes nothing"
    );

    project.write("migration/003_c.yaml", &post_migration("c", ""));
    let blocked = project.apirun(&["up"]);
    blocked.code(2);
    assert!(
        blocked.stderr.contains("apirun resolve 2"),
        "{}",
        blocked.stderr
    );
    assert!(
        api.requests_to("POST", "/api/c").is_empty(),
        "nothing sent past a dirty version"
    );

    // Resolving a clean version is refused; resolving the dirty one unblocks `up`.
    project.apirun(&["resolve", "1", "--applied"]).code(2);
    let resolved = project.apirun(&["resolve", "2", "--applied"]);
    resolved.success();
    assert!(
        resolved.stdout.contains("resolved as applied"),
        "{}",
        resolved.stdout
    );
    let json = status_json(&project, &["--history-all"]);
    assert!(json.get("dirty").is_none(), "{json:#}");
    assert_eq!(json["history"][0]["state"], "resolved", "{json:#}");
    project.apirun(&["up"]).success();
    assert_eq!(api.requests_to("POST", "/api/c").len(), 1);
    assert_eq!(
        status_json(&project, &[])["applied"],
        serde_json::json!([1, 2, 3])
    );
}

#[test]
fn a_changed_applied_file_is_reported_and_up_strict_refuses() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(&api.url(), &Backend::Sqlite.store_block("")),
    );
    let first = project.write("migration/001_a.yaml", &post_migration("a", ""));
    project.write("migration/002_b.yaml", &post_migration("b", ""));
    project.apirun(&["up"]).success();
    project.apirun(&["validate"]).success();

    // Edit an applied file; add a pending one.
    std::fs::write(
        &first,
        format!("# edited after it was applied\n{}", post_migration("a", "")),
    )
    .unwrap();
    project.write("migration/003_c.yaml", &post_migration("c", ""));

    let json = status_json(&project, &[]);
    assert_eq!(json["changed"], serde_json::json!([1]), "{json:#}");
    let text = project.apirun(&["status"]);
    assert!(text.stdout.contains("changed: 1"), "{}", text.stdout);
    assert!(text.stdout.contains("changed "), "{}", text.stdout);

    // validate reports it (a warning; an error with --strict) and sends nothing.
    let requests_before = api.requests().len();
    let validate = project.apirun(&["validate"]);
    validate.success();
    assert!(
        validate.stderr.contains("001_a.yaml"),
        "{}",
        validate.stderr
    );
    assert!(
        validate.stderr.contains("changed after it was applied"),
        "{}",
        validate.stderr
    );
    project.apirun(&["validate", "--strict"]).code(2);
    assert_eq!(
        api.requests().len(),
        requests_before,
        "validate sends nothing"
    );

    // up --strict (and APIRUN_STRICT) refuses before sending anything.
    let strict = project.apirun(&["up", "--strict"]);
    strict.code(2);
    assert!(strict.stderr.contains("--strict"), "{}", strict.stderr);
    assert!(strict.stderr.contains("001_a.yaml"), "{}", strict.stderr);
    project
        .apirun_env(&["up"], &[("APIRUN_STRICT", "true")])
        .code(2);
    assert!(
        api.requests_to("POST", "/api/c").is_empty(),
        "refused runs sent nothing"
    );

    // Without --strict: a warning, and the pending version is applied.
    let up = project.apirun(&["up"]);
    up.success();
    assert!(
        up.all_output().contains("changed after it was applied"),
        "{}",
        up.all_output()
    );
    assert_eq!(api.requests_to("POST", "/api/c").len(), 1);
    assert_eq!(
        api.requests_to("POST", "/api/a").len(),
        1,
        "the edit is not re-applied"
    );
}

#[test]
fn a_deleted_applied_file_is_reported() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(&api.url(), &Backend::Sqlite.store_block("")),
    );
    project.write("migration/001_a.yaml", &post_migration("a", ""));
    let second = project.write("migration/002_b.yaml", &post_migration("b", ""));
    project.apirun(&["up"]).success();
    std::fs::remove_file(&second).unwrap();

    let json = status_json(&project, &[]);
    assert_eq!(json["missing"], serde_json::json!([2]), "{json:#}");
    let text = project.apirun(&["status"]);
    assert!(text.stdout.contains("missing files: 1"), "{}", text.stdout);
    let validate = project.apirun(&["validate"]);
    validate.success();
    assert!(
        validate.stderr.contains("version 2 (b)"),
        "{}",
        validate.stderr
    );
    assert!(
        validate.stderr.contains("file is gone"),
        "{}",
        validate.stderr
    );
    let strict = project.apirun(&["up", "--strict"]);
    strict.code(2);
    assert!(strict.stderr.contains("file is gone"), "{}", strict.stderr);
}

/// `store.type: postgresql` (the long spelling) works, and `status --history`
/// lists the runs recorded in PostgreSQL.
#[test]
fn status_history_on_postgresql() {
    let db = PgDb::create();
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(
            &api.url(),
            &format!("  type: postgresql\n  postgres:\n    dsn: {}\n", db.dsn),
        ),
    );
    project.write("migration/001_a.yaml", &post_migration("a", ""));
    project.write("migration/002_b.yaml", &post_migration("b", "?_status=500"));
    project.apirun(&["up"]).code(1);
    project.write("migration/002_b.yaml", &post_migration("b", ""));
    project.apirun(&["up"]).success();

    let text = project.apirun(&["status", "--history"]);
    text.success();
    assert!(text.stdout.contains("store:   postgres"), "{}", text.stdout);
    assert!(
        text.stdout.contains("history (newest first):"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("failed"), "{}", text.stdout);
    let json = status_json(&project, &["--history"]);
    let history = json["history"].as_array().unwrap();
    let states: Vec<_> = history
        .iter()
        .map(|r| {
            (
                r["version"].as_u64().unwrap(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (2, "succeeded".into()),
            (2, "failed".into()),
            (1, "succeeded".into())
        ],
        "{history:#?}"
    );
    assert_eq!(history[1]["status_code"], 500);
    // Stored in this test's database, where the default table names are.
    let rows = db.query("SELECT count(*) FROM migration_runs");
    assert_eq!(rows[0][0].as_deref(), Some("3"));
    // And `--history-limit` limits.
    let json = status_json(&project, &["--history", "--history-limit", "1"]);
    assert_eq!(json["history"].as_array().unwrap().len(), 1);
}

#[test]
fn table_prefix_on_postgres_creates_prefixed_tables() {
    let db = PgDb::create();
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(
            &api.url(),
            &format!(
                "  type: postgres\n  table_prefix: p\n  postgres:\n    dsn: {}\n",
                db.dsn
            ),
        ),
    );
    project.write("migration/001_a.yaml", &post_migration("a", ""));
    project.apirun(&["up"]).success();
    let tables: Vec<String> = db
        .query(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = current_schema() ORDER BY table_name",
        )
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect();
    for t in ["p_schema_migrations", "p_migration_runs", "p_stored_env"] {
        assert!(tables.contains(&t.to_string()), "{t} in {tables:?}");
    }
    assert!(
        !tables.contains(&"schema_migrations".to_string()),
        "{tables:?}"
    );
    let rows = db.query("SELECT version FROM p_schema_migrations");
    assert_eq!(rows, vec![vec![Some("1".to_string())]]);

    // Drift is read from the prefixed PostgreSQL tables too, by validate and up.
    project.write("migration/001_a.yaml", &post_migration("a", "?edited=1"));
    let validate = project.apirun(&["validate"]);
    validate.success();
    assert!(
        validate.stderr.contains("changed after it was applied"),
        "{}",
        validate.stderr
    );
    project.apirun(&["up", "--strict"]).code(2);
}

#[test]
fn store_disabled_sends_requests_but_writes_no_state() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &config(&api.url(), "  disabled: true\n"));
    project.write("migration/001_a.yaml", &post_migration("a", ""));
    project.apirun(&["up"]).success();
    assert_eq!(api.requests_to("POST", "/api/a").len(), 1);
    let db = sqlite_file(&project);
    assert!(!db.exists(), "{} must not be created", db.display());
    let leftovers: Vec<_> = std::fs::read_dir(project.path().join("migration"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("apirun"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no store or lock files: {leftovers:?}"
    );
    // Without state every run sends everything again.
    project.apirun(&["up"]).success();
    assert_eq!(api.requests_to("POST", "/api/a").len(), 2);
    let json = status_json(&project, &[]);
    assert_eq!(json["store"], "disabled", "{json:#}");
}

/// The PostgreSQL lock's session is ended (`pg_terminate_backend`, as an admin
/// or a failover would) while `up` runs slow migrations: the run stops with
/// exit 1 before sending the next migration, saying it lost the lock.
#[test]
fn a_lost_postgres_lock_stops_the_run_before_the_next_migration() {
    let api = Api::start();
    let backend = Backend::postgres();
    let project = Project::new();
    project.write("config.yaml", &config(&api.url(), &backend.store_block("")));
    for (i, c) in ["m1", "m2", "m3"].iter().enumerate() {
        project.write(
            &format!("migration/00{}_{c}.yaml", i + 1),
            &post_migration(c, "?_delay_ms=1500"),
        );
    }
    let child = spawn_apirun(&project, &["up"], &[]);
    wait_until(Duration::from_secs(30), "migration 1's POST", || {
        !api.requests_to("POST", "/api/m1").is_empty()
    });
    let Backend::Postgres(db) = &backend else {
        unreachable!()
    };
    let holders = db.query(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    assert_eq!(holders.len(), 1, "one advisory lock holder: {holders:?}");
    let pid = holders[0][0].clone().unwrap();
    let ended = db.query(&format!("SELECT pg_terminate_backend({pid})"));
    assert_eq!(ended[0][0].as_deref(), Some("t"), "{ended:?}");

    let run = finish(child);
    run.code(1);
    assert!(
        run.stderr.contains("lost the lock on the store"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("another apirun may be running"),
        "{}",
        run.stderr
    );
    // Migration 1 was in flight and is recorded; nothing was sent after it.
    assert_eq!(api.requests_to("POST", "/api/m1").len(), 1);
    assert!(
        api.requests_to("POST", "/api/m2").is_empty()
            && api.requests_to("POST", "/api/m3").is_empty(),
        "nothing sent after the lock was lost: {:#?}",
        api.requests()
    );
    let json = status_json(&project, &[]);
    assert_eq!(json["applied"], serde_json::json!([1]), "{json:#}");
    assert!(json.get("dirty").is_none(), "{json:#}");
}

/// A store file truncated to 0 bytes next to the lock file an earlier `up`
/// left is refused, not taken for a new store (which would send everything
/// again); a 0-byte file with no such history is a new store.
#[test]
fn an_emptied_sqlite_store_file_is_refused() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(&api.url(), &Backend::Sqlite.store_block("")),
    );
    project.write("migration/001_a.yaml", &post_migration("a", ""));
    project.apirun(&["up"]).success();
    let db = sqlite_file(&project);
    std::fs::write(&db, b"").unwrap();
    for args in [&["up"][..], &["status"][..], &["up", "--dry-run"][..]] {
        let run = project.apirun(args);
        run.code(1);
        assert!(
            run.stderr.contains("is empty (0 bytes)") && run.stderr.contains("apirun.db.lock"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(
        api.requests_to("POST", "/api/a").len(),
        1,
        "nothing sent again"
    );
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0, "left as it was");

    // No history next to it: an empty file is a new store.
    let fresh = Project::new();
    fresh.write(
        "config.yaml",
        &config(&api.url(), &Backend::Sqlite.store_block("")),
    );
    fresh.write("migration/001_b.yaml", &post_migration("b", ""));
    std::fs::write(sqlite_file(&fresh), b"").unwrap();
    fresh.apirun(&["up"]).success();
    assert_eq!(api.requests_to("POST", "/api/b").len(), 1);
}

/// What is under `dir` (relative paths), for "nothing was created" checks.
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `status`, `validate`, `up --dry-run`, `down --dry-run`, and the stages
/// equivalents create no folder, no database and no lock file, for a store at
/// a relative path and at an absolute one; a missing store reads as empty.
#[test]
fn reading_commands_create_no_store_files() {
    let api = Api::start();
    let outside = tempfile::tempdir().unwrap();
    let absolute = outside.path().join("some/dir/apirun.db");
    for path in [
        "./state/deep/apirun.db".to_string(),
        absolute.display().to_string(),
    ] {
        let project = Project::new();
        project.write(
            "config.yaml",
            &config(
                &api.url(),
                &format!("  type: sqlite\n  sqlite:\n    path: {path}\n"),
            ),
        );
        project.write("migration/001_a.yaml", &post_migration("a", ""));
        project.write(
            "stages.yaml",
            "stages:\n  - name: only\n    config_path: ./config.yaml\n",
        );
        let before = tree(project.path());
        let stages = project.path().join("stages.yaml");
        let stages = stages.to_str().unwrap();
        for args in [
            &["status"][..],
            &["status", "--output", "json", "--history"][..],
            &["validate"][..],
            &["validate", "--strict"][..],
            &["up", "--dry-run"][..],
            &["down", "--to", "0", "--dry-run"][..],
            &["stages", "up", "-c", stages, "--dry-run"][..],
            &["stages", "down", "-c", stages, "--dry-run"][..],
            &["stages", "status", "-c", stages][..],
        ] {
            let run = project.apirun(args);
            run.success();
            assert_eq!(
                tree(project.path()),
                before,
                "{args:?} created files\n{}",
                run.all_output()
            );
            assert!(
                tree(outside.path()).is_empty(),
                "{args:?} created {:?}",
                tree(outside.path())
            );
        }
        assert!(api.requests().is_empty(), "nothing sent");
        let json = status_json(&project, &[]);
        assert_eq!(json["pending"], serde_json::json!([1]), "{json:#}");
    }
}

/// `status` on a store its user cannot write (the file and its folder are
/// another user's: the test runs `apirun` as `nobody`, since root ignores file
/// permissions) reads it, instead of failing with "attempt to write a
/// readonly database".
#[test]
fn status_reads_a_store_it_cannot_write() {
    use std::os::unix::fs::PermissionsExt;
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(&api.url(), &Backend::Sqlite.store_block("")),
    );
    project.write("migration/001_a.yaml", &post_migration("a", ""));
    project.write("migration/002_b.yaml", &post_migration("b", ""));
    project.apirun(&["up", "--to", "1"]).success();
    let run_as_nobody = std::process::Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "true",
        ])
        .status();
    if !matches!(run_as_nobody, Ok(s) if s.success()) {
        panic!("this test needs `setpriv` and the user nobody: {run_as_nobody:?}");
    }
    // Let nobody reach the project (tempdirs are 0700), not write it.
    std::fs::set_permissions(project.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = tree(project.path());
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(support::apirun_bin())
        .arg("--config")
        .arg(project.config())
        .args(["status", "--output", "json"])
        .current_dir(project.path())
        .env("APIRUN_PROGRESS", "plain")
        .env("HOME", "/nonexistent")
        .env_remove("APIRUN_CACHE_DIR");
    let run = support::run(cmd);
    run.success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["applied"], serde_json::json!([1]), "{json:#}");
    assert_eq!(json["pending"], serde_json::json!([2]), "{json:#}");
    assert_eq!(tree(project.path()), before);
}

/// `store.postgres` settings are templates over the config's env (with
/// `valueFromEnv`), as docs/store.md shows; and a second command on an
/// existing PostgreSQL store prints no `NOTICE: relation ... already exists`.
#[test]
fn postgres_settings_are_templates_and_no_notices_are_printed() {
    let api = Api::start();
    let backend = Backend::postgres();
    let Backend::Postgres(db) = &backend else {
        unreachable!()
    };
    let url = reqwest::Url::parse(&db.dsn).unwrap();
    let project = Project::new();
    let config_text = format!(
        "migrate_dir: ./migration
env:
  - name: api_base
    value: {api}
  - name: pg_host
    valueFromEnv: TEST_PG_HOST
  - name: pg_password
    valueFromEnv: TEST_PG_PASSWORD
    default: \"\"
  - name: pg_db
    value: {dbname}
store:
  type: postgres
  postgres:
    host: \"{{{{.pg_host}}}}\"
    port: {port}
    user: \"{user}\"
    password: \"{{{{.pg_password}}}}\"
    dbname: \"{{{{.pg_db}}}}\"
    sslmode: disable
",
        api = api.url(),
        dbname = url.path().trim_start_matches('/'),
        port = url.port().unwrap_or(5432),
        user = url.username(),
    );
    project.write("config.yaml", &config_text);
    project.write("migration/001_a.yaml", &post_migration("a", ""));
    let env = [
        ("TEST_PG_HOST", url.host_str().unwrap()),
        ("TEST_PG_PASSWORD", url.password().unwrap_or("")),
    ];
    let first = project.apirun_env(&["up"], &env);
    first.success();
    let rows = db.query("SELECT version FROM schema_migrations");
    assert_eq!(
        rows,
        vec![vec![Some("1".to_string())]],
        "recorded in the templated database"
    );
    for args in [&["up"][..], &["status"][..], &["down", "--to", "0"][..]] {
        let run = project.apirun_env(args, &env);
        run.success();
        assert!(
            !run.all_output().contains("NOTICE") && !run.all_output().contains("already exists"),
            "{args:?}: {}",
            run.all_output()
        );
    }
}

/// `store.sqlite.path` may be a template too; a relative result is relative
/// to the config file.
#[test]
fn the_sqlite_path_is_a_template() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "migrate_dir: ./migration
env:
  - name: api_base
    value: {}
  - name: state_dir
    valueFromEnv: TEST_STATE_DIR
    default: ./state
store:
  sqlite:
    path: \"{{{{.state_dir}}}}/apirun.db\"
",
            api.url()
        ),
    );
    project.write("migration/001_a.yaml", &post_migration("a", ""));
    project.apirun(&["up"]).success();
    assert!(
        project.path().join("state/apirun.db").is_file(),
        "{:?}",
        tree(project.path())
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().display().to_string();
    project
        .apirun_env(&["up"], &[("TEST_STATE_DIR", &dir)])
        .success();
    assert!(elsewhere.path().join("apirun.db").is_file());
    // Two stores, so the migration ran once in each.
    assert_eq!(api.requests_to("POST", "/api/a").len(), 2);
    let json = status_json(&project, &[]);
    assert_eq!(json["applied"], serde_json::json!([1]), "{json:#}");
}

/// `stages up` stops at an interrupted migration like `up` does, and
/// `stages up --retry-interrupted` sends it again.
#[test]
fn stages_up_stops_at_an_interrupted_migration_until_retry_interrupted() {
    let api = Api::start();
    let project = interrupted_project(&api, &Backend::Sqlite);
    project.write(
        "stages.yaml",
        "stages:\n  - name: only\n    config_path: ./config.yaml\n",
    );
    let stages = project.path().join("stages.yaml");
    let stages = stages.to_str().unwrap();
    let mut child = spawn_apirun(&project, &["stages", "up", "-c", stages], &[]);
    wait_until(Duration::from_secs(30), "migration 2's POST", || {
        !api.requests_to("POST", "/api/slow").is_empty()
    });
    child.kill().expect("SIGKILL apirun");
    let _ = child.wait();

    let stopped = project.apirun(&["stages", "up", "-c", stages]);
    assert_ne!(stopped.code, 0, "{}", stopped.all_output());
    assert!(
        stopped
            .all_output()
            .contains("version 2 (slow) was interrupted")
            && stopped.all_output().contains("--retry-interrupted"),
        "{}",
        stopped.all_output()
    );
    assert_eq!(api.requests_to("POST", "/api/slow").len(), 1, "not resent");
    assert!(api.requests_to("POST", "/api/last").is_empty());

    project
        .apirun(&["stages", "up", "-c", stages, "--retry-interrupted"])
        .success();
    assert_eq!(api.requests_to("POST", "/api/slow").len(), 2);
    assert_eq!(api.requests_to("POST", "/api/last").len(), 1);
    let json = status_json(&project, &[]);
    assert_eq!(json["applied"], serde_json::json!([1, 2, 3]), "{json:#}");
}

/// Every choice of thread for the SQLite store's calls (docs/store.md, "Which
/// thread runs an SQLite call") records the same state through the real
/// binary: `up` applies and stores the extracted variables, a second `up`
/// sends nothing, `down` rolls back; an unknown value keeps the default.
#[test]
fn every_sqlite_call_thread_records_the_same_state() {
    for calls in ["auto", "blocking-pool", "caller", "dedicated", "sideways"] {
        let api = Api::start();
        let project = Project::new();
        project.write("config.yaml", &config(&api.url(), ""));
        project.write("migration/001_a.yaml", &post_migration("a", ""));
        project.write("migration/002_b.yaml", &post_migration("b", ""));
        let env = [("APIRUN_SQLITE_CALLS", calls)];
        project.apirun_env(&["up"], &env).success();
        project.apirun_env(&["up"], &env).success();
        assert_eq!(api.requests_to("POST", "/api/a").len(), 1, "{calls}");
        assert_eq!(api.requests_to("POST", "/api/b").len(), 1, "{calls}");
        let json = status_json(&project, &[]);
        assert_eq!(
            json["applied"],
            serde_json::json!([1, 2]),
            "{calls}: {json:#}"
        );
        project.apirun_env(&["down", "--to", "1"], &env).success();
        let json = status_json(&project, &[]);
        assert_eq!(json["applied"], serde_json::json!([1]), "{calls}: {json:#}");
    }
}

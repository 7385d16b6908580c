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

/// `kill -9` while migration 2's request is in flight: the lock is freed by the
/// OS / the server, `status` shows version 2 dirty (`running`) in text and JSON,
/// and a rerun of `up` reruns version 2 (only it) and ends consistent.
fn kill_9_mid_request_then_rerun(backend: Backend) {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &config(&api.url(), &backend.store_block("  lock_timeout: 10s\n")),
    );
    project.write("migration/001_fast.yaml", &post_migration("fast", ""));
    project.write(
        "migration/002_slow.yaml",
        &post_migration("slow", "?_delay_ms=5000"),
    );
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
    assert!(text.stdout.contains("running"), "{}", text.stdout);
    assert!(text.stdout.contains("apirun resolve 2"), "{}", text.stdout);
    let json = status_json(&project, &[]);
    assert_eq!(json["dirty"]["version"], 2, "{json:#}");
    assert_eq!(json["dirty"]["state"], "running", "{json:#}");
    assert!(
        json["dirty"].get("in_progress_by").is_none(),
        "the lock died with it: {json:#}"
    );
    assert_eq!(json["applied"], serde_json::json!([1]), "{json:#}");

    // The rerun (the lock left by the dead process does not block it).
    let rerun = project.apirun(&["up"]);
    rerun.success();
    assert!(
        rerun.stderr.contains("running it again"),
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
        "version 2 rerun once"
    );

    let json = status_json(&project, &["--history-all"]);
    assert_eq!(json["applied"], serde_json::json!([1, 2]), "{json:#}");
    assert!(
        json.get("dirty").is_none(),
        "clean after the rerun: {json:#}"
    );
    let history = json["history"].as_array().unwrap();
    let v2: Vec<_> = history.iter().filter(|r| r["version"] == 2).collect();
    assert_eq!(v2.len(), 2, "{history:#?}");
    // Newest first: the rerun succeeded; the killed run is now failed as interrupted.
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
fn kill_9_mid_request_leaves_a_dirty_mark_and_a_rerun_ends_consistent_on_sqlite() {
    kill_9_mid_request_then_rerun(Backend::Sqlite);
}

#[test]
fn kill_9_mid_request_leaves_a_dirty_mark_and_a_rerun_ends_consistent_on_postgres() {
    kill_9_mid_request_then_rerun(Backend::postgres());
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

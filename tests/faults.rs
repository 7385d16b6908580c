//! End-to-end: failing servers (docs/store.md). A server that
//! answers 500, that is too slow (client timeout), that resets the connection,
//! or that goes away mid-run: nothing is recorded as applied that was not, the
//! run exits 1 naming the migration and the cause, and a rerun after the server
//! recovers finishes the work with each successful POST sent exactly once
//! (counted at the server). A POST that got an answer (500) is `failed` and a
//! plain rerun sends it again; a POST whose answer was lost (timeout, reset,
//! server gone) has an unknown outcome: it is left interrupted, the next `up`
//! stops at it (exit 2) and `--retry-interrupted` sends it again.

mod store_support;
mod support;

use support::DemoApiAdmin as _;

use std::time::Duration;

use serde_json::json;
use store_support::{
    DemoProcess, config, finish, items, post_migration, spawn_apirun, status_json, wait_until,
};
use support::{Api, Project, Run};

const COLLECTIONS: [&str; 3] = ["a", "b", "c"];

/// Three POST migrations (a, b, c); `b_query` goes on the second one's URL.
/// `client` is extra config (e.g. a timeout).
fn project(api_url: &str, b_query: &str, client: &str) -> Project {
    let project = Project::new();
    let mut text = config(api_url, "  type: sqlite\n");
    text.push_str(client);
    // DELAY_MS lets a test make the server slow for one run only.
    text = text.replace(
        "env:\n",
        "env:\n  - name: delay_ms\n    valueFromEnv: DELAY_MS\n    default: \"0\"\n",
    );
    project.write("config.yaml", &text);
    project.write("migration/001_a.yaml", &post_migration("a", ""));
    project.write("migration/002_b.yaml", &post_migration("b", b_query));
    project.write("migration/003_c.yaml", &post_migration("c", ""));
    project
}

/// The failed run: exit 1, the message names migration 2's file and `cause`;
/// the store has version 1 applied and version 2 dirty (`failed`: the server
/// answered); nothing of version 3 was sent.
fn assert_failed_at_b(project: &Project, run: &Run, cause: &[&str], posts_to_c: usize) {
    assert_dirty_at_b(project, run, cause, posts_to_c, "failed");
}

/// Like [`assert_failed_at_b`], but the answer was lost: version 2 is left
/// interrupted (`running`), and the message says the next `up` stops there.
fn assert_interrupted_at_b(project: &Project, run: &Run, cause: &[&str], posts_to_c: usize) {
    assert_dirty_at_b(project, run, cause, posts_to_c, "running");
    assert!(
        run.stderr.contains("may have taken effect") && run.stderr.contains("--retry-interrupted"),
        "{}",
        run.stderr
    );
    // The next `up` stops at it without sending anything.
    let stopped = project.apirun(&["up"]);
    stopped.code(2);
    assert!(
        stopped.stderr.contains("version 2 (b) was interrupted"),
        "{}",
        stopped.stderr
    );
}

fn assert_dirty_at_b(project: &Project, run: &Run, cause: &[&str], posts_to_c: usize, state: &str) {
    run.code(1);
    assert!(
        run.stderr.contains("002_b.yaml"),
        "names the migration: {}",
        run.stderr
    );
    let lower = run.stderr.to_lowercase();
    assert!(
        cause.iter().any(|c| lower.contains(c)),
        "names the cause (one of {cause:?}): {}",
        run.stderr
    );
    assert_eq!(posts_to_c, 0, "version 3 must not run after a failure");
    let status = status_json(project, &[]);
    assert_eq!(
        status["applied"],
        json!([1]),
        "only version 1 is recorded: {status:#}"
    );
    assert_eq!(status["dirty"]["version"], 2, "{status:#}");
    assert_eq!(status["dirty"]["state"], state, "{status:#}");
}

/// After the rerun: all three applied and clean, each collection holds one
/// item, and each successful (201) POST was sent exactly once.
fn assert_finished_once(
    project: &Project,
    requests: &[serde_json::Value],
    state: &serde_json::Value,
) {
    let status = status_json(project, &[]);
    assert_eq!(status["applied"], json!([1, 2, 3]), "{status:#}");
    assert!(status.get("dirty").is_none(), "{status:#}");
    for c in COLLECTIONS {
        let ok = requests
            .iter()
            .filter(|r| {
                r["method"] == "POST" && r["path"] == format!("/api/{c}") && r["status"] == 201
            })
            .count();
        assert_eq!(ok, 1, "one successful POST /api/{c}: {requests:#?}");
        assert_eq!(items(state, c), 1, "one {c} item: {state}");
    }
}

#[test]
fn a_server_answering_500_fails_the_migration_and_a_rerun_finishes_once() {
    let api = Api::start();
    let project = project(&api.url(), "", "");
    api.arm_fault(json!({"method": "POST", "path": "/api/b", "status": 500, "times": 1}));
    let run = project.apirun(&["up"]);
    assert_failed_at_b(
        &project,
        &run,
        &["500"],
        api.requests_to("POST", "/api/c").len(),
    );
    assert_eq!(
        api.requests_to("POST", "/api/b").len(),
        1,
        "a POST is not retried"
    );

    project.apirun(&["up"]).success();
    assert_finished_once(&project, &api.requests(), &api.state());
    assert_eq!(
        api.requests_to("POST", "/api/a").len(),
        1,
        "version 1 not resent"
    );
}

#[test]
fn a_server_too_slow_for_the_client_timeout_fails_and_a_rerun_finishes_once() {
    let api = Api::start();
    let project = project(
        &api.url(),
        "?_delay_ms={{.delay_ms}}",
        "client:\n  timeout: 500ms\n",
    );
    let run = project.apirun_env(&["up"], &[("DELAY_MS", "3000")]);
    assert_interrupted_at_b(
        &project,
        &run,
        &["timed out", "timeout"],
        api.requests_to("POST", "/api/c").len(),
    );
    assert_eq!(api.requests_to("POST", "/api/b").len(), 1, "not sent again");
    // The server gave up on the request when the client did: nothing created.
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(items(&api.state(), "b"), 0, "{}", api.state());

    project.apirun(&["up", "--retry-interrupted"]).success();
    assert_finished_once(&project, &api.requests(), &api.state());
}

#[test]
fn a_server_resetting_the_connection_fails_and_a_rerun_finishes_once() {
    let api = Api::start();
    let project = project(&api.url(), "", "");
    api.arm_fault(json!({"method": "POST", "path": "/api/b", "reset": true, "times": 1}));
    let run = project.apirun(&["up"]);
    assert_interrupted_at_b(
        &project,
        &run,
        &["connection", "reset", "closed"],
        api.requests_to("POST", "/api/c").len(),
    );
    assert_eq!(
        api.requests_to("POST", "/api/b").len(),
        1,
        "a POST is not retried"
    );

    project.apirun(&["up", "--retry-interrupted"]).success();
    assert_finished_once(&project, &api.requests(), &api.state());
}

/// The server is killed (SIGKILL) while migration 2's request is in flight;
/// a run while it is down fails cleanly too; once it is back on the same port
/// (its resources kept in its state file), a rerun sends only what is missing.
#[test]
fn a_server_going_away_mid_run_fails_and_a_rerun_after_restart_finishes_once() {
    let mut demo = DemoProcess::start();
    let project = project(&demo.url(), "?_delay_ms=1500", "");
    let child = spawn_apirun(&project, &["up"], &[]);
    wait_until(Duration::from_secs(30), "migration 2's POST", || {
        !demo.requests_to("POST", "/api/b").is_empty()
    });
    demo.kill();
    let run = finish(child);
    // The answer was lost: version 2 is interrupted and the next `up` stops at it.
    assert_interrupted_at_b(
        &project,
        &run,
        &["connection", "error sending request", "closed"],
        0,
    );

    // Still down, retried: refused connection (nothing was sent, so this time
    // the outcome is known: failed), still nothing recorded.
    let down = project.apirun(&["up", "--retry-interrupted"]);
    assert_failed_at_b(
        &project,
        &down,
        &["connection", "error sending request", "refused"],
        0,
    );

    demo.restart();
    let before = demo.state();
    assert_eq!(
        items(&before, "a"),
        1,
        "state survived the restart: {before}"
    );
    assert_eq!(items(&before, "b"), 0, "{before}");

    project.apirun(&["up"]).success();
    let requests = demo.requests();
    assert!(
        !requests.iter().any(|r| r["path"] == "/api/a"),
        "version 1 is not sent again: {requests:#?}"
    );
    assert_eq!(demo.requests_to("POST", "/api/b").len(), 1, "{requests:#?}");
    assert_eq!(demo.requests_to("POST", "/api/c").len(), 1, "{requests:#?}");
    // Every successful POST of both server lifetimes: a (first), b and c (second).
    let state = demo.state();
    let status = status_json(&project, &[]);
    assert_eq!(status["applied"], json!([1, 2, 3]), "{status:#}");
    assert!(status.get("dirty").is_none(), "{status:#}");
    for c in COLLECTIONS {
        assert_eq!(items(&state, c), 1, "one {c} item: {state}");
    }
}

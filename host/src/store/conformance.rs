//! Backend-neutral conformance suite of the [`Store`] contract (test-only).
//!
//! Every behaviour the migrator relies on is checked here once, against any
//! backend, so that SQLite and PostgreSQL cannot drift apart. Each backend's test
//! module implements [`Harness`] and stamps the whole suite with
//! [`conformance_tests!`]; tests that look at backend specifics (column types,
//! PRAGMAs, advisory locks, the Go tool's layouts) stay in the backend's module.

use std::time::Duration;

use super::{
    AppliedMigration, Direction, Resolution, RunId, RunOutcome, RunStart, RunState, Store,
    StoreError, StoredVar, now_rfc3339,
};

/// One empty state store for one test, in a place of its own.
pub(crate) trait Harness {
    type S: Store + Clone + 'static;

    /// A new connection to the harness's store, not initialised. Each call opens
    /// a new one on the same state (a "reopen", as after a process restart).
    async fn open(&self) -> Self::S;

    /// [`Harness::open`] and [`Store::init`].
    async fn open_init(&self) -> Self::S {
        let s = self.open().await;
        s.init().await.unwrap();
        s
    }

    /// Run `sql` directly on the store's database, as another tool would.
    async fn execute(&self, sql: &str);

    /// The same state opened for a reading command ([`super::Access::ReadOnly`]).
    async fn open_read_only(&self) -> Self::S;
}

/// Stamps one `#[tokio::test]` per conformance case. `$harness` is evaluated
/// inside each async test and yields `Option<impl Harness>` (`None` skips the
/// test, for a backend whose server is optional).
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::store::conformance::conformance_tests!(@each $harness;
            up_then_down_cycle,
            stored_env_replaced_per_version_and_removed_on_down,
            failed_run_is_not_applied_and_is_dirty,
            run_left_running_by_a_killed_process_is_dirty_after_reopen,
            later_success_clears_dirty,
            dirty_reports_the_lowest_dirty_version,
            failed_down_is_dirty_and_keeps_the_version,
            resolve_applied,
            resolve_rolled_back,
            runs_newest_first_with_limit,
            reopen_keeps_state,
            finishing_checks_the_run,
            versions_beyond_i64_are_rejected_cleanly,
            concurrent_stores_serialise_their_writes,
            refuses_a_store_written_by_a_newer_apirun,
            an_unknown_outcome_keeps_what_is_known_and_stays_interrupted,
            a_read_only_store_reads_and_refuses_writes,
            a_read_only_store_that_was_never_created_reads_empty,
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            // Multi-threaded: the concurrency case needs it, the others do not mind.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(h) = $harness {
                    $crate::store::conformance::$name(&h).await;
                }
            }
        )*
    };
}
pub(crate) use conformance_tests;

// -- Helpers shared with the backends' own tests ------------------------------

pub(crate) fn start(version: u64, direction: Direction) -> RunStart {
    RunStart {
        version,
        name: format!("m{version}"),
        direction,
        started_at: now_rfc3339(),
    }
}

pub(crate) fn ok(status: u16, env: &[(&str, &str)]) -> RunOutcome {
    RunOutcome {
        status_code: Some(status),
        body: Some(format!("{{\"status\":{status}}}")),
        env: vars(env),
        error: None,
        duration: Duration::from_millis(42),
    }
}

pub(crate) fn failed(error: &str) -> RunOutcome {
    RunOutcome {
        status_code: Some(500),
        body: None,
        env: vec![],
        error: Some(error.to_owned()),
        duration: Duration::from_millis(7),
    }
}

pub(crate) fn applied(version: u64) -> AppliedMigration {
    AppliedMigration {
        version,
        name: format!("m{version}"),
        checksum: format!("sha256:{version}"),
        applied_at: now_rfc3339(),
    }
}

pub(crate) fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A successful `up` of `version` that extracted `env`.
pub(crate) async fn up(s: &dyn Store, version: u64, env: &[(&str, &str)]) -> RunId {
    let id = s.begin_run(&start(version, Direction::Up)).await.unwrap();
    s.finish_up_success(id, &ok(201, env), &applied(version), &vars(env))
        .await
        .unwrap();
    id
}

/// A successful `down` of `version`.
pub(crate) async fn down(s: &dyn Store, version: u64) -> RunId {
    let id = s.begin_run(&start(version, Direction::Down)).await.unwrap();
    s.finish_down_success(id, &ok(204, &[]), version)
        .await
        .unwrap();
    id
}

/// After a backend opened the Go tool's tables (its `ensure` layout, which
/// has a failed run of version 2 after a succeeded run of version 1, or its
/// `goose` layout with only the latter): rows are kept and read, a legacy
/// failed run with nothing after it is dirty, and new runs continue after the
/// old ids. `started_at` is how the backend reads the old `ran_at` back.
pub(crate) async fn go_rows_survive_the_upgrade(s: &dyn Store, variant: &str, started_at: &str) {
    s.init().await.unwrap(); // idempotent after an upgrade too
    assert_eq!(versions(&s.applied().await.unwrap()), [1], "{variant}");
    let env = s.stored_env().await.unwrap();
    assert_eq!(env_of(&env), [(1, "id", "5")], "{variant}");
    let runs = s.runs(None).await.unwrap();
    let oldest = runs.last().unwrap();
    assert_eq!(oldest.state, RunState::Succeeded, "{variant}");
    assert_eq!(oldest.started_at, started_at);
    assert_eq!(oldest.env_json.as_deref(), Some("{\"id\":\"5\"}"));
    let dirty = s.dirty().await.unwrap().map(|d| (d.version, d.state));
    if variant == "ensure" {
        assert_eq!(runs.len(), 2);
        assert_eq!(dirty, Some((2, RunState::Failed)));
    } else {
        assert_eq!(dirty, None);
    }
    let id = up(s, 2, &[("x", "y")]).await;
    assert!(id.0 > runs[0].id.0);
    assert_eq!(s.dirty().await.unwrap(), None);
}

/// After the Go tool wrote a failed run of version 3 (state NULL, `failed`
/// true, status 0) and applied version 9 in its own way.
pub(crate) async fn go_rows_written_after_the_upgrade_read(s: &dyn Store, variant: &str) {
    let d = s.dirty().await.unwrap().unwrap();
    assert_eq!((d.version, d.state), (3, RunState::Failed), "{variant}");
    assert_eq!(s.runs(Some(1)).await.unwrap()[0].status_code, None);
    assert!(versions(&s.applied().await.unwrap()).contains(&9));
}

pub(crate) fn versions(a: &[AppliedMigration]) -> Vec<u64> {
    a.iter().map(|m| m.version).collect()
}

pub(crate) fn env_of(v: &[StoredVar]) -> Vec<(u64, &str, &str)> {
    v.iter()
        .map(|e| (e.version, e.name.as_str(), e.value.as_str()))
        .collect()
}

// -- The cases ----------------------------------------------------------------

pub(crate) async fn up_then_down_cycle(h: &impl Harness) {
    let s = h.open_init().await;
    let r1 = up(&s, 1, &[("user_id", "7")]).await;
    let r2 = up(&s, 20261127093000, &[]).await;
    let a = s.applied().await.unwrap();
    assert_eq!(versions(&a), [1, 20261127093000]);
    assert_eq!(a[0].name, "m1");
    assert_eq!(a[0].checksum, "sha256:1");
    assert_eq!(a[0].applied_at.len(), 24);

    let runs = s.runs(None).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [r2, r1]);
    let first = &runs[1];
    assert_eq!(first.state, RunState::Succeeded);
    assert_eq!(first.direction, Direction::Up);
    assert_eq!(first.status_code, Some(201));
    assert_eq!(first.body.as_deref(), Some("{\"status\":201}"));
    assert_eq!(first.env_json.as_deref(), Some("{\"user_id\":\"7\"}"));
    assert_eq!(first.duration_ms, Some(42));
    assert_eq!(first.error, None);
    assert_eq!(first.started_at.len(), 24);
    assert_eq!(
        runs[0].env_json, None,
        "empty env is NULL, as the Go tool writes"
    );

    let r3 = down(&s, 20261127093000).await;
    assert_eq!(versions(&s.applied().await.unwrap()), [1]);
    down(&s, 1).await;
    assert!(s.applied().await.unwrap().is_empty());
    let runs = s.runs(None).await.unwrap();
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[1].id, r3);
    assert_eq!(runs[1].direction, Direction::Down);
    assert_eq!(runs[1].status_code, Some(204));
    assert_eq!(s.dirty().await.unwrap(), None);
}

pub(crate) async fn stored_env_replaced_per_version_and_removed_on_down(h: &impl Harness) {
    let s = h.open_init().await;
    up(&s, 1, &[("b", "1"), ("a", "2")]).await;
    up(&s, 2, &[("c", "3")]).await;
    assert_eq!(
        env_of(&s.stored_env().await.unwrap()),
        [(1, "b", "1"), (1, "a", "2"), (2, "c", "3")]
    );

    // Re-applying version 1 (e.g. after a resolve) replaces its variables whole;
    // a repeated name keeps its last value at its last place.
    let id = s.begin_run(&start(1, Direction::Up)).await.unwrap();
    s.finish_up_success(
        id,
        &ok(200, &[]),
        &applied(1),
        &vars(&[("z", "0"), ("a", "9"), ("y", "1"), ("a", "10")]),
    )
    .await
    .unwrap();
    assert_eq!(
        env_of(&s.stored_env().await.unwrap()),
        [(1, "z", "0"), (1, "y", "1"), (1, "a", "10"), (2, "c", "3")]
    );

    // Only applied versions count: a row another tool left for a version that is
    // not applied is ignored.
    h.execute("INSERT INTO stored_env (version, name, value) VALUES (77, 'x', 'y')")
        .await;
    assert_eq!(s.stored_env().await.unwrap().len(), 4);

    down(&s, 2).await;
    assert_eq!(
        env_of(&s.stored_env().await.unwrap()),
        [(1, "z", "0"), (1, "y", "1"), (1, "a", "10")]
    );
    down(&s, 1).await;
    assert!(s.stored_env().await.unwrap().is_empty());
}

pub(crate) async fn failed_run_is_not_applied_and_is_dirty(h: &impl Harness) {
    let s = h.open_init().await;
    up(&s, 1, &[]).await;
    let id = s.begin_run(&start(2, Direction::Up)).await.unwrap();
    s.finish_failed(id, &failed("expected 201, got 500"))
        .await
        .unwrap();
    assert_eq!(versions(&s.applied().await.unwrap()), [1]);
    assert!(s.stored_env().await.unwrap().is_empty());
    let d = s.dirty().await.unwrap().unwrap();
    assert_eq!(d.version, 2);
    assert_eq!(d.state, RunState::Failed);
    assert_eq!(d.direction, Direction::Up);
    assert_eq!(d.run_id, id);
    assert_eq!(d.name, "m2");
    assert_eq!(d.error.as_deref(), Some("expected 201, got 500"));
    let run = &s.runs(Some(1)).await.unwrap()[0];
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(run.status_code, Some(500));
    assert_eq!(run.duration_ms, Some(7));
}

pub(crate) async fn run_left_running_by_a_killed_process_is_dirty_after_reopen(h: &impl Harness) {
    let started;
    {
        let s = h.open_init().await;
        up(&s, 1, &[]).await;
        let mut run = start(2, Direction::Up);
        run.name = "create user".into();
        started = run.started_at.clone();
        s.begin_run(&run).await.unwrap();
        // The process dies here: the store goes away without finishing the run.
    }
    let s = h.open_init().await;
    let d = s.dirty().await.unwrap().unwrap();
    assert_eq!(d.version, 2);
    assert_eq!(d.state, RunState::Running);
    assert_eq!(d.name, "create user");
    assert_eq!(d.started_at, started);
    assert_eq!(d.error, None);
    assert_eq!(versions(&s.applied().await.unwrap()), [1]);
    let run = &s.runs(Some(1)).await.unwrap()[0];
    assert_eq!(run.state, RunState::Running);
    assert_eq!(run.status_code, None);
    assert_eq!(run.duration_ms, None);
}

pub(crate) async fn later_success_clears_dirty(h: &impl Harness) {
    let s = h.open_init().await;
    let id = s.begin_run(&start(1, Direction::Up)).await.unwrap();
    s.finish_failed(id, &failed("boom")).await.unwrap();
    s.begin_run(&start(1, Direction::Up)).await.unwrap(); // interrupted retry
    assert_eq!(s.dirty().await.unwrap().unwrap().state, RunState::Running);
    up(&s, 1, &[("k", "v")]).await;
    assert_eq!(s.dirty().await.unwrap(), None);
    // History keeps the failure.
    let states: Vec<RunState> = s
        .runs(None)
        .await
        .unwrap()
        .iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(
        states,
        [RunState::Succeeded, RunState::Running, RunState::Failed]
    );
}

pub(crate) async fn dirty_reports_the_lowest_dirty_version(h: &impl Harness) {
    let s = h.open_init().await;
    let a = s.begin_run(&start(5, Direction::Up)).await.unwrap();
    s.finish_failed(a, &failed("five")).await.unwrap();
    s.begin_run(&start(3, Direction::Up)).await.unwrap();
    let b = s.begin_run(&start(9, Direction::Up)).await.unwrap();
    s.finish_failed(b, &failed("nine")).await.unwrap();
    assert_eq!(s.dirty().await.unwrap().unwrap().version, 3);
    up(&s, 3, &[]).await;
    assert_eq!(s.dirty().await.unwrap().unwrap().version, 5);
}

pub(crate) async fn failed_down_is_dirty_and_keeps_the_version(h: &impl Harness) {
    let s = h.open_init().await;
    up(&s, 1, &[("k", "v")]).await;
    let id = s.begin_run(&start(1, Direction::Down)).await.unwrap();
    s.finish_failed(id, &failed("delete returned 500"))
        .await
        .unwrap();
    assert_eq!(versions(&s.applied().await.unwrap()), [1]);
    assert_eq!(s.stored_env().await.unwrap().len(), 1);
    let d = s.dirty().await.unwrap().unwrap();
    assert_eq!((d.version, d.direction), (1, Direction::Down));
}

pub(crate) async fn resolve_applied(h: &impl Harness) {
    let s = h.open_init().await;
    let id = s.begin_run(&start(4, Direction::Up)).await.unwrap();
    s.finish_failed(id, &failed("timeout")).await.unwrap();
    s.resolve(
        4,
        Resolution::Applied {
            checksum: "sha256:abc".into(),
            name: "create user".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(s.dirty().await.unwrap(), None);
    let a = s.applied().await.unwrap();
    assert_eq!(versions(&a), [4]);
    assert_eq!(a[0].checksum, "sha256:abc");
    assert_eq!(a[0].name, "create user");
    assert_eq!(a[0].applied_at.len(), 24);
    let run = &s.runs(None).await.unwrap()[0];
    assert_eq!(run.state, RunState::Resolved);
    assert_eq!(run.resolved_as.as_deref(), Some("applied"));
    assert!(run.resolved_at.is_some());
    assert_eq!(
        run.error.as_deref(),
        Some("timeout"),
        "history keeps the error"
    );
    // Nothing left to resolve.
    let err = s.resolve(4, Resolution::RolledBack).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotDirty { version: 4, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&s.describe()), "{err}");
}

pub(crate) async fn resolve_rolled_back(h: &impl Harness) {
    let s = h.open_init().await;
    // An interrupted up: resolved as never applied.
    s.begin_run(&start(2, Direction::Up)).await.unwrap();
    s.resolve(2, Resolution::RolledBack).await.unwrap();
    assert_eq!(s.dirty().await.unwrap(), None);
    assert!(s.applied().await.unwrap().is_empty());

    // A failed down: the user rolled it back by hand.
    up(&s, 3, &[("id", "1")]).await;
    let id = s.begin_run(&start(3, Direction::Down)).await.unwrap();
    s.finish_failed(id, &failed("500")).await.unwrap();
    s.resolve(3, Resolution::RolledBack).await.unwrap();
    assert!(s.applied().await.unwrap().is_empty());
    assert!(s.stored_env().await.unwrap().is_empty());
    assert_eq!(s.dirty().await.unwrap(), None);
    let run = &s.runs(Some(1)).await.unwrap()[0];
    assert_eq!(run.resolved_as.as_deref(), Some("rolled_back"));

    // A version with no runs at all is not dirty.
    let err = s.resolve(99, Resolution::RolledBack).await.unwrap_err();
    assert!(err.to_string().contains("version 99"), "{err}");
}

pub(crate) async fn runs_newest_first_with_limit(h: &impl Harness) {
    let s = h.open_init().await;
    let mut ids = Vec::new();
    for v in 1..=5 {
        ids.push(up(&s, v, &[]).await);
    }
    ids.reverse();
    let all = s.runs(None).await.unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    let two = s.runs(Some(2)).await.unwrap();
    assert_eq!(two.iter().map(|r| r.version).collect::<Vec<_>>(), [5, 4]);
    assert!(s.runs(Some(0)).await.unwrap().is_empty());
    assert_eq!(s.runs(Some(usize::MAX)).await.unwrap().len(), 5);
}

pub(crate) async fn reopen_keeps_state(h: &impl Harness) {
    {
        let s = h.open_init().await;
        up(&s, 1, &[("a", "1")]).await;
        up(&s, 2, &[("b", "2")]).await;
        down(&s, 2).await;
    }
    let s = h.open_init().await;
    assert_eq!(versions(&s.applied().await.unwrap()), [1]);
    assert_eq!(env_of(&s.stored_env().await.unwrap()), [(1, "a", "1")]);
    assert_eq!(s.runs(None).await.unwrap().len(), 3);
}

pub(crate) async fn finishing_checks_the_run(h: &impl Harness) {
    let s = h.open_init().await;
    let id = up(&s, 1, &[]).await;
    // Twice.
    let err = s
        .finish_up_success(id, &ok(200, &[]), &applied(1), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::RunNotRunning {
                state: RunState::Succeeded,
                ..
            }
        ),
        "{err:?}"
    );
    let err = s.finish_failed(id, &failed("x")).await.unwrap_err();
    assert!(matches!(err, StoreError::RunNotRunning { .. }), "{err:?}");
    // Unknown.
    let err = s.finish_failed(RunId(999), &failed("x")).await.unwrap_err();
    assert!(matches!(err, StoreError::RunNotFound { .. }), "{err:?}");
    // Wrong version / direction: nothing is written (the transaction rolls back).
    let id = s.begin_run(&start(2, Direction::Up)).await.unwrap();
    let err = s
        .finish_up_success(id, &ok(200, &[]), &applied(3), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::RunMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("version 2"), "{err}");
    // Read on the same connection right away: a backend that sends the
    // writes before checking (PostgreSQL) must not leave them visible.
    assert_eq!(versions(&s.applied().await.unwrap()), [1]);
    let err = s
        .finish_down_success(id, &ok(200, &[]), 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::RunMismatch { .. }), "{err:?}");
    assert_eq!(versions(&s.applied().await.unwrap()), [1]);
    assert_eq!(s.dirty().await.unwrap().unwrap().run_id, id);
    // The store is still usable after those rolled-back transactions.
    up(&s, 4, &[]).await;
}

pub(crate) async fn versions_beyond_i64_are_rejected_cleanly(h: &impl Harness) {
    let s = h.open_init().await;
    let big = u64::MAX;
    let err = s.begin_run(&start(big, Direction::Up)).await.unwrap_err();
    assert!(matches!(err, StoreError::VersionOutOfRange { version } if version == big));
    assert!(s.resolve(big, Resolution::RolledBack).await.is_err());
    assert!(
        s.finish_down_success(RunId(1), &ok(200, &[]), big)
            .await
            .is_err()
    );
    // The largest storable version works.
    up(&s, i64::MAX as u64, &[]).await;
    assert_eq!(versions(&s.applied().await.unwrap()), [i64::MAX as u64]);
}

pub(crate) async fn concurrent_stores_serialise_their_writes(h: &impl Harness) {
    let a = h.open_init().await;
    let b = h.open_init().await;
    let mut tasks = Vec::new();
    for (i, s) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            for v in 0..25u64 {
                up(&s, (i as u64) * 100 + v, &[("k", "v")]).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(a.applied().await.unwrap().len(), 100);
    assert_eq!(b.runs(None).await.unwrap().len(), 100);
    assert_eq!(a.stored_env().await.unwrap().len(), 100);
}

pub(crate) async fn refuses_a_store_written_by_a_newer_apirun(h: &impl Harness) {
    let s = h.open_init().await;
    h.execute("UPDATE schema_migrations_meta SET value = '99' WHERE key = 'schema_version'")
        .await;
    let err = s.init().await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade apirun"), "{err}");
}

pub(crate) async fn an_unknown_outcome_keeps_what_is_known_and_stays_interrupted(h: &impl Harness) {
    let s = h.open_init().await;
    up(&s, 1, &[]).await;
    let id = s.begin_run(&start(2, Direction::Up)).await.unwrap();
    let mut lost = failed("the response body is larger than client.max_response_bytes");
    lost.status_code = Some(201);
    s.finish_interrupted(id, &lost).await.unwrap();
    // Dirty exactly like a run left by a killed process, with what is known.
    let d = s.dirty().await.unwrap().unwrap();
    assert_eq!((d.version, d.state, d.run_id), (2, RunState::Running, id));
    assert_eq!(d.error.as_deref(), lost.error.as_deref());
    let run = &s.runs(Some(1)).await.unwrap()[0];
    assert_eq!(run.state, RunState::Running);
    assert_eq!(run.status_code, Some(201));
    assert_eq!(run.duration_ms, Some(7));
    assert_eq!(versions(&s.applied().await.unwrap()), [1]);
    // A retry closes it as failed; resolving works as for any dirty run.
    s.finish_failed(id, &failed("interrupted; sent again"))
        .await
        .unwrap();
    assert_eq!(s.dirty().await.unwrap().unwrap().state, RunState::Failed);
    s.resolve(2, Resolution::RolledBack).await.unwrap();
    assert_eq!(s.dirty().await.unwrap(), None);
}

pub(crate) async fn a_read_only_store_reads_and_refuses_writes(h: &impl Harness) {
    let s = h.open_init().await;
    up(&s, 1, &[("user_id", "42")]).await;
    let id = s.begin_run(&start(2, Direction::Up)).await.unwrap();
    let r = h.open_read_only().await;
    r.init().await.unwrap();
    assert_eq!(versions(&r.applied().await.unwrap()), [1]);
    assert_eq!(
        env_of(&r.stored_env().await.unwrap()),
        [(1, "user_id", "42")]
    );
    let d = r.dirty().await.unwrap().unwrap();
    assert_eq!((d.version, d.run_id), (2, id));
    assert_eq!(r.runs(None).await.unwrap().len(), 2);
    let refused = r.begin_run(&start(3, Direction::Up)).await.unwrap_err();
    assert!(matches!(refused, StoreError::ReadOnly { .. }), "{refused}");
    let refused = r.lock(Duration::ZERO).await.unwrap_err();
    assert!(matches!(refused, StoreError::ReadOnly { .. }), "{refused}");
    let refused = r.resolve(2, Resolution::RolledBack).await.unwrap_err();
    assert!(matches!(refused, StoreError::ReadOnly { .. }), "{refused}");
    // Nobody holds the lock; probing it takes nothing.
    assert_eq!(r.lock_holder().await.unwrap(), None);
    let guard = s.lock(Duration::ZERO).await.unwrap();
    assert!(r.lock_holder().await.unwrap().is_some());
    guard.release().await.unwrap();
    // Nothing was written through the read-only store.
    assert_eq!(s.dirty().await.unwrap().unwrap().run_id, id);
}

pub(crate) async fn a_read_only_store_that_was_never_created_reads_empty(h: &impl Harness) {
    let r = h.open_read_only().await;
    r.init().await.unwrap();
    assert!(r.applied().await.unwrap().is_empty());
    assert!(r.stored_env().await.unwrap().is_empty());
    assert!(r.runs(None).await.unwrap().is_empty());
    assert_eq!(r.dirty().await.unwrap(), None);
    assert_eq!(r.lock_holder().await.unwrap(), None);
    // Opening it for writing afterwards works as on a new store.
    let s = h.open_init().await;
    up(&s, 1, &[]).await;
    assert_eq!(
        versions(&h.open_read_only().await.applied().await.unwrap()),
        [1]
    );
}

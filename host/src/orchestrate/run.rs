//! The scheduler of `stages up` and `stages down`.
//!
//! A stage starts when every stage before it (its dependencies for `up`, its
//! dependents for `down`) has finished and is satisfied, and a slot under
//! `max_concurrent_stages` is free; stages run as tokio tasks, so
//! independent ones really overlap. `wait_between_stages` is the pause
//! between a stage finishing and the stages after it starting. A stage's
//! `timeout` drops its future: the request in flight is abandoned, its run
//! row stays `running` (a visible dirty mark) and the version is not
//! recorded as applied. `on_failure` and `rollback_on_failure` decide what
//! happens next (docs/multi-stage.md#scheduling).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::{Orchestration, Way};
use crate::config::OnFailure;
use crate::migrate::{
    DownOptions, MigrationEvent, NoticeLevel, Observer, Services, Stage, StageEnd, UpOptions,
};
use crate::output::RunSummary;
use crate::store::Direction;

/// Makes the engine observer of one stage's migrations (the CLI's adapters).
pub type ObserverFactory = Arc<dyn Fn(&str) -> Box<dyn Observer> + Send + Sync>;

/// What a run needs besides the stages file.
#[derive(Clone)]
pub struct RunOptions {
    pub services: Services,
    /// Receives the run's stage events and notes (the stage's migration
    /// events go to `observer`'s observer of that stage).
    pub events: Arc<dyn Observer>,
    pub observer: ObserverFactory,
    /// Overrides `global.wait_between_stages` (`--wait-between-stages`).
    pub wait_between_stages: Option<Duration>,
    /// `--retry-interrupted`: resend migrations whose outcome is unknown
    /// instead of stopping at them (docs/store.md).
    pub retry_interrupted: bool,
}

/// How one stage ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageOutcome {
    /// Ran to the end; `migrations` ran in it (0: nothing was pending).
    Done {
        migrations: usize,
        duration: Duration,
    },
    /// Its condition is false: not run; stages after it see it as satisfied.
    ConditionFalse,
    /// Failed (or timed out).
    Failed {
        error: String,
        duration: Duration,
        policy: OnFailure,
    },
    /// Not run because a stage before it failed or was skipped.
    Skipped { because: String },
    /// Not started because the run was stopped (`on_failure: stop`).
    NotStarted,
    /// `down` of a stage with nothing applied (never applied, e.g. after a
    /// partial `stages up`, or already rolled back): nothing to do; the
    /// stages after it proceed.
    NothingApplied,
}

impl StageOutcome {
    /// Whether stages after this one may run.
    fn satisfies(&self) -> bool {
        match self {
            StageOutcome::Done { .. }
            | StageOutcome::ConditionFalse
            | StageOutcome::NothingApplied => true,
            StageOutcome::Failed { policy, .. } => *policy == OnFailure::Continue,
            _ => false,
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Per stage, in the order they finished (then the ones never started).
    pub stages: Vec<(String, StageOutcome)>,
    /// Stages rolled back by `rollback_on_failure`, in order, with what was rolled back.
    pub rolled_back: Vec<(String, Vec<u64>)>,
    /// Rollback errors.
    pub rollback_errors: Vec<String>,
    /// A stage failed (other than `on_failure: continue`) or a rollback did:
    /// the run failed (the CLI maps this to its exit status).
    pub failed: bool,
    /// Totals, as the progress summary and the `run_finished` event show them.
    pub summary: RunSummary,
    pub duration: Duration,
}

/// Forwards engine events to the progress observer and remembers which
/// versions this run applied and which migration is in flight.
struct Tracking {
    inner: Box<dyn Observer>,
    done: Mutex<Vec<u64>>,
    in_flight: Mutex<Option<(u64, String, Direction, Instant)>>,
}

impl Observer for Tracking {
    fn event(&self, event: MigrationEvent<'_>) {
        match &event {
            MigrationEvent::Started {
                version,
                name,
                direction,
            } => {
                if let Ok(mut f) = self.in_flight.lock() {
                    *f = Some((*version, name.to_string(), *direction, Instant::now()));
                }
            }
            MigrationEvent::Finished { version, .. } => {
                if let Ok(mut f) = self.in_flight.lock() {
                    *f = None;
                }
                if let Ok(mut d) = self.done.lock() {
                    d.push(*version);
                }
            }
            MigrationEvent::Failed { .. } => {
                if let Ok(mut f) = self.in_flight.lock() {
                    *f = None;
                }
            }
            _ => {}
        }
        self.inner.event(event);
    }
}

impl Tracking {
    fn done(&self) -> Vec<u64> {
        self.done.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// The migration cut off by a timeout is reported as failed.
    fn abandon(&self, why: &str) {
        let flight = self.in_flight.lock().ok().and_then(|mut f| f.take());
        if let Some((version, name, direction, started)) = flight {
            self.inner.event(MigrationEvent::Failed {
                version,
                name: &name,
                direction,
                error: why,
                status: None,
                duration: started.elapsed(),
            });
        }
    }
}

/// What a stage task hands back.
struct TaskResult {
    name: String,
    outcome: StageOutcome,
    /// For rollback: the opened stage, the highest version applied before
    /// this run, and what this run applied.
    applied: Option<(Stage, u64, Vec<u64>)>,
}

impl Orchestration {
    /// Runs `up` or `down` over `selected`. Preconditions (selection checks,
    /// files) are the caller's; this schedules and reports.
    pub async fn run(
        self: &Arc<Self>,
        selected: &BTreeSet<String>,
        way: Way,
        options: &RunOptions,
    ) -> RunOutcome {
        let started = Instant::now();
        let global = &self.file.global;
        let wait = options
            .wait_between_stages
            .unwrap_or(global.wait_between_stages);
        let max = global.max_concurrent_stages.max(1);
        let mut stop = false;
        let order: Vec<String> = {
            let mut o: Vec<String> = self
                .graph
                .order()
                .into_iter()
                .filter(|n| selected.contains(n))
                .collect();
            if way == Way::Down {
                o.reverse();
            }
            o
        };
        // Stages that must finish first, within the selection.
        let before = |name: &str| -> Vec<String> {
            let v = match way {
                Way::Up => self.graph.dependencies(name),
                Way::Down => self.graph.dependents(name),
            };
            v.into_iter().filter(|n| selected.contains(n)).collect()
        };
        for name in &order {
            options
                .events
                .event(MigrationEvent::StagePlanned { stage: name });
        }

        let mut outcomes: HashMap<String, StageOutcome> = HashMap::new();
        let mut finished_at: HashMap<String, Instant> = HashMap::new();
        let mut finish_order: Vec<String> = Vec::new();
        let mut rollback: Vec<(String, Stage, u64, Vec<u64>)> = Vec::new();
        let mut launched: BTreeSet<String> = BTreeSet::new();
        let mut tasks: JoinSet<TaskResult> = JoinSet::new();
        let mut failed = false;

        loop {
            // Skip every stage a failed or skipped predecessor blocks, and
            // launch ready stages in dependency (then file) order while a
            // slot is free. Only this loop starts stages and a task's slot is
            // freed only when this loop has seen its outcome, so the order
            // is deterministic and `on_failure: stop` is in force before
            // anything else can start.
            let mut next_wake: Option<Instant> = None;
            let mut changed = true;
            while changed {
                changed = false;
                for name in &order {
                    if launched.contains(name) || outcomes.contains_key(name) {
                        continue;
                    }
                    let preds = before(name);
                    if preds.iter().any(|p| !outcomes.contains_key(p)) {
                        continue;
                    }
                    if let Some(blocker) = preds.iter().find(|p| !outcomes[*p].satisfies()) {
                        let outcome = if stop {
                            StageOutcome::NotStarted
                        } else {
                            StageOutcome::Skipped {
                                because: format!("`{blocker}` did not succeed"),
                            }
                        };
                        let (end, detail) = match &outcome {
                            StageOutcome::Skipped { because } => {
                                (StageEnd::Skipped, Some(because.as_str()))
                            }
                            _ => (StageEnd::NotStarted, None),
                        };
                        options.events.event(MigrationEvent::StageFinished {
                            stage: name,
                            end,
                            migrations: 0,
                            duration: None,
                            detail,
                        });
                        outcomes.insert(name.clone(), outcome);
                        finish_order.push(name.clone());
                        changed = true;
                        continue;
                    }
                    if stop || tasks.len() >= max {
                        continue;
                    }
                    // Pause after the latest predecessor that actually ran.
                    let ran_last = preds
                        .iter()
                        .filter(|p| !matches!(outcomes[*p], StageOutcome::ConditionFalse))
                        .filter_map(|p| finished_at.get(p))
                        .max()
                        .copied();
                    if let Some(at) = ran_last.map(|t| t + wait)
                        && at > Instant::now()
                    {
                        next_wake = Some(next_wake.map_or(at, |w| w.min(at)));
                        continue;
                    }
                    launched.insert(name.clone());
                    let this = Arc::clone(self);
                    let name = name.clone();
                    let options = options.clone();
                    tasks.spawn(async move { this.run_stage(&name, way, &options).await });
                }
            }
            if tasks.is_empty() && next_wake.is_none() {
                break;
            }
            let joined = tokio::select! {
                joined = tasks.join_next(), if !tasks.is_empty() => joined,
                _ = sleep_until(next_wake), if next_wake.is_some() => continue,
            };
            let Some(joined) = joined else { continue };
            let result = match joined {
                Ok(result) => result,
                Err(e) => {
                    // A panicking stage task: nothing to attribute it to but the run.
                    failed = true;
                    options.events.event(MigrationEvent::Notice {
                        stage: None,
                        level: NoticeLevel::Error,
                        text: &format!("a stage task ended abnormally: {e}"),
                    });
                    stop = true;
                    continue;
                }
            };
            let TaskResult {
                name,
                outcome,
                applied,
            } = result;
            if let Some((stage, before_version, done)) = applied
                && !done.is_empty()
            {
                rollback.push((name.clone(), stage, before_version, done));
            }
            if let StageOutcome::Failed { policy, error, .. } = &outcome {
                match policy {
                    OnFailure::Stop => {
                        failed = true;
                        stop = true;
                    }
                    OnFailure::SkipDependents => failed = true,
                    OnFailure::Continue => options.events.event(MigrationEvent::Notice {
                        stage: Some(&name),
                        level: NoticeLevel::Warning,
                        text: &format!(
                            "stage `{name}` failed (on_failure: continue; the run goes on): {}",
                            error.lines().next().unwrap_or("")
                        ),
                    }),
                }
            }
            finished_at.insert(name.clone(), Instant::now());
            finish_order.push(name.clone());
            outcomes.insert(name, outcome);
        }
        // Stages never reached (a stop before their predecessors finished).
        for name in &order {
            if !outcomes.contains_key(name) {
                outcomes.insert(name.clone(), StageOutcome::NotStarted);
                finish_order.push(name.clone());
                options.events.event(MigrationEvent::StageFinished {
                    stage: name,
                    end: StageEnd::NotStarted,
                    migrations: 0,
                    duration: None,
                    detail: None,
                });
            }
        }

        let mut rolled_back = Vec::new();
        let mut rollback_errors = Vec::new();
        if failed && way == Way::Up && self.file.global.rollback_on_failure {
            options.events.event(MigrationEvent::Notice {
                stage: None,
                level: NoticeLevel::Info,
                text: "rollback_on_failure: rolling back what this run applied, newest first",
            });
            // Reverse finish order is a reverse dependency order.
            for (name, stage, before_version, done) in rollback.into_iter().rev() {
                options.events.event(MigrationEvent::Notice {
                    stage: Some(&name),
                    level: NoticeLevel::Info,
                    text: &format!(
                        "rollback [{name}]: versions {} (back to {before_version})",
                        versions(&done)
                    ),
                });
                let observer = (options.observer)(&name);
                match stage
                    .down(&DownOptions { to: before_version }, observer.as_ref())
                    .await
                {
                    Ok(_) => {
                        // The table must not keep saying "applied" for it.
                        if matches!(outcomes.get(&name), Some(StageOutcome::Done { .. })) {
                            options.events.event(MigrationEvent::StageRolledBack {
                                stage: &name,
                                versions: &done,
                            });
                        }
                        rolled_back.push((name, done))
                    }
                    Err(e) => {
                        let message = format!("rollback of stage `{name}` failed: {e}");
                        options.events.event(MigrationEvent::Notice {
                            stage: Some(&name),
                            level: NoticeLevel::Error,
                            text: &message,
                        });
                        rollback_errors.push(message);
                    }
                }
            }
        }

        let stages: Vec<(String, StageOutcome)> = finish_order
            .into_iter()
            .filter_map(|n| outcomes.remove(&n).map(|o| (n, o)))
            .collect();
        // What stayed applied: versions rolled back by rollback_on_failure
        // are not counted (the failed stage's own partial work never was).
        let undone: usize = rolled_back
            .iter()
            .filter(|(n, _)| {
                stages
                    .iter()
                    .any(|(s, o)| s == n && matches!(o, StageOutcome::Done { .. }))
            })
            .map(|(_, v)| v.len())
            .sum();
        let summary = RunSummary {
            applied: stages
                .iter()
                .map(|(_, o)| match o {
                    StageOutcome::Done { migrations, .. } => *migrations,
                    _ => 0,
                })
                .sum::<usize>()
                .saturating_sub(undone),
            // Every failed stage counts, `on_failure: continue` included (it
            // does not change the exit status, but it did fail).
            failed: stages
                .iter()
                .filter(|(_, o)| matches!(o, StageOutcome::Failed { .. }))
                .count(),
            skipped: stages
                .iter()
                .filter(|(_, o)| {
                    matches!(
                        o,
                        StageOutcome::Skipped { .. }
                            | StageOutcome::NotStarted
                            | StageOutcome::ConditionFalse
                            | StageOutcome::NothingApplied
                    )
                })
                .count(),
            duration: started.elapsed(),
        };
        RunOutcome {
            stages,
            rolled_back,
            failed: failed || !rollback_errors.is_empty(),
            summary,
            rollback_errors,
            duration: started.elapsed(),
        }
    }

    /// One stage: open it (imports read now, after its dependencies ran),
    /// check its condition, run it under its timeout.
    async fn run_stage(&self, name: &str, way: Way, options: &RunOptions) -> TaskResult {
        let started = Instant::now();
        let events = &options.events;
        let finished = |end: StageEnd, migrations: usize, detail: Option<&str>| {
            events.event(MigrationEvent::StageFinished {
                stage: name,
                end,
                migrations,
                duration: Some(started.elapsed()),
                detail,
            });
        };
        let Some(def) = self.def(name) else {
            return TaskResult {
                name: name.to_string(),
                outcome: StageOutcome::Skipped {
                    because: "unknown stage".into(),
                },
                applied: None,
            };
        };
        let fail = |error: String| {
            finished(StageEnd::Failed, 0, Some(&error));
            TaskResult {
                name: name.to_string(),
                outcome: StageOutcome::Failed {
                    error,
                    duration: started.elapsed(),
                    policy: def.on_failure,
                },
                applied: None,
            }
        };
        if way == Way::Down {
            // A stage never applied has nothing to roll back, and its imports
            // may come from stages never applied either: do not open it.
            match super::inspect_stage(def).await {
                Ok(info) if info.applied.is_empty() => {
                    finished(
                        StageEnd::NothingApplied,
                        0,
                        Some("nothing applied, nothing to roll back"),
                    );
                    return TaskResult {
                        name: name.to_string(),
                        outcome: StageOutcome::NothingApplied,
                        applied: None,
                    };
                }
                Ok(_) => {}
                Err(e) => return fail(e.to_string()),
            }
        }
        events.event(MigrationEvent::StageStarted { stage: name });
        let stage = match self.open_stage(def, &options.services, false).await {
            Ok(stage) => stage,
            Err(e) => return fail(e.to_string()),
        };
        for warning in stage
            .warnings
            .iter()
            .filter(|d| d.severity == crate::config::Severity::Warning)
        {
            events.event(MigrationEvent::Notice {
                stage: Some(name),
                level: NoticeLevel::Warning,
                text: &warning.to_string(),
            });
        }
        if way == Way::Up {
            match self.condition_holds(def, &stage).await {
                Ok(true) => {}
                Ok(false) => {
                    finished(StageEnd::ConditionFalse, 0, Some("condition is false"));
                    return TaskResult {
                        name: name.to_string(),
                        outcome: StageOutcome::ConditionFalse,
                        applied: None,
                    };
                }
                Err(e) => return fail(e.to_string()),
            }
        }
        let before_version = match stage.applied().await {
            Ok(applied) => applied.iter().map(|a| a.version).max().unwrap_or(0),
            Err(e) => return fail(e.to_string()),
        };
        let tracking = Tracking {
            inner: (options.observer)(name),
            done: Mutex::new(Vec::new()),
            in_flight: Mutex::new(None),
        };
        let work = async {
            match way {
                Way::Up => {
                    let up = UpOptions {
                        retry_interrupted: options.retry_interrupted,
                        ..UpOptions::default()
                    };
                    stage.up(&up, &tracking).await
                }
                Way::Down => stage.down(&DownOptions { to: 0 }, &tracking).await,
            }
        };
        let result = match def.timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => {
                    let why = format!(
                        "timed out after {} (timeout of stage `{name}`); the request in flight was abandoned and its version not recorded as applied",
                        crate::config::format_duration(limit)
                    );
                    tracking.abandon(&why);
                    Err(why)
                }
            },
            None => work.await.map_err(|e| e.to_string()),
        };
        let done = tracking.done();
        let duration = started.elapsed();
        let outcome = match result {
            Ok(report) => {
                let end = match way {
                    Way::Up => StageEnd::Applied,
                    Way::Down => StageEnd::RolledBack,
                };
                finished(end, report.done.len(), None);
                StageOutcome::Done {
                    migrations: report.done.len(),
                    duration,
                }
            }
            Err(error) => {
                finished(StageEnd::Failed, done.len(), Some(&error));
                StageOutcome::Failed {
                    error,
                    duration,
                    policy: def.on_failure,
                }
            }
        };
        TaskResult {
            name: name.to_string(),
            outcome,
            applied: if way == Way::Up {
                Some((stage, before_version, done))
            } else {
                None
            },
        }
    }
}

/// Sleeps until `at` (callers only poll this when it is `Some`).
async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

fn versions(v: &[u64]) -> String {
    v.iter()
        .map(|v| format!("{v:03}"))
        .collect::<Vec<_>>()
        .join(", ")
}

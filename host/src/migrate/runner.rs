//! Running `up` and `down`: one migration at a time, each recorded in the
//! store (in one transaction) before the next starts. A run row is written
//! as `running` before the first request, so a killed process leaves a
//! visible mark.

use std::time::{Duration, Instant};

use super::error::{EngineError, MigrationFailure, StepError, StepFailure};
use super::plan::{plan_down, plan_up};
use super::step::StepResult;
use super::vars::{Vars, apply_local_env};
use super::{Stage, store_err};
use crate::config::Migration;
use crate::store::{AppliedMigration, Direction, RunOutcome, RunStart, now_rfc3339};

/// The shortest `delay_between_migrations` that is slept; below it no
/// delay is made (a sleep cannot be shorter than the timer's 1 ms tick).
const MIN_DELAY: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Highest version to apply (0 = all).
    pub to: u64,
    pub allow_out_of_order: bool,
    /// Refuse to run when an applied file changed or is gone (`--strict`);
    /// otherwise that drift is only warned about.
    pub strict: bool,
    /// Send again the next migration when its last run was interrupted
    /// (`--retry-interrupted`); otherwise `up` stops at it (docs/store.md).
    pub retry_interrupted: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// Roll back every applied version above this one.
    pub to: u64,
}

/// What a run reports while it goes: migrations (from [`Stage::up`] and
/// [`Stage::down`]) and, in a multi-stage run, stages and notes (from
/// `crate::orchestrate`). The library only emits these; the CLI turns them
/// into progress lines, JSON Lines events (`output::events`) and reports
/// (`output::junit`), so every view of a run sees the same facts.
#[derive(Debug, Clone)]
pub enum MigrationEvent<'a> {
    Started {
        version: u64,
        name: &'a str,
        direction: Direction,
    },
    Finished {
        version: u64,
        name: &'a str,
        direction: Direction,
        status: Option<u16>,
        duration: Duration,
    },
    Failed {
        version: u64,
        name: &'a str,
        direction: Direction,
        /// Masked with the stage's masker.
        error: &'a str,
        /// The status the server answered, if it answered.
        status: Option<u16>,
        duration: Duration,
    },
    /// A stage the run will walk, before any stage starts (in run order).
    StagePlanned {
        stage: &'a str,
    },
    StageStarted {
        stage: &'a str,
    },
    StageFinished {
        stage: &'a str,
        end: StageEnd,
        /// Migrations run in the stage (0 unless `end` is `Applied` or `RolledBack`).
        migrations: usize,
        /// `None` for a stage that never started.
        duration: Option<Duration>,
        /// Why it failed or was skipped (not masked: observers mask).
        detail: Option<&'a str>,
    },
    /// `rollback_on_failure` rolled back what this run applied in `stage`.
    StageRolledBack {
        stage: &'a str,
        versions: &'a [u64],
    },
    /// A line for people: a config warning, a rollback step, a stage task
    /// that ended abnormally (not masked: observers mask).
    Notice {
        stage: Option<&'a str>,
        level: NoticeLevel,
        text: &'a str,
    },
}

/// How a stage of a multi-stage run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageEnd {
    Applied,
    RolledBack,
    Failed,
    /// A stage before it failed or was skipped.
    Skipped,
    ConditionFalse,
    /// `down` of a stage with nothing applied.
    NothingApplied,
    /// The run stopped (`on_failure: stop`) before it could start.
    NotStarted,
}

impl StageEnd {
    /// The name in machine-readable output (docs/output.md).
    pub fn as_str(self) -> &'static str {
        match self {
            StageEnd::Applied => "applied",
            StageEnd::RolledBack => "rolled_back",
            StageEnd::Failed => "failed",
            StageEnd::Skipped => "skipped",
            StageEnd::ConditionFalse => "condition_false",
            StageEnd::NothingApplied => "nothing_applied",
            StageEnd::NotStarted => "not_started",
        }
    }
}

/// How much a [`MigrationEvent::Notice`] matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    Warning,
    Error,
}

impl NoticeLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeLevel::Info => "info",
            NoticeLevel::Warning => "warning",
            NoticeLevel::Error => "error",
        }
    }
}

pub trait Observer: Send + Sync {
    fn event(&self, event: MigrationEvent<'_>);
}

/// Discards events.
impl Observer for () {
    fn event(&self, _event: MigrationEvent<'_>) {}
}

/// Every observer of the list sees every event, in order.
impl<O: Observer> Observer for Vec<O> {
    fn event(&self, event: MigrationEvent<'_>) {
        for observer in self {
            observer.event(event.clone());
        }
    }
}

impl<O: Observer + ?Sized> Observer for Box<O> {
    fn event(&self, event: MigrationEvent<'_>) {
        (**self).event(event)
    }
}

impl<O: Observer + ?Sized> Observer for std::sync::Arc<O> {
    fn event(&self, event: MigrationEvent<'_>) {
        (**self).event(event)
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Versions run successfully, in the order they ran.
    pub done: Vec<(u64, String)>,
    pub duration: Duration,
    /// Variables extracted during this run.
    pub extracted: Vars,
}

impl Stage {
    /// Variables visible to migrations: base < stored (applied versions, in
    /// order) < extracted during this run.
    async fn run_vars(&self) -> Result<Vars, EngineError> {
        let mut vars = self.base_vars.clone();
        if let Some(store) = &self.store {
            for var in store.stored_env().await.map_err(|e| store_err(store, e))? {
                vars.insert(var.name, var.value);
            }
        }
        Ok(vars)
    }

    /// Wait for `wait:` if configured.
    pub async fn wait_ready(&self) -> Result<(), EngineError> {
        match &self.config.wait {
            Some(wait) => super::wait::wait_for(&self.http, wait, &self.base_vars).await,
            None => Ok(()),
        }
    }

    /// Apply pending migrations in version order.
    pub async fn up(
        &self,
        options: &UpOptions,
        observer: &dyn Observer,
    ) -> Result<RunReport, EngineError> {
        let started = Instant::now();
        let lock = self.lock().await?;
        let applied = self.applied().await?;
        let plan = plan_up(
            &self.migrations,
            &applied,
            options.to,
            None,
            options.allow_out_of_order,
        );
        if !plan.out_of_order.is_empty() && !options.allow_out_of_order {
            let names: Vec<String> = plan
                .out_of_order
                .iter()
                .map(|m| m.path.display().to_string())
                .collect();
            return Err(EngineError::Usage(format!(
                "these files are older than the current version {} but were never applied: {}; \
                 run `apirun up --allow-out-of-order` to apply them, or renumber them",
                plan.current,
                names.join(", ")
            )));
        }
        self.check_drift(&applied, options.strict)?;
        self.refuse_if_dirty_below(
            plan.pending.first().map(|m| m.version),
            options.retry_interrupted,
        )
        .await?;
        if !plan.pending.is_empty() {
            self.wait_ready().await?;
        }
        let mut vars = self.run_vars().await?;
        let mut report = RunReport::default();
        // The timer's granularity is 1 ms: a shorter delay would cost ~1.5 ms
        // per migration, so it is skipped (docs/configuration.md).
        let delay = self.config.delay_between_migrations >= MIN_DELAY;
        for (i, migration) in plan.pending.iter().enumerate() {
            if i > 0 && delay {
                tokio::time::sleep(self.config.delay_between_migrations).await;
            }
            if i == 0 || delay {
                self.verify_lock(lock.as_deref()).await?;
            }
            // Without a delay, the lock is checked for the next migration
            // while this one's record is written: the check and the record
            // go to the store at once (a PostgreSQL lock lives on a connection
            // of its own), one round trip fewer per migration.
            let lock_for_next = match lock.as_deref() {
                Some(lock) if !delay && i + 1 < plan.pending.len() => Some(lock),
                _ => None,
            };
            let extracted = self
                .run_one(migration, Direction::Up, &mut vars, observer, lock_for_next)
                .await?;
            report.extracted.extend(extracted);
            report
                .done
                .push((migration.version, migration.name.clone()));
        }
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Roll back applied versions above `options.to`, newest first.
    pub async fn down(
        &self,
        options: &DownOptions,
        observer: &dyn Observer,
    ) -> Result<RunReport, EngineError> {
        let started = Instant::now();
        let lock = self.lock().await?;
        let applied = self.applied().await?;
        let targets = plan_down(&applied, options.to);
        self.check_down_blocks(&targets)?;
        if !targets.is_empty() {
            self.wait_ready().await?;
        }
        let mut report = RunReport::default();
        let base = self.run_vars().await?;
        for target in targets {
            let Some(migration) = self.migration(target.version) else {
                continue;
            };
            let mut vars = base.clone();
            self.verify_lock(lock.as_deref()).await?;
            self.run_one(migration, Direction::Down, &mut vars, observer, None)
                .await?;
            report
                .done
                .push((migration.version, migration.name.clone()));
        }
        report.duration = started.elapsed();
        Ok(report)
    }

    /// Every version to roll back must have a `down` block (and its file):
    /// checked before anything is rolled back (or planned), so that a rollback
    /// never stops half-way for a reason known in advance.
    pub(crate) fn check_down_blocks(
        &self,
        targets: &[&AppliedMigration],
    ) -> Result<(), EngineError> {
        let mut missing = Vec::new();
        for target in targets {
            match self.migration(target.version) {
                Some(m) if m.down.is_some() => {}
                Some(m) => missing.push(format!("{} has no `down` block", m.path.display())),
                None => missing.push(format!(
                    "version {} ({}) is applied but its file is gone",
                    target.version, target.name
                )),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(EngineError::Usage(format!(
            "cannot roll back: {}; nothing was rolled back",
            missing.join("; ")
        )))
    }

    async fn lock(&self) -> Result<Option<Box<dyn crate::store::StoreLock>>, EngineError> {
        match &self.store {
            Some(store) => Ok(Some(
                store
                    .lock(self.config.store.lock_timeout)
                    .await
                    .map_err(|e| store_err(store, e))?,
            )),
            None => Ok(None),
        }
    }

    /// Before each migration: is the store lock still ours? A PostgreSQL
    /// advisory lock lives in one session; if that session ended (a dropped
    /// connection, `pg_terminate_backend`), another apirun may hold the lock
    /// now and be running migrations, so stop before sending anything more
    /// (docs/store.md, "Locking"). Exit 1.
    async fn verify_lock(
        &self,
        lock: Option<&dyn crate::store::StoreLock>,
    ) -> Result<(), EngineError> {
        match (&self.store, lock) {
            (Some(store), Some(lock)) => lock.verify().await.map_err(|e| store_err(store, e)),
            _ => Ok(()),
        }
    }

    pub(crate) async fn applied(&self) -> Result<Vec<AppliedMigration>, EngineError> {
        match &self.store {
            Some(store) => store.applied().await.map_err(|e| store_err(store, e)),
            None => Ok(Vec::new()),
        }
    }

    /// Applied files that changed or vanished: a warning each, or (strict) a
    /// refusal before anything is sent.
    fn check_drift(&self, applied: &[AppliedMigration], strict: bool) -> Result<(), EngineError> {
        let drift = super::status::find_drift(&self.migrations, applied);
        if drift.is_empty() {
            return Ok(());
        }
        if strict {
            let lines: Vec<String> = drift
                .iter()
                .map(|d| format!("  {}", d.describe()))
                .collect();
            return Err(EngineError::Usage(format!(
                "refusing to run with --strict: {} applied migration(s) no longer match their files; \
                 nothing was sent:\n{}",
                drift.len(),
                lines.join("\n")
            )));
        }
        for d in &drift {
            tracing::warn!("{}", d.describe());
        }
        Ok(())
    }

    /// A migration that failed with a known answer (a 4xx/5xx, a refused
    /// connection) may be rerun: it is the next one. One whose last run was
    /// interrupted mid-request has an unknown outcome (the server may have
    /// applied it): `up` stops at it unless `retry_interrupted`. And `up` never
    /// goes past a dirty version that is not the next to run.
    async fn refuse_if_dirty_below(
        &self,
        next: Option<u64>,
        retry_interrupted: bool,
    ) -> Result<(), EngineError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let Some(mark) = store.dirty().await.map_err(|e| store_err(store, e))? else {
            return Ok(());
        };
        if Some(mark.version) == next {
            // We hold the store lock, so no live process is running a `running`
            // row: the process that wrote it died, or gave up on its answer.
            if mark.state == crate::store::RunState::Running {
                if !retry_interrupted {
                    return Err(EngineError::Interrupted(Box::new(
                        super::error::InterruptedRun {
                            version: mark.version,
                            name: mark.name,
                            direction: mark.direction,
                            started_at: mark.started_at,
                            known: mark.error,
                        },
                    )));
                }
                tracing::warn!(
                    "version {} ({}) was interrupted in an earlier run (its outcome is unknown); \
                     sending it again as --retry-interrupted asks",
                    mark.version,
                    mark.name,
                );
                // Say in the history what happened to the interrupted run; the
                // retry then writes its own run row.
                let error = match &mark.error {
                    Some(known) => {
                        format!("interrupted: {known}; sent again by --retry-interrupted")
                    }
                    None => "interrupted: the apirun process running it stopped before the \
                             migration finished (killed or crashed); sent again by \
                             --retry-interrupted"
                        .to_string(),
                };
                let outcome = RunOutcome {
                    error: Some(error),
                    ..RunOutcome::default()
                };
                store
                    .finish_failed(mark.run_id, &outcome)
                    .await
                    .map_err(|e| store_err(store, e))?;
            } else {
                tracing::warn!(
                    "version {} ({}) failed in an earlier run; running it again",
                    mark.version,
                    mark.name,
                );
            }
            return Ok(());
        }
        Err(EngineError::Usage(format!(
            "version {} ({}) is dirty: its last {} run {} ({}); fix the cause, then run \
             `apirun resolve {} --applied` if the change is in place or `--rolled-back` if it is not",
            mark.version,
            mark.name,
            mark.direction.as_str(),
            if mark.state == crate::store::RunState::Running {
                "was interrupted"
            } else {
                mark.state.as_str()
            },
            mark.error.as_deref().unwrap_or("its outcome is unknown"),
            mark.version
        )))
    }

    /// Run one migration in one direction and record the result. With
    /// `lock_for_next`, a success also checks that lock (see
    /// [`Self::verify_lock`]) while the record is written, for the migration
    /// that comes next: this one is recorded and reported either way, and a
    /// lost lock is the error returned.
    async fn run_one(
        &self,
        migration: &Migration,
        direction: Direction,
        vars: &mut Vars,
        observer: &dyn Observer,
        lock_for_next: Option<&dyn crate::store::StoreLock>,
    ) -> Result<Vec<(String, String)>, EngineError> {
        let started = Instant::now();
        observer.event(super::MigrationEvent::Started {
            version: migration.version,
            name: &migration.name,
            direction,
        });
        let run_id = match &self.store {
            Some(store) => Some(
                store
                    .begin_run(&RunStart {
                        version: migration.version,
                        name: migration.name.clone(),
                        direction,
                        started_at: now_rfc3339(),
                    })
                    .await
                    .map_err(|e| store_err(store, e))?,
            ),
            None => None,
        };
        let unanswered = self.http.unanswered();
        let outcome = self.run_steps(migration, direction, vars).await;
        let duration = started.elapsed();
        match outcome {
            Ok((last, extracted)) => {
                // Saved bodies are masked like everything else the store keeps.
                let body = if self.config.store.save_response_body {
                    last.body.as_ref().map(|b| {
                        self.steps
                            .masker
                            .mask(&String::from_utf8_lossy(b))
                            .into_owned()
                    })
                } else {
                    None
                };
                let record = RunOutcome {
                    status_code: last.status,
                    body,
                    env: extracted.clone(),
                    error: None,
                    duration,
                };
                let mut lock_kept = Ok(());
                if let (Some(store), Some(id)) = (&self.store, run_id) {
                    let recording = async {
                        match direction {
                            Direction::Up => {
                                let applied = AppliedMigration {
                                    version: migration.version,
                                    name: migration.name.clone(),
                                    checksum: migration.checksum.clone(),
                                    applied_at: now_rfc3339(),
                                };
                                store
                                    .finish_up_success(id, &record, &applied, &extracted)
                                    .await
                            }
                            Direction::Down => {
                                store
                                    .finish_down_success(id, &record, migration.version)
                                    .await
                            }
                        }
                    };
                    let (recorded, checked) =
                        tokio::join!(recording, self.verify_lock(lock_for_next));
                    recorded.map_err(|e| store_err(store, e))?;
                    lock_kept = checked;
                }
                observer.event(super::MigrationEvent::Finished {
                    version: migration.version,
                    name: &migration.name,
                    direction,
                    status: last.status,
                    duration,
                });
                lock_kept?;
                Ok(extracted)
            }
            Err((step, mut failure)) => {
                // A POST (or PATCH...) of this migration lost its answer: the
                // server may have acted on it.
                failure.outcome_unknown |= self.http.unanswered() > unanswered;
                // Masked: it goes to the store and to observers.
                let message = self.steps.masker.mask(&failure.message()).into_owned();
                let body = if self.config.store.save_response_body {
                    failure.body.as_ref().map(|b| {
                        self.steps
                            .masker
                            .mask(&String::from_utf8_lossy(b))
                            .into_owned()
                    })
                } else {
                    None
                };
                if let (Some(store), Some(id)) = (&self.store, run_id) {
                    let record = RunOutcome {
                        status_code: failure.status,
                        body,
                        env: Vec::new(),
                        error: Some(message.clone()),
                        duration,
                    };
                    // An unknown outcome stays `running` (interrupted): the next
                    // `up` stops at it instead of resending (docs/store.md).
                    let recorded = if failure.outcome_unknown {
                        store.finish_interrupted(id, &record).await
                    } else {
                        store.finish_failed(id, &record).await
                    };
                    recorded.map_err(|e| store_err(store, e))?;
                }
                if failure.outcome_unknown {
                    tracing::warn!(
                        "version {} ({}): the outcome is unknown; its run stays marked as \
                         interrupted: check the server, then `apirun resolve {} --applied` or \
                         `--rolled-back`",
                        migration.version,
                        migration.name,
                        migration.version
                    );
                }
                observer.event(super::MigrationEvent::Failed {
                    version: migration.version,
                    name: &migration.name,
                    direction,
                    error: &message,
                    status: failure.status,
                    duration,
                });
                Err(EngineError::Migration(Box::new(MigrationFailure {
                    version: migration.version,
                    file: migration.path.clone(),
                    direction,
                    step,
                    failure,
                })))
            }
        }
    }

    /// The steps of one direction. Returns the last step's result and
    /// everything extracted, or the failing step's name and why.
    async fn run_steps(
        &self,
        migration: &Migration,
        direction: Direction,
        vars: &mut Vars,
    ) -> Result<(StepResult, Vec<(String, String)>), (Option<String>, StepFailure)> {
        let local = |e: (String, crate::template::TemplateError), section: &str| {
            (
                None,
                StepFailure::error(
                    Some(format!("{section}.env.{}", e.0)),
                    StepError::Template {
                        source: e.1,
                        hint: String::new(),
                    },
                ),
            )
        };
        // A down sees the up's own env too (e.g. a name the up computed).
        apply_local_env(&migration.up.env, vars).map_err(|e| local(e, "up"))?;
        let (section, steps) = match direction {
            Direction::Up => ("up", migration.up.steps()),
            Direction::Down => {
                let down = migration.down.as_ref().ok_or_else(|| {
                    (
                        None,
                        StepFailure::new(Some("down".to_string()), "there is no `down` block"),
                    )
                })?;
                apply_local_env(&down.env, vars).map_err(|e| local(e, "down"))?;
                ("down", down.steps())
            }
        };
        let mut extracted = Vec::new();
        let mut last = StepResult::default();
        let single = steps.len() == 1;
        for (i, step) in steps.iter().enumerate() {
            let field = if single {
                section.to_string()
            } else {
                format!("{section}.steps[{i}]")
            };
            let result = self
                .steps
                .run(step, &field, vars)
                .await
                .map_err(|f| (step.name.clone(), f))?;
            extracted.extend(result.extracted.iter().cloned());
            last = result;
        }
        Ok((last, extracted))
    }
}

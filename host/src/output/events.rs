//! `--output json` for commands that stream: one JSON object per line
//! (JSON Lines), each with `type` and `schema` (docs/output.md). The same
//! engine events that drive the progress display are written here, so the
//! two never disagree.
//!
//! Every object is masked with the masker handed in (the process masker:
//! every secret the run learned) before it is written, and characters that
//! could drive a terminal are written as `\uXXXX` escapes, so each line is
//! valid JSON with the same meaning.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::junit::{Report, ReportError};
use super::{Masker, RunSummary, escape::escape_json_line};
use crate::migrate::{MigrationEvent, Observer, PlannedMigration};
use crate::store::Direction;

/// The version of the event schema; it changes only when a field is removed
/// or changes meaning (new fields and event types may be added).
pub const EVENT_SCHEMA: u32 = 1;

/// Writes events as JSON Lines. Cheap to clone: clones (and [`Self::stage`]
/// handles) share one writer, and each line is written whole under a lock,
/// so concurrent stages never interleave inside a line.
#[derive(Clone)]
pub struct JsonEvents {
    shared: Arc<Shared>,
    /// Added to migration events (`stage`), for a stage's handle.
    stage: Option<Arc<str>>,
}

struct Shared {
    out: Mutex<Box<dyn Write + Send>>,
    masker: Arc<Masker>,
}

impl JsonEvents {
    /// Events written to `out`, masked with `masker`.
    pub fn new(out: impl Write + Send + 'static, masker: Arc<Masker>) -> JsonEvents {
        JsonEvents {
            shared: Arc::new(Shared {
                out: Mutex::new(Box::new(out)),
                masker,
            }),
            stage: None,
        }
    }

    /// Events on stdout.
    pub fn stdout(masker: Arc<Masker>) -> JsonEvents {
        JsonEvents::new(std::io::stdout(), masker)
    }

    /// A handle whose migration events carry `"stage": stage`.
    pub fn stage(&self, stage: &str) -> JsonEvents {
        JsonEvents {
            shared: Arc::clone(&self.shared),
            stage: Some(Arc::from(stage)),
        }
    }

    /// `run_started`: the command (`up`, `down`, `stages up`, ...) and whether
    /// it is a dry run.
    pub fn run_started(&self, command: &str, dry_run: bool) {
        self.emit(
            "run_started",
            json!({
                "command": command,
                "dry_run": dry_run,
                "apirun_version": env!("CARGO_PKG_VERSION"),
            }),
        );
    }

    /// `migration_planned`: a migration a dry run would run, with its steps
    /// (URLs were masked when the plan was made, and are masked again).
    pub fn planned(&self, plan: &PlannedMigration) {
        let value = serde_json::to_value(plan).unwrap_or(Value::Null);
        let mut fields = match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        // `version`, `name`, `direction`, `steps` as the plan has them.
        fields.retain(|k, _| matches!(k.as_str(), "version" | "name" | "direction" | "steps"));
        self.emit("migration_planned", Value::Object(fields));
    }

    /// `run_finished`: totals and the exit code the process ends with;
    /// `error`: the message printed on stderr when the run failed.
    pub fn run_finished(&self, summary: &RunSummary, exit_code: u8, error: Option<&str>) {
        self.emit(
            "run_finished",
            json!({
                "applied": summary.applied,
                "failed": summary.failed,
                "skipped": summary.skipped,
                "duration_ms": millis(summary.duration),
                "exit_code": exit_code,
                "error": error,
            }),
        );
    }

    /// Writes one event: `type`, `schema`, `stage` (when this handle has one
    /// and the fields do not) and `fields` (key order is not part of the
    /// schema).
    fn emit(&self, kind: &str, fields: Value) {
        let mut object = Map::new();
        object.insert("type".into(), Value::from(kind));
        object.insert("schema".into(), Value::from(EVENT_SCHEMA));
        let fields = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        if let Some(stage) = &self.stage
            && !fields.contains_key("stage")
        {
            object.insert("stage".into(), Value::from(stage.as_ref()));
        }
        object.extend(fields);
        let mut value = Value::Object(object);
        self.shared.masker.mask_json(&mut value);
        let line = serde_json::to_string(&value).unwrap_or_default();
        let line = escape_json_line(&line);
        let mut out = self.shared.out.lock().unwrap_or_else(|e| e.into_inner());
        // A closed stdout (`apirun up --output json | head -1`) must not
        // stop the run: the events are a view, not the work.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// The machine-readable views of one run, built once by the CLI from
/// `--output json`, `--report-junit PATH` and `--report-json PATH`: the
/// JSON Lines stream on stdout and the report collector, with the observers
/// to hand the engine and what to do when the run ends.
pub struct RunOutputs {
    pub json: Option<JsonEvents>,
    pub report: Option<Report>,
    junit: Option<PathBuf>,
    report_json: Option<PathBuf>,
}

impl RunOutputs {
    /// `suite`: the report's suite for migrations outside any stage (the
    /// config file of `up`/`down`).
    pub fn new(
        json: bool,
        junit: Option<PathBuf>,
        report_json: Option<PathBuf>,
        suite: &str,
        masker: &Arc<Masker>,
    ) -> RunOutputs {
        let report =
            (junit.is_some() || report_json.is_some()).then(|| Report::new(suite, masker.clone()));
        RunOutputs {
            json: json.then(|| JsonEvents::stdout(masker.clone())),
            report,
            junit,
            report_json,
        }
    }

    /// Whether stdout carries JSON (human progress must not go there).
    pub fn json_on_stdout(&self) -> bool {
        self.json.is_some()
    }

    /// Observers of the run (stage events and, for `up`/`down`, migrations).
    pub fn observers(&self) -> Vec<Box<dyn Observer>> {
        let mut out: Vec<Box<dyn Observer>> = Vec::new();
        if let Some(json) = &self.json {
            out.push(Box::new(json.clone()));
        }
        if let Some(report) = &self.report {
            out.push(Box::new(report.clone()));
        }
        out
    }

    /// Observers of one stage's migrations.
    pub fn stage_observers(&self, stage: &str) -> Vec<Box<dyn Observer>> {
        let mut out: Vec<Box<dyn Observer>> = Vec::new();
        if let Some(json) = &self.json {
            out.push(Box::new(json.stage(stage)));
        }
        if let Some(report) = &self.report {
            out.push(Box::new(report.stage(stage)));
        }
        out
    }

    pub fn run_started(&self, command: &str, dry_run: bool) {
        if let Some(json) = &self.json {
            json.run_started(command, dry_run);
        }
    }

    /// A dry run's plan (of `stage`, in a multi-stage dry run).
    pub fn planned(&self, stage: Option<&str>, plan: &[PlannedMigration]) {
        if let Some(json) = &self.json {
            let json = match stage {
                Some(stage) => json.stage(stage),
                None => json.clone(),
            };
            for migration in plan {
                json.planned(migration);
            }
        }
    }

    /// The run ended: `run_finished`, then the report files.
    pub fn finish(
        &self,
        summary: &RunSummary,
        exit_code: u8,
        error: Option<&str>,
    ) -> Result<(), ReportError> {
        if let Some(json) = &self.json {
            json.run_finished(summary, exit_code, error);
        }
        if let Some(report) = &self.report {
            if let Some(path) = &self.junit {
                report.write_junit(path)?;
            }
            if let Some(path) = &self.report_json {
                report.write_json(path, exit_code)?;
            }
        }
        Ok(())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn direction_outcome(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "applied",
        Direction::Down => "rolled_back",
    }
}

impl Observer for JsonEvents {
    fn event(&self, event: MigrationEvent<'_>) {
        match event {
            MigrationEvent::Started {
                version,
                name,
                direction,
            } => self.emit(
                "migration_started",
                json!({"version": version, "name": name, "direction": direction.as_str()}),
            ),
            MigrationEvent::Finished {
                version,
                name,
                direction,
                status,
                duration,
            } => self.emit(
                "migration_finished",
                json!({
                    "version": version,
                    "name": name,
                    "direction": direction.as_str(),
                    "status_code": status,
                    "duration_ms": millis(duration),
                    "outcome": direction_outcome(direction),
                    "error": null,
                }),
            ),
            MigrationEvent::Failed {
                version,
                name,
                direction,
                error,
                status,
                duration,
            } => self.emit(
                "migration_finished",
                json!({
                    "version": version,
                    "name": name,
                    "direction": direction.as_str(),
                    "status_code": status,
                    "duration_ms": millis(duration),
                    "outcome": "failed",
                    "error": error,
                }),
            ),
            // The run's order of stages is in `stage_started`/`stage_finished`;
            // a line per planned stage would only repeat stages.yaml.
            MigrationEvent::StagePlanned { .. } => {}
            MigrationEvent::StageStarted { stage } => {
                self.emit("stage_started", json!({"stage": stage}))
            }
            MigrationEvent::StageFinished {
                stage,
                end,
                migrations,
                duration,
                detail,
            } => self.emit(
                "stage_finished",
                json!({
                    "stage": stage,
                    "outcome": end.as_str(),
                    "migrations": migrations,
                    "duration_ms": duration.map(millis),
                    "detail": detail,
                }),
            ),
            MigrationEvent::StageRolledBack { stage, versions } => self.emit(
                "stage_rolled_back",
                json!({"stage": stage, "versions": versions}),
            ),
            MigrationEvent::Notice { stage, level, text } => self.emit(
                "notice",
                json!({"stage": stage, "level": level.as_str(), "message": text}),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::{NoticeLevel, StageEnd};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(buffer: &Buffer) -> Vec<Value> {
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn every_event_is_one_masked_line_with_type_and_schema() {
        let buffer = Buffer::default();
        let masker = Arc::new(Masker::new());
        masker.add_secret("hunter2-secret");
        let events = JsonEvents::new(buffer.clone(), masker);
        events.run_started("stages up", false);
        let stage = events.stage("api");
        stage.event(MigrationEvent::StageStarted { stage: "api" });
        stage.event(MigrationEvent::Started {
            version: 1,
            name: "create",
            direction: Direction::Up,
        });
        stage.event(MigrationEvent::Failed {
            version: 1,
            name: "create",
            direction: Direction::Up,
            error: "the server answered 409, expected any 2xx; body: hunter2-secret\nnext",
            status: Some(409),
            duration: Duration::from_millis(12),
        });
        stage.event(MigrationEvent::StageFinished {
            stage: "api",
            end: StageEnd::Failed,
            migrations: 0,
            duration: Some(Duration::from_millis(20)),
            detail: Some("boom \u{1b}[2J"),
        });
        events.event(MigrationEvent::Notice {
            stage: None,
            level: NoticeLevel::Info,
            text: "rolling back",
        });
        events.run_finished(
            &RunSummary {
                applied: 0,
                failed: 1,
                skipped: 0,
                duration: Duration::from_millis(30),
            },
            1,
            Some("stage failed"),
        );
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        assert!(!text.contains("hunter2-secret"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        let all = lines(&buffer);
        let types: Vec<&str> = all
            .iter()
            .map(|v| v["type"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            types,
            [
                "run_started",
                "stage_started",
                "migration_started",
                "migration_finished",
                "stage_finished",
                "notice",
                "run_finished"
            ]
        );
        assert!(all.iter().all(|v| v["schema"] == EVENT_SCHEMA));
        let failed = &all[3];
        assert_eq!(failed["stage"], "api");
        assert_eq!(failed["outcome"], "failed");
        assert_eq!(failed["status_code"], 409);
        assert_eq!(failed["duration_ms"], 12);
        assert_eq!(all[4]["outcome"], "failed");
        assert_eq!(all[6]["exit_code"], 1);
    }
}

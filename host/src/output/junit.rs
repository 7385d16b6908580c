//! Report files of a run (`--report-junit PATH`, `--report-json PATH`;
//! docs/output.md): a [`Report`] collects the engine's events (a suite per
//! stage, a case per migration) and writes them as JUnit XML or as one JSON
//! document when the run ends.
//!
//! Files are written atomically (a temporary file in the same directory,
//! then a rename), so a CI step never reads half a report, and every text in
//! them (errors, names) is masked with the process masker. XML is written
//! with quick-xml (escaping is its job, not string formatting's).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use quick_xml::Writer;
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, Event};
use serde_json::{Value, json};

use super::{Masker, escape_control};
use crate::migrate::{MigrationEvent, Observer, StageEnd};
use crate::store::Direction;

/// Why a report file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write the report {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the report {}: {source}", path.display())]
    Xml {
        path: PathBuf,
        #[source]
        source: quick_xml::Error,
    },
}

/// How a migration (a JUnit test case) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseResult {
    Passed,
    /// The (masked) error.
    Failed(String),
    /// Why it did not run.
    Skipped(String),
}

/// One test case: a migration, or (when a stage failed or was skipped as a
/// whole) the stage itself.
#[derive(Debug, Clone)]
pub struct Case {
    pub version: Option<u64>,
    pub name: String,
    pub direction: Option<Direction>,
    pub status: Option<u16>,
    pub duration: Duration,
    pub result: CaseResult,
}

impl Case {
    fn title(&self) -> String {
        match (self.version, self.direction) {
            (Some(v), Some(d)) => format!("{v} {} ({})", self.name, d.as_str()),
            _ => self.name.clone(),
        }
    }
}

/// One test suite: a stage (or the single stage of `up`/`down`).
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
    pub end: Option<StageEnd>,
    pub duration: Option<Duration>,
}

impl Suite {
    fn count(&self, f: impl Fn(&CaseResult) -> bool) -> usize {
        self.cases.iter().filter(|c| f(&c.result)).count()
    }
    fn failures(&self) -> usize {
        self.count(|r| matches!(r, CaseResult::Failed(_)))
    }
    fn skipped(&self) -> usize {
        self.count(|r| matches!(r, CaseResult::Skipped(_)))
    }
    fn time(&self) -> Duration {
        self.duration
            .unwrap_or_else(|| self.cases.iter().map(|c| c.duration).sum())
    }
}

/// Collects a run's events into suites; see the module documentation.
#[derive(Clone)]
pub struct Report {
    shared: Arc<Shared>,
    /// The suite migration events of this handle go to.
    suite: Arc<str>,
}

struct Shared {
    suites: Mutex<Vec<Suite>>,
    masker: Arc<Masker>,
    /// When the run started (RFC 3339 UTC), for the `timestamp` attribute.
    started_at: String,
}

impl Report {
    /// A report whose migration events go to the suite `suite` (the stage
    /// name, or for `up`/`down` the config file).
    pub fn new(suite: &str, masker: Arc<Masker>) -> Report {
        Report {
            shared: Arc::new(Shared {
                suites: Mutex::new(Vec::new()),
                masker,
                started_at: crate::store::now_rfc3339(),
            }),
            suite: Arc::from(suite),
        }
    }

    /// A handle whose migration events go to the suite of `stage`.
    pub fn stage(&self, stage: &str) -> Report {
        Report {
            shared: Arc::clone(&self.shared),
            suite: Arc::from(stage),
        }
    }

    /// A migration that did not run (e.g. pending after a failure).
    pub fn skip(&self, version: u64, name: &str, direction: Direction, why: &str) {
        self.with_suite(&self.suite, |suite| {
            suite.cases.push(Case {
                version: Some(version),
                name: name.to_string(),
                direction: Some(direction),
                status: None,
                duration: Duration::ZERO,
                result: CaseResult::Skipped(why.to_string()),
            })
        });
    }

    /// Like [`Self::skip`], unless the migration already has a case (it ran).
    pub fn skip_unless_run(&self, version: u64, name: &str, direction: Direction, why: &str) {
        let ran = self
            .lock()
            .iter()
            .filter(|s| *s.name == *self.suite)
            .any(|s| s.cases.iter().any(|c| c.version == Some(version)));
        if !ran {
            self.skip(version, name, direction, why);
        }
    }

    /// The suites collected so far, in the order they first had an event.
    pub fn suites(&self) -> Vec<Suite> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Suite>> {
        self.shared.suites.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_suite(&self, name: &str, f: impl FnOnce(&mut Suite)) {
        let mut suites = self.lock();
        let i = match suites.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                suites.push(Suite {
                    name: name.to_string(),
                    cases: Vec::new(),
                    end: None,
                    duration: None,
                });
                suites.len() - 1
            }
        };
        if let Some(suite) = suites.get_mut(i) {
            f(suite);
        }
    }

    /// Masked and with control characters made visible (XML 1.0 cannot
    /// carry most of them at all).
    fn clean(&self, text: &str) -> String {
        escape_control(&self.shared.masker.mask(text)).into_owned()
    }

    /// Writes the JUnit XML file.
    pub fn write_junit(&self, path: &Path) -> Result<(), ReportError> {
        let xml = self.junit_bytes().map_err(|source| ReportError::Xml {
            path: path.to_path_buf(),
            source,
        })?;
        write_atomically(path, &xml)
    }

    /// Writes the JSON report; `exit_code` is the process's.
    pub fn write_json(&self, path: &Path, exit_code: u8) -> Result<(), ReportError> {
        let mut value = self.json(exit_code);
        self.shared.masker.mask_json(&mut value);
        let mut text = serde_json::to_vec_pretty(&value).unwrap_or_default();
        text.push(b'\n');
        write_atomically(path, &text)
    }

    /// The JSON report (docs/output.md, "Reports").
    pub fn json(&self, exit_code: u8) -> Value {
        let suites = self.suites();
        let cases = |suite: &Suite| -> Vec<Value> {
            suite
                .cases
                .iter()
                .map(|c| {
                    let (outcome, error) = match &c.result {
                        CaseResult::Passed => ("passed", None),
                        CaseResult::Failed(e) => ("failed", Some(e.as_str())),
                        CaseResult::Skipped(e) => ("skipped", Some(e.as_str())),
                    };
                    json!({
                        "version": c.version,
                        "name": c.name,
                        "direction": c.direction.map(|d| d.as_str()),
                        "status_code": c.status,
                        "duration_ms": millis(c.duration),
                        "outcome": outcome,
                        "error": error,
                    })
                })
                .collect()
        };
        json!({
            "schema": super::events::EVENT_SCHEMA,
            "started_at": self.shared.started_at,
            "exit_code": exit_code,
            "tests": suites.iter().map(|s| s.cases.len()).sum::<usize>(),
            "failures": suites.iter().map(Suite::failures).sum::<usize>(),
            "skipped": suites.iter().map(Suite::skipped).sum::<usize>(),
            "suites": suites.iter().map(|s| json!({
                "name": s.name,
                "outcome": s.end.map(StageEnd::as_str),
                "duration_ms": millis(s.time()),
                "cases": cases(s),
            })).collect::<Vec<_>>(),
        })
    }

    fn junit_bytes(&self) -> Result<Vec<u8>, quick_xml::Error> {
        let suites = self.suites();
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let total = |f: fn(&Suite) -> usize| suites.iter().map(f).sum::<usize>().to_string();
        let time: Duration = suites.iter().map(Suite::time).sum();
        let mut root = BytesStart::new("testsuites");
        root.push_attribute(("name", "apirun"));
        root.push_attribute(("tests", total(|s| s.cases.len()).as_str()));
        root.push_attribute(("failures", total(Suite::failures).as_str()));
        root.push_attribute(("errors", "0"));
        root.push_attribute(("skipped", total(Suite::skipped).as_str()));
        root.push_attribute(("time", seconds(time).as_str()));
        writer.write_event(Event::Start(root))?;
        for (id, suite) in suites.iter().enumerate() {
            let name = self.clean(&suite.name);
            let mut start = BytesStart::new("testsuite");
            start.push_attribute(("name", name.as_str()));
            start.push_attribute(("id", id.to_string().as_str()));
            start.push_attribute(("tests", suite.cases.len().to_string().as_str()));
            start.push_attribute(("failures", suite.failures().to_string().as_str()));
            start.push_attribute(("errors", "0"));
            start.push_attribute(("skipped", suite.skipped().to_string().as_str()));
            start.push_attribute(("time", seconds(suite.time()).as_str()));
            start.push_attribute(("timestamp", self.shared.started_at.as_str()));
            writer.write_event(Event::Start(start))?;
            for case in &suite.cases {
                let title = self.clean(&case.title());
                let mut start = BytesStart::new("testcase");
                start.push_attribute(("name", title.as_str()));
                start.push_attribute(("classname", format!("apirun.{name}").as_str()));
                start.push_attribute(("time", seconds(case.duration).as_str()));
                match &case.result {
                    CaseResult::Passed => writer.write_event(Event::Empty(start))?,
                    CaseResult::Failed(error) => {
                        writer.write_event(Event::Start(start))?;
                        let error = self.clean(error);
                        let mut failure = BytesStart::new("failure");
                        failure
                            .push_attribute(("message", error.lines().next().unwrap_or_default()));
                        failure.push_attribute(("type", "MigrationFailed"));
                        writer.write_event(Event::Start(failure))?;
                        // CDATA keeps a multi-line error readable; `]]>` inside
                        // is split by quick-xml's escape.
                        for part in BytesCData::escaped(&error) {
                            writer.write_event(Event::CData(part))?;
                        }
                        writer.write_event(Event::End(BytesEnd::new("failure")))?;
                        writer.write_event(Event::End(BytesEnd::new("testcase")))?;
                    }
                    CaseResult::Skipped(why) => {
                        writer.write_event(Event::Start(start))?;
                        let why = self.clean(why);
                        let mut skipped = BytesStart::new("skipped");
                        skipped.push_attribute(("message", why.as_str()));
                        writer.write_event(Event::Empty(skipped))?;
                        writer.write_event(Event::End(BytesEnd::new("testcase")))?;
                    }
                }
            }
            writer.write_event(Event::End(BytesEnd::new("testsuite")))?;
        }
        writer.write_event(Event::End(BytesEnd::new("testsuites")))?;
        let mut bytes = writer.into_inner();
        bytes.push(b'\n');
        Ok(bytes)
    }
}

impl Observer for Report {
    fn event(&self, event: MigrationEvent<'_>) {
        match event {
            MigrationEvent::Started { .. } | MigrationEvent::Notice { .. } => {}
            MigrationEvent::Finished {
                version,
                name,
                direction,
                status,
                duration,
            } => self.with_suite(&self.suite, |suite| {
                suite.cases.push(Case {
                    version: Some(version),
                    name: name.to_string(),
                    direction: Some(direction),
                    status,
                    duration,
                    result: CaseResult::Passed,
                })
            }),
            MigrationEvent::Failed {
                version,
                name,
                direction,
                error,
                status,
                duration,
            } => self.with_suite(&self.suite, |suite| {
                suite.cases.push(Case {
                    version: Some(version),
                    name: name.to_string(),
                    direction: Some(direction),
                    status,
                    duration,
                    result: CaseResult::Failed(error.to_string()),
                })
            }),
            // The suite exists (in run order) even if no migration ran in it.
            MigrationEvent::StagePlanned { stage } | MigrationEvent::StageStarted { stage } => {
                self.with_suite(stage, |_| {})
            }
            MigrationEvent::StageFinished {
                stage,
                end,
                duration,
                detail,
                ..
            } => self.with_suite(stage, |suite| {
                suite.end = Some(end);
                suite.duration = duration;
                // A stage that failed before (or besides) a migration, or did
                // not run at all, is a case of its own, so that the failure
                // or the skip counts.
                let failed_migration = suite.failures() > 0;
                let result = match end {
                    StageEnd::Failed if !failed_migration => Some(CaseResult::Failed(
                        detail.unwrap_or("the stage failed").to_string(),
                    )),
                    StageEnd::Skipped
                    | StageEnd::NotStarted
                    | StageEnd::ConditionFalse
                    | StageEnd::NothingApplied
                        if suite.cases.is_empty() =>
                    {
                        Some(CaseResult::Skipped(
                            detail.unwrap_or(end.as_str()).to_string(),
                        ))
                    }
                    _ => None,
                };
                if let Some(result) = result {
                    suite.cases.push(Case {
                        version: None,
                        name: format!("stage {stage}"),
                        direction: None,
                        status: None,
                        duration: duration.unwrap_or_default(),
                        result,
                    });
                }
            }),
            MigrationEvent::StageRolledBack { stage, .. } => {
                self.with_suite(stage, |suite| suite.end = Some(StageEnd::RolledBack))
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over
/// `path`: readers see the old file or the whole new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let io = |source: std::io::Error| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    file.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let masker = Arc::new(Masker::new());
        masker.add_secret("s3cr3t-value-xyz");
        let report = Report::new("apirun", masker);
        let api = report.stage("api");
        api.event(MigrationEvent::StageStarted { stage: "api" });
        api.event(MigrationEvent::Finished {
            version: 1,
            name: "one",
            direction: Direction::Up,
            status: Some(201),
            duration: Duration::from_millis(5),
        });
        api.event(MigrationEvent::Failed {
            version: 2,
            name: "two <&>",
            direction: Direction::Up,
            error: "the server answered 500; body: s3cr3t-value-xyz ]]> \u{1b}x\nsecond line",
            status: Some(500),
            duration: Duration::from_millis(7),
        });
        api.skip(
            3,
            "three",
            Direction::Up,
            "not run: an earlier migration failed",
        );
        api.event(MigrationEvent::StageFinished {
            stage: "api",
            end: StageEnd::Failed,
            migrations: 1,
            duration: Some(Duration::from_millis(20)),
            detail: Some("migration failed"),
        });
        report.event(MigrationEvent::StageFinished {
            stage: "web",
            end: StageEnd::Skipped,
            migrations: 0,
            duration: None,
            detail: Some("`api` did not succeed"),
        });
        report
    }

    #[test]
    fn junit_counts_and_masks() {
        let xml = String::from_utf8(sample().junit_bytes().expect("xml")).expect("utf-8");
        assert!(!xml.contains("s3cr3t-value-xyz"), "{xml}");
        assert!(!xml.contains('\u{1b}'), "{xml}");
        // Parse it back: the document is well-formed and counts add up.
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut suites = Vec::new();
        let (mut failures, mut skipped) = (0, 0);
        loop {
            match reader.read_event().expect("well-formed") {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                    b"testsuite" => suites.push(
                        e.try_get_attribute("name")
                            .expect("attr")
                            .expect("name")
                            .unescape_value()
                            .expect("text")
                            .into_owned(),
                    ),
                    b"failure" => failures += 1,
                    b"skipped" => skipped += 1,
                    _ => {}
                },
                _ => {}
            }
        }
        assert_eq!(suites, ["api", "web"]);
        assert_eq!((failures, skipped), (1, 2));
        assert!(
            xml.contains(r#"<testsuites name="apirun" tests="4" failures="1""#),
            "{xml}"
        );
        assert!(xml.contains("2 two &lt;&amp;&gt; (up)"), "{xml}");
    }

    #[test]
    fn json_report_and_atomic_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.json");
        let report = sample();
        report.write_json(&path, 1).expect("written");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("s3cr3t-value-xyz"));
        let value: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["failures"], 1);
        assert_eq!(value["skipped"], 2);
        assert_eq!(value["suites"][0]["cases"][1]["status_code"], 500);
        let junit = dir.path().join("junit.xml");
        report.write_junit(&junit).expect("written");
        // Only the two reports: no temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 2);
    }
}

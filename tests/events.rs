//! End-to-end: `--output json` event streams and `--report-junit` /
//! `--report-json` files (docs/output.md), with the real binary against the
//! demo API on 127.0.0.1. Every line of every stream must parse, the events
//! must match what the server received, and a config secret must never
//! appear in a stream or a report.

mod support;

use std::process::Command;

use quick_xml::events::Event;
use serde_json::Value;
use support::DemoApiAdmin as _;
use support::{Api, Project, Run, apirun_bin, run};

/// Registered as a secret (its variable is named like one); every migration
/// below puts it somewhere an unmasked output would show it.
const SECRET: &str = "s3cr3t-Pa55-9f7e1c";

fn config(base: &str) -> String {
    format!(
        r#"migrate_dir: ./migration
env:
  - name: api_base
    value: {base}
  - name: admin_password
    value: {SECRET}
auth:
  - type: basic
    name: admin
    config:
      username: admin
      password: "{{{{.admin_password}}}}"
"#
    )
}

/// A migration creating a resource in `collection` (201 from the demo API);
/// its URL carries the secret in a query parameter.
fn create(collection: &str) -> String {
    format!(
        r#"up:
  request:
    auth_name: admin
    method: POST
    url: "{{{{.api_base}}}}/api/{collection}?t={{{{.admin_password}}}}"
    body: '{{"name": "x"}}'
  response:
    result_code: ["201"]
down:
  auth: admin
  method: DELETE
  url: "{{{{.api_base}}}}/api/{collection}/1"
"#
    )
}

/// A migration the demo API answers 404 to, with the secret in the path (the
/// API's error body quotes the path back).
const FAILING: &str = r#"up:
  request:
    auth_name: admin
    method: POST
    url: "{{.api_base}}/no-such-route/{{.admin_password}}"
    body: '{}'
"#;

/// Every stdout line as JSON (panics naming the line that is not).
fn events(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n{}", run.stdout))
        })
        .collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET),
        "the secret leaked into {what}:\n{text}"
    );
}

/// Counts of a JUnit file, parsed with quick-xml: the root's attributes and
/// the number of `testsuite`, `testcase`, `failure` and `skipped` elements.
#[derive(Debug, Default, PartialEq, Eq)]
struct Junit {
    suites: Vec<String>,
    cases: usize,
    failures: usize,
    skipped: usize,
    root_tests: usize,
    root_failures: usize,
}

fn junit(path: &std::path::Path) -> Junit {
    let xml = std::fs::read_to_string(path).expect("the JUnit report exists");
    assert_no_secret("the JUnit report", &xml);
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut out = Junit::default();
    let attr = |e: &quick_xml::events::BytesStart<'_>, name: &str| -> String {
        e.try_get_attribute(name)
            .expect("attribute")
            .map(|a| a.unescape_value().expect("text").into_owned())
            .unwrap_or_default()
    };
    let mut depth = 0;
    loop {
        let event = reader.read_event().expect("well-formed XML");
        let (element, opens) = match &event {
            Event::Eof => break,
            Event::Start(e) => (Some(e.clone()), true),
            Event::Empty(e) => (Some(e.clone()), false),
            Event::End(_) => {
                depth -= 1;
                (None, false)
            }
            _ => (None, false),
        };
        let Some(e) = element else { continue };
        match (e.name().as_ref(), depth) {
            (b"testsuites", 0) => {
                out.root_tests = attr(&e, "tests").parse().expect("tests");
                out.root_failures = attr(&e, "failures").parse().expect("failures");
            }
            (b"testsuite", 1) => out.suites.push(attr(&e, "name")),
            (b"testcase", 2) => out.cases += 1,
            (b"failure", 3) => out.failures += 1,
            (b"skipped", 3) => out.skipped += 1,
            (name, d) => panic!(
                "unexpected <{}> at depth {d} in\n{xml}",
                String::from_utf8_lossy(name)
            ),
        }
        if opens {
            depth += 1;
        }
    }
    out
}

#[test]
fn up_streams_one_event_per_line_matching_the_server_log() {
    let api = Api::with_basic("admin", SECRET);
    let project = Project::new();
    project.write("config.yaml", &config(&api.url()));
    project.write("migration/001_users.yaml", &create("users"));
    project.write("migration/002_teams.yaml", &create("teams"));
    let report = project.path().join("out/junit.xml");
    std::fs::create_dir_all(report.parent().expect("dir")).expect("mkdir");
    let json_report = project.path().join("report.json");
    let out = project.apirun(&[
        "up",
        "--output",
        "json",
        "--report-junit",
        report.to_str().expect("path"),
        "--report-json",
        json_report.to_str().expect("path"),
    ]);
    out.success();
    assert_no_secret("stdout", &out.stdout);
    assert_no_secret("stderr", &out.stderr);
    let all = events(&out);
    assert!(all.iter().all(|e| e["schema"] == 1), "{}", out.stdout);
    let types: Vec<&str> = all
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        [
            "run_started",
            "migration_started",
            "migration_finished",
            "migration_started",
            "migration_finished",
            "run_finished"
        ],
        "{}",
        out.stdout
    );
    // The events say what the server saw: one request per migration, in
    // order, answered with the status the event reports.
    let seen = api.requests();
    let finished = of_type(&all, "migration_finished");
    assert_eq!(seen.len(), finished.len(), "{seen:?}");
    for (event, request) in finished.iter().zip(&seen) {
        let collection = if event["version"] == 1 {
            "users"
        } else {
            "teams"
        };
        assert_eq!(request["path"], format!("/api/{collection}"), "{request}");
        assert_eq!(
            event["status_code"], request["status"],
            "{event} vs {request}"
        );
        assert_eq!(event["outcome"], "applied");
        assert_eq!(event["direction"], "up");
        assert!(event["duration_ms"].is_u64(), "{event}");
    }
    let end = of_type(&all, "run_finished")[0];
    assert_eq!(end["exit_code"], 0);
    assert_eq!(end["applied"], 2);
    assert_eq!(end["failed"], 0);

    let counts = junit(&report);
    assert_eq!((counts.cases, counts.failures, counts.skipped), (2, 0, 0));
    assert_eq!((counts.root_tests, counts.root_failures), (2, 0));
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_report).expect("json report"))
            .expect("JSON report parses");
    assert_eq!(json["tests"], 2);
    assert_eq!(json["exit_code"], 0);
}

#[test]
fn a_failing_migration_exits_1_with_a_failed_event_and_a_junit_failure() {
    let api = Api::with_basic("admin", SECRET);
    let project = Project::new();
    project.write("config.yaml", &config(&api.url()));
    project.write("migration/001_users.yaml", &create("users"));
    project.write("migration/002_broken.yaml", FAILING);
    project.write("migration/003_teams.yaml", &create("teams"));
    let report = project.path().join("junit.xml");
    let out = project.apirun(&[
        "up",
        "--output",
        "json",
        "--report-junit",
        report.to_str().expect("path"),
    ]);
    out.code(1);
    assert_no_secret("stdout", &out.stdout);
    assert_no_secret("stderr", &out.stderr);
    let all = events(&out);
    let finished = of_type(&all, "migration_finished");
    assert_eq!(finished.len(), 2, "{}", out.stdout);
    assert_eq!(finished[0]["outcome"], "applied");
    let failed = finished[1];
    assert_eq!(failed["version"], 2);
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["status_code"], 404);
    assert!(
        failed["error"].as_str().is_some_and(|e| e.contains("404")),
        "{failed}"
    );
    // What the server answered is what the event says.
    let seen = api.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1]["status"], 404);
    let end = of_type(&all, "run_finished")[0];
    assert_eq!(end["exit_code"], 1, "{end}");
    assert_eq!(end["failed"], 1);
    assert!(end["error"].is_string(), "{end}");

    let counts = junit(&report);
    // 001 passed, 002 failed, 003 never ran (skipped).
    assert_eq!((counts.cases, counts.failures, counts.skipped), (3, 1, 1));
    assert_eq!(counts.root_failures, 1);
}

#[test]
fn dry_run_streams_the_plan_and_sends_nothing() {
    let api = Api::with_basic("admin", SECRET);
    let project = Project::new();
    project.write("config.yaml", &config(&api.url()));
    project.write("migration/001_users.yaml", &create("users"));
    let out = project.apirun(&["up", "--dry-run", "--output", "json"]);
    out.success();
    assert_no_secret("stdout", &out.stdout);
    let all = events(&out);
    assert_eq!(all[0]["type"], "run_started");
    assert_eq!(all[0]["dry_run"], true);
    let planned = of_type(&all, "migration_planned");
    assert_eq!(planned.len(), 1, "{}", out.stdout);
    assert_eq!(planned[0]["version"], 1);
    assert_eq!(planned[0]["steps"][0]["method"], "POST");
    assert_eq!(of_type(&all, "run_finished")[0]["exit_code"], 0);
    assert!(api.requests().is_empty());
}

fn stages_project(api: &Api, second: &str) -> Project {
    let project = Project::new();
    for (name, migration) in [("base", create("users")), ("app", second.to_string())] {
        project.write(&format!("{name}/config.yaml"), &config(&api.url()));
        project.write(&format!("{name}/migration/001_{name}.yaml"), &migration);
    }
    project.write(
        "stages.yaml",
        r#"apiVersion: apirun/v1
kind: StageOrchestration
stages:
  - name: base
    config_path: base/config.yaml
  - name: app
    config_path: app/config.yaml
    depends_on: [base]
"#,
    );
    project
}

fn stages(project: &Project, args: &[&str]) -> Run {
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(project.path())
        .args(["stages"])
        .args(args)
        .arg("-c")
        .arg(project.path().join("stages.yaml"))
        .env("APIRUN_WAIT_BETWEEN_STAGES", "0s");
    run(cmd)
}

#[test]
fn stages_up_streams_stage_events_and_a_suite_per_stage() {
    let api = Api::with_basic("admin", SECRET);
    let project = stages_project(&api, &create("teams"));
    let report = project.path().join("junit.xml");
    let out = stages(
        &project,
        &[
            "up",
            "--output",
            "json",
            "--report-junit",
            report.to_str().expect("path"),
        ],
    );
    out.success();
    assert_no_secret("stdout", &out.stdout);
    assert_no_secret("stderr", &out.stderr);
    let all = events(&out);
    let started: Vec<&Value> = of_type(&all, "stage_started")
        .into_iter()
        .map(|e| &e["stage"])
        .collect();
    assert_eq!(started, ["base", "app"], "{}", out.stdout);
    let finished = of_type(&all, "stage_finished");
    assert_eq!(finished.len(), 2);
    assert!(
        finished.iter().all(|e| e["outcome"] == "applied"),
        "{}",
        out.stdout
    );
    assert!(
        finished.iter().all(|e| e["migrations"] == 1),
        "{}",
        out.stdout
    );
    // Each migration event names its stage; the server saw one request each.
    let migrations = of_type(&all, "migration_finished");
    let by_stage: Vec<(&Value, &Value)> = migrations
        .iter()
        .map(|e| (&e["stage"], &e["status_code"]))
        .collect();
    assert_eq!(
        by_stage,
        [(&"base".into(), &201.into()), (&"app".into(), &201.into())]
    );
    let seen: Vec<Value> = api
        .requests()
        .into_iter()
        .map(|r| r["path"].clone())
        .collect();
    assert_eq!(seen, ["/api/users", "/api/teams"]);
    // The stage's migration events come between its start and its end.
    let position = |kind: &str, stage: &str| {
        all.iter()
            .position(|e| e["type"] == kind && e["stage"] == stage)
            .unwrap_or_else(|| panic!("no {kind} of {stage}"))
    };
    assert!(position("stage_started", "app") < position("migration_finished", "app"));
    assert!(position("migration_finished", "app") < position("stage_finished", "app"));
    let end = of_type(&all, "run_finished")[0];
    assert_eq!(
        (end["exit_code"].clone(), end["applied"].clone()),
        (0.into(), 2.into())
    );

    let counts = junit(&report);
    assert_eq!(counts.suites, ["base", "app"]);
    assert_eq!((counts.cases, counts.failures), (2, 0));
}

#[test]
fn a_failed_stage_is_a_junit_failure_and_its_dependents_are_skipped() {
    let api = Api::with_basic("admin", SECRET);
    // `app` fails, then a third stage depending on it does not run.
    let project = stages_project(&api, FAILING);
    project.write("web/config.yaml", &config(&api.url()));
    project.write("web/migration/001_web.yaml", &create("sites"));
    let stages_yaml = std::fs::read_to_string(project.path().join("stages.yaml")).expect("read");
    project.write(
        "stages.yaml",
        &format!(
            "{stages_yaml}  - name: web\n    config_path: web/config.yaml\n    depends_on: [app]\n"
        ),
    );
    let report = project.path().join("junit.xml");
    let out = stages(
        &project,
        &[
            "up",
            "--output",
            "json",
            "--report-junit",
            report.to_str().expect("path"),
        ],
    );
    out.code(1);
    assert_no_secret("stdout", &out.stdout);
    assert_no_secret("stderr", &out.stderr);
    let all = events(&out);
    let outcome = |stage: &str| {
        of_type(&all, "stage_finished")
            .into_iter()
            .find(|e| e["stage"] == stage)
            .map(|e| e["outcome"].clone())
            .unwrap_or_else(|| panic!("no stage_finished for {stage}:\n{}", out.stdout))
    };
    assert_eq!(outcome("base"), "applied");
    assert_eq!(outcome("app"), "failed");
    // on_failure defaults to stop: the run stops, `web` never starts.
    assert_eq!(outcome("web"), "not_started");
    let failed = of_type(&all, "migration_finished")
        .into_iter()
        .find(|e| e["outcome"] == "failed")
        .expect("a failed migration event");
    assert_eq!(
        (failed["stage"].clone(), failed["status_code"].clone()),
        ("app".into(), 404.into())
    );
    assert_eq!(of_type(&all, "run_finished")[0]["exit_code"], 1);

    let counts = junit(&report);
    assert_eq!(counts.suites, ["base", "app", "web"]);
    assert_eq!((counts.failures, counts.skipped), (1, 1));
    assert_eq!(counts.root_failures, 1);
}

/// A secret that reaches the events unmasked by the engine (here in a file
/// name, which becomes the migration's name) is masked by the event writer
/// and the report writer themselves.
#[test]
fn a_secret_in_a_migration_name_is_masked_in_events_and_reports() {
    let api = Api::with_basic("admin", SECRET);
    let project = Project::new();
    project.write("config.yaml", &config(&api.url()));
    project.write(&format!("migration/001_{SECRET}.yaml"), &create("users"));
    let report = project.path().join("junit.xml");
    let json_report = project.path().join("report.json");
    let out = project.apirun(&[
        "up",
        "--output",
        "json",
        "--report-junit",
        report.to_str().expect("path"),
        "--report-json",
        json_report.to_str().expect("path"),
    ]);
    out.success();
    assert_no_secret("stdout", &out.stdout);
    assert_no_secret("stderr", &out.stderr);
    let all = events(&out);
    let started = of_type(&all, "migration_started");
    assert_eq!(started.len(), 1, "{}", out.stdout);
    assert!(
        started[0]["name"]
            .as_str()
            .is_some_and(|n| n.contains("***")),
        "{}",
        started[0]
    );
    assert_eq!(junit(&report).cases, 1);
    let json = std::fs::read_to_string(&json_report).expect("json report");
    assert_no_secret("the JSON report", &json);
}

/// Commands that do not stream print one JSON document with `--output json`.
#[test]
fn one_document_commands_print_one_json_document() {
    let api = Api::with_basic("admin", SECRET);
    let project = Project::new();
    project.write("config.yaml", &config(&api.url()));
    project.write("migration/001_users.yaml", &create("users"));
    let document = |run: &Run| -> Value {
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{}", run.stdout))
    };
    let valid = project.apirun(&["validate", "--output", "json"]);
    valid.success();
    let value = document(&valid);
    assert_eq!(
        (value["valid"].clone(), value["migrations"].clone()),
        (true.into(), 1.into())
    );
    assert_no_secret("validate", &valid.stdout);

    project.write(
        "migration/002_bad.yaml",
        "up:\n  request:\n    method: POST\n",
    );
    let invalid = project.apirun(&["validate", "--output", "json"]);
    invalid.code(2);
    let value = document(&invalid);
    assert_eq!(value["valid"], false);
    assert!(value["errors"].as_u64().is_some_and(|n| n > 0), "{value}");
    assert!(
        value["problems"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("002_bad.yaml")))),
        "{value}"
    );
    std::fs::remove_file(project.path().join("migration/002_bad.yaml")).expect("remove");

    let created = project.apirun(&["create", "add_teams", "--output", "json"]);
    created.success();
    let path = document(&created)["created"]
        .as_str()
        .expect("created")
        .to_string();
    assert!(
        std::path::Path::new(&path).is_file() || project.path().join(&path).is_file(),
        "{path}"
    );
    // Nothing was sent by any of them.
    assert!(api.requests().is_empty());
}

#[test]
fn stages_dry_run_and_down_stream_events() {
    let api = Api::with_basic("admin", SECRET);
    let project = stages_project(&api, &create("teams"));
    let dry = stages(&project, &["up", "--dry-run", "--output", "json"]);
    dry.success();
    assert_no_secret("stdout", &dry.stdout);
    let all = events(&dry);
    assert_eq!(all[0]["dry_run"], true);
    let planned: Vec<&Value> = of_type(&all, "migration_planned")
        .into_iter()
        .map(|e| &e["stage"])
        .collect();
    assert_eq!(planned, ["base", "app"], "{}", dry.stdout);
    assert!(api.requests().is_empty());

    stages(&project, &["up"]).success();
    let down = stages(&project, &["down", "--output", "json"]);
    down.success();
    assert_no_secret("stdout", &down.stdout);
    let all = events(&down);
    // Dependents first.
    let order: Vec<&Value> = of_type(&all, "stage_finished")
        .into_iter()
        .map(|e| &e["stage"])
        .collect();
    assert_eq!(order, ["app", "base"], "{}", down.stdout);
    assert!(
        of_type(&all, "stage_finished")
            .iter()
            .all(|e| e["outcome"] == "rolled_back"),
        "{}",
        down.stdout
    );
    let finished = of_type(&all, "migration_finished");
    assert_eq!(finished.len(), 2);
    for event in &finished {
        assert_eq!(event["direction"], "down");
        assert_eq!(event["outcome"], "rolled_back");
    }
    let deletes = api.requests_to("DELETE", "/api/teams/1").len()
        + api.requests_to("DELETE", "/api/users/1").len();
    assert_eq!(deletes, 2);
}

//! Benchmark of multi-stage orchestration (ignored by default; figures on stdout):
//!
//! ```sh
//! cargo test -p apirun --test stages_bench -- --ignored --nocapture
//! ```
//!
//! 1. 20 stages x 50 migrations in a diamond (one top stage, 18 middle
//!    stages depending on it, one bottom stage depending on all of them)
//!    against the demo API, every migration a GET with `?_delay_ms=5`, at
//!    `max_concurrent_stages` 1 and 4: total wall time vs the sum of the
//!    migrations' own durations (as recorded in each stage's store).
//! 2. Planning time for 500 stages: loading stages.yaml and building the
//!    graph (cycles, levels, selection) in process, then `stages validate`
//!    and `stages up --dry-run` with the real binary.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use apirun::orchestrate::{Orchestration, Selection, Way};
use support::{Api, Project, Run, apirun_bin, run};

const STAGES: usize = 20;
const MIGRATIONS: usize = 50;
const DELAY_MS: u64 = 5;

fn stages_cmd(project: &Project, args: &[&str]) -> Run {
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(project.path())
        .arg("stages")
        .args(args)
        .arg("-c")
        .arg(project.path().join("stages.yaml"))
        .env("APIRUN_WAIT_BETWEEN_STAGES", "0s")
        .env("APIRUN_PROGRESS", "quiet");
    run(cmd)
}

fn stage_config(project: &Project, name: &str, api_base: &str) {
    project.write(
        &format!("{name}/config.yaml"),
        &format!(
            "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {api_base}\nstore:\n  sqlite:\n    path: ./state.db\n"
        ),
    );
}

fn diamond(api: &Api, max: usize) -> Project {
    let project = Project::new();
    let name = |i: usize| format!("s{i:02}");
    let mut yaml = String::from("apiVersion: apirun/v1\nkind: StageOrchestration\nstages:\n");
    for i in 0..STAGES {
        let deps: Vec<String> = if i == 0 {
            Vec::new()
        } else if i == STAGES - 1 {
            (1..STAGES - 1).map(name).collect()
        } else {
            vec![name(0)]
        };
        yaml.push_str(&format!(
            "  - name: {}\n    config_path: {}/config.yaml\n    depends_on: [{}]\n",
            name(i),
            name(i),
            deps.join(", ")
        ));
        stage_config(&project, &name(i), &api.url());
        for m in 1..=MIGRATIONS {
            project.write(
                &format!("{}/migration/{m:03}_get.yaml", name(i)),
                &format!(
                    "up:\n  request:\n    method: GET\n    url: \"{{{{.api_base}}}}/api/bench?_delay_ms={DELAY_MS}\"\n  response:\n    result_code: [\"200\"]\n"
                ),
            );
        }
    }
    yaml.push_str(&format!("global:\n  max_concurrent_stages: {max}\n"));
    project.write("stages.yaml", &yaml);
    project
}

/// Sum of the recorded durations of every run in the stage's store.
fn recorded(project: &Project, stage: &str) -> Duration {
    let mut cmd = Command::new(apirun_bin());
    cmd.arg("--config")
        .arg(project.path().join(stage).join("config.yaml"))
        .args(["status", "--history-all", "--output", "json"]);
    let out = run(cmd);
    out.success();
    let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("status json");
    let ms: u64 = value["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|r| r["duration_ms"].as_u64())
        .sum();
    Duration::from_millis(ms)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[test]
#[ignore = "benchmark: cargo test -p apirun --test stages_bench -- --ignored --nocapture"]
fn diamond_20_stages_x_50_migrations() {
    let api = Api::start();
    // Warm the plugin compile cache so neither measured run pays for it.
    let warm = diamond(&api, 4);
    std::fs::write(
        warm.path().join("stages.yaml"),
        "apiVersion: apirun/v1\nkind: StageOrchestration\nstages:\n  - name: s00\n    config_path: s00/config.yaml\n",
    )
    .expect("write");
    stages_cmd(&warm, &["up"]).success();

    println!(
        "diamond: {STAGES} stages x {MIGRATIONS} migrations, each a GET with ?_delay_ms={DELAY_MS}"
    );
    let mut totals = Vec::new();
    for max in [1, 4] {
        let project = diamond(&api, max);
        let started = Instant::now();
        stages_cmd(&project, &["up"]).success();
        let total = started.elapsed();
        let sum: Duration = (0..STAGES)
            .map(|i| recorded(&project, &format!("s{i:02}")))
            .sum();
        println!(
            "  max_concurrent_stages {max}: total {} | sum of migration times {} | total/sum {:.2} | per migration {:.1} ms wall",
            secs(total),
            secs(sum),
            total.as_secs_f64() / sum.as_secs_f64(),
            total.as_secs_f64() * 1000.0 / (STAGES * MIGRATIONS) as f64
        );
        totals.push(total);
    }
    println!(
        "  speed-up 4 vs 1: {:.2}x",
        totals[0].as_secs_f64() / totals[1].as_secs_f64()
    );
    assert!(totals[1] < totals[0], "4 concurrent stages should beat 1");
}

fn wide_project(stages: usize) -> Project {
    let project = Project::new();
    let mut yaml = String::from("apiVersion: apirun/v1\nkind: StageOrchestration\nstages:\n");
    for i in 0..stages {
        // Each stage depends on its predecessor and on the stage at half its
        // index: a deep graph with many edges and levels.
        let mut deps = Vec::new();
        if i > 0 {
            deps.push(format!("st{:03}", i - 1));
        }
        if i > 2 {
            deps.push(format!("st{:03}", i / 2));
        }
        yaml.push_str(&format!(
            "  - name: st{i:03}\n    config_path: st{i:03}/config.yaml\n    depends_on: [{}]\n",
            deps.join(", ")
        ));
        stage_config(&project, &format!("st{i:03}"), "http://127.0.0.1:9");
        project.write(
            &format!("st{i:03}/migration/001_get.yaml"),
            "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/x\"\n",
        );
    }
    project.write("stages.yaml", &yaml);
    project
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let value = f();
    (value, started.elapsed())
}

#[test]
#[ignore = "benchmark: cargo test -p apirun --test stages_bench -- --ignored --nocapture"]
fn planning_500_stages() {
    let project = wide_project(500);
    let path = project.path().join("stages.yaml");
    let (orchestration, load) = timed(|| Orchestration::load(&path).expect("loads"));
    let (selected, select) = timed(|| {
        orchestration
            .select(&Selection::default(), Way::Up)
            .expect("selects")
    });
    let (levels, level) = timed(|| orchestration.graph.levels(&selected));
    let (cycles, cycle) = timed(|| orchestration.graph.cycles());
    assert!(cycles.is_empty());
    println!("planning 500 stages ({} levels):", levels.len());
    println!(
        "  in process: load+graph {:.1} ms, select {:.2} ms, levels {:.2} ms, cycle check {:.2} ms",
        ms(load),
        ms(select),
        ms(level),
        ms(cycle)
    );
    let (validate, v) = timed(|| stages_cmd(&project, &["validate"]));
    validate.success();
    let (dry, d) = timed(|| stages_cmd(&project, &["up", "--dry-run"]));
    dry.success();
    assert!(
        dry.stdout.contains("level 500: st499"),
        "{}",
        &dry.stdout[..200.min(dry.stdout.len())]
    );
    println!(
        "  binary: stages validate {}, stages up --dry-run (opens every stage's store) {}",
        secs(v),
        secs(d)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

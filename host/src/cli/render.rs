//! Text output of plans and status.

use super::defs::OutputFormat;
use super::exit::Exit;
use crate::migrate::{PlannedMigration, StatusReport};
use crate::output::Masker;

pub fn print_plan(plan: &[PlannedMigration], direction: &str) {
    if plan.is_empty() {
        out!("dry run: nothing to {direction}; no request would be sent");
        return;
    }
    out!(
        "dry run: {} migration(s) would run ({direction}); nothing is sent and the store is not written",
        plan.len()
    );
    for migration in plan {
        for line in plan_lines(migration) {
            out!("{line}");
        }
    }
}

/// One planned migration as text: a header line, then a line per step. URLs
/// were masked when the plan was made.
pub(super) fn plan_lines(migration: &PlannedMigration) -> Vec<String> {
    let mut lines = vec![format!(
        "  {:>3} {} ({})",
        migration.version, migration.name, migration.direction
    )];
    for step in &migration.steps {
        let name = step.name.as_deref().unwrap_or("");
        lines.push(match (&step.method, &step.url) {
            (Some(method), Some(url)) => {
                let auth = step
                    .auth
                    .as_deref()
                    .map(|a| format!(" [auth: {a}]"))
                    .unwrap_or_default();
                let poll = step
                    .poll
                    .as_deref()
                    .map(|p| format!(" [{p}]"))
                    .unwrap_or_default();
                format!("        {method} {url}{auth}{poll}  {name}")
            }
            _ => format!("        step type `{}`  {name}", step.kind),
        });
    }
    lines
}

pub fn print_status(report: &StatusReport, masker: &Masker) {
    out!("store:   {}", report.store);
    out!("current: {}", report.current);
    out!(
        "applied: {}   pending: {}   out of order: {}   changed: {}   missing files: {}",
        report.applied.len(),
        report.pending.len(),
        report.out_of_order.len(),
        report.changed.len(),
        report.missing.len()
    );
    if let Some(dirty) = report.dirty.as_ref().filter(|d| d.in_progress_by.is_some()) {
        out!(
            "RUNNING: version {} ({}) {} is being run by another apirun right now (it holds the store lock: {})",
            dirty.version,
            dirty.name,
            dirty.direction,
            dirty.in_progress_by.as_deref().unwrap_or_default()
        );
    } else if let Some(dirty) = report.dirty.as_ref().filter(|d| d.state == "running") {
        // Its outcome is unknown: `up` stops at it (docs/store.md, "Unknown outcomes").
        out!(
            "DIRTY:   version {} ({}) {} run interrupted, outcome unknown{}; check the API, then \
             `apirun resolve {} --applied|--rolled-back`, or `apirun up --retry-interrupted` to send it again",
            dirty.version,
            dirty.name,
            dirty.direction,
            dirty
                .error
                .as_deref()
                .map(|e| format!(" ({})", masker.mask(e)))
                .unwrap_or_default(),
            dirty.version
        );
    } else if let Some(dirty) = &report.dirty {
        out!(
            "DIRTY:   version {} ({}) {} run {}{}; {}, or `apirun resolve {} --applied|--rolled-back`",
            dirty.version,
            dirty.name,
            dirty.direction,
            dirty.state,
            dirty
                .error
                .as_deref()
                .map(|e| format!(": {}", masker.mask(e)))
                .unwrap_or_default(),
            // A failed rollback is retried by `down`, not `up`.
            if dirty.direction == "down" {
                format!(
                    "rerun `apirun down --to {}`",
                    dirty.version.saturating_sub(1)
                )
            } else {
                "rerun `apirun up`".to_string()
            },
            dirty.version
        );
    }
    if !report.versions.is_empty() {
        out!();
        out!(
            "  {:<16} {:<14} {:<30} applied at",
            "version",
            "state",
            "name"
        );
        for v in &report.versions {
            out!(
                "  {:<16} {:<14} {:<30} {}",
                v.version,
                v.state,
                v.name,
                v.applied_at.as_deref().unwrap_or("-")
            );
        }
    }
    if let Some(history) = &report.history {
        out!();
        out!("history (newest first):");
        for run in history {
            out!(
                "  #{:<5} {:<16} {:<5} {:<10} {:<5} {:>7} ms  {}  {}{}",
                run.id,
                run.version,
                run.direction,
                run.state,
                run.status_code
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                run.duration_ms
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                run.started_at,
                run.name,
                run.error
                    .as_deref()
                    .map(|e| format!("  error: {}", masker.mask(e)))
                    .unwrap_or_default()
            );
        }
    }
}

/// Why `--check` fails for a stage: one line per kind of work found, empty
/// when everything is applied and clean (docs/cli.md, "Gates").
pub fn check_reasons(report: &StatusReport) -> Vec<String> {
    let list = |versions: &[u64]| {
        versions
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut reasons = Vec::new();
    if let Some(dirty) = &report.dirty {
        reasons.push(format!(
            "dirty: version {} ({}) {} run {}",
            dirty.version, dirty.name, dirty.direction, dirty.state
        ));
    }
    for (what, versions) in [
        ("pending", &report.pending),
        ("out of order", &report.out_of_order),
        ("changed since applied", &report.changed),
        ("applied but the file is missing", &report.missing),
    ] {
        if !versions.is_empty() {
            reasons.push(format!("{what}: {}", list(versions)));
        }
    }
    reasons
}

/// `--check`: prints why (on stdout with text output, on stderr next to a
/// JSON document) and gives [`Exit::CheckFoundWork`] when there is work.
/// `reasons`: per stage (None for a single stage), what needs doing.
pub fn print_check(reasons: &[(Option<&str>, Vec<String>)], output: OutputFormat) -> Exit {
    let lines: Vec<String> = reasons
        .iter()
        .flat_map(|(stage, why)| {
            why.iter().map(move |line| match stage {
                Some(stage) => format!("[{stage}] {line}"),
                None => line.clone(),
            })
        })
        .collect();
    let print = |line: &str| match output {
        OutputFormat::Text => out!("{line}"),
        OutputFormat::Json => err!("{line}"),
    };
    if lines.is_empty() {
        print("check: ok, everything is applied and clean");
        return Exit::Ok;
    }
    print(&format!("check: {} thing(s) to do (exit 3):", lines.len()));
    for line in &lines {
        print(&format!("  {line}"));
    }
    Exit::CheckFoundWork
}

use super::*;

/// A `Write + Send` sink the test can read back.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("sink")).into_owned()
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("sink").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn plain(masker: Masker) -> (Progress, Sink) {
    let sink = Sink::default();
    let p = Progress::with_writer(sink.clone(), Renderer::Plain, Arc::new(masker));
    (p, sink)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn plain_single_stage_lines() {
    let (p, sink) = plain(Masker::new());
    p.add_planned(3);
    p.migration_started(1, "create-vpc", Direction::Up);
    p.migration_finished(
        1,
        "create-vpc",
        Direction::Up,
        MigrationOutcome::Ok {
            status: "POST 201".into(),
            duration: ms(120),
        },
    );
    p.migration_started(2, "create-subnet", Direction::Up);
    p.migration_finished(
        2,
        "create-subnet",
        Direction::Up,
        MigrationOutcome::Failed {
            error: "status 500, expected 201\nbody: {\"error\": \"boom\"}".into(),
            duration: ms(1530),
        },
    );
    p.migration_finished(
        3,
        "tag-vpc",
        Direction::Up,
        MigrationOutcome::Skipped {
            reason: "an earlier migration failed".into(),
        },
    );
    p.run_finished(&RunSummary {
        applied: 1,
        failed: 1,
        skipped: 1,
        duration: ms(1700),
    });
    assert_eq!(
        sink.text(),
        "start   up 001 create-vpc\n\
             ok      up 001 create-vpc (POST 201, 120 ms)\n\
             start   up 002 create-subnet\n\
             FAILED  up 002 create-subnet (1.5 s): status 500, expected 201\n\
             \x20   body: {\"error\": \"boom\"}\n\
             skipped up 003 tag-vpc: an earlier migration failed\n\
             FAILED: 1 applied, 1 failed, 1 skipped in 1.7 s\n"
    );
    assert!(sink.text().is_ascii());
}

#[test]
fn plain_stage_lines_and_table() {
    let (p, sink) = plain(Masker::new());
    let infra = p.stage("infrastructure");
    let db = p.stage("database");
    p.stage_state("infrastructure", StageState::Running, None);
    infra.migration_started(1, "create-vpc", Direction::Up);
    infra.migration_finished(
        1,
        "create-vpc",
        Direction::Up,
        MigrationOutcome::Ok {
            status: String::new(),
            duration: ms(80),
        },
    );
    p.stage_state("infrastructure", StageState::Applied, Some(ms(1200)));
    p.stage_state("database", StageState::Running, None);
    db.migration_finished(
        20240101120000,
        "create-db",
        Direction::Up,
        MigrationOutcome::Failed {
            error: "timeout".into(),
            duration: ms(30_000),
        },
    );
    p.stage_state("database", StageState::Failed, Some(ms(30_100)));
    p.stage_state("services", StageState::Skipped, None);
    p.run_finished(&RunSummary {
        applied: 1,
        failed: 1,
        skipped: 0,
        duration: ms(125_000),
    });
    assert_eq!(
        sink.text(),
        "stage   [infrastructure] running\n\
             start   [infrastructure] up 001 create-vpc\n\
             ok      [infrastructure] up 001 create-vpc (80 ms)\n\
             stage   [infrastructure] applied (1.2 s)\n\
             stage   [database] running\n\
             FAILED  [database] up 20240101120000 create-db (30.0 s): timeout\n\
             stage   [database] FAILED (30.1 s)\n\
             stage   [services] skipped\n\
             \n\
             stage           state     ok  failed  skipped  time\n\
             infrastructure  applied    1       0        0  1.2 s\n\
             database        FAILED     0       1        0  30.1 s\n\
             services        skipped    0       0        0  -\n\
             FAILED: 1 applied, 1 failed, 0 skipped in 2m05s\n"
    );
}

#[test]
fn plain_down_run_says_rolled_back() {
    let (p, sink) = plain(Masker::new());
    p.migration_finished(
        2,
        "create-user",
        Direction::Down,
        MigrationOutcome::Ok {
            status: "DELETE 204".into(),
            duration: ms(5),
        },
    );
    p.run_finished(&RunSummary {
        applied: 1,
        duration: ms(6),
        ..RunSummary::default()
    });
    assert_eq!(
        sink.text(),
        "ok      down 002 create-user (DELETE 204, 5 ms)\n\
             done: 1 rolled back, 0 failed, 0 skipped in 6 ms\n"
    );
}

#[test]
fn every_line_is_masked() {
    let masker = Masker::new();
    masker.add_secret("s3cr3t-token");
    let (p, sink) = plain(masker);
    p.migration_finished(
        1,
        "login",
        Direction::Up,
        MigrationOutcome::Failed {
            error: "401 for https://admin:pw@api/x with Bearer s3cr3t-token".into(),
            duration: ms(10),
        },
    );
    p.println("plan: POST https://api/x?api_key=abc123");
    let out = sink.text();
    assert_eq!(
        out,
        "FAILED  up 001 login (10 ms): 401 for https://admin:***@api/x with Bearer ***\n\
             plan: POST https://api/x?api_key=***\n"
    );
}

#[test]
fn control_characters_are_neutralised() {
    let (p, sink) = plain(Masker::new());
    p.migration_finished(
        1,
        "x",
        Direction::Up,
        MigrationOutcome::Failed {
            error: "bad\x1b[2J\rthing".into(),
            duration: ms(1),
        },
    );
    assert_eq!(
        sink.text(),
        "FAILED  up 001 x (1 ms): bad\\x1b[2J\\rthing\n"
    );
}

#[test]
fn quiet_prints_nothing() {
    let sink = Sink::default();
    let p = Progress::with_writer(sink.clone(), Renderer::Quiet, Arc::new(Masker::new()));
    p.migration_started(1, "a", Direction::Up);
    p.stage_state("s", StageState::Running, None);
    p.println("x");
    p.run_finished(&RunSummary::default());
    assert_eq!(sink.text(), "");
    Progress::quiet().println("nothing");
}

#[test]
fn terminal_renderer_draws_and_clears_the_live_area() {
    let sink = Sink::default();
    let options = TerminalOptions {
        width: Some(60),
        color: false,
        animate: false,
    };
    let p = Progress::with_writer(
        sink.clone(),
        Renderer::Terminal(options),
        Arc::new(Masker::new()),
    );
    p.add_planned(6);
    p.migration_started(1, "create-vpc", Direction::Up);
    let out = sink.text();
    assert!(out.contains("⠋ up 001 create-vpc  "), "{out:?}");
    assert!(out.contains("[░░░"), "bar shown for 6 planned: {out:?}");
    assert!(out.contains("0/6 migrations"), "{out:?}");
    p.migration_finished(
        1,
        "create-vpc",
        Direction::Up,
        MigrationOutcome::Ok {
            status: "POST 201".into(),
            duration: ms(120),
        },
    );
    let out = sink.text();
    // The two live lines are erased, the final line written, the bar
    // redrawn below it.
    assert!(
        out.contains("\x1b[2A\r\x1b[J  ✓ up 001 create-vpc (POST 201, 120 ms)\n["),
        "{out:?}"
    );
    assert!(out.contains("1/6 migrations"), "{out:?}");
    p.run_finished(&RunSummary {
        applied: 1,
        duration: ms(130),
        ..RunSummary::default()
    });
    let out = sink.text();
    assert!(
        out.ends_with("\x1b[1A\r\x1b[Jdone: 1 applied, 0 failed, 0 skipped in 130 ms\n"),
        "{out:?}"
    );
    for line in out.split('\n') {
        let visible = line.rsplit("\x1b[J").next().unwrap_or(line);
        assert!(
            visible.chars().count() < 60,
            "{line:?} wider than the terminal"
        );
    }
}

#[test]
fn terminal_renderer_colours_and_log_interleaving() {
    let sink = Sink::default();
    let options = TerminalOptions {
        width: Some(80),
        color: true,
        animate: true,
    };
    let p = Progress::with_writer(
        sink.clone(),
        Renderer::Terminal(options),
        Arc::new(Masker::new()),
    );
    let s = p.stage("infra");
    p.stage_state("infra", StageState::Running, None);
    s.migration_started(1, "a", Direction::Up);
    s.migration_finished(
        1,
        "a",
        Direction::Up,
        MigrationOutcome::Failed {
            error: "boom".into(),
            duration: ms(3),
        },
    );
    let out = sink.text();
    assert!(
        out.contains("\x1b[31m✗\x1b[0m [infra] up 001 a (3 ms): boom"),
        "{out:?}"
    );
    // A log write while a spinner is up clears the area and redraws it.
    s.migration_started(2, "b", Direction::Up);
    let before = sink.text().len();
    if let Ok(mut live) = LIVE.lock() {
        *live = Some(Arc::downgrade(&p.shared));
    }
    let mut log = sink.clone();
    with_live_area_cleared(|| log.write_all(b"log line\n")).expect("write");
    if let Ok(mut live) = LIVE.lock() {
        *live = None;
    }
    let after = sink.text()[before..].to_string();
    assert!(after.starts_with("\x1b[1A\r\x1b[Jlog line\n"), "{after:?}");
    assert!(after.contains("[infra] up 002 b"), "{after:?}");
    // The ticker animates while something runs.
    std::thread::sleep(Duration::from_millis(350));
    assert!(sink.text().len() > before + after.len(), "spinner redrawn");
}

#[test]
fn concurrent_stages_from_many_threads() {
    let (p, sink) = plain(Masker::new());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = p.stage(&format!("stage{t}"));
            std::thread::spawn(move || {
                for v in 1..=25 {
                    s.migration_started(v, "m", Direction::Up);
                    s.migration_finished(
                        v,
                        "m",
                        Direction::Up,
                        MigrationOutcome::Ok {
                            status: String::new(),
                            duration: ms(1),
                        },
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let out = sink.text();
    assert_eq!(out.lines().count(), 200);
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("ok      [stage2]"))
            .count(),
        25
    );
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Progress>();
}

#[test]
fn durations() {
    assert_eq!(format_duration(ms(0)), "0 ms");
    assert_eq!(format_duration(ms(999)), "999 ms");
    assert_eq!(format_duration(ms(1000)), "1.0 s");
    assert_eq!(format_duration(ms(59_949)), "59.9 s");
    assert_eq!(format_duration(ms(59_950)), "1m00s");
    assert_eq!(format_duration(ms(125_000)), "2m05s");
    assert_eq!(format_duration(Duration::from_secs(3 * 3600)), "180m00s");
}

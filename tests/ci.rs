//! End-to-end: driving apirun from CI (docs/cli.md, docs/ci.md): variables
//! from the command line, `--check` gates, rollback by steps, completions,
//! man page, colour and verbosity, with the real binary against the demo API.

mod support;

use std::process::Command;

use support::DemoApiAdmin as _;
use support::{Api, Project, apirun_bin, run};

/// A config whose `region` variable the migration puts in its URL path.
fn region_config(base: &str) -> String {
    format!(
        "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {base}\n  - name: region\n    value: from-config\n"
    )
}

const REGION_MIGRATION: &str =
    "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/{{.region}}\"\n";

fn region_project(api: &Api) -> Project {
    let project = Project::new();
    project.write("config.yaml", &region_config(&api.url()));
    project.write("migration/001_region.yaml", REGION_MIGRATION);
    project
}

fn paths(api: &Api) -> Vec<String> {
    api.requests()
        .iter()
        .map(|r| r["path"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `--var` overrides the config's value, and wins over `APIRUN_VAR_*` and
/// `--var-file`; the server receives the command line's value.
#[test]
fn var_overrides_config_env_and_file_and_reaches_the_server() {
    let api = Api::start();
    let project = region_project(&api);
    project.write("vars.yaml", "region: from-file\n");
    project
        .apirun_env(
            &["up", "--var-file", "vars.yaml", "--var", "region=from-flag"],
            &[("APIRUN_VAR_region", "from-env")],
        )
        .success();
    assert_eq!(paths(&api), vec!["/api/from-flag"]);

    // Without --var: the file wins over the environment and the config.
    let api = Api::start();
    let project = region_project(&api);
    project.write("vars.yaml", "region: from-file\n");
    project
        .apirun_env(
            &["up", "--var-file", "vars.yaml"],
            &[("APIRUN_VAR_region", "from-env")],
        )
        .success();
    assert_eq!(paths(&api), vec!["/api/from-file"]);

    // The environment alone wins over the config.
    let api = Api::start();
    let project = region_project(&api);
    project
        .apirun_env(&["up"], &[("APIRUN_VAR_region", "from-env")])
        .success();
    assert_eq!(paths(&api), vec!["/api/from-env"]);
}

/// `--var-file` in each format: YAML, JSON and `.env` (by extension).
#[test]
fn var_file_in_each_format() {
    for (file, text, expected) in [
        ("vars.yaml", "region: yaml-value\nother: 1\n", "yaml-value"),
        ("vars.json", "{\"region\": \"json-value\"}", "json-value"),
        (
            "ci.env",
            "# comment\nexport region=\"env-value\"\nOTHER=x\n",
            "env-value",
        ),
    ] {
        let api = Api::start();
        let project = region_project(&api);
        project.write(file, text);
        project.apirun(&["up", "--var-file", file]).success();
        assert_eq!(paths(&api), vec![format!("/api/{expected}")], "{file}");
    }
    // A broken file is bad input (exit 2) naming the file.
    let api = Api::start();
    let project = region_project(&api);
    project.write("bad.yaml", "region: [unclosed\n");
    let run = project.apirun(&["up", "--var-file", "bad.yaml"]);
    run.code(2);
    assert!(run.stderr.contains("bad.yaml"), "{}", run.stderr);
    assert!(api.requests().is_empty(), "nothing sent");
}

/// `--var` and `--secret` work on `stages` commands too: every stage gets them.
#[test]
fn vars_reach_every_stage() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "stages.yaml",
        "apiVersion: apirun/v1\nkind: StageOrchestration\nstages:\n  - name: one\n    config_path: ./one/config.yaml\n",
    );
    project.write("one/config.yaml", &region_config(&api.url()));
    project.write("one/migration/001_region.yaml", REGION_MIGRATION);
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(project.path()).args([
        "stages",
        "up",
        "-c",
        "stages.yaml",
        "--var",
        "region=staged",
    ]);
    run(cmd).success();
    assert_eq!(paths(&api), vec!["/api/staged"]);
}

/// A `--secret` is sent to the server but never appears in stdout, stderr
/// (even with -vv, which logs headers and bodies), status or the store,
/// whatever its name.
#[test]
fn secret_is_sent_but_never_shown_or_stored() {
    const SECRET: &str = "opaque-7f3a9c1e5b";
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {}\n",
            api.url()
        ),
    );
    project.write(
        "migration/001_secret.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/things?key={{.plain}}\"\n    headers:\n      - name: X-Key\n        value: \"{{.plain}}\"\n    body: '{\"value\": \"{{.plain}}\"}'\n  response:\n    result_code: [\"2xx\"]\n",
    );
    let up = project.apirun(&["up", "-vv", "--secret", &format!("plain={SECRET}")]);
    up.success();
    let sent = api.requests();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]["body"]
            .as_str()
            .unwrap_or_default()
            .contains(SECRET),
        "the server gets the real value: {sent:?}"
    );
    // -vv logs the request and response headers and bodies...
    assert!(up.stderr.contains("request headers"), "{}", up.stderr);
    assert!(up.stderr.contains("response headers"), "{}", up.stderr);
    assert!(up.stderr.contains("***"), "{}", up.stderr);
    // ...masked.
    assert!(!up.all_output().contains(SECRET), "{}", up.all_output());
    let status = project.apirun(&[
        "status",
        "--history",
        "--secret",
        &format!("plain={SECRET}"),
    ]);
    status.success();
    assert!(
        !status.all_output().contains(SECRET),
        "{}",
        status.all_output()
    );
    for entry in walk(project.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "{} holds the secret",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `validate` warns about a `--var` no template uses, not about one it uses.
#[test]
fn validate_warns_about_an_unused_var() {
    let api = Api::start();
    let project = region_project(&api);
    let run = project.apirun(&["validate", "--var", "regoin=x", "--var", "region=y"]);
    run.success();
    assert!(
        run.stderr.contains("--var regoin: no template uses"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("--var region:"), "{}", run.stderr);
    // A variable only the command line defines is not "undefined".
    project.write(
        "migration/002_more.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/{{.only_cli}}\"\n",
    );
    project.apirun(&["validate"]).code(2);
    project
        .apirun(&["validate", "--var", "only_cli=x"])
        .success();
    assert!(api.requests().is_empty(), "validate sends nothing");
}

/// `status --check` exits 3 while anything is pending (and says what),
/// 0 after `up`, and 3 again once an applied file changes.
#[test]
fn status_check_exits_3_then_0_around_up() {
    let api = Api::start();
    let project = region_project(&api);
    project.write(
        "migration/002_two.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/two\"\n",
    );
    let before = project.apirun(&["status", "--check"]);
    before.code(3);
    assert!(before.stdout.contains("pending: 1, 2"), "{}", before.stdout);
    let json = project.apirun(&["status", "--check", "--output", "json"]);
    json.code(3);
    serde_json::from_str::<serde_json::Value>(&json.stdout).expect("stdout stays JSON");
    assert!(json.stderr.contains("pending: 1, 2"), "{}", json.stderr);

    project.apirun(&["up"]).success();
    let after = project.apirun(&["status", "--check"]);
    after.success();
    assert!(after.stdout.contains("check: ok"), "{}", after.stdout);

    project.write(
        "migration/002_two.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/zwei\"\n",
    );
    let changed = project.apirun(&["status", "--check"]);
    changed.code(3);
    assert!(
        changed.stdout.contains("changed since applied: 2"),
        "{}",
        changed.stdout
    );
}

/// `stages status --check`: 3 with the stage named while pending, 0 after `stages up`.
#[test]
fn stages_status_check_exits_3_then_0() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "stages.yaml",
        "apiVersion: apirun/v1\nkind: StageOrchestration\nstages:\n  - name: base\n    config_path: ./base/config.yaml\n",
    );
    project.write("base/config.yaml", &region_config(&api.url()));
    project.write("base/migration/001_region.yaml", REGION_MIGRATION);
    let stages = |args: &[&str]| {
        let mut cmd = Command::new(apirun_bin());
        cmd.current_dir(project.path())
            .args(["stages"])
            .args(args)
            .args(["-c", "stages.yaml"]);
        run(cmd)
    };
    let before = stages(&["status", "--check"]);
    before.code(3);
    assert!(
        before.stdout.contains("[base] pending: 1"),
        "{}",
        before.stdout
    );
    stages(&["up"]).success();
    stages(&["status", "--check"]).success();
}

fn rollback_project(api: &Api) -> Project {
    let project = Project::new();
    project.write("config.yaml", &region_config(&api.url()));
    for v in 1..=3 {
        project.write(
            &format!("migration/00{v}_m{v}.yaml"),
            &format!(
                "up:\n  request:\n    method: GET\n    url: \"{{{{.api_base}}}}/api/up{v}\"\ndown:\n  request:\n    method: GET\n    url: \"{{{{.api_base}}}}/api/down{v}\"\n"
            ),
        );
    }
    project
}

/// `down --steps N` rolls back the newest N; `down` alone is a usage error
/// naming both flags; `down --dry-run-from N` plans from version N and
/// sends nothing.
#[test]
fn down_steps_dry_run_from_and_the_usage_error() {
    let api = Api::start();
    let project = rollback_project(&api);
    project.apirun(&["up"]).success();

    let bare = project.apirun(&["down"]);
    bare.code(2);
    assert!(
        bare.stderr.contains("--to") && bare.stderr.contains("--steps"),
        "{}",
        bare.stderr
    );

    let sent_before = api.requests().len();
    let plan = project.apirun(&["down", "--dry-run-from", "2", "--to", "0"]);
    plan.success();
    assert!(
        plan.stdout.contains("2 migration(s) would run (down)"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("/api/down2"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("/api/down3"), "{}", plan.stdout);
    assert_eq!(api.requests().len(), sent_before, "a dry run sends nothing");

    project.apirun(&["down", "--steps", "2"]).success();
    assert_eq!(
        &paths(&api)[sent_before..],
        ["/api/down3", "/api/down2"],
        "newest first"
    );
    let status = support::status_json(&project);
    assert_eq!(status["applied"], serde_json::json!([1]), "{status}");
    // More steps than applied versions: everything.
    project.apirun(&["down", "--steps", "5"]).success();
    let status = support::status_json(&project);
    assert_eq!(status["applied"], serde_json::json!([]), "{status}");
}

/// Completion scripts for every shell are generated, and the bash (and, if
/// installed, fish and zsh) ones parse; the man page is roff.
#[test]
fn completions_parse_and_man_page_renders() {
    let dir = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let mut cmd = Command::new(apirun_bin());
        cmd.args(["completions", shell]);
        let out = run(cmd);
        out.success();
        assert!(out.stdout.contains("apirun"), "{shell}");
        assert!(out.stdout.contains("var-file"), "{shell}: flags listed");
        let path = dir.path().join(format!("apirun.{shell}"));
        std::fs::write(&path, &out.stdout).expect("write");
        let checker = match shell {
            "bash" => Some("bash"),
            "fish" | "zsh" => Some(shell),
            _ => None,
        };
        let Some(checker) = checker else { continue };
        let status = Command::new(checker).arg("-n").arg(&path).status();
        match status {
            Ok(status) => assert!(status.success(), "{checker} -n {}", path.display()),
            // Only bash is required; fish and zsh are checked where installed.
            Err(_) => assert_ne!(checker, "bash", "bash must be installed"),
        }
    }
    let mut cmd = Command::new(apirun_bin());
    cmd.arg("man");
    let man = run(cmd);
    man.success();
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH apirun"),
        "{}",
        &man.stdout[..man.stdout.len().min(200)]
    );
}

/// On a terminal (a pseudo-terminal from `script`), `--color never` and
/// `NO_COLOR` give output without any escape sequence; `--color always`
/// colours even with NO_COLOR set.
#[test]
fn color_never_and_no_color_give_no_escape_codes() {
    let api = Api::start();
    let project = region_project(&api);
    let on_tty = |flags: &str, env: &[(&str, &str)]| {
        let line = format!(
            "{} --config {} up --progress auto {flags}",
            apirun_bin().display(),
            project.config().display()
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .current_dir(project.path())
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("script runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let never = on_tty("--color never", &[]);
    assert!(never.contains("001"), "{never}");
    assert!(!never.contains('\x1b'), "{never:?}");
    std::fs::remove_file(project.path().join("migration/apirun.db")).ok();
    let no_color = on_tty("", &[("NO_COLOR", "1")]);
    assert!(!no_color.contains('\x1b'), "{no_color:?}");
    std::fs::remove_file(project.path().join("migration/apirun.db")).ok();
    let always = on_tty("--color always", &[("NO_COLOR", "1")]);
    assert!(always.contains("\x1b["), "{always:?}");
}

/// `-v` logs request lines on every command; `--quiet` prints no progress.
#[test]
fn verbose_logs_request_lines_and_quiet_prints_nothing() {
    let api = Api::start();
    let project = region_project(&api);
    let verbose = project.apirun(&["up", "-v"]);
    verbose.success();
    assert!(
        verbose.stderr.contains("GET ") && verbose.stderr.contains("/api/from-config"),
        "{}",
        verbose.stderr
    );
    assert!(
        !verbose.stderr.contains("response headers"),
        "-v is not -vv"
    );

    let api = Api::start();
    let project = region_project(&api);
    let quiet = project.apirun(&["up", "--quiet"]);
    quiet.success();
    assert_eq!(quiet.stdout.trim(), "", "{}", quiet.stdout);
    assert_eq!(paths(&api), vec!["/api/from-config"]);
}

/// The CI example (examples/ci) validates, applies against a local API with
/// `--var`/`--secret` as its pipelines pass them, and passes the gate after.
#[test]
fn the_ci_example_runs_as_its_pipelines_do() {
    let api = Api::start();
    let project = Project::new();
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ci/config");
    for file in [
        "config.yaml",
        "migration/001_create_project.yaml",
        "migration/002_add_member.yaml",
    ] {
        let text = std::fs::read_to_string(example.join(file)).expect("example file");
        project.write(file, &text);
    }
    let pipeline = |args: &[&str]| {
        let mut cmd = Command::new(apirun_bin());
        cmd.current_dir(project.path())
            .arg("--config")
            .arg(project.path().join("config.yaml"))
            .args(args)
            .env("APIRUN_VAR_api_base", format!("{}/api", api.url()));
        run(cmd)
    };
    pipeline(&["validate", "--strict"]).success();
    pipeline(&["status", "--check"]).code(3);
    let up = pipeline(&["up", "--secret", "api_token=ci-token-0d1e2f"]);
    up.success();
    assert!(!up.all_output().contains("ci-token-0d1e2f"));
    pipeline(&["status", "--check"]).success();
    let sent = api.requests();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0]["path"], "/api/projects");
}

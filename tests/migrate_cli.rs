//! End-to-end: the single-stage command line (status, create, validate,
//! dry run, --to, --dry-run-from, APIRUN_* variables, bare `apirun`, exit
//! codes, masking) with the real binary against the demo API.

mod support;

use support::DemoApiAdmin as _;

use serde_json::json;
use support::{Api, Project, basic_config, status_json};

fn get_migration(path: &str) -> String {
    format!("up:\n  request:\n    method: GET\n    url: \"{{{{.api_base}}}}{path}\"\n")
}

/// `status` before and after `up`, as text and JSON; an applied file edited
/// afterwards shows as changed.
#[test]
fn status_before_and_after_up_in_text_and_json() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write("migration/001_one.yaml", &get_migration("/api/one"));
    project.write("migration/002_two.yaml", &get_migration("/api/two"));

    let text = project.apirun(&["status"]);
    text.success();
    assert!(text.stdout.contains("current: 0"), "{}", text.stdout);
    assert!(
        text.stdout.contains("applied: 0   pending: 2"),
        "{}",
        text.stdout
    );
    let before = status_json(&project);
    assert_eq!(before["current"], 0);
    assert_eq!(before["applied"], json!([]));
    assert_eq!(before["pending"], json!([1, 2]));
    assert!(api.requests().is_empty(), "status sends nothing");

    project.apirun(&["up"]).success();
    let text = project.apirun(&["status", "--history"]);
    text.success();
    assert!(text.stdout.contains("current: 2"), "{}", text.stdout);
    assert!(
        text.stdout.contains("applied: 2   pending: 0"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("history (newest first):"),
        "{}",
        text.stdout
    );
    let after = status_json(&project);
    assert_eq!(after["current"], 2);
    assert_eq!(after["applied"], json!([1, 2]));
    assert_eq!(after["pending"], json!([]));
    let history = after["history"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["version"], 2, "newest first: {after}");
    assert_eq!(history[0]["state"], "succeeded", "{after}");
    assert_eq!(history[0]["status_code"], 200, "{after}");

    // Edit an applied file: status reports it as changed.
    project.write("migration/001_one.yaml", &get_migration("/api/uno"));
    let changed = status_json(&project);
    assert_eq!(changed["changed"], json!([1]), "{changed}");
}

/// `create NAME` writes `<UTC timestamp>_<slug>.yaml`; after pointing its
/// URL at the API, `up` runs it (its 14-digit version included).
#[test]
fn create_then_up_runs_the_created_file() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    let run = project.apirun(&["create", "Add users"]);
    run.success();
    let path = std::path::PathBuf::from(run.stdout.trim());
    let file_name = path
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let (stamp, slug) = file_name.split_once('_').expect("version_slug");
    assert_eq!(stamp.len(), 14, "{file_name}");
    assert!(stamp.chars().all(|c| c.is_ascii_digit()), "{file_name}");
    assert_eq!(slug, "add_users.yaml");
    assert_eq!(
        path.parent(),
        Some(project.path().join("migration").as_path())
    );
    let template = std::fs::read_to_string(&path).expect("created file");
    assert!(template.contains("CHANGE_ME"), "{template}");

    project.write(
        &format!("migration/{file_name}"),
        // The up creates /api/users/1; the down deletes it.
        &template
            .replacen("CHANGE_ME", "api/users", 1)
            .replace("CHANGE_ME", "api/users/1"),
    );
    project.apirun(&["up"]).success();
    assert_eq!(api.requests_to("POST", "/api/users").len(), 1);
    let version: u64 = stamp.parse().expect("version");
    assert_eq!(status_json(&project)["applied"], json!([version]));
    project.apirun(&["down", "--to", "0"]).success();
    assert_eq!(api.requests_to("DELETE", "/api/users/1")[0]["status"], 204);
}

/// `validate` lists every problem, not just the first, exits 2 and sends nothing.
#[test]
fn validate_lists_three_distinct_errors() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write(
        "migration/001_typo.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/a\"\n  respnse:\n    result_code: [\"200\"]\n",
    );
    project.write(
        "migration/002_undefined.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/{{.collection_name}}\"\n",
    );
    project.write(
        "migration/003_auth.yaml",
        "up:\n  request:\n    auth_name: ghost\n    method: GET\n    url: \"{{.api_base}}/api/c\"\n",
    );
    let run = project.apirun(&["validate"]);
    run.code(2);
    let err = &run.stderr;
    assert!(
        err.contains("001_typo.yaml")
            && err.contains("respnse")
            && err.contains("did you mean \"response\""),
        "{err}"
    );
    assert!(
        err.contains("002_undefined.yaml") && err.contains("collection_name"),
        "{err}"
    );
    assert!(
        err.contains("003_auth.yaml") && err.contains("ghost"),
        "{err}"
    );
    assert!(err.contains("3 problem(s)"), "{err}");
    assert!(api.requests().is_empty());

    // Fixed: validate passes.
    project.write("migration/001_typo.yaml", &get_migration("/api/a"));
    project.write("migration/002_undefined.yaml", &get_migration("/api/b"));
    project.write("migration/003_auth.yaml", &get_migration("/api/c"));
    project.apirun(&["validate"]).success();
}

/// A dry run sends nothing, writes nothing, and prints the rendered plan:
/// response values as placeholders, secrets masked.
#[test]
fn dry_run_sends_nothing_and_prints_the_rendered_plan() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "{}  - name: api_token\n    value: tok-93f1a7c2\n",
            support_env(&api)
        ),
    );
    project.write(
        "migration/001_user.yaml",
        r#"up:
  request:
    method: POST
    url: "{{.api_base}}/api/users?key={{.api_token}}"
    body: '{}'
  response:
    env_from:
      user_id: id
"#,
    );
    project.write(
        "migration/002_get.yaml",
        &get_migration("/api/users/{{.user_id}}"),
    );
    let run = project.apirun(&["up", "--dry-run"]);
    run.success();
    let base = api.url();
    assert!(
        run.stdout
            .contains(&format!("GET {base}/api/users/<user_id>")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("POST {base}/api/users?key=")),
        "{}",
        run.stdout
    );
    assert!(
        !run.all_output().contains("tok-93f1a7c2"),
        "secret leaked:\n{}",
        run.all_output()
    );
    assert!(
        api.requests().is_empty(),
        "a dry run sends nothing: {:?}",
        api.requests()
    );
    let status = status_json(&project);
    assert_eq!(status["applied"], json!([]));
    assert_eq!(
        status["history"],
        json!([]),
        "the store is not written: {status}"
    );
}

/// `--to N` stops at N; `--dry-run-from N` plans as if N were current;
/// APIRUN_TO and APIRUN_DRY_RUN work like the flags; bare `apirun` is `up`.
#[test]
fn to_dry_run_from_env_flags_and_bare_apirun() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    for (i, name) in ["one", "two", "three", "four"].iter().enumerate() {
        project.write(
            &format!("migration/00{}_{name}.yaml", i + 1),
            &get_migration(&format!("/api/{name}")),
        );
    }
    project.apirun(&["up", "--to", "2"]).success();
    assert_eq!(status_json(&project)["applied"], json!([1, 2]));

    let plan = project.apirun(&["up", "--dry-run"]);
    plan.success();
    assert!(plan.stdout.contains("2 migration(s)"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("/api/two"), "{}", plan.stdout);
    let from = project.apirun(&["up", "--dry-run-from", "1"]);
    from.success();
    assert!(from.stdout.contains("3 migration(s)"), "{}", from.stdout);
    for path in ["/api/two", "/api/three", "/api/four"] {
        assert!(
            from.stdout.contains(path),
            "{path} missing:\n{}",
            from.stdout
        );
    }
    assert!(!from.stdout.contains("/api/one"), "{}", from.stdout);
    let sent = api.requests().len();
    assert_eq!(sent, 2);

    let dry_env = project.apirun_env(&["up"], &[("APIRUN_DRY_RUN", "true")]);
    dry_env.success();
    assert!(dry_env.stdout.contains("dry run"), "{}", dry_env.stdout);
    assert_eq!(api.requests().len(), sent, "APIRUN_DRY_RUN sends nothing");

    project.apirun_env(&["up"], &[("APIRUN_TO", "3")]).success();
    assert_eq!(status_json(&project)["applied"], json!([1, 2, 3]));

    // No subcommand at all.
    project.apirun(&[]).success();
    assert_eq!(status_json(&project)["applied"], json!([1, 2, 3, 4]));
    assert_eq!(api.requests_to("GET", "/api/four").len(), 1);
}

/// A YAML syntax error exits 2 and names file:line:col on stderr; nothing runs.
#[test]
fn yaml_syntax_error_exits_2_with_file_line_and_column() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write("migration/001_ok.yaml", &get_migration("/api/ok"));
    project.write(
        "migration/002_broken.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/x\n    headers: []\n",
    );
    let run = project.apirun(&["up"]);
    run.code(2);
    assert!(
        regex_like_file_line_col(&run.stderr, "002_broken.yaml"),
        "no file:line:col in:\n{}",
        run.stderr
    );
    assert!(
        api.requests().is_empty(),
        "nothing runs when a file is invalid"
    );
}

/// `<file>:<line>:<col>` appears for this file.
fn regex_like_file_line_col(text: &str, file: &str) -> bool {
    text.match_indices(file).any(|(i, _)| {
        let rest = &text[i + file.len()..];
        let mut parts = rest.splitn(3, ':');
        parts.next() == Some("")
            && parts
                .next()
                .is_some_and(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
            && parts
                .next()
                .is_some_and(|r| r.chars().next().is_some_and(|c| c.is_ascii_digit()))
    })
}

/// A password variable never appears in the output of a failing run (the
/// server echoes it in the body that the error message quotes), nor in
/// `status`.
#[test]
fn a_password_never_appears_in_the_output_of_a_failing_run() {
    let api = Api::with_basic("admin", "Sup3r-S3cret!");
    let project = Project::new();
    project.write(
        "config.yaml",
        &basic_config(&api.url()).replace("value: secret", "value: Sup3r-S3cret!"),
    );
    project.write(
        "migration/001_user.yaml",
        r#"up:
  request:
    auth_name: admin
    method: POST
    url: "{{.api_base}}/api/users"
    body: '{"username": "x", "password": "{{.admin_password}}"}'
  response:
    result_code: ["200"]
"#,
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    let posts = api.requests_to("POST", "/api/users");
    assert_eq!(posts.len(), 1);
    assert!(
        posts[0]["body"]
            .as_str()
            .unwrap_or_default()
            .contains("Sup3r-S3cret!"),
        "the server did get the password"
    );
    assert!(run.stderr.contains("201"), "{}", run.stderr);
    assert!(
        !run.all_output().contains("Sup3r-S3cret!"),
        "password leaked:\n{}",
        run.all_output()
    );
    for args in [
        &["status", "--history"][..],
        &["status", "--history", "--output", "json"][..],
    ] {
        let status = project.apirun(args);
        status.success();
        assert!(
            !status.all_output().contains("Sup3r-S3cret!"),
            "leaked by status:\n{}",
            status.all_output()
        );
    }
}

fn support_env(api: &Api) -> String {
    format!(
        "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {}\n",
        api.url()
    )
}

/// A template syntax error (here an unknown function) makes the file
/// invalid: `up` refuses before sending anything (exit 2), naming the file,
/// field and function; no run is recorded.
#[test]
fn a_template_syntax_error_is_an_invalid_file_exit_2() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write("migration/001_ok.yaml", &get_migration("/api/ok"));
    project.write(
        "migration/002_bad.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/x\"\n    body: '{\"a\": \"{{lst .api_base}}\"}'\n",
    );
    let run = project.apirun(&["up"]);
    run.code(2);
    for needle in ["002_bad.yaml", "up.request.body", "lst"] {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?}:\n{}",
            run.stderr
        );
    }
    assert!(
        api.requests().is_empty(),
        "nothing may be sent: {:?}",
        api.requests()
    );
    // Fixed, nothing had been recorded by the refused run.
    project.write("migration/002_bad.yaml", &get_migration("/api/x"));
    let status = status_json(&project);
    assert_eq!(status["history"], json!([]), "{status}");
}

/// The Go tool's layout: `config/config.yaml` says `migrate_dir: ./migration`
/// meaning `./migration` from the working directory. Paths are relative to
/// the config file, but when that does not exist and the working-directory
/// path does, it is used with a warning naming it.
#[test]
fn go_layout_migrate_dir_from_the_working_directory_works_with_a_warning() {
    let api = Api::start();
    let project = Project::new();
    project.write("config/config.yaml", &basic_config(&api.url()));
    project.write("migration/001_one.yaml", &get_migration("/api/one"));
    let mut cmd = std::process::Command::new(support::apirun_bin());
    // No --config: the default ./config/config.yaml, as Go-tool users run it.
    cmd.current_dir(project.path()).arg("up");
    let run = support::run(cmd);
    run.success();
    assert!(run.stderr.contains("warning"), "{}", run.stderr);
    assert!(run.stderr.contains("migration"), "{}", run.stderr);
    assert_eq!(api.requests_to("GET", "/api/one").len(), 1);
}

/// `logging: {format: json, level: debug}`: each request is logged as a JSON
/// line; secrets in the URL are masked there too.
#[test]
fn json_debug_logging_shows_requests_with_secrets_masked() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "{}  - name: api_token\n    value: tok-5ecret-77\nlogging:\n  format: json\n  level: debug\n",
            support_env(&api)
        ),
    );
    project.write(
        "migration/001_get.yaml",
        &get_migration("/api/things?token={{.api_token}}"),
    );
    let run = project.apirun(&["up"]);
    run.success();
    assert_eq!(
        api.requests_to("GET", "/api/things")[0]["query"],
        "token=tok-5ecret-77"
    );
    assert!(
        !run.all_output().contains("tok-5ecret-77"),
        "leaked:\n{}",
        run.all_output()
    );
    let logs: Vec<serde_json::Value> = run
        .all_output()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let answered = logs
        .iter()
        .find(|l| {
            l["level"] == "DEBUG" && l["message"].as_str().unwrap_or("").contains("answered 200")
        })
        .unwrap_or_else(|| panic!("no debug line for the request:\n{}", run.all_output()));
    let message = answered["message"].as_str().unwrap_or_default();
    assert!(message.contains("/api/things?token=***"), "{message}");
}

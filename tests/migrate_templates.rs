//! End-to-end: templates in migration files (docs/templates.md), with
//! the real binary against the demo API; every assertion reads what the
//! server received from its request log.

mod support;

use support::DemoApiAdmin as _;

use serde_json::json;
use support::{Api, Project, basic_config};

/// Write one migration that POSTs `body` to /api/things, run `up`, return
/// what the server received.
fn post_body(api: &Api, project: &Project, request_extra: &str, body: &str) -> serde_json::Value {
    project.write(
        "migration/001_thing.yaml",
        &format!(
            "up:\n  env:\n    tag: x&y\n  request:\n    method: POST\n    url: \"{{{{.api_base}}}}/api/things\"\n{request_extra}    body: '{body}'\n"
        ),
    );
    project.apirun(&["up"]).success();
    let posts = api.requests_to("POST", "/api/things");
    assert_eq!(posts.len(), 1, "{posts:?}");
    posts[0].clone()
}

/// Output is text, not HTML: `&` and `+` arrive as written (the Go tool
/// sends `&amp;` and `&#43;`).
#[test]
fn ampersand_and_plus_arrive_unescaped() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!("{}  - name: q\n    value: a&b+c\n", env_only(&api)),
    );
    let received = post_body(&api, &project, "", r#"{"q": "{{.q}}", "literal": "a&b+c"}"#);
    assert_eq!(received["body"], r#"{"q": "a&b+c", "literal": "a&b+c"}"#);
}

/// Both the flat `{{.x}}` and the Go tool's `{{.env.x}}` forms work, for
/// config variables and for a migration's own `env`.
#[test]
fn flat_and_env_namespaced_forms_both_work() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    let received = post_body(
        &api,
        &project,
        "",
        r#"{"flat": "{{.api_base}}", "env": "{{.env.api_base}}", "local": "{{.tag}}", "local_env": "{{.env.tag}}"}"#,
    );
    let base = api.url();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(received["body"].as_str().unwrap_or_default())
            .expect("json body"),
        json!({"flat": base, "env": base, "local": "x&y", "local_env": "x&y"})
    );
}

/// `default`, `toJson`, `upper`, `eq` (with if/else) render as in Go templates.
#[test]
fn functions_default_tojson_upper_eq() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    let received = post_body(
        &api,
        &project,
        "",
        r#"{"d": "{{.region | default "eu-west-1"}}", "j": {{toJson .tag}}, "u": "{{upper .tag}}", "e": "{{if eq .tag "x&y"}}same{{else}}different{{end}}", "n": "{{if eq .tag "z"}}same{{else}}different{{end}}"}"#,
    );
    assert_eq!(
        received["body"],
        r#"{"d": "eu-west-1", "j": "x&y", "u": "X&Y", "e": "same", "n": "different"}"#
    );
}

/// `render_body: false` sends `{{...}}` verbatim (per request, and as the
/// config default).
#[test]
fn render_body_false_sends_the_body_verbatim() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    let received = post_body(
        &api,
        &project,
        "    render_body: false\n",
        r#"{"t": "{{.not_a_variable}}"}"#,
    );
    assert_eq!(received["body"], r#"{"t": "{{.not_a_variable}}"}"#);

    // Config-wide default, the URL is still rendered.
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!("{}render_body: false\n", basic_config(&api.url())),
    );
    let received = post_body(&api, &project, "", r#"{"t": "{{.x}}"}"#);
    assert_eq!(received["body"], r#"{"t": "{{.x}}"}"#);
}

/// A body sent verbatim is not a template, so a `{{.auth.x}}` in it must not
/// make apirun acquire that provider's token (here the provider cannot even
/// render its config, so acquiring it would fail the step).
#[test]
fn render_body_false_acquires_no_token_for_auth_references_in_the_body() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "{}  - type: basic\n    name: broken\n    config: {{username: \"{{{{.nope}}}}\", password: x}}\n",
            basic_config(&api.url())
        ),
    );
    let received = post_body(
        &api,
        &project,
        "    render_body: false\n",
        r#"{"t": "{{.auth.broken}}"}"#,
    );
    assert_eq!(received["body"], r#"{"t": "{{.auth.broken}}"}"#);
}

/// `${{.x}}` renders as `$` followed by the value, as in the Go tool.
#[test]
fn dollar_before_a_template_renders_a_dollar_and_the_value() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!("{}  - name: price\n    value: \"42\"\n", env_only(&api)),
    );
    let received = post_body(
        &api,
        &project,
        "",
        r#"{"p": "${{.price}}", "q": "${{ .env.price }}"}"#,
    );
    assert_eq!(received["body"], r#"{"p": "$42", "q": "$42"}"#);
}

/// `valueFromEnv` naming an unset OS variable uses `default`; without a
/// default, using the variable fails and names the OS variable to set.
#[test]
fn value_from_env_unset_uses_default_or_names_the_os_variable() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "{}  - name: region\n    valueFromEnv: APIRUN_E2E_SURELY_UNSET_REGION\n    default: eu-west-1\n  - name: zone\n    valueFromEnv: APIRUN_E2E_SURELY_UNSET_ZONE\n",
            env_only(&api)
        ),
    );
    let received = post_body(&api, &project, "", r#"{"region": "{{.region}}"}"#);
    assert_eq!(received["body"], r#"{"region": "eu-west-1"}"#);

    // Set: the OS value wins over the default.
    let api = Api::start();
    let project2 = Project::new();
    project2.write(
        "config.yaml",
        &std::fs::read_to_string(project.config())
            .expect("config")
            .replace(&project_base(&project), &api.url()),
    );
    project2.write(
        "migration/001_thing.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/things\"\n    body: '{\"region\": \"{{.region}}\"}'\n",
    );
    project2
        .apirun_env(&["up"], &[("APIRUN_E2E_SURELY_UNSET_REGION", "us-east-2")])
        .success();
    assert_eq!(
        api.requests_to("POST", "/api/things")[0]["body"],
        r#"{"region": "us-east-2"}"#
    );

    // Unset without default: the error names the OS variable.
    project.write(
        "migration/002_zone.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/zones\"\n    body: '{\"zone\": \"{{.zone}}\"}'\n",
    );
    let run = project.apirun(&["up"]);
    run.code(1);
    assert!(
        run.stderr.contains("APIRUN_E2E_SURELY_UNSET_ZONE"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("zone"), "{}", run.stderr);
}

/// A config with only `api_base` (no auth).
fn env_only(api: &Api) -> String {
    format!(
        "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {}\n",
        api.url()
    )
}

/// The `api_base` a project's config names.
fn project_base(project: &Project) -> String {
    let config = std::fs::read_to_string(project.config()).expect("config");
    config
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("value: http://")
                .map(|rest| format!("http://{rest}"))
        })
        .expect("api_base in config")
}

/// One migration whose body is `body` (a single-quoted YAML scalar).
fn write_body_migration(project: &Project, body: &str) {
    project.write(
        "migration/001_thing.yaml",
        &format!(
            "up:\n  request:\n    method: POST\n    url: \"{{{{.api_base}}}}/api/things\"\n    body: '{body}'\n"
        ),
    );
}

/// Hostile templates that static analysis can see: `validate` and `up`
/// refuse them with the file, the field and the limit (exit 2), nothing is
/// sent, and nothing panics (`printf "%.70000f"` used to).
#[test]
fn hostile_templates_are_refused_before_running() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &env_only(&api));
    for (body, says) in [
        ("{{range 1000000000}}x{{end}}", "evaluation steps"),
        (
            "{{printf \"%0999999999d\" 1}}",
            "width 999999999 is larger than the limit 65535",
        ),
        (
            "{{printf \"%.70000f\" 1.0}}",
            "precision 70000 is larger than the limit 65535",
        ),
    ] {
        write_body_migration(&project, body);
        for cmd in ["validate", "up"] {
            let run = project.apirun(&[cmd]);
            run.code(2);
            let out = run.all_output();
            assert!(out.contains("001_thing.yaml"), "{cmd} {body}: {out}");
            assert!(out.contains("up.request.body"), "{cmd} {body}: {out}");
            assert!(out.contains(says), "{cmd} {body}: {out}");
            assert!(!out.contains("panicked"), "{cmd} {body}: {out}");
        }
    }
    assert!(api.requests_to("POST", "/api/things").is_empty());
}

/// Hostile templates only rendering can see stop at the engine's budgets
/// with a clear error before the request is sent, and no panic.
#[test]
fn hostile_templates_stop_at_render_budgets() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &env_only(&api));
    let doubling = format!(
        "{{{{$a := \"x\"}}}}{}{{{{$a}}}}",
        "{{$a = print $a $a}}".repeat(40)
    );
    for (body, says) in [
        (
            "{{range (mul 1000 1000000)}}{{end}}".to_string(),
            "evaluation steps",
        ),
        (doubling, "per rendered string"),
    ] {
        write_body_migration(&project, &body);
        let run = project.apirun(&["up"]);
        let out = run.all_output();
        assert_eq!(run.code, 1, "{body}: {out}");
        assert!(out.contains("up.request.body"), "{body}: {out}");
        assert!(out.contains(says), "{body}: {out}");
        assert!(!out.contains("panicked"), "{body}: {out}");
    }
    assert!(api.requests_to("POST", "/api/things").is_empty());
}

/// A hostile template in config env used to panic every command; now it is
/// a clear error naming config.yaml, and so is a chain of env values that
/// doubles 40 times.
#[test]
fn hostile_config_env_is_a_clear_error() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "{}  - name: pi\n    value: '{{{{printf \"%.70000f\" 1.0}}}}'\n",
            env_only(&api)
        ),
    );
    project.write(
        "migration/001_thing.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/things\"\n",
    );
    for cmd in ["validate", "up"] {
        let run = project.apirun(&[cmd]);
        let out = run.all_output();
        assert_eq!(run.code, 2, "{cmd}: {out}");
        assert!(out.contains("config.yaml"), "{cmd}: {out}");
        assert!(out.contains("precision 70000"), "{cmd}: {out}");
        assert!(!out.contains("panicked"), "{cmd}: {out}");
    }
    let mut config = format!("{}  - name: v0\n    value: x\n", env_only(&api));
    for i in 1..=40 {
        let p = i - 1;
        config.push_str(&format!(
            "  - name: v{i}\n    value: '{{{{.v{p}}}}}{{{{.v{p}}}}}'\n"
        ));
    }
    project.write("config.yaml", &config);
    project.write(
        "migration/001_thing.yaml",
        "up:\n  request:\n    method: GET\n    url: \"{{.api_base}}/api/things?q={{.v40}}\"\n",
    );
    // validate does not render config env values; up does.
    let run = project.apirun(&["up"]);
    let out = run.all_output();
    assert_ne!(run.code, 0, "{out}");
    assert!(out.contains("per rendered string"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    assert!(api.requests_to("GET", "/api/things").is_empty());
}

/// Peak RSS of a finished child in KiB, measured by GNU time (None when
/// /usr/bin/time is not installed).
fn peak_rss_kib(project: &Project, args: &[&str]) -> Option<(support::Run, u64)> {
    let time = std::path::Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let report = project.path().join("rss.txt");
    let mut cmd = std::process::Command::new(time);
    cmd.current_dir(project.path())
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(support::apirun_bin())
        .arg("--config")
        .arg(project.config())
        .args(args);
    let run = support::run(cmd);
    let rss = std::fs::read_to_string(&report).ok()?.trim().parse().ok()?;
    Some((run, rss))
}

/// A YAML alias bomb built from one 3 MiB string referenced 2,000 times
/// (8 GB expanded) is refused quickly, with bounded memory.
#[test]
fn yaml_alias_bomb_of_one_large_string_is_refused() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &env_only(&api));
    let mut src = format!(
        "up:\n  env:\n    big: &big \"{}\"\n  request:\n    method: GET\n    url: \"{{{{.api_base}}}}/api/things\"\n    headers:\n",
        "x".repeat(3 << 20)
    );
    for i in 0..2000 {
        src.push_str(&format!("      - name: h{i}\n        value: *big\n"));
    }
    project.write("migration/001_bomb.yaml", &src);
    let check = |run: &support::Run| {
        let out = run.all_output();
        assert_eq!(run.code, 2, "{}", &out[..out.len().min(2000)]);
        assert!(out.contains("001_bomb.yaml"), "{out}");
        assert!(out.contains("MiB of text"), "{out}");
    };
    match peak_rss_kib(&project, &["validate"]) {
        Some((run, rss)) => {
            check(&run);
            assert!(rss < 200 * 1024, "peak RSS {rss} KiB");
        }
        None => check(&project.apirun(&["validate"])),
    }
    check(&project.apirun(&["up"]));
    assert!(api.requests_to("GET", "/api/things").is_empty());
}

/// A templated `body_file` is rendered at run time and then taken relative to
/// the migration's directory: only the path as written is a template, so a
/// `{{` in the directory's own name is not read as one. `validate` reports a
/// broken one at its line.
#[test]
fn a_templated_body_file_is_relative_to_a_directory_with_braces_in_its_name() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "migrate_dir: \"./mig{{{{dir\"\nenv:\n  - name: api_base\n    value: {}\n  - name: kind\n    value: user\n",
            api.url()
        ),
    );
    project.write(
        "mig{{dir/payloads/user.json",
        r#"{"from": "the user file"}"#,
    );
    project.write(
        "mig{{dir/001_thing.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/things\"\n    body_file: \"payloads/{{.kind}}.json\"\n",
    );
    project.apirun(&["up"]).success();
    let posts = api.requests_to("POST", "/api/things");
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["body"], r#"{"from": "the user file"}"#);

    project.write(
        "mig{{dir/002_broken.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/things\"\n    body_file: \"payloads/{{.kind.json\"\n",
    );
    let validate = project.apirun(&["validate"]);
    validate.code(2);
    let out = validate.all_output();
    assert!(
        out.contains("002_broken.yaml:5") && out.contains("up.request.body_file"),
        "{out}"
    );
}

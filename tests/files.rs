//! End-to-end: how apirun finds and reads the files a project names, with the real binary
//! against the demo API: one rule for relative paths (docs/configuration.md, "Relative
//! paths"), files checked before they are read (docs/security.md, "Files"), the Go tool's
//! keys warned about instead of refused, every problem of config and migration files in
//! one pass, and `create` never reusing a version.

mod support;

use support::DemoApiAdmin as _;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Api, Project, Run, apirun_bin, basic_config};

fn get_up_down(up: &str, down: &str) -> String {
    format!(
        "up:\n  request:\n    method: GET\n    url: \"{{{{.api_base}}}}{up}\"\ndown:\n  method: GET\n  url: \"{{{{.api_base}}}}{down}\"\n"
    )
}

/// Runs apirun from `cwd` with `args`, under a 1 GiB data limit (so that a file read
/// whole by mistake fails instead of eating the machine's memory) and a generous
/// deadline (so that a read that blocks forever fails the test instead of hanging it).
fn apirun_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(apirun_bin());
    cmd.current_dir(cwd)
        .args(args)
        .env("APIRUN_CACHE_DIR", support::cache_dir())
        .env("APIRUN_PROGRESS", "plain")
        .env_remove("APIRUN_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 1 << 30,
                    rlim_max: 1 << 30,
                };
                libc::setrlimit(libc::RLIMIT_DATA, &limit);
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("apirun starts");
    // Read the pipes on threads so that a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("apirun {args:?} did not finish (blocked on a file?)");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn status_json_in(cwd: &Path, config: &str) -> Value {
    let run = apirun_in(
        cwd,
        &["--config", config, "status", "--output", "json"],
        &[],
    );
    run.success();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// Issue: a Go-layout project (`proj/config.yaml` naming `./proj/migration` and
/// `./proj/migration/apirun.db`, run from the parent directory) put its store under
/// `proj/proj/migration/` on the first `up`; the next `up` then read migrate_dir from that
/// new directory and applied nothing, `status` showed 001 missing, `down --to 0` exited 2.
/// Now both paths resolve by one rule, before anything is created, to the same place.
#[test]
fn go_layout_project_run_from_the_parent_directory_keeps_one_store() {
    let api = Api::start();
    let root = Project::new();
    root.write(
        "proj/config.yaml",
        &format!(
            "migrate_dir: ./proj/migration\nenv:\n  - name: api_base\n    value: {}\nstore:\n  type: sqlite\n  sqlite:\n    path: ./proj/migration/apirun.db\n",
            api.url()
        ),
    );
    root.write(
        "proj/migration/001_one.yaml",
        &get_up_down("/api/one", "/api/one-down"),
    );
    let cwd = root.path();
    let config = "proj/config.yaml";

    let first = apirun_in(cwd, &["--config", config, "up"], &[]);
    first.success();
    assert!(
        first.stderr.contains("warning") && first.stderr.contains("working directory"),
        "the working-directory fallback is announced:\n{}",
        first.stderr
    );
    assert!(cwd.join("proj/migration/apirun.db").is_file());
    assert!(
        !cwd.join("proj/proj").exists(),
        "nothing is created under proj/proj"
    );

    root.write(
        "proj/migration/002_two.yaml",
        &get_up_down("/api/two", "/api/two-down"),
    );
    let second = apirun_in(cwd, &["--config", config, "up"], &[]);
    second.success();
    assert!(second.stdout.contains("1 applied"), "{}", second.stdout);
    assert_eq!(api.requests_to("GET", "/api/one").len(), 1, "001 ran once");
    assert_eq!(api.requests_to("GET", "/api/two").len(), 1, "002 ran");

    let status = status_json_in(cwd, config);
    assert_eq!(status["applied"], json!([1, 2]), "{status}");
    assert_eq!(status["missing"], json!([]), "{status}");

    apirun_in(cwd, &["--config", config, "down", "--to", "0"], &[]).success();
    assert_eq!(api.requests_to("GET", "/api/two-down").len(), 1);
    assert_eq!(api.requests_to("GET", "/api/one-down").len(), 1);
    assert_eq!(status_json_in(cwd, config)["applied"], json!([]));
}

/// The same rule for a migration's `body_file`, a plugin's `path:` and a stages.yaml
/// `config_path` written from the working directory; the body_file warning is printed
/// once, however many migrations use it.
#[test]
fn body_file_plugin_and_stage_paths_follow_the_same_rule() {
    let api = Api::start();
    let root = Project::new();
    root.write(
        "proj/config.yaml",
        &format!(
            "migrate_dir: ./proj/migration\nenv:\n  - name: api_base\n    value: {}\n",
            api.url()
        ),
    );
    root.write("proj/bodies/one.json", "{\"n\": \"{{.api_base}}\"}");
    for v in ["001", "002", "003"] {
        root.write(
            &format!("proj/migration/{v}_post.yaml"),
            &format!(
                "up:\n  request:\n    method: POST\n    url: \"{{{{.api_base}}}}/api/things{v}\"\n    body_file: ./proj/bodies/one.json\n"
            ),
        );
    }
    let up = apirun_in(root.path(), &["--config", "proj/config.yaml", "up"], &[]);
    up.success();
    let posts = api.requests_to("POST", "/api/things001");
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0]["body"],
        json!(format!("{{\"n\": \"{}\"}}", api.url())),
        "the body file was read and rendered: {:?}",
        posts[0]
    );
    let warned = up
        .stderr
        .lines()
        .filter(|l| l.contains("bodies/one.json"))
        .count();
    assert_eq!(
        warned, 1,
        "one warning for the shared body_file:\n{}",
        up.stderr
    );

    // A plugin path from the working directory: found (and then refused for what it is,
    // which shows the resolved path was read).
    root.write("proj/plugins/junk.wasm", "not a component");
    root.write(
        "proj/config.yaml",
        &format!(
            "migrate_dir: ./proj/migration\nenv:\n  - name: api_base\n    value: {}\nplugins:\n  - name: junk\n    path: ./proj/plugins/junk.wasm\n",
            api.url()
        ),
    );
    let run = apirun_in(root.path(), &["--config", "proj/config.yaml", "up"], &[]);
    run.code(2);
    assert!(
        run.stderr.contains("proj/plugins/junk.wasm") && run.stderr.contains("WebAssembly"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("does not exist"), "{}", run.stderr);

    // stages.yaml naming a stage config from the working directory.
    let stages = Project::new();
    stages.write(
        "top/stages.yaml",
        "apiVersion: apirun/v1\nkind: StageOrchestration\nstages:\n  - name: only\n    config_path: ./top/only/config.yaml\n",
    );
    stages.write(
        "top/only/config.yaml",
        &format!(
            "migrate_dir: ./migration\nenv:\n  - name: api_base\n    value: {}\n",
            api.url()
        ),
    );
    stages.write(
        "top/only/migration/001_s.yaml",
        &get_up_down("/api/staged", "/api/x"),
    );
    let run = apirun_in(
        stages.path(),
        &["stages", "up", "--config", "top/stages.yaml"],
        &[],
    );
    run.success();
    assert!(run.stderr.contains("working directory"), "{}", run.stderr);
    assert_eq!(api.requests_to("GET", "/api/staged").len(), 1);
}

/// A project with one valid migration, for the special-file tests.
fn small_project(api: &Api) -> Project {
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    project.write("migration/001_ok.yaml", &get_up_down("/api/ok", "/api/ok"));
    project
}

fn config_arg(project: &Project) -> String {
    project.config().to_string_lossy().into_owned()
}

/// A FIFO named like a migration used to block `up` (and `validate`) forever, waiting for
/// a writer. Now it is refused with an error naming it, before anything is sent.
#[cfg(unix)]
#[test]
fn a_fifo_named_like_a_migration_is_refused_not_waited_on() {
    let api = Api::start();
    let project = small_project(&api);
    let config = config_arg(&project);
    let fifo = project.path().join("migration/002_fifo.yaml");
    let c = std::ffi::CString::new(fifo.to_str().expect("path")).expect("cstring");
    // SAFETY: mkfifo only reads the NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for command in ["up", "validate"] {
        let run = apirun_in(project.path(), &["--config", &config, command], &[]);
        run.code(2);
        assert!(
            run.stderr.contains("002_fifo.yaml") && run.stderr.contains("FIFO"),
            "{command}: {}",
            run.stderr
        );
    }
    assert!(api.requests().is_empty(), "nothing was sent");
}

/// A symlink to /dev/zero as a migration, as `--config`, as stages.yaml, as a body_file
/// and as a plugin `path:` used to be read until memory ran out (here: until the 1 GiB
/// data limit of the test aborted apirun). Each is now refused, naming the file.
#[cfg(unix)]
#[test]
fn symlinks_to_dev_zero_are_refused_wherever_a_file_is_named() {
    let api = Api::start();
    let project = small_project(&api);
    let dir = project.path();
    let config = config_arg(&project);
    let expect_refused = |run: &Run, file: &str| {
        run.code(2);
        assert!(
            run.stderr.contains(file) && run.stderr.contains("not a regular file"),
            "{file}: {}",
            run.stderr
        );
    };

    // As a migration.
    let zero = dir.join("migration/002_zero.yaml");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    let run = apirun_in(dir, &["--config", &config, "up"], &[]);
    expect_refused(&run, "002_zero.yaml");
    assert!(run.stderr.contains("character device"), "{}", run.stderr);
    std::fs::remove_file(&zero).expect("rm");

    // As --config, and as stages.yaml.
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero-config.yaml")).expect("symlink");
    let run = apirun_in(dir, &["--config", "zero-config.yaml", "status"], &[]);
    expect_refused(&run, "zero-config.yaml");
    let run = apirun_in(
        dir,
        &["stages", "validate", "--config", "zero-config.yaml"],
        &[],
    );
    expect_refused(&run, "zero-config.yaml");

    // As a body_file.
    std::os::unix::fs::symlink("/dev/zero", dir.join("migration/zero.json")).expect("symlink");
    project.write(
        "migration/002_body.yaml",
        "up:\n  request:\n    method: POST\n    url: \"{{.api_base}}/api/body\"\n    body_file: zero.json\n",
    );
    let run = apirun_in(dir, &["--config", &config, "up"], &[]);
    expect_refused(&run, "zero.json");
    std::fs::remove_file(dir.join("migration/002_body.yaml")).expect("rm");

    // As a plugin.
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.wasm")).expect("symlink");
    project.write(
        "config.yaml",
        &format!(
            "{}plugins:\n  - name: p\n    path: ./zero.wasm\n",
            basic_config(&api.url())
        ),
    );
    let run = apirun_in(dir, &["--config", &config, "up"], &[]);
    expect_refused(&run, "zero.wasm");
    assert!(api.requests().is_empty(), "nothing was sent");
}

/// A 3 GB (sparse) plugin file used to be read whole before its magic was checked. It is
/// now refused by its size before reading; a file without the WebAssembly magic is refused
/// after four bytes; the limit is configurable and the message names the variable.
#[test]
fn plugin_files_are_checked_before_being_read_whole() {
    let api = Api::start();
    let project = small_project(&api);
    let dir = project.path();
    let config = config_arg(&project);
    let big = std::fs::File::create(dir.join("big.wasm")).expect("create");
    big.set_len(3 << 30).expect("sparse 3 GB");
    project.write("text.wasm", "hello, not a component");
    project.write("small.wasm", "\0asm\x0d\0\x01\0 and more bytes than ten");
    for (file, env, expected) in [
        ("big.wasm", None, "over the limit of 268435456 bytes"),
        ("text.wasm", None, "does not start with \\0asm"),
        (
            "small.wasm",
            Some(("APIRUN_MAX_PLUGIN_SIZE", "10")),
            "raise APIRUN_MAX_PLUGIN_SIZE",
        ),
    ] {
        project.write(
            "config.yaml",
            &format!(
                "{}plugins:\n  - name: p\n    path: ./{file}\n",
                basic_config(&api.url())
            ),
        );
        let env: Vec<(&str, &str)> = env.into_iter().collect();
        let run = apirun_in(dir, &["--config", &config, "up"], &env);
        run.code(2);
        assert!(
            run.stderr.contains(file) && run.stderr.contains(expected),
            "{file}: {}",
            run.stderr
        );
    }
    assert!(api.requests().is_empty(), "nothing was sent");
}

/// A directory named like a migration (`003_dir.yaml/`) used to be skipped silently; it
/// is reported.
#[test]
fn a_directory_named_like_a_migration_is_reported() {
    let api = Api::start();
    let project = small_project(&api);
    std::fs::create_dir(project.path().join("migration/003_dir.yaml")).expect("mkdir");
    for command in ["validate", "up"] {
        let run = project.apirun(&[command]);
        run.code(2);
        assert!(
            run.stderr.contains("003_dir.yaml") && run.stderr.contains("is a directory"),
            "{command}: {}",
            run.stderr
        );
    }
    assert!(api.requests().is_empty(), "nothing was sent");
}

/// Keys the Go tool reads or tolerates (`base_env`, `store.driver`, `store.path`,
/// `logging.color`, `apiVersion`/`kind` in a migration file) are warnings naming the key
/// and what apirun does, not exit 2; `store.driver` is read as `store.type`.
#[test]
fn go_tool_keys_are_warnings_not_errors() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!(
            "{}base_env:\n  global: {{}}\nstore:\n  driver: sqlite\n  path: /nonexistent/branch_a.db\nlogging:\n  color: false\n  mask_sensitive: true\n",
            basic_config(&api.url())
        ),
    );
    project.write(
        "migration/001_go.yaml",
        &format!(
            "apiVersion: apirun/v1\nkind: Migration\n{}",
            get_up_down("/api/go", "/api/go-down")
        ),
    );
    let validate = project.apirun(&["validate"]);
    validate.success();
    for key in [
        "base_env",
        "store.driver",
        "store.path",
        "apiVersion",
        "kind",
    ] {
        assert!(
            validate.stderr.contains(&format!("warning: {key}")),
            "warning for {key}:\n{}",
            validate.stderr
        );
    }
    assert!(
        validate.stderr.contains("store.sqlite.path"),
        "{}",
        validate.stderr
    );
    let up = project.apirun(&["up"]);
    up.success();
    assert_eq!(api.requests_to("GET", "/api/go").len(), 1);
    // store.path was not used: the store is the default one.
    assert!(project.path().join("migration/apirun.db").is_file());
}

/// A config error no longer hides the migration files' errors: both are listed by one
/// `up` (and `validate`), which exits 2 and sends nothing.
#[test]
fn config_and_migration_errors_are_reported_in_one_pass() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!("{}client:\n  timout: 3s\n", basic_config(&api.url())),
    );
    project.write(
        "migration/001_bad.yaml",
        "up:\n  request:\n    methd: GET\n    url: \"{{.api_base}}/x\"\n",
    );
    for command in ["up", "validate"] {
        let run = project.apirun(&[command]);
        run.code(2);
        assert!(
            run.stderr.contains("timout") && run.stderr.contains("methd"),
            "{command}: both problems listed:\n{}",
            run.stderr
        );
    }
    assert!(api.requests().is_empty());
}

/// `config.yaml` in the migration directory (the default layout) is not "a file not named
/// like a migration".
#[test]
fn config_yaml_in_migrate_dir_is_not_mentioned() {
    let api = Api::start();
    let project = Project::new();
    project.write(
        "config.yaml",
        &format!("env:\n  - name: api_base\n    value: {}\n", api.url()),
    );
    project.write("001_one.yaml", &get_up_down("/api/one", "/api/one"));
    project.write("notes.yaml", "just: notes\n");
    let run = project.apirun(&["validate"]);
    run.success();
    assert!(
        run.stderr.contains("notes.yaml"),
        "other YAML files still are:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("config.yaml"), "{}", run.stderr);
}

/// `create` never gives two files the same version: the next version is the UTC time or
/// one more than the highest version in the directory, whichever is larger.
#[test]
fn create_twice_never_reuses_a_version() {
    let api = Api::start();
    let project = Project::new();
    project.write("config.yaml", &basic_config(&api.url()));
    // A file already above the clock, applied: a timestamp would be out of order.
    project.write(
        "migration/99990101000000_later.yaml",
        &get_up_down("/api/later", "/api/l"),
    );
    project.apirun(&["up"]).success();
    let mut versions = Vec::new();
    for _ in 0..3 {
        let run = project.apirun(&["create", "same name"]);
        run.success();
        let path = std::path::PathBuf::from(run.stdout.trim());
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let (digits, slug) = name.split_once('_').expect("version_slug");
        assert_eq!(slug, "same_name.yaml");
        versions.push(digits.parse::<u64>().expect("version"));
        // Make it runnable.
        let text = std::fs::read_to_string(&path).expect("created");
        std::fs::write(&path, text.replace("CHANGE_ME", "api/created")).expect("write");
    }
    assert_eq!(
        versions,
        vec![99990101000001, 99990101000002, 99990101000003]
    );
    project.apirun(&["validate"]).success();
    project.apirun(&["up"]).success();
    assert_eq!(api.requests_to("POST", "/api/created").len(), 3);
}

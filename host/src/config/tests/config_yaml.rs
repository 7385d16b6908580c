//! config.yaml.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::*;
use super::*;

#[test]
fn unknown_key_is_named_with_a_suggestion() {
    let (_d, r) = config("migrat_dir: .\n");
    let d = errs(r);
    let diag = find(
        &d,
        "unknown key \"migrat_dir\" in config.yaml; did you mean \"migrate_dir\"?",
    );
    assert_eq!((diag.line, diag.column), (Some(1), Some(1)));
}

#[test]
fn unknown_keys_at_every_level_are_all_reported() {
    let (_d, r) = config(
        "store:\n  typ: sqlite\n  sqlite:\n    pth: x.db\nenv:\n  - name: a\n    valu: b\nclient:\n  timout: 5s\n",
    );
    let d = errs(r);
    let typ = find(&d, "unknown key \"typ\" in store; did you mean \"type\"?");
    assert_eq!((typ.line, typ.column), (Some(2), Some(3)));
    assert_eq!(typ.field.as_deref(), Some("store.typ"));
    find(
        &d,
        "store.sqlite.pth: unknown key \"pth\" in store.sqlite; did you mean \"path\"?",
    );
    find(
        &d,
        "env[0].valu: unknown key \"valu\" in env[0]; did you mean \"value\"?",
    );
    find(&d, "did you mean \"timeout\"?");
    assert!(d.errors().count() >= 4);
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    let (dir, r) = config("env:\n  - name: a\n    value: [1, 2\nstore: {}\n");
    let d = errs(r);
    let e = d.errors().next().expect("an error");
    assert!(e.message.starts_with("invalid YAML"), "{e}");
    assert!(e.line.is_some() && e.column.is_some(), "{e}");
    assert_eq!(e.file, dir.path().join("config.yaml"));
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "{}:{}:{}: ",
            e.file.display(),
            e.line.unwrap_or(0),
            e.column.unwrap_or(0)
        )),
        "{text}"
    );
}

#[test]
fn type_errors_have_positions() {
    let (_d, r) = config("render_body: maybe\nclient:\n  retries: many\n  timeout: 30\n");
    let d = errs(r);
    let rb = find(&d, "render_body: expected true or false, found \"maybe\"");
    assert_eq!((rb.line, rb.column), (Some(1), Some(14)));
    let rt = find(&d, "client.retries: expected a whole number");
    assert_eq!((rt.line, rt.column), (Some(3), Some(12)));
    find(
        &d,
        "client.timeout: duration \"30\" has no unit; did you mean \"30s\"?",
    );
}

#[test]
fn config_defaults() {
    let (dir, r) = config("");
    let c = ok(r).value;
    assert_eq!(c.migrate_dir, dir.path());
    assert_eq!(c.store.kind, StoreKind::Sqlite);
    assert_eq!(c.store.sqlite.path, dir.path().join("apirun.db"));
    assert_eq!(c.store.table_schema_migrations, "schema_migrations");
    assert_eq!(c.store.table_migration_runs, "migration_runs");
    assert_eq!(c.store.table_stored_env, "stored_env");
    assert_eq!(c.store.lock_timeout, Duration::from_secs(30));
    assert!(!c.store.disabled && !c.store.save_response_body);
    assert_eq!(c.wait, None);
    assert_eq!(c.client, ClientConfig::default());
    assert_eq!(c.client.retries, 3);
    assert_eq!(c.client.timeout, Duration::from_secs(30));
    assert_eq!(c.logging, LoggingConfig::default());
    assert!(c.logging.masking.enabled);
    assert!(c.render_body);
    assert_eq!(c.delay_between_migrations, Duration::ZERO);
}

#[test]
fn full_config_loads() {
    let dir = tmp();
    fs::create_dir_all(dir.path().join("migs")).expect("mkdir");
    write(dir.path(), "ca.pem", "x");
    write(dir.path(), "plugins/kc.wasm", "x");
    let path = write(
        dir.path(),
        "config.yaml",
        r#"
migrate_dir: ./migs
env:
  - name: api_base
    value: http://localhost:3000
  - name: replicas
    value: 3
  - name: pw
    valueFromEnv: ADMIN_PASSWORD
    default: demo
auth:
  - type: basic
    name: api_basic
    config: {username: admin, password: "{{.pw}}"}
  - type: keycloak
    name: kc
    config:
      scopes: [read, write]
      realm: master
plugins:
  - name: keycloak
    path: plugins/kc.wasm
    allowed_hosts: ["https://sso.example.com"]
    reuse_instance: true
store:
  type: postgresql
  table_prefix: p
  table_stored_env: my_env
  lock_timeout: 1m30s
  postgres:
    host: localhost
    port: 5432
    dbname: apirun
wait:
  url: "{{.api_base}}/health"
  method: head
  timeout: 10s
  headers: {X-Probe: "1"}
client:
  insecure: true
  min_tls_version: "1.2"
  max_tls_version: tls1.3
  ca_file: ca.pem
  retries: 5
logging:
  level: debug
  format: json
  masking:
    enabled: false
    patterns: ["secret_.*"]
render_body: false
delay_between_migrations: 500ms
"#,
    );
    let c = ok(load_stage_config(&path)).value;
    assert_eq!(c.migrate_dir, dir.path().join("migs"));
    assert_eq!(c.env[1].value.as_deref(), Some("3"));
    assert_eq!(c.env[2].value_from_env.as_deref(), Some("ADMIN_PASSWORD"));
    assert_eq!(c.env[2].default.as_deref(), Some("demo"));
    assert_eq!(c.auth[0].config.source()["password"], "{{.pw}}");
    assert_eq!(c.auth[1].config.source()["scopes"][1], "write");
    assert_eq!(c.plugins[0].path, dir.path().join("plugins/kc.wasm"));
    assert_eq!(c.plugins[0].allowed_hosts, ["https://sso.example.com"]);
    assert!(c.plugins[0].reuse_instance);
    assert_eq!(c.store.kind, StoreKind::Postgres);
    assert_eq!(c.store.table_schema_migrations, "p_schema_migrations");
    assert_eq!(c.store.table_migration_runs, "p_migration_runs");
    assert_eq!(c.store.table_stored_env, "my_env");
    assert_eq!(c.store.lock_timeout, Duration::from_secs(90));
    assert_eq!(c.store.postgres.port, Some(5432));
    let w = c.wait.expect("wait");
    assert_eq!(w.method, WaitMethod::Head);
    assert_eq!(w.status, 200);
    assert_eq!(w.timeout, Duration::from_secs(10));
    assert_eq!(w.interval, Duration::from_secs(2));
    assert_eq!(w.headers[0].name, "X-Probe");
    assert!(c.client.insecure);
    assert_eq!(c.client.min_tls_version, Some(TlsVersion::Tls1_2));
    assert_eq!(c.client.max_tls_version, Some(TlsVersion::Tls1_3));
    assert_eq!(c.client.ca_file, Some(dir.path().join("ca.pem")));
    assert_eq!(c.client.retries, 5);
    assert_eq!(c.logging.level, LogLevel::Debug);
    assert_eq!(c.logging.format, LogFormat::Json);
    assert!(!c.logging.masking.enabled);
    assert_eq!(c.logging.masking.patterns, ["secret_.*"]);
    assert!(!c.render_body);
    assert_eq!(c.delay_between_migrations, Duration::from_millis(500));
}

#[test]
fn store_types() {
    let (_d, r) = config("store:\n  type: postgres\n  postgres:\n    dsn: postgres://u@h/db\n");
    assert_eq!(ok(r).value.store.kind, StoreKind::Postgres);
    let (_d, r) = config("store:\n  type: PostgreSQL\n  postgres: {dsn: x}\n");
    assert_eq!(ok(r).value.store.kind, StoreKind::Postgres);
    let (_d, r) = config("store:\n  type: sqlite\n");
    assert_eq!(ok(r).value.store.kind, StoreKind::Sqlite);
    let (_d, r) = config("store:\n  type: mysql\n");
    let d = errs(r);
    let e = find(&d, "store.type: unknown store type \"mysql\"");
    assert!(
        e.to_string().contains("sqlite, postgres, postgresql"),
        "{e}"
    );
    assert_eq!((e.line, e.column), (Some(2), Some(9)));
    let (_d, r) = config("store:\n  type: postgress\n");
    let d = errs(r);
    find(&d, "did you mean \"postgres\"?");
    let (_d, r) = config("store:\n  type: postgres\n");
    let d = errs(r);
    find(&d, "needs store.postgres.dsn or store.postgres.host");
}

#[test]
fn table_names_are_validated() {
    let (_d, r) =
        config("store:\n  table_prefix: my-app\n  table_migration_runs: \"runs; drop\"\n");
    let d = errs(r);
    find(
        &d,
        "store.table_prefix: table prefix \"my-app\" would give invalid table names",
    );
    let e = find(
        &d,
        "store.table_migration_runs: invalid table name \"runs; drop\"",
    );
    assert_eq!(e.line, Some(3));
}

#[test]
fn env_entry_rules() {
    let (_d, r) = config(
        "env:\n  - name: a\n    value: x\n    valueFromEnv: A\n  - name: b\n  - name: c\n    valueFromEnv: C\n  - name: d\n    default: z\n  - name: e\n    value:\n",
    );
    let d = errs(r);
    find(&d, "variable \"a\" has both value and valueFromEnv");
    find(&d, "variable \"b\" has neither value nor valueFromEnv");
    assert_eq!(d.errors().count(), 2, "{d}");

    let (_d, r) = config("env:\n  api: http://x\n  n: 3\n");
    let c = ok(r).value;
    assert_eq!(c.env[1].name, "n");
    assert_eq!(c.env[1].value.as_deref(), Some("3"));
}

#[test]
fn auth_and_plugin_checks() {
    let (_d, r) =
        config("auth:\n  - type: basik\n    name: a\n  - type: basic\n    name: a\n  - name: b\n");
    let d = errs(r);
    find(
        &d,
        "auth[0].type: unknown auth type \"basik\"; did you mean \"basic\"?",
    );
    find(&d, "auth \"a\" is defined twice");
    find(&d, "missing required key \"type\" in auth[2]");
    let (_d, r) = config("plugins:\n  - name: p\n    path: nope.wasm\n");
    let d = errs(r);
    find(&d, "plugins[0].path: \"nope.wasm\" does not exist");
}

#[test]
fn tls_wait_and_logging_values() {
    for (v, want) in [
        ("1.0", TlsVersion::Tls1_0),
        ("tls1.1", TlsVersion::Tls1_1),
        ("TLS1.3", TlsVersion::Tls1_3),
        ("TLSv1.2", TlsVersion::Tls1_2),
    ] {
        assert_eq!(TlsVersion::parse(v), Some(want), "{v}");
    }
    for bad in ["1", "12", "1.4", "ssl3", ""] {
        assert_eq!(TlsVersion::parse(bad), None, "{bad}");
    }
    assert_eq!(TlsVersion::Tls1_2.to_string(), "TLS 1.2");
    let (_d, r) = config(
        "client:\n  min_tls_version: 1.3\n  max_tls_version: 1.2\nwait:\n  url: http://x\n  method: POST\nlogging:\n  format: xml\n  mask_sensitive: false\n",
    );
    let d = errs(r);
    find(&d, "max_tls_version is lower than min_tls_version");
    find(&d, "wait.method: unknown method \"POST\"");
    find(&d, "logging.format: unknown format \"xml\"");
    let (_d, r) = config("client:\n  min_tls_version: 1.0\n  max_tls_version: \"1.4\"\n");
    find(&errs(r), "unknown TLS version \"1.4\"");
    // Go-tool logging keys still load.
    let (_d, r) = config("logging:\n  mask_sensitive: false\n  color: true\n  format: text\n");
    let c = ok(r).value;
    assert!(!c.logging.masking.enabled);
    assert_eq!(c.logging.format, LogFormat::Color);
    // A wait block with everything commented out is no wait at all.
    let (_d, r) = config("wait:\n  # url: x\nstore:\n  sqlite:\n");
    assert_eq!(ok(r).value.wait, None);
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let dir = tmp();
    write(dir.path(), "conf/certs/ca.pem", "x");
    fs::create_dir_all(dir.path().join("conf/migration")).expect("mkdir");
    let path = write(
        dir.path(),
        "conf/config.yaml",
        "migrate_dir: ./migration\nclient:\n  ca_file: certs/ca.pem\nstore:\n  sqlite:\n    path: state/db.sqlite\n",
    );
    let c = ok(load_stage_config(&path)).value;
    assert_eq!(c.migrate_dir, dir.path().join("conf/migration"));
    assert_eq!(c.client.ca_file, Some(dir.path().join("conf/certs/ca.pem")));
    assert_eq!(c.store.sqlite.path, dir.path().join("conf/state/db.sqlite"));
}

#[test]
fn working_directory_fallback_warns() {
    // `Cargo.toml` does not exist next to the config but does in the test's working
    // directory (the crate root), as with a config written for the Go tool.
    assert!(Path::new("Cargo.toml").is_file());
    let (dir, r) = config("client:\n  ca_file: Cargo.toml\n");
    let loaded = ok(r);
    assert_eq!(
        loaded.value.client.ca_file,
        Some(PathBuf::from("Cargo.toml"))
    );
    assert_eq!(loaded.warnings.len(), 1);
    let w = &loaded.warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(w.field.as_deref(), Some("client.ca_file"));
    assert_eq!((w.line, w.column), (Some(2), Some(12)));
    assert!(w.message.contains("working directory"), "{w}");
    assert!(w.to_string().contains(&dir.path().display().to_string()));
    // Missing everywhere: an error, not a fallback.
    let (_d, r) = config("client:\n  ca_file: no-such.pem\n");
    find(&errs(r), "client.ca_file: \"no-such.pem\" does not exist");
}

#[test]
fn missing_migrate_dir_is_a_warning() {
    let (_d, r) = config("migrate_dir: ./nowhere\n");
    let l = ok(r);
    assert!(
        l.warnings[0].message.contains("does not exist"),
        "{:?}",
        l.warnings
    );
}

//! The migration directory.

use std::fs;

use super::super::*;
use super::*;

#[test]
fn file_names() {
    assert_eq!(
        parse_migration_file_name("001_create_user.yaml"),
        Some(("001", "create_user"))
    );
    assert_eq!(
        parse_migration_file_name("20261127093000_x.yml"),
        Some(("20261127093000", "x"))
    );
    assert_eq!(parse_migration_file_name("1_a.b.yaml"), Some(("1", "a.b")));
    assert_eq!(parse_migration_file_name("001-x.yaml"), None);
    assert_eq!(parse_migration_file_name("x_001.yaml"), None);
    assert_eq!(parse_migration_file_name("001_x.json"), None);
}

#[test]
fn directory_scan_sorts_and_notes_other_files() {
    let dir = tmp();
    write(dir.path(), "20261127093000_late.yaml", MINIMAL_UP);
    write(dir.path(), "002_b.yml", MINIMAL_UP);
    write(dir.path(), "10_c.yaml", MINIMAL_UP);
    write(dir.path(), "README.md", "hi");
    write(dir.path(), "create-user.yaml", MINIMAL_UP);
    write(dir.path(), "apirun.db", "");
    fs::create_dir_all(dir.path().join("payloads")).expect("mkdir");
    let l = ok(load_migrations(dir.path()));
    let versions: Vec<(u64, &str)> = l
        .value
        .iter()
        .map(|m| (m.version, m.name.as_str()))
        .collect();
    assert_eq!(versions, [(2, "b"), (10, "c"), (20261127093000, "late")]);
    assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
    let d = Diagnostics(l.warnings);
    assert_eq!(find(&d, "README.md").severity, Severity::Note);
    assert_eq!(find(&d, "create-user.yaml").severity, Severity::Warning);
}

#[test]
fn three_broken_files_are_all_reported() {
    let dir = tmp();
    write(dir.path(), "001_ok.yaml", MINIMAL_UP);
    write(dir.path(), "002_syntax.yaml", "up:\n  request: [oops\n");
    write(
        dir.path(),
        "003_key.yaml",
        "up:\n  requst:\n    method: GET\n    url: http://x\n",
    );
    write(
        dir.path(),
        "004_method.yaml",
        "up:\n  request:\n    method: FETCH\n    url: http://x\n",
    );
    let d = errs(load_migrations(dir.path()));
    let files: std::collections::BTreeSet<String> = d
        .errors()
        .filter_map(|e| e.file.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(
        files.into_iter().collect::<Vec<_>>(),
        ["002_syntax.yaml", "003_key.yaml", "004_method.yaml"]
    );
    let syntax = find(&d, "002_syntax.yaml");
    assert!(syntax.line.is_some() && syntax.column.is_some());
    find(
        &d,
        "unknown key \"requst\" in up; did you mean \"request\"?",
    );
    find(&d, "unknown method \"FETCH\"");
}

#[test]
fn duplicate_versions_name_both_files() {
    let dir = tmp();
    write(dir.path(), "001_a.yaml", MINIMAL_UP);
    write(dir.path(), "1_b.yaml", MINIMAL_UP);
    let d = errs(load_migrations(dir.path()));
    let e = find(&d, "version 1 is used twice");
    assert!(
        e.message.contains("001_a.yaml") && e.message.contains("1_b.yaml"),
        "{e}"
    );
}

#[test]
fn version_zero_is_rejected() {
    let dir = tmp();
    write(dir.path(), "000_init.yaml", MINIMAL_UP);
    let d = errs(load_migrations(dir.path()));
    let e = find(&d, "version 0 is not allowed");
    assert!(e.message.contains("nothing applied"), "{e}");
    assert!(
        e.hint.as_deref().is_some_and(|h| h.contains("renumber")),
        "{e}"
    );
}

#[test]
fn missing_directory_is_an_error() {
    let dir = tmp();
    let d = errs(load_migrations(&dir.path().join("nope")));
    find(&d, "cannot read the migration directory");
}

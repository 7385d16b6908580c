//! Tests of the loaders, on files written to temporary directories and on the published
//! seed example.

mod config_yaml;
mod diagnostics;
mod migration_dir;
mod migration_files;
mod references;
mod seed;
mod stages;

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;

pub(super) fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create dir");
    }
    fs::write(&path, content).expect("write file");
    path
}

pub(super) fn tmp() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Loads a config.yaml written with `content` into a fresh directory.
pub(super) fn config(content: &str) -> (TempDir, Result<Loaded<StageConfig>, Diagnostics>) {
    let dir = tmp();
    let path = write(dir.path(), "config.yaml", content);
    let r = load_stage_config(&path);
    (dir, r)
}

/// Loads a migration file written with `content`.
pub(super) fn migration(content: &str) -> (TempDir, Result<Loaded<Migration>, Diagnostics>) {
    let dir = tmp();
    let path = write(dir.path(), "001_test.yaml", content);
    let r = load_migration_file_with_warnings(&path, 1, "test");
    (dir, r)
}

pub(super) fn errs(r: Result<impl std::fmt::Debug, Diagnostics>) -> Diagnostics {
    match r {
        Ok(v) => panic!("expected errors, got {v:?}"),
        Err(d) => d,
    }
}

pub(super) fn ok<T: std::fmt::Debug>(r: Result<Loaded<T>, Diagnostics>) -> Loaded<T> {
    match r {
        Ok(v) => v,
        Err(d) => panic!("expected success, got:\n{d}"),
    }
}

pub(super) fn find<'a>(d: &'a Diagnostics, needle: &str) -> &'a Diagnostic {
    d.iter()
        .find(|x| x.to_string().contains(needle))
        .unwrap_or_else(|| panic!("no diagnostic containing {needle:?} in:\n{d}"))
}

pub(super) const MINIMAL_UP: &str = "up:\n  request:\n    method: GET\n    url: http://x\n";

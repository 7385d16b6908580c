//! `create NAME`: a new timestamped migration file from a template.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::EngineError;

const TEMPLATE: &str = r#"# Created by `apirun create`. Edit the request, then run `apirun up`.
up:
  name: {name}
  env: {}
  request:
    method: POST
    url: "{{.api_base}}/CHANGE_ME"
    headers:
      - name: Content-Type
        value: application/json
    body: |
      {}
  response:
    result_code: ["200", "201"]
    env_from: {}

down:
  name: undo {name}
  method: DELETE
  url: "{{.api_base}}/CHANGE_ME"
  response:
    result_code: ["200", "204", "404"]
"#;

/// Write `<version>_<slug>.yaml` into `dir` and return its path. The version is the UTC
/// time `YYYYMMDDHHMMSS`, or one more than the highest version already in `dir` when that
/// is not below it, so two `create`s in the same second (or a clock that went back) never
/// give two files the same version. Never overwrites a file.
pub fn create_migration(dir: &Path, name: &str) -> Result<PathBuf, EngineError> {
    let slug = slugify(name);
    if slug.is_empty() {
        return Err(EngineError::Usage(format!(
            "migration name {name:?} has no letters or digits; use e.g. `apirun create add_users`"
        )));
    }
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    // 14 digits always fit in a u64.
    let stamp: u64 = stamp.parse().unwrap_or(0);
    std::fs::create_dir_all(dir)
        .map_err(|e| EngineError::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let written = |path: &Path, e: std::io::Error| {
        EngineError::Usage(format!("cannot write {}: {e}", path.display()))
    };
    // Another `create` running at the same moment may take the same version between our
    // listing and our write: then ours is removed and the next version tried.
    for _ in 0..100 {
        let version = match highest_version(dir)? {
            Some(last) if last >= stamp => last.checked_add(1).filter(|v| *v <= MAX_VERSION),
            _ => Some(stamp),
        }
        .ok_or_else(|| {
            EngineError::Usage(format!(
                "{} already holds the highest version a migration can have; renumber its files",
                dir.display()
            ))
        })?;
        let path = dir.join(format!("{version}_{slug}.yaml"));
        let mut file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(written(&path, e)),
        };
        file.write_all(TEMPLATE.replace("{name}", &slug).as_bytes())
            .map_err(|e| written(&path, e))?;
        drop(file);
        if versions_in(dir)?.iter().filter(|v| **v == version).count() > 1 {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        return Ok(path);
    }
    Err(EngineError::Usage(format!(
        "could not find a free version in {}: other processes keep creating migrations",
        dir.display()
    )))
}

/// Versions are stored as signed 64-bit integers: the highest a new file may get.
const MAX_VERSION: u64 = i64::MAX as u64;

/// The versions of the files in `dir` named like migrations.
fn versions_in(dir: &Path) -> Result<Vec<u64>, EngineError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| EngineError::Usage(format!("cannot list {}: {e}", dir.display())))?;
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let name = name.to_str()?;
            let (digits, _) = crate::config::parse_migration_file_name(name)?;
            digits.parse::<u64>().ok()
        })
        .collect())
}

fn highest_version(dir: &Path) -> Result<Option<u64>, EngineError> {
    Ok(versions_in(dir)?.into_iter().max())
}

fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('_') && !slug.is_empty() {
            slug.push('_');
        }
    }
    slug.trim_end_matches('_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Add Users!"), "add_users");
        assert_eq!(slugify("  --x--y "), "x_y");
        assert_eq!(slugify("***"), "");
    }

    #[test]
    fn same_second_gives_distinct_increasing_versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = create_migration(dir.path(), "add users").expect("created");
        let second = create_migration(dir.path(), "add users").expect("created");
        let version = |p: &Path| -> u64 {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.split('_')
                .next()
                .unwrap_or_default()
                .parse()
                .expect("digits")
        };
        assert!(version(&second) > version(&first), "{first:?} {second:?}");
        // A file numbered above the clock: the next one goes above it.
        std::fs::write(dir.path().join("99990101000000_future.yaml"), "").expect("write");
        let third = create_migration(dir.path(), "x").expect("created");
        assert_eq!(version(&third), 99990101000001);
    }
}

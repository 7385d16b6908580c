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

/// Write `<UTC YYYYMMDDHHMMSS>_<slug>.yaml` into `dir`; refuses to overwrite.
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
    std::fs::create_dir_all(dir)
        .map_err(|e| EngineError::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("{stamp}_{slug}.yaml"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| {
            EngineError::Usage(if e.kind() == std::io::ErrorKind::AlreadyExists {
                format!("{} already exists; not overwriting it", path.display())
            } else {
                format!("cannot write {}: {e}", path.display())
            })
        })?;
    file.write_all(TEMPLATE.replace("{name}", &slug).as_bytes())
        .map_err(|e| EngineError::Usage(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
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
    fn creates_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = create_migration(dir.path(), "add users").expect("created");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        assert!(name.ends_with("_add_users.yaml"), "{name}");
        assert_eq!(name.len(), "20261127093000_add_users.yaml".len());
        // Same second, same name: refused (retry until the clock second matches).
        let again = create_migration(dir.path(), "add users");
        if let Err(e) = again {
            assert!(e.to_string().contains("already exists"), "{e}");
        }
    }
}

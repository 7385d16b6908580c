//! `apirun init [DIR]` and `apirun stages init [DIR]`: write a starter project
//! so that a new user's first command does something, and every error about a
//! missing config can point here.
//!
//! The files are plain text templates (not generated from the config model):
//! they are documentation as much as configuration, with the common keys
//! commented. `tests/init.rs` runs `validate`, `up --dry-run` and a real `up`
//! on what they write, so they cannot drift from what the loader accepts.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::exit::{Exit, Failure};

const CONFIG: &str = r#"# apirun stage config: see docs/configuration.md for every key.
# Paths are relative to this file.
migrate_dir: ./migration

env:
  # Variables the migrations use as {{.name}}. Override with valueFromEnv.
  - name: api_base
    valueFromEnv: API_BASE          # from the process environment...
    default: http://127.0.0.1:8080  # ...or this when API_BASE is unset
  # - name: api_token
  #   valueFromEnv: API_TOKEN       # secrets: read from the environment

# auth:                             # credentials, acquired once and injected
#   - type: basic                   # basic | oauth2 | pocketbase
#     name: api
#     config:
#       username: admin
#       password: "{{.api_password}}"

store:
  type: sqlite                      # sqlite (default) | postgres
  sqlite:
    path: ./migration/apirun.db     # what was applied, and when

# client:
#   timeout: 30s
#   retries: 3
# logging:
#   level: info                     # error | warn | info | debug
"#;

const MIGRATION: &str = r#"# One migration: `up` applies it, `down` reverts it. See docs/migrations.md.
up:
  name: create example item
  request:
    method: POST
    url: "{{.api_base}}/items"
    headers:
      - name: Content-Type
        value: application/json
    body: '{"name": "example"}'
  response:
    result_code: ["200", "201"]
    env_from:
      item_id: id                   # a gjson path into the response body

down:
  name: delete example item
  request:
    method: DELETE
    url: "{{.api_base}}/items/{{.item_id}}"
  response:
    result_code: ["200", "204", "404"]
"#;

const README: &str = r#"# apirun project

Written by `apirun init`. Point `api_base` in config/config.yaml (or the
API_BASE environment variable) at your API, then:

    apirun validate     # check every file, send nothing
    apirun up --dry-run # print the plan
    apirun up           # apply pending migrations
    apirun status       # what is applied
    apirun down --to 0  # roll everything back
    apirun create NAME  # add the next migration

apirun's docs: docs/configuration.md, docs/migrations.md and docs/templates.md
in its repository.
"#;

const STAGES: &str = r#"# apirun stages file: see docs/multi-stage.md.
apiVersion: apirun/v1
kind: StageOrchestration

stages:
  - name: base
    config_path: ./base/config/config.yaml
    on_failure: stop                # stop | skip_dependents | continue
  - name: app
    config_path: ./app/config/config.yaml
    depends_on: [base]
    # env_from_stages:              # variables another stage extracted
    #   - stage: base
    #     vars: [item_id]

global:
  max_concurrent_stages: 1
  wait_between_stages: 0s
  rollback_on_failure: false
"#;

/// What `init` wrote, for the summary.
struct Written {
    files: Vec<PathBuf>,
}

impl Written {
    fn new() -> Self {
        Written { files: Vec::new() }
    }

    /// Create `path` with `text`; never overwrite (a starter must not clobber a project).
    fn file(&mut self, path: &Path, text: &str) -> Result<(), Failure> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_failure(dir, &e))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    exists(path)
                } else {
                    io_failure(path, &e)
                }
            })?;
        f.write_all(text.as_bytes())
            .map_err(|e| io_failure(path, &e))?;
        self.files.push(path.to_path_buf());
        Ok(())
    }
}

fn io_failure(path: &Path, e: &std::io::Error) -> Failure {
    Failure::failed(format!("cannot write {}: {e}", path.display()))
}

fn exists(path: &Path) -> Failure {
    Failure::bad_input(format!(
        "{} already exists; `init` never overwrites files \
         (choose another directory: `apirun init DIR`)",
        path.display()
    ))
}

/// Refuse before writing anything when any target exists, so a refused `init`
/// leaves no half-written project behind.
fn refuse_existing(paths: &[&Path]) -> Result<(), Failure> {
    for path in paths {
        if path.exists() {
            return Err(exists(path));
        }
    }
    Ok(())
}

fn stage_files(dir: &Path) -> [(PathBuf, &'static str); 2] {
    [
        (dir.join("config").join("config.yaml"), CONFIG),
        (
            dir.join("config")
                .join("migration")
                .join("001_create_example_item.yaml"),
            MIGRATION,
        ),
    ]
}

/// `apirun init [DIR]`.
pub fn init(dir: &Path) -> Result<Exit, Failure> {
    let mut files = stage_files(dir).to_vec();
    files.push((dir.join("README.md"), README));
    write_project(&files)?;
    let config = dir.join("config").join("config.yaml");
    out!();
    out!("next: edit api_base, then");
    out!("  apirun --config {} validate", config.display());
    out!("  apirun --config {} up", config.display());
    Ok(Exit::Ok)
}

/// `apirun stages init [DIR]`: a stages.yaml and two stages, the second
/// depending on the first.
pub fn stages_init(dir: &Path) -> Result<Exit, Failure> {
    let mut files = vec![(dir.join("stages.yaml"), STAGES)];
    for stage in ["base", "app"] {
        files.extend(stage_files(&dir.join(stage)));
    }
    write_project(&files)?;
    let stages = dir.join("stages.yaml");
    out!();
    out!("next: edit api_base in each stage's config.yaml, then");
    out!("  apirun stages validate -c {}", stages.display());
    out!("  apirun stages up -c {}", stages.display());
    Ok(Exit::Ok)
}

/// Write every file, or none when any already exists; list what was written.
fn write_project(files: &[(PathBuf, &str)]) -> Result<(), Failure> {
    let paths: Vec<&Path> = files.iter().map(|(p, _)| p.as_path()).collect();
    refuse_existing(&paths)?;
    let mut written = Written::new();
    for (path, text) in files {
        written.file(path, text)?;
    }
    for path in &written.files {
        out!("created {}", path.display());
    }
    Ok(())
}

/// The hint added to "cannot read the config" errors when the file is simply
/// not there.
pub(crate) fn missing_config_hint(path: &Path, stages: bool) -> Option<String> {
    if path.exists() {
        return None;
    }
    Some(if stages {
        format!(
            "error: {} not found; give the stages file with -c/--config, \
             or write a starter project with `apirun stages init`",
            path.display()
        )
    } else {
        format!(
            "error: {} not found; give the stage's config with --config (or APIRUN_CONFIG), \
             or write a starter project with `apirun init`",
            path.display()
        )
    })
}

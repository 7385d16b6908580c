//! Where a relative path written in a file points: one rule for every path apirun reads
//! from a file (`migrate_dir`, `store.sqlite.path`, `client.ca_file`, `plugins[].path`, a
//! migration's `body_file`, a stage's `config_path`), stated in docs/configuration.md
//! ("Relative paths").
//!
//! A relative path `P` written in the file `F` has two candidates: `dir(F)/P` (the rule) and
//! `P` from the working directory (what the Go tool did). The one with more of `P`'s leading
//! components existing on disk wins; on a tie (both exist, or neither more than the other),
//! `dir(F)/P`. Choosing the working directory prints a warning.
//!
//! Counting existing leading components rather than asking "does the whole path exist" is
//! what makes the choice stable for paths that are created later (the SQLite file, a
//! `migrate_dir` that `create` makes): whatever apirun then creates extends the chosen
//! candidate only, so the next run chooses the same one. (Asking only "does it exist" put a
//! Go-layout project's store under `proj/proj/migration/` on the first run, and then
//! `migrate_dir` flipped to that new directory on the second.)

use std::path::{Component, Path, PathBuf};

use super::decode::Ctx;
use super::yaml::Pos;

/// Where [`resolve_path`] found a relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The path to use.
    pub path: PathBuf,
    /// True when it was taken from the working directory (the Go tool's rule) instead of
    /// the directory of the file that names it; callers warn about it.
    pub from_working_dir: bool,
}

/// Resolves `raw`, written in a file whose directory is `base`, by the rule of this module.
/// Absolute paths are used as written. Nothing is created; only existence is looked at.
pub fn resolve_path(base: &Path, raw: &str) -> Resolved {
    let written = Path::new(raw);
    if written.is_absolute() {
        return Resolved {
            path: tidy(written),
            from_working_dir: false,
        };
    }
    let relative = tidy(written);
    let candidate = tidy(&base.join(written));
    if candidate == relative {
        return Resolved {
            path: candidate,
            from_working_dir: false,
        };
    }
    let in_base = existing_prefix(base, &relative);
    let in_cwd = existing_prefix(Path::new(""), &relative);
    if in_cwd > in_base {
        Resolved {
            path: relative,
            from_working_dir: true,
        }
    } else {
        Resolved {
            path: candidate,
            from_working_dir: false,
        }
    }
}

/// How many leading components of `relative` exist under `root` ("" = the working
/// directory).
fn existing_prefix(root: &Path, relative: &Path) -> usize {
    let mut at = root.to_path_buf();
    let mut count = 0;
    for component in relative.components() {
        at.push(component.as_os_str());
        let exists = if at.as_os_str().is_empty() {
            true
        } else {
            // symlink_metadata: a dangling symlink is still "there" (it names the spot).
            at.symlink_metadata().is_ok()
        };
        if !exists {
            break;
        }
        count += 1;
    }
    count
}

/// Whether the path must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// A file that must exist (ca_file, plugin, body_file, a stage's config).
    ExistingFile,
    /// A directory that should exist (a warning if not: `create` may make it).
    Directory,
    /// Created on demand (the SQLite database).
    MayNotExist,
}

/// The directory a file's relative paths are relative to ("" for a bare file name, which
/// joins as the working directory).
pub(crate) fn base_dir(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Removes `.` components and empty segments, without touching the file system
/// (`config/./migration` becomes `config/migration`).
pub(crate) fn tidy(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// Resolves `raw` (as written in the file at `ctx.file`) against `base` by
/// [`resolve_path`], warns when the working directory was used, and reports a missing path
/// as `need` says.
pub(crate) fn resolve(
    ctx: &mut Ctx,
    base: &Path,
    raw: &str,
    pos: Option<Pos>,
    field: &str,
    need: Need,
) -> PathBuf {
    let resolved = resolve_path(base, raw);
    if resolved.from_working_dir {
        let shown_base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        ctx.warning(
            pos,
            field,
            format!(
                "\"{raw}\" is not under {} (the directory of this file) but is under the \
                 working directory: using {}",
                shown_base.display(),
                resolved.path.display()
            ),
            Some(format!(
                "write the path relative to {}, so the file works from any directory",
                shown_base.display()
            )),
        );
    }
    check_exists(ctx, &resolved.path, raw, pos, field, need);
    resolved.path
}

fn check_exists(ctx: &mut Ctx, path: &Path, raw: &str, pos: Option<Pos>, field: &str, need: Need) {
    match need {
        Need::MayNotExist => {}
        Need::ExistingFile => {
            if !path.is_file() {
                let what = match std::fs::metadata(path) {
                    Ok(m) if m.is_dir() => "is a directory, not a file",
                    Ok(_) => "is not a regular file (a FIFO, device or socket)",
                    Err(_) => "does not exist",
                };
                ctx.error(
                    pos,
                    field,
                    format!("\"{raw}\" {what} (looked for {})", path.display()),
                    Some("relative paths are relative to the directory of this file".to_string()),
                );
            }
        }
        Need::Directory => {
            if !path.exists() {
                ctx.warning(
                    pos,
                    field,
                    format!(
                        "directory \"{raw}\" does not exist (looked for {})",
                        path.display()
                    ),
                    Some("relative paths are relative to the directory of this file".to_string()),
                );
            } else if !path.is_dir() {
                ctx.error(
                    pos,
                    field,
                    format!("\"{raw}\" is not a directory ({})", path.display()),
                    None,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_removes_dot_segments() {
        assert_eq!(tidy(Path::new("a/./b/c")), PathBuf::from("a/b/c"));
        assert_eq!(tidy(Path::new("./x")), PathBuf::from("x"));
        assert_eq!(tidy(Path::new("a/../b")), PathBuf::from("a/../b"));
        assert_eq!(tidy(Path::new(".")), PathBuf::from("."));
        assert_eq!(base_dir(Path::new("config.yaml")), PathBuf::from(""));
        assert_eq!(base_dir(Path::new("c/config.yaml")), PathBuf::from("c"));
    }

    /// The rule, with absolute roots standing in for the working directory: the candidate
    /// with more existing leading components wins, the file's directory on a tie.
    #[test]
    fn longest_existing_prefix_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("proj/migration")).expect("mkdir");
        let base = root.join("proj");
        // Nothing of proj/proj/... exists; proj/migration does under root.
        assert_eq!(
            existing_prefix(&base, Path::new("proj/migration/apirun.db")),
            0
        );
        assert_eq!(
            existing_prefix(root, Path::new("proj/migration/apirun.db")),
            2
        );
        assert_eq!(existing_prefix(&base, Path::new("migration/apirun.db")), 1);
        assert_eq!(existing_prefix(&base, Path::new(".")), 1);
        // Absolute paths are used as written.
        let abs = root.join("x/y.db");
        let r = resolve_path(&base, abs.to_str().expect("utf-8"));
        assert_eq!(r.path, abs);
        assert!(!r.from_working_dir);
        // A tie (nothing exists anywhere, base "" = working directory) stays with the file.
        let r = resolve_path(Path::new(""), "no/such/thing");
        assert_eq!(r.path, PathBuf::from("no/such/thing"));
        assert!(!r.from_working_dir);
    }
}

//! Relative paths in the files are relative to the directory of the file that names them.
//! For compatibility with the Go tool (which used the working directory), a path that does
//! not exist there but does exist from the working directory is taken from there, with a
//! warning.

use std::path::{Component, Path, PathBuf};

use super::decode::Ctx;
use super::yaml::Pos;

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

/// Resolves `raw` (as written in the file at `ctx.file`) against `base`, applying the
/// working-directory fallback, and reports a missing path as `need` says.
pub(crate) fn resolve(
    ctx: &mut Ctx,
    base: &Path,
    raw: &str,
    pos: Option<Pos>,
    field: &str,
    need: Need,
) -> PathBuf {
    let written = Path::new(raw);
    if written.is_absolute() {
        let p = tidy(written);
        check_exists(ctx, &p, raw, pos, field, need);
        return p;
    }
    let candidate = tidy(&base.join(written));
    if candidate.exists() {
        return candidate;
    }
    let from_cwd = tidy(written);
    if from_cwd != candidate && from_cwd.exists() {
        let shown_base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        ctx.warning(
            pos,
            field,
            format!(
                "\"{raw}\" does not exist relative to {} (the directory of this file), \
                 using {} from the working directory instead",
                shown_base.display(),
                from_cwd.display()
            ),
            Some(format!(
                "write the path relative to {}, so the file works from any directory",
                shown_base.display()
            )),
        );
        return from_cwd;
    }
    check_exists(ctx, &candidate, raw, pos, field, need);
    candidate
}

fn check_exists(ctx: &mut Ctx, path: &Path, raw: &str, pos: Option<Pos>, field: &str, need: Need) {
    match need {
        Need::MayNotExist => {}
        Need::ExistingFile => {
            if !path.is_file() {
                let what = if path.is_dir() {
                    "is a directory, not a file"
                } else {
                    "does not exist"
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
}

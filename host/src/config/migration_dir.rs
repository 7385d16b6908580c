//! Finding the migration files in `migrate_dir` and loading them all (section 3).
//!
//! Version 0 is rejected: `down --to 0` means "roll back everything", i.e. version 0 is
//! the state where nothing is applied, so no file can carry it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::decode::Ctx;
use super::error::{Diagnostic, Diagnostics, Loaded, finish};
use super::migration::{Migration, decode_migration};

/// Splits a migration file name `<digits>_<name>.yaml|.yml` into its version digits and
/// name (the Go tool's `^(\d+)_.*\.(ya?ml)$`). None for any other name.
pub fn parse_migration_file_name(file_name: &str) -> Option<(&str, &str)> {
    let stem = file_name
        .strip_suffix(".yaml")
        .or_else(|| file_name.strip_suffix(".yml"))?;
    let digits_len = stem
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(stem.len());
    if digits_len == 0 {
        return None;
    }
    let (digits, rest) = stem.split_at(digits_len);
    let name = rest.strip_prefix('_')?;
    Some((digits, name))
}

/// Files the store itself keeps in the migration directory: not worth a note.
fn is_store_file(name: &str) -> bool {
    [
        ".db",
        ".db-journal",
        ".db-wal",
        ".db-shm",
        ".db.lock",
        ".sqlite",
        ".sqlite3",
    ]
    .iter()
    .any(|s| name.ends_with(s))
        // The store's lock file: `<db>.lock` or `<db>.<table>.lock`.
        || (name.ends_with(".lock") && (name.contains(".db.") || name.contains(".sqlite")))
}

/// The stage's own files, which live in migrate_dir by default (it defaults to the
/// config's directory): `config.yaml` and `stages.yaml` are not "files not named like a
/// migration".
fn is_config_file(name: &str) -> bool {
    matches!(
        name,
        "config.yaml" | "config.yml" | "stages.yaml" | "stages.yml"
    )
}

/// Lists and loads every migration file in `dir`, sorted by version. Every file is checked
/// and all problems of all files are returned together. Other files are reported as notes
/// (or warnings for YAML files whose name does not fit).
pub fn load_migrations(dir: &Path) -> Result<Loaded<Vec<Migration>>, Diagnostics> {
    let (migrations, diags) = load_migrations_lenient(dir);
    finish(migrations, diags)
}

/// Like [`load_migrations`], but always returns the files it could decode (those with a
/// usable version, even if they have errors) together with every diagnostic, so that
/// `validate` can go on checking variables and references in the other files and list
/// every problem, not just the broken file's.
pub fn load_migrations_lenient(dir: &Path) -> (Vec<Migration>, Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "check migrate_dir in config.yaml (relative paths are relative to config.yaml's directory)"
            } else {
                "check the directory's permissions"
            };
            return (
                Vec::new(),
                vec![
                    Diagnostic::error(dir, format!("cannot read the migration directory: {e}"))
                        .hint(hint),
                ],
            );
        }
    };

    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut names: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                // Follows symlinks. A directory named like a migration is reported (it
                // was meant to be a file, or is a mistake); other directories are not
                // ours to mention.
                if path.is_dir() {
                    if parse_migration_file_name(&name).is_some() {
                        diags.push(
                            Diagnostic::error(&path, "is a directory, not a migration file")
                                .hint("migration files are regular files; rename or move the directory out of migrate_dir"),
                        );
                    }
                    continue;
                }
                names.push((name, path));
            }
            Err(e) => diags.push(Diagnostic::error(
                dir,
                format!("cannot list the migration directory: {e}"),
            )),
        }
    }
    names.sort();

    // version -> first file with it
    let mut by_version: BTreeMap<u64, PathBuf> = BTreeMap::new();
    let mut migrations: Vec<Migration> = Vec::new();
    for (file_name, path) in names {
        let Some((digits, name)) = parse_migration_file_name(&file_name) else {
            if file_name.starts_with('.') || is_store_file(&file_name) || is_config_file(&file_name)
            {
                continue;
            }
            let yaml = file_name.ends_with(".yaml") || file_name.ends_with(".yml");
            let d = if yaml {
                Diagnostic::warning(&path, "ignored: not named like a migration file").hint(
                    "migration files are named <version>_<name>.yaml, e.g. 001_create_user.yaml",
                )
            } else {
                Diagnostic::note(
                    &path,
                    "ignored: not a migration file (<version>_<name>.yaml)",
                )
            };
            diags.push(d);
            continue;
        };
        let Ok(version) = digits.parse::<u64>() else {
            diags.push(
                Diagnostic::error(&path, format!("version {digits} is too large"))
                    .hint("versions must fit in 64 bits (at most 20 digits, e.g. a UTC timestamp YYYYMMDDHHMMSS)"),
            );
            continue;
        };
        // A file with a bad version is still checked, but not returned.
        let mut usable = true;
        if version == 0 {
            diags.push(
                Diagnostic::error(&path, "version 0 is not allowed: version 0 means \"nothing applied\" (so that `down --to 0` rolls back everything)")
                    .hint("renumber the file starting from 1, e.g. 001_...yaml"),
            );
            usable = false;
        } else if let Some(first) = by_version.get(&version) {
            diags.push(
                Diagnostic::error(
                    &path,
                    format!(
                        "version {version} is used twice: by {} and by {}",
                        first.display(),
                        path.display()
                    ),
                )
                .hint("give each migration file its own version number"),
            );
            usable = false;
        } else {
            by_version.insert(version, path.clone());
        }

        // Not a regular file (a FIFO, a device), too large: refused before reading.
        let bytes = match super::files::read(&path, super::files::FileKind::Yaml) {
            Ok(b) => b,
            Err(e) => {
                diags.push(super::file_error(&path, &e));
                continue;
            }
        };
        let mut ctx = Ctx::new(&path, "migration file");
        let migration = decode_migration(&mut ctx, &bytes, version, name);
        diags.extend(ctx.diags);
        if usable {
            migrations.push(migration);
        }
    }
    migrations.sort_by_key(|m| m.version);
    (migrations, merge_repeated_warnings(diags))
}

/// The same warning from several files (e.g. every migration naming one `body_file` that
/// is found only from the working directory) is printed once, saying how many files.
fn merge_repeated_warnings(diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    let mut repeats: Vec<usize> = Vec::new();
    for d in diags {
        if d.severity == super::Severity::Warning
            && let Some(i) = out.iter().position(|o| {
                o.severity == d.severity && o.message == d.message && o.hint == d.hint
            })
        {
            repeats[i] += 1;
            continue;
        }
        out.push(d);
        repeats.push(0);
    }
    for (d, n) in out.iter_mut().zip(repeats) {
        if n > 0 {
            d.message = format!("{} (and in {n} other migration file(s))", d.message);
        }
    }
    out
}

//! The SQLite store's files: its path, the read-only snapshot, the emptied-file
//! check, the lock file's name and the switch to WAL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use crate::store::{StoreError, TableNames};

pub(super) fn absolute(path: &Path) -> Result<PathBuf, StoreError> {
    std::path::absolute(path).map_err(|cause| StoreError::Io {
        path: path.to_owned(),
        op: "resolve the store's path".to_owned(),
        cause,
    })
}

/// Copy the database at `path` into `copy` without writing anything next to
/// it. A read-only connection to a WAL database creates the `-wal` and `-shm`
/// files when they are missing, and cannot delete them afterwards. They are
/// missing when no writer has the database open (the last one checkpoints and
/// removes them): then everything is in the main file, which is read as
/// `immutable` (no locking, no side files). When a `-wal` exists (a writer is
/// running, or one crashed), the ordinary read-only connection sees its
/// commits; if that fails because the `-shm` cannot be opened (a read-only
/// folder), the main file is read as `immutable` after all: it then misses
/// only commits not yet checkpointed by a writer that is gone.
pub(super) fn copy_read_only(path: &Path, copy: &mut Connection) -> Result<(), rusqlite::Error> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let backup = |src: &Connection, copy: &mut Connection| {
        rusqlite::backup::Backup::new(src, copy)?.run_to_completion(1024, Duration::ZERO, None)
    };
    let immutable = |copy: &mut Connection| {
        let src = Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_path(path)),
            flags | OpenFlags::SQLITE_OPEN_URI,
        )?;
        backup(&src, copy)
    };
    let side = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p).exists()
    };
    if !side("-wal") && !side("-journal") {
        return immutable(copy);
    }
    let first = Connection::open_with_flags(path, flags).and_then(|src| {
        src.busy_timeout(Duration::from_secs(10))?;
        backup(&src, copy)
    });
    match first {
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly
            ) =>
        {
            immutable(copy)
        }
        other => other,
    }
}

/// `path` for an SQLite `file:` URI: `%`, `?` and `#` percent-encoded.
fn uri_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// SQLite treats a 0-byte file as an empty database, so a store file that was
/// truncated (a failed copy, a full disk, `> apirun.db`) would silently become
/// a new store and every migration would be sent again. A 0-byte file is
/// accepted as new only when nothing says a store lived there: the lock file
/// (written by every `up`, `down` and `resolve`, never deleted) and a
/// write-ahead log are such evidence (docs/store.md, "An emptied store file").
pub(super) fn refuse_emptied_file(path: &Path, lock_path: &Path) -> Result<(), StoreError> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Ok(());
    }
    let mut evidence = Vec::new();
    // Our lock file, and those of stores sharing the file under other table names.
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut lock_files: Vec<PathBuf> = Vec::new();
    if let (Some(name), Some(dir)) = (&name, path.parent())
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.starts_with(&format!("{name}.")) && file.ends_with(".lock") {
                lock_files.push(entry.path());
            }
        }
    }
    lock_files.sort();
    if let Some(lock) = lock_files.first() {
        evidence.push(format!(
            "an apirun has used it before (its lock file {} exists)",
            lock.display()
        ));
    }
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        evidence.push(format!(
            "its write-ahead log {} is not empty",
            wal.display()
        ));
    }
    if evidence.is_empty() {
        return Ok(());
    }
    Err(StoreError::EmptyStoreFile {
        path: path.to_owned(),
        lock_file: lock_files
            .into_iter()
            .next()
            .unwrap_or_else(|| lock_path.to_owned()),
        evidence: evidence.join(" and "),
    })
}

pub(super) fn lock_path_for(db: &Path, tables: &TableNames) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    if !tables.is_default() {
        name.push(".");
        name.push(&tables.schema_migrations);
    }
    name.push(".lock");
    db.with_file_name(name)
}

/// Switch a database to WAL. Switching a new database needs an exclusive
/// lock, and SQLite does not call the busy handler for it: when two apirun
/// processes open a fresh store at once, one gets "database is locked" at
/// once. Retry (with a short backoff) until `timeout`; once the file is in WAL
/// mode, the switch is a no-op and needs no lock.
pub(super) fn switch_to_wal(conn: &Connection, timeout: Duration) -> Result<(), rusqlite::Error> {
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        match conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(code, _))
                if matches!(
                    code.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}

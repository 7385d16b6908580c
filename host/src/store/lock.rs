//! Cross-process exclusive lock on a file, for stores without a lock of their own
//! (SQLite).
//!
//! The lock is an OS file lock (`flock(LOCK_EX)` on Unix, `LockFileEx` on Windows)
//! taken with std's `File::try_lock` (stable since Rust 1.89, so no extra crate).
//! Properties this relies on:
//! - the OS releases it when the holding process dies, however it dies, so a
//!   crashed `apirun` never blocks the next one;
//! - `flock` locks belong to the open file description, so two `open()`s of the
//!   file in one process also exclude each other. On file systems where `flock`
//!   is emulated with POSIX record locks (some NFS setups) that is not true, so
//!   the guard also keeps an in-process registry of held lock files: two store
//!   objects in one process exclude each other whatever the file system does.
//!
//! The holder writes `pid@host since <time>` into the file after taking the lock
//! (and clears it before releasing), so a waiter that gives up can say who holds
//! it. The file itself is never deleted: deleting a lock file lets a waiter that
//! already opened the old inode and a newcomer that creates a new one both "hold"
//! the lock.
//!
//! Acquisition polls `try_lock` with backoff (5 ms doubling to 250 ms) until the
//! timeout; each attempt is a non-blocking system call, so it runs inline on the
//! async task and the wait is a `tokio::time::sleep`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{StoreError, StoreLock, now_rfc3339};

/// Lock files held by this process (canonical path -> holder text).
static HELD: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());

const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(250);

/// `pid@host since <RFC 3339 UTC>` for this process, now.
pub fn holder_description() -> String {
    format!(
        "{}@{} since {}",
        std::process::id(),
        hostname(),
        now_rfc3339()
    )
}

fn hostname() -> String {
    let from_file = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// A held lock file. Released on drop.
#[derive(Debug)]
pub struct FileLockGuard {
    file: Option<File>,
    path: PathBuf,
    key: PathBuf,
    holder: String,
}

impl FileLockGuard {
    /// Take the lock on `path` (created if missing), waiting up to `timeout`.
    /// `store` names the store in the timeout error.
    pub async fn acquire(path: &Path, timeout: Duration, store: &str) -> Result<Self, StoreError> {
        let start = Instant::now();
        // A timeout too large to add to "now" means: wait as long as it takes.
        let deadline = start.checked_add(timeout);
        let mut backoff = FIRST_BACKOFF;
        loop {
            if let Some(guard) = Self::try_acquire(path)? {
                return Ok(guard);
            }
            let now = Instant::now();
            let sleep = match deadline {
                Some(d) if now >= d => {
                    return Err(StoreError::LockTimeout {
                        store: store.to_owned(),
                        holder: current_holder(path),
                        waited: timeout,
                    });
                }
                Some(d) => backoff.min(d - now),
                None => backoff,
            };
            tokio::time::sleep(sleep).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One attempt: `Ok(None)` if someone else holds the lock.
    pub fn try_acquire(path: &Path) -> Result<Option<Self>, StoreError> {
        let io_err = |op: &str| {
            let op = op.to_owned();
            move |cause| StoreError::Io {
                path: path.to_owned(),
                op,
                cause,
            }
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err("open the lock file"))?;
        let key = std::fs::canonicalize(path).map_err(io_err("resolve the lock file's path"))?;
        let holder = holder_description();
        {
            let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
            if held.contains_key(&key) {
                return Ok(None);
            }
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(cause)) => {
                    return Err(io_err("lock the lock file")(cause));
                }
            }
            held.insert(key.clone(), holder.clone());
        }
        // Who holds it, for waiters. Informational only: a failure to write it
        // (disk full) does not make the lock less held.
        let _ = write_holder(&file, &holder);
        Ok(Some(FileLockGuard {
            file: Some(file),
            path: path.to_owned(),
            key,
            holder,
        }))
    }

    /// Who holds the lock on `path` now (`None`: nobody), without taking it and
    /// without creating or writing the lock file: a shared `flock` on a
    /// read-only descriptor succeeds only when no writer holds the exclusive one.
    /// A missing lock file means nobody ever held it.
    pub fn probe(path: &Path) -> Result<Option<String>, StoreError> {
        if let Ok(key) = std::fs::canonicalize(path)
            && HELD
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(&key)
        {
            return Ok(Some(current_holder(path)));
        }
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(cause) => {
                return Err(StoreError::Io {
                    path: path.to_owned(),
                    op: "open the lock file".to_owned(),
                    cause,
                });
            }
        };
        match file.try_lock_shared() {
            Ok(()) => {
                let _ = file.unlock();
                Ok(None)
            }
            Err(TryLockError::WouldBlock) => Ok(Some(current_holder(path))),
            Err(TryLockError::Error(cause)) => Err(StoreError::Io {
                path: path.to_owned(),
                op: "probe the lock file".to_owned(),
                cause,
            }),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn release_now(&mut self) -> std::io::Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        // Clear the holder text while still holding the lock, then unlock.
        let cleared = file.set_len(0);
        let unlocked = file.unlock();
        drop(file);
        HELD.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
        cleared.and(unlocked)
    }
}

fn write_holder(mut file: &File, holder: &str) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(format!("{holder}\n").as_bytes())
}

/// Who holds the lock on `path`, as well as can be told.
fn current_holder(path: &Path) -> String {
    if let Ok(key) = std::fs::canonicalize(path) {
        let held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = held.get(&key) {
            return format!("{h} (this process)");
        }
    }
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        // Just taken and not written yet, or unreadable while locked (Windows).
        _ => format!("an unknown process (lock file {})", path.display()),
    }
}

impl Drop for FileLockGuard {
    fn drop(&mut self) {
        let _ = self.release_now();
    }
}

#[async_trait]
impl StoreLock for FileLockGuard {
    fn holder(&self) -> &str {
        &self.holder
    }

    async fn release(mut self: Box<Self>) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.release_now().map_err(|cause| StoreError::Io {
            path,
            op: "release the lock".to_owned(),
            cause,
        })
    }
}

/// Re-execute this test binary to run the test `<module>::lock_child_process_helper`
/// alone (as another process that takes a lock), with `env` set to `value`.
/// `module` is the caller's `module_path!()`.
#[cfg(test)]
pub(crate) fn spawn_test_child(
    module: &str,
    env: &str,
    value: impl AsRef<std::ffi::OsStr>,
) -> std::process::Child {
    use std::process::{Command, Stdio};
    // Test names are the module path without the crate name.
    let test_name = match module.split_once("::") {
        Some((_, rest)) => format!("{rest}::lock_child_process_helper"),
        None => "lock_child_process_helper".to_owned(),
    };
    Command::new(std::env::current_exe().unwrap())
        .args([
            test_name.as_str(),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env, value)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The behaviour everything above relies on, checked on this machine's OS and
    /// file system: two independent opens of one file in ONE process exclude each
    /// other (flock is per open file description, unlike POSIX fcntl locks).
    #[test]
    fn os_lock_excludes_a_second_descriptor_in_the_same_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let a = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap();
        let b = OpenOptions::new().write(true).open(&path).unwrap();
        a.try_lock().unwrap();
        assert!(matches!(b.try_lock(), Err(TryLockError::WouldBlock)));
        a.unlock().unwrap();
        b.try_lock().unwrap();
        assert!(matches!(a.try_lock(), Err(TryLockError::WouldBlock)));
        drop(b); // closing the descriptor releases
        a.try_lock().unwrap();
    }

    #[tokio::test]
    async fn second_guard_times_out_naming_the_holder_and_drop_releases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.lock");
        let first = FileLockGuard::acquire(&path, Duration::ZERO, "test-store")
            .await
            .unwrap();
        let me = format!("{}@", std::process::id());
        assert!(first.holder().starts_with(&me), "{}", first.holder());
        assert!(std::fs::read_to_string(&path).unwrap().starts_with(&me));

        assert!(FileLockGuard::try_acquire(&path).unwrap().is_none());
        let started = Instant::now();
        let err = FileLockGuard::acquire(&path, Duration::from_millis(200), "test-store")
            .await
            .unwrap_err();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        match &err {
            StoreError::LockTimeout { holder, store, .. } => {
                assert!(holder.starts_with(&me), "{holder}");
                assert!(holder.contains(" since "), "{holder}");
                assert_eq!(store, "test-store");
            }
            other => panic!("unexpected {other:?}"),
        }

        drop(first);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "",
            "holder text cleared"
        );
        let again = FileLockGuard::acquire(&path, Duration::ZERO, "test-store")
            .await
            .unwrap();
        // Explicit release works too and frees the lock.
        Box::new(again).release().await.unwrap();
        assert!(FileLockGuard::try_acquire(&path).unwrap().is_some());
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.lock");
        let first = FileLockGuard::acquire(&path, Duration::ZERO, "s")
            .await
            .unwrap();
        let releaser = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(first);
        });
        let second = FileLockGuard::acquire(&path, Duration::from_secs(10), "s").await;
        assert!(second.is_ok(), "{second:?}");
        releaser.await.unwrap();
    }

    const CHILD_ENV: &str = "APIRUN_STORE_LOCK_TEST_CHILD";

    /// Not a test on its own: when re-executed by `lock_excludes_another_process`
    /// with CHILD_ENV set, this holds the lock until killed.
    #[test]
    fn lock_child_process_helper() {
        let Some(path) = std::env::var_os(CHILD_ENV) else {
            return;
        };
        let path = PathBuf::from(path);
        let guard = FileLockGuard::try_acquire(&path)
            .unwrap()
            .expect("lock is free");
        std::fs::write(path.with_extension("ready"), guard.holder()).unwrap();
        // Held until the parent kills us (bounded, in case the parent died).
        std::thread::sleep(Duration::from_secs(60));
    }

    /// Re-executes this test binary as a second process that takes the lock: this
    /// process must time out naming it, and get the lock once the child is killed
    /// (the OS releases a dead holder's lock).
    #[tokio::test]
    async fn lock_excludes_another_process_and_is_freed_when_it_dies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.lock");
        let ready = path.with_extension("ready");
        let mut child = spawn_test_child(module_path!(), CHILD_ENV, path.as_os_str());
        let started = Instant::now();
        while !ready.exists() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("child exited early: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "child never took the lock"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let child_holder = std::fs::read_to_string(&ready).unwrap();
        assert!(
            child_holder.starts_with(&format!("{}@", child.id())),
            "{child_holder}"
        );

        let result = FileLockGuard::acquire(&path, Duration::from_millis(300), "s").await;
        let err = result.unwrap_err();
        match &err {
            StoreError::LockTimeout { holder, .. } => assert_eq!(holder, &child_holder),
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains(&child_holder), "{err}");

        // Kill -9: no destructor runs in the child; the OS must release the lock.
        child.kill().unwrap();
        child.wait().unwrap();
        let guard = FileLockGuard::acquire(&path, Duration::from_secs(5), "s").await;
        assert!(guard.is_ok(), "{guard:?}");
    }
}

//! Which thread runs an SQLite store call (see "Threads" in the module docs).
//!
//! rusqlite is synchronous, and a call can block (an fsync, a wait on another
//! process's write lock). Measured with the `call_cost` test (docs/store.md,
//! "Which thread runs an SQLite call"), the hop to another thread and back is
//! most of a call's CPU cost when the disk is fast, so the call runs on the
//! caller's thread wherever blocking that thread harms nobody: on a
//! current-thread runtime, whose one thread has nothing else to do while its
//! task waits for the store (the single-stage command). On a multi-threaded
//! runtime a blocked call must not hold up a worker, and the store's own
//! thread costs less than tokio's blocking pool (4 context switches per
//! migration instead of 6, a third less CPU).

use std::sync::OnceLock;
use std::sync::mpsc;

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::store::StoreError;
use crate::store::rows::StoreCtx;

/// Where store calls run ([`super::SqliteOptions::calls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallThread {
    /// On the caller's thread on a current-thread runtime (or outside any
    /// runtime), on the store's own thread ([`CallThread::Dedicated`]) on a
    /// multi-threaded one. The default.
    #[default]
    Auto,
    /// Always on tokio's blocking pool (`spawn_blocking`).
    BlockingPool,
    /// Always on the caller's thread, even on a multi-threaded runtime (a
    /// blocked call then holds up that worker's other tasks).
    Caller,
    /// On one thread of the store's own, fed through a channel.
    Dedicated,
}

impl std::str::FromStr for CallThread {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(CallThread::Auto),
            "blocking-pool" => Ok(CallThread::BlockingPool),
            "caller" => Ok(CallThread::Caller),
            "dedicated" => Ok(CallThread::Dedicated),
            other => Err(format!(
                "{other:?} is not auto, blocking-pool, caller or dedicated"
            )),
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs calls as [`CallThread`] says.
pub(super) struct Calls {
    mode: CallThread,
    /// The store's own thread ([`CallThread::Dedicated`]), started on first
    /// use; it ends when the store (this sender) is dropped.
    dedicated: OnceLock<mpsc::Sender<Job>>,
}

impl Calls {
    pub fn new(mode: CallThread) -> Calls {
        Calls {
            mode,
            dedicated: OnceLock::new(),
        }
    }

    pub async fn run<T, F>(&self, ctx: &StoreCtx, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    {
        let lost = |e: &dyn std::fmt::Display| ctx.internal(format!("store task failed: {e}"));
        match self.mode {
            CallThread::Caller => call(),
            CallThread::Auto if !on_worker_pool() => call(),
            CallThread::BlockingPool => tokio::task::spawn_blocking(call)
                .await
                .map_err(|e| lost(&e))?,
            CallThread::Auto | CallThread::Dedicated => {
                let (done, result) = tokio::sync::oneshot::channel();
                let job: Job = Box::new(move || {
                    // The caller may have gone (its future dropped): nothing to tell.
                    let _ = done.send(call());
                });
                self.dedicated()
                    .send(job)
                    .map_err(|_| lost(&"the store thread has ended"))?;
                result.await.map_err(|e| lost(&e))?
            }
        }
    }

    fn dedicated(&self) -> &mpsc::Sender<Job> {
        self.dedicated.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::spawn(move || {
                while let Ok(job) = rx.recv() {
                    // A panicking call fails that call (its result channel is
                    // dropped), not every later call of the store.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
            tx
        })
    }
}

/// Whether the caller runs on a multi-threaded tokio runtime, whose workers a
/// blocking call would take from other tasks.
fn on_worker_pool() -> bool {
    Handle::try_current().is_ok_and(|h| h.runtime_flavor() != RuntimeFlavor::CurrentThread)
}

//! What `apirun` writes: logs on stderr, run progress and results on
//! stdout, and the secret masking every line of both goes through.
//!
//! - [`masking`]: [`Masker`] masks registered secret values and
//!   secret-looking patterns (Authorization headers, Bearer/Basic
//!   credentials, secret JSON keys, URL passwords, secret query parameters,
//!   user patterns from `logging.masking.patterns`).
//! - [`logging`]: [`init_logging`] installs the `tracing` subscriber
//!   (`logging.level`/`format`, overridden by `APIRUN_LOG`), whose writer
//!   masks each line.
//! - [`escape`]: [`escape_control`] makes control characters from servers
//!   and plugins visible (`\x1b`, `\r`) instead of letting them drive the
//!   terminal; every output path applies it after masking.
//! - [`progress`]: [`Progress`] reports migrations and stages, live on a
//!   terminal, as plain grep-friendly lines elsewhere.
//! - [`events`]: [`events::JsonEvents`], the JSON Lines event stream of
//!   `--output json` (docs/output.md).
//! - [`junit`]: [`junit::Report`], the `--report-junit` / `--report-json` files.
//!
//! The host builds one `Arc<Masker>` per process, registers every secret on
//! it as it learns them (secret-named variables, secrets written literally
//! in auth and plugin configs and the store's password, acquired tokens,
//! injected header values), and hands the same masker to logging and
//! progress.

pub mod escape;
pub mod events;
pub mod junit;
pub mod logging;
pub mod masking;
pub mod progress;

pub use escape::{escape_control, escape_line};
pub use logging::{
    LOG_ENV, LogError, LogFormat, LogLevel, LogSettings, MaskingMakeWriter, init_logging,
    logging_initialized,
};
pub use masking::{MASK, MIN_SECRET_LEN, MaskError, Masker};
pub use progress::{
    Direction, MigrationOutcome, Progress, ProgressMode, Renderer, RunSummary, StageState,
    TerminalOptions, format_duration,
};

use std::sync::{Arc, RwLock};

/// The masker of this process's current command, for text written outside
/// the log and progress writers (the CLI's final error message).
static PROCESS_MASKER: RwLock<Option<Arc<Masker>>> = RwLock::new(None);

/// Makes `masker` the one [`for_terminal`] uses (the CLI sets it once it
/// has read the config).
pub fn set_process_masker(masker: &Arc<Masker>) {
    let mut slot = PROCESS_MASKER.write().unwrap_or_else(|e| e.into_inner());
    *slot = Some(masker.clone());
}

/// `text` as it may leave the process: masked with the process masker (when
/// one is set) and with control characters escaped ([`escape_control`]).
pub fn for_terminal(text: &str) -> String {
    let masker = PROCESS_MASKER
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    match masker {
        Some(masker) => escape_control(&masker.mask(text)).into_owned(),
        None => escape_control(text).into_owned(),
    }
}

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
//! - [`progress`]: [`Progress`] reports migrations and stages, live on a
//!   terminal, as plain grep-friendly lines elsewhere.
//!
//! The host builds one `Arc<Masker>` per process, registers every secret on
//! it as it learns them (secret-named variables, acquired tokens, injected
//! header values), and hands the same masker to logging and progress.

pub mod logging;
pub mod masking;
pub mod progress;

pub use logging::{
    LOG_ENV, LogError, LogFormat, LogLevel, LogSettings, MaskingMakeWriter, init_logging,
    logging_initialized,
};
pub use masking::{MASK, MIN_SECRET_LEN, MaskError, Masker};
pub use progress::{
    Direction, MigrationOutcome, Progress, ProgressMode, Renderer, RunSummary, StageState,
    TerminalOptions, format_duration,
};

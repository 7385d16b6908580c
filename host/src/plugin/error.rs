//! Errors of the plugin runtime. Each names the plugin and says what to do.

use std::path::PathBuf;
use std::time::Duration;

use semver::Version;

use super::version::PluginKind;

/// What a plugin itself reported (the WIT `plugin-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("transport error: {0}")]
    Transport(String),
    #[error("denied by policy: {0}")]
    Denied(String),
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin `{plugin}`: cannot read {}: {source}", path.display())]
    Read {
        plugin: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin `{plugin}`: not a valid WebAssembly component: {message}")]
    Compile { plugin: String, message: String },
    #[error(
        "plugin `{plugin}` was built against apirun:plugin@{found}, which this apirun (apirun:plugin@{supported}) cannot run; rebuild it against {host}"
    )]
    Incompatible {
        plugin: String,
        found: Version,
        /// The newest version this host runs (what to rebuild against).
        host: Version,
        /// Every version this host runs, for the message ("0.1.0, 0.2.0").
        supported: String,
    },
    /// A `plugins:` entry's `sha256:` is not the digest of its file.
    #[error(
        "plugin `{plugin}`: {} has sha256 {actual}, but its `sha256:` pin is {expected}; the file changed since it was pinned: check where it came from, then pin the new digest (`apirun plugins inspect` prints it) or restore the pinned file",
        path.display()
    )]
    DigestMismatch {
        plugin: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "plugin `{plugin}` is {}, not {} (it exports: {}); use it where {} is expected, or build it for the {expected} world",
        with_article(found_kinds),
        with_article(expected.world()),
        if found.is_empty() { "nothing apirun knows".to_string() } else { found.join(", ") },
        with_article(found_kinds)
    )]
    WrongWorld {
        plugin: String,
        expected: PluginKind,
        found: Vec<String>,
        found_kinds: String,
    },
    #[error(
        "no {kind} named `{plugin}`; known: {}; add it under `plugins:` in the stage config",
        known.join(", ")
    )]
    NotFound {
        plugin: String,
        kind: PluginKind,
        known: Vec<String>,
    },
    #[error("plugin `{plugin}` needs imports apirun does not provide: {message}")]
    Link { plugin: String, message: String },
    #[error("plugin `{plugin}` did not finish within its time limit of {limit:?} and was stopped")]
    Timeout { plugin: String, limit: Duration },
    #[error("plugin `{plugin}` exceeded its memory limit of {} MiB and was stopped", limit_bytes / (1024 * 1024))]
    MemoryExceeded { plugin: String, limit_bytes: usize },
    #[error("plugin `{plugin}` crashed: {message}")]
    Trap { plugin: String, message: String },
    /// A request the plugin sent may have been applied by the server, and
    /// then the call failed (e.g. a 2xx answer to a POST with a body over
    /// `client.max_response_bytes`): the outcome is unknown, the step must
    /// not be recorded as failed-and-safe-to-resend.
    #[error("plugin `{plugin}`: {message}")]
    OutcomeUnknown { plugin: String, message: String },
    #[error("plugin `{plugin}`: {failure}")]
    Returned {
        plugin: String,
        failure: PluginFailure,
    },
}

/// "an extractor-plugin", "a step-plugin": error messages read as sentences.
fn with_article(noun: &str) -> String {
    if noun == "nothing" {
        return "nothing apirun can run".into();
    }
    let vowel = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if vowel { "an" } else { "a" })
}

impl PluginError {
    /// The plugin's own failure, when it returned one.
    pub fn failure(&self) -> Option<&PluginFailure> {
        match self {
            PluginError::Returned { failure, .. } => Some(failure),
            _ => None,
        }
    }
}

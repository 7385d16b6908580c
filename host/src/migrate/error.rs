//! Errors of the migration engine, with the exit status each one maps to.

use std::path::PathBuf;

use crate::auth::AuthError;
use crate::config::Diagnostics;
use crate::plugin::PluginError;
use crate::store::StoreError;
use crate::transport::TransportError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Files or config are invalid: nothing was sent.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// A problem the user must fix before anything can run (exit 2).
    #[error("{0}")]
    Usage(String),
    // Every StoreError names its store (or, for settings, the setting).
    #[error("{source}")]
    Store {
        store: String,
        // Boxed: store errors are large and rare; keep every Result small.
        #[source]
        source: Box<StoreError>,
    },
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{0}")]
    Wait(String),
    /// A migration failed; it was recorded as failed, not applied.
    #[error("{}", .0)]
    Migration(Box<MigrationFailure>),
    /// An earlier run of the next migration stopped mid-request: the server
    /// may or may not have applied it, so `up` sent nothing (exit 2).
    #[error("{}", .0)]
    Interrupted(Box<InterruptedRun>),
}

impl EngineError {
    pub fn store(store: impl Into<String>, source: StoreError) -> Self {
        EngineError::Store {
            store: store.into(),
            source: Box::new(source),
        }
    }

    /// 1 = a migration (or the run) failed; 2 = bad usage, config or files.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Invalid(_) | EngineError::Usage(_) | EngineError::Interrupted(_) => 2,
            _ => 1,
        }
    }
}

/// A migration whose last run has an unknown outcome (docs/store.md,
/// "Unknown outcomes").
#[derive(Debug)]
pub struct InterruptedRun {
    pub version: u64,
    pub name: String,
    pub direction: crate::store::Direction,
    /// When the interrupted run started (RFC 3339 UTC).
    pub started_at: String,
    /// What the interrupted run recorded (why its answer was lost), if it
    /// lived to record anything; `None` when its process died.
    pub known: Option<String>,
}

impl std::fmt::Display for InterruptedRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.known {
            Some(known) => format!("it stopped without a usable answer: {known}"),
            None => "the apirun process running it stopped (killed or crashed) \
                     before an answer was recorded"
                .to_string(),
        };
        write!(
            f,
            "version {v} ({name}) was interrupted: its {dir} run started at {at} and {what}. \
             Its request may or may not have taken effect on the server, so nothing was sent. \
             Check the API, then run `apirun resolve {v} --applied` if the change is in place, \
             or `apirun resolve {v} --rolled-back` if it is not (the next `apirun up` then \
             runs it), or `apirun up --retry-interrupted` to send it again as it is",
            v = self.version,
            name = self.name,
            dir = self.direction.as_str(),
            at = self.started_at,
        )
    }
}

/// Which migration failed, where, and why.
#[derive(Debug)]
pub struct MigrationFailure {
    pub version: u64,
    pub file: PathBuf,
    pub direction: crate::store::Direction,
    pub step: Option<String>,
    /// Dotted field path in the file, e.g. `up.request.url`.
    pub field: Option<String>,
    pub message: String,
    pub status: Option<u16>,
}

impl std::fmt::Display for MigrationFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "migration {} ({}) failed: {}",
            self.file.display(),
            self.direction.as_str(),
            match &self.step {
                Some(step) => format!("step `{step}`: "),
                None => String::new(),
            }
        )?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a step failed (the engine adds the file and version).
#[derive(Debug)]
pub struct StepFailure {
    pub field: Option<String>,
    pub message: String,
    pub status: Option<u16>,
    pub body: Option<Vec<u8>>,
    /// The request may have taken effect but its answer was lost or unusable
    /// (a connection lost after the request was sent, a body over the cap
    /// after a 2xx): the run is left interrupted, not failed, so that the
    /// next `up` stops at it instead of sending it again (docs/store.md).
    pub outcome_unknown: bool,
}

impl StepFailure {
    pub fn new(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        StepFailure {
            field: field.into(),
            message: message.into(),
            status: None,
            body: None,
            outcome_unknown: false,
        }
    }

    /// A plugin call that failed; keeps whether its outcome is unknown.
    pub fn plugin(field: impl Into<Option<String>>, error: PluginError) -> Self {
        let outcome_unknown = matches!(error, PluginError::OutcomeUnknown { .. });
        StepFailure {
            outcome_unknown,
            ..StepFailure::new(field, error.to_string())
        }
    }
}

impl From<AuthError> for StepFailure {
    fn from(e: AuthError) -> Self {
        StepFailure::new(None, e.to_string())
    }
}

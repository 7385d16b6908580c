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
            EngineError::Invalid(_) | EngineError::Usage(_) => 2,
            _ => 1,
        }
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
    /// The server may have applied the step's request although the step
    /// failed (a 2xx POST whose body was over the cap, a POST answered with
    /// a redirect): the outcome is unknown, so the run is left marked as
    /// interrupted (dirty), not recorded as failed-and-safe-to-resend.
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

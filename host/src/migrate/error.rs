//! Errors of the migration engine. Each kind keeps its cause; the CLI maps
//! kinds to exit statuses and text (`cli::engine_exit_code`).

use std::path::PathBuf;

use crate::auth::AuthError;
use crate::config::Diagnostics;
use crate::config::files::FileError;
use crate::plugin::PluginError;
use crate::store::StoreError;
use crate::template::TemplateError;
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

/// Which migration failed, where, and why (the step's failure is its source).
#[derive(Debug, thiserror::Error)]
pub struct MigrationFailure {
    pub version: u64,
    pub file: PathBuf,
    pub direction: crate::store::Direction,
    pub step: Option<String>,
    /// Why, with the dotted field path in the file (e.g. `up.request.url`),
    /// the status the server answered and whether the outcome is unknown.
    #[source]
    pub failure: StepFailure,
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
        if let Some(field) = &self.failure.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.failure.error)?;
        if self.failure.outcome_unknown {
            write!(
                f,
                "; the request may have taken effect on the server, so the migration is left \
                 interrupted: the next `apirun up` stops at it until you `apirun resolve {v} \
                 --applied|--rolled-back` or run `apirun up --retry-interrupted`",
                v = self.version
            )?;
        }
        Ok(())
    }
}

/// Why a step failed, by kind; each kind keeps its cause (`source()`), and
/// its text is what users read (the engine masks it before it is shown or
/// stored).
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A template did not render (`hint`: where an undefined variable
    /// should have come from, or empty).
    #[error("{source}{hint}")]
    Template {
        #[source]
        source: TemplateError,
        hint: String,
    },
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A plugin (the step, an extractor) failed, or is not available.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A `body_file` could not be read.
    #[error(transparent)]
    File(#[from] FileError),
    /// The status is not one the step accepts; `body` is a masked,
    /// escaped snippet of the response body.
    #[error("the server answered {status}{redirect}, expected {expected}; body: {body}")]
    UnexpectedStatus {
        status: u16,
        /// ` redirecting to <location>` for a 3xx, or empty.
        redirect: String,
        expected: String,
        body: String,
    },
    /// A 301/302/303 answer to a non-GET that the step did not accept: the
    /// server may have applied the request (docs/migrations.md, "Redirects").
    #[error(
        "the server answered {status} to the {method}, redirecting to {location}; apirun does \
         not re-send a {method} as a GET, and the server may have applied it, so the outcome \
         is unknown: check the server. If the endpoint moved, set the url to the new location \
         (or have the server answer 307/308); if this answer means success, accept it with \
         `result_code: [\"{status}\"]`"
    )]
    RedirectRefused {
        status: u16,
        method: String,
        location: String,
    },
    /// `env_missing: fail` and a path not in the response.
    #[error(
        "`{name}`: path `{path}` ({from}) is not in the response (env_missing: fail); body: {body}"
    )]
    MissingValue {
        name: String,
        path: String,
        from: String,
        body: String,
    },
    /// A step that cannot run as written (no `request`, no `down`, ...).
    #[error("{0}")]
    Invalid(String),
}

/// A failed step: why, where in the file, and what the server answered (the
/// engine adds the file and version).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct StepFailure {
    pub field: Option<String>,
    // Boxed: a step's Result stays small on the success path.
    #[source]
    pub error: Box<StepError>,
    pub status: Option<u16>,
    pub body: Option<Vec<u8>>,
    /// The request may have taken effect but its answer was lost or unusable
    /// (a connection lost after the request was sent, a body over the cap
    /// after a 2xx): the run is left interrupted, not failed, so that the
    /// next `up` stops at it instead of sending it again (docs/store.md).
    pub outcome_unknown: bool,
}

impl StepFailure {
    /// A step that cannot run as written, in words.
    pub fn new(field: impl Into<Option<String>>, message: impl Into<String>) -> Self {
        StepFailure::error(field, StepError::Invalid(message.into()))
    }

    /// A failure of the given kind at `field`.
    pub fn error(field: impl Into<Option<String>>, error: impl Into<StepError>) -> Self {
        StepFailure {
            field: field.into(),
            error: Box::new(error.into()),
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
            ..StepFailure::error(field, error)
        }
    }

    /// The user-facing text (not masked).
    pub fn message(&self) -> String {
        self.error.to_string()
    }
}

impl From<AuthError> for StepFailure {
    fn from(e: AuthError) -> Self {
        StepFailure::error(None, e)
    }
}

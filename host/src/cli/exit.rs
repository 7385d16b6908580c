//! The one way a command ends: an [`Exit`] status, and on failure a
//! [`Failure`] with the text to print. Library errors become failures only
//! here (`From` impls), so their exit codes are decided in one place
//! (docs/cli.md, "Exit codes").

use std::process::ExitCode;

use crate::migrate::EngineError;
use crate::orchestrate::StagesError;

/// Exit statuses of `apirun` (docs/cli.md, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// A migration or stage failed (or the run could not finish).
    MigrationFailed = 1,
    /// Bad usage, an invalid config or migration file, or a refusal before
    /// anything ran.
    BadInput = 2,
    /// `--check` found work: something pending, dirty, out of order,
    /// changed or missing.
    CheckFoundWork = 3,
}

impl Exit {
    /// The status of a library result that carries a bare code (the
    /// orchestrator's outcome): 0 ok, 2 bad input, anything else failed.
    pub fn from_code(code: u8) -> Exit {
        match code {
            0 => Exit::Ok,
            2 => Exit::BadInput,
            3 => Exit::CheckFoundWork,
            _ => Exit::MigrationFailed,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// A command's failure: what to print (already prefixed with `error:`) and
/// the exit status.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub exit: Exit,
}

impl Failure {
    /// Bad usage or input (exit 2); `message` without the `error:` prefix.
    pub fn bad_input(message: impl std::fmt::Display) -> Failure {
        Failure {
            message: format!("error: {message}"),
            exit: Exit::BadInput,
        }
    }

    /// Something failed while running (exit 1); `message` without the
    /// `error:` prefix.
    pub fn failed(message: impl std::fmt::Display) -> Failure {
        Failure {
            message: format!("error: {message}"),
            exit: Exit::MigrationFailed,
        }
    }

    /// A flag another part of the CLI will implement.
    pub fn not_available(flag: &str) -> Failure {
        Failure::bad_input(format!(
            "{flag} is not available yet in this build of apirun; run without it"
        ))
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        let exit = match e.exit_code() {
            2 => Exit::BadInput,
            _ => Exit::MigrationFailed,
        };
        let message = match &e {
            EngineError::Invalid(diagnostics) => {
                format!(
                    "error: invalid files ({} problem(s)):\n{diagnostics}",
                    diagnostics.errors().count()
                )
            }
            other => format!("error: {other}"),
        };
        Failure { message, exit }
    }
}

impl From<crate::config::Diagnostics> for Failure {
    fn from(diagnostics: crate::config::Diagnostics) -> Self {
        Failure::from(EngineError::Invalid(diagnostics))
    }
}

impl From<StagesError> for Failure {
    fn from(e: StagesError) -> Self {
        Failure {
            message: e.message,
            exit: Exit::from_code(e.code),
        }
    }
}

impl From<crate::plugin::PluginError> for Failure {
    fn from(e: crate::plugin::PluginError) -> Self {
        Failure::failed(e)
    }
}

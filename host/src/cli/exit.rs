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
}

/// 1 = a migration (or the run) failed; 2 = bad usage, config or files, or
/// a migration interrupted earlier (nothing was sent).
pub fn engine_exit(e: &EngineError) -> Exit {
    match e {
        EngineError::Invalid(_) | EngineError::Usage(_) | EngineError::Interrupted(_) => {
            Exit::BadInput
        }
        EngineError::Store { .. }
        | EngineError::Plugin(_)
        | EngineError::Transport(_)
        | EngineError::Wait(_)
        | EngineError::Migration(_) => Exit::MigrationFailed,
    }
}

/// Exit status of a stages error: 2 when the user must fix something before
/// anything runs (files, selection, dependencies), 1 when something failed
/// while running (a store, an import); an engine error keeps its own.
pub fn stages_exit(e: &StagesError) -> Exit {
    match e {
        StagesError::Engine { source, .. } => engine_exit(source),
        StagesError::ImportNeverApplied { .. }
        | StagesError::ImportNotExported { .. }
        | StagesError::Store { .. } => Exit::MigrationFailed,
        StagesError::InvalidFile { .. }
        | StagesError::Cycle { .. }
        | StagesError::UnknownStage { .. }
        | StagesError::StageWithRange
        | StagesError::EmptyRange { .. }
        | StagesError::UnknownImport { .. }
        | StagesError::Condition { .. }
        | StagesError::DependenciesNotApplied { .. }
        | StagesError::DependentsApplied { .. }
        | StagesError::InvalidFiles { .. }
        | StagesError::InvalidConfig { .. }
        | StagesError::InvalidMigrations { .. } => Exit::BadInput,
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        let exit = engine_exit(&e);
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
            exit: stages_exit(&e),
            message: format!("error: {e}"),
        }
    }
}

impl From<crate::plugin::PluginError> for Failure {
    fn from(e: crate::plugin::PluginError) -> Self {
        Failure::failed(e)
    }
}

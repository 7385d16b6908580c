//! `apirun completions SHELL` and `apirun man`: generated from the clap
//! definitions in [`super::defs`], so they cannot drift from the flags.

use clap::CommandFactory;

use super::defs::Cli;
use super::exit::{Exit, Failure};

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<Exit, Failure> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "apirun", &mut script);
    write_stdout(&script)
}

/// Prints the man page (roff) on stdout: `apirun man > apirun.1`.
pub fn man() -> Result<Exit, Failure> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| Failure::failed(format!("cannot render the man page: {e}")))?;
    write_stdout(&page)
}

/// Writes to stdout, ignoring a closed pipe (`apirun man | head`).
fn write_stdout(bytes: &[u8]) -> Result<Exit, Failure> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
    Ok(Exit::Ok)
}

//! The `apirun` command line: parse arguments, set up output, call the
//! library, map errors to exit codes (0 ok, 1 a migration failed, 2 bad usage
//! or invalid files). Errors go to stderr and name what to fix.

/// `println!` that ignores a closed stdout (`apirun status | head`)
/// instead of panicking, and escapes control characters (text from servers
/// and plugins must not drive the terminal; docs/security.md).
macro_rules! out {
    () => {
        out!("")
    };
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($arg)*);
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}",
            $crate::output::escape_control(&line)
        );
    }};
}

/// Prints a JSON value, pretty, ignoring a closed stdout; characters
/// [`out!`] would escape are written as JSON `\uXXXX` escapes, so the output
/// stays valid JSON with the same content.
macro_rules! out_json {
    ($value:expr) => {{
        use std::io::Write as _;
        let text = serde_json::to_string_pretty($value).unwrap_or_default();
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}",
            $crate::output::escape::escape_json_line(&text)
        );
    }};
}

/// `eprintln!` for messages that may quote servers, plugins or secrets:
/// masked with the process masker and escaped ([`crate::output::for_terminal`]).
macro_rules! err {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        eprintln!("{}", $crate::output::for_terminal(&line));
    }};
}

mod args;
mod init;
mod plugins;
mod render;
mod single;
mod stages;
mod verify;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

pub use args::Cli;
use args::{Command, ProgressArg, UpArgs};

use crate::output::{Masker, Progress, ProgressMode};

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(cli));
    ExitCode::from(code)
}

/// The progress display the `--progress` flag asks for.
pub(crate) fn progress_mode(arg: ProgressArg) -> ProgressMode {
    match arg {
        ProgressArg::Auto => ProgressMode::Auto,
        ProgressArg::Plain => ProgressMode::Plain,
        ProgressArg::Quiet => ProgressMode::Quiet,
    }
}

/// The file a command reads first (a stage's config.yaml, or a stages file),
/// so that a failure caused by its absence can point at `init`.
fn config_file_of(
    command: &Command,
    config: &std::path::Path,
) -> Option<(std::path::PathBuf, bool)> {
    use stages::StagesCommand as S;
    match command {
        Command::Init(_) | Command::Plugins(_) => None,
        Command::Stages(a) => match &a.command {
            S::Up(r) | S::Down(r) => Some((r.file.config.clone(), true)),
            S::Status(s) => Some((s.file.config.clone(), true)),
            S::Validate(f) => Some((f.config.clone(), true)),
            S::Verify(v) => Some((v.file.config.clone(), true)),
            S::Init(_) => None,
        },
        _ => Some((config.to_path_buf(), false)),
    }
}

async fn run(cli: Cli) -> u8 {
    let command = cli.command.unwrap_or(Command::Up(UpArgs::default()));
    let needs = config_file_of(&command, &cli.config);
    let result = match command {
        Command::Up(args) => single::up(&cli.config, cli.progress, &args).await,
        Command::Down(args) => single::down(&cli.config, cli.progress, &args).await,
        Command::Status(args) => single::status(&cli.config, &args).await,
        Command::Create(args) => single::create(&cli.config, &args).await,
        Command::Validate(args) => single::validate(&cli.config, &args).await,
        Command::Resolve(args) => single::resolve(&cli.config, &args).await,
        Command::Verify(args) => verify::verify(&cli.config, &args).await,
        Command::Stages(args) => stages::run(cli.progress, &args).await,
        Command::Plugins(args) => plugins::run(&cli.config, &args).await,
        Command::Init(args) => init::init(&args.dir),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            // A missing config file is a new user's first error: say how to
            // make one instead of only that it cannot be read.
            let hint = needs.and_then(|(path, stages)| init::missing_config_hint(&path, stages));
            match hint {
                Some(hint) => err!("{hint}"),
                None => err!("{}", failure.message),
            }
            failure.code
        }
    }
}

/// A command's failure: what to print and the exit code.
pub(crate) struct Failure {
    pub message: String,
    pub code: u8,
}

impl From<crate::migrate::EngineError> for Failure {
    fn from(e: crate::migrate::EngineError) -> Self {
        let code = e.exit_code() as u8;
        let message = match &e {
            crate::migrate::EngineError::Invalid(diagnostics) => {
                format!(
                    "error: invalid files ({} problem(s)):\n{diagnostics}",
                    diagnostics.errors().count()
                )
            }
            other => format!("error: {other}"),
        };
        Failure { message, code }
    }
}

pub(crate) fn new_progress(arg: ProgressArg, masker: &Arc<Masker>) -> Progress {
    Progress::new(progress_mode(arg), masker.clone())
}

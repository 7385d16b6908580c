//! The `apirun` command line (docs/cli.md). Three layers, one way:
//!
//! - [`defs`]: every clap definition (flags documented once);
//! - [`context`]: what one run shares, built once from the global flags
//!   (async and plugin runtimes, masker and logging, progress, variables),
//!   and [`exit`]: the typed exit status and the `From` impls that turn
//!   library errors into it;
//! - command modules ([`single`], [`stages`], [`plugins`], [`init`],
//!   [`shell`]), which depend only on those, plus [`render`] for shared text.
//!
//! Errors go to stderr and name what to fix.

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

mod context;
mod defs;
mod exit;
mod init;
mod plugins;
mod render;
mod shell;
mod single;
mod stages;
mod vars;

use std::process::ExitCode;

use clap::Parser;

pub use defs::Cli;
use defs::{Command, StagesCommand, UpArgs};
pub use exit::Exit;
use exit::Failure;

use crate::orchestrate::Way;
use context::Context;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let exit = if e.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return exit.into();
        }
    };
    context::apply_color(cli.global.color);
    let exit = match context::async_runtime() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(failure) => {
            err!("{}", failure.message);
            failure.exit
        }
    };
    exit.into()
}

/// The file a command reads first (a stage's config.yaml, or a stages file),
/// so that a failure caused by its absence can point at `init`.
fn config_file_of(
    command: &Command,
    config: &std::path::Path,
) -> Option<(std::path::PathBuf, bool)> {
    use StagesCommand as S;
    match command {
        Command::Init(_) | Command::Plugins(_) | Command::Completions(_) | Command::Man => None,
        Command::Stages(a) => match &a.command {
            S::Up(r) | S::Down(r) => Some((r.file.config.clone(), true)),
            S::Status(s) => Some((s.file.config.clone(), true)),
            S::Validate(v) => Some((v.file.config.clone(), true)),
            S::Init(_) => None,
        },
        _ => Some((config.to_path_buf(), false)),
    }
}

async fn run(cli: Cli) -> Exit {
    let command = cli.command.unwrap_or(Command::Up(UpArgs::default()));
    let needs = config_file_of(&command, &cli.global.config);
    let result = match Context::new(cli.global) {
        Ok(ctx) => dispatch(&ctx, command).await,
        Err(failure) => Err(failure),
    };
    match result {
        Ok(exit) => exit,
        Err(failure) => {
            // A missing config file is a new user's first error: say how to
            // make one instead of only that it cannot be read.
            let hint = needs.and_then(|(path, stages)| init::missing_config_hint(&path, stages));
            match hint {
                Some(hint) => err!("{hint}"),
                None => err!("{}", failure.message),
            }
            failure.exit
        }
    }
}

async fn dispatch(ctx: &Context, command: Command) -> Result<Exit, Failure> {
    match command {
        Command::Up(args) => single::up(ctx, &args).await,
        Command::Down(args) => single::down(ctx, &args).await,
        Command::Status(args) => single::status(ctx, &args).await,
        Command::Create(args) => single::create(ctx, &args).await,
        Command::Validate(args) => single::validate(ctx, &args).await,
        Command::Resolve(args) => single::resolve(ctx, &args).await,
        Command::Stages(args) => match &args.command {
            StagesCommand::Up(a) => stages::up_or_down(ctx, a, Way::Up).await,
            StagesCommand::Down(a) => stages::up_or_down(ctx, a, Way::Down).await,
            StagesCommand::Status(a) => stages::status(ctx, a).await,
            StagesCommand::Validate(a) => stages::validate(ctx, a),
            StagesCommand::Init(a) => init::stages_init(&a.dir),
        },
        Command::Plugins(args) => plugins::run(ctx, &args).await,
        Command::Init(args) => init::init(&args.dir),
        Command::Completions(args) => shell::completions(args.shell),
        Command::Man => shell::man(),
    }
}

//! Every command-line definition of `apirun`, in one place (as ripgrep's
//! `flags/defs.rs`): each flag is written and documented once, here, and
//! commands that share a flag flatten the same struct. Help, the man page
//! (`apirun man`) and shell completions (`apirun completions`) are generated
//! from these definitions. Every flag also reads an `APIRUN_*` variable.
//!
//! This module only parses; what a flag means for a run is decided in
//! [`super::context`] (global flags) and the command modules.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// `apirun --version`: the release, the commit it was built from and the
/// plugin contract versions it loads (host/build.rs finds both).
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("APIRUN_GIT_COMMIT"),
    "; plugin WIT apirun:plugin@",
    env!("APIRUN_WIT_VERSIONS"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "apirun",
    version = LONG_VERSION,
    about = "API-driven migrations: versioned YAML files whose steps call HTTP APIs",
    long_about = None
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags every command accepts (before or after the command name).
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// The stage's config.yaml.
    #[arg(
        long,
        global = true,
        env = "APIRUN_CONFIG",
        default_value = "./config/config.yaml"
    )]
    pub config: PathBuf,

    /// Progress output: auto (live on a terminal), plain, or quiet.
    #[arg(long, global = true, env = "APIRUN_PROGRESS", value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,

    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, or never.
    #[arg(long, global = true, env = "APIRUN_COLOR", value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,

    /// More output: -v logs each request line and its answer; -vv also the
    /// request and response headers and bodies (secrets masked). `stages`
    /// commands also print each stage's details.
    #[arg(short = 'v', long = "verbose", global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only errors: no progress, no logs below error level.
    #[arg(
        short = 'q',
        long,
        global = true,
        env = "APIRUN_QUIET",
        conflicts_with = "verbose"
    )]
    pub quiet: bool,

    #[command(flatten)]
    pub vars: VarArgs,
}

/// Variables from outside the config files (docs/configuration.md,
/// "Variables from the command line"). Command-line values win over every file.
#[derive(Debug, Args, Clone, Default)]
pub struct VarArgs {
    /// Set a template variable: NAME=VALUE (repeatable; wins over every file).
    #[arg(long = "var", value_name = "NAME=VALUE", global = true, action = ArgAction::Append)]
    pub var: Vec<String>,

    /// Read variables from a file: a YAML or JSON map, or `.env` lines (by
    /// extension); repeatable, later files win.
    #[arg(long = "var-file", value_name = "PATH", global = true, action = ArgAction::Append)]
    pub var_file: Vec<PathBuf>,

    /// Set a variable that is always masked in output, logs and the store:
    /// NAME=VALUE (repeatable).
    #[arg(long = "secret", value_name = "NAME=VALUE", global = true, action = ArgAction::Append)]
    pub secret: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Plain,
    Quiet,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// `--output text|json`, the same flag on every command that has it.
#[derive(Debug, Args, Clone, Copy)]
pub struct OutputArg {
    /// Output format: text, or json (one document; JSON Lines events for
    /// commands that stream).
    #[arg(long, env = "APIRUN_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

impl Default for OutputArg {
    fn default() -> Self {
        OutputArg {
            output: OutputFormat::Text,
        }
    }
}

/// Report files written at the end of a run.
#[derive(Debug, Args, Clone, Default)]
pub struct ReportArgs {
    /// Write a JUnit XML report of the run to PATH (a testsuite per stage, a
    /// testcase per migration).
    #[arg(long, env = "APIRUN_REPORT_JUNIT", value_name = "PATH")]
    pub report_junit: Option<PathBuf>,
    /// Write a JSON report of the run to PATH (the same facts as the JUnit
    /// report; docs/output.md).
    #[arg(long, env = "APIRUN_REPORT_JSON", value_name = "PATH")]
    pub report_json: Option<PathBuf>,
}

/// `--dry-run`, the same flag on every command that changes something.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct DryRunArg {
    /// Print the plan; send nothing, write nothing.
    #[arg(long, env = "APIRUN_DRY_RUN")]
    pub dry_run: bool,
}

/// `--dry-run-from N` of `up` and `down`.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct DryRunFromArg {
    /// Dry run as if this version were the current one.
    #[arg(long, env = "APIRUN_DRY_RUN_FROM", value_name = "VERSION")]
    pub dry_run_from: Option<u64>,
}

/// `--strict` of `up` and `validate`.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct StrictArg {
    /// Refuse (exit 2) when an applied migration file changed or is gone, or
    /// (validate) the store cannot be read to check that, instead of warning.
    #[arg(long, env = "APIRUN_STRICT")]
    pub strict: bool,
}

/// `--retry-interrupted` of `up` and `stages up`.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct RetryInterruptedArg {
    /// Send again a migration whose earlier run was interrupted mid-request
    /// (its outcome is unknown: the server may have applied it). Without it,
    /// `up` stops at such a migration (exit 2); see `apirun resolve`.
    #[arg(long, env = "APIRUN_RETRY_INTERRUPTED")]
    pub retry_interrupted: bool,
}

/// `--check` of `status` and `stages status`.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct CheckArg {
    /// Exit 3 when anything is pending, dirty, out of order, changed or
    /// missing (the output says why), 0 when everything is applied and clean.
    #[arg(long, env = "APIRUN_CHECK")]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations in version order (the default command).
    Up(UpArgs),
    /// Roll back applied migrations, newest first (give --to or --steps).
    Down(DownArgs),
    /// Show the current version, applied and pending migrations, and history.
    Status(StatusArgs),
    /// Write a new timestamped migration file into the migrate dir.
    Create(CreateArgs),
    /// Check the config and every migration file without sending anything.
    Validate(ValidateArgs),
    /// Clear a dirty mark left by a failed or interrupted migration.
    Resolve(ResolveArgs),
    /// Run the `verify:` block of every applied migration against the live system
    /// (exit 3 when anything drifted or is gone).
    Verify(VerifyArgs),
    /// Multi-stage orchestration over a stages.yaml (`-c/--config`, default stages.yaml).
    Stages(StagesArgs),
    /// List the plugins a stage can use, or inspect a component file.
    Plugins(PluginsArgs),
    /// Write a starter project (config/config.yaml, one example migration, a README).
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the man page (roff) of apirun.
    Man,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the project (created if missing; existing files are never overwritten).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args, Default)]
pub struct UpArgs {
    /// Highest version to apply (0 = all).
    #[arg(long, env = "APIRUN_TO", default_value_t = 0)]
    pub to: u64,
    #[command(flatten)]
    pub dry_run: DryRunArg,
    #[command(flatten)]
    pub dry_run_from: DryRunFromArg,
    /// Also apply files older than the current version that were never applied.
    #[arg(long, env = "APIRUN_ALLOW_OUT_OF_ORDER")]
    pub allow_out_of_order: bool,
    #[command(flatten)]
    pub strict: StrictArg,
    #[command(flatten)]
    pub retry_interrupted: RetryInterruptedArg,
    #[command(flatten)]
    pub output: OutputArg,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args, Default)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub strict: StrictArg,
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Roll back every applied version greater than this (0 = everything).
    #[arg(
        long,
        env = "APIRUN_TO",
        value_name = "VERSION",
        conflicts_with = "steps"
    )]
    pub to: Option<u64>,
    /// Roll back the newest N applied versions.
    #[arg(long, env = "APIRUN_STEPS", value_name = "N")]
    pub steps: Option<u64>,
    #[command(flatten)]
    pub dry_run: DryRunArg,
    #[command(flatten)]
    pub dry_run_from: DryRunFromArg,
    #[command(flatten)]
    pub output: OutputArg,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Also list recent runs (newest first).
    #[arg(long, env = "APIRUN_HISTORY")]
    pub history: bool,
    /// List every run.
    #[arg(long, env = "APIRUN_HISTORY_ALL")]
    pub history_all: bool,
    /// How many runs `--history` lists.
    #[arg(long, env = "APIRUN_HISTORY_LIMIT", default_value_t = 10)]
    pub history_limit: usize,
    #[command(flatten)]
    pub check: CheckArg,
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What the migration does, e.g. `add_users`.
    pub name: String,
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The dirty version.
    #[arg(required = true)]
    pub version: u64,
    /// The change is in place: mark the version applied.
    #[arg(
        long,
        conflicts_with = "rolled_back",
        required_unless_present = "rolled_back"
    )]
    pub applied: bool,
    /// The change is not in place: mark the version not applied.
    #[arg(long)]
    pub rolled_back: bool,
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Debug, Args)]
pub struct StagesArgs {
    #[command(subcommand)]
    pub command: StagesCommand,
}

#[derive(Debug, Subcommand)]
pub enum StagesCommand {
    /// Apply every selected stage's pending migrations, in dependency order.
    Up(StagesRunArgs),
    /// Roll back the selected stages, dependents first.
    Down(StagesRunArgs),
    /// Per stage: applied and pending migrations, last run, dependencies.
    Status(StagesStatusArgs),
    /// Check stages.yaml, the dependency graph and every stage's files; send nothing.
    Validate(StagesValidateArgs),
    /// Write a starter stages project (stages.yaml and two stages).
    Init(InitArgs),
    /// Run every applied migration's `verify:` block, stage by stage (exit 3 on drift).
    Verify(StagesVerifyArgs),
}

/// `apirun verify` (docs/migrations.md, "Live verification").
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub output: OutputArg,
}

/// `apirun stages verify`.
#[derive(Debug, Args)]
pub struct StagesVerifyArgs {
    #[command(flatten)]
    pub file: StagesFileArg,
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Debug, Args)]
pub struct StagesFileArg {
    /// The stages file (this, not the global --config, for `stages` commands).
    #[arg(
        short = 'c',
        long = "config",
        env = "APIRUN_STAGES_CONFIG",
        default_value = "stages.yaml"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct StagesRunArgs {
    #[command(flatten)]
    pub file: StagesFileArg,
    /// Only this stage (up: its dependencies must be applied; down: its dependents must not be).
    #[arg(long, env = "APIRUN_STAGE", conflicts_with_all = ["from", "to"])]
    pub stage: Option<String>,
    /// up: this stage and everything depending on it; down: the first (most downstream) stage rolled back.
    #[arg(long, env = "APIRUN_STAGES_FROM")]
    pub from: Option<String>,
    /// up: this stage and everything it depends on; down: the last stage rolled back.
    #[arg(long, env = "APIRUN_STAGES_TO")]
    pub to: Option<String>,
    #[command(flatten)]
    pub dry_run: DryRunArg,
    /// Override global.wait_between_stages (e.g. `0s`, `500ms`).
    #[arg(long, env = "APIRUN_WAIT_BETWEEN_STAGES", value_parser = parse_wait)]
    pub wait_between_stages: Option<Duration>,
    #[command(flatten)]
    pub retry_interrupted: RetryInterruptedArg,
    #[command(flatten)]
    pub output: OutputArg,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct StagesStatusArgs {
    #[command(flatten)]
    pub file: StagesFileArg,
    #[command(flatten)]
    pub check: CheckArg,
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Debug, Args)]
pub struct StagesValidateArgs {
    #[command(flatten)]
    pub file: StagesFileArg,
    #[command(flatten)]
    pub output: OutputArg,
}

fn parse_wait(text: &str) -> Result<Duration, String> {
    crate::orchestrate::parse_wait(text)
}

#[derive(Debug, Args)]
pub struct PluginsArgs {
    #[command(subcommand)]
    pub command: PluginsCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// The built-in plugins and those the stage config (--config) adds, with world, version and source.
    List(ListArgs),
    /// What a component file is: world, contract version, name/version/description,
    /// sha256 digest to pin, imports (and how to drop those apirun does not provide).
    Inspect(InspectArgs),
    /// Create a plugin project: source, build file, README, test, and an example stage using it.
    New(NewArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name (lower-case letters, digits, `-`, `_`): its `plugins:` name and directory.
    pub name: String,
    /// The language to write it in.
    #[arg(long, value_enum)]
    pub lang: crate::scaffold::Lang,
    /// The world it implements: a step type, an auth provider or an extractor.
    #[arg(long, value_enum)]
    pub kind: crate::scaffold::Kind,
    /// Where to create the project (default: ./NAME). Must not exist or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// apirun's sdk/ directory (default: the one of the source tree apirun was built from).
    #[arg(long, env = "APIRUN_SDK_DIR")]
    pub sdk: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component (.wasm) to inspect.
    pub path: PathBuf,
    #[command(flatten)]
    pub output: OutputArg,
}

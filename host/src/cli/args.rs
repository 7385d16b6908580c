//! Command-line arguments. Every flag also reads an `APIRUN_*` variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProgressArg {
    Auto,
    Plain,
    Quiet,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations in version order (the default command).
    Up(UpArgs),
    /// Roll back applied migrations above a version, newest first.
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
    Verify(super::verify::VerifyArgs),
    /// Multi-stage orchestration over a stages.yaml (`-c/--config`, default stages.yaml).
    Stages(super::stages::StagesArgs),
    /// List the plugins a stage can use, or inspect a component file.
    Plugins(super::plugins::PluginsArgs),
    /// Write a starter project (config/config.yaml, one example migration, a README).
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the project (created if missing; existing files are never overwritten).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Args, Default)]
pub struct UpArgs {
    /// Highest version to apply (0 = all).
    #[arg(long, env = "APIRUN_TO", default_value_t = 0)]
    pub to: u64,
    /// Print the plan; send nothing, write nothing.
    #[arg(long, env = "APIRUN_DRY_RUN")]
    pub dry_run: bool,
    /// Dry run as if this version were the current one.
    #[arg(long, env = "APIRUN_DRY_RUN_FROM")]
    pub dry_run_from: Option<u64>,
    /// Also apply files older than the current version that were never applied.
    #[arg(long, env = "APIRUN_ALLOW_OUT_OF_ORDER")]
    pub allow_out_of_order: bool,
    /// Refuse to run (exit 2) when an applied migration file changed or is gone,
    /// instead of warning.
    #[arg(long, env = "APIRUN_STRICT")]
    pub strict: bool,
    /// Send again a migration whose earlier run was interrupted mid-request
    /// (its outcome is unknown: the server may have applied it). Without it,
    /// `up` stops at such a migration (exit 2); see `apirun resolve`.
    #[arg(long, env = "APIRUN_RETRY_INTERRUPTED")]
    pub retry_interrupted: bool,
}

#[derive(Debug, Args, Default)]
pub struct ValidateArgs {
    /// Also fail (exit 2) when an applied migration file changed or is gone, or
    /// the store cannot be read to check that.
    #[arg(long, env = "APIRUN_STRICT")]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Roll back every applied version greater than this (0 = everything).
    #[arg(long, env = "APIRUN_TO")]
    pub to: u64,
    /// Print the plan; send nothing, write nothing.
    #[arg(long, env = "APIRUN_DRY_RUN")]
    pub dry_run: bool,
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
    #[arg(long, env = "APIRUN_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What the migration does, e.g. `add_users`.
    pub name: String,
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
}

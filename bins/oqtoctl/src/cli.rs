//! Raw command-line arguments.

use clap::{Parser, Subcommand};
use oqto_cli::LogArgs;

/// The Oqto command line: run agents from a shell, a pipe or cron
#[derive(Debug, Parser)]
#[command(name = "oqtoctl", version, arg_required_else_help = true)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a shell completion script to stdout
    Completions(crate::cmd::completions::Args),
}

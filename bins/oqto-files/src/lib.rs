//! `oqto-files`: the workspace file server

use clap::{CommandFactory, Parser};
use oqto_cli::ManExtra;

/// The workspace file server
#[derive(Debug, Parser)]
#[command(
    name = "oqto-files",
    version,
    arg_required_else_help = true,
    long_about = "Serves one workspace directory over JSON lines (stdio or a Unix socket): list, read, write, search and watch, with every path confined beneath the root."
)]
pub struct Cli {}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Man page sections beyond the clap definition.
pub const MAN: ManExtra = ManExtra {
    environment: &[],
    files: &[],
    see_also: &["oqto-relay(1)"],
};

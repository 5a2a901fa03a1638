//! `oqtoctl`: the Oqto command line.

mod cli;
pub mod cmd;

use clap::CommandFactory;
use oqto_cli::{Exit, ManExtra};

pub use cli::{Cli, Command};

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Man page sections beyond the clap definition.
pub const MAN: ManExtra = ManExtra {
    environment: &[],
    files: &[],
    see_also: &["oqto-runner(1)", "oqto-sandbox(1)"],
};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Completions(args) => cmd::completions::run(&args, &mut stdout),
    }
}

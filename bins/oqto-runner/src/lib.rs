//! `oqto-runner`: the per-user agent daemon

pub mod config;
pub mod events;
pub mod harness;
pub mod ids;

use clap::{CommandFactory, Parser};
use oqto_cli::ManExtra;

/// The per-user agent daemon
#[derive(Debug, Parser)]
#[command(
    name = "oqto-runner",
    version,
    arg_required_else_help = true,
    long_about = "The per-user Oqto daemon. It owns agent processes (harnesses), translates their events into the canonical protocol, fans them out to every subscribed client over a Unix socket, and stores history in SQLite."
)]
pub struct Cli {}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Man page sections beyond the clap definition.
pub const MAN: ManExtra = ManExtra {
    environment: &[(
        "XDG_RUNTIME_DIR",
        "directory holding the runner socket, `oqto/runner.sock`",
    )],
    files: &[(
        "$XDG_RUNTIME_DIR/oqto/runner.sock",
        "the socket clients connect to",
    )],
    see_also: &["oqtoctl(1)", "oqto-sandbox(1)"],
};

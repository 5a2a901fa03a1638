//! `oqto-relay`: the HTTP and WebSocket relay for the web UI

use clap::{CommandFactory, Parser};
use oqto_cli::ManExtra;

/// The HTTP and WebSocket relay for the web UI
#[derive(Debug, Parser)]
#[command(
    name = "oqto-relay",
    version,
    arg_required_else_help = true,
    long_about = "Serves the web UI over HTTP and multiplexes one WebSocket per browser tab into channels routed to the user's runner and file server."
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
    see_also: &["oqto-runner(1)", "oqto-files(1)"],
};

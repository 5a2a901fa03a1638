//! `oqto-sandbox`: runs a command confined by bubblewrap

use clap::{CommandFactory, Parser};
use oqto_cli::ManExtra;

/// Runs a command confined by bubblewrap
#[derive(Debug, Parser)]
#[command(
    name = "oqto-sandbox",
    version,
    arg_required_else_help = true,
    long_about = "Runs a command inside a bubblewrap sandbox built from policy profiles and TOML policy files (system, user, workspace), merged so that a workspace can only tighten the policy."
)]
pub struct Cli {}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Man page sections beyond the clap definition.
pub const MAN: ManExtra = ManExtra {
    environment: &[],
    files: &[
        ("/etc/oqto/sandbox.toml", "system policy"),
        ("~/.config/oqto/sandbox.toml", "user policy"),
        (
            "<workspace>/.oqto/sandbox.toml",
            "workspace policy (can only tighten)",
        ),
    ],
    see_also: &["oqto-runner(1)", "bwrap(1)"],
};

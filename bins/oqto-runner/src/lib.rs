//! `oqto-runner`: the per-user agent daemon

mod activation;
/// The configuration lives in `oqto-config`, shared with every client that must agree
/// with the runner on paths and the socket; `crate::config` keeps naming it here.
pub use oqto_config as config;
pub mod context;
pub mod daemon;
pub mod events;
pub mod files;
pub mod harness;
pub mod ids;
pub mod runner;
pub mod sandbox;
mod server;
pub mod session;
pub mod store;
pub mod terminal;

use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use oqto_cli::{LogArgs, ManExtra};

/// The per-user agent daemon
#[derive(Debug, Parser)]
#[command(
    name = "oqto-runner",
    version,
    long_about = "The per-user Oqto daemon. It owns agent processes (harnesses), translates their events into the canonical protocol, fans them out to every subscribed client over a Unix socket, and stores history in SQLite.\n\nIt runs in the foreground until SIGTERM, SIGINT or a `runner.shutdown` request; logs go to stderr. `oqtoctl` starts one on demand, and scripts/systemd/ has user units for socket activation."
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    /// Listen on this socket instead of the default (see FILES)
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Keep the history database in this directory
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Read this `runner.toml` instead of the default one (this file must exist)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs the daemon as the command line asks.
pub fn run(cli: Cli) -> anyhow::Result<oqto_cli::Exit> {
    daemon::run(daemon::Options {
        socket: cli.socket,
        data_dir: cli.data_dir,
        config: cli.config,
    })
}

pub const MAN: ManExtra = ManExtra {
    environment: &[
        (
            "XDG_RUNTIME_DIR",
            "directory holding the runner socket, `oqto/runner.sock`",
        ),
        (
            "XDG_CONFIG_HOME",
            "directory holding `oqto/runner.toml` (default `~/.config`)",
        ),
        (
            "XDG_DATA_HOME",
            "directory holding `oqto/history.db` (default `~/.local/share`)",
        ),
        (
            "OQTO_PI_BIN",
            "the pi executable, when it is not configured in runner.toml",
        ),
        (
            "OQTO_FILES_BIN",
            "the oqto-files executable `files.open` starts (default: next to oqto-runner, else on PATH)",
        ),
        (
            "OQTO_SANDBOX_BIN",
            "the oqto-sandbox executable every harness is started through, when runner.sandbox_command is not set",
        ),
        (
            "XDG_CACHE_HOME",
            "directory holding the demo harness's pi agent directory `oqto/demo/pi-agent` (default `~/.cache`)",
        ),
        (
            "LISTEN_FDS, LISTEN_PID",
            "systemd socket activation: use the passed listening socket (fd 3)",
        ),
    ],
    files: &[
        (
            "$XDG_RUNTIME_DIR/oqto/runner.sock",
            "the socket clients connect to (fallbacks in docs/runner.md)",
        ),
        (
            "$XDG_RUNTIME_DIR/oqto/files/files-N.sock",
            "the sockets of the file servers `files.open` starts",
        ),
        (
            "$XDG_CONFIG_HOME/oqto/runner.toml",
            "configuration: harnesses, timeouts, limits, allowed peers",
        ),
        (
            "$XDG_DATA_HOME/oqto/history.db",
            "sessions, messages and the search index (SQLite)",
        ),
    ],
    see_also: &["oqtoctl(1)", "oqto-sandbox(1)"],
};

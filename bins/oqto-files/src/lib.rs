//! `oqto-files`: the workspace file server
//!
//! Serves one directory over JSON lines (the `files` part of the protocol,
//! [`oqto_protocol::files`]) on stdio or a Unix socket. Every path goes through
//! [`confine`], which resolves it beneath the root with `openat2(RESOLVE_BENEATH)`.

pub mod confine;
pub mod conn;
pub mod ignores;
pub mod ops;
pub mod outbox;
pub mod read;
pub mod search;
pub mod server;
pub mod upload;
pub mod watch;

use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use oqto_cli::{LogArgs, ManExtra};
use oqto_protocol::FilesLimits;

/// The workspace file server
#[derive(Debug, Parser)]
#[command(
    name = "oqto-files",
    version,
    arg_required_else_help = true,
    long_about = "Serves one workspace directory over JSON lines (stdio or a Unix socket): list, stat, read, write, rename, copy, delete, hash, search, watch and resumable uploads, with every path confined beneath the root (openat2 RESOLVE_BENEATH). File bytes travel as raw frames announced by a JSON header line; see docs/files.md."
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    /// The directory to serve; no path resolves outside it
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Serve one client on stdin/stdout (the default)
    #[arg(long, conflicts_with = "socket")]
    pub stdio: bool,
    /// Listen on this Unix socket (its directory is made 0700, the socket 0600)
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Refuse every operation that changes the tree
    #[arg(long)]
    pub read_only: bool,
    /// Also admit socket clients running as this uid (repeatable); the server's own user is
    /// always admitted, root only when listed
    #[arg(
        long,
        value_name = "UID",
        requires = "socket",
        conflicts_with = "stdio"
    )]
    pub allow_uid: Vec<u32>,
    /// Also admit socket clients in this group, primary or supplementary (repeatable)
    #[arg(long, value_name = "GID|NAME", requires = "socket", conflicts_with = "stdio", value_parser = group_id)]
    pub allow_group: Vec<u32>,
    /// Exit (removing the socket) after this many seconds without any connection; the
    /// runner's `files.open` starts servers this way
    #[arg(long, value_name = "SECONDS", requires = "socket", value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_exit: Option<u64>,
    /// Stop (as on SIGTERM) when the process that started this one ends; the runner passes
    /// it, so that its file servers do not outlive it even when it is killed
    #[arg(long, requires = "socket")]
    pub exit_with_parent: bool,
    /// Requests of one connection that run at once; further ones wait
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_concurrent: u32,
    /// Largest raw frame sent or accepted, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(4096..=(64 << 20)))]
    pub max_chunk: u64,
    /// Longest JSON line accepted, in bytes (bounds a `write`'s content)
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20, value_parser = clap::value_parser!(u64).range(4096..=(256 << 20)))]
    pub max_line: u64,
    /// Longest a search runs, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub search_time_ms: u32,
    /// Most matches one search returns
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_results: u32,
}

/// A group given by number or by name.
fn group_id(value: &str) -> Result<u32, String> {
    if let Ok(gid) = value.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(value) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(format!("unknown group `{value}`")),
        Err(e) => Err(format!("cannot look up group `{value}`: {e}")),
    }
}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// The server's limits (see `welcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_line: usize,
    pub max_chunk: usize,
    pub max_concurrent: usize,
    pub max_page: usize,
    pub max_results: u32,
    pub search_time_ms: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line: 16 << 20,
            max_chunk: 1 << 20,
            max_concurrent: 8,
            max_page: 5000,
            max_results: 10_000,
            search_time_ms: 10_000,
        }
    }
}

impl Limits {
    /// As announced in `welcome`.
    pub fn wire(&self) -> FilesLimits {
        FilesLimits {
            max_line: self.max_line as u64,
            max_chunk: self.max_chunk as u64,
            max_concurrent: u32::try_from(self.max_concurrent).unwrap_or(u32::MAX),
            max_page: u32::try_from(self.max_page).unwrap_or(u32::MAX),
            max_results: self.max_results,
            search_time_ms: self.search_time_ms,
        }
    }
}

/// Runs the server as the command line asks.
pub fn run(cli: Cli) -> anyhow::Result<oqto_cli::Exit> {
    let limits = Limits {
        max_line: usize::try_from(cli.max_line)?,
        max_chunk: usize::try_from(cli.max_chunk)?,
        max_concurrent: cli.max_concurrent as usize,
        max_results: cli.max_results,
        search_time_ms: cli.search_time_ms,
        ..Limits::default()
    };
    let options = server::Options {
        root: cli.root,
        read_only: cli.read_only,
        limits,
        access: oqto_ipc::socket::Access {
            allow_uids: cli.allow_uid,
            allow_gids: cli.allow_group,
        },
        idle_exit: cli.idle_exit.map(std::time::Duration::from_secs),
    };
    if cli.exit_with_parent {
        // The signal comes when the parent's thread that started us ends; the runner starts
        // file servers from its runtime's worker threads, which live as long as it does.
        let parent = nix::unistd::getppid();
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)?;
        if nix::unistd::getppid() != parent {
            anyhow::bail!("the process that started oqto-files has already ended");
        }
    }
    match cli.socket {
        Some(socket) => server::serve_socket(&options, &socket)?,
        None => server::serve_stdio(&options)?,
    }
    Ok(oqto_cli::Exit::Ok)
}

/// Man page sections beyond the clap definition.
pub const MAN: ManExtra = ManExtra {
    environment: &[],
    files: &[(
        "DIR/.oqto-upload-ID, DIR/.oqto-write-*",
        "temporary files of uploads (kept for resuming) and of writes in progress",
    )],
    see_also: &["oqto-relay(1)", "oqto-runner(1)"],
};

//! Finding the runner and starting one on demand: `oqto-client`'s [`Runner`], with its
//! errors reported as the command line reports them (exit codes, hints naming the socket).

use std::ops::Deref;
use std::path::PathBuf;
use std::time::Duration;

use oqto_cli::{CliError, Exit};
use oqto_client::{Error, Runner};
pub use oqto_client::{runner_bin, sibling_bin};

use crate::conn::{Conn, cli_error, client_name};

/// Where the runner is (or will be) and how to start it. Reads as the [`Runner`] it wraps
/// (`target.config`, `target.socket()`, …).
#[derive(Debug)]
pub struct Target {
    runner: Runner,
}

impl Deref for Target {
    type Target = Runner;
    fn deref(&self) -> &Runner {
        &self.runner
    }
}

impl Target {
    /// Reads the runner's configuration the way the runner will (`runner.toml`, XDG paths).
    pub fn load(socket_flag: Option<PathBuf>, autostart: bool) -> anyhow::Result<Self> {
        let runner = Runner::load(socket_flag, autostart, client_name())
            .map_err(|e| CliError::new(Exit::Failure, format!("runner configuration: {e}")))?;
        Ok(Self { runner })
    }

    /// Connects, starting a runner first if none answers and autostart is allowed.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        self.runner
            .connect()
            .await
            .map(Conn::new)
            .map_err(|e| self.error(e))
    }

    /// Connects without starting anything: `None` when no runner answers.
    pub async fn connect_existing(&self) -> anyhow::Result<Option<Conn>> {
        match self.runner.connect_existing().await {
            Ok(conn) => Ok(conn.map(Conn::new)),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Connects again after the runner went away, for up to `within`.
    pub async fn reconnect(&self, within: Duration) -> anyhow::Result<Conn> {
        match self.runner.reconnect(within).await {
            Ok(conn) => Ok(Conn::new(conn)),
            Err(e) => Err(self.error(e).context(CliError::new(
                Exit::RunnerUnreachable,
                format!("no runner came back within {}s", within.as_secs()),
            ))),
        }
    }

    /// Starts a runner in the background unless one answers already; returns its pid
    /// (`None` when one was running).
    pub async fn start(&self) -> anyhow::Result<Option<u32>> {
        self.runner.start().await.map_err(|e| self.error(e))
    }

    /// A client error with the hints that fit this socket and `--no-autostart`.
    fn error(&self, err: Error) -> anyhow::Error {
        let socket = self.socket().display();
        match err {
            Error::Absent { source, .. } => {
                let error = CliError::new(
                    Exit::RunnerUnreachable,
                    format!("no runner answers on {socket}: {source}"),
                );
                if self.autostart {
                    error.with_hint("`oqtoctl runner logs` shows why the runner did not start")
                } else {
                    error.with_hint("start one with `oqtoctl runner start`, or drop --no-autostart")
                }
                .into()
            }
            Error::Connect { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                CliError::new(
                    Exit::PermissionDenied,
                    format!("cannot connect to {socket}: {source}"),
                )
                .with_hint(
                    "the runner accepts only its own user (and those allowed in runner.toml)",
                )
                .into()
            }
            Error::Connect { source, .. } => CliError::new(
                Exit::RunnerUnreachable,
                format!("no runner answers on {socket}: {source}"),
            )
            .into(),
            other => cli_error(other),
        }
    }
}

//! Finding the runner and starting one on demand: `oqto-client`'s [`Runner`], with its
//! errors reported as the command line reports them (exit codes, hints naming the socket).
//! With `--relay`, the runner is reached through an `oqto-relay` instead ([`Relay`]), and
//! what only works on the runner's machine says so.

use std::ops::Deref;
use std::path::Path;
use std::time::{Duration, Instant};

use oqto_cli::{CliError, Exit};
use oqto_client::{Error, Relay, Runner};
pub use oqto_client::{runner_bin, sibling_bin};

use crate::cli::Global;
use crate::conn::{Conn, cli_error, client_name};

/// The variable holding the relay's API token.
pub const TOKEN_VAR: &str = "OQTO_TOKEN";

/// Where the runner is (or will be) and how to start it. Reads as the [`Runner`] it wraps
/// (`target.config`, `target.socket()`, …); with `--relay`, also the relay to go through.
#[derive(Debug)]
pub struct Target {
    runner: Runner,
    remote: Option<Relay>,
}

impl Deref for Target {
    type Target = Runner;
    fn deref(&self) -> &Runner {
        &self.runner
    }
}

impl Target {
    /// Reads the runner's configuration the way the runner will (`runner.toml`, XDG
    /// paths), and with `--relay` the relay's URL, token and CA file.
    pub fn load(global: &Global) -> anyhow::Result<Self> {
        let runner = Runner::load(global.socket.clone(), !global.no_autostart, client_name())
            .map_err(|e| CliError::new(Exit::Failure, format!("runner configuration: {e}")))?;
        let remote = match &global.relay {
            Some(url) => Some(relay(
                url,
                global.token_file.as_deref(),
                global.relay_ca.as_deref(),
            )?),
            None => None,
        };
        Ok(Self { runner, remote })
    }

    /// The relay this goes through, with `--relay`.
    pub fn remote(&self) -> Option<&Relay> {
        self.remote.as_ref()
    }

    /// Refuses `what` (e.g. `runner start`) through a relay: it works on the runner's
    /// machine only.
    pub fn local_only(&self, what: &str) -> anyhow::Result<()> {
        match &self.remote {
            Some(relay) => Err(local_only(what, relay.url())),
            None => Ok(()),
        }
    }

    /// Connects, starting a runner first if none answers and autostart is allowed (the
    /// relay starts its runner itself).
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        match &self.remote {
            Some(relay) => relay
                .connect(&client_name())
                .await
                .map(Conn::new)
                .map_err(remote_error),
            None => self
                .runner
                .connect()
                .await
                .map(Conn::new)
                .map_err(|e| self.error(e)),
        }
    }

    /// Connects without starting anything: `None` when no runner answers.
    pub async fn connect_existing(&self) -> anyhow::Result<Option<Conn>> {
        if self.remote.is_some() {
            return self.connect().await.map(Some);
        }
        match self.runner.connect_existing().await {
            Ok(conn) => Ok(conn.map(Conn::new)),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Connects again after the runner (or the relay) went away, for up to `within`, with
    /// a growing pause (50 ms up to 2 s). A refused token or a bad URL is not retried.
    pub async fn reconnect(&self, within: Duration) -> anyhow::Result<Conn> {
        let Some(relay) = &self.remote else {
            return match self.runner.reconnect(within).await {
                Ok(conn) => Ok(Conn::new(conn)),
                Err(e) => Err(self.error(e).context(CliError::new(
                    Exit::RunnerUnreachable,
                    format!("no runner came back within {}s", within.as_secs()),
                ))),
            };
        };
        let give_up = Instant::now() + within;
        let mut delay = Duration::from_millis(50);
        loop {
            match relay.connect(&client_name()).await {
                Ok(client) => return Ok(Conn::new(client)),
                Err(e) if !lasting(&e) && Instant::now() < give_up => {
                    tracing::debug!(error = %e, "the relay or its runner is not back yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    return Err(remote_error(e).context(CliError::new(
                        Exit::RunnerUnreachable,
                        format!(
                            "the relay did not answer again within {}s",
                            within.as_secs()
                        ),
                    )));
                }
            }
        }
    }

    /// Starts a runner in the background unless one answers already; returns its pid
    /// (`None` when one was running).
    pub async fn start(&self) -> anyhow::Result<Option<u32>> {
        self.local_only("`oqtoctl runner start`")?;
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

/// The relay at `url`, with the token from `token_file` or `OQTO_TOKEN`.
fn relay(url: &str, token_file: Option<&Path>, ca: Option<&Path>) -> anyhow::Result<Relay> {
    let token = match token_file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            CliError::new(
                Exit::Usage,
                format!("--token-file {}: {e}", path.display()),
            )
        })?,
        None => std::env::var(TOKEN_VAR).map_err(|_| {
            CliError::new(Exit::Usage, "--relay needs an API token")
                .with_hint(format!(
                    "set {TOKEN_VAR}, or put it in a file for --token-file (OQTO_TOKEN_FILE); `oqtoctl token create` on the relay's machine makes one"
                ))
        })?,
    };
    Relay::new(url, &token, ca).map_err(remote_error)
}

/// Whether retrying cannot help: the relay refused us, or the URL, token or CA file is bad.
fn lasting(err: &Error) -> bool {
    matches!(
        err,
        Error::Refused { .. } | Error::BadUrl { .. } | Error::BadToken(_) | Error::BadCa { .. }
    )
}

/// `what` cannot go through the relay at `url`.
pub fn local_only(what: &str, url: &str) -> anyhow::Error {
    CliError::new(
        Exit::Usage,
        format!("{what} works on the runner's own machine, not through a relay ({url})"),
    )
    .with_hint("run it there, or drop --relay / OQTO_RELAY")
    .into()
}

/// A relay client error as the command line reports it: a bad URL, token or CA file is a
/// usage error (2), an unreachable relay 3, a refused token 8.
pub fn remote_error(err: Error) -> anyhow::Error {
    match err {
        Error::BadUrl { .. } | Error::BadToken(_) | Error::BadCa { .. } => {
            CliError::new(Exit::Usage, err.to_string()).into()
        }
        Error::Unreachable { .. } => CliError::new(Exit::RunnerUnreachable, err.to_string())
            .with_hint("is oqto-relay running there, and is the URL right? `oqtoctl doctor --relay URL` checks")
            .into(),
        Error::Refused { status: 401 | 403, .. } => {
            CliError::new(Exit::PermissionDenied, err.to_string())
                .with_hint("the token is wrong, expired or revoked: on the relay's machine, `oqtoctl token list` shows the tokens and `oqtoctl token create` makes a new one")
                .into()
        }
        Error::Refused { .. } => CliError::new(Exit::Failure, err.to_string()).into(),
        Error::Handshake(message) => CliError::new(
            Exit::RunnerUnreachable,
            format!("the relay's handshake failed: {message}"),
        )
        .into(),
        other => cli_error(other),
    }
}

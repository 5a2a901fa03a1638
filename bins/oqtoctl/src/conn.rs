//! `oqtoctl`'s side of a runner connection: the shared client (`oqto-client`) with its
//! errors turned into the exit codes and hints of the command line.

use oqto_cli::{CliError, Exit};
pub use oqto_client::Incoming;
use oqto_client::{Client, Error};
use oqto_protocol::{Command, ErrorCode, ErrorResponse, Reply, RequestId, Welcome};

/// How `oqtoctl` names itself to the runner.
pub fn client_name() -> String {
    format!("oqtoctl/{}", env!("CARGO_PKG_VERSION"))
}

/// A connected, greeted client.
#[derive(Debug)]
pub struct Conn {
    inner: Client,
}

impl Conn {
    pub fn new(inner: Client) -> Self {
        Self { inner }
    }

    /// The runner's greeting.
    pub fn welcome(&self) -> &Welcome {
        &self.inner.welcome
    }

    /// Through a relay: the relay's greeting.
    pub fn relay(&self) -> Option<&oqto_protocol::RelayWelcome> {
        self.inner.relay.as_ref()
    }

    /// Sends a request without waiting for its reply; returns its id.
    pub async fn send(&mut self, command: Command) -> anyhow::Result<RequestId> {
        self.inner.send(command).await.map_err(cli_error)
    }

    /// Sends a request and waits for its reply; events that arrive meanwhile are kept for
    /// [`Conn::next`]. An `error` reply becomes a [`CliError`] with the matching exit code.
    pub async fn request(&mut self, command: Command) -> anyhow::Result<Reply> {
        self.inner.request(command).await.map_err(cli_error)
    }

    /// Sends bytes as input to a terminal without waiting for the reply.
    pub async fn terminal_input(
        &mut self,
        terminal: oqto_protocol::TerminalId,
        bytes: &[u8],
    ) -> anyhow::Result<RequestId> {
        self.inner
            .terminal_input(terminal, bytes)
            .await
            .map_err(cli_error)
    }

    /// The next thing the runner sent. Cancel-safe.
    pub async fn next(&mut self) -> Incoming {
        self.inner.next().await
    }
}

/// A client error as the command line reports it. Connection failures are mapped where
/// the socket is known (`ondemand::Target`), with hints that name it.
pub fn cli_error(err: Error) -> anyhow::Error {
    match err {
        Error::Reply(e) => reply_error(&e).into(),
        Error::Closed(why) => runner_gone(why.as_deref()).into(),
        Error::Start { message, log } => {
            let error = CliError::new(Exit::RunnerUnreachable, message);
            match log {
                Some(log) => error.with_hint(format!("the whole log is {}", log.display())),
                None => error.with_hint(format!(
                    "install oqto-runner next to oqtoctl or on PATH, or set {}",
                    oqto_client::RUNNER_BIN_VAR
                )),
            }
            .into()
        }
        Error::NotFound { program } => CliError::new(
            Exit::RunnerUnreachable,
            format!("cannot find {program} next to oqtoctl or on PATH"),
        )
        .with_hint(format!(
            "install it, or set {}",
            oqto_client::RUNNER_BIN_VAR
        ))
        .into(),
        Error::Handshake(message) => CliError::new(
            Exit::RunnerUnreachable,
            format!("the runner's handshake failed: {message}"),
        )
        .into(),
        other => anyhow::Error::from(other),
    }
}

/// The error of a failed request, with the exit code that fits it.
pub fn reply_error(err: &ErrorResponse) -> CliError {
    let exit = match err.code {
        ErrorCode::SessionNotFound | ErrorCode::MessageNotFound => Exit::SessionNotFound,
        ErrorCode::BadRequest => Exit::Usage,
        ErrorCode::PermissionDenied => Exit::PermissionDenied,
        ErrorCode::Timeout => Exit::Timeout,
        ErrorCode::HarnessFailed => Exit::AgentError,
        // Through a relay: it cannot reach (or start) the runner behind it.
        ErrorCode::RunnerUnavailable => Exit::RunnerUnreachable,
        _ => Exit::Failure,
    };
    let error = CliError::new(exit, format!("{} ({})", err.message, err.code));
    match err.code {
        ErrorCode::SessionNotFound => error.with_hint("`oqtoctl sessions` lists the sessions"),
        ErrorCode::TerminalNotFound => error.with_hint("`oqtoctl terminals` lists the terminals"),
        ErrorCode::ProtocolMismatch => {
            error.with_hint("oqtoctl and oqto-runner come from different versions; restart the runner with `oqtoctl runner stop`")
        }
        _ => error,
    }
}

/// The runner went away while we were talking to it.
pub fn runner_gone(why: Option<&str>) -> CliError {
    let message = match why {
        Some(why) => format!("lost the connection to the runner: {why}"),
        None => "the runner closed the connection".to_owned(),
    };
    CliError::new(Exit::RunnerUnreachable, message)
        .with_hint("`oqtoctl runner logs` shows what the runner said")
}

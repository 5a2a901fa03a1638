//! One connection to the runner: the handshake, requests with their replies, and the
//! events that arrive in between.
//!
//! A reader task turns the socket's lines into [`Incoming`] items on a channel, so the
//! command loops can `select!` on them next to signals and deadlines (a channel's `recv`
//! is cancel-safe; a half-read line is not).

use std::collections::VecDeque;
use std::path::Path;

use anyhow::Context as _;
use oqto_cli::{CliError, Exit};
use oqto_ipc::framing::{AsyncLineReader, AsyncLineWriter};
use oqto_protocol::{
    ClientMessage, Command, ErrorCode, ErrorResponse, Event, Hello, PROTOCOL_VERSION, Reply,
    Request, RequestId, ServerMessage, Welcome,
};
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;

/// What the runner sent, or that it stopped sending.
// Events are the common item and are boxed already; a reply is rare and read once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Incoming {
    /// An event, with the line as the runner wrote it (pipe mode prints it unchanged).
    Event(Box<Event>, String),
    Reply(RequestId, Result<Reply, ErrorResponse>),
    /// The connection ended; `None` at a clean EOF, else why.
    Closed(Option<String>),
}

/// A connected, greeted client.
#[derive(Debug)]
pub struct Conn {
    writer: AsyncLineWriter<OwnedWriteHalf>,
    rx: mpsc::Receiver<Incoming>,
    /// Events read while waiting for a reply, handed out first by [`Conn::next`].
    buffered: VecDeque<Incoming>,
    next_id: u64,
    pub welcome: Welcome,
}

/// The error of a failed request, with the exit code that fits it.
pub fn reply_error(err: &ErrorResponse) -> CliError {
    let exit = match err.code {
        ErrorCode::SessionNotFound | ErrorCode::MessageNotFound => Exit::SessionNotFound,
        ErrorCode::BadRequest => Exit::Usage,
        ErrorCode::PermissionDenied => Exit::PermissionDenied,
        ErrorCode::Timeout => Exit::Timeout,
        ErrorCode::HarnessFailed => Exit::AgentError,
        _ => Exit::Failure,
    };
    let error = CliError::new(exit, format!("{} ({})", err.message, err.code));
    match err.code {
        ErrorCode::SessionNotFound => error.with_hint("`oqtoctl sessions` lists the sessions"),
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

impl Conn {
    /// Connects to `socket` and does the handshake.
    pub async fn connect(socket: &Path) -> std::io::Result<Self> {
        let stream = UnixStream::connect(socket).await?;
        Self::greet(stream)
            .await
            .map_err(|e| std::io::Error::other(format!("{e:#}")))
    }

    async fn greet(stream: UnixStream) -> anyhow::Result<Self> {
        let (read, write) = stream.into_split();
        let mut writer = AsyncLineWriter::new(write);
        let hello = ClientMessage::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            client: format!("oqtoctl/{}", env!("CARGO_PKG_VERSION")),
        });
        writer.write_line(&hello.to_line()).await?;
        let mut reader = AsyncLineReader::new(BufReader::new(read));
        let line = reader
            .read_line()
            .await?
            .context("the runner closed the connection before its welcome")?;
        let welcome = match ServerMessage::parse(&line) {
            Ok(ServerMessage::Welcome(welcome)) => welcome,
            Ok(ServerMessage::Error(err)) => return Err(reply_error(&err).into()),
            Ok(_) => anyhow::bail!("the runner did not start with a welcome"),
            Err(e) => anyhow::bail!("unreadable welcome from the runner: {e}"),
        };
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(read_loop(reader, tx));
        Ok(Self {
            writer,
            rx,
            buffered: VecDeque::new(),
            next_id: 0,
            welcome,
        })
    }

    /// Sends a request without waiting for its reply; returns its id.
    pub async fn send(&mut self, command: Command) -> anyhow::Result<RequestId> {
        self.next_id += 1;
        let id = RequestId(format!("c{}", self.next_id));
        let line = ClientMessage::Request(Request {
            id: id.clone(),
            command,
        })
        .to_line();
        self.writer
            .write_line(&line)
            .await
            .map_err(|e| runner_gone(Some(&e.to_string())))?;
        Ok(id)
    }

    /// Sends a request and waits for its reply; events that arrive meanwhile are kept for
    /// [`Conn::next`]. An `error` reply becomes a [`CliError`] with the matching exit code.
    pub async fn request(&mut self, command: Command) -> anyhow::Result<Reply> {
        let id = self.send(command).await?;
        loop {
            match self.rx.recv().await {
                Some(Incoming::Reply(got, result)) if got == id => {
                    return result.map_err(|e| reply_error(&e).into());
                }
                Some(Incoming::Closed(why)) => return Err(runner_gone(why.as_deref()).into()),
                None => return Err(runner_gone(None).into()),
                Some(other) => self.buffered.push_back(other),
            }
        }
    }

    /// The next thing the runner sent: buffered items first. Cancel-safe.
    pub async fn next(&mut self) -> Incoming {
        if let Some(item) = self.buffered.pop_front() {
            return item;
        }
        self.rx.recv().await.unwrap_or(Incoming::Closed(None))
    }
}

async fn read_loop(
    mut reader: AsyncLineReader<BufReader<tokio::net::unix::OwnedReadHalf>>,
    tx: mpsc::Sender<Incoming>,
) {
    loop {
        let item = match reader.read_line().await {
            Ok(None) => Incoming::Closed(None),
            Err(e) => Incoming::Closed(Some(e.to_string())),
            Ok(Some(line)) => match ServerMessage::parse(&line) {
                Ok(ServerMessage::Event(event)) => Incoming::Event(Box::new(event), line),
                Ok(ServerMessage::Ok(ok)) => Incoming::Reply(ok.id, Ok(ok.result)),
                Ok(ServerMessage::Error(err)) => match err.id.clone() {
                    Some(id) => Incoming::Reply(id, Err(err)),
                    // An error without an id is about the connection itself.
                    None => Incoming::Closed(Some(err.to_string())),
                },
                Ok(ServerMessage::Welcome(_)) => continue,
                Err(e) => {
                    // A line this build cannot read (a newer runner): skip it, say so.
                    tracing::warn!("skipping an unreadable line from the runner: {e}");
                    continue;
                }
            },
        };
        let end = matches!(item, Incoming::Closed(_));
        if tx.send(item).await.is_err() || end {
            return;
        }
    }
}

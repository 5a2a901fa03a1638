//! One connection to the runner: the handshake, requests correlated with their replies by
//! id, and the events that arrive in between.
//!
//! A reader task turns the socket's lines into [`Incoming`] items on a channel, so callers
//! can `select!` on them next to signals and deadlines (a channel's `recv` is cancel-safe;
//! a half-read line is not).

use std::path::Path;

use oqto_ipc::framing::{AsyncLineReader, AsyncLineWriter};
use oqto_protocol::{
    ClientMessage, Command, ErrorResponse, Event, Hello, PROTOCOL_VERSION, RelayWelcome, Reply,
    Request, RequestId, Seq, ServerMessage, SessionId, TerminalEvent, TerminalId, Welcome,
};
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::Error;
use crate::inbox::{Inbox, Item, deliver, frame_bytes};
use crate::relay::Outbox;

/// Items the reader task may queue before it waits for the caller.
const QUEUE: usize = 1024;

/// What the runner sent, or that it stopped sending.
// Events are the common item and are boxed already; a reply is rare and read once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Incoming {
    /// An event, with the line as the runner wrote it (for callers that print or forward
    /// it unchanged).
    Event(Box<Event>, String),
    Reply(RequestId, Result<Reply, ErrorResponse>),
    /// About an attached terminal (`terminal.attach`): for `terminal.output`, with the raw
    /// bytes that followed its header; else no bytes.
    Terminal(TerminalEvent, Vec<u8>),
    /// An `error` tied to no request (e.g. a line the runner could not read); the
    /// connection goes on unless [`Incoming::Closed`] follows.
    Error(ErrorResponse),
    /// The connection ended; `None` at a clean end of stream, else why.
    Closed(Option<String>),
}

/// A connected, greeted client of the runner: on its Unix socket ([`Client::connect`]) or
/// through a relay ([`crate::Relay::connect`]), the same either way for its caller.
#[derive(Debug)]
pub struct Client {
    writer: Writer,
    inbox: Inbox<Incoming>,
    next_id: u64,
    /// The runner's greeting: its version, features, harnesses and default harness.
    pub welcome: Welcome,
    /// Through a relay: the relay's welcome (its user, version and channels).
    pub relay: Option<RelayWelcome>,
}

/// Where a client's lines go.
#[derive(Debug)]
pub(crate) enum Writer {
    /// The runner's Unix socket.
    Unix(AsyncLineWriter<OwnedWriteHalf>),
    /// A relay's WebSocket, on its `agent` channel.
    Relay(Outbox),
}

impl Writer {
    /// Writes one request line, and the raw bytes of a `terminal.input` (`input`).
    async fn write(
        &mut self,
        name: &str,
        line: &str,
        input: Option<(&TerminalId, &[u8])>,
    ) -> Result<(), Error> {
        match self {
            Writer::Unix(writer) => match input {
                Some((_, bytes)) => writer.write_frame(line, bytes).await,
                None => writer.write_line(line).await,
            }
            .map_err(|e| Error::Closed(Some(e.to_string()))),
            Writer::Relay(outbox) => outbox.send(name, line, input).await,
        }
    }
}

impl Client {
    /// Connects to `socket` and does the handshake, naming this client `client` (e.g.
    /// `oqtoctl/0.1.0`; the runner shows it in logs and in `closed by …` reasons).
    pub async fn connect(socket: &Path, client: &str) -> Result<Self, Error> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| Error::connecting(socket, e))?;
        Self::greet(stream, client).await
    }

    /// Does the handshake on a connected stream.
    pub async fn greet(stream: UnixStream, client: &str) -> Result<Self, Error> {
        let (mut reader, writer, welcome) = handshake(stream, client).await?;
        let welcome = match ServerMessage::parse(&welcome) {
            Ok(ServerMessage::Welcome(welcome)) => welcome,
            Ok(_) => {
                return Err(Error::Handshake(
                    "the runner did not start with a welcome".into(),
                ));
            }
            Err(e) => return Err(Error::Handshake(format!("unreadable welcome: {e}"))),
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(async move { read_loop(&mut reader, &tx).await });
        Ok(Self::over(
            Writer::Unix(writer),
            Inbox::new(rx),
            welcome,
            None,
        ))
    }

    /// A greeted client over `writer`, reading what a reader task queues in `inbox`.
    pub(crate) fn over(
        writer: Writer,
        inbox: Inbox<Incoming>,
        welcome: Welcome,
        relay: Option<RelayWelcome>,
    ) -> Self {
        Self {
            writer,
            inbox,
            next_id: 0,
            welcome,
            relay,
        }
    }

    /// Sends a request without waiting for its reply; returns its id (`c1`, `c2`, …).
    pub async fn send(&mut self, command: Command) -> Result<RequestId, Error> {
        self.write(command, &[]).await
    }

    /// Sends a request whose line announces raw bytes (`terminal.input`): the line, then
    /// exactly `bytes`. Returns its id without waiting for the reply.
    pub async fn send_frame(&mut self, command: Command, bytes: &[u8]) -> Result<RequestId, Error> {
        debug_assert_eq!(command.frame_len(), bytes.len() as u64);
        self.write(command, bytes).await
    }

    /// Writes `command` with a new id; a `terminal.input`'s `bytes` go with it.
    async fn write(&mut self, command: Command, bytes: &[u8]) -> Result<RequestId, Error> {
        self.next_id += 1;
        let id = RequestId(format!("c{}", self.next_id));
        let name = command.name();
        let terminal = match &command {
            Command::TerminalInput { terminal, .. } => Some(terminal.clone()),
            _ => None,
        };
        let line = ClientMessage::Request(Request {
            id: id.clone(),
            command,
        })
        .to_line();
        let input = terminal.as_ref().map(|t| (t, bytes));
        self.writer.write(name, &line, input).await?;
        Ok(id)
    }

    /// Sends `bytes` as input to a terminal; returns the request's id (the reply comes
    /// once the bytes were written to the terminal).
    pub async fn terminal_input(
        &mut self,
        terminal: TerminalId,
        bytes: &[u8],
    ) -> Result<RequestId, Error> {
        let len = bytes.len() as u64;
        self.send_frame(Command::TerminalInput { terminal, len }, bytes)
            .await
    }

    /// Sends a request and waits for its reply; events that arrive meanwhile are kept for
    /// [`Client::next`], in order.
    pub async fn request(&mut self, command: Command) -> Result<Reply, Error> {
        let id = self.send(command).await?;
        self.inbox.reply(&id).await
    }

    /// Subscribes to a session's events: those after `after_seq` are replayed (or a
    /// `resync` snapshot when the runner no longer has them), then live ones follow on
    /// [`Client::next`]. `None` means live events only.
    pub async fn subscribe(
        &mut self,
        session: SessionId,
        after_seq: Option<Seq>,
    ) -> Result<Reply, Error> {
        self.request(Command::SessionSubscribe { session, after_seq })
            .await
    }

    /// The next thing the runner sent: buffered items first. Cancel-safe.
    pub async fn next(&mut self) -> Incoming {
        self.inbox.next().await
    }
}

/// Sends `hello` and reads the first line back. An `error` line (e.g. a protocol
/// mismatch, or a peer the server does not admit) is the error it carries.
pub(crate) async fn handshake(
    stream: UnixStream,
    client: &str,
) -> Result<
    (
        AsyncLineReader<BufReader<OwnedReadHalf>>,
        AsyncLineWriter<OwnedWriteHalf>,
        String,
    ),
    Error,
> {
    let (read, write) = stream.into_split();
    let mut writer = AsyncLineWriter::new(write);
    let hello = ClientMessage::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        client: client.to_owned(),
    });
    writer
        .write_line(&hello.to_line())
        .await
        .map_err(|e| Error::Handshake(format!("cannot send hello: {e}")))?;
    let mut reader = AsyncLineReader::new(BufReader::new(read));
    let line = reader
        .read_line()
        .await
        .map_err(|e| Error::Handshake(e.to_string()))?
        .ok_or_else(|| {
            Error::Handshake("the server closed the connection before its welcome".into())
        })?;
    if let Ok(ServerMessage::Error(err)) = ServerMessage::parse(&line) {
        return Err(Error::Reply(err));
    }
    Ok((reader, writer, line))
}

async fn read_loop(
    reader: &mut AsyncLineReader<BufReader<OwnedReadHalf>>,
    tx: &mpsc::Sender<Incoming>,
) {
    loop {
        let item = match reader.read_line().await {
            Ok(None) => Incoming::Closed(None),
            Err(e) if e.closes_connection() => Incoming::Closed(Some(e.to_string())),
            // A line over the limit was skipped whole: the connection goes on.
            Err(e) => {
                tracing::warn!("skipping an unreadable line from the runner: {e}");
                continue;
            }
            Ok(Some(line)) => match parse_line(line) {
                Parsed::Item(item) => item,
                Parsed::Terminal(event) => {
                    // Terminal output comes in chunks far below a line's maximum.
                    let max = reader.max() as u64;
                    match frame_bytes(reader, event.frame_len(), max).await {
                        Ok(bytes) => Incoming::Terminal(event, bytes),
                        Err(why) => Incoming::Closed(Some(why)),
                    }
                }
                Parsed::Skip => continue,
            },
        };
        if !deliver(tx, item).await {
            return;
        }
    }
}

/// What one line from the runner is.
// Read once and moved on at once, like `Incoming` itself.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Parsed {
    Item(Incoming),
    /// A terminal event; `frame_len` raw bytes follow its line on the socket.
    Terminal(TerminalEvent),
    /// Nothing for the caller: a repeated welcome, or a line this build cannot read (a
    /// newer runner's), said in the log.
    Skip,
}

/// Reads one runner line (kept as written for events).
pub(crate) fn parse_line(line: String) -> Parsed {
    match ServerMessage::parse(&line) {
        Ok(ServerMessage::Event(event)) => Parsed::Item(Incoming::Event(Box::new(event), line)),
        Ok(ServerMessage::Ok(ok)) => Parsed::Item(Incoming::Reply(ok.id, Ok(ok.result))),
        Ok(ServerMessage::Error(err)) => Parsed::Item(match err.id.clone() {
            Some(id) => Incoming::Reply(id, Err(err)),
            None => Incoming::Error(err),
        }),
        Ok(ServerMessage::Terminal(event)) => Parsed::Terminal(event),
        Ok(ServerMessage::Welcome(_)) => Parsed::Skip,
        Err(e) => {
            tracing::warn!("skipping an unreadable line from the runner: {e}");
            Parsed::Skip
        }
    }
}

impl Item for Incoming {
    type Reply = Reply;

    fn reply_to(self, id: &RequestId) -> Result<Result<Reply, ErrorResponse>, Self> {
        match self {
            Incoming::Reply(got, result) if &got == id => Ok(result),
            other => Err(other),
        }
    }

    fn ended(&self) -> Option<Error> {
        match self {
            Incoming::Closed(why) => Some(Error::Closed(why.clone())),
            _ => None,
        }
    }

    fn closed(why: Option<String>) -> Self {
        Incoming::Closed(why)
    }
}

//! The socket: accepting clients, checking who they are, the handshake, and one reader and
//! one writer per connection.
//!
//! A connection's writer takes lines from one bounded queue: responses, and the events of
//! each subscription (a small task per subscription moves them from the session's
//! per-subscriber queue). A client that stops reading fills the writer's queue, then its
//! subscription queues, and then the session marks it as behind (it is fed from the ring or
//! gets a `resync` later): the runner's memory does not grow with a slow client.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oqto_ipc::framing::{AsyncLineReader, FrameError};
use oqto_ipc::socket::{Access, PeerCred, peer_cred};
use oqto_protocol::{
    ClientMessage, Command, ErrorCode, ErrorResponse, OkResponse, PROTOCOL_VERSION, Reply,
    RequestId, ServerMessage, SessionId, TerminalEvent, TerminalId,
};
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::events::{Delivery, SubscriberId};
use crate::runner::{Failure, Runner, not_found};
use crate::session::ActorMsg;
use crate::terminal;

/// Lines queued for one connection's writer.
const OUT_QUEUE: usize = 256;
/// How long a new connection has to send its `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// One line (or raw frame) for the writer, or a request to be told once all before it is
/// written.
enum Out {
    Owned(String),
    Event(Delivery),
    /// A header line (with its newline) and the raw bytes it announces.
    Frame(String, Vec<u8>),
    /// Answered once every line queued before it has been written and flushed.
    Flushed(oneshot::Sender<()>),
}

impl Out {
    fn json<T: serde::Serialize>(value: &T) -> Self {
        let mut line = serde_json::to_string(value).expect("protocol types always serialize");
        line.push('\n');
        Out::Owned(line)
    }

    fn terminal(event: &TerminalEvent, bytes: Vec<u8>) -> Self {
        let mut line = ServerMessage::Terminal(event.clone()).to_line();
        line.push('\n');
        if bytes.is_empty() {
            Out::Owned(line)
        } else {
            Out::Frame(line, bytes)
        }
    }

    async fn write_to(
        &self,
        writer: &mut BufWriter<tokio::net::unix::OwnedWriteHalf>,
    ) -> std::io::Result<()> {
        match self {
            Out::Owned(line) => writer.write_all(line.as_bytes()).await,
            Out::Event(delivery) => writer.write_all(delivery.line().as_bytes()).await,
            Out::Frame(header, bytes) => {
                writer.write_all(header.as_bytes()).await?;
                writer.write_all(bytes).await
            }
            Out::Flushed(_) => Ok(()),
        }
    }
}

/// Accepts connections until the runner is asked to stop.
pub async fn serve(listener: UnixListener, runner: Arc<Runner>) {
    let mut stop = runner.shutdown_requested();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let runner = Arc::clone(&runner);
                    tokio::spawn(async move { connection(runner, stream).await });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}

/// Whether the peer may use this runner: the runner's own uid, or one allowed by
/// `allow_uids` / `allow_groups` (primary or supplementary group of the peer process); root
/// only when listed ([`Access`]).
fn allowed(runner: &Runner, cred: &PeerCred) -> bool {
    let access = &runner.ctx.config.access;
    Access {
        allow_uids: access.allow_uids.clone(),
        allow_gids: access.allow_groups.clone(),
    }
    .admits(cred)
}

/// The answer to a line that could not be read (it was skipped); `None` for an I/O error,
/// which ends the connection.
fn reply_for(e: &FrameError) -> Option<ErrorResponse> {
    match e {
        FrameError::TooLarge { limit } => Some(ErrorResponse::line_too_large(*limit)),
        FrameError::InvalidUtf8 { .. } => Some(ErrorResponse::line_not_utf8()),
        FrameError::Io(_) => None,
    }
}

async fn connection(runner: Arc<Runner>, stream: UnixStream) {
    let cred = match peer_cred(&stream) {
        Ok(cred) => cred,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read peer credentials; closing");
            return;
        }
    };
    let (read, write) = stream.into_split();
    let (out_tx, out_rx) = mpsc::channel::<Out>(OUT_QUEUE);
    let writer = tokio::spawn(write_loop(write, out_rx));
    if !allowed(&runner, &cred) {
        tracing::warn!(uid = cred.uid, pid = ?cred.pid, "refused a client of another user");
        let _ = out_tx
            .send(Out::json(&ServerMessage::Error(ErrorResponse::new(
                None,
                ErrorCode::PermissionDenied,
                format!("uid {} may not use this runner", cred.uid),
            ))))
            .await;
        drop(out_tx);
        let _ = writer.await;
        drain(&mut BufReader::new(read)).await;
        return;
    }
    runner.clients.fetch_add(1, Ordering::Relaxed);
    let mut reader =
        AsyncLineReader::with_max(BufReader::new(read), runner.ctx.config.limits.max_line);
    if let Some(client) = handshake(&runner, &mut reader, &out_tx).await {
        tracing::debug!(client, uid = cred.uid, "client connected");
        let mut conn = Conn {
            runner: Arc::clone(&runner),
            client,
            out: out_tx.clone(),
            subscriptions: HashMap::new(),
            terminals: HashMap::new(),
        };
        conn.read_loop(&mut reader).await;
        conn.close().await;
    }
    drop(out_tx);
    // The writer sends what is queued (e.g. a `protocol_mismatch` error), then shuts its half
    // down.
    let _ = writer.await;
    drain(reader.get_mut()).await;
    runner.clients.fetch_sub(1, Ordering::Relaxed);
}

/// Reads and discards what the client is still sending (the rest of a refused first line)
/// for a moment before the connection closes, so that the client reads our error instead of
/// getting a broken pipe or a reset. Bounded in time and bytes.
async fn drain(reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>) {
    use tokio::io::AsyncReadExt;
    const DRAIN_TIME: Duration = Duration::from_secs(1);
    const DRAIN_BYTES: usize = 64 * 1024 * 1024;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while total < DRAIN_BYTES {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

async fn write_loop(write: tokio::net::unix::OwnedWriteHalf, mut rx: mpsc::Receiver<Out>) {
    let mut writer = BufWriter::with_capacity(64 * 1024, write);
    let mut waiting = Vec::new();
    while let Some(out) = rx.recv().await {
        let mut next = Some(out);
        // Batch whatever is already queued, then flush once.
        while let Some(out) = next {
            match out {
                Out::Flushed(done) => waiting.push(done),
                out => {
                    if out.write_to(&mut writer).await.is_err() {
                        return;
                    }
                }
            }
            next = rx.try_recv().ok();
        }
        if writer.flush().await.is_err() {
            return;
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Reads the `hello`; answers `welcome` and returns the client's name, or answers the error
/// and returns `None` (the connection closes).
async fn handshake(
    runner: &Runner,
    reader: &mut AsyncLineReader<BufReader<tokio::net::unix::OwnedReadHalf>>,
    out: &mpsc::Sender<Out>,
) -> Option<String> {
    let line = match tokio::time::timeout(HELLO_TIMEOUT, reader.read_line()).await {
        Err(_) => {
            let _ = out
                .send(error_line(
                    None,
                    ErrorCode::Timeout,
                    "no `hello` within 10s",
                ))
                .await;
            return None;
        }
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None)) => return None,
        Ok(Err(e)) => {
            if let Some(reply) = reply_for(&e) {
                let _ = out.send(Out::json(&ServerMessage::Error(reply))).await;
            }
            return None;
        }
    };
    let error = match ClientMessage::parse(&line) {
        Ok(ClientMessage::Hello(hello)) if hello.protocol == PROTOCOL_VERSION => {
            let _ = out
                .send(Out::json(&ServerMessage::Welcome(runner.welcome())))
                .await;
            return Some(hello.client);
        }
        Ok(ClientMessage::Hello(hello)) => ErrorResponse::new(
            None,
            ErrorCode::ProtocolMismatch,
            format!(
                "client speaks protocol {}, this runner speaks {PROTOCOL_VERSION}",
                hello.protocol
            ),
        ),
        Ok(ClientMessage::Request(request)) => ErrorResponse::new(
            Some(request.id),
            ErrorCode::BadRequest,
            "the first line must be `hello`",
        ),
        Err(mut e) => {
            e.message = format!("the first line must be `hello`: {}", e.message);
            e
        }
    };
    let _ = out.send(Out::json(&ServerMessage::Error(error))).await;
    None
}

fn error_line(id: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Out {
    Out::json(&ServerMessage::Error(ErrorResponse::new(id, code, message)))
}

struct Subscription {
    id: SubscriberId,
    forwarder: JoinHandle<()>,
}

struct Conn {
    runner: Arc<Runner>,
    client: String,
    out: mpsc::Sender<Out>,
    subscriptions: HashMap<SessionId, Subscription>,
    /// Attached terminals: the client id the terminal knows this connection by, and the
    /// task moving its output to the writer.
    terminals: HashMap<TerminalId, (u64, JoinHandle<()>)>,
}

impl Conn {
    async fn read_loop(
        &mut self,
        reader: &mut AsyncLineReader<BufReader<tokio::net::unix::OwnedReadHalf>>,
    ) {
        loop {
            let line = match reader.read_line().await {
                Ok(Some(line)) => line,
                Ok(None) => return,
                Err(e) => {
                    if let Some(reply) = reply_for(&e) {
                        let _ = self.out.send(Out::json(&ServerMessage::Error(reply))).await;
                    }
                    if e.closes_connection() {
                        return;
                    }
                    continue;
                }
            };
            let request = match ClientMessage::parse(&line) {
                Ok(ClientMessage::Request(request)) => request,
                Ok(ClientMessage::Hello(_)) => {
                    let _ = self
                        .out
                        .send(error_line(
                            None,
                            ErrorCode::BadRequest,
                            "`hello` was already sent on this connection",
                        ))
                        .await;
                    continue;
                }
                Err(e) => {
                    let _ = self.out.send(Out::json(&ServerMessage::Error(e))).await;
                    // A `terminal.input` line that did not decode still announced its bytes:
                    // skip them, so the stream stays in step.
                    if let Some(len) = announced_len(&line) {
                        if reader.read_raw(len, |_| Ok::<(), ()>(())).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
            };
            let id = request.id;
            match request.command {
                Command::TerminalInput { terminal, len } => {
                    if !self.input(reader, id, terminal, len).await {
                        return;
                    }
                }
                Command::TerminalAttach {
                    terminal,
                    after_offset,
                } => self.attach(id, terminal, after_offset).await,
                Command::TerminalDetach { terminal } => {
                    let result = self.detach(&terminal).await.map(|()| Reply::Empty);
                    let _ = self.out.send(response(id, result)).await;
                }
                Command::SessionSubscribe { session, after_seq } => {
                    self.subscribe(id, session, after_seq).await;
                }
                Command::SessionUnsubscribe { session } => {
                    let result = self.unsubscribe(&session).await.map(|()| Reply::Empty);
                    let _ = self.out.send(response(id, result)).await;
                }
                Command::RunnerShutdown {} => {
                    // The answer is written before the runner starts stopping: stopping
                    // ends this connection, and the client must learn its request was taken.
                    let (done, written) = oneshot::channel();
                    let _ = self.out.send(response(id, Ok(Reply::Empty))).await;
                    let _ = self.out.send(Out::Flushed(done)).await;
                    let _ = tokio::time::timeout(Duration::from_secs(1), written).await;
                    self.runner.request_shutdown();
                }
                command => {
                    // Other commands run on their own, so a slow one (a search, a compact)
                    // does not hold back the next request's answer.
                    let runner = Arc::clone(&self.runner);
                    let client = self.client.clone();
                    let out = self.out.clone();
                    tokio::spawn(async move {
                        let result = runner.execute(command, &client).await;
                        let _ = out.send(response(id, result)).await;
                    });
                }
            }
        }
    }

    async fn subscribe(&mut self, id: RequestId, session: SessionId, after_seq: Option<u64>) {
        let handle = match self.runner.session(&session) {
            Ok(handle) => handle,
            Err(failure) => {
                let _ = self.out.send(response(id, Err(failure))).await;
                return;
            }
        };
        // Subscribing again replaces the subscription (and its position).
        let _ = self.unsubscribe(&session).await;
        let sub_id = SubscriberId(self.runner.next_subscriber());
        let (tx, mut rx) = mpsc::channel(self.runner.ctx.config.limits.subscriber_queue);
        let Ok(last_seq) = handle
            .ask(|reply| ActorMsg::Subscribe {
                id: sub_id,
                tx,
                after_seq,
                reply,
            })
            .await
        else {
            let _ = self.out.send(response(id, Err(not_found(&session)))).await;
            return;
        };
        // The `ok` is queued before the forwarder starts, so it precedes every event.
        let ok = Reply::Subscribed {
            session: session.clone(),
            last_seq,
        };
        let _ = self.out.send(response(id, Ok(ok))).await;
        let out = self.out.clone();
        let forwarder = tokio::spawn(async move {
            while let Some(delivery) = rx.recv().await {
                if out.send(Out::Event(delivery)).await.is_err() {
                    return;
                }
            }
        });
        self.subscriptions.insert(
            session,
            Subscription {
                id: sub_id,
                forwarder,
            },
        );
    }

    async fn unsubscribe(&mut self, session: &SessionId) -> Result<(), Failure> {
        let Some(sub) = self.subscriptions.remove(session) else {
            // Not subscribed: fine, but the session must exist.
            return self.runner.session(session).map(|_| ());
        };
        sub.forwarder.abort();
        let _ = sub.forwarder.await;
        if let Ok(handle) = self.runner.session(session) {
            let _ = handle
                .ask(|reply| ActorMsg::Unsubscribe { id: sub.id, reply })
                .await;
        }
        Ok(())
    }

    async fn close(&mut self) {
        let sessions: Vec<SessionId> = self.subscriptions.keys().cloned().collect();
        for session in sessions {
            let _ = self.unsubscribe(&session).await;
        }
        let terminals: Vec<TerminalId> = self.terminals.keys().cloned().collect();
        for terminal in terminals {
            let _ = self.detach(&terminal).await;
        }
    }

    /// Reads the `len` bytes of a `terminal.input` and queues them for the terminal, in the
    /// order the lines came; the answer follows once they are written. `false` when the
    /// connection broke inside the frame.
    async fn input(
        &mut self,
        reader: &mut AsyncLineReader<BufReader<tokio::net::unix::OwnedReadHalf>>,
        id: RequestId,
        terminal: TerminalId,
        len: u64,
    ) -> bool {
        let mut bytes = Vec::new();
        let read = reader
            .read_raw(len, |chunk| {
                if len > terminal::MAX_INPUT {
                    return Err(());
                }
                bytes.extend_from_slice(chunk);
                Ok(())
            })
            .await;
        match read {
            Err(_) => return false,
            Ok(Err(())) => {
                let message = format!(
                    "terminal.input: {len} bytes is more than the {} a frame may carry; dropped",
                    terminal::MAX_INPUT
                );
                let _ = self
                    .out
                    .send(error_line(Some(id), ErrorCode::TooLarge, message))
                    .await;
                return true;
            }
            Ok(Ok(())) => {}
        }
        match self.runner.terminals.input(&terminal, bytes).await {
            Ok(answer) => {
                let out = self.out.clone();
                tokio::spawn(async move {
                    let result = match answer.await {
                        Ok(result) => result.map(|()| Reply::Empty),
                        Err(_) => Err(terminal::not_found(&terminal)),
                    };
                    let _ = out.send(response(id, result)).await;
                });
            }
            Err(failure) => {
                let _ = self.out.send(response(id, Err(failure))).await;
            }
        }
        true
    }

    async fn attach(&mut self, id: RequestId, terminal: TerminalId, after_offset: Option<u64>) {
        // Attaching again replaces the attachment (and its position).
        let _ = self.detach(&terminal).await;
        let client = self.runner.terminals.next_client();
        let (info, mut attachment) = match self
            .runner
            .terminals
            .attach(&terminal, client, after_offset)
            .await
        {
            Ok(attached) => attached,
            Err(failure) => {
                let _ = self.out.send(response(id, Err(failure))).await;
                return;
            }
        };
        // The `ok` is queued before the forwarder starts, so it precedes every frame.
        let _ = self
            .out
            .send(response(id, Ok(Reply::Terminal { terminal: info })))
            .await;
        let out = self.out.clone();
        let forwarder = tokio::spawn(async move {
            while let Some((event, bytes)) = attachment.rx.recv().await {
                attachment.took.notify_one();
                if out.send(Out::terminal(&event, bytes)).await.is_err() {
                    return;
                }
            }
            let last = std::mem::take(&mut *attachment.last.lock().expect("last lock"));
            for event in last {
                if out.send(Out::terminal(&event, Vec::new())).await.is_err() {
                    return;
                }
            }
        });
        self.terminals.insert(terminal, (client, forwarder));
    }

    async fn detach(&mut self, terminal: &TerminalId) -> Result<(), Failure> {
        let Some((client, forwarder)) = self.terminals.remove(terminal) else {
            return self
                .runner
                .terminals
                .list()
                .iter()
                .any(|t| &t.id == terminal)
                .then_some(())
                .ok_or_else(|| terminal::not_found(terminal));
        };
        forwarder.abort();
        let _ = forwarder.await;
        self.runner.terminals.detach(terminal, client).await;
        Ok(())
    }
}

/// The `len` of a `terminal.input` line that did not decode as a request, so that its
/// bytes can be skipped.
fn announced_len(line: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("type")?.as_str()? != "terminal.input" {
        return None;
    }
    value.get("len")?.as_u64()
}

fn response(id: RequestId, result: Result<Reply, Failure>) -> Out {
    match result {
        Ok(result) => Out::json(&ServerMessage::Ok(OkResponse { id, result })),
        Err((code, message)) => error_line(Some(id), code, message),
    }
}

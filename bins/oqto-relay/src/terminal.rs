//! The `terminal` channel: a WebSocket's terminals, over a runner connection of their own
//! (opened on the first `terminal` frame), so that a terminal's output never waits behind
//! agent events nor they behind it.
//!
//! - Text frames `{"ch":"terminal","msg":M}` carry the runner's `terminal.*` requests, its
//!   replies and its terminal events verbatim, ids included.
//! - Output travels as binary frames ([`TerminalBytes::Output`]): the relay turns each
//!   `terminal.output` header and its raw bytes into one frame. Input travels as binary
//!   frames ([`TerminalBytes::Input`]); the relay writes each as a `terminal.input` raw
//!   frame with the request id `input:<terminal>`. The runner's `ok` to it is dropped (one
//!   per keystroke would double the traffic); an `error` (e.g. `terminal_not_found`) comes
//!   back on the channel with that id, so the client knows which terminal it was about.
//!
//! Flow control: the runner's lines go to the socket's writer through a small queue
//! ([`QUEUE`] frames of at most 16 KiB of output each). A tab that reads slowly fills it,
//! the relay stops reading this runner connection, the runner's queues fill, and the
//! runner stops reading the terminal (its watermarks) or detaches this tab after 5 s
//! (`terminal.detached`); other tabs have their own connections and go on. The relay
//! holds at most [`QUEUE`] output frames per WebSocket, whatever the program writes.

use oqto_client::RawClient;
use oqto_protocol::{
    ErrorCode, ErrorResponse, RequestId, ServerMessage, TerminalBytes, terminal_frame,
};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::server::AppState;
use crate::upstream::{self, Upstream};

/// Frames queued between this WebSocket's terminal connection and its writer.
pub const QUEUE: usize = 8;
/// Lines (and input frames) queued for the runner.
const IN_QUEUE: usize = 32;
/// The request id prefix of the relay's `terminal.input` requests.
const INPUT_ID: &str = "input:";

/// A line for the runner, with the raw bytes it announces.
#[derive(Debug)]
enum ToRunner {
    Line(String),
    Input(String, Vec<u8>),
}

/// A WebSocket's terminal connection, opened on first use and again after the runner
/// went away.
#[derive(Debug, Default)]
pub struct Terminals {
    to_runner: Option<mpsc::Sender<ToRunner>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// A line the runner connection's queue had no room for: the WebSocket reads nothing
    /// more until [`Terminals::flush`] has queued it, and goes on writing meanwhile.
    pending: Option<ToRunner>,
}

impl Drop for Terminals {
    fn drop(&mut self) {
        // Closing the runner connection detaches this WebSocket from its terminals; the
        // terminals go on.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What the relay needs to know about a line.
#[derive(Deserialize)]
struct Peek {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    id: Option<RequestId>,
    #[serde(default)]
    terminal: Option<String>,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    len: Option<u64>,
}

fn peek(line: &str) -> Option<Peek> {
    serde_json::from_str(line).ok()
}

/// An error on the terminal channel, in the runner's error shape.
fn error_frame(id: Option<RequestId>, code: ErrorCode, message: &str) -> String {
    terminal_frame(&ServerMessage::Error(ErrorResponse::new(id, code, message)).to_line())
}

impl Terminals {
    /// Forwards a client's `terminal.*` request (one line). `Err` is a frame to answer
    /// with.
    pub async fn request(
        &mut self,
        state: &AppState,
        line: String,
        out: &mpsc::Sender<Upstream>,
    ) -> Result<(), String> {
        let Some(peeked) = peek(&line) else {
            return Err(error_frame(
                None,
                ErrorCode::BadRequest,
                "the message is not a JSON object",
            ));
        };
        let kind = peeked.kind.unwrap_or_default();
        if !kind.starts_with("terminal.") {
            return Err(error_frame(
                peeked.id,
                ErrorCode::BadRequest,
                &format!("the terminal channel carries terminal.* requests, not `{kind}`"),
            ));
        }
        if kind == "terminal.input" {
            return Err(error_frame(
                peeked.id,
                ErrorCode::BadRequest,
                "send input as a binary frame (0x02, id length, id, bytes), not terminal.input",
            ));
        }
        if peeked
            .id
            .as_ref()
            .is_some_and(|id| id.0.starts_with(INPUT_ID))
        {
            return Err(error_frame(
                peeked.id,
                ErrorCode::BadRequest,
                "request ids starting with `input:` are the relay's own",
            ));
        }
        let id = peeked.id;
        self.send(state, ToRunner::Line(line), out)
            .await
            .map_err(|message| error_frame(id, ErrorCode::RunnerUnavailable, &message))
    }

    /// Forwards a binary frame from the client: a terminal's input. `Err` is a frame to
    /// answer with.
    pub async fn input(
        &mut self,
        state: &AppState,
        frame: &[u8],
        out: &mpsc::Sender<Upstream>,
    ) -> Result<(), String> {
        let (terminal, bytes) = match TerminalBytes::decode(frame) {
            Ok(TerminalBytes::Input { terminal, bytes }) => (terminal, bytes),
            Ok(TerminalBytes::Output { .. }) => {
                return Err(crate::ws::relay_error(
                    ErrorCode::BadRequest,
                    "an output frame (0x01) from a client; input frames start with 0x02",
                ));
            }
            Err(e) => return Err(crate::ws::relay_error(e.code, &e.message)),
        };
        let id = RequestId(format!("{INPUT_ID}{terminal}"));
        let header = serde_json::json!({
            "id": id,
            "type": "terminal.input",
            "terminal": terminal,
            "len": bytes.len(),
        })
        .to_string();
        self.send(state, ToRunner::Input(header, bytes.to_vec()), out)
            .await
            .map_err(|message| error_frame(Some(id), ErrorCode::RunnerUnavailable, &message))
    }

    /// Sends to the runner, connecting first when there is no live connection.
    async fn send(
        &mut self,
        state: &AppState,
        item: ToRunner,
        out: &mpsc::Sender<Upstream>,
    ) -> Result<(), String> {
        if self.to_runner.as_ref().is_none_or(mpsc::Sender::is_closed) {
            let client = upstream::connect(&state.runner)
                .await
                .map_err(|e| format!("cannot reach the runner: {e}"))?;
            let (tx, rx) = mpsc::channel(IN_QUEUE);
            if let Some(old) = self
                .task
                .replace(tokio::spawn(run(client, rx, out.clone())))
            {
                old.abort();
            }
            self.to_runner = Some(tx);
        }
        let tx = self.to_runner.as_ref().expect("connected above");
        match tx.try_send(item) {
            Ok(()) => Ok(()),
            // The runner is slow to read: the WebSocket stops reading until the line is
            // queued (backpressure reaches the client), but not writing, since the
            // runner may be waiting for this socket to take its output first.
            Err(mpsc::error::TrySendError::Full(item)) => {
                self.pending = Some(item);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err("the runner connection ended; its terminals are gone".to_owned())
            }
        }
    }

    /// Whether a line waits for room in the runner connection's queue.
    pub fn blocked(&self) -> bool {
        self.pending.is_some()
    }

    /// Queues the waiting line once there is room (never completes when none waits). A
    /// connection that ended meanwhile drops it: the client was told the runner is gone.
    pub async fn flush(&mut self) {
        let (Some(tx), Some(_)) = (&self.to_runner, &self.pending) else {
            return std::future::pending().await;
        };
        let permit = tx.reserve().await;
        if let (Ok(permit), Some(item)) = (permit, self.pending.take()) {
            permit.send(item);
        }
        self.pending = None;
    }
}

/// Moves lines both ways until the WebSocket drops its side or the runner goes away.
async fn run(client: RawClient, mut lines: mpsc::Receiver<ToRunner>, out: mpsc::Sender<Upstream>) {
    let RawClient {
        mut sender,
        mut receiver,
        ..
    } = client;
    let reader_out = out.clone();
    let mut reader = AbortOnDrop(tokio::spawn(async move {
        loop {
            let line = match receiver.next_line().await {
                Ok(Some(line)) => line,
                Ok(None) => return Some("the runner closed the connection".to_owned()),
                Err(e) => return Some(e.to_string()),
            };
            let peeked = peek(&line);
            let kind = peeked.as_ref().and_then(|p| p.kind.as_deref());
            let frame = match (kind, peeked.as_ref()) {
                (Some("terminal.output"), Some(p)) => {
                    let bytes = match receiver.next_bytes(p.len.unwrap_or(0)).await {
                        Ok(bytes) => bytes,
                        Err(e) => return Some(e.to_string()),
                    };
                    let Some(terminal) = p.terminal.as_deref().filter(|t| !t.is_empty()) else {
                        continue;
                    };
                    Upstream::Binary(
                        TerminalBytes::Output {
                            terminal,
                            offset: p.offset.unwrap_or(0),
                            bytes: &bytes,
                        }
                        .encode(),
                    )
                }
                // The runner's `ok` to each input frame: the client did not ask for it.
                (Some("ok"), Some(p))
                    if p.id.as_ref().is_some_and(|id| id.0.starts_with(INPUT_ID)) =>
                {
                    continue;
                }
                _ => Upstream::Frame(terminal_frame(&line)),
            };
            if reader_out.send(frame).await.is_err() {
                return None;
            }
        }
    }));
    let why = loop {
        tokio::select! {
            ended = &mut reader.0 => break ended.ok().flatten(),
            item = lines.recv() => {
                let sent = match item {
                    Some(ToRunner::Line(line)) => sender.send_line(&line).await,
                    Some(ToRunner::Input(header, bytes)) => sender.send_frame(&header, &bytes).await,
                    None => return,
                };
                if let Err(e) = sent {
                    break Some(e.to_string());
                }
            }
        }
    };
    drop(reader);
    let Some(why) = why else { return };
    tracing::warn!(why, "lost the runner's terminal connection");
    let _ = out
        .send(Upstream::Frame(error_frame(
            None,
            ErrorCode::RunnerUnavailable,
            &format!(
                "lost the runner ({why}): its terminals ended; the next terminal request connects again"
            ),
        )))
        .await;
}

/// A task that ends when its handle is dropped (also when the task holding it is aborted).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

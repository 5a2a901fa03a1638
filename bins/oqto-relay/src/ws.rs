//! One WebSocket (one browser tab or remote client): the envelope's channels, the relay's
//! hello/welcome, ping/pong and typed errors. Bad frames are answered and the connection
//! lives; only a close, a dead peer (silent for three ping intervals), a protocol
//! mismatch or the relay's shutdown end it.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures_util::{SinkExt, StreamExt};
use oqto_protocol::{
    Channel, ErrorCode, Frame, PROTOCOL_VERSION, RelayMessage, RelayWelcome, ServerMessage,
};
use tokio::sync::mpsc;

use crate::files::Files;
use crate::server::AppState;
use crate::terminal::{self, Terminals};
use crate::upstream::{self, Upstream};

/// Frames queued for the socket's writer. A full queue stops reading the runner.
const OUT_QUEUE: usize = 256;
/// Frames written to the socket before one flush, at most.
const WRITE_BATCH: usize = 64;
/// Lines queued for the runner.
const IN_QUEUE: usize = 64;

/// Serves one upgraded WebSocket until it ends.
pub async fn serve(socket: WebSocket, state: Arc<AppState>) {
    let _alive = state.connections.clone();
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Upstream>(OUT_QUEUE);
    // Terminal frames have their own small queue (a few frames, not the agent queue's 256).
    let (term_tx, mut term_rx) = mpsc::channel::<Upstream>(terminal::QUEUE);
    let mut shutdown = state.shutdown.clone();
    let interval = state.config.ping_interval;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut heard = Instant::now();
    let mut to_runner: Option<mpsc::Sender<String>> = None;
    let mut upstream_task: Option<tokio::task::JoinHandle<()>> = None;
    let mut welcomed = false;
    let mut files = Files::default();
    let mut terminals = Terminals::default();

    let close = loop {
        tokio::select! {
            // While a terminal line waits for the runner, read nothing more (and keep
            // writing: the runner may wait for this socket to take its output first).
            () = terminals.flush(), if terminals.blocked() => {}
            incoming = stream.next(), if !terminals.blocked() => {
                let Some(Ok(message)) = incoming else { break None };
                heard = Instant::now();
                let reply = match message {
                    Message::Text(text) => on_text(
                        &text, &state, &out_tx, &mut to_runner, &mut upstream_task, &mut files,
                        (&mut terminals, &term_tx),
                    ).await,
                    Message::Binary(bytes) => on_binary(
                        &bytes, &state, to_runner.is_some(), &mut files, (&mut terminals, &term_tx),
                    ).await.map_err(Answer::from),
                    Message::Close(_) => break None,
                    Message::Ping(_) | Message::Pong(_) => Ok(()),
                };
                if let Err(Answer { frame, close }) = reply {
                    if send(&mut sink, frame).await.is_err() {
                        break None;
                    }
                    if close {
                        break Some(close_code::PROTOCOL);
                    }
                }
            }
            item = out_rx.recv() => {
                let Some(item) = item else { continue };
                if write_batch(&mut sink, item, &mut out_rx, &state, &mut welcomed).await.is_err() {
                    break None;
                }
            }
            item = term_rx.recv() => {
                let Some(item) = item else { continue };
                if write_batch(&mut sink, item, &mut term_rx, &state, &mut welcomed).await.is_err() {
                    break None;
                }
            }
            _ = ticker.tick() => {
                if heard.elapsed() >= interval * 3 {
                    tracing::info!("dropping a client silent for three ping intervals");
                    break Some(close_code::AWAY);
                }
                if send(&mut sink, RelayMessage::Ping {}.to_frame()).await.is_err() {
                    break None;
                }
            }
            _ = shutdown.changed() => break Some(close_code::AWAY),
        }
    };
    if let Some(code) = close {
        let stopping = *state.shutdown.borrow();
        close_with(&mut sink, code, stopping).await;
    }
    // Nothing reads these any more: senders stop at once instead of waiting.
    drop(out_rx);
    drop(to_runner);
    drop(files);
    drop(terminals);
    if let Some(task) = upstream_task {
        let _ = task.await;
    }
    tracing::debug!(welcomed, "websocket closed");
}

/// Sends a close frame with `code`.
async fn close_with(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    code: u16,
    stopping: bool,
) {
    let reason = if stopping {
        "the relay is stopping"
    } else {
        "closing"
    };
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        })))
        .await;
}

/// Writes `item` and whatever else `queue` holds already (up to [`WRITE_BATCH`] items)
/// with one flush: one syscall for a burst of events instead of one per frame.
async fn write_batch(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    item: Upstream,
    queue: &mut mpsc::Receiver<Upstream>,
    state: &AppState,
    welcomed: &mut bool,
) -> Result<(), axum::Error> {
    let mut next = Some(item);
    let mut fed = 0;
    while let Some(item) = next.take() {
        feed(sink, item, state, welcomed).await?;
        fed += 1;
        if fed < WRITE_BATCH {
            next = queue.try_recv().ok();
        }
    }
    sink.flush().await
}

/// Feeds one item to the socket: a text frame, a binary frame, or a files `data` header
/// and its bytes back to back.
async fn feed(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    item: Upstream,
    state: &AppState,
    welcomed: &mut bool,
) -> Result<(), axum::Error> {
    let message = match item {
        Upstream::Frame(frame) => Message::Text(frame.into()),
        Upstream::Binary(bytes) => Message::Binary(bytes.into()),
        Upstream::Data(frame, bytes) => {
            sink.feed(Message::Text(frame.into())).await?;
            Message::Binary(bytes.into())
        }
        Upstream::Welcome(line) => Message::Text(
            if let Some(w) = welcome(state, &line) {
                *welcomed = true;
                RelayMessage::Welcome(w).to_frame()
            } else {
                relay_error(
                    ErrorCode::Internal,
                    "the runner's first line was not a welcome",
                )
            }
            .into(),
        ),
    };
    sink.feed(message).await
}

async fn send(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    frame: String,
) -> Result<(), axum::Error> {
    sink.send(Message::Text(frame.into())).await
}

/// A `relay` channel error frame.
pub fn relay_error(code: ErrorCode, message: &str) -> String {
    RelayMessage::error(code, message).to_frame()
}

/// A frame to answer with, and whether the connection ends after it (a protocol
/// mismatch).
struct Answer {
    frame: String,
    close: bool,
}

impl From<String> for Answer {
    fn from(frame: String) -> Self {
        Answer {
            frame,
            close: false,
        }
    }
}

impl From<RelayMessage> for Answer {
    fn from(msg: RelayMessage) -> Self {
        let close = matches!(&msg, RelayMessage::Error(e) if e.code == ErrorCode::ProtocolMismatch);
        Answer {
            frame: msg.to_frame(),
            close,
        }
    }
}

/// Handles a text frame; `Err` is what to answer with.
async fn on_text(
    text: &str,
    state: &Arc<AppState>,
    out: &mpsc::Sender<Upstream>,
    to_runner: &mut Option<mpsc::Sender<String>>,
    upstream_task: &mut Option<tokio::task::JoinHandle<()>>,
    files: &mut Files,
    (terminals, term_out): (&mut Terminals, &mpsc::Sender<Upstream>),
) -> Result<(), Answer> {
    if text.len() > state.config.max_frame {
        return Err(Answer::from(relay_error(
            ErrorCode::TooLarge,
            &format!(
                "a frame of {} bytes; the limit is {}",
                text.len(),
                state.config.max_frame
            ),
        )));
    }
    let frame = Frame::parse(text).map_err(|e| Answer::from(RelayMessage::Error(e)))?;
    if frame.ch == Channel::Files {
        if to_runner.is_none() {
            return Err(Answer::from(relay_error(
                ErrorCode::BadRequest,
                "send the relay hello before files messages",
            )));
        }
        let root = frame.root.clone().unwrap_or_default();
        let line = one_line(frame.msg.get()).map_err(Answer::from)?;
        return files
            .send(&state.runner, &root, line, out)
            .await
            .map_err(Answer::from);
    }
    if frame.ch == Channel::Terminal {
        if to_runner.is_none() {
            return Err(Answer::from(relay_error(
                ErrorCode::BadRequest,
                "send the relay hello before terminal messages",
            )));
        }
        let line = one_line(frame.msg.get()).map_err(Answer::from)?;
        return terminals
            .request(state, line, term_out)
            .await
            .map_err(Answer::from);
    }
    on_frame(&frame, state, out, to_runner, upstream_task)
        .await
        .map_err(Answer::from)
}

/// Handles a binary frame: the bytes of a pending `upload.chunk`, else a terminal's input.
/// `Err` is a frame to answer with.
async fn on_binary(
    bytes: &[u8],
    state: &AppState,
    greeted: bool,
    files: &mut Files,
    (terminals, term_out): (&mut Terminals, &mpsc::Sender<Upstream>),
) -> Result<(), String> {
    if bytes.len() > state.config.max_frame {
        return Err(relay_error(
            ErrorCode::TooLarge,
            &format!(
                "a binary frame of {} bytes; the limit is {}",
                bytes.len(),
                state.config.max_frame
            ),
        ));
    }
    if files.awaiting_bytes() {
        return files.bytes(bytes).await;
    }
    if !greeted {
        return Err(relay_error(
            ErrorCode::BadRequest,
            "a binary frame where a text frame was expected",
        ));
    }
    terminals.input(state, bytes, term_out).await
}

/// The message as one line: a message written over several lines is made compact.
fn one_line(raw: &str) -> Result<String, String> {
    if raw.contains(['\n', '\r']) {
        serde_json::from_str::<serde_json::Value>(raw)
            .map(|v| v.to_string())
            .map_err(|e| relay_error(ErrorCode::BadRequest, &e.to_string()))
    } else {
        Ok(raw.to_owned())
    }
}

/// Handles a `relay`, `agent` or `terminal` frame; `Err` is the relay message to answer
/// with.
async fn on_frame(
    frame: &Frame<'_>,
    state: &Arc<AppState>,
    out: &mpsc::Sender<Upstream>,
    to_runner: &mut Option<mpsc::Sender<String>>,
    upstream_task: &mut Option<tokio::task::JoinHandle<()>>,
) -> Result<(), RelayMessage> {
    match frame.ch {
        Channel::Relay => match RelayMessage::from_raw(frame.msg).map_err(RelayMessage::Error)? {
            RelayMessage::Hello(hello) => {
                if hello.protocol != PROTOCOL_VERSION {
                    return Err(RelayMessage::error(
                        ErrorCode::ProtocolMismatch,
                        format!(
                            "this relay speaks protocol {PROTOCOL_VERSION}, the client {}",
                            hello.protocol
                        ),
                    ));
                }
                if to_runner.is_some() {
                    return Err(RelayMessage::error(
                        ErrorCode::BadRequest,
                        "hello was sent already",
                    ));
                }
                tracing::info!(client = %hello.client, "client said hello");
                let (tx, rx) = mpsc::channel(IN_QUEUE);
                *to_runner = Some(tx);
                let state = state.clone();
                let out = out.clone();
                *upstream_task = Some(tokio::spawn(async move {
                    upstream::run(&state.runner, rx, out).await;
                }));
                Ok(())
            }
            RelayMessage::Ping {} => Err(RelayMessage::Pong {}),
            RelayMessage::Pong {} => Ok(()),
            RelayMessage::Welcome(_) | RelayMessage::Error(_) => Err(RelayMessage::error(
                ErrorCode::BadRequest,
                "a client sends hello, ping or pong on the relay channel",
            )),
        },
        Channel::Agent => {
            let Some(tx) = to_runner else {
                return Err(RelayMessage::error(
                    ErrorCode::BadRequest,
                    "send the relay hello before agent messages",
                ));
            };
            let Ok(line) = one_line(frame.msg.get()) else {
                return Err(RelayMessage::error(
                    ErrorCode::BadRequest,
                    "the message is not valid JSON",
                ));
            };
            // Terminal bytes travel as binary frames; terminals have their own channel.
            if upstream::is_terminal_command(&line) {
                return Err(RelayMessage::error(
                    ErrorCode::BadRequest,
                    "terminal requests go on the `terminal` channel",
                ));
            }
            // Waits when the runner is slow to read: backpressure reaches the client.
            tx.send(line).await.map_err(|_| {
                RelayMessage::error(ErrorCode::RunnerUnavailable, "the runner connection ended")
            })
        }
        Channel::Files | Channel::Terminal => Err(RelayMessage::error(
            ErrorCode::Internal,
            format!("the `{}` channel was not routed", frame.ch.name()),
        )),
    }
}

/// The relay's welcome around the runner's.
fn welcome(state: &AppState, line: &str) -> Option<RelayWelcome> {
    match ServerMessage::parse(line) {
        Ok(ServerMessage::Welcome(runner)) => Some(RelayWelcome {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            user: state.user.clone(),
            runner,
            channels: Channel::ALL.iter().map(|c| c.name().to_owned()).collect(),
            max_frame: state.config.max_frame as u64,
            ping_interval_ms: u64::try_from(state.config.ping_interval.as_millis())
                .unwrap_or(u64::MAX),
        }),
        _ => None,
    }
}

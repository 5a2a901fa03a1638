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

use crate::server::AppState;
use crate::upstream::{self, Upstream};

/// Frames queued for the socket's writer. A full queue stops reading the runner.
const OUT_QUEUE: usize = 256;
/// Lines queued for the runner.
const IN_QUEUE: usize = 64;

/// Serves one upgraded WebSocket until it ends.
pub async fn serve(socket: WebSocket, state: Arc<AppState>) {
    let _alive = state.connections.clone();
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Upstream>(OUT_QUEUE);
    let mut shutdown = state.shutdown.clone();
    let interval = state.config.ping_interval;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut heard = Instant::now();
    let mut to_runner: Option<mpsc::Sender<String>> = None;
    let mut upstream_task: Option<tokio::task::JoinHandle<()>> = None;
    let mut welcomed = false;

    let close = loop {
        tokio::select! {
            incoming = stream.next() => {
                let Some(Ok(message)) = incoming else { break None };
                heard = Instant::now();
                let reply = match message {
                    Message::Text(text) => on_text(
                        &text, &state, &out_tx, &mut to_runner, &mut upstream_task,
                    ).await,
                    Message::Binary(_) => Err(RelayMessage::error(
                        ErrorCode::BadRequest,
                        "a binary frame where a text frame was expected",
                    )),
                    Message::Close(_) => break None,
                    Message::Ping(_) | Message::Pong(_) => Ok(()),
                };
                match reply {
                    Ok(()) => {}
                    Err(RelayMessage::Error(err)) if err.code == ErrorCode::ProtocolMismatch => {
                        let _ = send(&mut sink, RelayMessage::Error(err).to_frame()).await;
                        break Some(close_code::PROTOCOL);
                    }
                    Err(msg) => {
                        if send(&mut sink, msg.to_frame()).await.is_err() {
                            break None;
                        }
                    }
                }
            }
            item = out_rx.recv() => {
                let frame = match item {
                    Some(Upstream::Frame(frame)) => frame,
                    Some(Upstream::Welcome(line)) => if let Some(w) = welcome(&state, &line) {
                        welcomed = true;
                        RelayMessage::Welcome(w).to_frame()
                    } else {
                        RelayMessage::error(
                            ErrorCode::Internal,
                            "the runner's first line was not a welcome",
                        ).to_frame()
                    },
                    None => continue,
                };
                if send(&mut sink, frame).await.is_err() {
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
        let reason = if *state.shutdown.borrow() {
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
    drop(to_runner);
    if let Some(task) = upstream_task {
        let _ = task.await;
    }
    tracing::debug!(welcomed, "websocket closed");
}

async fn send(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    frame: String,
) -> Result<(), axum::Error> {
    sink.send(Message::Text(frame.into())).await
}

/// Handles a text frame; `Err` is the relay message to answer with.
async fn on_text(
    text: &str,
    state: &Arc<AppState>,
    out: &mpsc::Sender<Upstream>,
    to_runner: &mut Option<mpsc::Sender<String>>,
    upstream_task: &mut Option<tokio::task::JoinHandle<()>>,
) -> Result<(), RelayMessage> {
    if text.len() > state.config.max_frame {
        return Err(RelayMessage::error(
            ErrorCode::TooLarge,
            format!(
                "a frame of {} bytes; the limit is {}",
                text.len(),
                state.config.max_frame
            ),
        ));
    }
    let frame = Frame::parse(text).map_err(RelayMessage::Error)?;
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
            let raw = frame.msg.get();
            // The runner reads lines: a message written over several lines is made compact.
            let line = if raw.contains(['\n', '\r']) {
                serde_json::from_str::<serde_json::Value>(raw)
                    .map(|v| v.to_string())
                    .map_err(|e| RelayMessage::error(ErrorCode::BadRequest, e.to_string()))?
            } else {
                raw.to_owned()
            };
            // Waits when the runner is slow to read: backpressure reaches the client.
            tx.send(line).await.map_err(|_| {
                RelayMessage::error(ErrorCode::RunnerUnavailable, "the runner connection ended")
            })
        }
        Channel::Files | Channel::Terminal => Err(RelayMessage::error(
            ErrorCode::Unsupported,
            format!(
                "this relay does not carry the `{}` channel yet",
                frame.ch.name()
            ),
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
            channels: vec![Channel::Relay.name().into(), Channel::Agent.name().into()],
            max_frame: state.config.max_frame as u64,
            ping_interval_ms: u64::try_from(state.config.ping_interval.as_millis())
                .unwrap_or(u64::MAX),
        }),
        _ => None,
    }
}

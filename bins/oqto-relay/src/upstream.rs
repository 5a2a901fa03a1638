//! The relay's side of the runner: one raw connection per WebSocket, started on demand,
//! and reconnected after the runner went away. Lines from the runner go to the socket's
//! writer verbatim inside `agent` frames; a full writer queue stops the reading, so a
//! slow tab makes the runner's own bounded queue fill and send `resync`: the relay never
//! buffers without bound.

use std::time::Duration;

use oqto_client::{Error, RawClient, Runner};
use oqto_protocol::{ErrorCode, RelayMessage, agent_frame};
use tokio::sync::mpsc;

/// Connects to the runner, starting one when none answers (and `runner.autostart`).
pub async fn connect(runner: &Runner) -> Result<RawClient, Error> {
    match connect_existing(runner).await {
        Err(e) if e.is_absent() && runner.autostart => {
            runner.start().await?;
            connect_existing(runner).await
        }
        other => other,
    }
}

/// Connects to the runner on its socket, or to the one holding its data directory.
pub async fn connect_existing(runner: &Runner) -> Result<RawClient, Error> {
    match RawClient::connect(runner.socket(), &runner.client).await {
        Err(e) if e.is_absent() => {
            let dir = runner.config.paths.data_dir.clone();
            let holder = tokio::task::spawn_blocking(move || oqto_config::holder(&dir))
                .await
                .ok()
                .flatten();
            match holder {
                Some(h) if h.socket != runner.socket() => {
                    RawClient::connect(&h.socket, &runner.client).await
                }
                _ => Err(e),
            }
        }
        other => other,
    }
}

/// What the upstream task tells the connection.
#[derive(Debug)]
pub enum Upstream {
    /// Connected (again): the runner's welcome line.
    Welcome(String),
    /// A text frame to send as it is.
    Frame(String),
    /// A text frame and the binary frame that must follow it at once (a file server's
    /// `data` header and its bytes).
    Data(String, Vec<u8>),
    /// A binary frame (a terminal's output).
    Binary(Vec<u8>),
}

/// Keeps one runner connection for a WebSocket until `lines` closes: forwards each
/// client line to the runner and each runner line back as an `agent` frame. When the
/// runner goes away, says so with a `runner_unavailable` error and connects again with a
/// growing pause (50 ms up to 2 s); a line sent meanwhile is answered with that error.
pub async fn run(runner: &Runner, mut lines: mpsc::Receiver<String>, out: mpsc::Sender<Upstream>) {
    let mut delay = Duration::from_millis(50);
    let mut told_down = false;
    loop {
        let client = tokio::select! {
            c = connect(runner) => c,
            () = out.closed() => return,
        };
        let client = match client {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach the runner");
                if !told_down {
                    told_down = true;
                    let err = RelayMessage::error(
                        ErrorCode::RunnerUnavailable,
                        format!("cannot reach the runner: {e}; retrying"),
                    );
                    if out.send(Upstream::Frame(err.to_frame())).await.is_err() {
                        return;
                    }
                }
                // Lines sent while the runner is down are refused, not queued.
                let pause = tokio::time::sleep(delay);
                tokio::pin!(pause);
                loop {
                    tokio::select! {
                        () = &mut pause => break,
                        line = lines.recv() => match line {
                            Some(line) => refuse(&out, &line).await,
                            None => return,
                        },
                    }
                }
                delay = (delay * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        delay = Duration::from_millis(50);
        let RawClient {
            welcome,
            mut sender,
            mut receiver,
        } = client;
        if out.send(Upstream::Welcome(welcome)).await.is_err() {
            return;
        }
        let reader_out = out.clone();
        let mut reader = tokio::spawn(async move {
            loop {
                match receiver.next_line().await {
                    Ok(Some(line)) if is_raw_header(&line).is_some() => {
                        // Raw bytes follow (a terminal's output, which has its own
                        // connection and channel): read them to stay in step, and drop
                        // them.
                        let len = is_raw_header(&line).unwrap_or(0);
                        if let Err(e) = receiver.next_bytes(len).await {
                            return Some(e.to_string());
                        }
                        tracing::debug!(len, "dropped raw bytes from the runner");
                    }
                    Ok(Some(line)) => {
                        if reader_out
                            .send(Upstream::Frame(agent_frame(&line)))
                            .await
                            .is_err()
                        {
                            return None;
                        }
                    }
                    Ok(None) => return Some("the runner closed the connection".to_owned()),
                    Err(e) => return Some(e.to_string()),
                }
            }
        });
        let why = loop {
            tokio::select! {
                ended = &mut reader => break ended.ok().flatten(),
                line = lines.recv() => {
                    let Some(line) = line else {
                        reader.abort();
                        return;
                    };
                    if let Err(e) = sender.send_line(&line).await {
                        break Some(e.to_string());
                    }
                }
            }
        };
        reader.abort();
        let Some(why) = why else { return };
        tracing::warn!(why, "lost the runner; reconnecting");
        // Already said below; a failed reconnect says nothing more.
        told_down = true;
        let err = RelayMessage::error(
            ErrorCode::RunnerUnavailable,
            format!("lost the runner ({why}); reconnecting: resubscribe after the next welcome"),
        );
        if out.send(Upstream::Frame(err.to_frame())).await.is_err() {
            return;
        }
    }
}

/// Answers a line that cannot reach the runner, with its request id when readable.
async fn refuse(out: &mpsc::Sender<Upstream>, line: &str) {
    let id = serde_json::from_str::<IdOnly>(line).ok().and_then(|m| m.id);
    let err = RelayMessage::Error(oqto_protocol::ErrorResponse::new(
        id,
        ErrorCode::RunnerUnavailable,
        "the runner is not connected; send again after the next welcome",
    ));
    let _ = out.send(Upstream::Frame(err.to_frame())).await;
}

#[derive(serde::Deserialize)]
struct TypeAndLen {
    #[serde(rename = "type")]
    kind: Option<String>,
    len: Option<u64>,
}

/// The length of the raw bytes that follow `line`, when it is a `terminal.output` header.
fn is_raw_header(line: &str) -> Option<u64> {
    // Most lines are events: a substring scan spares them a second JSON parse.
    if !line.contains("terminal.output") {
        return None;
    }
    let peek: TypeAndLen = serde_json::from_str(line).ok()?;
    (peek.kind.as_deref() == Some("terminal.output")).then_some(peek.len.unwrap_or(0))
}

/// Whether a client line is a `terminal.*` command.
pub fn is_terminal_command(line: &str) -> bool {
    serde_json::from_str::<TypeAndLen>(line)
        .ok()
        .and_then(|p| p.kind)
        .is_some_and(|k| k.starts_with("terminal."))
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: Option<oqto_protocol::RequestId>,
}

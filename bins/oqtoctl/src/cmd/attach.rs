//! `oqtoctl attach ID`: follow a session live. When the runner goes away, reconnect (the
//! runner is started again on demand) and resume after the last seq printed, so the output
//! has no gap and no repeat.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context as _;
use oqto_cli::Exit;
use oqto_protocol::{Command, EventKind, Reply, Role, SessionId, SessionInfo, State, StopReason};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::AttachArgs;
use crate::cmd::prompt::{error_text, turn_status};
use crate::conn::{Conn, Incoming};
use crate::ondemand::Target;
use crate::render::{Output, Printer};

/// How long to keep trying to reach a runner after losing it.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

pub async fn run(args: AttachArgs, target: &Target) -> anyhow::Result<Exit> {
    let stdout = std::io::stdout();
    let is_tty = stdout.is_terminal();
    let mode = args.output.unwrap_or(if is_tty {
        Output::Human
    } else {
        Output::Events
    });
    let mut printer = Printer::new(mode, args.color.enabled(is_tty), stdout.lock());
    let session = SessionId(args.id.clone());
    let mut interrupts =
        signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    // The newest seq printed; `None` until the first event (or the subscribe reply).
    let mut last_seq = args.after_seq;
    let mut conn = target.connect().await?;
    // `--until-idle`: whether a turn is running, and, when the session was at rest at
    // subscribe time, the seq up to which the output is complete.
    let mut working = false;
    loop {
        let reply = conn
            .request(Command::SessionSubscribe {
                session: session.clone(),
                after_seq: last_seq,
            })
            .await?;
        // Events up to here are history (replayed): they neither start nor end a turn.
        let mut live_from = 0;
        if let Reply::Subscribed { last_seq: now, .. } = reply {
            live_from = now;
            if last_seq.is_none() {
                last_seq = Some(now);
            }
        }
        let mut rest_at = None;
        if args.until_idle {
            // Asked after subscribing, so nothing can happen unseen in between: a session
            // that is not working is done once every event up to its `last_seq` is printed.
            if let Some(info) = session_info(&mut conn, &session).await? {
                // A harness that is starting is not at rest either: it ends at `idle`.
                working = matches!(info.state, State::Working | State::Starting);
                if !working {
                    rest_at = Some(info.last_seq);
                }
                if rest_at.is_some_and(|at| last_seq.unwrap_or(0) >= at) {
                    printer.finish()?;
                    return last_turn_status(&mut conn, info, mode).await;
                }
            }
        }
        let lost = loop {
            tokio::select! {
                item = conn.next() => match item {
                    Incoming::Event(event, raw) => {
                        if event.session != session {
                            continue;
                        }
                        last_seq = Some(event.seq);
                        printer.event(&event, &raw)?;
                        if matches!(event.kind, EventKind::SessionDeleted {}) {
                            printer.finish()?;
                            return Ok(Exit::Ok);
                        }
                        if args.until_idle
                            && turn_over(&event, live_from, &mut working, &mut rest_at)
                        {
                            printer.finish()?;
                            return match session_info(&mut conn, &session).await? {
                                Some(info) => last_turn_status(&mut conn, info, mode).await,
                                None => Ok(Exit::Ok),
                            };
                        }
                    }
                    Incoming::Reply(..) | Incoming::Terminal(..) => {}
                    Incoming::Error(err) => tracing::warn!("the runner said: {err}"),
                    Incoming::Closed(why) => break why,
                },
                _ = interrupts.recv() => {
                    printer.finish()?;
                    return Ok(Exit::Ok);
                }
            }
        };
        tracing::info!(
            "lost the runner ({}); reconnecting",
            lost.as_deref().unwrap_or("closed")
        );
        eprintln!("oqtoctl: lost the runner; reconnecting…");
        conn = target.reconnect(RECONNECT_FOR).await?;
    }
}

/// The session as it is now (`None` for a reply of another kind).
async fn session_info(conn: &mut Conn, session: &SessionId) -> anyhow::Result<Option<SessionInfo>> {
    let reply = conn
        .request(Command::SessionGet {
            session: session.clone(),
        })
        .await?;
    Ok(match reply {
        Reply::Session { session: info, .. } => Some(info),
        _ => None,
    })
}

/// `--until-idle`: the exit status `prompt` would have given for the session's last turn,
/// whether attach followed it or it had ended before: 5 when the session (`info`, as it is
/// now) is in `error` or the last answer stopped with an error, 7 when it was aborted,
/// else 0.
async fn last_turn_status(
    conn: &mut Conn,
    info: SessionInfo,
    mode: Output,
) -> anyhow::Result<Exit> {
    if info.state == State::Error {
        let why = info.reason.unwrap_or_else(|| "session error".into());
        return turn_status(None, Some(why), mode);
    }
    // The newest few: a compaction summary (`system`) may follow the last answer.
    let Reply::Messages { messages, .. } = conn
        .request(Command::GetMessages {
            session: info.id,
            before: None,
            limit: Some(LAST_MESSAGES),
        })
        .await?
    else {
        return Ok(Exit::Ok);
    };
    let last = messages.iter().rev().find(|m| m.role != Role::System);
    match last {
        Some(answer) if answer.role == Role::Assistant => {
            let failure =
                (answer.stop_reason == Some(StopReason::Error)).then(|| error_text(answer));
            turn_status(answer.stop_reason, failure, mode)
        }
        _ => Ok(Exit::Ok),
    }
}

/// How many of the newest messages `--until-idle` reads to find the last answer.
const LAST_MESSAGES: u32 = 8;

/// `--until-idle`: whether `event` (just printed) leaves the session at rest with nothing
/// left to print. A turn (or a harness start) that begins live cancels an earlier "at rest".
fn turn_over(
    event: &oqto_protocol::Event,
    live_from: u64,
    working: &mut bool,
    rest_at: &mut Option<u64>,
) -> bool {
    let live = event.seq > live_from;
    match &event.kind {
        EventKind::State {
            state: State::Working | State::Starting,
            ..
        } if live => {
            *working = true;
            *rest_at = None;
            false
        }
        EventKind::State {
            state: State::Idle | State::Stopped | State::Error,
            ..
        } if live && *working => true,
        // A snapshot (the runner lost track of this client) tells the state as of its seq.
        EventKind::Resync { info, .. } if event.seq >= live_from => {
            *working = matches!(info.state, State::Working | State::Starting);
            !*working
        }
        _ => !*working && rest_at.is_some_and(|at| event.seq >= at),
    }
}

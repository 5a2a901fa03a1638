//! `oqtoctl attach ID`: follow a session live. When the runner goes away, reconnect (the
//! runner is started again on demand) and resume after the last seq printed, so the output
//! has no gap and no repeat.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use oqto_cli::{CliError, Exit};
use oqto_protocol::{Command, EventKind, SessionId, State};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::AttachArgs;
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
    let mut working = false;
    loop {
        let reply = conn
            .request(Command::SessionSubscribe {
                session: session.clone(),
                after_seq: last_seq,
            })
            .await?;
        // Events up to here are history (replayed): `--until-idle` waits for a live turn.
        let mut live_from = 0;
        if let oqto_protocol::Reply::Subscribed { last_seq: now, .. } = reply {
            live_from = now;
            if last_seq.is_none() {
                last_seq = Some(now);
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
                        match &event.kind {
                            EventKind::SessionDeleted {} => {
                                printer.finish()?;
                                return Ok(Exit::Ok);
                            }
                            EventKind::State { state: State::Working, .. } if event.seq > live_from => {
                                working = true;
                            }
                            EventKind::State { state: State::Idle | State::Stopped | State::Error, .. }
                                if args.until_idle && working =>
                            {
                                printer.finish()?;
                                return Ok(Exit::Ok);
                            }
                            EventKind::Resync { info, .. } if args.until_idle && event.seq >= live_from => {
                                working = info.state == State::Working;
                            }
                            _ => {}
                        }
                    }
                    Incoming::Reply(..) => {}
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
        conn = reconnect(target).await?;
    }
}

async fn reconnect(target: &Target) -> anyhow::Result<Conn> {
    let give_up = Instant::now() + RECONNECT_FOR;
    let mut delay = Duration::from_millis(50);
    loop {
        match target.connect().await {
            Ok(conn) => return Ok(conn),
            Err(e) if Instant::now() > give_up => {
                return Err(e.context(CliError::new(
                    Exit::RunnerUnreachable,
                    format!("no runner came back within {}s", RECONNECT_FOR.as_secs()),
                )));
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

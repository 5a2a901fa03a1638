//! `oqtoctl prompt`: send a prompt and follow the turn to its end.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use oqto_cli::{CliError, Exit};
use oqto_protocol::{
    Command, ErrorCode, Event, EventKind, Reply, Role, SessionId, SessionInfo, State, StopReason,
};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::PromptArgs;
use crate::cmd::approve::Approver;
use crate::cmd::format_duration;
use crate::conn::{Conn, Incoming, reply_error, runner_gone};
use crate::ondemand::Target;
use crate::render::{Output, Printer};

/// After an abort (Ctrl-C or `--timeout`), how long to wait for the turn to wind down.
const ABORT_GRACE: Duration = Duration::from_secs(5);

pub async fn run(args: PromptArgs, target: &Target) -> anyhow::Result<Exit> {
    let text = prompt_text(&args)?;
    let mut conn = target.connect().await?;
    let (session, after_seq) = if let Some(id) = &args.session {
        (SessionId(id.clone()), None)
    } else {
        let info = create_session(&mut conn, &args, target).await?;
        (info.id, Some(0))
    };
    // One id per invocation: a repeat of this prompt (a retry after a reconnect) is
    // answered by the runner without running it again.
    let client_msg_id = oqto_client::new_client_msg_id().context("making an id for the prompt")?;
    let prompt = Command::Prompt {
        session: session.clone(),
        text,
        images: Vec::new(),
        client_msg_id: Some(client_msg_id),
    };
    if args.detach {
        detach(&mut conn, &session, prompt, target).await?;
        println_out(&session.0)?;
        return Ok(Exit::Ok);
    }
    let reply = conn
        .request(Command::SessionSubscribe {
            session: session.clone(),
            after_seq,
        })
        .await?;
    let stdout = std::io::stdout();
    let is_tty = stdout.is_terminal();
    let mode = args.output.unwrap_or(if is_tty {
        Output::Human
    } else {
        Output::Events
    });
    let mut printer = Printer::new(mode, args.color.enabled(is_tty), stdout.lock());
    let stdin_is_prompt = args.file.is_none() && args.text.as_deref().is_none_or(|t| t == "-");
    let mut approver = Approver::new(args.approve, stdin_is_prompt);
    let mut turn = Turn {
        // Where a resubscription resumes when the connection drops before any event.
        last_seq: after_seq.or(match reply {
            Reply::Subscribed { last_seq, .. } => Some(last_seq),
            _ => None,
        }),
        ..Turn::default()
    };
    let followed = follow(
        &mut conn,
        target,
        &session,
        &prompt,
        args.timeout,
        &mut turn,
        &mut printer,
        &mut approver,
    )
    .await;
    printer.finish()?;
    let ending = followed?;
    match ending {
        Ending::Quit => {
            eprintln!(
                "oqtoctl: quit without waiting; the session is {session} (`oqtoctl session show {session}`)"
            );
            return Ok(Exit::Aborted);
        }
        Ending::UserAbort => return Ok(Exit::Aborted),
        Ending::TimedOut => {
            let after = args.timeout.map(format_duration).unwrap_or_default();
            return Err(CliError::new(
                Exit::Timeout,
                format!("the turn did not finish within {after}; it was aborted"),
            )
            .with_hint(format!(
                "the session is {session}: `oqtoctl messages {session}` shows what was done"
            ))
            .into());
        }
        Ending::Done => {}
    }
    let status = turn_status(turn.stop, turn.failure, mode)?;
    if !approver.refused_by_default.is_empty() && status == Exit::Ok {
        return Err(CliError::new(
            Exit::AgentError,
            format!(
                "refused the agent's permission request{} ({}): nobody could be asked, stdin is not a terminal",
                if approver.refused_by_default.len() == 1 { "" } else { "s" },
                approver.refused_by_default.join("; ")
            ),
        )
        .with_hint("pass --approve all, --approve read-only, or --approve none to refuse without this error")
        .into());
    }
    Ok(status)
}

/// How long `--detach` waits for the turn to show in the session's state.
const DETACH_WAIT: Duration = Duration::from_secs(10);

/// `--detach`: sends the prompt and returns once the turn shows in the session's state
/// (the first `state` event after it), so an `attach --until-idle` started right after
/// follows the turn instead of finding the session still at rest. The harness answers
/// `prompt` just before its turn starts.
async fn detach(
    conn: &mut Conn,
    session: &SessionId,
    prompt: Command,
    target: &Target,
) -> anyhow::Result<()> {
    conn.request(Command::SessionSubscribe {
        session: session.clone(),
        after_seq: None,
    })
    .await?;
    send_once(conn, target, &prompt, Some(session)).await?;
    let started = tokio::time::timeout(DETACH_WAIT, async {
        loop {
            match conn.next().await {
                Incoming::Event(event, _)
                    if &event.session == session
                        && matches!(
                            event.kind,
                            EventKind::State { .. } | EventKind::Resync { .. }
                        ) =>
                {
                    return;
                }
                Incoming::Closed(_) => return,
                _ => {}
            }
        }
    })
    .await;
    if started.is_err() {
        tracing::warn!("the turn did not show within {DETACH_WAIT:?}; detaching anyway");
    }
    Ok(())
}

/// The exit status for a turn that ended: 7 aborted, 5 failed (said on stderr, except in
/// human output, which showed the error already), else 0.
pub fn turn_status(
    stop: Option<StopReason>,
    failure: Option<String>,
    mode: Output,
) -> anyhow::Result<Exit> {
    if stop == Some(StopReason::Aborted) {
        return Ok(Exit::Aborted);
    }
    match failure {
        Some(_) if mode == Output::Human => Ok(Exit::AgentError),
        Some(why) => {
            Err(CliError::new(Exit::AgentError, format!("the agent failed: {why}")).into())
        }
        None => Ok(Exit::Ok),
    }
}

/// Why an assistant message that stopped with an error failed: its error part, if any.
pub fn error_text(message: &oqto_protocol::Message) -> String {
    message
        .parts
        .iter()
        .find_map(|p| match p {
            oqto_protocol::Part::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "the model stopped with an error".into())
}

/// How following a turn ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Done,
    /// Ctrl-C once: aborted, and the turn wound down (or the grace time ran out).
    UserAbort,
    /// Ctrl-C twice.
    Quit,
    TimedOut,
}

/// Sends `command` (a `prompt`, `steer` or `follow_up` with a `client_msg_id`) and waits
/// for its answer. When the connection drops first (the runner or the relay went away),
/// connects again, resubscribes to `resubscribe` (live events) and sends the same command
/// again, up to `RESENDS` times within `RECONNECT_FOR` each: the runner answers a
/// repeat of the id with the first answer, so it is carried out once.
pub async fn send_once(
    conn: &mut Conn,
    target: &Target,
    command: &Command,
    resubscribe: Option<&SessionId>,
) -> anyhow::Result<Reply> {
    debug_assert!(command.client_msg_id().is_some());
    let mut resends = 0;
    loop {
        match conn.request(command.clone()).await {
            Err(e) if connection_lost(&e) && resends < RESENDS => {
                resends += 1;
                eprintln!("oqtoctl: lost the connection ({e}); reconnecting to send again…");
                *conn = target.reconnect(RECONNECT_FOR).await?;
                if let Some(session) = resubscribe {
                    conn.request(Command::SessionSubscribe {
                        session: session.clone(),
                        after_seq: None,
                    })
                    .await?;
                }
            }
            other => return other,
        }
    }
}

/// How many times a send is made again after a lost connection.
const RESENDS: u32 = 10;
/// How long to keep trying to reach the runner (or relay) again after losing it.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// Whether a failed request failed because the connection (or the relay's runner) went
/// away, so sending it again elsewhere may succeed.
fn connection_lost(err: &anyhow::Error) -> bool {
    err.downcast_ref::<CliError>()
        .is_some_and(|c| c.exit == Exit::RunnerUnreachable)
}

/// The runner's pid and start time: tells a runner that was started again from the one
/// that was there (through a relay, the runner behind it).
async fn runner_identity(conn: &mut Conn) -> anyhow::Result<(u32, oqto_protocol::Millis)> {
    match conn.request(Command::RunnerStatus {}).await? {
        Reply::Status { status } => Ok((status.pid, status.started_at)),
        other => anyhow::bail!("unexpected reply to runner.status: {other:?}"),
    }
}

/// Prints the session's events until the turn ends, aborting it on Ctrl-C or at the
/// deadline. When the connection drops before the turn ended, connects again, resumes
/// after the last seq printed and sends the prompt again with its `client_msg_id` (the
/// runner answers a repeat with the first answer: the turn runs once). When the runner
/// itself was restarted after the turn began, the turn died with it: exit 3 as before.
// The turn's connection, its identity, and where its output and answers go: grouping
// them in a struct would only move the list.
#[allow(clippy::too_many_arguments)]
async fn follow(
    conn: &mut Conn,
    target: &Target,
    session: &SessionId,
    prompt: &Command,
    timeout: Option<Duration>,
    turn: &mut Turn,
    printer: &mut Printer<impl std::io::Write>,
    approver: &mut Approver,
) -> anyhow::Result<Ending> {
    let mut asking = Asking::default();
    // Which runner runs the turn: one that was started again meanwhile lost it.
    let runner = runner_identity(conn).await?;
    let mut prompt_id = conn.send(prompt.clone()).await?;
    let mut answered = false;
    let mut resends = 0;
    let mut interrupts =
        signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let never = Duration::from_secs(60 * 60 * 24 * 365);
    let deadline = tokio::time::sleep(timeout.unwrap_or(never));
    tokio::pin!(deadline);
    let mut aborting: Option<Ending> = None;
    while !turn.done {
        tokio::select! {
            item = conn.next() => match item {
                Incoming::Event(event, raw) => {
                    if event.session == *session {
                        turn.observe(&event);
                        printer.event(&event, &raw)?;
                        for (request, option) in asking.observe(&event.kind, approver) {
                            // Another client may have answered first: its `unknown_id`
                            // reply is ignored like every other reply here.
                            conn.send(Command::PermissionReply {
                                session: session.clone(),
                                request,
                                option,
                            })
                            .await?;
                        }
                    }
                }
                Incoming::Reply(id, Err(err)) if id == prompt_id && err.code != ErrorCode::RunnerUnavailable => {
                    return Err(reply_error(&err).into());
                }
                Incoming::Reply(id, Ok(_)) if id == prompt_id => answered = true,
                Incoming::Reply(..) | Incoming::Terminal(..) => {}
                Incoming::Error(err) => tracing::warn!("the runner said: {err}"),
                Incoming::Closed(why) => {
                    if resends == RESENDS || aborting.is_some() {
                        return Err(runner_gone(why.as_deref()).into());
                    }
                    resends += 1;
                    eprintln!(
                        "oqtoctl: lost the connection ({}); reconnecting…",
                        why.as_deref().unwrap_or("closed")
                    );
                    *conn = target.reconnect(RECONNECT_FOR).await?;
                    if (answered || turn.started) && runner_identity(conn).await? != runner {
                        // The runner itself went away: its harness and the turn with it.
                        return Err(runner_gone(why.as_deref())
                            .with_hint(format!(
                                "the runner was restarted and the turn is lost; `oqtoctl messages {session}` shows what was kept"
                            ))
                            .into());
                    }
                    conn.request(Command::SessionSubscribe {
                        session: session.clone(),
                        after_seq: turn.last_seq,
                    })
                    .await?;
                    // Whether or not the first send's answer came: a repeat is answered,
                    // not run again.
                    prompt_id = conn.send(prompt.clone()).await?;
                }
            },
            _ = interrupts.recv() => {
                if aborting == Some(Ending::UserAbort) {
                    return Ok(Ending::Quit);
                }
                aborting = Some(Ending::UserAbort);
                eprintln!("oqtoctl: aborting the turn (Ctrl-C again to quit at once)");
                conn.send(Command::Abort { session: session.clone() }).await?;
                deadline.as_mut().reset(tokio::time::Instant::now() + ABORT_GRACE);
            }
            () = &mut deadline => {
                if aborting.is_some() {
                    // The abort did not wind the turn down in time: stop waiting.
                    break;
                }
                aborting = Some(Ending::TimedOut);
                conn.send(Command::Abort { session: session.clone() }).await?;
                deadline.as_mut().reset(tokio::time::Instant::now() + ABORT_GRACE);
            }
        }
    }
    Ok(settled(turn, aborting))
}

/// How a turn that was asked to abort (`aborting`) really ended: when it finished on its
/// own before the abort reached it (the model's last answer stopped, ran out of tokens, or
/// failed), it is [`Ending::Done`], so the exit status says what happened, not what was
/// asked for.
fn settled(turn: &Turn, aborting: Option<Ending>) -> Ending {
    let own_end = matches!(
        turn.stop,
        Some(StopReason::Stop | StopReason::Length | StopReason::Error)
    );
    match aborting {
        Some(_) if turn.done && own_end => Ending::Done,
        Some(ending) => ending,
        None => Ending::Done,
    }
}

/// Permission requests seen and not resolved yet. A request is answered once the session
/// says it waits for a person (`state working` with phase `awaiting_permission`): one that
/// a policy rule answers is resolved before that, and left alone.
#[derive(Debug, Default)]
struct Asking {
    open: Vec<(
        String,
        oqto_protocol::PermissionTool,
        Vec<oqto_protocol::PermissionOption>,
    )>,
}

impl Asking {
    /// The replies to send after `kind`.
    fn observe(&mut self, kind: &EventKind, approver: &mut Approver) -> Vec<(String, String)> {
        match kind {
            EventKind::PermissionRequest {
                request,
                tool,
                options,
            } => {
                self.open
                    .push((request.clone(), tool.clone(), options.clone()));
                Vec::new()
            }
            EventKind::PermissionResolved { request, .. } => {
                self.open.retain(|(r, ..)| r != request);
                Vec::new()
            }
            EventKind::State {
                phase: Some(oqto_protocol::Phase::AwaitingPermission),
                ..
            } => std::mem::take(&mut self.open)
                .into_iter()
                .filter_map(|(request, tool, options)| {
                    approver.decide(&tool, &options).map(|o| (request, o))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// What the turn has done so far.
#[derive(Debug, Default)]
struct Turn {
    /// The newest seq seen (or subscribed after): where a resubscription resumes.
    last_seq: Option<oqto_protocol::Seq>,
    started: bool,
    done: bool,
    stop: Option<StopReason>,
    failure: Option<String>,
}

impl Turn {
    fn observe(&mut self, event: &Event) {
        self.last_seq = Some(event.seq);
        match &event.kind {
            EventKind::State { state, reason, .. } => match state {
                State::Working => self.started = true,
                State::Idle | State::Stopped if self.started => self.done = true,
                State::Error => {
                    self.failure = Some(reason.clone().unwrap_or_else(|| "session error".into()));
                    self.done = true;
                }
                _ => {}
            },
            EventKind::MessageEnd { message } if message.role == Role::Assistant => {
                self.stop = message.stop_reason;
                if message.stop_reason == Some(StopReason::Error) {
                    self.failure = Some(error_text(message));
                }
            }
            EventKind::Error {
                message,
                recoverable: false,
                ..
            } => self.failure = Some(message.clone()),
            EventKind::SessionDeleted {} => {
                self.failure = Some("the session was deleted".into());
                self.done = true;
            }
            _ => {}
        }
    }
}

async fn create_session(
    conn: &mut Conn,
    args: &PromptArgs,
    target: &Target,
) -> anyhow::Result<SessionInfo> {
    let cwd = runner_dir(&args.cwd, "--cwd", target)?;
    let harness = match &args.harness {
        Some(name) => name.clone(),
        None => default_harness(conn, target),
    };
    let (provider, model) = match args
        .model
        .as_deref()
        .map(|m| m.split_once('/').map_or((None, m), |(p, m)| (Some(p), m)))
    {
        Some((provider, model)) => (provider.map(str::to_owned), Some(model.to_owned())),
        None => (None, None),
    };
    let reply = conn
        .request(Command::SessionCreate {
            harness,
            cwd,
            model,
            provider,
            sandbox_profile: args.sandbox.clone(),
            title: args.title.clone(),
        })
        .await?;
    match reply {
        Reply::Session { session, .. } => Ok(session),
        other => anyhow::bail!("unexpected reply to session.create: {other:?}"),
    }
}

/// The harness the runner announced for sessions that name none (the demo model when pi
/// has no model configured: said on stderr, so a first run shows the whole system working).
pub fn default_harness(conn: &Conn, target: &Target) -> String {
    let welcome = conn.welcome();
    if let Some(note) = &welcome.default_harness_note {
        eprintln!("oqtoctl: {note}");
    }
    welcome
        .default_harness
        .clone()
        .unwrap_or_else(|| target.config.default_harness.clone())
}

/// An existing directory, absolute and without symlinks; errors name it as `what` (the
/// flag or argument it came from, such as `--cwd`).
pub fn canonical_dir(dir: &Path, what: &str) -> anyhow::Result<std::path::PathBuf> {
    let path = std::fs::canonicalize(dir)
        .map_err(|e| CliError::new(Exit::Usage, format!("{what} {}: {e}", dir.display())))?;
    if !path.is_dir() {
        return Err(CliError::new(
            Exit::Usage,
            format!("{what} {}: not a directory", dir.display()),
        )
        .into());
    }
    Ok(path)
}

/// A directory as the runner sees it: here, an existing one made absolute and without
/// symlinks ([`canonical_dir`]); through a relay, a path on the runner's machine, which
/// must be absolute (the runner checks that it exists).
pub fn runner_dir(dir: &Path, what: &str, target: &Target) -> anyhow::Result<String> {
    if target.remote().is_none() {
        return Ok(canonical_dir(dir, what)?.to_string_lossy().into_owned());
    }
    if !dir.is_absolute() {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "{what} {}: through a relay, give an absolute path on the runner's machine",
                dir.display()
            ),
        )
        .into());
    }
    Ok(dir.to_string_lossy().into_owned())
}

/// The prompt from the argument, `--file`, or stdin.
fn prompt_text(args: &PromptArgs) -> anyhow::Result<String> {
    let text = match (&args.text, &args.file) {
        (Some(text), _) if text != "-" => text.clone(),
        (_, Some(file)) => std::fs::read_to_string(file)
            .map_err(|e| CliError::new(Exit::Usage, format!("--file {}: {e}", file.display())))?,
        (Some(_), None) => read_stdin()?,
        (None, None) if !std::io::stdin().is_terminal() => read_stdin()?,
        (None, None) => {
            return Err(CliError::new(Exit::Usage, "no prompt given")
                .with_hint("oqtoctl prompt \"TEXT\", --file FILE, or pipe it in with `-`")
                .into());
        }
    };
    if text.trim().is_empty() {
        return Err(CliError::new(Exit::Usage, "the prompt is empty").into());
    }
    Ok(text)
}

/// All of stdin as text.
pub fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::new(Exit::Usage, format!("reading the prompt from stdin: {e}")))?;
    Ok(text)
}

/// One line of data on stdout.
pub fn println_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_that_finished_before_its_abort_is_done() {
        let turn = |done, stop| Turn {
            last_seq: None,
            started: true,
            done,
            stop,
            failure: None,
        };
        let finished = turn(true, Some(StopReason::Stop));
        assert_eq!(settled(&finished, Some(Ending::TimedOut)), Ending::Done);
        assert_eq!(settled(&finished, Some(Ending::UserAbort)), Ending::Done);
        assert_eq!(settled(&finished, None), Ending::Done);
        let failed = turn(true, Some(StopReason::Error));
        assert_eq!(settled(&failed, Some(Ending::TimedOut)), Ending::Done);
        // Aborted, or stopped between a tool call and its answer: the abort did it.
        let aborted = turn(true, Some(StopReason::Aborted));
        assert_eq!(settled(&aborted, Some(Ending::TimedOut)), Ending::TimedOut);
        let mid_tools = turn(true, Some(StopReason::ToolUse));
        assert_eq!(
            settled(&mid_tools, Some(Ending::UserAbort)),
            Ending::UserAbort
        );
        // Still running when the grace time ran out.
        let running = turn(false, Some(StopReason::Stop));
        assert_eq!(settled(&running, Some(Ending::TimedOut)), Ending::TimedOut);
    }
}

//! `oqtoctl shell`: a terminal the runner owns, attached to this one. Raw mode while
//! attached, the size kept in step (SIGWINCH), the terminal restored on every way out.
//! `Ctrl-]` then `d` detaches and leaves the shell running; `oqtoctl shell --attach ID`
//! comes back to it with its scrollback.

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::Path;

use anyhow::Context as _;
use oqto_cli::{CliError, Exit, PassExit};
use oqto_protocol::{Command, Reply, SessionId, TerminalEvent, TerminalId};
use rustix::termios::{OptionalActions, Termios};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cli::ShellArgs;
use crate::cmd::prompt::runner_dir;
use crate::conn::{Conn, Incoming, runner_gone};
use crate::ondemand::Target;

/// The first key of the detach sequence: `Ctrl-]`.
const ESCAPE: u8 = 0x1d;
/// The second: `d`.
const DETACH: u8 = b'd';

pub async fn run(args: ShellArgs, target: &Target) -> anyhow::Result<Exit> {
    let mut conn = target.connect().await?;
    let tty = std::io::stdin().is_terminal();
    let (cols, rows) = size().unwrap_or((80, 24));
    let terminal = match &args.attach {
        Some(id) => TerminalId(id.clone()),
        None => open(&mut conn, &args, cols, rows, target).await?,
    };
    // From the start of the ring: a terminal attached again shows what it showed.
    let reply = conn
        .request(Command::TerminalAttach {
            terminal: terminal.clone(),
            after_offset: Some(0),
        })
        .await?;
    if let (Some(_), Reply::Terminal { terminal: info }) = (&args.attach, &reply) {
        if tty && (info.cols, info.rows) != (cols, rows) {
            conn.send(Command::TerminalResize {
                terminal: terminal.clone(),
                cols,
                rows,
            })
            .await?;
        }
    }
    let raw = if tty { Some(RawMode::enter()?) } else { None };
    let result = attached(&mut conn, &terminal, tty).await;
    drop(raw);
    match result? {
        End::Detached => {
            eprintln!(
                "oqtoctl: detached from {terminal}; `oqtoctl shell --attach {terminal}` comes back"
            );
            Ok(Exit::Ok)
        }
        // Ends as the program did, like ssh: its code, or 128 + N for signal N.
        End::Exited { code: 0, .. } => Ok(Exit::Ok),
        End::Exited { code, reason } => {
            eprintln!("oqtoctl: {reason}, exit status {code}");
            Err(PassExit(u8::try_from(code).unwrap_or(1)).into())
        }
        End::DetachedByRunner(reason) => Err(CliError::new(
            Exit::Failure,
            format!("the runner detached this client: {reason}"),
        )
        .with_hint(format!("`oqtoctl shell --attach {terminal}` comes back"))
        .into()),
    }
}

async fn open(
    conn: &mut Conn,
    args: &ShellArgs,
    cols: u16,
    rows: u16,
    target: &Target,
) -> anyhow::Result<TerminalId> {
    let (session, cwd) = match (&args.session, &args.cwd) {
        (Some(session), _) => (Some(SessionId(session.clone())), None),
        (None, cwd) => {
            let dir = cwd.as_deref().unwrap_or(Path::new("."));
            (None, Some(runner_dir(dir, "--cwd", target)?))
        }
    };
    let command = (!args.command.is_empty()).then(|| args.command.clone());
    match conn
        .request(Command::TerminalOpen {
            session,
            cwd,
            cols,
            rows,
            command,
        })
        .await?
    {
        Reply::Terminal { terminal } => Ok(terminal.id),
        other => anyhow::bail!("unexpected answer to terminal.open: {other:?}"),
    }
}

/// The window size of this terminal, if it is one.
fn size() -> Option<(u16, u16)> {
    let stdout = std::io::stdout();
    let size = rustix::termios::tcgetwinsize(stdout.as_fd())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin().as_fd()))
        .ok()?;
    (size.ws_col > 0 && size.ws_row > 0).then_some((size.ws_col, size.ws_row))
}

/// This terminal in raw mode until dropped (also when unwinding from a panic).
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> anyhow::Result<Self> {
        let stdin = std::io::stdin();
        let saved =
            rustix::termios::tcgetattr(stdin.as_fd()).context("reading the terminal's mode")?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw)
            .context("setting the terminal to raw mode")?;
        Ok(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ =
            rustix::termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, &self.saved);
    }
}

enum End {
    Detached,
    DetachedByRunner(String),
    Exited { code: i32, reason: String },
}

/// What the keys typed mean: bytes for the program, or the detach sequence.
#[derive(Debug, Default)]
struct Keys {
    escaped: bool,
}

impl Keys {
    /// The bytes to send for `input`, and whether the detach sequence was typed (then the
    /// bytes before it are still sent).
    fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.escaped {
                self.escaped = false;
                match b {
                    DETACH => return (out, true),
                    ESCAPE => out.push(ESCAPE),
                    other => out.extend_from_slice(&[ESCAPE, other]),
                }
            } else if b == ESCAPE {
                self.escaped = true;
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// Reads this process's standard input on a thread of its own (a blocked read must not
/// hold the runtime up at exit); `None` at its end.
fn stdin_chunks() -> mpsc::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let chunk = match std::io::Read::read(&mut stdin, &mut buf) {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(buf[..n].to_vec()),
            };
            let end = chunk.is_none();
            if tx.blocking_send(chunk).is_err() || end {
                return;
            }
        }
    });
    rx
}

async fn attached(conn: &mut Conn, terminal: &TerminalId, tty: bool) -> anyhow::Result<End> {
    let mut input = stdin_chunks();
    let mut input_open = true;
    let mut keys = Keys::default();
    let mut winch =
        signal(SignalKind::window_change()).context("installing the SIGWINCH handler")?;
    let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut stdout = std::io::stdout().lock();
    let mut code = None;
    loop {
        tokio::select! {
            chunk = input.recv(), if input_open => match chunk.flatten() {
                Some(chunk) => {
                    let (bytes, detach) = if tty { keys.feed(&chunk) } else { (chunk, false) };
                    if !bytes.is_empty() {
                        conn.terminal_input(terminal.clone(), &bytes).await?;
                    }
                    if detach {
                        return Ok(End::Detached);
                    }
                }
                // Input ended (a pipe): the program goes on until it exits.
                None => input_open = false,
            },
            _ = winch.recv() => {
                if let Some((cols, rows)) = size() {
                    conn.send(Command::TerminalResize { terminal: terminal.clone(), cols, rows }).await?;
                }
            }
            _ = hangup.recv() => return Ok(End::Detached),
            _ = term.recv() => return Ok(End::Detached),
            item = conn.next() => match item {
                Incoming::Terminal(event, bytes) if event.terminal() == terminal => match event {
                    TerminalEvent::Output { .. } => {
                        stdout.write_all(&bytes)?;
                        stdout.flush()?;
                    }
                    TerminalEvent::Exit { code: c, signal, .. } => {
                        code = Some(c.unwrap_or_else(|| 128 + signal.unwrap_or(0)));
                    }
                    TerminalEvent::Closed { reason, .. } => {
                        return Ok(End::Exited { code: code.unwrap_or(0), reason });
                    }
                    TerminalEvent::Detached { reason, .. } => return Ok(End::DetachedByRunner(reason)),
                    TerminalEvent::Truncated { .. } => {}
                },
                Incoming::Reply(_, Err(err)) => {
                    return Err(crate::conn::reply_error(&err).into());
                }
                Incoming::Closed(why) => return Err(runner_gone(why.as_deref()).into()),
                Incoming::Error(err) => tracing::warn!("the runner said: {err}"),
                Incoming::Terminal(..) | Incoming::Reply(..) | Incoming::Event(..) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_bracket_d_detaches_and_everything_else_passes() {
        let mut keys = Keys::default();
        assert_eq!(keys.feed(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(keys.feed(b"ab\x1d"), (b"ab".to_vec(), false));
        assert_eq!(keys.feed(b"d"), (Vec::new(), true));
        let mut keys = Keys::default();
        // Ctrl-] twice sends one; Ctrl-] then another key sends both.
        assert_eq!(
            keys.feed(b"\x1d\x1dx\x1dq"),
            (b"\x1dx\x1dq".to_vec(), false)
        );
        assert_eq!(keys.feed(b"\x1dd rest"), (Vec::new(), true));
    }
}

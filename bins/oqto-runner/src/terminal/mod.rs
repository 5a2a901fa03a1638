//! Terminals: pseudo-terminals the runner owns, each running a shell (or a command)
//! through `oqto-sandbox` with the policy an agent in the same workspace gets.
//!
//! `mod.rs` holds the table and `terminal.open`; `actor.rs` is the one task per terminal
//! that owns its process, its terminal and its clients; `ring.rs` the scrollback.
//!
//! Flow control, from the program to a client: the actor hands each attached client its
//! output from the ring through a small bounded queue (the connection's forwarder takes
//! from it). While some client is [`HIGH_WATER`] or more bytes behind the newest output,
//! the actor stops reading the terminal, so the program blocks in `write`; it reads again
//! once every client is within [`LOW_WATER`]. A client that takes nothing for
//! [`STALL`] while it holds output back is detached (`terminal.detached`), and the others
//! go on. Memory per terminal: its ring, plus at most [`CLIENT_QUEUE`] frames of at most
//! [`CHUNK`] bytes per client.

mod actor;
mod ring;

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oqto_ipc::spawn::Spawn;
use oqto_protocol::{ErrorCode, SessionId, TerminalEvent, TerminalId, TerminalInfo};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::context::{Context, now_millis};
use crate::runner::Failure;
use crate::sandbox;

/// Largest output frame, and the size of one read from the terminal.
pub const CHUNK: usize = 16 << 10;
/// Frames queued for one client between the actor and the connection.
pub const CLIENT_QUEUE: usize = 16;
/// A client this many bytes behind the newest output (or half the ring, when that is
/// less) pauses reading the terminal…
pub const HIGH_WATER: u64 = 256 << 10;
/// …until every client is within this many (or an eighth of the ring).
pub const LOW_WATER: u64 = 64 << 10;
/// A client that takes no output for this long while it holds output back is detached.
pub const STALL: Duration = Duration::from_secs(5);
/// Input bytes waiting for a program that does not read them; more is refused.
pub const MAX_PENDING_INPUT: usize = 1 << 20;
/// Largest `terminal.input` frame.
pub const MAX_INPUT: u64 = 1 << 20;
/// Largest width or height.
pub const MAX_SIZE: u16 = 4096;

/// What a client's queue carries: an event, and for `terminal.output` its bytes.
pub type Frame = (TerminalEvent, Vec<u8>);

/// A client's side of an attachment: its queue, the last events to send once the queue
/// ends, and the bell to ring whenever it took something.
#[derive(Debug)]
pub struct Attachment {
    pub rx: mpsc::Receiver<Frame>,
    pub last: Arc<Mutex<Vec<TerminalEvent>>>,
    pub took: Arc<Notify>,
}

pub(crate) enum Msg {
    Attach {
        client: u64,
        after_offset: Option<u64>,
        tx: mpsc::Sender<Frame>,
        last: Arc<Mutex<Vec<TerminalEvent>>>,
        reply: oneshot::Sender<Result<TerminalInfo, Failure>>,
    },
    Detach {
        client: u64,
    },
    Input {
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<(), Failure>>,
    },
    Resize {
        cols: u16,
        rows: u16,
        reply: oneshot::Sender<Result<(), Failure>>,
    },
    /// End the program and the terminal; answered once the process tree is gone.
    Close {
        reason: String,
        reply: oneshot::Sender<()>,
    },
}

#[derive(Clone, Debug)]
struct Handle {
    tx: mpsc::Sender<Msg>,
    info: Arc<Mutex<TerminalInfo>>,
    took: Arc<Notify>,
}

/// Every live terminal of this runner.
#[derive(Debug)]
pub struct Terminals {
    table: Arc<Mutex<HashMap<TerminalId, Handle>>>,
    /// Distinguishes this runner's ids from an earlier runner's.
    prefix: String,
    next: AtomicU64,
    next_client: AtomicU64,
    /// Terminals being opened (counted against `max_terminals` with the table's).
    opening: AtomicUsize,
}

impl Default for Terminals {
    fn default() -> Self {
        Self {
            table: Arc::default(),
            prefix: format!("term_{:x}", now_millis()),
            next: AtomicU64::new(1),
            next_client: AtomicU64::new(1),
            opening: AtomicUsize::new(0),
        }
    }
}

/// What `terminal.open` asks for, after its session (if any) was looked up.
#[derive(Debug)]
pub struct OpenSpec {
    pub session: Option<SessionId>,
    pub cwd: PathBuf,
    pub profile: String,
    pub cols: u16,
    pub rows: u16,
    pub command: Option<Vec<String>>,
}

pub fn not_found(id: &TerminalId) -> Failure {
    (
        ErrorCode::TerminalNotFound,
        format!("no terminal `{id}`: it ended, or the runner restarted since"),
    )
}

pub fn check_size(command: &str, cols: u16, rows: u16) -> Result<(), Failure> {
    if (1..=MAX_SIZE).contains(&cols) && (1..=MAX_SIZE).contains(&rows) {
        Ok(())
    } else {
        Err((
            ErrorCode::BadRequest,
            format!("{command}: cols and rows must be between 1 and {MAX_SIZE}"),
        ))
    }
}

/// The variables a terminal's program starts with: the basic ones of the runner's
/// environment (no secrets, nothing of the runner's own), and `TERM=xterm-256color`.
fn terminal_env(ctx: &Context) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = ctx
        .env
        .vars()
        .filter(|(name, _)| {
            name.to_str().is_some_and(|n| {
                n != "TERM"
                    && (crate::config::BASE_ENV_INHERIT.contains(&n) || n.starts_with("LC_"))
            })
        })
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    env.insert("TERM".into(), "xterm-256color".into());
    env
}

/// The user's shell: `$SHELL` when it is an absolute path, else `/bin/sh`.
fn default_shell(ctx: &Context) -> String {
    ctx.env
        .var("SHELL")
        .and_then(|s| s.to_str())
        .filter(|s| s.starts_with('/'))
        .unwrap_or("/bin/sh")
        .to_owned()
}

impl Terminals {
    /// Starts the program on a new terminal, confined, and its actor; refused with
    /// `invalid_state` when `max_terminals` are alive (or being opened).
    pub fn open(&self, ctx: &Arc<Context>, spec: OpenSpec) -> Result<TerminalInfo, Failure> {
        check_size("terminal.open", spec.cols, spec.rows)?;
        let max = ctx.config.limits.max_terminals;
        {
            let table = self.table.lock().expect("terminals lock");
            if table.len() + self.opening.load(Ordering::Relaxed) >= max {
                return Err((
                    ErrorCode::InvalidState,
                    format!("too many terminals (max_terminals = {max}); close one first"),
                ));
            }
            // Under the table's lock, so two opens cannot both take the last place.
            self.opening.fetch_add(1, Ordering::Relaxed);
        }
        let opened = self.start(ctx, spec);
        self.opening.fetch_sub(1, Ordering::Relaxed);
        opened
    }

    fn start(&self, ctx: &Arc<Context>, spec: OpenSpec) -> Result<TerminalInfo, Failure> {
        let command = match spec.command {
            Some(command) if command.is_empty() || command[0].is_empty() => {
                return Err((
                    ErrorCode::BadRequest,
                    "terminal.open: `command` needs a program".into(),
                ));
            }
            Some(command) => command,
            None => vec![default_shell(ctx)],
        };
        if !spec.cwd.is_dir() {
            return Err((
                ErrorCode::BadRequest,
                format!("terminal.open: `{}` is not a directory", spec.cwd.display()),
            ));
        }
        let confined = sandbox::confine(
            &ctx.config,
            sandbox::Request {
                profile: &spec.profile,
                cwd: &spec.cwd,
                harness_argv: command.iter().map(OsString::from).collect(),
                env: terminal_env(ctx),
                runner_env: &ctx.env,
                pass_env: vec!["TERM".into()],
                tty: true,
            },
        )
        .map_err(|why| {
            (
                ErrorCode::Unsupported,
                why.replace("the harness", "the terminal"),
            )
        })?;
        let (child, pty) = Spawn::new(&confined.argv[0])
            .args(&confined.argv[1..])
            .envs(&confined.env)
            .current_dir(&spec.cwd)
            .spawn_pty(spec.cols, spec.rows)
            .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
        let id = TerminalId(format!(
            "{}_{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        ));
        let info = TerminalInfo {
            id: id.clone(),
            session: spec.session,
            cwd: spec.cwd.display().to_string(),
            command,
            cols: spec.cols,
            rows: spec.rows,
            offset: 0,
            clients: 0,
            created_at: now_millis(),
        };
        tracing::info!(terminal = %id, pid = child.id(), cwd = %info.cwd, "terminal opened");
        let (tx, rx) = mpsc::channel(64);
        let shared = Arc::new(Mutex::new(info.clone()));
        let took = Arc::new(Notify::new());
        self.table.lock().expect("terminals lock").insert(
            id.clone(),
            Handle {
                tx,
                info: Arc::clone(&shared),
                took: Arc::clone(&took),
            },
        );
        let actor = actor::Actor::new(actor::Parts {
            id,
            child,
            pty,
            rx,
            info: shared,
            took,
            table: Arc::clone(&self.table),
            ring: ctx.config.limits.terminal_scrollback,
            idle: ctx.config.timeouts.terminal_idle,
            grace: ctx.config.timeouts.shutdown_grace,
        });
        tokio::spawn(actor.run());
        Ok(info)
    }

    fn handle(&self, id: &TerminalId) -> Result<Handle, Failure> {
        self.table
            .lock()
            .expect("terminals lock")
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    /// Every live terminal, oldest first.
    pub fn list(&self) -> Vec<TerminalInfo> {
        let mut out: Vec<TerminalInfo> = self
            .table
            .lock()
            .expect("terminals lock")
            .values()
            .map(|h| h.info.lock().expect("terminal info lock").clone())
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        out
    }

    pub fn next_client(&self) -> u64 {
        self.next_client.fetch_add(1, Ordering::Relaxed)
    }

    /// Attaches a client: output from `after_offset` (or from now) goes to the returned
    /// queue, then the last events.
    pub async fn attach(
        &self,
        id: &TerminalId,
        client: u64,
        after_offset: Option<u64>,
    ) -> Result<(TerminalInfo, Attachment), Failure> {
        let handle = self.handle(id)?;
        let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
        let last = Arc::new(Mutex::new(Vec::new()));
        let (reply, answer) = oneshot::channel();
        let msg = Msg::Attach {
            client,
            after_offset,
            tx,
            last: Arc::clone(&last),
            reply,
        };
        if handle.tx.send(msg).await.is_err() {
            return Err(not_found(id));
        }
        let info = answer.await.map_err(|_| not_found(id))??;
        Ok((
            info,
            Attachment {
                rx,
                last,
                took: handle.took,
            },
        ))
    }

    pub async fn detach(&self, id: &TerminalId, client: u64) {
        if let Ok(handle) = self.handle(id) {
            let _ = handle.tx.send(Msg::Detach { client }).await;
        }
    }

    /// Queues input for the terminal, in the order of the calls; the receiver says when it
    /// was written (or why not).
    pub async fn input(
        &self,
        id: &TerminalId,
        bytes: Vec<u8>,
    ) -> Result<oneshot::Receiver<Result<(), Failure>>, Failure> {
        let handle = self.handle(id)?;
        let (reply, answer) = oneshot::channel();
        handle
            .tx
            .send(Msg::Input { bytes, reply })
            .await
            .map_err(|_| not_found(id))?;
        Ok(answer)
    }

    pub async fn resize(&self, id: &TerminalId, cols: u16, rows: u16) -> Result<(), Failure> {
        check_size("terminal.resize", cols, rows)?;
        let handle = self.handle(id)?;
        let (reply, answer) = oneshot::channel();
        handle
            .tx
            .send(Msg::Resize { cols, rows, reply })
            .await
            .map_err(|_| not_found(id))?;
        answer.await.map_err(|_| not_found(id))?
    }

    /// Ends the terminal's program (its whole tree) and the terminal; returns once the
    /// processes are gone.
    pub async fn close(&self, id: &TerminalId, reason: String) -> Result<(), Failure> {
        let handle = self.handle(id)?;
        let (reply, answer) = oneshot::channel();
        handle
            .tx
            .send(Msg::Close { reason, reply })
            .await
            .map_err(|_| not_found(id))?;
        let _ = answer.await;
        Ok(())
    }

    /// Closes every terminal opened for `session` (it is being deleted).
    pub async fn close_session(&self, session: &SessionId) {
        let ids: Vec<TerminalId> = self
            .list()
            .into_iter()
            .filter(|t| t.session.as_ref() == Some(session))
            .map(|t| t.id)
            .collect();
        let closes = ids
            .iter()
            .map(|id| self.close(id, "its session was deleted".into()));
        futures_util::future::join_all(closes).await;
    }

    /// Closes every terminal (the runner is stopping).
    pub async fn close_all(&self) {
        let ids: Vec<TerminalId> = self.list().into_iter().map(|t| t.id).collect();
        let closes = ids
            .iter()
            .map(|id| self.close(id, "the runner stopped".into()));
        futures_util::future::join_all(closes).await;
    }
}

//! One task per terminal: it owns the program, the terminal's master side, the ring and
//! the attached clients, and is reached through its [`Msg`] queue. See `mod.rs` for the
//! flow control it implements.

use std::collections::{HashMap, VecDeque};
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oqto_ipc::pty::Pty;
use oqto_protocol::{ErrorCode, TerminalEvent, TerminalId, TerminalInfo};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use super::ring::Ring;
use super::{CHUNK, Frame, HIGH_WATER, Handle, LOW_WATER, MAX_PENDING_INPUT, Msg, STALL};
use crate::runner::Failure;

pub(super) struct Parts {
    pub id: TerminalId,
    pub child: tokio::process::Child,
    pub pty: Pty,
    pub rx: mpsc::Receiver<Msg>,
    pub info: Arc<Mutex<TerminalInfo>>,
    pub took: Arc<Notify>,
    pub table: Arc<Mutex<HashMap<TerminalId, Handle>>>,
    pub ring: usize,
    pub idle: Option<Duration>,
    pub grace: Duration,
}

struct Client {
    id: u64,
    tx: mpsc::Sender<Frame>,
    last: Arc<Mutex<Vec<TerminalEvent>>>,
    /// The offset of the next byte to hand it.
    offset: u64,
    /// Since when its queue has been full while output waited for it.
    stalled_since: Option<Instant>,
}

struct Input {
    bytes: Vec<u8>,
    written: usize,
    reply: oneshot::Sender<Result<(), Failure>>,
}

pub(super) struct Actor {
    p: Parts,
    ring: Ring,
    clients: Vec<Client>,
    input: VecDeque<Input>,
    input_bytes: usize,
    /// The program's end: its status once reaped.
    status: Option<ExitStatus>,
    /// Every process closed its side of the terminal.
    eof: bool,
    /// Reading the terminal waits for a slow client.
    paused: bool,
    /// Set when the terminal ends: the events each client gets after its last byte.
    last: Option<Vec<TerminalEvent>>,
    /// Since when no client is attached.
    alone_since: Option<Instant>,
    /// `terminal.close` callers, answered once the process tree is gone.
    closers: Vec<oneshot::Sender<()>>,
}

impl Actor {
    pub(super) fn new(p: Parts) -> Self {
        let ring = Ring::new(p.ring);
        Self {
            p,
            ring,
            clients: Vec::new(),
            input: VecDeque::new(),
            input_bytes: 0,
            status: None,
            eof: false,
            paused: false,
            last: None,
            alone_since: Some(Instant::now()),
            closers: Vec::new(),
        }
    }

    pub(super) async fn run(mut self) {
        let mut buf = vec![0u8; CHUNK];
        loop {
            self.pump();
            if self.last.is_some() && self.clients.is_empty() {
                break;
            }
            self.update_pause();
            let stall_at = self
                .clients
                .iter()
                .filter_map(|c| c.stalled_since)
                .min()
                .map(|t| t + STALL);
            let idle_at = match (self.alone_since, self.p.idle) {
                (Some(since), Some(idle)) if self.last.is_none() => Some(since + idle),
                _ => None,
            };
            let read = !self.eof && !self.paused;
            let write = !self.input.is_empty() && self.last.is_none();
            tokio::select! {
                msg = self.p.rx.recv(), if self.last.is_none() => match msg {
                    Some(msg) => self.handle(msg).await,
                    None => self.end(Some("the runner stopped".into())).await,
                },
                n = self.p.pty.read(&mut buf), if read => match n {
                    Ok(0) | Err(_) => self.eof = true,
                    Ok(n) => {
                        self.ring.push(&buf[..n]);
                        self.p.info.lock().expect("terminal info lock").offset = self.ring.end();
                    }
                },
                n = write_some(&self.p.pty, self.input.front()), if write => self.wrote(n),
                status = self.p.child.wait(), if self.status.is_none() => {
                    self.status = Some(status.unwrap_or_else(|_| ExitStatus::from_raw(1 << 8)));
                }
                () = self.p.took.notified() => {}
                () = sleep_until(stall_at), if stall_at.is_some() => self.detach_stalled(),
                () = sleep_until(idle_at), if idle_at.is_some() => {
                    let idle = self.p.idle.unwrap_or_default();
                    let reason = format!(
                        "no client for {} (terminal_idle_timeout)",
                        oqto_config::format_duration(idle)
                    );
                    self.end(Some(reason)).await;
                }
            }
            if self.last.is_none() && self.status.is_some() && self.eof {
                self.end(None).await;
            }
        }
        tracing::info!(terminal = %self.p.id, "terminal closed");
    }

    async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Attach {
                client,
                after_offset,
                tx,
                last,
                reply,
            } => {
                let offset = match after_offset {
                    Some(o) if o > self.ring.end() => {
                        let _ = reply.send(Err((
                            ErrorCode::BadRequest,
                            format!(
                                "terminal.attach: after_offset {o} is past the terminal's output ({} bytes)",
                                self.ring.end()
                            ),
                        )));
                        return;
                    }
                    Some(o) => o,
                    None => self.ring.end(),
                };
                self.clients.retain(|c| c.id != client);
                self.clients.push(Client {
                    id: client,
                    tx,
                    last,
                    offset,
                    stalled_since: None,
                });
                self.alone_since = None;
                let info = self.set_clients();
                let _ = reply.send(Ok(info));
            }
            Msg::Detach { client } => {
                self.clients.retain(|c| c.id != client);
                self.after_detach();
            }
            Msg::Input { bytes, reply } => {
                if self.input_bytes + bytes.len() > MAX_PENDING_INPUT {
                    let _ = reply.send(Err((
                        ErrorCode::InvalidState,
                        format!(
                            "the program is not reading its input ({} bytes wait); this input was dropped",
                            self.input_bytes
                        ),
                    )));
                    return;
                }
                self.input_bytes += bytes.len();
                self.input.push_back(Input {
                    bytes,
                    written: 0,
                    reply,
                });
            }
            Msg::Resize { cols, rows, reply } => {
                let result = self
                    .p
                    .pty
                    .resize(cols, rows)
                    .map_err(|e| (ErrorCode::Internal, format!("cannot resize: {e}")));
                if result.is_ok() {
                    let mut info = self.p.info.lock().expect("terminal info lock");
                    info.cols = cols;
                    info.rows = rows;
                }
                let _ = reply.send(result);
            }
            Msg::Close { reason, reply } => {
                self.closers.push(reply);
                self.end(Some(reason)).await;
            }
        }
    }

    fn set_clients(&self) -> TerminalInfo {
        let mut info = self.p.info.lock().expect("terminal info lock");
        info.clients = u32::try_from(self.clients.len()).unwrap_or(u32::MAX);
        info.clone()
    }

    fn after_detach(&mut self) {
        self.set_clients();
        if self.clients.is_empty() && self.alone_since.is_none() {
            self.alone_since = Some(Instant::now());
        }
    }

    fn wrote(&mut self, n: std::io::Result<usize>) {
        let Some(front) = self.input.front_mut() else {
            return;
        };
        match n {
            Ok(n) => {
                front.written += n;
                self.input_bytes -= n;
                if front.written == front.bytes.len() {
                    let done = self.input.pop_front().expect("front exists");
                    let _ = done.reply.send(Ok(()));
                }
            }
            Err(e) => {
                let done = self.input.pop_front().expect("front exists");
                self.input_bytes -= done.bytes.len() - done.written;
                let _ = done.reply.send(Err((
                    ErrorCode::Internal,
                    format!("cannot write input: {e}"),
                )));
            }
        }
    }

    /// Hands each client what it has not had yet, as far as its queue takes it. Once the
    /// terminal ended, a client that has had everything gets the last events and goes.
    fn pump(&mut self) {
        let before = self.clients.len();
        self.give();
        if self.clients.len() != before {
            self.after_detach();
        }
    }

    fn give(&mut self) {
        let now = Instant::now();
        let ring = &self.ring;
        let id = &self.p.id;
        self.clients.retain_mut(|c| {
            let mut gave = false;
            while c.offset < ring.end() {
                let permit = match c.tx.try_reserve() {
                    Ok(permit) => permit,
                    Err(TrySendError::Full(())) => break,
                    Err(TrySendError::Closed(())) => return false,
                };
                gave = true;
                if c.offset < ring.start() {
                    permit.send((
                        TerminalEvent::Truncated {
                            terminal: id.clone(),
                            offset: ring.start(),
                        },
                        Vec::new(),
                    ));
                    c.offset = ring.start();
                    continue;
                }
                let bytes = ring.read(c.offset, CHUNK);
                let len = bytes.len() as u64;
                permit.send((
                    TerminalEvent::Output {
                        terminal: id.clone(),
                        offset: c.offset,
                        len,
                    },
                    bytes,
                ));
                c.offset += len;
            }
            if gave || c.offset >= ring.end() {
                c.stalled_since = None;
            } else if c.stalled_since.is_none() {
                c.stalled_since = Some(now);
            }
            true
        });
        if let Some(last) = &self.last {
            let end = self.ring.end();
            self.clients.retain(|c| {
                if c.offset < end {
                    return true;
                }
                c.last.lock().expect("last lock").clone_from(last);
                false
            });
        }
    }

    fn update_pause(&mut self) {
        let end = self.ring.end();
        let behind = self
            .clients
            .iter()
            .map(|c| end.saturating_sub(c.offset))
            .max()
            .unwrap_or(0);
        // Below half the ring, so that a client being waited for never loses bytes.
        let half = (self.p.ring / 2) as u64;
        if behind >= HIGH_WATER.min(half) {
            self.paused = true;
        } else if behind <= LOW_WATER.min(half / 4) {
            self.paused = false;
        }
    }

    fn detach_stalled(&mut self) {
        let now = Instant::now();
        let id = self.p.id.clone();
        self.clients.retain(|c| {
            let stalled = c.stalled_since.is_some_and(|since| now >= since + STALL);
            if stalled {
                tracing::info!(terminal = %id, client = c.id, "detached a client that stopped reading");
                *c.last.lock().expect("last lock") = vec![TerminalEvent::Detached {
                    terminal: id.clone(),
                    reason: format!(
                        "did not read its output for {}s",
                        STALL.as_secs()
                    ),
                }];
            }
            !stalled
        });
        self.after_detach();
    }

    /// Ends the terminal: stops the program's whole tree (unless it already exited),
    /// reads what it wrote last, and sets the last events. The clients still get every
    /// byte before them (as fast as they read, or until they stall).
    async fn end(&mut self, reason: Option<String>) {
        if self.last.is_some() {
            return;
        }
        self.p
            .table
            .lock()
            .expect("terminals lock")
            .remove(&self.p.id);
        if self.status.is_none() {
            self.status = Some(self.stop().await);
        }
        // Every process is gone: what is left in the terminal can be read without waiting
        // long, and at once when nothing holds the terminal open any more.
        let mut buf = vec![0u8; CHUNK];
        while !self.eof {
            match tokio::time::timeout(Duration::from_secs(1), self.p.pty.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.ring.push(&buf[..n]),
                _ => self.eof = true,
            }
        }
        self.p.info.lock().expect("terminal info lock").offset = self.ring.end();
        for pending in self.input.drain(..) {
            let _ = pending.reply.send(Err(super::not_found(&self.p.id)));
        }
        let status = self.status.expect("reaped above");
        let reason = reason.unwrap_or_else(|| "the program exited".into());
        tracing::info!(terminal = %self.p.id, ?status, %reason, "terminal ending");
        self.last = Some(vec![
            TerminalEvent::Exit {
                terminal: self.p.id.clone(),
                code: status.code(),
                signal: status.signal(),
            },
            TerminalEvent::Closed {
                terminal: self.p.id.clone(),
                reason,
            },
        ]);
        for closer in self.closers.drain(..) {
            let _ = closer.send(());
        }
    }

    /// Stops the program: SIGHUP first, as when a terminal hangs up (`oqto-sandbox` passes
    /// it on), then, after the grace period, SIGTERM and SIGKILL to the whole tree.
    async fn stop(&mut self) -> ExitStatus {
        if let Some(pid) = self.p.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGHUP,
            );
        }
        if let Ok(Ok(status)) = tokio::time::timeout(self.p.grace, self.p.child.wait()).await {
            return status;
        }
        oqto_ipc::spawn::terminate_root_first(&mut self.p.child, self.p.grace)
            .await
            .unwrap_or_else(|_| ExitStatus::from_raw(1 << 8))
    }
}

async fn write_some(pty: &Pty, input: Option<&Input>) -> std::io::Result<usize> {
    match input {
        Some(input) => pty.write(&input.bytes[input.written..]).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

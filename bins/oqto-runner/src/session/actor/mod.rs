//! The session actor: one task, one harness process, one state machine, one event log.
//!
//! ```text
//! starting ──ready──▶ idle ◀──▶ working(phase)
//!     │                 │            │
//!     └──── fail ───────┴─── crash / hang / silence ──▶ error
//!                       └── close / idle reaping / runner stop ──▶ stopped
//! stopped | error ──prompt (or any harness command)──▶ starting ──▶ …
//! ```
//!
//! Everything that changes the session happens on this task, in order: harness lines,
//! client commands and timers. Events are numbered and fanned out here, so all subscribers
//! see one order. The task never blocks: the store runs on its own thread, and queues to
//! subscribers are filled with `try_send`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use oqto_protocol::{
    Capability, ClientMsgId, ErrorCode, EventKind, Message, Part, Role, SessionInfo, State,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::process::{ProcLine, Process};
use super::transcript::Transcript;
use super::{ActorMsg, SessionHandle, Shared};
use crate::context::Context;
use crate::events::{EventHub, NeedsResync, RingLimits};
use crate::harness::adapter::{Adapter, Done, ModelChoice, Op, OpError, Output, Ready, Token};

mod audit;
mod events;
mod harness;
mod tags;
mod timers;

/// How long the harness must be quiet before [`Adapter::quiet`] is called.
const QUIET: Duration = Duration::from_millis(50);
/// How often subscribers that fell behind are fed from the ring.
const PUMP: Duration = Duration::from_millis(5);
/// Stderr lines quoted in a crash reason.
const CRASH_STDERR_LINES: usize = 5;
/// Longest title taken from a first prompt, in characters.
const TITLE_CHARS: usize = 80;

/// A session as it comes out of the store (or is created), for `Actor::spawn`.
#[derive(Debug)]
pub struct Loaded {
    pub info: SessionInfo,
    pub harness_ref: Option<String>,
    /// The model asked for at creation, applied when the harness starts the first time.
    pub model_choice: Option<ModelChoice>,
    /// The newest stored messages and whether older ones exist, when already at hand (a new
    /// or forked session); `None` loads them from the store when first needed.
    pub recent: Option<(Vec<Message>, bool)>,
    /// `true` for a new session: `session.created` is its first event.
    pub created: bool,
    /// The sandbox policy stored with the session (of its last harness start).
    pub sandbox: Option<Arc<str>>,
}

struct PendingOp {
    name: &'static str,
    /// The client's id of the send, forgotten by the tags if the send fails.
    client_msg_id: Option<ClientMsgId>,
    reply: oneshot::Sender<Result<Done, OpError>>,
    deadline: Option<Instant>,
}

enum Waiting {
    Start(oneshot::Sender<Result<(), OpError>>),
    Op(
        Op,
        Option<ClientMsgId>,
        oneshot::Sender<Result<Done, OpError>>,
    ),
}

/// A running harness and its adapter.
struct Harness {
    process: Process,
    adapter: Box<dyn Adapter>,
    ready: bool,
    started: Instant,
    last_line: Instant,
    /// A line came in since the last `quiet` call.
    unquiet: bool,
}

pub(crate) struct Actor {
    ctx: Arc<Context>,
    info: SessionInfo,
    harness_ref: Option<String>,
    model_choice: Option<ModelChoice>,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<ActorMsg>,
    hub: EventHub,
    /// Loaded from the store when first needed, dropped again when the session is stopped
    /// and unwatched: a runner with many old sessions keeps only their `SessionInfo`.
    transcript: Option<Transcript>,
    harness: Option<Harness>,
    capabilities: Vec<Capability>,
    pending: HashMap<Token, PendingOp>,
    next_token: Token,
    /// Commands that wait for the harness to be ready.
    waiting: Vec<Waiting>,
    /// Since when the session has been idle without subscribers (for reaping).
    idle_since: Option<Instant>,
    /// The adapter reported [`Output::Failed`]; handled on the next turn of the loop.
    fail_reason: Option<String>,
    /// The last message write failed (a `session.error` was sent; not repeated).
    store_failing: bool,
    /// The `client_msg_id`s of sends waiting for their user message.
    tags: tags::Tags,
    /// The audit log's memory of pending permission requests.
    audit: audit::Audit,
}

/// An event taken in by the session's view, not yet numbered and sent.
struct Prepared {
    ts: oqto_protocol::Millis,
    seq: u64,
    /// The message to store (ended, or completed by a tool).
    stored: Option<Message>,
    /// A title taken from the first prompt.
    title: Option<String>,
    state_changed: bool,
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Exit,
}

impl Actor {
    /// Starts the actor task for a session and returns its handle.
    pub fn spawn(ctx: Arc<Context>, loaded: Loaded) -> SessionHandle {
        let (tx, rx) = mpsc::channel(64);
        let kind = ctx.config.harness(&loaded.info.harness).map(|h| h.kind);
        let capabilities = kind.map_or_else(Vec::new, |kind| {
            ctx.adapter(kind, loaded.info.id.clone()).capabilities()
        });
        let shared = Arc::new(Shared {
            info: std::sync::Mutex::new(loaded.info.clone()),
            capabilities: std::sync::Mutex::new(capabilities.clone()),
            sandbox: std::sync::Mutex::new(loaded.sandbox.clone()),
            sent: std::sync::Mutex::new(super::sent::Sent::default()),
        });
        let limits = RingLimits {
            max_events: ctx.config.limits.ring_events,
            max_bytes: ctx.config.limits.ring_bytes,
        };
        let next_seq = loaded.info.last_seq + 1;
        let handle = SessionHandle {
            id: loaded.info.id.clone(),
            tx,
            shared: Arc::clone(&shared),
        };
        let mut actor = Actor {
            hub: EventHub::new(loaded.info.id.clone(), limits, next_seq),
            ctx,
            harness_ref: loaded.harness_ref,
            model_choice: loaded.model_choice,
            shared,
            rx,
            transcript: loaded
                .recent
                .map(|(recent, has_older)| Transcript::new(recent, has_older)),
            harness: None,
            capabilities,
            pending: HashMap::new(),
            next_token: 0,
            waiting: Vec::new(),
            idle_since: None,
            fail_reason: None,
            store_failing: false,
            tags: tags::Tags::default(),
            audit: audit::Audit::default(),
            info: loaded.info,
        };
        let created = loaded.created;
        tokio::spawn(async move {
            if created {
                actor.info.last_seq = actor.hub.log().last_seq() + 1;
                let info = Box::new(actor.info.clone());
                actor.publish(EventKind::SessionCreated { info });
            }
            actor.run().await;
        });
        handle
    }

    async fn run(mut self) {
        loop {
            let deadline = self.next_deadline();
            let flow = tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.on_message(msg).await,
                    None => Flow::Exit,
                },
                line = next_line(self.harness.as_mut()) => {
                    self.on_line(line).await;
                    Flow::Continue
                }
                () = sleep_until(deadline) => {
                    self.on_timer().await;
                    Flow::Continue
                }
            };
            if flow == Flow::Exit {
                break;
            }
        }
    }

    // ----- client messages -------------------------------------------------------------

    async fn on_message(&mut self, msg: ActorMsg) -> Flow {
        match msg {
            ActorMsg::Start { reply } => {
                if self.harness.as_ref().is_some_and(|h| h.ready) {
                    let _ = reply.send(Ok(()));
                } else {
                    self.waiting.push(Waiting::Start(reply));
                    self.ensure_started();
                }
            }
            ActorMsg::Op {
                op,
                client_msg_id,
                reply,
            } => self.on_op(op, client_msg_id, reply),
            ActorMsg::Subscribe {
                id,
                tx,
                after_seq,
                reply,
            } => {
                let outcome = self.hub.subscribe(id, tx, after_seq);
                let last = self.hub.log().last_seq();
                let _ = reply.send(last);
                if let crate::events::SubscribeOutcome::NeedsResync(reason) = outcome {
                    self.send_snapshots(&[NeedsResync { id, reason }]);
                }
                self.subscribers_changed();
            }
            ActorMsg::Unsubscribe { id, reply } => {
                self.hub.unsubscribe(id);
                self.subscribers_changed();
                let _ = reply.send(());
            }
            ActorMsg::Rename { title, reply } => {
                self.info.title = Some(title.clone());
                self.info_changed();
                if self.capabilities.contains(&Capability::Rename) {
                    if let Some(h) = &mut self.harness {
                        if h.ready {
                            let token = self.next_token;
                            self.next_token += 1;
                            if let Ok(outputs) = h.adapter.command(token, Op::Rename { title }) {
                                let (tx, _rx) = oneshot::channel();
                                self.pending.insert(
                                    token,
                                    PendingOp {
                                        name: "rename",
                                        client_msg_id: None,
                                        reply: tx,
                                        deadline: None,
                                    },
                                );
                                self.apply(outputs);
                            }
                        }
                    }
                }
                let _ = reply.send(self.info.clone());
            }
            ActorMsg::Close { reason, reply } => {
                self.stop_harness().await;
                self.publish(EventKind::SessionClosed {
                    reason: Some(reason.clone()),
                });
                self.set_state(State::Stopped, None, Some(reason));
                let _ = reply.send(());
            }
            ActorMsg::Delete { reply } => {
                self.stop_harness().await;
                self.publish(EventKind::SessionDeleted {});
                let _ = reply.send(());
                return Flow::Exit;
            }
            ActorMsg::Shutdown { reply } => {
                if self.harness.is_some() {
                    self.stop_harness().await;
                    self.set_state(State::Stopped, None, Some("runner stopped".into()));
                } else {
                    self.persist();
                }
                let _ = reply.send(());
                return Flow::Exit;
            }
        }
        Flow::Continue
    }

    fn on_op(
        &mut self,
        op: Op,
        client_msg_id: Option<ClientMsgId>,
        reply: oneshot::Sender<Result<Done, OpError>>,
    ) {
        if let Some(needed) = op.needs() {
            if !self.capabilities.contains(&needed) {
                let _ = reply.send(Err(OpError::unsupported(&self.info.harness, &op)));
                return;
            }
        }
        let running = self.harness.as_ref().is_some_and(|h| h.ready);
        match (&op, self.info.state) {
            (Op::Prompt { .. }, State::Working) => {
                let _ = reply.send(Err(OpError::new(
                    ErrorCode::InvalidState,
                    format!(
                        "session `{}` is working; use steer or follow_up, or abort first",
                        self.info.id
                    ),
                )));
                return;
            }
            (Op::Abort, _) if !running && self.harness.is_none() => {
                let _ = reply.send(Ok(Done::Empty));
                return;
            }
            (Op::Steer { .. } | Op::FollowUp { .. }, State::Stopped | State::Error) => {
                let _ = reply.send(Err(OpError::new(
                    ErrorCode::InvalidState,
                    format!(
                        "session `{}` is {}; send a prompt to start it",
                        self.info.id,
                        self.info.state.as_str()
                    ),
                )));
                return;
            }
            _ => {}
        }
        if running {
            self.send_op(op, client_msg_id, reply);
        } else {
            self.waiting.push(Waiting::Op(op, client_msg_id, reply));
            self.ensure_started();
        }
    }

    fn send_op(
        &mut self,
        op: Op,
        client_msg_id: Option<ClientMsgId>,
        reply: oneshot::Sender<Result<Done, OpError>>,
    ) {
        // Before the harness has it: its user message may come before its answer.
        if let Some(id) = &client_msg_id {
            if self.harness.is_some() {
                self.tags.sent(&op, id.clone());
            }
        }
        let Some(h) = &mut self.harness else {
            let _ = reply.send(Err(OpError::new(
                ErrorCode::HarnessFailed,
                "the harness is not running",
            )));
            return;
        };
        let token = self.next_token;
        self.next_token += 1;
        let name = op.name();
        let quick = op.answers_quickly();
        match h.adapter.command(token, op) {
            Ok(outputs) => {
                let deadline = quick.then(|| Instant::now() + self.ctx.config.timeouts.ready);
                self.pending.insert(
                    token,
                    PendingOp {
                        name,
                        client_msg_id,
                        reply,
                        deadline,
                    },
                );
                self.apply(outputs);
            }
            Err(e) => {
                if let Some(id) = &client_msg_id {
                    self.tags.failed(id);
                }
                let _ = reply.send(Err(e));
            }
        }
    }

    // ----- adapter outputs ---------------------------------------------------------------

    fn apply(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Write(line) => {
                    if let Some(h) = &self.harness {
                        h.process.write(line);
                    }
                }
                Output::Ready(ready) => self.on_ready(ready),
                Output::Failed(reason) => {
                    tracing::warn!(session = %self.info.id, "harness failed: {reason}");
                    // Stopped on the next timer tick (an async step).
                    if let Some(h) = &mut self.harness {
                        h.ready = false;
                    }
                    self.fail_reason = Some(reason);
                }
                Output::Event(kind) => self.publish(kind),
                Output::Title(title) => {
                    if self.info.title.as_deref() != Some(title.as_str()) {
                        self.info.title = Some(title);
                        self.info_changed();
                    }
                }
                Output::Done { token, result } => {
                    if let Some(pending) = self.pending.remove(&token) {
                        if let (Err(_), Some(id)) = (&result, &pending.client_msg_id) {
                            self.tags.failed(id);
                        }
                        let _ = pending.reply.send(result);
                    }
                }
                Output::Warn(warning) => {
                    tracing::warn!(session = %self.info.id, "harness: {warning}");
                }
            }
        }
    }

    fn on_ready(&mut self, ready: Ready) {
        let Some(h) = &mut self.harness else { return };
        h.ready = true;
        tracing::info!(
            session = %self.info.id,
            ms = h.started.elapsed().as_millis(),
            "harness ready"
        );
        if let Some(capabilities) = ready.capabilities {
            self.capabilities = capabilities;
            self.shared
                .capabilities
                .lock()
                .expect("capabilities lock")
                .clone_from(&self.capabilities);
        }
        let mut changed = false;
        if ready.resume.is_some() && ready.resume != self.harness_ref {
            self.harness_ref = ready.resume;
        }
        if ready.model.is_some() && ready.model != self.info.model {
            self.info.model = ready.model;
            changed = true;
        }
        if self.info.title.is_none() && ready.title.is_some() {
            self.info.title = ready.title;
            changed = true;
        }
        // Applied once; a later restart keeps whatever the harness has now.
        self.model_choice = None;
        if changed {
            self.info_changed();
        }
        self.set_state(State::Idle, None, None);
        for waiting in std::mem::take(&mut self.waiting) {
            match waiting {
                Waiting::Start(reply) => {
                    let _ = reply.send(Ok(()));
                }
                Waiting::Op(op, client_msg_id, reply) => self.send_op(op, client_msg_id, reply),
            }
        }
    }
}

async fn next_line(harness: Option<&mut Harness>) -> ProcLine {
    match harness {
        Some(h) => h.process.lines.recv().await.unwrap_or(ProcLine::Eof(None)),
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A title from a user message: its first non-empty line, at most [`TITLE_CHARS`].
fn title_from(message: &Message) -> Option<String> {
    if message.role != Role::User {
        return None;
    }
    let text = message.parts.iter().find_map(|part| match part {
        Part::Text { text, .. } => Some(text.as_str()),
        _ => None,
    })?;
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut title: String = line.chars().take(TITLE_CHARS).collect();
    if line.chars().count() > TITLE_CHARS {
        title.push('…');
    }
    Some(title)
}

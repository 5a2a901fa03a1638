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

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use oqto_history::SessionRecord;
use oqto_protocol::{
    Capability, ErrorCode, EventKind, Message, Part, Phase, Role, SessionInfo, State, ToolStatus,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::process::{ProcLine, Process, describe_exit};
use super::transcript::{RECENT_MESSAGES, Transcript};
use super::{ActorMsg, SessionHandle, Shared};
use crate::config::DEMO_HARNESS;
use crate::context::{Context, now_millis};
use crate::events::{EventHub, NeedsResync, RingLimits};
use crate::harness::IdSource;
use crate::harness::adapter::{
    Adapter, Done, ModelChoice, Op, OpError, Output, Ready, StartSpec, Token,
};
use crate::sandbox;

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
    reply: oneshot::Sender<Result<Done, OpError>>,
    deadline: Option<Instant>,
}

enum Waiting {
    Start(oneshot::Sender<Result<(), OpError>>),
    Op(Op, oneshot::Sender<Result<Done, OpError>>),
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
            ActorMsg::Op { op, reply } => self.on_op(op, reply),
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

    fn on_op(&mut self, op: Op, reply: oneshot::Sender<Result<Done, OpError>>) {
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
            self.send_op(op, reply);
        } else {
            self.waiting.push(Waiting::Op(op, reply));
            self.ensure_started();
        }
    }

    fn send_op(&mut self, op: Op, reply: oneshot::Sender<Result<Done, OpError>>) {
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
        let quick = matches!(
            op,
            Op::GetModels | Op::SetModel(_) | Op::SetThinkingLevel(_) | Op::Rename { .. }
        );
        match h.adapter.command(token, op) {
            Ok(outputs) => {
                let deadline = quick.then(|| Instant::now() + self.ctx.config.timeouts.ready);
                self.pending.insert(
                    token,
                    PendingOp {
                        name,
                        reply,
                        deadline,
                    },
                );
                self.apply(outputs);
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    // ----- the harness process -----------------------------------------------------------

    /// Starts the harness if it is not running.
    fn ensure_started(&mut self) {
        if self.harness.is_some() {
            return;
        }
        let Some(config) = self.ctx.config.harness(&self.info.harness).cloned() else {
            self.fail_waiting(&OpError::new(
                ErrorCode::HarnessFailed,
                format!("harness `{}` is not configured", self.info.harness),
            ));
            return;
        };
        let Some(mut argv) = config.argv().filter(|_| config.enabled) else {
            let why = format!(
                "harness `{}` is unavailable: {}",
                config.name,
                config.detail()
            );
            self.fail_waiting(&OpError::new(ErrorCode::HarnessFailed, why.clone()));
            self.set_state(State::Error, None, Some(why));
            return;
        };
        let Ok(permit) = Arc::clone(&self.ctx.slots).try_acquire_owned() else {
            let why = format!(
                "too many live sessions (max_sessions = {}); close one first",
                self.ctx.config.limits.max_sessions
            );
            self.fail_waiting(&OpError::new(ErrorCode::InvalidState, why));
            return;
        };
        let mut adapter = self.ctx.adapter(config.kind, self.info.id.clone());
        let spec = StartSpec {
            cwd: self.info.cwd.clone(),
            resume: self.harness_ref.clone(),
            model: self.model_choice.clone(),
        };
        argv.extend(adapter.extra_args(&spec));
        let mut env = config.child_env(&self.ctx.env);
        // Variables the runner sets for this harness itself: its `env` table, and the demo's.
        let mut pass_env: Vec<String> = config.env.keys().cloned().collect();
        if config.builtin && config.name == DEMO_HARNESS {
            match self.ctx.demo_agent_dir() {
                Ok(dir) => {
                    for (name, value) in [
                        ("PI_CODING_AGENT_DIR", dir.into_os_string()),
                        ("PI_OFFLINE", "1".into()),
                    ] {
                        env.insert(name.into(), value);
                        pass_env.push(name.into());
                    }
                }
                Err(why) => {
                    drop(permit);
                    self.fail_waiting(&OpError::new(ErrorCode::HarnessFailed, why.clone()));
                    self.set_state(State::Error, None, Some(why));
                    return;
                }
            }
        }
        let cwd = std::path::PathBuf::from(&self.info.cwd);
        let (argv, env) = match self.confine(argv, env, pass_env, &cwd) {
            Ok(confined) => confined,
            Err(why) => {
                drop(permit);
                self.fail_waiting(&OpError::new(ErrorCode::HarnessFailed, why.clone()));
                self.set_state(State::Error, None, Some(why));
                return;
            }
        };
        if self.info.state != State::Starting {
            self.set_state(State::Starting, None, None);
        }
        match Process::spawn(&argv, env, &cwd, self.ctx.config.limits.max_line, permit) {
            Ok(process) => {
                tracing::info!(session = %self.info.id, pid = process.pid, "harness started");
                let now = Instant::now();
                let outputs = adapter.start(&spec);
                self.harness = Some(Harness {
                    process,
                    adapter,
                    ready: false,
                    started: now,
                    last_line: now,
                    unquiet: false,
                });
                self.apply(outputs);
            }
            Err(e) => {
                let why = e.to_string();
                self.fail_waiting(&OpError::new(ErrorCode::HarnessFailed, why.clone()));
                self.set_state(State::Error, None, Some(why));
            }
        }
    }

    /// Wraps the harness's command line in `oqto-sandbox` with the session's profile;
    /// the command line and environment to start, or why the harness cannot start.
    fn confine(
        &mut self,
        argv: Vec<OsString>,
        env: BTreeMap<OsString, OsString>,
        pass_env: Vec<String>,
        cwd: &Path,
    ) -> Result<(Vec<OsString>, BTreeMap<OsString, OsString>), String> {
        let profile = self
            .info
            .sandbox_profile
            .clone()
            .unwrap_or_else(|| self.ctx.config.default_sandbox_profile.clone());
        let confined = sandbox::confine(
            &self.ctx.config,
            sandbox::Request {
                profile: &profile,
                cwd,
                harness_argv: argv,
                env,
                runner_env: &self.ctx.env,
                pass_env,
            },
        )?;
        self.set_sandbox_policy(&confined.policy);
        Ok((confined.argv, confined.env))
    }

    /// Keeps the policy the harness was just started under, for `session.get`.
    /// Stored with the session too, so that it survives a runner restart.
    fn set_sandbox_policy(&mut self, policy: &serde_json::Value) {
        let text: Arc<str> = policy.to_string().into();
        *self.shared.sandbox.lock().expect("sandbox lock") = Some(Arc::clone(&text));
        let id = self.info.id.clone();
        self.ctx
            .store
            .spawn("storing the sandbox policy", move |store| {
                store.set_sandbox_policy(&id, &text)
            });
    }

    async fn on_line(&mut self, line: ProcLine) {
        let now = now_millis();
        let Some(h) = &mut self.harness else { return };
        h.last_line = Instant::now();
        h.unquiet = true;
        let outputs = match line {
            ProcLine::Line(line) => h.adapter.feed(&line, now),
            ProcLine::Invalid(len) => {
                tracing::warn!(session = %self.info.id, "harness wrote a {len}-byte line that is not UTF-8; dropped");
                Vec::new()
            }
            ProcLine::Eof(error) => {
                if let Some(error) = error {
                    tracing::warn!(session = %self.info.id, "reading the harness: {error}");
                }
                self.harness_died().await;
                return;
            }
        };
        self.apply_stored(outputs).await;
    }

    /// [`apply`](Self::apply) for outputs from harness lines: events that end a message are
    /// stored before they go out.
    async fn apply_stored(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Event(kind) => self.publish_stored(kind).await,
                other => self.apply(vec![other]),
            }
        }
    }

    /// The harness closed stdout unasked: it crashed or exited.
    async fn harness_died(&mut self) {
        let Some(h) = self.harness.take() else { return };
        let tail = h.process.stderr_tail(CRASH_STDERR_LINES);
        let was_ready = h.ready;
        let status = h
            .process
            .reap(self.ctx.config.timeouts.shutdown_grace)
            .await;
        let mut reason = format!(
            "{} {}{}",
            self.info.harness,
            describe_exit(status),
            if was_ready { "" } else { " before ready" }
        );
        if !tail.is_empty() {
            reason.push_str(": ");
            reason.push_str(&tail.join(" | "));
        }
        tracing::warn!(session = %self.info.id, "{reason}");
        self.harness_gone(&reason, State::Error).await;
    }

    /// Cleans up after the process is gone: open work ends with `reason`, the state
    /// becomes `state`.
    async fn harness_gone(&mut self, reason: &str, state: State) {
        let part_id = self.ctx.ids.clone().part_id();
        for event in self.transcript().abandon(reason, part_id) {
            self.publish_stored(event).await;
        }
        for (message_id, mut part) in self.transcript().running_tools() {
            if let Part::ToolCall { status, .. } = &mut part {
                *status = ToolStatus::Aborted;
            }
            self.publish_stored(EventKind::ToolEnd { message_id, part })
                .await;
        }
        let error = OpError::new(ErrorCode::HarnessFailed, reason);
        for (_, pending) in self.pending.drain() {
            let _ = pending.reply.send(Err(error.clone()));
        }
        self.fail_waiting(&error);
        if state == State::Error {
            self.publish(EventKind::Error {
                code: ErrorCode::HarnessFailed,
                message: reason.to_owned(),
                recoverable: true,
            });
        }
        self.set_state(state, None, Some(reason.to_owned()));
    }

    /// Stops the harness on purpose (close, delete, reaping, shutdown).
    async fn stop_harness(&mut self) {
        let Some(mut h) = self.harness.take() else {
            return;
        };
        for line in h.adapter.stop_lines() {
            h.process.write(line);
        }
        let grace = self.ctx.config.timeouts.shutdown_grace;
        let status = h.process.stop(grace).await;
        tracing::info!(session = %self.info.id, "harness stopped ({})", describe_exit(status));
        let reason = "the harness was stopped";
        let part_id = self.ctx.ids.clone().part_id();
        for event in self.transcript().abandon(reason, part_id) {
            self.publish_stored(event).await;
        }
        let error = OpError::new(ErrorCode::HarnessFailed, reason);
        for (_, pending) in self.pending.drain() {
            let _ = pending.reply.send(Err(error.clone()));
        }
        self.fail_waiting(&error);
    }

    fn fail_waiting(&mut self, error: &OpError) {
        for waiting in self.waiting.drain(..) {
            match waiting {
                Waiting::Start(reply) => {
                    let _ = reply.send(Err(error.clone()));
                }
                Waiting::Op(_, reply) => {
                    let _ = reply.send(Err(error.clone()));
                }
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
                Waiting::Op(op, reply) => self.send_op(op, reply),
            }
        }
    }

    // ----- events and state --------------------------------------------------------------

    /// Numbers `kind`, applies it to the session's view and fans it out. For events that end
    /// a message (from a harness line), use [`publish_stored`](Self::publish_stored), which
    /// writes the message first; here such a message is written without waiting.
    fn publish(&mut self, kind: EventKind) {
        let prepared = self.prepare(&kind);
        if let Some(message) = prepared.stored.clone() {
            let seq = prepared.seq;
            self.ctx.store.spawn("storing a message", move |store| {
                store.put_message(&message, Some(seq))
            });
        }
        self.finish(kind, prepared, None);
    }

    /// Like [`publish`](Self::publish), but a message the event ends is committed to the
    /// store before the event goes out (persist as you go: a crash loses at most the message
    /// in flight). The actor does nothing else meanwhile; other sessions go on.
    async fn publish_stored(&mut self, kind: EventKind) {
        let prepared = self.prepare(&kind);
        let store_error = match prepared.stored.clone() {
            Some(message) => self.store_message(message, prepared.seq).await,
            None => None,
        };
        self.finish(kind, prepared, store_error);
    }

    /// The first half of publishing: the session's view and transcript take the event in.
    fn prepare(&mut self, kind: &EventKind) -> Prepared {
        let ts = now_millis();
        let seq = self.hub.log().last_seq() + 1;
        match kind {
            EventKind::State {
                state,
                phase,
                reason,
            } => {
                self.info.state = *state;
                self.info.phase = *phase;
                self.info.reason.clone_from(reason);
            }
            EventKind::ModelChanged { model, .. } => self.info.model = Some(model.clone()),
            _ => {}
        }
        let session = self.info.id.clone();
        let stored = self.transcript().apply(&session, kind, ts);
        let title = match kind {
            EventKind::MessageEnd { message } if self.info.title.is_none() => title_from(message),
            _ => None,
        };
        // The session row is written when the state settles or the model changes; the
        // phases of a running turn are not worth a write each (a restart shows `stopped`
        // anyway, and the seq gap covers an unclean stop).
        let state_changed = match kind {
            EventKind::State { state, .. } => *state != State::Working,
            EventKind::ModelChanged { .. } => true,
            _ => false,
        };
        Prepared {
            ts,
            seq,
            stored,
            title,
            state_changed,
        }
    }

    /// The second half: number and fan out the event, then what follows from it.
    fn finish(&mut self, kind: EventKind, prepared: Prepared, store_error: Option<EventKind>) {
        // Readers of the shared info (`session.get`, `session.list`) must never see an older
        // state than the events a client already received.
        self.info.last_seq = prepared.seq;
        self.info.last_activity = prepared.ts;
        self.mirror();
        let emitted = self.hub.emit(kind, prepared.ts);
        if !emitted.needs_resync.is_empty() {
            self.send_snapshots(&emitted.needs_resync);
        }
        if let Some(error) = store_error {
            self.publish(error);
        }
        if let Some(title) = prepared.title {
            self.info.title = Some(title);
            self.info_changed();
        } else if prepared.state_changed {
            self.persist();
        }
        self.mirror();
    }

    /// The session's in-memory transcript, loaded from the store on first use.
    fn transcript(&mut self) -> &mut Transcript {
        if self.transcript.is_none() {
            let store = self.ctx.store.clone();
            let id = self.info.id.clone();
            let page = tokio::task::block_in_place(|| {
                store.call_blocking(move |store| store.messages(&id, None, RECENT_MESSAGES))
            });
            let transcript = match page {
                Ok(page) => Transcript::new(page.messages, page.has_more),
                Err(e) => {
                    tracing::error!(session = %self.info.id, error = %e, "loading recent messages");
                    Transcript::new(Vec::new(), true)
                }
            };
            self.transcript = Some(transcript);
        }
        self.transcript.get_or_insert_with(Transcript::default)
    }

    /// Drops the transcript of a stopped session nobody watches (it is reloaded on use).
    fn release_transcript(&mut self) {
        if matches!(self.info.state, State::Stopped | State::Error)
            && self.info.subscribers == 0
            && self.harness.is_none()
        {
            self.transcript = None;
        }
    }

    /// Writes an ended message to the store, waiting for the write. A failure is logged and
    /// returned as a `session.error` event to publish (once per run of failures): the live
    /// session goes on without its history.
    async fn store_message(&mut self, message: Message, seq: u64) -> Option<EventKind> {
        match self.ctx.store.put_message(message, seq).await {
            Ok(()) => {
                self.store_failing = false;
                None
            }
            Err(e) => {
                tracing::error!(session = %self.info.id, error = %e, "storing a message failed");
                if std::mem::replace(&mut self.store_failing, true) {
                    return None;
                }
                Some(EventKind::Error {
                    code: e.code(),
                    message: format!(
                        "history store failed: {e}; the session goes on, but its messages are not stored"
                    ),
                    recoverable: true,
                })
            }
        }
    }

    fn set_state(&mut self, state: State, phase: Option<Phase>, reason: Option<String>) {
        if self.info.state == state && self.info.phase == phase && self.info.reason == reason {
            return;
        }
        self.publish(EventKind::State {
            state,
            phase,
            reason,
        });
        self.update_idle_clock();
        self.release_transcript();
    }

    /// Title, model or harness changed: tell subscribers and store it.
    fn info_changed(&mut self) {
        let info = Box::new(self.info.clone());
        self.publish(EventKind::SessionUpdated { info });
        self.persist();
    }

    fn subscribers_changed(&mut self) {
        self.info.subscribers = u32::try_from(self.hub.fanout().len()).unwrap_or(u32::MAX);
        self.mirror();
        self.update_idle_clock();
        self.release_transcript();
    }

    fn update_idle_clock(&mut self) {
        let reapable =
            self.info.state == State::Idle && self.info.subscribers == 0 && self.harness.is_some();
        match (reapable, self.idle_since) {
            (true, None) => self.idle_since = Some(Instant::now()),
            (false, Some(_)) => self.idle_since = None,
            _ => {}
        }
    }

    fn mirror(&self) {
        let mut shared = self.shared.info.lock().expect("session info lock");
        shared.clone_from(&self.info);
    }

    fn record(&self) -> SessionRecord {
        SessionRecord {
            id: self.info.id.clone(),
            harness: self.info.harness.clone(),
            harness_ref: self.harness_ref.clone(),
            cwd: self.info.cwd.clone(),
            title: self.info.title.clone(),
            model: self.info.model.clone(),
            created_at: self.info.created_at,
            updated_at: self.info.last_activity,
            state: self.info.state,
            reason: self.info.reason.clone(),
            parent: self.info.parent.clone(),
            sandbox_profile: self.info.sandbox_profile.clone(),
            last_seq: self.info.last_seq,
        }
    }

    fn persist(&self) {
        let record = self.record();
        self.ctx.store.spawn("updating a session", move |store| {
            store.update_session(&record)
        });
    }

    fn send_snapshots(&mut self, needs: &[NeedsResync]) {
        let mut queue: Vec<NeedsResync> = needs.to_vec();
        while let Some(need) = queue.pop() {
            let (messages, has_more) = self.transcript().recent();
            let in_flight = self.transcript().in_flight().cloned();
            let line = self.hub.log().snapshot_line(
                need.reason,
                self.info.clone(),
                messages,
                has_more,
                in_flight,
                now_millis(),
            );
            let _ = self.hub.resync(need.id, line);
            queue.extend(self.hub.pump());
        }
    }

    // ----- timers ------------------------------------------------------------------------

    fn next_deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        if self.fail_reason.is_some() {
            return Some(now);
        }
        let mut next: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        if self.hub.has_pending() {
            consider(Some(now + PUMP));
        }
        if let Some(h) = &self.harness {
            if h.unquiet {
                consider(Some(h.last_line + QUIET));
            }
            if !h.ready {
                consider(Some(h.started + self.ctx.config.timeouts.ready));
            }
            if self.info.state == State::Working {
                consider(
                    self.ctx
                        .config
                        .timeouts
                        .silence
                        .map(|silence| h.last_line + silence),
                );
            }
        }
        if let (Some(since), Some(idle)) = (self.idle_since, self.ctx.config.timeouts.idle) {
            consider(Some(since + idle));
        }
        for pending in self.pending.values() {
            consider(pending.deadline);
        }
        next
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if let Some(reason) = self.fail_reason.take() {
            self.stop_harness().await;
            self.harness_gone(&reason, State::Error).await;
            return;
        }
        if self.hub.has_pending() {
            let needs = self.hub.pump();
            self.send_snapshots(&needs);
        }
        let timeouts = self.ctx.config.timeouts;
        if let Some(h) = &mut self.harness {
            if h.unquiet && now >= h.last_line + QUIET {
                h.unquiet = false;
                let outputs = h.adapter.quiet(now_millis());
                self.apply_stored(outputs).await;
            }
        }
        if let Some(h) = &self.harness {
            if !h.ready && now >= h.started + timeouts.ready {
                let reason = format!(
                    "{} did not become ready within {}",
                    self.info.harness,
                    crate::config::format_duration(timeouts.ready)
                );
                self.stop_harness().await;
                self.harness_gone(&reason, State::Error).await;
                return;
            }
            if let Some(silence) = timeouts.silence {
                if self.info.state == State::Working && now >= h.last_line + silence {
                    let reason = format!(
                        "{} wrote nothing for {} while working; stopped as hung",
                        self.info.harness,
                        crate::config::format_duration(silence)
                    );
                    self.stop_harness().await;
                    self.harness_gone(&reason, State::Error).await;
                    return;
                }
            }
        }
        if let (Some(since), Some(idle)) = (self.idle_since, timeouts.idle) {
            if now >= since + idle {
                self.idle_since = None;
                self.stop_harness().await;
                let reason = format!(
                    "idle for {}; harness stopped",
                    crate::config::format_duration(idle)
                );
                self.set_state(State::Stopped, None, Some(reason));
            }
        }
        let expired: Vec<Token> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| now >= d))
            .map(|(token, _)| *token)
            .collect();
        for token in expired {
            if let Some(pending) = self.pending.remove(&token) {
                let _ = pending.reply.send(Err(OpError::new(
                    ErrorCode::Timeout,
                    format!(
                        "harness did not answer `{}` within {}",
                        pending.name,
                        crate::config::format_duration(timeouts.ready)
                    ),
                )));
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

//! The agent loop: the `init` handshake, then commands while idle, and turns (in
//! `turn.rs`) that keep answering commands between deltas.

use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::bail;
use oqto_cli::Exit;
use oqto_protocol::harness::AGENT_PROTOCOL_VERSION;
use oqto_protocol::{
    AgentCommand, AgentReply, AgentRequest, Capability, ErrorCode, EventKind, MessageId, ModelInfo,
    ModelRef, PartId, Phase, RequestId, SessionId, State,
};
use tracing::{debug, info, warn};

use crate::input::Input;
use crate::output::Output;
use crate::resume::Resume;

/// What the command line configures.
#[derive(Clone, Debug)]
pub struct Config {
    /// Pause between streamed deltas (and tool output chunks).
    pub delay: Duration,
    /// How many deltas a default reply is split into.
    pub deltas: u32,
    /// The name in `ready.agent`, before `/<version>`.
    pub name: String,
}

/// How the process ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `shutdown` or stdin EOF: exit 0.
    Clean,
    /// The `crash` script: exit with this code.
    Crash(u8),
}

impl From<End> for ExitCode {
    fn from(end: End) -> Self {
        match end {
            End::Clean => Exit::Ok.into(),
            End::Crash(code) => ExitCode::from(code),
        }
    }
}

/// What stops a stream at a delta boundary.
#[derive(Debug)]
pub(crate) enum Interrupt {
    /// `abort` with this request id (answered once the session is idle).
    Abort(RequestId),
    /// A steer arrived; it is at the back of the steering queue.
    Steer,
    /// The process should exit.
    End(End),
}

/// What a request asks of the loop beyond its reply.
#[derive(Debug)]
enum Action {
    None,
    StartTurn(String),
    Interrupt(Interrupt),
}

/// The capabilities `ready` announces.
const CAPABILITIES: [Capability; 6] = [
    Capability::Steer,
    Capability::FollowUp,
    Capability::Compact,
    Capability::Models,
    Capability::Thinking,
    Capability::Fork,
];

/// The model used when `init` names none.
fn default_model() -> ModelRef {
    ModelRef {
        provider: "fake".into(),
        id: "fake-model".into(),
    }
}

/// The models `get_models` lists and `set_model` accepts.
pub fn models() -> Vec<ModelInfo> {
    vec![
        ModelInfo {
            provider: "fake".into(),
            id: "fake-model".into(),
            name: Some("Fake Model".into()),
            context_window: Some(128_000),
            reasoning: true,
        },
        ModelInfo {
            provider: "fake".into(),
            id: "fake-model-2".into(),
            name: Some("Fake Model 2".into()),
            context_window: Some(32_000),
            reasoning: false,
        },
    ]
}

/// Runs the agent: waits for `init`, then serves until `shutdown`, stdin EOF or a crash.
pub fn serve<W: Write>(config: Config, rx: Receiver<Input>, out: W) -> anyhow::Result<End> {
    let mut out = Output::new(out);
    loop {
        let request = match rx.recv().unwrap_or(Input::Eof) {
            Input::Request(request) => request,
            Input::Bad(error) => {
                out.send_error(error)?;
                continue;
            }
            Input::Eof => return Ok(End::Clean),
            Input::Failed(why) => bail!(why),
        };
        let AgentCommand::Init {
            protocol,
            session,
            cwd,
            resume,
            model,
        } = request.command
        else {
            let name = command_name(&request.command);
            out.error(
                request.id,
                ErrorCode::InvalidState,
                format!("`{name}` before `init`: the first request must be `init`"),
            )?;
            continue;
        };
        if protocol != AGENT_PROTOCOL_VERSION {
            out.error(
                request.id,
                ErrorCode::ProtocolMismatch,
                format!(
                    "protocol version {protocol} is not supported; this agent speaks version {AGENT_PROTOCOL_VERSION}"
                ),
            )?;
            continue;
        }
        let resumed = match resume.as_deref().map(Resume::parse).transpose() {
            Ok(resumed) => resumed,
            Err(bad) => {
                out.error(request.id, ErrorCode::BadRequest, bad.to_string())?;
                continue;
            }
        };
        info!(%session, cwd, resume = resume.as_deref(), "initialized");
        let mut agent = Agent::new(
            config,
            rx,
            out,
            session,
            model.unwrap_or_else(default_model),
            &resumed.unwrap_or_default(),
        );
        let ready = agent.ready();
        agent.out.ok(request.id, ready)?;
        return agent.run();
    }
}

/// A command's wire name, for messages.
fn command_name(command: &AgentCommand) -> &'static str {
    match command {
        AgentCommand::Init { .. } => "init",
        AgentCommand::Prompt { .. } => "prompt",
        AgentCommand::Steer { .. } => "steer",
        AgentCommand::FollowUp { .. } => "follow_up",
        AgentCommand::Abort {} => "abort",
        AgentCommand::SetModel { .. } => "set_model",
        AgentCommand::GetModels {} => "get_models",
        AgentCommand::SetThinkingLevel { .. } => "set_thinking_level",
        AgentCommand::Compact { .. } => "compact",
        AgentCommand::Fork { .. } => "fork",
        AgentCommand::Shutdown {} => "shutdown",
    }
}

/// An initialized agent: one conversation.
#[derive(Debug)]
pub(crate) struct Agent<W: Write> {
    pub(crate) out: Output<W>,
    rx: Receiver<Input>,
    pub(crate) config: Config,
    pub(crate) session: SessionId,
    pub(crate) model: ModelRef,
    /// Turns run so far (resume token included).
    pub(crate) turns: u64,
    /// Message labels handed out so far: the last one is `m<messages>`.
    messages: u64,
    /// Part labels handed out so far: the last one is `p<parts>`.
    parts: u64,
    /// Labels of the user messages of this process, which `fork` accepts.
    pub(crate) user_labels: BTreeSet<MessageId>,
    steering: VecDeque<String>,
    follow_up: VecDeque<String>,
    /// The phase last reported while working; `None` while idle.
    phase: Option<Phase>,
}

impl<W: Write> Agent<W> {
    fn new(
        config: Config,
        rx: Receiver<Input>,
        out: Output<W>,
        session: SessionId,
        model: ModelRef,
        resume: &Resume,
    ) -> Self {
        if let Some(fork) = &resume.fork {
            info!(before = fork, "continuing a forked conversation");
        }
        Self {
            out,
            rx,
            config,
            session,
            model,
            turns: resume.turns,
            messages: resume.messages,
            parts: resume.parts,
            user_labels: BTreeSet::new(),
            steering: VecDeque::new(),
            follow_up: VecDeque::new(),
            phase: None,
        }
    }

    /// The counters a later `init` continues from.
    fn resume_point(&self, fork: Option<String>) -> Resume {
        Resume {
            turns: self.turns,
            messages: self.messages,
            parts: self.parts,
            fork,
        }
    }

    fn ready(&self) -> AgentReply {
        AgentReply::Ready {
            agent: format!("{}/{}", self.config.name, env!("CARGO_PKG_VERSION")),
            capabilities: CAPABILITIES.to_vec(),
            model: Some(self.model.clone()),
            resume: Some(self.resume_point(None).to_string()),
        }
    }

    /// The idle loop.
    fn run(mut self) -> anyhow::Result<End> {
        loop {
            match self.recv() {
                Input::Request(request) => match self.request(request, false)? {
                    Action::None | Action::Interrupt(Interrupt::Abort(_) | Interrupt::Steer) => {}
                    Action::StartTurn(text) => {
                        if let Some(end) = self.turn(text)? {
                            return Ok(end);
                        }
                    }
                    Action::Interrupt(Interrupt::End(end)) => return Ok(end),
                },
                Input::Bad(error) => self.out.send_error(error)?,
                Input::Eof => return Ok(End::Clean),
                Input::Failed(why) => bail!(why),
            }
        }
    }

    fn recv(&self) -> Input {
        self.rx.recv().unwrap_or(Input::Eof)
    }

    /// Waits up to `wait` for commands, answering them; returns early when one interrupts
    /// the stream. With a zero `wait`, only handles what has already arrived.
    pub(crate) fn boundary(&mut self, wait: Duration) -> anyhow::Result<Option<Interrupt>> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let input = if left.is_zero() {
                match self.rx.try_recv() {
                    Ok(input) => input,
                    Err(TryRecvError::Empty) => return Ok(None),
                    Err(TryRecvError::Disconnected) => Input::Eof,
                }
            } else {
                match self.rx.recv_timeout(left) {
                    Ok(input) => input,
                    Err(RecvTimeoutError::Timeout) => return Ok(None),
                    Err(RecvTimeoutError::Disconnected) => Input::Eof,
                }
            };
            match input {
                Input::Request(request) => match self.request(request, true)? {
                    Action::None | Action::StartTurn(_) => {}
                    Action::Interrupt(interrupt) => return Ok(Some(interrupt)),
                },
                Input::Bad(error) => self.out.send_error(error)?,
                Input::Eof => return Ok(Some(Interrupt::End(End::Clean))),
                Input::Failed(why) => bail!(why),
            }
        }
    }

    /// Writes nothing more until stdin closes (the `hang` script).
    pub(crate) fn hang(&mut self) -> anyhow::Result<End> {
        warn!("hanging as asked: writing nothing more until stdin closes");
        loop {
            match self.recv() {
                Input::Eof => return Ok(End::Clean),
                Input::Failed(why) => bail!(why),
                Input::Request(_) | Input::Bad(_) => {}
            }
        }
    }

    /// Answers one request; `busy` while a turn runs.
    fn request(&mut self, request: AgentRequest, busy: bool) -> anyhow::Result<Action> {
        let AgentRequest { id, command } = request;
        debug!(%id, command = command_name(&command), busy, "command");
        match command {
            AgentCommand::Init { .. } => {
                self.out
                    .error(id, ErrorCode::InvalidState, "already initialized")?;
            }
            AgentCommand::Prompt { .. } if busy => {
                self.out.error(
                    id,
                    ErrorCode::InvalidState,
                    "a turn is running: wait for idle, or use steer or follow_up",
                )?;
            }
            AgentCommand::Prompt { images, .. } if !images.is_empty() => {
                self.out.error(
                    id,
                    ErrorCode::Unsupported,
                    "this agent does not take images",
                )?;
            }
            AgentCommand::Prompt { text, .. } => {
                self.out.ok(id, AgentReply::Empty)?;
                return Ok(Action::StartTurn(text));
            }
            AgentCommand::Steer { text } => {
                self.steering.push_back(text);
                self.out.ok(id, AgentReply::Empty)?;
                self.queue_update()?;
                if busy {
                    return Ok(Action::Interrupt(Interrupt::Steer));
                }
            }
            AgentCommand::FollowUp { text } => {
                self.follow_up.push_back(text);
                self.out.ok(id, AgentReply::Empty)?;
                self.queue_update()?;
            }
            AgentCommand::Abort {} if busy => {
                return Ok(Action::Interrupt(Interrupt::Abort(id)));
            }
            AgentCommand::Abort {} | AgentCommand::SetThinkingLevel { .. } => {
                self.out.ok(id, AgentReply::Empty)?;
            }
            AgentCommand::SetModel { provider, model } => {
                self.set_model(id, provider.as_deref(), &model)?;
            }
            AgentCommand::GetModels {} => {
                self.out.ok(id, AgentReply::Models { models: models() })?;
            }
            AgentCommand::Compact { .. } if busy => {
                self.out.error(
                    id,
                    ErrorCode::InvalidState,
                    "cannot compact while a turn is running",
                )?;
            }
            AgentCommand::Compact { instructions } => {
                self.compact(id, instructions.as_deref())?;
            }
            AgentCommand::Fork { message_id } => self.fork(id, message_id)?,
            AgentCommand::Shutdown {} => {
                self.out.ok(id, AgentReply::Empty)?;
                info!("shutting down as asked");
                return Ok(Action::Interrupt(Interrupt::End(End::Clean)));
            }
        }
        Ok(Action::None)
    }

    fn set_model(
        &mut self,
        id: RequestId,
        provider: Option<&str>,
        model: &str,
    ) -> anyhow::Result<()> {
        let found = models()
            .into_iter()
            .find(|m| m.id == model && provider.is_none_or(|p| p == m.provider));
        let Some(info) = found else {
            let name = provider.map_or_else(|| model.to_owned(), |p| format!("{p}/{model}"));
            return self.out.error(
                id,
                ErrorCode::BadRequest,
                format!("unknown model `{name}`; get_models lists the models"),
            );
        };
        self.model = ModelRef {
            provider: info.provider.clone(),
            id: info.id.clone(),
        };
        self.out.event(EventKind::ModelChanged {
            model: self.model.clone(),
            thinking_level: None,
        })?;
        self.out.ok(id, AgentReply::Model { model: info })
    }

    fn compact(&mut self, id: RequestId, instructions: Option<&str>) -> anyhow::Result<()> {
        debug!(instructions, "compacting");
        let summary = format!("SUMMARY: {} messages", self.messages);
        let tokens_before = Some(self.messages.saturating_mul(100));
        let reason = oqto_protocol::CompactionReason::Manual;
        self.set_phase(Phase::Compacting)?;
        self.out.event(EventKind::CompactionStart { reason })?;
        self.out.event(EventKind::CompactionEnd {
            reason,
            aborted: false,
            summary: Some(summary.clone()),
            tokens_before,
        })?;
        self.idle()?;
        self.out.ok(
            id,
            AgentReply::Compacted {
                summary,
                tokens_before,
            },
        )
    }

    fn fork(&mut self, id: RequestId, message_id: MessageId) -> anyhow::Result<()> {
        if !self.user_labels.contains(&message_id) {
            return self.out.error(
                id,
                ErrorCode::MessageNotFound,
                format!("no user message `{message_id}` in this conversation"),
            );
        }
        let resume = self.resume_point(Some(message_id.0)).to_string();
        self.out.ok(id, AgentReply::Forked { resume })
    }

    /// Reports `working` in `phase`, unless that is already the last report.
    pub(crate) fn set_phase(&mut self, phase: Phase) -> anyhow::Result<()> {
        if self.phase == Some(phase) {
            return Ok(());
        }
        self.phase = Some(phase);
        self.out.event(EventKind::State {
            state: State::Working,
            phase: Some(phase),
            reason: None,
        })
    }

    /// Reports `idle`.
    pub(crate) fn idle(&mut self) -> anyhow::Result<()> {
        self.phase = None;
        self.out.event(EventKind::State {
            state: State::Idle,
            phase: None,
            reason: None,
        })
    }

    pub(crate) fn next_message(&mut self) -> MessageId {
        self.messages += 1;
        MessageId(format!("m{}", self.messages))
    }

    pub(crate) fn next_part(&mut self) -> PartId {
        self.parts += 1;
        PartId(format!("p{}", self.parts))
    }

    pub(crate) fn queue_update(&mut self) -> anyhow::Result<()> {
        self.out.event(EventKind::QueueUpdate {
            steering: self.steering.iter().cloned().collect(),
            follow_up: self.follow_up.iter().cloned().collect(),
        })
    }

    /// The next queued text to deliver in this turn: steers first, then follow-ups.
    pub(crate) fn dequeue(&mut self) -> anyhow::Result<Option<String>> {
        let next = self
            .steering
            .pop_front()
            .or_else(|| self.follow_up.pop_front());
        if next.is_some() {
            self.queue_update()?;
        }
        Ok(next)
    }

    /// Drops every queued text (after an abort).
    pub(crate) fn clear_queues(&mut self) -> anyhow::Result<()> {
        if self.steering.is_empty() && self.follow_up.is_empty() {
            return Ok(());
        }
        self.steering.clear();
        self.follow_up.clear();
        self.queue_update()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use oqto_protocol::AgentMessage;

    use super::*;

    /// Feeds `lines` then EOF to an in-process agent; returns how it ended and its output.
    fn serve_lines(lines: &[&str]) -> (End, Vec<AgentMessage>) {
        let (tx, rx) = mpsc::sync_channel(lines.len() + 1);
        for line in lines {
            let input = match AgentRequest::parse(line) {
                Ok(request) => Input::Request(request),
                Err(error) => Input::Bad(error),
            };
            tx.send(input).expect("queue");
        }
        drop(tx);
        let config = Config {
            delay: Duration::ZERO,
            deltas: 5,
            name: "unit".into(),
        };
        let mut out = Vec::new();
        let end = serve(config, rx, &mut out).expect("serve");
        let text = String::from_utf8(out).expect("utf-8");
        let messages = text
            .lines()
            .map(|l| AgentMessage::parse(l).expect("AgentMessage"))
            .collect();
        (end, messages)
    }

    fn error_code(msg: &AgentMessage) -> Option<ErrorCode> {
        match msg {
            AgentMessage::Error(e) => Some(e.code),
            _ => None,
        }
    }

    #[test]
    fn handshake_then_commands_then_eof() {
        let (end, out) = serve_lines(&[
            r#"{"id":"0","type":"get_models"}"#,
            r#"{"id":"1","type":"init","protocol":1,"session":"s","cwd":"/","resume":"fake:4:10:12"}"#,
            r#"{"id":"2","type":"fork","message_id":"m3"}"#,
            r#"{"id":"3","type":"compact"}"#,
        ]);
        assert_eq!(end, End::Clean);
        assert_eq!(error_code(&out[0]), Some(ErrorCode::InvalidState));
        let AgentMessage::Ok(ready) = &out[1] else {
            panic!("no ready: {out:?}");
        };
        assert!(matches!(
            &ready.result,
            AgentReply::Ready { agent, resume: Some(token), .. }
                if agent.starts_with("unit/") && token == "fake:4:10:12"
        ));
        // Only user messages of this process can be forked.
        assert_eq!(error_code(&out[2]), Some(ErrorCode::MessageNotFound));
        assert!(matches!(
            out.last(),
            Some(AgentMessage::Ok(ok)) if ok.result == AgentReply::Compacted {
                summary: "SUMMARY: 10 messages".into(),
                tokens_before: Some(1000),
            }
        ));
    }

    #[test]
    fn shutdown_ends_cleanly_before_eof() {
        let (end, out) = serve_lines(&[
            r#"{"id":"1","type":"init","protocol":1,"session":"s","cwd":"/"}"#,
            r#"{"id":"2","type":"shutdown"}"#,
            r#"{"id":"3","type":"get_models"}"#,
        ]);
        assert_eq!(end, End::Clean);
        assert_eq!(out.len(), 2, "nothing after shutdown: {out:?}");
    }
}

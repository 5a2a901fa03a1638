//! [`PiAdapter`]: the [`Adapter`] for `pi --mode rpc` (see `shared/reference/pi-rpc.md`).
//!
//! Every command written to pi carries a fresh id (`oqto-1`, `oqto-2`, …): pi handles each
//! input line in its own task and answers out of order, so responses are matched by id to
//! what they were for: the handshake, a client command (answered as [`Output::Done`] with its
//! [`Token`]), an internal step of a multi-step command, or the `abort` of
//! [`Adapter::stop_lines`]. pi answers a line it cannot parse and an unknown command without
//! the id; those (and answers to ids not in flight) only give [`Output::Warn`]. Events go
//! through the [`Translator`].
//!
//! # Handshake
//!
//! pi has no ready message, so `get_state` is the handshake. Its answer gives
//! [`Ready::resume`] (`sessionFile`), the model, the thinking level and the title
//! (`sessionName`). A model asked for at start is set with `set_model` before
//! [`Output::Ready`] (after `get_available_models` when the provider is not named), unless
//! pi already uses it.
//!
//! # Choices
//!
//! * **`model.changed`.** `set_model` answers with the model and emits no event of its own,
//!   so the adapter emits `model.changed` when the model differs from the one in use. pi
//!   re-clamps the thinking level on a model switch and may emit `thinking_level_changed`
//!   before the answer: while a `set_model` is in flight that event is absorbed into the one
//!   `model.changed` (with the new model) instead of yielding a second one naming the old
//!   model. `set_thinking_level` emits `thinking_level_changed` only when the level really
//!   changes (pi clamps it to what the model supports), and the translator turns that into
//!   `model.changed`; the adapter adds nothing, so a no-op level change gives no event.
//! * **Fork.** pi forks by switching its own process to a new session file holding the
//!   branch. The adapter runs `get_fork_messages` → `fork {entryId}` → `get_state` (the new
//!   `sessionFile`, the answer) → `switch_session` back to the original file, so this
//!   session's pi stays on its own conversation. pi emits no events for `fork` or
//!   `switch_session` (checked in its source and against the real pi); anything pi writes
//!   other than responses between `fork` and the answer to `switch_session` belongs to the
//!   branch and is dropped with a warning. Commands that arrive during a fork are held and
//!   written once pi is back. A fork needs pi to be idle (pi disposes the running session on
//!   a switch) and a session file (not `--no-session`). If the switch back fails, pi is left
//!   on the branch: the adapter reports [`Output::Failed`] so the process is replaced.
//!   A fork before the first user message leaves pi with a branch holding no message, and
//!   pi writes such a file only at its first assistant message: the path it returns does
//!   not exist yet, and `--session` with it starts an empty conversation there.
//! * **A run in flight** is tracked from `agent_start`/`agent_end` and pi's retry events,
//!   for [`Adapter::stop_lines`] (an `abort` when one runs) and to refuse a fork.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;

use oqto_protocol::{Capability, ErrorCode, EventKind, Millis, ModelRef, SessionId, ThinkingLevel};
use serde_json::{Value, json};

use oqto_pi::{PiLine, PiResponse, parse_line};

use self::commands::command_answer;
use self::events::{Out, Translator};
use super::adapter::{Adapter, Done, ModelChoice, Op, OpError, Output, Ready, StartSpec, Token};
use super::{IdSource, excerpt};
use crate::ids::RunnerIds;

mod commands;
pub mod events;
mod fork;
mod handshake;
#[cfg(test)]
mod real_pi;
#[cfg(test)]
pub(crate) mod test_pi;
#[cfg(test)]
mod tests;

/// What pi can do.
const CAPABILITIES: [Capability; 8] = [
    Capability::Steer,
    Capability::FollowUp,
    Capability::Fork,
    Capability::Compact,
    Capability::Models,
    Capability::Thinking,
    Capability::Images,
    Capability::Rename,
];

/// pi's error for a prompt while a run is going (its start; pi adds advice).
const ALREADY_PROCESSING: &str = "Agent is already processing";

/// pi's error for `set_model` with a model it does not offer (its start).
const MODEL_NOT_FOUND: &str = "Model not found";

/// How a client command's successful answer reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// `prompt`: [`Done::Empty`]; `Agent is already processing` is `invalid_state`.
    Prompt,
    /// [`Done::Empty`].
    Empty,
    /// `get_available_models` → [`Done::Models`].
    Models,
    /// `compact` → [`Done::Compacted`].
    Compacted,
}

/// What a command id in flight was for.
#[derive(Debug)]
enum Pending {
    /// The handshake's `get_state`, with the model to set before ready.
    Handshake { model: Option<ModelChoice> },
    /// `get_available_models` to find the provider of the model asked for at start.
    HandshakeModels { ready: Ready, model: String },
    /// The `set_model` that completes the handshake (`wanted` names it for errors).
    HandshakeModel { ready: Ready, wanted: String },
    /// A client command answered from its response alone.
    Command { token: Token, answer: Answer },
    /// `get_available_models` to find the provider of `model` for a client's `set_model`.
    ResolveModel { token: Token, model: String },
    /// A client's `set_model` (`wanted` names the model for errors).
    SetModel { token: Token, wanted: String },
    /// Fork step 1: find pi's entry id of the user message.
    ForkMessages { user_index: usize, text: String },
    /// Fork step 2: pi switches to a new session file with the branch.
    ForkEntry,
    /// Fork step 3: the new session file.
    ForkState,
    /// Fork step 4: back to the original session file; `result` answers the fork after it.
    ForkSwitch { result: Result<Done, OpError> },
    /// The `abort` of [`Adapter::stop_lines`].
    Stop,
}

impl Pending {
    fn is_set_model(&self) -> bool {
        matches!(
            self,
            Pending::SetModel { .. } | Pending::HandshakeModel { .. }
        )
    }
}

/// The fork in flight.
#[derive(Debug)]
struct ForkRun {
    token: Token,
    /// The session file to go back to.
    original: String,
    /// `fork` was written and pi is not back yet: pi's events belong to the branch.
    away: bool,
}

/// The adapter for one `pi --mode rpc` process.
#[derive(Debug)]
pub struct PiAdapter<I: IdSource = RunnerIds> {
    translator: Translator<I>,
    /// The last command id used; the next is one more.
    last_id: u64,
    pending: HashMap<String, Pending>,
    /// pi's session file, from the handshake (what a fork goes back to).
    session_file: Option<String>,
    model: Option<ModelRef>,
    thinking_level: Option<ThinkingLevel>,
    /// A `thinking_level_changed` was absorbed while a `set_model` was in flight.
    level_changed: bool,
    /// Inside `agent_start` … `agent_end`.
    run: bool,
    /// `auto_retry_start` seen, and its run has not started yet.
    retry_waiting: bool,
    fork: Option<ForkRun>,
    /// Commands that arrived during the fork, written once it is over.
    held: VecDeque<(Token, Op)>,
}

impl<I: IdSource> PiAdapter<I> {
    /// An adapter for one pi process of `session`, naming messages and parts from `ids`.
    pub fn new(session: SessionId, ids: I) -> Self {
        Self {
            translator: Translator::new(session, ids),
            last_id: 0,
            pending: HashMap::new(),
            session_file: None,
            model: None,
            thinking_level: None,
            level_changed: false,
            run: false,
            retry_waiting: false,
            fork: None,
            held: VecDeque::new(),
        }
    }

    /// The line for `command` (a JSON object with its `type`) with a fresh id, remembering
    /// what it is for.
    fn request(&mut self, mut command: Value, pending: Pending) -> String {
        self.last_id += 1;
        let id = format!("oqto-{}", self.last_id);
        command["id"] = Value::String(id.clone());
        self.pending.insert(id, pending);
        command.to_string()
    }

    fn write(&mut self, command: Value, pending: Pending) -> Output {
        Output::Write(self.request(command, pending))
    }

    /// Whether pi runs (or is about to run) something a fork must not interrupt.
    fn busy(&self) -> bool {
        self.run
            || self.retry_waiting
            || self.pending.values().any(|p| {
                matches!(
                    p,
                    Pending::Command {
                        answer: Answer::Prompt | Answer::Compacted,
                        ..
                    }
                )
            })
    }

    // ----- lines from pi -------------------------------------------------------------------

    /// Keeps the run and the thinking level up to date from an event.
    fn track(&mut self, line: &PiLine) {
        match line {
            PiLine::AgentStart => {
                self.run = true;
                self.retry_waiting = false;
            }
            PiLine::AgentEnd => self.run = false,
            PiLine::AutoRetryStart { .. } => self.retry_waiting = true,
            PiLine::AutoRetryEnd { .. } => self.retry_waiting = false,
            PiLine::ThinkingLevelChanged { level } => {
                if let Some(level) = thinking_level(level) {
                    self.thinking_level = Some(level);
                }
            }
            _ => {}
        }
    }

    fn translated(&mut self, outs: Vec<Out>) -> Vec<Output> {
        let mut outputs = Vec::new();
        for out in outs {
            match out {
                Out::Event(event) => {
                    if let EventKind::ModelChanged {
                        model,
                        thinking_level,
                    } = &event
                    {
                        self.model = Some(model.clone());
                        if thinking_level.is_some() {
                            self.thinking_level = *thinking_level;
                        }
                    }
                    outputs.push(Output::Event(event));
                }
                Out::Title(title) => outputs.push(Output::Title(title)),
                Out::Response(response) => outputs.extend(self.response(&response)),
            }
        }
        outputs
    }

    /// A line that does not parse. When it still reads as a response to a command in flight,
    /// that command fails with the reason, so that it does not wait forever.
    fn unparsed(&mut self, line: &str, why: &str) -> Vec<Output> {
        let warning = format!("{why}: {}", excerpt(line));
        let Some(id) = response_id(line).filter(|id| self.pending.contains_key(id)) else {
            return vec![Output::Warn(warning)];
        };
        self.response(&PiResponse {
            id: Some(id),
            command: "(unreadable)".into(),
            success: false,
            data: None,
            error: Some(warning),
        })
    }

    fn response(&mut self, response: &PiResponse) -> Vec<Output> {
        let Some(id) = response.id.clone() else {
            return vec![Output::Warn(format!(
                "pi answered `{}` without an id: {}",
                response.command,
                error_text(response)
            ))];
        };
        let Some(pending) = self.pending.remove(&id) else {
            return vec![Output::Warn(format!(
                "pi answered `{id}` ({}), which is not in flight",
                response.command
            ))];
        };
        match pending {
            Pending::Handshake { model } => self.handshake(response, model),
            Pending::HandshakeModels { ready, model } => {
                self.handshake_models(response, ready, &model)
            }
            Pending::HandshakeModel { ready, wanted } => {
                self.handshake_model(response, ready, &wanted)
            }
            Pending::Command { token, answer } => vec![Output::Done {
                token,
                result: command_answer(answer, response),
            }],
            Pending::ResolveModel { token, model } => self.resolve_model(token, response, &model),
            Pending::SetModel { token, wanted } => self.model_set(token, response, &wanted),
            Pending::ForkMessages { user_index, text } => {
                self.fork_messages(response, user_index, &text)
            }
            Pending::ForkEntry => self.fork_entry(response),
            Pending::ForkState => self.fork_state(response),
            Pending::ForkSwitch { result } => self.fork_switch(response, result),
            Pending::Stop => Vec::new(),
        }
    }
}

impl<I: IdSource + Send> Adapter for PiAdapter<I> {
    fn capabilities(&self) -> Vec<Capability> {
        CAPABILITIES.to_vec()
    }

    fn extra_args(&self, spec: &StartSpec) -> Vec<OsString> {
        match &spec.resume {
            Some(file) => vec!["--session".into(), file.into()],
            None => Vec::new(),
        }
    }

    fn start(&mut self, spec: &StartSpec) -> Vec<Output> {
        let pending = Pending::Handshake {
            model: spec.model.clone(),
        };
        vec![self.write(json!({"type": "get_state"}), pending)]
    }

    fn command(&mut self, token: Token, op: Op) -> Result<Vec<Output>, OpError> {
        if self.fork.is_some() {
            if matches!(op, Op::Fork { .. }) {
                return Err(OpError::new(
                    ErrorCode::InvalidState,
                    "a fork of this session is already in progress",
                ));
            }
            self.held.push_back((token, op));
            return Ok(Vec::new());
        }
        self.command_now(token, op)
    }

    fn feed(&mut self, line: &str, now: Millis) -> Vec<Output> {
        let parsed = match parse_line(line) {
            Ok(parsed) => parsed,
            Err(err) => return self.unparsed(line, &err.to_string()),
        };
        let is_response = matches!(parsed, PiLine::Response(_));
        if !is_response && self.fork.as_ref().is_some_and(|f| f.away) {
            return vec![Output::Warn(format!(
                "dropped a line pi wrote on the fork's branch: {}",
                excerpt(line)
            ))];
        }
        self.track(&parsed);
        if matches!(parsed, PiLine::ThinkingLevelChanged { .. })
            && self.pending.values().any(Pending::is_set_model)
        {
            // Reported with the `set_model`'s answer (see the module docs).
            self.level_changed = true;
            return Vec::new();
        }
        let outs = self.translator.feed(parsed, now);
        self.translated(outs)
    }

    fn quiet(&mut self, _now: Millis) -> Vec<Output> {
        let outs = self.translator.flush_idle();
        self.translated(outs)
    }

    fn stop_lines(&mut self) -> Vec<String> {
        if self.run || self.retry_waiting {
            vec![self.request(json!({"type": "abort"}), Pending::Stop)]
        } else {
            Vec::new()
        }
    }
}

fn step_failed(step: &str, why: &str) -> OpError {
    OpError::new(ErrorCode::HarnessFailed, format!("pi {step} failed: {why}"))
}

fn error_text(response: &PiResponse) -> &str {
    response.error.as_deref().unwrap_or("no error message")
}

fn thinking_level(level: &str) -> Option<ThinkingLevel> {
    serde_json::from_value(Value::String(level.to_owned())).ok()
}

/// The `id` of a line that looks like a response (`"type": "response"` with a string `id`),
/// however malformed the rest.
fn response_id(line: &str) -> Option<String> {
    let value: Value = serde_json::from_str(line).ok()?;
    if value.get("type")?.as_str()? != "response" {
        return None;
    }
    Some(value.get("id")?.as_str()?.to_owned())
}

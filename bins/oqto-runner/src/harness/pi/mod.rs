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

use oqto_protocol::{
    Capability, ErrorCode, EventKind, Millis, ModelInfo, ModelRef, SessionId, State, ThinkingLevel,
};
use serde::Deserialize;
use serde_json::{Value, json};

use oqto_pi::{PiLine, PiResponse, parse_line};

use self::events::{Out, Translator};
use super::IdSource;
use super::adapter::{Adapter, Done, ModelChoice, Op, OpError, Output, Ready, StartSpec, Token};
use crate::ids::RunnerIds;

pub mod events;
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

/// How many characters of a line a warning quotes.
const EXCERPT_CHARS: usize = 120;

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

    // ----- the handshake -------------------------------------------------------------------

    fn handshake(&mut self, response: &PiResponse, model: Option<ModelChoice>) -> Vec<Output> {
        if !response.success {
            return vec![Output::Failed(format!(
                "pi get_state failed: {}",
                error_text(response)
            ))];
        }
        let state: PiState = match data(response) {
            Ok(state) => state,
            Err(why) => return vec![Output::Failed(format!("pi get_state: {why}"))],
        };
        let ready = Ready {
            resume: state.session_file,
            model: state.model.as_ref().and_then(model_in_use),
            thinking_level: state.thinking_level.as_deref().and_then(thinking_level),
            title: state.session_name,
            capabilities: None,
        };
        self.session_file.clone_from(&ready.resume);
        self.model.clone_from(&ready.model);
        self.thinking_level = ready.thinking_level;
        match model {
            Some(choice) if !is_current(ready.model.as_ref(), &choice) => match choice.provider {
                Some(provider) => {
                    let wanted = format!("{provider}/{}", choice.model);
                    let command = set_model_command(&provider, &choice.model);
                    vec![self.write(command, Pending::HandshakeModel { ready, wanted })]
                }
                None => vec![self.write(
                    json!({"type": "get_available_models"}),
                    Pending::HandshakeModels {
                        ready,
                        model: choice.model,
                    },
                )],
            },
            _ => self.ready(ready),
        }
    }

    fn handshake_models(
        &mut self,
        response: &PiResponse,
        ready: Ready,
        model: &str,
    ) -> Vec<Output> {
        if !response.success {
            return vec![Output::Failed(format!(
                "pi get_available_models failed: {}",
                error_text(response)
            ))];
        }
        let models = match models(response) {
            Ok(models) => models,
            Err(why) => return vec![Output::Failed(format!("pi get_available_models: {why}"))],
        };
        match pick_model(&models, model) {
            Ok(found) => {
                let wanted = format!("{}/{}", found.provider, found.id);
                let command = set_model_command(&found.provider, &found.id);
                vec![self.write(command, Pending::HandshakeModel { ready, wanted })]
            }
            Err(err) => vec![Output::Failed(format!(
                "cannot start pi on the model asked for: {err}"
            ))],
        }
    }

    fn handshake_model(
        &mut self,
        response: &PiResponse,
        mut ready: Ready,
        wanted: &str,
    ) -> Vec<Output> {
        if !response.success {
            return vec![Output::Failed(format!(
                "pi refused model `{wanted}`: {}",
                error_text(response)
            ))];
        }
        match data::<PiModel>(response) {
            Ok(model) => {
                ready.model = Some(model.model_ref());
                self.model.clone_from(&ready.model);
                ready.thinking_level = self.thinking_level;
                // `Ready` carries the level; no event is due before it.
                self.level_changed = false;
                self.ready(ready)
            }
            Err(why) => vec![Output::Failed(format!("pi set_model `{wanted}`: {why}"))],
        }
    }

    fn ready(&mut self, ready: Ready) -> Vec<Output> {
        if let Some(model) = &ready.model {
            self.translator
                .set_model(model.clone(), ready.thinking_level);
        }
        self.translator.set_state(State::Idle, None);
        vec![Output::Ready(ready)]
    }

    // ----- commands ------------------------------------------------------------------------

    /// Writes `op` now (no fork in flight).
    fn command_now(&mut self, token: Token, op: Op) -> Result<Vec<Output>, OpError> {
        let (command, answer) = match op {
            Op::Prompt { text, images } => {
                let mut command = json!({"type": "prompt", "message": text});
                if !images.is_empty() {
                    let images: Vec<Value> = images
                        .into_iter()
                        .map(|image| {
                            json!({"type": "image", "data": image.data, "mimeType": image.mime_type})
                        })
                        .collect();
                    command["images"] = Value::Array(images);
                }
                (command, Answer::Prompt)
            }
            Op::Steer { text } => (json!({"type": "steer", "message": text}), Answer::Empty),
            Op::FollowUp { text } => (json!({"type": "follow_up", "message": text}), Answer::Empty),
            Op::Abort => (json!({"type": "abort"}), Answer::Empty),
            Op::SetModel(choice) => return Ok(vec![self.set_model(token, choice)]),
            Op::GetModels => (json!({"type": "get_available_models"}), Answer::Models),
            Op::SetThinkingLevel(level) => (
                json!({"type": "set_thinking_level", "level": level}),
                Answer::Empty,
            ),
            Op::Compact { instructions } => {
                let mut command = json!({"type": "compact"});
                if let Some(instructions) = instructions {
                    command["customInstructions"] = Value::String(instructions);
                }
                (command, Answer::Compacted)
            }
            Op::Rename { title } => (
                json!({"type": "set_session_name", "name": title}),
                Answer::Empty,
            ),
            Op::Fork {
                user_index, text, ..
            } => return self.start_fork(token, user_index, text),
        };
        Ok(vec![
            self.write(command, Pending::Command { token, answer }),
        ])
    }

    fn set_model(&mut self, token: Token, choice: ModelChoice) -> Output {
        match choice.provider {
            Some(provider) => {
                let wanted = format!("{provider}/{}", choice.model);
                let command = set_model_command(&provider, &choice.model);
                self.write(command, Pending::SetModel { token, wanted })
            }
            None => self.write(
                json!({"type": "get_available_models"}),
                Pending::ResolveModel {
                    token,
                    model: choice.model,
                },
            ),
        }
    }

    fn resolve_model(&mut self, token: Token, response: &PiResponse, model: &str) -> Vec<Output> {
        let found = if response.success {
            models(response)
                .map_err(|why| {
                    OpError::new(
                        ErrorCode::HarnessFailed,
                        format!("pi get_available_models: {why}"),
                    )
                })
                .and_then(|models| pick_model(&models, model).cloned())
        } else {
            Err(OpError::new(
                ErrorCode::HarnessFailed,
                format!("pi get_available_models failed: {}", error_text(response)),
            ))
        };
        match found {
            Ok(found) => {
                let wanted = format!("{}/{}", found.provider, found.id);
                let command = set_model_command(&found.provider, &found.id);
                vec![self.write(command, Pending::SetModel { token, wanted })]
            }
            Err(err) => vec![Output::Done {
                token,
                result: Err(err),
            }],
        }
    }

    /// The answer to a client's `set_model`.
    fn model_set(&mut self, token: Token, response: &PiResponse, wanted: &str) -> Vec<Output> {
        let model = if response.success {
            data::<PiModel>(response).map_err(|why| {
                OpError::new(
                    ErrorCode::HarnessFailed,
                    format!("pi set_model `{wanted}`: {why}"),
                )
            })
        } else {
            let error = error_text(response);
            let code = if error.starts_with(MODEL_NOT_FOUND) {
                ErrorCode::BadRequest
            } else {
                ErrorCode::HarnessFailed
            };
            Err(OpError::new(code, error.to_owned()))
        };
        let mut outputs = Vec::new();
        let result = match model {
            Ok(model) => {
                let info = model.info();
                let model = model.model_ref();
                let level_changed = std::mem::take(&mut self.level_changed);
                if level_changed || self.model.as_ref() != Some(&model) {
                    outputs.push(self.model_changed(model));
                }
                Ok(Done::Model(info))
            }
            Err(err) => {
                // A level change absorbed for this request still happened.
                let still_waiting = self.pending.values().any(Pending::is_set_model);
                if self.level_changed && !still_waiting {
                    self.level_changed = false;
                    if let Some(model) = self.model.clone() {
                        outputs.push(self.model_changed(model));
                    }
                }
                Err(err)
            }
        };
        outputs.push(Output::Done { token, result });
        outputs
    }

    /// `model.changed` for `model` and the current thinking level, which the translator
    /// learns too.
    fn model_changed(&mut self, model: ModelRef) -> Output {
        self.model = Some(model.clone());
        self.translator
            .set_model(model.clone(), self.thinking_level);
        Output::Event(EventKind::ModelChanged {
            model,
            thinking_level: self.thinking_level,
        })
    }

    // ----- fork ----------------------------------------------------------------------------

    fn start_fork(
        &mut self,
        token: Token,
        user_index: usize,
        text: String,
    ) -> Result<Vec<Output>, OpError> {
        let Some(original) = self.session_file.clone() else {
            return Err(OpError::new(
                ErrorCode::Unsupported,
                "pi runs without a session file, so it cannot fork",
            ));
        };
        if self.busy() {
            return Err(fork_while_busy());
        }
        self.fork = Some(ForkRun {
            token,
            original,
            away: false,
        });
        let command = json!({"type": "get_fork_messages"});
        Ok(vec![self.write(
            command,
            Pending::ForkMessages { user_index, text },
        )])
    }

    fn fork_messages(
        &mut self,
        response: &PiResponse,
        user_index: usize,
        text: &str,
    ) -> Vec<Output> {
        if !response.success {
            return self.fork_over(Err(step_failed("get_fork_messages", error_text(response))));
        }
        let messages = match data::<PiForkMessages>(response) {
            Ok(data) => data.messages,
            Err(why) => return self.fork_over(Err(step_failed("get_fork_messages", &why))),
        };
        let entry = messages
            .get(user_index)
            .filter(|m| m.text == text)
            .or_else(|| messages.iter().find(|m| m.text == text));
        let Some(entry) = entry else {
            return self.fork_over(Err(OpError::new(
                ErrorCode::MessageNotFound,
                format!(
                    "pi has no user message {:?} to fork from ({} user messages)",
                    excerpt(text),
                    messages.len()
                ),
            )));
        };
        // A prompt may have started since the fork was asked for.
        if self.busy() {
            return self.fork_over(Err(fork_while_busy()));
        }
        let command = json!({"type": "fork", "entryId": entry.entry_id});
        if let Some(fork) = &mut self.fork {
            fork.away = true;
        }
        vec![self.write(command, Pending::ForkEntry)]
    }

    fn fork_entry(&mut self, response: &PiResponse) -> Vec<Output> {
        let failure = if response.success {
            match data::<PiCancelled>(response) {
                Ok(PiCancelled { cancelled: false }) => None,
                Ok(PiCancelled { cancelled: true }) => Some("pi cancelled it".to_owned()),
                Err(why) => Some(why),
            }
        } else {
            Some(error_text(response).to_owned())
        };
        if let Some(why) = failure {
            // pi did not switch (it fails before, or cancels instead of switching).
            if let Some(fork) = &mut self.fork {
                fork.away = false;
            }
            return self.fork_over(Err(step_failed("fork", &why)));
        }
        vec![self.write(json!({"type": "get_state"}), Pending::ForkState)]
    }

    fn fork_state(&mut self, response: &PiResponse) -> Vec<Output> {
        let original = self
            .fork
            .as_ref()
            .map(|f| f.original.clone())
            .unwrap_or_default();
        let result = if response.success {
            match data::<PiState>(response) {
                Ok(PiState {
                    session_file: Some(file),
                    ..
                }) if file != original => Ok(Done::Forked { resume: file }),
                Ok(PiState {
                    session_file: Some(_),
                    ..
                }) => Err(step_failed(
                    "get_state",
                    "the session file did not change after the fork",
                )),
                Ok(_) => Err(step_failed("get_state", "no session file after the fork")),
                Err(why) => Err(step_failed("get_state", &why)),
            }
        } else {
            Err(step_failed("get_state", error_text(response)))
        };
        let command = json!({"type": "switch_session", "sessionPath": original});
        vec![self.write(command, Pending::ForkSwitch { result })]
    }

    fn fork_switch(&mut self, response: &PiResponse, result: Result<Done, OpError>) -> Vec<Output> {
        let failure = if response.success {
            match data::<PiCancelled>(response) {
                Ok(PiCancelled { cancelled: false }) => None,
                Ok(PiCancelled { cancelled: true }) => Some("pi cancelled it".to_owned()),
                Err(why) => Some(why),
            }
        } else {
            Some(error_text(response).to_owned())
        };
        if let Some(fork) = &mut self.fork {
            fork.away = false;
        }
        let Some(why) = failure else {
            return self.fork_over(result);
        };
        let original = self
            .fork
            .as_ref()
            .map(|f| f.original.clone())
            .unwrap_or_default();
        let mut outputs = vec![Output::Failed(format!(
            "pi did not switch back to {original} after a fork ({why}); it is on the branch"
        ))];
        outputs.extend(self.fork_over(Err(step_failed("switch_session", &why))));
        outputs
    }

    /// Answers the fork and writes the commands held while it ran.
    fn fork_over(&mut self, result: Result<Done, OpError>) -> Vec<Output> {
        let Some(fork) = self.fork.take() else {
            return vec![Output::Warn(
                "a fork step was answered with no fork in flight".into(),
            )];
        };
        let mut outputs = vec![Output::Done {
            token: fork.token,
            result,
        }];
        while let Some((token, op)) = self.held.pop_front() {
            match self.command_now(token, op) {
                Ok(more) => outputs.extend(more),
                Err(err) => outputs.push(Output::Done {
                    token,
                    result: Err(err),
                }),
            }
        }
        outputs
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

// ----- pi's answers ----------------------------------------------------------------------

/// `get_state`'s data: only the fields used.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PiState {
    /// A [`PiModel`], read leniently (absent or odd when pi has no usable model).
    #[serde(default)]
    model: Option<Value>,
    #[serde(default)]
    thinking_level: Option<String>,
    #[serde(default)]
    session_file: Option<String>,
    #[serde(default)]
    session_name: Option<String>,
}

/// pi's `Model`: only the fields used.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PiModel {
    id: String,
    provider: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    context_window: Option<u64>,
    #[serde(default)]
    reasoning: bool,
}

impl PiModel {
    fn model_ref(&self) -> ModelRef {
        ModelRef {
            provider: self.provider.clone(),
            id: self.id.clone(),
        }
    }

    fn info(&self) -> ModelInfo {
        ModelInfo {
            provider: self.provider.clone(),
            id: self.id.clone(),
            name: self.name.clone(),
            context_window: self.context_window,
            reasoning: self.reasoning,
        }
    }
}

#[derive(Debug, Deserialize)]
struct PiModels {
    /// [`PiModel`]s; entries that do not read as one are skipped.
    models: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PiCompacted {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    tokens_before: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct PiForkMessages {
    messages: Vec<PiForkMessage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PiForkMessage {
    entry_id: String,
    #[serde(default)]
    text: String,
}

/// The data of `fork` and `switch_session`.
#[derive(Debug, Deserialize)]
struct PiCancelled {
    #[serde(default)]
    cancelled: bool,
}

/// A response's `data` as `T`, or why not.
fn data<T: serde::de::DeserializeOwned>(response: &PiResponse) -> Result<T, String> {
    let data = response.data.clone().unwrap_or(Value::Null);
    serde_json::from_value(data).map_err(|e| format!("unreadable answer ({e})"))
}

fn models(response: &PiResponse) -> Result<Vec<PiModel>, String> {
    Ok(data::<PiModels>(response)?
        .models
        .into_iter()
        .filter_map(|m| serde_json::from_value(m).ok())
        .collect())
}

/// The model in use from `get_state`; pi reports `unknown`/`unknown` when it has none.
fn model_in_use(model: &Value) -> Option<ModelRef> {
    let model: PiModel = serde_json::from_value(model.clone()).ok()?;
    (model.provider != "unknown" || model.id != "unknown").then(|| model.model_ref())
}

/// The one model with id `id` among `models`.
fn pick_model<'a>(models: &'a [PiModel], id: &str) -> Result<&'a PiModel, OpError> {
    let found: Vec<&PiModel> = models.iter().filter(|m| m.id == id).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(OpError::new(
            ErrorCode::BadRequest,
            format!("no model `{id}`"),
        )),
        several => {
            let providers: Vec<&str> = several.iter().map(|m| m.provider.as_str()).collect();
            Err(OpError::new(
                ErrorCode::BadRequest,
                format!(
                    "model `{id}` is offered by several providers ({}); name the provider",
                    providers.join(", ")
                ),
            ))
        }
    }
}

/// Whether `current` already is the model `choice` names.
fn is_current(current: Option<&ModelRef>, choice: &ModelChoice) -> bool {
    current.is_some_and(|current| {
        current.id == choice.model
            && choice
                .provider
                .as_ref()
                .is_none_or(|provider| *provider == current.provider)
    })
}

fn set_model_command(provider: &str, model: &str) -> Value {
    json!({"type": "set_model", "provider": provider, "modelId": model})
}

/// A client command's answer from pi's response.
fn command_answer(answer: Answer, response: &PiResponse) -> Result<Done, OpError> {
    if !response.success {
        let error = error_text(response);
        let code = if answer == Answer::Prompt && error.starts_with(ALREADY_PROCESSING) {
            ErrorCode::InvalidState
        } else {
            ErrorCode::HarnessFailed
        };
        return Err(OpError::new(code, error.to_owned()));
    }
    let unreadable = |why: String| {
        OpError::new(
            ErrorCode::HarnessFailed,
            format!("pi {}: {why}", response.command),
        )
    };
    match answer {
        Answer::Prompt | Answer::Empty => Ok(Done::Empty),
        Answer::Models => models(response)
            .map(|models| Done::Models(models.iter().map(PiModel::info).collect()))
            .map_err(unreadable),
        Answer::Compacted => data::<PiCompacted>(response)
            .map(|c| Done::Compacted {
                summary: c.summary,
                tokens_before: c.tokens_before,
            })
            .map_err(unreadable),
    }
}

fn step_failed(step: &str, why: &str) -> OpError {
    OpError::new(ErrorCode::HarnessFailed, format!("pi {step} failed: {why}"))
}

fn fork_while_busy() -> OpError {
    OpError::new(
        ErrorCode::InvalidState,
        "pi is working; fork once the turn has ended (or abort it)",
    )
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

/// The start of `line`, for a warning: at most [`EXCERPT_CHARS`] characters, `…` if cut.
fn excerpt(line: &str) -> String {
    match line.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}

//! The [`Translator`]: pi's stdout lines in, canonical events out, one per session.

mod message;
mod tools;

use std::collections::{BTreeMap, HashMap};

use oqto_protocol::{
    CompactionReason, EventKind, MessageId, Millis, ModelRef, PartId, Phase, Role, SessionId,
    State, ThinkingLevel,
};

pub use crate::harness::{CountingIds, IdSource};
use oqto_pi::{PiCompactionReason, PiLine, PiResponse};

/// What one pi line turns into.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    /// A canonical event for the session's stream.
    Event(EventKind),
    /// pi renamed the session; the actor turns it into `session.updated`.
    Title(String),
    /// The answer to a command, for the actor to match by `id`.
    Response(PiResponse),
}

/// A part being streamed, keyed by pi's `contentIndex`.
#[derive(Debug)]
struct StreamPart {
    id: PartId,
    kind: StreamKind,
    ended: bool,
    /// What the deltas added up to, for a part that never got its `*_end`.
    text: String,
    call: Option<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamKind {
    Text,
    Thinking,
    ToolCall,
}

/// The message between `message_start` and `message_end`.
#[derive(Debug)]
struct InFlight {
    id: MessageId,
    role: Role,
    created_at: Millis,
    model: Option<ModelRef>,
    parts: BTreeMap<usize, StreamPart>,
}

/// A tool call the model asked for, by pi's `toolCallId`.
#[derive(Debug)]
struct ToolCall {
    message_id: MessageId,
    part_id: PartId,
    name: String,
    input: serde_json::Value,
    /// The cumulative output pi last reported.
    output: String,
    running: bool,
}

/// Where the state goes when a compaction ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterCompaction {
    Idle,
    PendingIdle,
    Working(Option<Phase>),
}

/// Turns one pi session's stdout lines into canonical events.
///
/// # The idle contract
///
/// pi's `agent_end` does not always mean idle: a retryable provider error is followed, in
/// the same tick, by `auto_retry_start` and a new `agent_start`. So on `agent_end` the
/// translator emits nothing and remembers that the run ended. The next line decides:
/// `auto_retry_start` gives `retry.start` and `state working/retrying` (no idle in between);
/// anything else (except a command response) is preceded by `state idle`. When pi stays
/// quiet, the session actor calls [`Translator::flush_idle`] after a short grace period
/// (50 ms is plenty: pi writes `auto_retry_start` right after `agent_end`), which emits the
/// held-back `state idle`. Calling it at any other time returns nothing.
#[derive(Debug)]
pub struct Translator<I> {
    session: SessionId,
    ids: I,
    in_flight: Option<InFlight>,
    tools: HashMap<String, ToolCall>,
    /// The last `state` emitted: (state, phase).
    state: Option<(State, Option<Phase>)>,
    /// Inside `agent_start` … `agent_end`.
    running: bool,
    /// `agent_end` seen; idle is held back (see the type's docs).
    pending_idle: bool,
    after_compaction: AfterCompaction,
    model: Option<ModelRef>,
    thinking_level: Option<ThinkingLevel>,
}

impl<I: IdSource> Translator<I> {
    pub fn new(session: SessionId, ids: I) -> Self {
        Self {
            session,
            ids,
            in_flight: None,
            tools: HashMap::new(),
            state: None,
            running: false,
            pending_idle: false,
            after_compaction: AfterCompaction::Idle,
            model: None,
            thinking_level: None,
        }
    }

    /// Tells the translator the session's current model (from `get_state` or `set_model`),
    /// so an assistant message on another model yields `model.changed`. Emits nothing.
    pub fn set_model(&mut self, model: ModelRef, thinking_level: Option<ThinkingLevel>) {
        self.model = Some(model);
        if thinking_level.is_some() {
            self.thinking_level = thinking_level;
        }
    }

    /// Tells the translator the state the actor last published (e.g. `idle` after the
    /// handshake), so no duplicate `state` event follows. Emits nothing.
    pub fn set_state(&mut self, state: State, phase: Option<Phase>) {
        self.state = Some((state, phase));
    }

    /// The held-back `state idle` after an `agent_end`, if pi stayed quiet (see the type's docs).
    pub fn flush_idle(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        self.resolve_idle(&mut out);
        out
    }

    /// Translates one line. `now` is the runner's clock, used as `created_at` of new messages.
    pub fn feed(&mut self, line: PiLine, now: Millis) -> Vec<Out> {
        let mut out = Vec::new();
        match line {
            PiLine::Response(response) => out.push(Out::Response(response)),
            PiLine::AutoRetryStart {
                attempt,
                max_attempts,
                delay_ms,
                error_message,
            } => {
                self.pending_idle = false;
                emit(
                    &mut out,
                    EventKind::RetryStart {
                        attempt,
                        max_attempts,
                        delay_ms,
                        error: error_message,
                    },
                );
                self.state_to(&mut out, State::Working, Some(Phase::Retrying));
            }
            PiLine::AutoRetryEnd {
                success,
                attempt,
                final_error,
            } => {
                emit(
                    &mut out,
                    EventKind::RetryEnd {
                        success,
                        attempt,
                        error: final_error,
                    },
                );
                // A failed or cancelled retry leaves pi idle once no run is going.
                if !self.running {
                    self.pending_idle = false;
                    self.state_to(&mut out, State::Idle, None);
                }
            }
            PiLine::CompactionStart { reason } => {
                self.after_compaction = if self.pending_idle {
                    AfterCompaction::PendingIdle
                } else {
                    match self.state {
                        Some((State::Working, phase)) => AfterCompaction::Working(phase),
                        _ => AfterCompaction::Idle,
                    }
                };
                self.pending_idle = false;
                emit(
                    &mut out,
                    EventKind::CompactionStart {
                        reason: compaction_reason(reason),
                    },
                );
                self.state_to(&mut out, State::Working, Some(Phase::Compacting));
            }
            PiLine::CompactionEnd {
                reason,
                result,
                aborted,
                will_retry: _,
            } => {
                let (summary, tokens_before) =
                    result.map_or((None, None), |r| (r.summary, r.tokens_before));
                emit(
                    &mut out,
                    EventKind::CompactionEnd {
                        reason: compaction_reason(reason),
                        aborted,
                        summary,
                        tokens_before,
                    },
                );
                match self.after_compaction {
                    AfterCompaction::Idle => self.state_to(&mut out, State::Idle, None),
                    AfterCompaction::PendingIdle => self.pending_idle = true,
                    AfterCompaction::Working(phase) => {
                        self.state_to(&mut out, State::Working, phase);
                    }
                }
            }
            line => {
                self.resolve_idle(&mut out);
                self.event(line, now, &mut out);
            }
        }
        out
    }

    fn event(&mut self, line: PiLine, now: Millis, out: &mut Vec<Out>) {
        match line {
            PiLine::AgentStart => {
                self.running = true;
                self.state_to(out, State::Working, Some(Phase::Generating));
            }
            PiLine::AgentEnd => {
                self.running = false;
                self.pending_idle = true;
            }
            PiLine::MessageStart { message } => self.message_start(message, now, out),
            PiLine::MessageUpdate {
                assistant_message_event,
            } => self.stream(assistant_message_event, now, out),
            PiLine::MessageEnd { message } => self.message_end(message, now, out),
            PiLine::ToolExecutionStart {
                tool_call_id,
                tool_name,
                args,
            } => self.tool_start(&tool_call_id, tool_name, args, out),
            PiLine::ToolExecutionUpdate {
                tool_call_id,
                partial_result,
            } => self.tool_update(&tool_call_id, &partial_result, out),
            PiLine::ToolExecutionEnd {
                tool_call_id,
                result,
                is_error,
            } => self.tool_end(&tool_call_id, &result, is_error, out),
            PiLine::QueueUpdate {
                steering,
                follow_up,
            } => emit(
                out,
                EventKind::QueueUpdate {
                    steering,
                    follow_up,
                },
            ),
            PiLine::SessionInfoChanged { name: Some(name) } => out.push(Out::Title(name)),
            PiLine::ThinkingLevelChanged { level } => {
                let level = thinking_level(&level);
                self.thinking_level = level;
                if let (Some(model), Some(level)) = (&self.model, level) {
                    emit(
                        out,
                        EventKind::ModelChanged {
                            model: model.clone(),
                            thinking_level: Some(level),
                        },
                    );
                }
            }
            // Handled in `feed`, or nothing to say.
            PiLine::Response(_)
            | PiLine::AutoRetryStart { .. }
            | PiLine::AutoRetryEnd { .. }
            | PiLine::CompactionStart { .. }
            | PiLine::CompactionEnd { .. }
            | PiLine::SessionInfoChanged { name: None }
            | PiLine::TurnStart
            | PiLine::TurnEnd
            | PiLine::Other { .. }
            | PiLine::Unknown => {}
        }
    }

    fn resolve_idle(&mut self, out: &mut Vec<Out>) {
        if std::mem::take(&mut self.pending_idle) {
            self.state_to(out, State::Idle, None);
        }
    }

    /// Emits `state` if it differs from the last one.
    fn state_to(&mut self, out: &mut Vec<Out>, state: State, phase: Option<Phase>) {
        if self.state == Some((state, phase)) {
            return;
        }
        self.state = Some((state, phase));
        emit(
            out,
            EventKind::State {
                state,
                phase,
                reason: None,
            },
        );
    }

    /// Moves to another working phase, only while working.
    fn phase_to(&mut self, out: &mut Vec<Out>, phase: Phase) {
        if matches!(self.state, Some((State::Working, _))) {
            self.state_to(out, State::Working, Some(phase));
        }
    }
}

fn emit(out: &mut Vec<Out>, event: EventKind) {
    out.push(Out::Event(event));
}

fn compaction_reason(reason: PiCompactionReason) -> CompactionReason {
    match reason {
        PiCompactionReason::Threshold => CompactionReason::Threshold,
        PiCompactionReason::Overflow => CompactionReason::Overflow,
        PiCompactionReason::Manual | PiCompactionReason::Other => CompactionReason::Manual,
    }
}

fn thinking_level(level: &str) -> Option<ThinkingLevel> {
    serde_json::from_value(serde_json::Value::String(level.to_owned())).ok()
}

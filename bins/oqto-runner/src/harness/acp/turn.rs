//! One ACP turn's `session/update`s → canonical events, with runner ids.
//!
//! ACP streams chunks, not messages: a chunk may name its message (`messageId`, newer
//! agents) or not. The [`Turn`] keeps one assistant message open and starts the next one
//! when a chunk names another message id; chunks without an id continue the open message.
//! Text and thought chunks append to the open part of their kind (a kind change ends the
//! part). Tool calls carry no message id: they join the open message (one is opened when
//! none is), and a chunk after a finished tool call starts the next message (the model
//! answers the tool's result in a new message). A message ends when the next one starts
//! or the turn ends, and is stored then.

use std::collections::HashMap;
use std::fmt::Write as _;

use oqto_protocol::acp::{
    Chunk, ContentBlock, PlanEntryWire, PromptResult, ToolCallContent, ToolCallFields,
};
use oqto_protocol::{
    EventKind, Message, MessageId, Millis, ModelRef, Part, PartId, Phase, PlanEntry, PlanPriority,
    PlanStatus, Role, SessionId, State, StopReason, ToolStatus, Usage,
};
use serde_json::Value;

use crate::harness::IdSource;

/// What kind of streamed text a part holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextKind {
    Text,
    Thinking,
}

/// The assistant message being streamed.
#[derive(Debug)]
struct Open {
    id: MessageId,
    /// The agent's id of the message, when its chunks name one.
    agent_id: Option<String>,
    parts: Vec<Part>,
    /// The text or thinking part chunks append to.
    text: Option<(TextKind, PartId)>,
    /// The plan part of this message, replaced by each `plan` update.
    plan: Option<PartId>,
}

/// Where a tool call's part lives.
#[derive(Debug)]
struct Tool {
    message: MessageId,
    part: Part,
    started: bool,
    ended: bool,
    /// Diff parts already emitted, by path.
    diffs: HashMap<String, PartId>,
}

/// One turn of a session, from `session/prompt` to its answer.
#[derive(Debug)]
pub struct Turn {
    session: SessionId,
    model: Option<ModelRef>,
    open: Option<Open>,
    tools: HashMap<String, Tool>,
    /// The last message that ended in this turn, for the turn's usage.
    phase: Phase,
    /// Cost reported by `usage_update`, added to the message that ends next.
    cost: Option<f64>,
}

impl Turn {
    pub fn new(session: SessionId, model: Option<ModelRef>) -> Self {
        Self {
            session,
            model,
            open: None,
            tools: HashMap::new(),
            phase: Phase::Generating,
            cost: None,
        }
    }

    /// The phase the turn is in (to go back to after a permission request).
    pub fn phase(&self) -> Phase {
        self.phase
    }

    fn phase_to(&mut self, out: &mut Vec<EventKind>, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            out.push(working(phase));
        }
    }

    /// A message or thought chunk.
    pub fn chunk<I: IdSource>(
        &mut self,
        ids: &mut I,
        chunk: Chunk,
        thinking: bool,
        now: Millis,
        out: &mut Vec<EventKind>,
    ) {
        let switch = match (&self.open, &chunk.message_id) {
            (Some(open), Some(id)) if open.agent_id.as_ref().is_some_and(|a| a != id) => true,
            // Text after a finished tool call is the model's next answer: the call's
            // result went back to it. (Tool calls carry no message id to say so.)
            (Some(open), _) => self.tools.values().any(|t| t.ended && t.message == open.id),
            (None, _) => false,
        };
        if switch {
            self.end_message(None, now, out);
        }
        self.ensure_open(ids, chunk.message_id.clone(), out);
        let kind = if thinking {
            TextKind::Thinking
        } else {
            TextKind::Text
        };
        self.phase_to(
            out,
            if thinking {
                Phase::Thinking
            } else {
                Phase::Generating
            },
        );
        match chunk.content {
            ContentBlock::Text { text } => {
                let open = self.open.as_mut().expect("a message is open");
                if open.agent_id.is_none() {
                    open.agent_id = chunk.message_id;
                }
                let part_id = match &open.text {
                    Some((k, id)) if *k == kind => id.clone(),
                    _ => {
                        end_text(open, out);
                        let id = ids.part_id();
                        let part = match kind {
                            TextKind::Text => Part::Text {
                                id: id.clone(),
                                text: String::new(),
                            },
                            TextKind::Thinking => Part::Thinking {
                                id: id.clone(),
                                text: String::new(),
                            },
                        };
                        open.parts.push(part.clone());
                        out.push(EventKind::PartStart {
                            message_id: open.id.clone(),
                            part,
                        });
                        open.text = Some((kind, id.clone()));
                        id
                    }
                };
                if let Some(Part::Text { text: t, .. } | Part::Thinking { text: t, .. }) =
                    open.parts.iter_mut().find(|p| p.id() == &part_id)
                {
                    t.push_str(&text);
                }
                out.push(EventKind::PartDelta {
                    message_id: open.id.clone(),
                    part_id,
                    delta: text,
                });
            }
            other => {
                let part = content_part(ids.part_id(), other);
                self.whole_part(part, out);
            }
        }
    }

    /// A part that arrives complete: started and ended at once in the open message.
    fn whole_part(&mut self, part: Part, out: &mut Vec<EventKind>) {
        let open = self.open.as_mut().expect("a message is open");
        end_text(open, out);
        open.parts.push(part.clone());
        start_and_end(&open.id, part, out);
    }

    fn ensure_open<I: IdSource>(
        &mut self,
        ids: &mut I,
        agent_id: Option<String>,
        out: &mut Vec<EventKind>,
    ) {
        if self.open.is_some() {
            return;
        }
        let id = ids.message_id();
        out.push(EventKind::MessageStart {
            message_id: id.clone(),
            role: Role::Assistant,
            model: self.model.clone(),
        });
        self.open = Some(Open {
            id,
            agent_id,
            parts: Vec::new(),
            text: None,
            plan: None,
        });
    }

    /// `tool_call` (`first`) or `tool_call_update`.
    pub fn tool<I: IdSource>(
        &mut self,
        ids: &mut I,
        fields: ToolCallFields,
        out: &mut Vec<EventKind>,
    ) {
        if !self.tools.contains_key(&fields.tool_call_id) {
            self.ensure_open(ids, None, out);
            let open = self.open.as_mut().expect("a message is open");
            end_text(open, out);
            let part = Part::ToolCall {
                id: ids.part_id(),
                call_id: fields.tool_call_id.clone(),
                name: fields
                    .title
                    .clone()
                    .or_else(|| fields.kind.clone())
                    .unwrap_or_else(|| "tool".into()),
                input: fields.raw_input.clone().unwrap_or(Value::Null),
                status: ToolStatus::Pending,
                output: None,
                is_error: false,
            };
            open.parts.push(part.clone());
            out.push(EventKind::PartStart {
                message_id: open.id.clone(),
                part: part.clone(),
            });
            self.tools.insert(
                fields.tool_call_id.clone(),
                Tool {
                    message: open.id.clone(),
                    part,
                    started: false,
                    ended: false,
                    diffs: HashMap::new(),
                },
            );
        }
        self.update_tool(ids, fields, out);
    }

    fn update_tool<I: IdSource>(
        &mut self,
        ids: &mut I,
        fields: ToolCallFields,
        out: &mut Vec<EventKind>,
    ) {
        let Some(tool) = self.tools.get_mut(&fields.tool_call_id) else {
            return;
        };
        let part_id = tool.part.id().clone();
        let Part::ToolCall {
            call_id,
            name,
            input,
            output,
            status,
            is_error,
            ..
        } = &mut tool.part
        else {
            return;
        };
        if let Some(raw) = fields.raw_input {
            *input = raw;
        }
        let mut diffs = Vec::new();
        let mut text = String::new();
        for item in fields.content.into_iter().flatten() {
            match item {
                ToolCallContent::Content { content } => text.push_str(&block_text(&content)),
                ToolCallContent::Diff {
                    path,
                    old_text,
                    new_text,
                } => diffs.push((path, old_text, new_text)),
                ToolCallContent::Terminal { terminal_id } => {
                    let _ = writeln!(text, "[terminal {terminal_id}]");
                }
                ToolCallContent::Other => text.push_str("[unsupported ACP tool content]\n"),
            }
        }
        if text.is_empty() && output.is_none() {
            if let Some(raw) = &fields.raw_output {
                text = match raw.get("output").and_then(Value::as_str) {
                    Some(out) => out.to_owned(),
                    None => raw.to_string(),
                };
            }
        }
        let new_status = fields.status.as_deref();
        let running = matches!(new_status, Some("in_progress" | "completed" | "failed"));
        if running && !tool.started {
            tool.started = true;
            *status = ToolStatus::Running;
            out.push(EventKind::ToolStart {
                message_id: tool.message.clone(),
                part_id: part_id.clone(),
                call_id: call_id.clone(),
                name: name.clone(),
                input: input.clone(),
            });
        }
        if !text.is_empty() {
            let before = output.as_deref().unwrap_or_default();
            if let Some(delta) = text.strip_prefix(before) {
                if !delta.is_empty() && tool.started && !tool.ended {
                    out.push(EventKind::ToolOutput {
                        message_id: tool.message.clone(),
                        part_id: part_id.clone(),
                        delta: delta.to_owned(),
                    });
                }
            }
            *output = Some(text);
        }
        let ended = matches!(new_status, Some("completed" | "failed")) && !tool.ended;
        if ended {
            tool.ended = true;
            *status = ToolStatus::Done;
            *is_error = new_status == Some("failed");
        }
        let call_id = call_id.clone();
        let message = tool.message.clone();
        self.diffs(ids, &call_id, &message, diffs, out);
        self.sync_open(&call_id);
        if ended {
            self.tool_done(&call_id, out);
        } else if running {
            self.phase_to(out, Phase::ToolRunning);
        }
    }

    /// `diff` contents of the tool call `call_id` (in `message`) as `diff` parts: one per
    /// path, replaced by a later diff of the same path. Shown while the message is open.
    fn diffs<I: IdSource>(
        &mut self,
        ids: &mut I,
        call_id: &str,
        message: &MessageId,
        diffs: Vec<(String, Option<String>, String)>,
        out: &mut Vec<EventKind>,
    ) {
        let Some(tool) = self.tools.get_mut(call_id) else {
            return;
        };
        for (path, old_text, new_text) in diffs {
            let id = tool
                .diffs
                .entry(path.clone())
                .or_insert_with(|| ids.part_id())
                .clone();
            let part = Part::Diff {
                id,
                call_id: call_id.to_owned(),
                path,
                old_text,
                new_text,
            };
            if let Some(open) = self.open.as_mut().filter(|o| &o.id == message) {
                upsert(&mut open.parts, part.clone());
                start_and_end(&open.id, part, out);
            }
        }
    }

    /// A tool call finished: `part.end` if its message is open (the part is final there),
    /// and `tool.end` (which also updates an already stored message).
    fn tool_done(&mut self, call_id: &str, out: &mut Vec<EventKind>) {
        let Some(tool) = self.tools.get(call_id) else {
            return;
        };
        out.push(EventKind::ToolEnd {
            message_id: tool.message.clone(),
            part: tool.part.clone(),
        });
        self.phase_to(out, Phase::Generating);
    }

    /// Copies the tool's part into the open message's parts.
    fn sync_open(&mut self, call_id: &str) {
        let Some(tool) = self.tools.get(call_id) else {
            return;
        };
        if let Some(open) = self.open.as_mut().filter(|o| o.id == tool.message) {
            upsert(&mut open.parts, tool.part.clone());
        }
    }

    /// A `plan` update: the open message's plan part, replaced whole.
    pub fn plan<I: IdSource>(
        &mut self,
        ids: &mut I,
        entries: Vec<PlanEntryWire>,
        out: &mut Vec<EventKind>,
    ) {
        self.ensure_open(ids, None, out);
        let open = self.open.as_mut().expect("a message is open");
        end_text(open, out);
        let id = open.plan.get_or_insert_with(|| ids.part_id()).clone();
        let part = Part::Plan {
            id,
            entries: entries.into_iter().map(plan_entry).collect(),
        };
        let new = !open.parts.iter().any(|p| p.id() == part.id());
        upsert(&mut open.parts, part.clone());
        if new {
            out.push(EventKind::PartStart {
                message_id: open.id.clone(),
                part: part.clone(),
            });
        }
        out.push(EventKind::PartEnd {
            message_id: open.id.clone(),
            part,
        });
    }

    /// A `usage_update`: its cost is kept for the message that ends next (the context
    /// size it reports has no place in a message).
    pub fn cost(&mut self, amount: Option<f64>) {
        if amount.is_some() {
            self.cost = amount;
        }
    }

    /// Ends the open message with `stop` (or [`StopReason::Stop`]) and `usage`.
    fn end_message(
        &mut self,
        stop: Option<(StopReason, Option<Usage>)>,
        now: Millis,
        out: &mut Vec<EventKind>,
    ) {
        let Some(mut open) = self.open.take() else {
            return;
        };
        end_text(&mut open, out);
        let (stop_reason, usage) = stop.unwrap_or((StopReason::Stop, None));
        let usage = match (usage, self.cost.take()) {
            (Some(mut usage), cost) => {
                usage.cost = cost.or(usage.cost);
                Some(usage)
            }
            (None, Some(cost)) => Some(Usage {
                cost: Some(cost),
                ..Usage::default()
            }),
            (None, None) => None,
        };
        let stop_reason = if open
            .parts
            .iter()
            .any(|p| matches!(p, Part::ToolCall { .. }))
            && stop_reason == StopReason::Stop
        {
            StopReason::ToolUse
        } else {
            stop_reason
        };
        out.push(EventKind::MessageEnd {
            message: Message {
                id: open.id,
                session: self.session.clone(),
                role: Role::Assistant,
                parts: open.parts,
                created_at: now,
                model: self.model.clone(),
                usage,
                stop_reason: Some(stop_reason),
                client_msg_id: None,
            },
        });
    }

    /// The answer to `session/prompt` (or its failure, `Err`): the turn's last message
    /// ends, unfinished tools are aborted, errors are made visible, and the session goes
    /// idle.
    pub fn finish<I: IdSource>(
        mut self,
        ids: &mut I,
        result: Result<PromptResult, String>,
        now: Millis,
        out: &mut Vec<EventKind>,
    ) {
        let (stop, usage, error) = match result {
            Ok(PromptResult { stop_reason, usage }) => {
                let usage = usage.map(|u| Usage {
                    input: u.input_tokens.unwrap_or(0),
                    output: u.output_tokens.unwrap_or(0),
                    cache_read: u.cached_read_tokens.unwrap_or(0),
                    cache_write: u.cached_write_tokens.unwrap_or(0),
                    cost: None,
                });
                match stop_reason.as_str() {
                    "end_turn" => (StopReason::Stop, usage, None),
                    "cancelled" => (StopReason::Aborted, usage, None),
                    "max_tokens" => (
                        StopReason::Length,
                        usage,
                        Some("the model reached its output token limit".to_owned()),
                    ),
                    "max_turn_requests" => (
                        StopReason::Error,
                        usage,
                        Some(
                            "the agent reached its limit of model requests for one turn".to_owned(),
                        ),
                    ),
                    "refusal" => (
                        StopReason::Error,
                        usage,
                        Some("the agent refused to continue".to_owned()),
                    ),
                    other => (
                        StopReason::Error,
                        usage,
                        Some(format!(
                            "the turn ended with an unknown stop reason `{other}`"
                        )),
                    ),
                }
            }
            Err(why) => (StopReason::Error, None, Some(why)),
        };
        let aborted: Vec<String> = self
            .tools
            .iter()
            .filter(|(_, t)| !t.ended)
            .map(|(id, _)| id.clone())
            .collect();
        for call_id in aborted {
            if let Some(tool) = self.tools.get_mut(&call_id) {
                tool.ended = true;
                if let Part::ToolCall { status, .. } = &mut tool.part {
                    *status = ToolStatus::Aborted;
                }
            }
            self.tool_done(&call_id, out);
            self.sync_open(&call_id);
        }
        if let Some(error) = &error {
            if self.open.is_none() && stop != StopReason::Aborted {
                self.ensure_open(ids, None, out);
            }
            if self.open.is_some() {
                self.whole_part(
                    Part::Error {
                        id: ids.part_id(),
                        message: error.clone(),
                    },
                    out,
                );
            }
        }
        self.end_message(Some((stop, usage)), now, out);
        if let Some(error) = error {
            out.push(EventKind::Error {
                code: oqto_protocol::ErrorCode::HarnessFailed,
                message: error,
                recoverable: true,
            });
        }
        out.push(EventKind::State {
            state: State::Idle,
            phase: None,
            reason: None,
        });
    }
}

/// `state working` with `phase`.
pub fn working(phase: Phase) -> EventKind {
    EventKind::State {
        state: State::Working,
        phase: Some(phase),
        reason: None,
    }
}

fn end_text(open: &mut Open, out: &mut Vec<EventKind>) {
    if let Some((_, id)) = open.text.take() {
        if let Some(part) = open.parts.iter().find(|p| p.id() == &id) {
            out.push(EventKind::PartEnd {
                message_id: open.id.clone(),
                part: part.clone(),
            });
        }
    }
}

/// `part.start` and `part.end` of a part that arrives complete.
fn start_and_end(message_id: &MessageId, part: Part, out: &mut Vec<EventKind>) {
    out.push(EventKind::PartStart {
        message_id: message_id.clone(),
        part: part.clone(),
    });
    out.push(EventKind::PartEnd {
        message_id: message_id.clone(),
        part,
    });
}

fn upsert(parts: &mut Vec<Part>, part: Part) {
    match parts.iter_mut().find(|p| p.id() == part.id()) {
        Some(existing) => *existing = part,
        None => parts.push(part),
    }
}

/// A content block that is not text, as a part.
fn content_part(id: PartId, block: ContentBlock) -> Part {
    match block {
        ContentBlock::Text { text } => Part::Text { id, text },
        ContentBlock::Image {
            mime_type,
            data,
            uri,
        } => Part::Image {
            id,
            mime_type,
            data,
            url: uri,
        },
        ContentBlock::ResourceLink { uri, .. } => Part::FileRef {
            id,
            path: uri,
            mime_type: None,
        },
        other => Part::Text {
            id,
            text: block_text(&other),
        },
    }
}

/// A content block as text: its text, or a visible note of what it was.
fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text { text } => text.clone(),
        ContentBlock::Image { mime_type, .. } => format!("[image {mime_type}]"),
        ContentBlock::ResourceLink { uri, .. } => format!("[{uri}]"),
        ContentBlock::Resource { resource } => resource
            .get("text")
            .and_then(Value::as_str)
            .map_or_else(|| "[resource]".to_owned(), str::to_owned),
        ContentBlock::Other => "[unsupported ACP content block]".to_owned(),
    }
}

fn plan_entry(entry: PlanEntryWire) -> PlanEntry {
    PlanEntry {
        content: entry.content,
        priority: match entry.priority.as_deref() {
            Some("high") => PlanPriority::High,
            Some("low") => PlanPriority::Low,
            _ => PlanPriority::Medium,
        },
        status: match entry.status.as_deref() {
            Some("in_progress") => PlanStatus::InProgress,
            Some("completed") => PlanStatus::Completed,
            _ => PlanStatus::Pending,
        },
    }
}

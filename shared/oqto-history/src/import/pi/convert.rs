//! The entries of a branch to protocol messages, mapped as the runner maps pi's live events.
//!
//! | pi | message |
//! |---|---|
//! | `user` | `user`: `text` and `image` parts |
//! | `assistant` | `assistant`: `thinking`, `text` and `tool_call` (`pending` until its result) parts, model, usage, stop reason; `stopReason: "error"` adds an `error` part |
//! | `toolResult` | no message: fills the matching `tool_call` of an earlier assistant message (`output`, `is_error`, status `done`, or `aborted` when pi says the tool was aborted) |
//! | `bashExecution` | `user`: one `bash` `tool_call` part, `done` (`aborted` if cancelled), `is_error` unless it exited 0 |
//! | `compaction` entry, `compactionSummary` | `system`: a `compaction` part |
//! | `branch_summary` entry, `branchSummary` | `system`: a `compaction` part holding the summary of the abandoned branch |
//! | `custom_message` entry, `custom` role, when displayed | `system`: `text` and `image` parts |
//! | `model_change` | no message: the model of what follows |
//!
//! A tool call that never got a result on the branch ends `aborted`. Part `i` of the
//! message made from entry `e` has the id derived from `e` and `i`, where `i` is the index
//! of the content block (skipped blocks keep their index; an `error` part comes after the
//! last block).

use oqto_protocol::{
    Message, Millis, ModelRef, Part, Role, SessionId, StopReason, ToolStatus, Usage,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::wire::{
    PiBranchSummary, PiCompaction, PiContent, PiCustomMessage, PiMessage, PiModelChange, PiUsage,
    millis,
};
use super::{Entry, HARNESS};
use crate::import::ids;

/// Builds the messages of one branch, entry by entry.
pub(super) struct Converter<'a> {
    uuid: &'a str,
    session: SessionId,
    messages: Vec<Message>,
    /// The newest tool call with each call id: (message, part) indices.
    calls: std::collections::HashMap<String, (usize, usize)>,
    model: Option<ModelRef>,
    /// The time of the previous message (or of the header), for entries without one.
    last_time: Millis,
}

impl<'a> Converter<'a> {
    pub(super) fn new(uuid: &'a str, session: SessionId, start: Option<Millis>) -> Self {
        Self {
            uuid,
            session,
            messages: Vec::new(),
            calls: std::collections::HashMap::new(),
            model: None,
            last_time: start.unwrap_or(0),
        }
    }

    /// The messages, and the model in use at the end of the branch.
    pub(super) fn finish(mut self) -> (Vec<Message>, Option<ModelRef>) {
        for message in &mut self.messages {
            for part in &mut message.parts {
                if let Part::ToolCall { status, .. } = part
                    && *status == ToolStatus::Pending
                {
                    *status = ToolStatus::Aborted;
                }
            }
        }
        (self.messages, self.model)
    }

    pub(super) fn entry(&mut self, entry: &Entry, warnings: &mut Vec<(usize, String)>) {
        match entry.kind.as_str() {
            "message" => match payload::<PiMessage>(entry, "message") {
                Ok(message) => self.message(entry, message, warnings),
                Err(e) => warnings.push((entry.line, format!("unreadable message: {e}"))),
            },
            "compaction" => match whole::<PiCompaction>(entry) {
                Ok(c) => self.summary(entry, None, c.summary, c.tokens_before),
                Err(e) => warnings.push((entry.line, format!("unreadable compaction: {e}"))),
            },
            "branch_summary" => match whole::<PiBranchSummary>(entry) {
                Ok(b) => self.summary(entry, None, b.summary, None),
                Err(e) => warnings.push((entry.line, format!("unreadable branch summary: {e}"))),
            },
            "custom_message" => match whole::<PiCustomMessage>(entry) {
                Ok(m) if m.display => self.custom(entry, None, &m.content),
                Ok(_) => {}
                Err(e) => warnings.push((entry.line, format!("unreadable custom message: {e}"))),
            },
            "model_change" => match whole::<PiModelChange>(entry) {
                Ok(m) => {
                    self.model = Some(ModelRef {
                        provider: m.provider,
                        id: m.model_id,
                    });
                }
                Err(e) => warnings.push((entry.line, format!("unreadable model change: {e}"))),
            },
            // `session_info` (read for the title), `thinking_level_change`, `label`,
            // `custom` (extension state) and unknown kinds hold no message.
            _ => {}
        }
    }

    fn message(&mut self, entry: &Entry, message: PiMessage, warnings: &mut Vec<(usize, String)>) {
        match message {
            PiMessage::User { content, timestamp } => {
                let parts = content
                    .iter()
                    .enumerate()
                    .filter_map(|(i, block)| self.user_part(entry, i, block))
                    .collect();
                self.push(entry, millis(timestamp.as_ref()), Role::User, parts);
            }
            PiMessage::Assistant {
                content,
                provider,
                model,
                usage,
                stop_reason,
                error_message,
                timestamp,
            } => self.assistant(
                entry,
                Assistant {
                    content,
                    model: provider
                        .zip(model)
                        .map(|(provider, id)| ModelRef { provider, id }),
                    usage,
                    stop_reason,
                    error_message,
                    timestamp: millis(timestamp.as_ref()),
                },
            ),
            PiMessage::ToolResult {
                tool_call_id,
                content,
                is_error,
            } => self.tool_result(entry, &tool_call_id, &content, is_error, warnings),
            PiMessage::BashExecution {
                command,
                output,
                exit_code,
                cancelled,
                timestamp,
            } => {
                let part = Part::ToolCall {
                    id: self.part_id(entry, 0),
                    call_id: entry.id.clone(),
                    name: "bash".into(),
                    input: json!({ "command": command }),
                    status: if cancelled {
                        ToolStatus::Aborted
                    } else {
                        ToolStatus::Done
                    },
                    output: Some(output),
                    is_error: cancelled || exit_code != Some(0),
                };
                self.push(entry, millis(timestamp.as_ref()), Role::User, vec![part]);
            }
            PiMessage::Custom {
                content,
                display,
                timestamp,
            } => {
                if display {
                    self.custom(entry, millis(timestamp.as_ref()), &content);
                }
            }
            PiMessage::BranchSummary { summary, timestamp } => {
                self.summary(entry, millis(timestamp.as_ref()), summary, None);
            }
            PiMessage::CompactionSummary {
                summary,
                tokens_before,
                timestamp,
            } => self.summary(entry, millis(timestamp.as_ref()), summary, tokens_before),
            PiMessage::Other => {}
        }
    }

    fn assistant(&mut self, entry: &Entry, a: Assistant) {
        if a.model.is_some() {
            self.model.clone_from(&a.model);
        }
        let index = self.messages.len();
        let blocks = a.content.len();
        let mut parts = Vec::new();
        for (i, block) in a.content.into_iter().enumerate() {
            let id = self.part_id(entry, i);
            let part = match block {
                PiContent::Text { text } => Part::Text { id, text },
                PiContent::Thinking { thinking } => Part::Thinking { id, text: thinking },
                PiContent::ToolCall {
                    id: call_id,
                    name,
                    arguments,
                } => {
                    self.calls.insert(call_id.clone(), (index, parts.len()));
                    Part::ToolCall {
                        id,
                        call_id,
                        name,
                        input: arguments,
                        status: ToolStatus::Pending,
                        output: None,
                        is_error: false,
                    }
                }
                // pi's assistant messages hold no images; the live mapping skips them too.
                PiContent::Image { .. } | PiContent::Other => continue,
            };
            parts.push(part);
        }
        let stop_reason = a.stop_reason.as_deref().and_then(stop_reason);
        if stop_reason == Some(StopReason::Error) {
            let id = self.part_id(entry, blocks);
            parts.push(Part::Error {
                id,
                message: a
                    .error_message
                    .unwrap_or_else(|| "the model provider failed".to_owned()),
            });
        }
        let created_at = self.time(entry, a.timestamp);
        self.messages.push(Message {
            id: ids::message_id(HARNESS, self.uuid, &entry.id),
            session: self.session.clone(),
            role: Role::Assistant,
            parts,
            created_at,
            model: a.model.or_else(|| self.model.clone()),
            usage: a.usage.map(usage),
            stop_reason,
        });
    }

    fn tool_result(
        &mut self,
        entry: &Entry,
        call_id: &str,
        content: &[PiContent],
        failed: bool,
        warnings: &mut Vec<(usize, String)>,
    ) {
        let Some(part) = self
            .calls
            .get(call_id)
            .and_then(|&(m, p)| self.messages.get_mut(m)?.parts.get_mut(p))
        else {
            warnings.push((
                entry.line,
                format!(
                    "a result for tool call `{call_id}`, which no earlier assistant \
                 message of the branch made"
                ),
            ));
            return;
        };
        if let Part::ToolCall {
            status,
            output,
            is_error,
            ..
        } = part
        {
            let text = result_text(content);
            *status = if failed && is_abort_text(&text) {
                ToolStatus::Aborted
            } else {
                ToolStatus::Done
            };
            *output = Some(text);
            *is_error = failed;
        }
    }

    fn summary(
        &mut self,
        entry: &Entry,
        timestamp: Option<Millis>,
        summary: String,
        tokens_before: Option<u64>,
    ) {
        let part = Part::Compaction {
            id: self.part_id(entry, 0),
            summary,
            tokens_before,
        };
        self.push(entry, timestamp, Role::System, vec![part]);
    }

    fn custom(&mut self, entry: &Entry, timestamp: Option<Millis>, content: &[PiContent]) {
        let parts = content
            .iter()
            .enumerate()
            .filter_map(|(i, block)| self.user_part(entry, i, block))
            .collect();
        self.push(entry, timestamp, Role::System, parts);
    }

    fn user_part(&self, entry: &Entry, index: usize, block: &PiContent) -> Option<Part> {
        let id = self.part_id(entry, index);
        match block {
            PiContent::Text { text } => Some(Part::Text {
                id,
                text: text.clone(),
            }),
            PiContent::Image { data, mime_type } => Some(Part::Image {
                id,
                mime_type: mime_type.clone(),
                data: data.clone(),
                url: None,
            }),
            _ => None,
        }
    }

    fn push(&mut self, entry: &Entry, timestamp: Option<Millis>, role: Role, parts: Vec<Part>) {
        let created_at = self.time(entry, timestamp);
        self.messages.push(Message {
            id: ids::message_id(HARNESS, self.uuid, &entry.id),
            session: self.session.clone(),
            role,
            parts,
            created_at,
            model: None,
            usage: None,
            stop_reason: None,
        });
    }

    /// A message's time: its own timestamp, else its entry's, else the previous message's.
    fn time(&mut self, entry: &Entry, timestamp: Option<Millis>) -> Millis {
        let at = timestamp.or(entry.at).unwrap_or(self.last_time);
        self.last_time = at;
        at
    }

    fn part_id(&self, entry: &Entry, index: usize) -> oqto_protocol::PartId {
        ids::part_id(HARNESS, self.uuid, &entry.id, index)
    }
}

/// An assistant message's fields, as read.
struct Assistant {
    content: Vec<PiContent>,
    model: Option<ModelRef>,
    usage: Option<PiUsage>,
    stop_reason: Option<String>,
    error_message: Option<String>,
    timestamp: Option<Millis>,
}

/// The field `name` of the entry, read as `T`.
fn payload<T: DeserializeOwned>(entry: &Entry, name: &str) -> Result<T, String> {
    let value = entry.body.get(name).ok_or_else(|| format!("no `{name}`"))?;
    T::deserialize(value).map_err(|e| e.to_string())
}

/// The whole entry, read as `T`.
fn whole<T: DeserializeOwned>(entry: &Entry) -> Result<T, String> {
    T::deserialize(&Value::Object(entry.body.clone())).map_err(|e| e.to_string())
}

fn stop_reason(reason: &str) -> Option<StopReason> {
    match reason {
        "stop" => Some(StopReason::Stop),
        "toolUse" => Some(StopReason::ToolUse),
        "length" => Some(StopReason::Length),
        "aborted" => Some(StopReason::Aborted),
        "error" => Some(StopReason::Error),
        _ => None,
    }
}

fn usage(u: PiUsage) -> Usage {
    Usage {
        input: u.input,
        output: u.output,
        cache_read: u.cache_read,
        cache_write: u.cache_write,
        // pi reports 0 for models without prices: that is "unknown", not "free".
        cost: u.cost.map(|c| c.total).filter(|total| *total > 0.0),
    }
}

/// A tool result's text blocks, concatenated; an image block reads `[image]`.
fn result_text(content: &[PiContent]) -> String {
    let mut out = String::new();
    for block in content {
        match block {
            PiContent::Text { text } => out.push_str(text),
            PiContent::Image { .. } => out.push_str("[image]"),
            _ => {}
        }
    }
    out
}

/// Whether a failed tool's output says it was aborted: pi's bash ends it with
/// `Command aborted`, its other tools with `Operation aborted`.
fn is_abort_text(output: &str) -> bool {
    let end = output.trim_end();
    end.ends_with("Command aborted") || end.ends_with("Operation aborted")
}

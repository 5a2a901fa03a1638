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
//! Content blocks become parts through `oqto_pi::parts`, the mapping the runner uses live:
//! a block of a kind pi added after this build (or one that does not read) is a `text`
//! part saying `[unsupported pi content block: TYPE]`, not dropped.
//!
//! A tool call that never got a result on the branch ends `aborted`. Part `i` of the
//! message made from entry `e` has the id derived from `e` and `i`, where `i` is the index
//! of the content block (skipped blocks keep their index; an `error` part comes after the
//! last block).

use oqto_pi::{
    PiBranchSummary, PiCompaction, PiContent, PiCustomMessage, PiMessage, PiModelChange,
    PiStopReason, PiUsage, assistant_part, ended_tool_status, error_part, model_ref,
    tool_result_text, user_part,
};
use oqto_protocol::{Message, Millis, ModelRef, Part, Role, SessionId, StopReason, ToolStatus};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

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
                self.push(entry, timestamp, Role::User, parts);
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
                    model: model_ref(provider, model),
                    usage,
                    stop_reason,
                    error_message,
                    timestamp,
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
                self.push(entry, timestamp, Role::User, vec![part]);
            }
            PiMessage::Custom {
                content,
                display,
                timestamp,
            } => {
                if display {
                    self.custom(entry, timestamp, &content);
                }
            }
            PiMessage::BranchSummary { summary, timestamp } => {
                self.summary(entry, timestamp, summary, None);
            }
            PiMessage::CompactionSummary {
                summary,
                tokens_before,
                timestamp,
            } => self.summary(entry, timestamp, summary, tokens_before),
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
            let Some(part) = assistant_part(block, self.part_id(entry, i)) else {
                continue;
            };
            if let Part::ToolCall { call_id, .. } = &part {
                self.calls.insert(call_id.clone(), (index, parts.len()));
            }
            parts.push(part);
        }
        let stop_reason = a.stop_reason.as_ref().and_then(PiStopReason::to_protocol);
        if stop_reason == Some(StopReason::Error) {
            parts.push(error_part(self.part_id(entry, blocks), a.error_message));
        }
        let created_at = self.time(entry, a.timestamp);
        self.messages.push(Message {
            id: ids::message_id(HARNESS, self.uuid, &entry.id),
            session: self.session.clone(),
            role: Role::Assistant,
            parts,
            created_at,
            model: a.model.or_else(|| self.model.clone()),
            usage: a.usage.as_ref().map(PiUsage::to_usage),
            stop_reason,
            client_msg_id: None,
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
            let text = tool_result_text(content);
            *status = ended_tool_status(failed, &text);
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
        user_part(block, self.part_id(entry, index))
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
            client_msg_id: None,
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
    stop_reason: Option<PiStopReason>,
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

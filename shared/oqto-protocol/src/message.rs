//! The one message shape: streamed, stored, returned by history and search, rendered.

use serde::{Deserialize, Serialize};

use crate::ids::{ClientMsgId, MessageId, Millis, PartId, SessionId};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    System,
}

impl Role {
    /// The wire name (`user`, `assistant`, `system`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
        }
    }
}

/// A message: an ordered list of parts written by one role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Message {
    pub id: MessageId,
    pub session: SessionId,
    pub role: Role,
    pub parts: Vec<Part>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub model: Option<ModelRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub usage: Option<Usage>,
    /// Why an assistant message ended; absent for user messages and messages in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub stop_reason: Option<StopReason>,
    /// The `client_msg_id` of the `prompt`, `steer` or `follow_up` that this user message
    /// carries, so a client can match the message to what it sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub client_msg_id: Option<ClientMsgId>,
}

/// Why the model stopped writing a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished its reply.
    Stop,
    /// The model asked for tool calls.
    ToolUse,
    /// The output token limit was reached.
    Length,
    /// A user or client aborted the turn.
    Aborted,
    /// The provider or harness failed; the message holds an `error` part.
    Error,
}

/// A provider and model pair, e.g. `anthropic` / `claude-sonnet-4`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModelRef {
    pub provider: String,
    pub id: String,
}

/// Token counts (and cost when the provider reports one) of one assistant message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Usage {
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub input: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub output: u64,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub cache_read: u64,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub cache_write: u64,
    /// Total cost in US dollars, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub cost: Option<f64>,
}

/// The lifecycle of one tool call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// The model asked for the call; it has not started.
    Pending,
    /// The tool is running; `tool.output` events stream its output.
    Running,
    /// The tool finished (`is_error` says whether it failed).
    Done,
    /// The call was aborted before it finished.
    Aborted,
}

/// One piece of a message. Tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Plain text (markdown for assistant replies).
    Text { id: PartId, text: String },
    /// The model's visible reasoning.
    Thinking { id: PartId, text: String },
    /// A tool call and, once it has run, its result.
    ToolCall {
        id: PartId,
        /// The harness's own id for this call (pi: `call_…`).
        call_id: String,
        /// Tool name, e.g. `bash`, `read`, `edit`.
        name: String,
        /// The arguments, as the model wrote them (any JSON).
        #[cfg_attr(feature = "ts", ts(type = "unknown"))]
        input: serde_json::Value,
        status: ToolStatus,
        /// The tool's output: what it has written so far while `running` (in snapshots),
        /// all of it once `done` (text; binary results are summarised).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        output: Option<String>,
        #[serde(default)]
        is_error: bool,
    },
    /// An image, inline (base64) or by URL.
    Image {
        id: PartId,
        mime_type: String,
        /// Base64 data; absent when the image is only referenced by `url`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        data: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        url: Option<String>,
    },
    /// A reference to a file in the session's workspace.
    FileRef {
        id: PartId,
        /// Path relative to the session's `cwd`.
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        mime_type: Option<String>,
    },
    /// The summary that replaced earlier context after a compaction.
    Compaction {
        id: PartId,
        summary: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
        tokens_before: Option<u64>,
    },
    /// An error that ended the message (provider failure, harness crash).
    Error { id: PartId, message: String },
    /// The agent's plan for the turn (ACP `plan`): every update replaces the entries.
    Plan { id: PartId, entries: Vec<PlanEntry> },
    /// A change a tool call made or proposes to a file (ACP `diff` tool content), kept
    /// whole beside the `tool_call` part whose `call_id` it names.
    Diff {
        id: PartId,
        call_id: String,
        /// The file's path as the agent named it (absolute for ACP agents).
        path: String,
        /// The text before; absent for a new file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        old_text: Option<String>,
        new_text: String,
    },
}

/// One step of a [`Part::Plan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlanEntry {
    pub content: String,
    pub priority: PlanPriority,
    pub status: PlanStatus,
}

/// How important a plan step is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PlanPriority {
    High,
    Medium,
    Low,
}

/// Where a plan step stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Pending,
    InProgress,
    Completed,
}

impl Part {
    /// The part's id, whatever its kind.
    pub fn id(&self) -> &PartId {
        match self {
            Part::Text { id, .. }
            | Part::Thinking { id, .. }
            | Part::ToolCall { id, .. }
            | Part::Image { id, .. }
            | Part::FileRef { id, .. }
            | Part::Compaction { id, .. }
            | Part::Error { id, .. }
            | Part::Plan { id, .. }
            | Part::Diff { id, .. } => id,
        }
    }

    /// The part's id, to re-label it: the runner replaces a native agent's part labels with
    /// its own ids, and the store gives the parts of a copied message new ones.
    pub fn id_mut(&mut self) -> &mut PartId {
        match self {
            Part::Text { id, .. }
            | Part::Thinking { id, .. }
            | Part::ToolCall { id, .. }
            | Part::Image { id, .. }
            | Part::FileRef { id, .. }
            | Part::Compaction { id, .. }
            | Part::Error { id, .. }
            | Part::Plan { id, .. }
            | Part::Diff { id, .. } => id,
        }
    }

    /// The part's kind as its wire tag.
    pub fn kind(&self) -> PartKind {
        match self {
            Part::Text { .. } => PartKind::Text,
            Part::Thinking { .. } => PartKind::Thinking,
            Part::ToolCall { .. } => PartKind::ToolCall,
            Part::Image { .. } => PartKind::Image,
            Part::FileRef { .. } => PartKind::FileRef,
            Part::Compaction { .. } => PartKind::Compaction,
            Part::Error { .. } => PartKind::Error,
            Part::Plan { .. } => PartKind::Plan,
            Part::Diff { .. } => PartKind::Diff,
        }
    }
}

/// The kinds of [`Part`], as their wire tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    Text,
    Thinking,
    ToolCall,
    Image,
    FileRef,
    Compaction,
    Error,
    Plan,
    Diff,
}

impl PartKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PartKind::Text => "text",
            PartKind::Thinking => "thinking",
            PartKind::ToolCall => "tool_call",
            PartKind::Image => "image",
            PartKind::FileRef => "file_ref",
            PartKind::Compaction => "compaction",
            PartKind::Error => "error",
            PartKind::Plan => "plan",
            PartKind::Diff => "diff",
        }
    }
}

/// An image attached to a prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    pub mime_type: String,
    /// Base64-encoded bytes.
    pub data: String,
}

#[cfg(test)]
mod tests {
    use super::{Part, PartId};

    #[test]
    fn id_mut_relabels_the_part_it_belongs_to() {
        let mut part = Part::Compaction {
            id: PartId::new("label"),
            summary: "s".into(),
            tokens_before: None,
        };
        *part.id_mut() = PartId::new("prt_9");
        assert_eq!(part.id(), &PartId::new("prt_9"));
        assert!(matches!(part, Part::Compaction { ref summary, .. } if summary == "s"));
    }
}

//! Session events: `{"type": <kind>, ...fields, "session", "seq", "ts"}`.

use serde::{Deserialize, Serialize};

use crate::ids::{MessageId, Millis, PartId, Seq, SessionId};
use crate::message::{Message, ModelRef, Part, Role};
use crate::permission::{Answerer, OptionKind, PermissionOption, PermissionTool};
use crate::response::ErrorCode;
use crate::session::{Phase, SessionInfo, State, ThinkingLevel};

/// An event of one session. `seq` is per session, starts at 1 and has no gaps; `ts` is
/// the runner's clock when it emitted the event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Event {
    #[serde(flatten)]
    pub kind: EventKind,
    pub session: SessionId,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub seq: Seq,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ts: Millis,
}

/// What happened. Tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type")]
pub enum EventKind {
    #[serde(rename = "session.created")]
    SessionCreated { info: Box<SessionInfo> },
    /// Title, model, sandbox or other metadata changed.
    #[serde(rename = "session.updated")]
    SessionUpdated { info: Box<SessionInfo> },
    /// The harness process was stopped; the session can be prompted again.
    #[serde(rename = "session.closed")]
    SessionClosed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        reason: Option<String>,
    },
    /// The session and its history are gone; subscriptions to it end.
    #[serde(rename = "session.deleted")]
    SessionDeleted {},
    /// The state machine moved. Clients show exactly this, never a guess.
    #[serde(rename = "state")]
    State {
        state: State,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        phase: Option<Phase>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        reason: Option<String>,
    },
    #[serde(rename = "message.start")]
    MessageStart {
        message_id: MessageId,
        role: Role,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        model: Option<ModelRef>,
    },
    /// A part begins; `part` holds its id, kind and initial content.
    #[serde(rename = "part.start")]
    PartStart { message_id: MessageId, part: Part },
    /// Text appended to a text or thinking part, or raw JSON text appended to a tool
    /// call's input. A streamed tool call's `part.start` may carry `input: null`; the
    /// `part.end` that follows holds the parsed input and is authoritative.
    #[serde(rename = "part.delta")]
    PartDelta {
        message_id: MessageId,
        part_id: PartId,
        delta: String,
    },
    /// A part is complete; `part` is its final content.
    #[serde(rename = "part.end")]
    PartEnd { message_id: MessageId, part: Part },
    /// A message is complete and stored; `message` is its final content.
    #[serde(rename = "message.end")]
    MessageEnd { message: Message },
    /// A tool call started running.
    #[serde(rename = "tool.start")]
    ToolStart {
        message_id: MessageId,
        part_id: PartId,
        call_id: String,
        name: String,
        #[cfg_attr(feature = "ts", ts(type = "unknown"))]
        input: serde_json::Value,
    },
    /// Output appended by a running tool.
    #[serde(rename = "tool.output")]
    ToolOutput {
        message_id: MessageId,
        part_id: PartId,
        delta: String,
    },
    /// A tool call finished; `part` is the final `tool_call` part with its output.
    #[serde(rename = "tool.end")]
    ToolEnd { message_id: MessageId, part: Part },
    /// Messages waiting to be delivered to the agent.
    #[serde(rename = "queue.update")]
    QueueUpdate {
        steering: Vec<String>,
        follow_up: Vec<String>,
    },
    /// A provider error will be retried after `delay_ms`; the session stays `working`.
    #[serde(rename = "retry.start")]
    RetryStart {
        attempt: u32,
        max_attempts: u32,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        delay_ms: u64,
        error: String,
    },
    #[serde(rename = "retry.end")]
    RetryEnd {
        success: bool,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        error: Option<String>,
    },
    #[serde(rename = "compaction.start")]
    CompactionStart { reason: CompactionReason },
    #[serde(rename = "compaction.end")]
    CompactionEnd {
        reason: CompactionReason,
        aborted: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        summary: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
        tokens_before: Option<u64>,
    },
    #[serde(rename = "model.changed")]
    ModelChanged {
        model: ModelRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        thinking_level: Option<ThinkingLevel>,
    },
    /// The agent asks for permission to run a tool; answer with `permission.reply`. The
    /// session is `working` with phase `awaiting_permission` until it is resolved.
    #[serde(rename = "permission.request")]
    PermissionRequest {
        /// The runner's id of the request, unique within the session.
        request: String,
        tool: PermissionTool,
        options: Vec<PermissionOption>,
    },
    /// A permission request was answered: `option` chosen (absent when cancelled), by whom.
    #[serde(rename = "permission.resolved")]
    PermissionResolved {
        request: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        option: Option<String>,
        /// The chosen option's kind; absent when cancelled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        kind: Option<OptionKind>,
        answered: Answerer,
    },
    /// Something failed. `recoverable: false` means the session went to `error`.
    #[serde(rename = "session.error")]
    Error {
        code: ErrorCode,
        message: String,
        recoverable: bool,
    },
    /// Sent to one subscriber instead of events it can no longer get: rebuild the view from
    /// this snapshot, then continue with seq + 1. Not part of the shared stream: its `seq` is
    /// the last one the snapshot reflects.
    #[serde(rename = "resync")]
    Resync {
        reason: ResyncReason,
        info: Box<SessionInfo>,
        /// The newest stored messages, oldest first.
        messages: Vec<Message>,
        /// True when older stored messages exist (page them with `get_messages`).
        has_more: bool,
        /// The message being streamed, as far as it has come.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        in_flight: Option<Box<Message>>,
    },
}

/// Why a compaction ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum CompactionReason {
    Manual,
    Threshold,
    Overflow,
}

/// Why a subscriber gets a snapshot instead of the events it asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// `after_seq` is older than the oldest event the runner still holds.
    TooFarBehind,
    /// The subscriber did not read fast enough and its queue overflowed.
    SlowSubscriber,
    /// `after_seq` is newer than the session's newest event (e.g. the runner restarted).
    SeqFromFuture,
}

impl EventKind {
    /// Every event kind's wire name, in declaration order.
    pub const NAMES: &'static [&'static str] = &[
        "session.created",
        "session.updated",
        "session.closed",
        "session.deleted",
        "state",
        "message.start",
        "part.start",
        "part.delta",
        "part.end",
        "message.end",
        "tool.start",
        "tool.output",
        "tool.end",
        "queue.update",
        "retry.start",
        "retry.end",
        "compaction.start",
        "compaction.end",
        "model.changed",
        "session.error",
        "resync",
        "permission.request",
        "permission.resolved",
    ];

    /// This event's wire name.
    pub fn name(&self) -> &'static str {
        let index = match self {
            EventKind::SessionCreated { .. } => 0,
            EventKind::SessionUpdated { .. } => 1,
            EventKind::SessionClosed { .. } => 2,
            EventKind::SessionDeleted {} => 3,
            EventKind::State { .. } => 4,
            EventKind::MessageStart { .. } => 5,
            EventKind::PartStart { .. } => 6,
            EventKind::PartDelta { .. } => 7,
            EventKind::PartEnd { .. } => 8,
            EventKind::MessageEnd { .. } => 9,
            EventKind::ToolStart { .. } => 10,
            EventKind::ToolOutput { .. } => 11,
            EventKind::ToolEnd { .. } => 12,
            EventKind::QueueUpdate { .. } => 13,
            EventKind::RetryStart { .. } => 14,
            EventKind::RetryEnd { .. } => 15,
            EventKind::CompactionStart { .. } => 16,
            EventKind::CompactionEnd { .. } => 17,
            EventKind::ModelChanged { .. } => 18,
            EventKind::Error { .. } => 19,
            EventKind::Resync { .. } => 20,
            EventKind::PermissionRequest { .. } => 21,
            EventKind::PermissionResolved { .. } => 22,
        };
        Self::NAMES[index]
    }
}

//! What `pi --mode rpc` writes on stdout, as serde types: only the fields the runner uses.
//! Unknown fields are ignored; unknown event and streaming types are kept as `Other`
//! variants instead of failing the line (content blocks and stop reasons: see
//! [`crate::message`]).

use serde::Deserialize;

use crate::message::{PiContent, PiMessage, PiToolCall, content_list};

/// One stdout line of pi: a response to a command, or an event.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum PiLine {
    /// The answer to one command (matched by `id` by the runner's pi adapter).
    Response(PiResponse),
    AgentStart,
    AgentEnd,
    TurnStart,
    TurnEnd,
    MessageStart {
        message: PiMessage,
    },
    /// A streaming step of the assistant message in flight. The `message` snapshot pi also
    /// sends is deliberately not read.
    MessageUpdate {
        assistant_message_event: PiStreamEvent,
    },
    MessageEnd {
        message: PiMessage,
    },
    ToolExecutionStart {
        tool_call_id: String,
        tool_name: String,
        /// The tool's arguments (any JSON).
        #[serde(default)]
        args: serde_json::Value,
    },
    /// `partial_result` holds the output so far: cumulative, not a delta.
    ToolExecutionUpdate {
        tool_call_id: String,
        #[serde(default)]
        partial_result: PiToolResult,
    },
    ToolExecutionEnd {
        tool_call_id: String,
        #[serde(default)]
        result: PiToolResult,
        #[serde(default)]
        is_error: bool,
    },
    QueueUpdate {
        #[serde(default)]
        steering: Vec<String>,
        #[serde(default)]
        follow_up: Vec<String>,
    },
    AutoRetryStart {
        attempt: u32,
        max_attempts: u32,
        delay_ms: u64,
        #[serde(default)]
        error_message: String,
    },
    AutoRetryEnd {
        success: bool,
        attempt: u32,
        #[serde(default)]
        final_error: Option<String>,
    },
    CompactionStart {
        reason: PiCompactionReason,
    },
    CompactionEnd {
        reason: PiCompactionReason,
        #[serde(default)]
        result: Option<PiCompactionResult>,
        #[serde(default)]
        aborted: bool,
        #[serde(default)]
        will_retry: bool,
    },
    SessionInfoChanged {
        #[serde(default)]
        name: Option<String>,
    },
    ThinkingLevelChanged {
        level: String,
    },
    /// Any event type this build does not know; `kind` is its `type`. Never an error.
    #[serde(skip)]
    Other {
        kind: String,
    },
    /// Placeholder for the serde fallback; [`parse_line`] turns it into [`PiLine::Other`].
    #[doc(hidden)]
    #[serde(other)]
    Unknown,
}

/// `{"type":"response","id"?,"command","success","data"?,"error"?}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PiResponse {
    /// Echoed from the command; absent for parse errors and unknown commands.
    #[serde(default)]
    pub id: Option<String>,
    pub command: String,
    pub success: bool,
    /// The command's result. Its shape depends on `command`, which only the caller that
    /// sent it knows, so it stays JSON here.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<String>,
}

/// `assistantMessageEvent` of a `message_update`. `partial` snapshots are not read, except
/// the tool call's id and name at `toolcall_start` (they are fixed once the call begins).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum PiStreamEvent {
    TextStart {
        content_index: usize,
    },
    TextDelta {
        content_index: usize,
        #[serde(default)]
        delta: String,
    },
    TextEnd {
        content_index: usize,
        #[serde(default)]
        content: String,
    },
    ThinkingStart {
        content_index: usize,
    },
    ThinkingDelta {
        content_index: usize,
        #[serde(default)]
        delta: String,
    },
    ThinkingEnd {
        content_index: usize,
        #[serde(default)]
        content: String,
    },
    ToolcallStart {
        content_index: usize,
        #[serde(default)]
        partial: Option<PiPartial>,
    },
    ToolcallDelta {
        content_index: usize,
        #[serde(default)]
        delta: String,
    },
    ToolcallEnd {
        content_index: usize,
        tool_call: PiToolCall,
    },
    #[serde(other)]
    Other,
}

/// The partial message of a `toolcall_start`: only its content is read.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct PiPartial {
    #[serde(default, deserialize_with = "content_list")]
    pub content: Vec<PiContent>,
}

/// A tool's (partial or final) result.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct PiToolResult {
    #[serde(default, deserialize_with = "content_list")]
    pub content: Vec<PiContent>,
}

impl PiToolResult {
    /// The result as text (see [`crate::tool_result_text`]).
    pub fn text(&self) -> String {
        crate::parts::tool_result_text(&self.content)
    }
}

/// Why pi compacted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiCompactionReason {
    Manual,
    Threshold,
    Overflow,
    #[serde(other)]
    Other,
}

/// `compaction_end.result`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiCompactionResult {
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub tokens_before: Option<u64>,
}

/// Why a stdout line could not be read.
#[derive(Debug, thiserror::Error)]
#[error("pi wrote an unreadable line: {0}")]
pub struct ParseError(#[from] serde_json::Error);

/// Parses one stdout line (without its `\n`). Never panics; an unknown `type` is
/// [`PiLine::Other`], not an error. Invalid JSON, a missing `type`, or a known type with
/// missing or mistyped fields is an error.
pub fn parse_line(line: &str) -> Result<PiLine, ParseError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    match serde_json::from_str::<PiLine>(line)? {
        PiLine::Unknown => {
            #[derive(Deserialize)]
            struct Tag {
                #[serde(rename = "type")]
                kind: String,
            }
            let tag: Tag = serde_json::from_str(line)?;
            Ok(PiLine::Other { kind: tag.kind })
        }
        known => Ok(known),
    }
}

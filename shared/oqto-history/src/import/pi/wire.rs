//! What a pi session file holds (format version 3, see pi's `docs/session-format.md`), as
//! serde types: only the fields the importer uses. Unknown fields are ignored; unknown
//! roles and content blocks become `Other` instead of failing the entry.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The `message` of a `message` entry: pi's `AgentMessage`, tagged by `role`.
#[derive(Debug, Deserialize)]
#[serde(
    tag = "role",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(super) enum PiMessage {
    User {
        #[serde(default, deserialize_with = "content_list")]
        content: Vec<PiContent>,
        #[serde(default)]
        timestamp: Option<Value>,
    },
    Assistant {
        #[serde(default, deserialize_with = "content_list")]
        content: Vec<PiContent>,
        #[serde(default)]
        provider: Option<String>,
        #[serde(default)]
        model: Option<String>,
        #[serde(default)]
        usage: Option<PiUsage>,
        #[serde(default)]
        stop_reason: Option<String>,
        #[serde(default)]
        error_message: Option<String>,
        #[serde(default)]
        timestamp: Option<Value>,
    },
    /// A tool's result; it fills the matching tool call of an earlier assistant message.
    ToolResult {
        tool_call_id: String,
        #[serde(default, deserialize_with = "content_list")]
        content: Vec<PiContent>,
        #[serde(default)]
        is_error: bool,
    },
    /// A shell command the user ran themselves (`!cmd` in pi's editor, `bash` over RPC).
    BashExecution {
        command: String,
        #[serde(default)]
        output: String,
        #[serde(default)]
        exit_code: Option<i64>,
        #[serde(default)]
        cancelled: bool,
        #[serde(default)]
        timestamp: Option<Value>,
    },
    /// A message an extension added to the conversation.
    Custom {
        #[serde(default, deserialize_with = "content_list")]
        content: Vec<PiContent>,
        #[serde(default = "shown")]
        display: bool,
        #[serde(default)]
        timestamp: Option<Value>,
    },
    BranchSummary {
        summary: String,
        #[serde(default)]
        timestamp: Option<Value>,
    },
    CompactionSummary {
        summary: String,
        #[serde(default)]
        tokens_before: Option<u64>,
        #[serde(default)]
        timestamp: Option<Value>,
    },
    #[serde(other)]
    Other,
}

/// A `compaction` entry's payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PiCompaction {
    pub summary: String,
    #[serde(default)]
    pub tokens_before: Option<u64>,
}

/// A `branch_summary` entry's payload.
#[derive(Debug, Deserialize)]
pub(super) struct PiBranchSummary {
    pub summary: String,
}

/// A `custom_message` entry's payload.
#[derive(Debug, Deserialize)]
pub(super) struct PiCustomMessage {
    #[serde(default, deserialize_with = "content_list")]
    pub content: Vec<PiContent>,
    #[serde(default = "shown")]
    pub display: bool,
}

/// A `model_change` entry's payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PiModelChange {
    pub provider: String,
    pub model_id: String,
}

fn shown() -> bool {
    true
}

/// One content block of a message or tool result.
#[derive(Debug, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(super) enum PiContent {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    ToolCall {
        id: String,
        name: String,
        #[serde(default)]
        arguments: Value,
    },
    Image {
        #[serde(default)]
        data: Option<String>,
        #[serde(default)]
        mime_type: String,
    },
    #[serde(other)]
    Other,
}

/// Token usage of an assistant message; of the cost only the total is kept.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PiUsage {
    #[serde(default)]
    pub input: u64,
    #[serde(default)]
    pub output: u64,
    #[serde(default)]
    pub cache_read: u64,
    #[serde(default)]
    pub cache_write: u64,
    #[serde(default)]
    pub cost: Option<PiCost>,
}

#[derive(Debug, Deserialize)]
pub(super) struct PiCost {
    #[serde(default)]
    pub total: f64,
}

/// pi's `content`: a string (one text block) or a list of blocks. A block that does not
/// read as any known kind becomes [`PiContent::Other`] rather than failing the message.
fn content_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PiContent>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(text) => vec![PiContent::Text { text }],
        Value::Array(blocks) => blocks
            .into_iter()
            .map(|block| serde_json::from_value(block).unwrap_or(PiContent::Other))
            .collect(),
        _ => Vec::new(),
    })
}

/// A JSON number of milliseconds (pi writes `Date.now()`), if it is one.
pub(super) fn millis(value: Option<&Value>) -> Option<u64> {
    let value = value?;
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < 9.0e15)
            // In range and non-negative (checked above): the cast only drops the fraction.
            .map(|f| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let ms = f as u64;
                ms
            })
    })
}

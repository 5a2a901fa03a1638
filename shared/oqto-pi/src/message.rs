//! pi's `AgentMessage` and its content blocks: the same shape in the RPC events
//! (`message_start`, `message_end`) and in the session files (`message` entries).
//!
//! Only the fields Oqto uses are read; unknown fields are ignored. An unknown role is
//! [`PiMessage::Other`]; a content block that does not read as a known kind is
//! [`PiContent::Other`] with its `type`, never dropped and never an error; an unknown stop
//! reason is [`PiStopReason::Other`] with its text.

use oqto_protocol::{Millis, StopReason, Usage};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An agent message, tagged by `role`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(
    tag = "role",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum PiMessage {
    User {
        /// A string or a list of content blocks in pi; always a list here.
        #[serde(default, deserialize_with = "content_list")]
        content: Vec<PiContent>,
        #[serde(default, deserialize_with = "lenient_millis")]
        timestamp: Option<Millis>,
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
        stop_reason: Option<PiStopReason>,
        #[serde(default)]
        error_message: Option<String>,
        #[serde(default, deserialize_with = "lenient_millis")]
        timestamp: Option<Millis>,
    },
    /// A tool's result. Live, the runner reports it through `tool.end` instead; imported,
    /// it fills the matching tool call of an earlier assistant message.
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
        #[serde(default, deserialize_with = "lenient_millis")]
        timestamp: Option<Millis>,
    },
    /// A message an extension added to the conversation.
    Custom {
        #[serde(default, deserialize_with = "content_list")]
        content: Vec<PiContent>,
        #[serde(default = "shown")]
        display: bool,
        #[serde(default, deserialize_with = "lenient_millis")]
        timestamp: Option<Millis>,
    },
    BranchSummary {
        summary: String,
        #[serde(default, deserialize_with = "lenient_millis")]
        timestamp: Option<Millis>,
    },
    CompactionSummary {
        summary: String,
        #[serde(default)]
        tokens_before: Option<u64>,
        #[serde(default, deserialize_with = "lenient_millis")]
        timestamp: Option<Millis>,
    },
    /// Any other role.
    #[serde(other)]
    Other,
}

pub(crate) fn shown() -> bool {
    true
}

/// One content block of a message or tool result.
///
/// Reading a block never fails: one that is not a known kind, or is one with fields of the
/// wrong type, or is not an object at all, is [`PiContent::Other`] (pi stores whatever a
/// client or extension sent, and newer pis may add kinds).
#[derive(Clone, Debug, PartialEq)]
pub enum PiContent {
    Text {
        text: String,
    },
    Thinking {
        thinking: String,
    },
    ToolCall(PiToolCall),
    Image {
        data: Option<String>,
        mime_type: String,
    },
    /// A block of no kind read here; `kind` is its `type`, when it has a string one.
    Other {
        kind: Option<String>,
    },
}

/// The known kinds, as serde reads them; anything else is [`PiContent::Other`].
#[derive(Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum KnownContent {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
    },
    ToolCall(PiToolCall),
    Image {
        #[serde(default)]
        data: Option<String>,
        #[serde(default)]
        mime_type: String,
    },
}

impl<'de> Deserialize<'de> for PiContent {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        Ok(PiContent::from_value(Value::deserialize(de)?))
    }
}

impl PiContent {
    /// Reads one block; see the type's docs for what becomes [`PiContent::Other`].
    pub fn from_value(value: Value) -> Self {
        let kind = value.get("type").and_then(Value::as_str).map(str::to_owned);
        match serde_json::from_value::<KnownContent>(value) {
            Ok(KnownContent::Text { text }) => PiContent::Text { text },
            Ok(KnownContent::Thinking { thinking }) => PiContent::Thinking { thinking },
            Ok(KnownContent::ToolCall(call)) => PiContent::ToolCall(call),
            Ok(KnownContent::Image { data, mime_type }) => PiContent::Image { data, mime_type },
            Err(_) => PiContent::Other { kind },
        }
    }
}

/// A tool call the model made.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PiToolCall {
    pub id: String,
    pub name: String,
    /// The arguments (any JSON).
    #[serde(default)]
    pub arguments: Value,
}

/// Token usage of an assistant message.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiUsage {
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

impl PiUsage {
    /// The protocol's usage. pi reports a cost of 0 for models without prices: that is
    /// "unknown", not "free", so it becomes no cost.
    pub fn to_usage(&self) -> Usage {
        Usage {
            input: self.input,
            output: self.output,
            cache_read: self.cache_read,
            cache_write: self.cache_write,
            cost: self.cost.as_ref().map(|c| c.total).filter(|t| *t > 0.0),
        }
    }
}

/// The cost breakdown; only the total is used.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct PiCost {
    #[serde(default)]
    pub total: f64,
}

/// Why an assistant message ended. A reason this build does not know keeps its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PiStopReason {
    Stop,
    ToolUse,
    Length,
    Aborted,
    Error,
    Other(String),
}

impl PiStopReason {
    /// pi's name for a reason (`toolUse`, …).
    pub fn parse(text: &str) -> Self {
        match text {
            "stop" => PiStopReason::Stop,
            "toolUse" => PiStopReason::ToolUse,
            "length" => PiStopReason::Length,
            "aborted" => PiStopReason::Aborted,
            "error" => PiStopReason::Error,
            other => PiStopReason::Other(other.to_owned()),
        }
    }

    /// The protocol's stop reason; an unknown one has none.
    pub fn to_protocol(&self) -> Option<StopReason> {
        match self {
            PiStopReason::Stop => Some(StopReason::Stop),
            PiStopReason::ToolUse => Some(StopReason::ToolUse),
            PiStopReason::Length => Some(StopReason::Length),
            PiStopReason::Aborted => Some(StopReason::Aborted),
            PiStopReason::Error => Some(StopReason::Error),
            PiStopReason::Other(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for PiStopReason {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        Ok(PiStopReason::parse(&String::deserialize(de)?))
    }
}

/// pi's `content`: a string (one text block) or a list of blocks (see [`PiContent`]).
/// Anything else reads as no blocks.
pub(crate) fn content_list<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<PiContent>, D::Error> {
    Ok(match Value::deserialize(de)? {
        Value::String(text) => vec![PiContent::Text { text }],
        Value::Array(blocks) => blocks.into_iter().map(PiContent::from_value).collect(),
        _ => Vec::new(),
    })
}

/// A JSON number of milliseconds (pi writes `Date.now()`), if it is one; anything else
/// reads as none rather than failing the message.
fn lenient_millis<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Millis>, D::Error> {
    Ok(millis(&Value::deserialize(de)?))
}

fn millis(value: &Value) -> Option<Millis> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{PiContent, PiMessage, PiStopReason};

    fn message(value: serde_json::Value) -> PiMessage {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn unknown_and_unreadable_blocks_are_kept_as_other() {
        let PiMessage::User { content, .. } = message(json!({
            "role": "user",
            "content": [
                {"type": "text", "text": "see"},
                {"type": "audio", "data": "…"},
                {"type": "text", "text": 5},
                "a bare string",
                {"no": "type"}
            ]
        })) else {
            panic!("not a user message")
        };
        assert_eq!(
            content,
            [
                PiContent::Text { text: "see".into() },
                PiContent::Other {
                    kind: Some("audio".into())
                },
                PiContent::Other {
                    kind: Some("text".into())
                },
                PiContent::Other { kind: None },
                PiContent::Other { kind: None },
            ]
        );
    }

    #[test]
    fn content_may_be_a_string() {
        assert_eq!(
            message(json!({"role": "user", "content": "hi"})),
            PiMessage::User {
                content: vec![PiContent::Text { text: "hi".into() }],
                timestamp: None
            }
        );
    }

    #[test]
    fn unknown_stop_reasons_keep_their_text() {
        let PiMessage::Assistant { stop_reason, .. } =
            message(json!({"role": "assistant", "content": [], "stopReason": "refusal"}))
        else {
            panic!("not an assistant message")
        };
        let reason = stop_reason.unwrap();
        assert_eq!(reason, PiStopReason::Other("refusal".into()));
        assert_eq!(reason.to_protocol(), None);
        assert_eq!(
            PiStopReason::parse("toolUse").to_protocol(),
            Some(oqto_protocol::StopReason::ToolUse)
        );
    }

    #[test]
    fn timestamps_are_read_leniently() {
        let stamp = |t: serde_json::Value| match message(json!({"role": "user", "timestamp": t})) {
            PiMessage::User { timestamp, .. } => timestamp,
            _ => unreachable!(),
        };
        assert_eq!(stamp(json!(1_795_514_410_000_u64)), Some(1_795_514_410_000));
        assert_eq!(stamp(json!(12.7)), Some(12));
        assert_eq!(stamp(json!(-1)), None);
        assert_eq!(stamp(json!("2026-11-24T10:00:00Z")), None);
    }

    #[test]
    fn unknown_roles_are_other() {
        assert_eq!(message(json!({"role": "memo"})), PiMessage::Other);
    }
}

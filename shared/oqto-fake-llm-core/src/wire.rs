//! What the wire formats share: the request every API is reduced to, a reply cut into blocks,
//! the streamed events, and the dispatch from an [`Api`] to its module.
//!
//! Each API module only translates. Its request becomes a [`Request`] (the conversation as
//! [`Turn`]s, for the one script in [`crate::script`]); the script's [`Reply`] becomes that
//! API's server-sent events or whole response body.

use serde_json::Value;

use crate::script::{Delta, Reply, Turn};
use crate::{anthropic, gemini, openai, responses};

/// The four wire formats this server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `OpenAI` Chat Completions, `POST /v1/chat/completions` (pi, opencode).
    ChatCompletions,
    /// Anthropic Messages, `POST /v1/messages` (Claude Code).
    Messages,
    /// Gemini `generateContent` / `streamGenerateContent` (Gemini CLI).
    Gemini,
    /// `OpenAI` Responses, `POST /v1/responses` (Codex).
    Responses,
}

/// What a request of any API is reduced to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The model id the client asked for (empty when it named none).
    pub model: String,
    /// Whether the client wants server-sent events.
    pub stream: bool,
    /// Chat Completions only: end a stream with a usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// The number of tool definitions the client sent (logged).
    pub tools: usize,
    /// The conversation, oldest first, system prompt included.
    pub turns: Vec<Turn>,
}

/// The fixed parts of one response: its id, the model it names, and its creation time.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub id: &'a str,
    pub model: &'a str,
    /// Unix seconds.
    pub created: u64,
}

/// One server-sent event of a streamed reply. `paced` events carry a delta of the reply and get
/// the configured pause before them; the others (starts, stops, usage) go out at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub paced: bool,
    pub bytes: String,
}

impl Event {
    /// `data: <json>` and a blank line.
    pub fn data(paced: bool, data: &Value) -> Self {
        Self {
            paced,
            bytes: format!("data: {data}\n\n"),
        }
    }

    /// `event: <name>`, `data: <json>` and a blank line.
    pub fn named(paced: bool, name: &str, data: &Value) -> Self {
        Self {
            paced,
            bytes: format!("event: {name}\ndata: {data}\n\n"),
        }
    }
}

/// Why the server answers with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request could not be read (HTTP 400) or the route does not exist (404).
    Invalid,
    /// A `fail:` or `flaky:` directive.
    Scripted,
}

/// A reply cut into consecutive runs of one kind: what Anthropic calls content blocks and the
/// Responses API output items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    Thinking(Vec<String>),
    Text(Vec<String>),
    ToolCall {
        id: String,
        name: String,
        /// The pieces of the JSON arguments, in order.
        arguments: Vec<String>,
    },
}

impl Block {
    /// The whole text (thinking, text or arguments) of the block.
    pub fn joined(&self) -> String {
        match self {
            Self::Thinking(p) | Self::Text(p) | Self::ToolCall { arguments: p, .. } => p.concat(),
        }
    }
}

/// Cuts a reply's deltas into [`Block`]s.
pub fn blocks(reply: &Reply) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for delta in &reply.deltas {
        match (delta, out.last_mut()) {
            (Delta::Reasoning(s), Some(Block::Thinking(p)))
            | (Delta::Content(s), Some(Block::Text(p)))
            | (Delta::ToolCallArguments(s), Some(Block::ToolCall { arguments: p, .. })) => {
                p.push(s.clone());
            }
            (Delta::Reasoning(s), _) => out.push(Block::Thinking(vec![s.clone()])),
            (Delta::Content(s), _) => out.push(Block::Text(vec![s.clone()])),
            (Delta::ToolCallStart { id, name }, _) => out.push(Block::ToolCall {
                id: id.clone(),
                name: name.clone(),
                arguments: Vec::new(),
            }),
            // Arguments without a start: the script never makes these.
            (Delta::ToolCallArguments(_), _) => {}
        }
    }
    out
}

/// The arguments of a tool call as a JSON value (the script only makes JSON objects).
pub fn arguments_value(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::Object(serde_json::Map::new()))
}

/// The text of a JSON value that is a string, or a list of parts with `text` fields, or
/// anything else (as JSON).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => s.clone(),
                other => other
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            })
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// Joins a message's text parts, leaving out those wholly wrapped in tags, which agents add as
/// context (Claude Code's `<system-reminder>…</system-reminder>`, Gemini CLI's
/// `<session_context>…</session_context>`), unless nothing else is left.
pub fn join_own_text(parts: &[&str]) -> String {
    let own: Vec<&str> = parts.iter().copied().filter(|t| !is_tagged(t)).collect();
    if own.is_empty() { parts } else { &own }.join("\n")
}

/// Text wholly wrapped in tags: `<name>…</name>`, possibly several in a row.
fn is_tagged(text: &str) -> bool {
    let t = text.trim();
    t.starts_with('<') && t.ends_with('>')
}

impl Api {
    /// The name in logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat completion",
            Self::Messages => "anthropic messages",
            Self::Gemini => "gemini generateContent",
            Self::Responses => "responses",
        }
    }

    /// Reads a request body of this API. The error says what is wrong with it.
    pub fn parse(self, body: Value) -> Result<Request, String> {
        match self {
            Self::ChatCompletions => openai::parse(body),
            Self::Messages => anthropic::parse(&body),
            Self::Gemini => gemini::parse(&body),
            Self::Responses => responses::parse(&body),
        }
    }

    /// The id of the `n`th response of the server.
    pub fn response_id(self, n: u64) -> String {
        match self {
            Self::ChatCompletions => format!("chatcmpl-{n:012x}"),
            Self::Messages => format!("msg_{n:012x}"),
            Self::Gemini => format!("oqto-{n:012x}"),
            Self::Responses => format!("resp_{n:012x}"),
        }
    }

    /// The events of a streamed reply.
    pub fn events(self, reply: &Reply, ctx: Ctx<'_>, req: &Request) -> Vec<Event> {
        match self {
            Self::ChatCompletions => openai::events(reply, ctx, req.include_usage),
            Self::Messages => anthropic::events(reply, ctx),
            Self::Gemini => gemini::events(reply, ctx),
            Self::Responses => responses::events(reply, ctx),
        }
    }

    /// The whole (non-streamed) reply.
    pub fn whole(self, reply: &Reply, ctx: Ctx<'_>) -> Value {
        match self {
            Self::ChatCompletions => openai::whole(reply, ctx),
            Self::Messages => anthropic::whole(reply, ctx),
            Self::Gemini => gemini::whole(reply, ctx),
            Self::Responses => responses::whole(reply, ctx),
        }
    }

    /// The body of an error response in this API's shape.
    pub fn error_body(self, status: u16, kind: ErrorKind, message: &str) -> Value {
        match self {
            Self::ChatCompletions | Self::Responses => openai::error_body(kind, message),
            Self::Messages => anthropic::error_body(status, kind, message),
            Self::Gemini => gemini::error_body(status, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Pace, Usage};

    #[test]
    fn deltas_are_cut_into_runs() {
        let reply = Reply {
            deltas: vec![
                Delta::Reasoning("a".into()),
                Delta::Reasoning("b".into()),
                Delta::Content("c".into()),
                Delta::ToolCallStart {
                    id: "call_1".into(),
                    name: "bash".into(),
                },
                Delta::ToolCallArguments("{}".into()),
            ],
            pace: Pace::Normal,
            usage: Usage {
                prompt_tokens: 1,
                completion_tokens: 1,
                total_tokens: 2,
            },
        };
        assert_eq!(
            blocks(&reply),
            [
                Block::Thinking(vec!["a".into(), "b".into()]),
                Block::Text(vec!["c".into()]),
                Block::ToolCall {
                    id: "call_1".into(),
                    name: "bash".into(),
                    arguments: vec!["{}".into()]
                }
            ]
        );
    }

    #[test]
    fn tagged_context_parts_are_left_out() {
        assert_eq!(
            join_own_text(&[
                "<system-reminder>\nx\n</system-reminder>\n",
                "hello",
                "<a>b</a>"
            ]),
            "hello"
        );
        assert_eq!(join_own_text(&["<only>tags</only>"]), "<only>tags</only>");
        assert_eq!(join_own_text(&["a", "b <c>"]), "a\nb <c>");
    }

    #[test]
    fn value_text_reads_strings_and_parts() {
        assert_eq!(value_text(&serde_json::json!("x")), "x");
        assert_eq!(
            value_text(&serde_json::json!([{"type":"text","text":"a"},{"type":"image"},"b"])),
            "a\nb"
        );
        assert_eq!(value_text(&Value::Null), "");
        assert_eq!(value_text(&serde_json::json!({"k":1})), r#"{"k":1}"#);
    }
}

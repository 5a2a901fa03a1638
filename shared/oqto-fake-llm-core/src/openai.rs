//! The slice of the Chat Completions wire format (OpenAI-compatible) this server reads and writes.
//!
//! These are an outside API's types, not Oqto protocol types, so they live here rather than in
//! `oqto-protocol`. Inbound types are lenient: unknown fields are ignored and message content
//! may be a string, an array of parts, or null, as OpenAI-compatible clients send it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::script::{Delta, Reply, Turn};
pub use crate::script::{Role, Usage};
use crate::wire::{Ctx, ErrorKind, Event, Request};

/// `POST /v1/chat/completions` request body (the fields the script looks at).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// The tool definitions; only counted (for the log line).
    #[serde(default)]
    pub tools: Vec<serde::de::IgnoredAny>,
}

impl ChatRequest {
    /// The conversation as the script sees it.
    pub fn turns(&self) -> Vec<Turn> {
        self.messages
            .iter()
            .map(|m| Turn::new(m.role, m.text_content()))
            .collect()
    }

    /// Whether a streamed reply ends with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage)
    }
}

/// `stream_options`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// One message of the conversation.
#[derive(Clone, Debug, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: Option<Content>,
}

impl Message {
    /// A message with text content (for tests and examples).
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(Content::Text(text.into())),
        }
    }

    /// The text of the message: the string, or its text parts joined by newlines.
    pub fn text_content(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(Content::Text(s)) => s.clone(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Message content: the Chat Completions API allows a plain string or an array of typed parts.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

/// One content part. Only `text` parts carry text; others (`image_url`) are ignored.
#[derive(Clone, Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// One `data:` line of a streamed reply (`object: "chat.completion.chunk"`).
#[derive(Debug, Serialize)]
pub struct Chunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// `choices[i]` of a chunk. `finish_reason` is serialized as `null` until the last one.
#[derive(Debug, Serialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: ChunkDelta,
    pub finish_reason: Option<&'static str>,
}

/// `choices[i].delta`.
#[derive(Debug, Default, Serialize)]
pub struct ChunkDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

/// One entry of `delta.tool_calls`: the first carries `id`, `type` and the name; later ones
/// only pieces of `function.arguments`.
#[derive(Debug, Serialize)]
pub struct ToolCallDelta {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta,
}

/// `tool_calls[i].function` of a delta.
#[derive(Debug, Serialize)]
pub struct FunctionDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// A whole (non-streamed) reply: `object: "chat.completion"`.
#[derive(Debug, Serialize)]
pub struct Completion<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: Vec<CompletionChoice>,
    pub usage: Usage,
}

/// `choices[i]` of a whole reply.
#[derive(Debug, Serialize)]
pub struct CompletionChoice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: &'static str,
}

/// The assistant message of a whole reply. `content` is `null` for a tool call alone.
#[derive(Debug, Serialize)]
pub struct AssistantMessage {
    pub role: &'static str,
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

/// A complete tool call.
#[derive(Debug, Serialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: Function,
}

/// `tool_calls[i].function`: `arguments` is JSON text, as the API sends it.
#[derive(Debug, Serialize)]
pub struct Function {
    pub name: String,
    pub arguments: String,
}

/// `GET /v1/models`.
#[derive(Debug, Serialize)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelEntry>,
}

/// One entry of the model list.
#[derive(Debug, Serialize)]
pub struct ModelEntry {
    pub id: &'static str,
    pub object: &'static str,
    pub owned_by: &'static str,
}

/// An OpenAI-style error body: `{"error":{"message":…,"type":…}}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The `error` object.
#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl ErrorBody {
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                kind,
            },
        }
    }
}

/// Reads a `POST /v1/chat/completions` body.
pub fn parse(body: Value) -> Result<Request, String> {
    let req: ChatRequest = serde_json::from_value(body)
        .map_err(|e| format!("invalid chat completion request: {e}"))?;
    if req.messages.is_empty() {
        return Err("'messages' must not be empty".into());
    }
    Ok(Request {
        stream: req.stream,
        include_usage: req.include_usage(),
        tools: req.tools.len(),
        turns: req.turns(),
        model: req.model,
    })
}

/// An OpenAI-style error body (also the Responses API's).
pub fn error_body(kind: ErrorKind, message: &str) -> Value {
    let kind = match kind {
        ErrorKind::Invalid => "invalid_request_error",
        ErrorKind::Scripted => "server_error",
    };
    serde_json::to_value(ErrorBody::new(kind, message)).unwrap_or(Value::Null)
}

/// The `data:` events of a streamed reply: the role chunk, one chunk per delta, the
/// `finish_reason` chunk, the usage chunk when asked for, and `[DONE]`.
pub fn events(reply: &Reply, ctx: Ctx<'_>, include_usage: bool) -> Vec<crate::wire::Event> {
    let chunk = |delta: ChunkDelta, finish_reason: Option<&'static str>| Chunk {
        id: ctx.id,
        object: "chat.completion.chunk",
        created: ctx.created,
        model: ctx.model,
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason,
        }],
        usage: None,
    };
    // Plain structs of strings and numbers: serializing cannot fail.
    let event = |paced: bool, chunk: &Chunk<'_>| {
        Event::data(paced, &serde_json::to_value(chunk).unwrap_or_default())
    };

    let mut out = Vec::with_capacity(reply.deltas.len() + 4);
    let role = ChunkDelta {
        role: Some("assistant"),
        content: Some(String::new()),
        ..ChunkDelta::default()
    };
    out.push(event(false, &chunk(role, None)));
    for delta in &reply.deltas {
        out.push(event(true, &chunk(chunk_delta(delta), None)));
    }
    let finish = chunk(ChunkDelta::default(), Some(reply.finish_reason().as_str()));
    out.push(event(false, &finish));
    if include_usage {
        let usage = Chunk {
            choices: Vec::new(),
            usage: Some(reply.usage),
            ..chunk(ChunkDelta::default(), None)
        };
        out.push(event(false, &usage));
    }
    out.push(Event {
        paced: false,
        bytes: "data: [DONE]\n\n".into(),
    });
    out
}

fn chunk_delta(delta: &Delta) -> ChunkDelta {
    match delta {
        Delta::Reasoning(s) => ChunkDelta {
            reasoning_content: Some(s.clone()),
            ..ChunkDelta::default()
        },
        Delta::Content(s) => ChunkDelta {
            content: Some(s.clone()),
            ..ChunkDelta::default()
        },
        Delta::ToolCallStart { id, name } => ChunkDelta {
            tool_calls: Some(vec![ToolCallDelta {
                index: 0,
                id: Some(id.clone()),
                kind: Some("function"),
                function: FunctionDelta {
                    name: Some(name.clone()),
                    arguments: Some(String::new()),
                },
            }]),
            ..ChunkDelta::default()
        },
        Delta::ToolCallArguments(s) => ChunkDelta {
            tool_calls: Some(vec![ToolCallDelta {
                index: 0,
                id: None,
                kind: None,
                function: FunctionDelta {
                    name: None,
                    arguments: Some(s.clone()),
                },
            }]),
            ..ChunkDelta::default()
        },
    }
}

/// The whole reply as one `chat.completion` object.
pub fn whole(reply: &Reply, ctx: Ctx<'_>) -> Value {
    let text = reply.text();
    let reasoning = reply.reasoning();
    let tool_calls = reply
        .tool_call()
        .map(|(id, name, arguments)| ToolCall {
            id,
            kind: "function",
            function: Function { name, arguments },
        })
        .into_iter()
        .collect::<Vec<_>>();
    let completion = Completion {
        id: ctx.id,
        object: "chat.completion",
        created: ctx.created,
        model: ctx.model,
        choices: vec![CompletionChoice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                tool_calls,
            },
            finish_reason: reply.finish_reason().as_str(),
        }],
        usage: reply.usage,
    };
    serde_json::to_value(completion).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_may_be_string_parts_or_null() {
        let req: ChatRequest = serde_json::from_str(
            r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},
                "messages":[
                  {"role":"system","content":"sys"},
                  {"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]},
                  {"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"bash","arguments":"{}"}}]},
                  {"role":"tool","content":"out","tool_call_id":"c"},
                  {"role":"function","content":"legacy"}],
                "tools":[{"type":"function"}]}"#,
        )
        .unwrap();
        assert!(req.stream && req.include_usage());
        assert_eq!(req.tools.len(), 1);
        let texts: Vec<String> = req.turns().into_iter().map(|t| t.text).collect();
        assert_eq!(texts, ["sys", "a\nb", "", "out", "legacy"]);
        assert_eq!(req.messages[4].role, Role::Other);
    }
}

//! The Gemini API wire format (`POST /v1beta/models/<model>:generateContent` and
//! `:streamGenerateContent?alt=sse`), as Gemini CLI calls it.
//!
//! Requests: `systemInstruction` and `contents` (role `user` or `model`) made of `parts`:
//! `text` (a `thought` flag marks thinking), `functionCall`, `functionResponse`. A content holding
//! a `functionResponse` is a tool result for the script. A reply is a `GenerateContentResponse`:
//! `candidates[0].content.parts`, `finishReason` and `usageMetadata` on the last one; a stream
//! sends one response per delta (a function call whole, in one part).

use serde_json::{Value, json};

use crate::script::{Reply, Role, Turn};
use crate::wire::{self, Block, Ctx, Event, Request};

/// Reads a `generateContent` body. Whether to stream comes from the URL, not the body.
pub fn parse(body: &Value) -> Result<Request, String> {
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .ok_or("invalid generateContent request: 'contents' must be an array")?;
    if contents.is_empty() {
        return Err("'contents' must not be empty".into());
    }
    let mut turns = Vec::with_capacity(contents.len() + 1);
    if let Some(system) = body.get("systemInstruction") {
        let text = match system.get("parts") {
            Some(parts) => parts_text(parts),
            None => wire::value_text(system),
        };
        turns.push(Turn::new(Role::System, text));
    }
    for content in contents {
        let parts = content.get("parts").unwrap_or(&Value::Null);
        let responses: Vec<String> = parts
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("functionResponse"))
            .map(|r| function_response_text(r.get("response").unwrap_or(&Value::Null)))
            .collect();
        if !responses.is_empty() {
            turns.push(Turn::new(Role::Tool, responses.join("\n")));
            continue;
        }
        let role = match content.get("role").and_then(Value::as_str) {
            Some("model") => Role::Assistant,
            _ => Role::User,
        };
        turns.push(Turn::new(role, parts_text(parts)));
    }
    let tools = body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| t["functionDeclarations"].as_array().map_or(1, Vec::len))
        .sum();
    Ok(Request {
        model: String::new(),
        stream: false,
        include_usage: false,
        tools,
        turns,
    })
}

/// The text parts of a content, thoughts and tagged context left out.
fn parts_text(parts: &Value) -> String {
    let texts: Vec<&str> = parts
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    wire::join_own_text(&texts)
}

/// A function response's text: its `output` (Gemini CLI's tools), else `error`, else the JSON.
fn function_response_text(response: &Value) -> String {
    for key in ["output", "error", "content"] {
        if let Some(v) = response.get(key) {
            return wire::value_text(v);
        }
    }
    wire::value_text(response)
}

/// A Google-style error body: `{"error":{"code":…,"message":…,"status":…}}`.
pub fn error_body(status: u16, message: &str) -> Value {
    let name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    json!({"error": {"code": status, "message": message, "status": name}})
}

fn usage_metadata(reply: &Reply) -> Value {
    json!({
        "promptTokenCount": reply.usage.prompt_tokens,
        "candidatesTokenCount": reply.usage.completion_tokens,
        "totalTokenCount": reply.usage.total_tokens,
    })
}

fn function_call(id: &str, name: &str, arguments: &str) -> Value {
    json!({"functionCall": {"id": id, "name": name, "args": wire::arguments_value(arguments)}})
}

/// One `GenerateContentResponse`; the last one of a reply has `finishReason` and usage.
fn response(reply: &Reply, ctx: Ctx<'_>, parts: &[Value], last: bool) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    let mut response = json!({"modelVersion": ctx.model, "responseId": ctx.id});
    if last {
        candidate["finishReason"] = json!("STOP");
        response["usageMetadata"] = usage_metadata(reply);
    }
    response["candidates"] = json!([candidate]);
    response
}

/// The parts of a stream, one per response: a thought or text piece each, a function call
/// whole.
fn stream_parts(reply: &Reply) -> Vec<Value> {
    let mut parts = Vec::new();
    for block in wire::blocks(reply) {
        match &block {
            Block::Thinking(p) => {
                parts.extend(p.iter().map(|s| json!({"text": s, "thought": true})));
            }
            Block::Text(p) => parts.extend(p.iter().map(|s| json!({"text": s}))),
            Block::ToolCall { id, name, .. } => {
                parts.push(function_call(id, name, &block.joined()));
            }
        }
    }
    parts
}

/// The streamed responses of a reply, as `data:` events (`alt=sse`).
pub fn events(reply: &Reply, ctx: Ctx<'_>) -> Vec<Event> {
    stream_responses(reply, ctx)
        .iter()
        .map(|r| Event::data(true, r))
        .collect()
}

/// The streamed responses of a reply (without `alt=sse` they are sent as one JSON array).
pub fn stream_responses(reply: &Reply, ctx: Ctx<'_>) -> Vec<Value> {
    let parts = stream_parts(reply);
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| response(reply, ctx, &[part], i + 1 == n))
        .collect()
}

/// The whole reply as one response: thoughts, text, and the function call, each in one part.
pub fn whole(reply: &Reply, ctx: Ctx<'_>) -> Value {
    let parts: Vec<Value> = wire::blocks(reply)
        .iter()
        .map(|block| match block {
            Block::Thinking(_) => json!({"text": block.joined(), "thought": true}),
            Block::Text(_) => json!({"text": block.joined()}),
            Block::ToolCall { id, name, .. } => function_call(id, name, &block.joined()),
        })
        .collect();
    response(reply, ctx, &parts, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_responses_and_system_become_turns() {
        let req = parse(&json!({
            "systemInstruction": {"role": "user", "parts": [{"text": "You are Gemini CLI"}]},
            "tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}]}],
            "contents": [
                {"role": "user", "parts": [{"text": "tool:run_shell_command {}"}]},
                {"role": "model", "parts": [{"text": "hm", "thought": true},
                                            {"functionCall": {"name": "run_shell_command", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "run_shell_command",
                                            "response": {"output": "hi\nthere"}}}]},
            ],
        }))
        .unwrap();
        assert_eq!(req.tools, 2);
        let roles: Vec<Role> = req.turns.iter().map(|t| t.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::Tool]
        );
        assert_eq!(req.turns[0].text, "You are Gemini CLI");
        assert_eq!(req.turns[2].text, "");
        assert_eq!(req.turns[3].text, "hi\nthere");
        assert!(parse(&json!({"contents": []})).is_err());
        assert!(parse(&json!({})).unwrap_err().contains("'contents'"));
    }

    #[test]
    fn errors_name_the_google_status() {
        let body = error_body(503, "x");
        assert_eq!(body["error"]["code"], 503);
        assert_eq!(body["error"]["status"], "UNAVAILABLE");
        assert_eq!(
            error_body(429, "x")["error"]["status"],
            "RESOURCE_EXHAUSTED"
        );
    }
}

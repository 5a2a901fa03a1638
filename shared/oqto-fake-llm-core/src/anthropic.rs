//! The Anthropic Messages wire format (`POST /v1/messages`), as Claude Code calls it.
//!
//! Requests: `system` (a string or text blocks), `messages` whose `content` is a string or
//! blocks (`text`, `thinking`, `tool_use`, `tool_result`), `stream`, `tools`. A user message
//! holding a `tool_result` block is a tool result for the script. Streamed replies are the
//! named events `message_start`, `content_block_start` / `content_block_delta` (`text_delta`,
//! `thinking_delta` then `signature_delta`, `input_json_delta`) / `content_block_stop`,
//! `message_delta` (stop reason and output tokens) and `message_stop`.

use serde_json::{Value, json};

use crate::script::{FinishReason, Reply, Role, Turn};
use crate::wire::{self, Block, Ctx, ErrorKind, Event, Request};

/// The signature sent with every thinking block (clients send it back; it is never checked).
const SIGNATURE: &str = "oqto-fake-llm";

/// Reads a `POST /v1/messages` body.
pub fn parse(body: &Value) -> Result<Request, String> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("invalid messages request: 'messages' must be an array")?;
    if messages.is_empty() {
        return Err("'messages' must not be empty".into());
    }
    let mut turns = Vec::with_capacity(messages.len() + 1);
    if let Some(system) = body.get("system") {
        turns.push(Turn::new(Role::System, wire::value_text(system)));
    }
    for (i, m) in messages.iter().enumerate() {
        let role = match m.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            other => {
                return Err(format!(
                    "messages[{i}].role must be \"user\" or \"assistant\", got {other:?}"
                ));
            }
        };
        turns.push(message_turn(role, m.get("content").unwrap_or(&Value::Null)));
    }
    Ok(Request {
        model: str_field(body, "model"),
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: false,
        tools: body
            .get("tools")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        turns,
    })
}

fn str_field(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A message as a turn: one holding `tool_result` blocks is a tool result with their text;
/// otherwise the text of its `text` blocks. Claude Code puts context into the user message as
/// extra text blocks wholly wrapped in a tag (`<system-reminder>…</system-reminder>`,
/// `<command-name>…`): those are left out, unless nothing else is left.
fn message_turn(role: Role, content: &Value) -> Turn {
    let Value::Array(blocks) = content else {
        return Turn::new(role, wire::value_text(content));
    };
    let results: Vec<String> = blocks
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| wire::value_text(b.get("content").unwrap_or(&Value::Null)))
        .collect();
    if !results.is_empty() {
        return Turn::new(Role::Tool, results.join("\n"));
    }
    let text: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    Turn::new(role, wire::join_own_text(&text))
}

/// `toolu_` instead of the script's `call_`.
fn tool_use_id(id: &str) -> String {
    format!("toolu_{}", id.strip_prefix("call_").unwrap_or(id))
}

fn stop_reason(reply: &Reply) -> &'static str {
    match reply.finish_reason() {
        FinishReason::Stop => "end_turn",
        FinishReason::ToolCalls => "tool_use",
    }
}

/// An Anthropic error body: `{"type":"error","error":{"type":…,"message":…}}`.
pub fn error_body(status: u16, kind: ErrorKind, message: &str) -> Value {
    let kind = match (kind, status) {
        (_, 404) => "not_found_error",
        (ErrorKind::Scripted, 401) => "authentication_error",
        (ErrorKind::Scripted, 403) => "permission_error",
        (ErrorKind::Scripted, 429) => "rate_limit_error",
        (ErrorKind::Scripted, 529) => "overloaded_error",
        (ErrorKind::Scripted, 500..) => "api_error",
        _ => "invalid_request_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// The streamed events of a reply.
pub fn events(reply: &Reply, ctx: Ctx<'_>) -> Vec<Event> {
    let mut out = Vec::new();
    let mut message = message(reply, ctx, &[], &Value::Null);
    message["usage"]["output_tokens"] = json!(0);
    out.push(Event::named(
        false,
        "message_start",
        &json!({"type": "message_start", "message": message}),
    ));
    for (index, block) in wire::blocks(reply).iter().enumerate() {
        let (start, pieces, delta): (Value, _, fn(&str) -> Value) = match block {
            Block::Thinking(p) => (
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                p,
                |s| json!({"type": "thinking_delta", "thinking": s}),
            ),
            Block::Text(p) => (
                json!({"type": "text", "text": ""}),
                p,
                |s| json!({"type": "text_delta", "text": s}),
            ),
            Block::ToolCall {
                id,
                name,
                arguments,
            } => (
                json!({"type": "tool_use", "id": tool_use_id(id), "name": name, "input": {}}),
                arguments,
                |s| json!({"type": "input_json_delta", "partial_json": s}),
            ),
        };
        out.push(Event::named(
            false,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        for piece in pieces {
            out.push(Event::named(
                true,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta(piece)}),
            ));
        }
        if matches!(block, Block::Thinking(_)) {
            out.push(Event::named(
                false,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "signature_delta", "signature": SIGNATURE}}),
            ));
        }
        out.push(Event::named(
            false,
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    out.push(Event::named(
        false,
        "message_delta",
        &json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason(reply), "stop_sequence": null},
                "usage": {"output_tokens": reply.usage.completion_tokens}}),
    ));
    out.push(Event::named(
        false,
        "message_stop",
        &json!({"type": "message_stop"}),
    ));
    out
}

/// The whole reply as one `message` object.
pub fn whole(reply: &Reply, ctx: Ctx<'_>) -> Value {
    let content: Vec<Value> = wire::blocks(reply)
        .iter()
        .map(|block| match block {
            Block::Thinking(_) => {
                json!({"type": "thinking", "thinking": block.joined(), "signature": SIGNATURE})
            }
            Block::Text(_) => json!({"type": "text", "text": block.joined()}),
            Block::ToolCall { id, name, .. } => json!({
                "type": "tool_use", "id": tool_use_id(id), "name": name,
                "input": wire::arguments_value(&block.joined()),
            }),
        })
        .collect();
    message(reply, ctx, &content, &json!(stop_reason(reply)))
}

fn message(reply: &Reply, ctx: Ctx<'_>, content: &[Value], stop_reason: &Value) -> Value {
    json!({
        "id": ctx.id,
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {
            "input_tokens": reply.usage.prompt_tokens,
            "output_tokens": reply.usage.completion_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_system_and_blocks_become_turns() {
        let req = parse(&json!({
            "model": "claude-x",
            "stream": true,
            "system": [{"type": "text", "text": "You are Claude Code"}],
            "tools": [{"name": "Bash"}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                    {"type": "text", "text": "tool:Bash {\"command\":\"echo hi\"}"}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1",
                     "content": [{"type": "text", "text": "hi\nmore"}]}]},
            ],
        }))
        .unwrap();
        assert!(req.stream);
        assert_eq!(req.model, "claude-x");
        assert_eq!(req.tools, 1);
        let roles: Vec<Role> = req.turns.iter().map(|t| t.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::Tool]
        );
        assert_eq!(req.turns[0].text, "You are Claude Code");
        assert_eq!(req.turns[1].text, "tool:Bash {\"command\":\"echo hi\"}");
        assert_eq!(req.turns[3].text, "hi\nmore");
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        assert!(parse(&json!({})).unwrap_err().contains("'messages'"));
        assert!(
            parse(&json!({"messages": []}))
                .unwrap_err()
                .contains("empty")
        );
        let err = parse(&json!({"messages": [{"role": "tool", "content": "x"}]})).unwrap_err();
        assert!(err.contains("messages[0].role"), "{err}");
    }

    #[test]
    fn scripted_errors_have_anthropic_types() {
        let body = error_body(529, ErrorKind::Scripted, "boom");
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "overloaded_error");
        assert_eq!(
            error_body(503, ErrorKind::Scripted, "x")["error"]["type"],
            "api_error"
        );
        assert_eq!(
            error_body(400, ErrorKind::Invalid, "x")["error"]["type"],
            "invalid_request_error"
        );
    }
}

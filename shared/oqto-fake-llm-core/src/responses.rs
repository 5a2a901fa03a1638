//! The `OpenAI` Responses wire format (`POST /v1/responses`), as Codex calls it.
//!
//! Requests: `instructions`, `input` (a string, or items: `message` with `input_text` /
//! `output_text` parts, `function_call`, `function_call_output`, `custom_tool_call_output`,
//! `reasoning`), `stream`, `tools`. A `*_output` item is a tool result for the script. A stream
//! is named events: `response.created`, `response.in_progress`, then per output item
//! `response.output_item.added`, its deltas (`response.reasoning_summary_text.delta`,
//! `response.output_text.delta` inside a content part, `response.function_call_arguments.delta`)
//! and `response.output_item.done`, and last `response.completed` with the usage. Every event
//! has a `sequence_number`.

use serde_json::{Value, json};

use crate::script::{Reply, Role, Turn};
use crate::wire::{self, Block, Ctx, Event, Request};

/// Reads a `POST /v1/responses` body.
pub fn parse(body: &Value) -> Result<Request, String> {
    let mut turns = Vec::new();
    if let Some(instructions) = body.get("instructions").and_then(Value::as_str) {
        turns.push(Turn::new(Role::System, instructions));
    }
    match body.get("input") {
        Some(Value::String(s)) => turns.push(Turn::new(Role::User, s.as_str())),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(turn) = item_turn(item).map_err(|e| format!("input[{i}]: {e}"))? {
                    turns.push(turn);
                }
            }
        }
        _ => return Err("invalid responses request: 'input' must be a string or an array".into()),
    }
    if turns.iter().all(|t| t.role == Role::System) {
        return Err("'input' must not be empty".into());
    }
    Ok(Request {
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: false,
        tools: body
            .get("tools")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        turns,
    })
}

/// An input item as a turn; reasoning and other items the script does not read give none.
fn item_turn(item: &Value) -> Result<Option<Turn>, String> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    Ok(match kind {
        "message" => {
            let role = match item.get("role").and_then(Value::as_str) {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("system") => Role::System,
                Some("developer") => Role::Developer,
                other => return Err(format!("unknown message role {other:?}")),
            };
            let text = wire::value_text(item.get("content").unwrap_or(&Value::Null));
            Some(Turn::new(role, text))
        }
        "function_call" | "custom_tool_call" | "local_shell_call" => {
            Some(Turn::new(Role::Assistant, ""))
        }
        k if k.ends_with("_output") => Some(Turn::new(
            Role::Tool,
            output_text(item.get("output").unwrap_or(&Value::Null)),
        )),
        _ => None,
    })
}

/// A tool output's text. Codex may send a JSON object as a string
/// (`{"output":"…","metadata":{…}}`): then its `output`.
fn output_text(output: &Value) -> String {
    let text = match output {
        Value::Object(o) => match o.get("content") {
            Some(c) => wire::value_text(c),
            None => wire::value_text(output),
        },
        other => wire::value_text(other),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(o)) => match o.get("output") {
            Some(Value::String(s)) => s.clone(),
            _ => text,
        },
        _ => text,
    }
}

fn usage(reply: &Reply) -> Value {
    json!({
        "input_tokens": reply.usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": reply.usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": reply.usage.total_tokens,
    })
}

/// The id of the `index`th output item of a response.
fn item_id(prefix: &str, ctx: Ctx<'_>, index: usize) -> String {
    let base = ctx.id.strip_prefix("resp_").unwrap_or(ctx.id);
    format!("{prefix}_{base}_{index}")
}

/// An output item, complete (`done`) or as first announced.
fn item(block: &Block, ctx: Ctx<'_>, index: usize, done: bool) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    match block {
        Block::Thinking(_) => {
            let summary = if done {
                json!([{"type": "summary_text", "text": block.joined()}])
            } else {
                json!([])
            };
            json!({"id": item_id("rs", ctx, index), "type": "reasoning", "summary": summary})
        }
        Block::Text(_) => {
            let content = if done {
                json!([{"type": "output_text", "text": block.joined(), "annotations": []}])
            } else {
                json!([])
            };
            json!({"id": item_id("msg", ctx, index), "type": "message", "status": status,
                   "role": "assistant", "content": content})
        }
        Block::ToolCall { id, name, .. } => json!({
            "id": item_id("fc", ctx, index), "type": "function_call", "status": status,
            "call_id": id, "name": name,
            "arguments": if done { block.joined() } else { String::new() },
        }),
    }
}

fn response(ctx: Ctx<'_>, status: &str, output: &[Value], usage: &Value) -> Value {
    json!({
        "id": ctx.id, "object": "response", "created_at": ctx.created, "status": status,
        "model": ctx.model, "output": output, "usage": usage,
    })
}

/// The streamed events of a reply.
#[allow(clippy::too_many_lines)] // one event sequence, written out in order
pub fn events(reply: &Reply, ctx: Ctx<'_>) -> Vec<Event> {
    let mut out = Vec::new();
    let mut push = |paced: bool, name: &str, mut data: Value| {
        data["type"] = json!(name);
        data["sequence_number"] = json!(out.len());
        out.push(Event::named(paced, name, &data));
    };
    push(
        false,
        "response.created",
        json!({"response": response(ctx, "in_progress", &[], &Value::Null)}),
    );
    push(
        false,
        "response.in_progress",
        json!({"response": response(ctx, "in_progress", &[], &Value::Null)}),
    );
    let blocks = wire::blocks(reply);
    let mut output = Vec::with_capacity(blocks.len());
    for (index, block) in blocks.iter().enumerate() {
        let id = item_id(
            match block {
                Block::Thinking(_) => "rs",
                Block::Text(_) => "msg",
                Block::ToolCall { .. } => "fc",
            },
            ctx,
            index,
        );
        let at = json!({"item_id": id, "output_index": index});
        let with = |extra: Value| {
            let mut v = at.clone();
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                v.extend(extra);
            }
            v
        };
        push(
            false,
            "response.output_item.added",
            json!({"output_index": index, "item": item(block, ctx, index, false)}),
        );
        match block {
            Block::Thinking(pieces) => {
                let part = json!({"type": "summary_text", "text": ""});
                push(
                    false,
                    "response.reasoning_summary_part.added",
                    with(json!({"summary_index": 0, "part": part})),
                );
                for piece in pieces {
                    push(
                        true,
                        "response.reasoning_summary_text.delta",
                        with(json!({"summary_index": 0, "delta": piece})),
                    );
                }
                push(
                    false,
                    "response.reasoning_summary_text.done",
                    with(json!({"summary_index": 0, "text": block.joined()})),
                );
                let part = json!({"type": "summary_text", "text": block.joined()});
                push(
                    false,
                    "response.reasoning_summary_part.done",
                    with(json!({"summary_index": 0, "part": part})),
                );
            }
            Block::Text(pieces) => {
                let part = json!({"type": "output_text", "text": "", "annotations": []});
                push(
                    false,
                    "response.content_part.added",
                    with(json!({"content_index": 0, "part": part})),
                );
                for piece in pieces {
                    push(
                        true,
                        "response.output_text.delta",
                        with(json!({"content_index": 0, "delta": piece})),
                    );
                }
                push(
                    false,
                    "response.output_text.done",
                    with(json!({"content_index": 0, "text": block.joined()})),
                );
                let part =
                    json!({"type": "output_text", "text": block.joined(), "annotations": []});
                push(
                    false,
                    "response.content_part.done",
                    with(json!({"content_index": 0, "part": part})),
                );
            }
            Block::ToolCall { arguments, .. } => {
                for piece in arguments {
                    push(
                        true,
                        "response.function_call_arguments.delta",
                        with(json!({"delta": piece})),
                    );
                }
                push(
                    false,
                    "response.function_call_arguments.done",
                    with(json!({"arguments": block.joined()})),
                );
            }
        }
        let done = item(block, ctx, index, true);
        push(
            false,
            "response.output_item.done",
            json!({"output_index": index, "item": done}),
        );
        output.push(done);
    }
    push(
        false,
        "response.completed",
        json!({"response": response(ctx, "completed", &output, &usage(reply))}),
    );
    out
}

/// The whole reply as one `response` object.
pub fn whole(reply: &Reply, ctx: Ctx<'_>) -> Value {
    let output: Vec<Value> = wire::blocks(reply)
        .iter()
        .enumerate()
        .map(|(i, b)| item(b, ctx, i, true))
        .collect();
    response(ctx, "completed", &output, &usage(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_become_turns() {
        let req = parse(&json!({
            "model": "oqto-demo",
            "instructions": "You are Codex",
            "stream": true,
            "tools": [{"type": "function", "name": "shell"}],
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "tool:shell {}"}]},
                {"type": "reasoning", "summary": []},
                {"type": "function_call", "name": "shell", "arguments": "{}", "call_id": "call_1"},
                {"type": "function_call_output", "call_id": "call_1",
                 "output": "{\"output\":\"hi\\n\",\"metadata\":{\"exit_code\":0}}"},
            ],
        }))
        .unwrap();
        assert!(req.stream);
        assert_eq!(req.tools, 1);
        let roles: Vec<Role> = req.turns.iter().map(|t| t.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::Developer,
                Role::User,
                Role::Assistant,
                Role::Tool
            ]
        );
        assert_eq!(req.turns[4].text, "hi\n");
        let plain = parse(&json!({"input": "hello"})).unwrap();
        assert_eq!(plain.turns, [Turn::new(Role::User, "hello")]);
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        assert!(parse(&json!({})).unwrap_err().contains("'input'"));
        assert!(parse(&json!({"input": []})).unwrap_err().contains("empty"));
        let err = parse(&json!({"input": [{"type": "message", "role": "robot"}]})).unwrap_err();
        assert!(err.contains("input[0]"), "{err}");
        let plain_output = parse(&json!({"input": [{"type": "function_call_output", "output": "Exit code: 0\nOutput:\nhi"}]}))
            .unwrap();
        assert_eq!(plain_output.turns[0].text, "Exit code: 0\nOutput:\nhi");
    }
}

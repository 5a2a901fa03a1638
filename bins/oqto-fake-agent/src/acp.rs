//! `--acp`: a tiny scripted Agent Client Protocol agent, for the runner's tests of broken
//! ACP agents (real agents do not crash, hang or write garbage on demand).
//!
//! It answers `initialize` (no optional capabilities) and `session/new`; a
//! `session/prompt`'s text is a script:
//!
//! | prompt | the agent |
//! |---|---|
//! | `crash` | sends one message chunk, then exits with status 3 |
//! | `hang` | sends one message chunk, then never answers |
//! | `garbage` | writes a line that is not JSON-RPC, then answers normally |
//! | `stray` | answers a request the client never sent (id 999), then answers normally |
//! | `ask` | asks `session/request_permission` (id `"p1"`) and replies with the outcome |
//! | anything else | `echo: TEXT` in one chunk, stop reason `end_turn` |

use std::io::{BufRead, Write};

use serde_json::{Value, json};

/// Serves on `input` / `output` until `input` ends. `Ok(Some(code))` for a scripted crash.
pub fn serve(input: impl BufRead, mut output: impl Write) -> anyhow::Result<Option<u8>> {
    let mut lines = input.lines();
    let send = |out: &mut dyn Write, value: Value| -> anyhow::Result<()> {
        writeln!(out, "{value}")?;
        out.flush()?;
        Ok(())
    };
    while let Some(line) = lines.next() {
        let line = line?;
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let id = msg["id"].clone();
        match msg["method"].as_str() {
            Some("initialize") => send(
                &mut output,
                json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": 1,
                    "agentCapabilities": {}, "agentInfo": {"name": "oqto-fake-acp", "version": "0.1.0"}}}),
            )?,
            Some("session/new") => send(
                &mut output,
                json!({"jsonrpc": "2.0", "id": id, "result": {"sessionId": "fake-acp-1"}}),
            )?,
            Some("session/prompt") => {
                let text = msg["params"]["prompt"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let chunk = |t: &str| {
                    json!({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": "fake-acp-1",
                        "update": {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": t}}}})
                };
                let reply = match text.as_str() {
                    "crash" => {
                        send(&mut output, chunk("partial"))?;
                        return Ok(Some(3));
                    }
                    "hang" => {
                        send(&mut output, chunk("partial"))?;
                        // Reads on, answers nothing.
                        for line in lines.by_ref() {
                            line?;
                        }
                        return Ok(None);
                    }
                    "garbage" => {
                        writeln!(output, "this is not json-rpc")?;
                        "echo: garbage".to_owned()
                    }
                    "stray" => {
                        send(
                            &mut output,
                            json!({"jsonrpc": "2.0", "id": 999, "result": {}}),
                        )?;
                        "echo: stray".to_owned()
                    }
                    "ask" => {
                        send(
                            &mut output,
                            json!({"jsonrpc": "2.0", "id": "p1", "method": "session/request_permission",
                                "params": {"sessionId": "fake-acp-1",
                                    "toolCall": {"toolCallId": "t1", "title": "touch x", "kind": "edit"},
                                    "options": [{"optionId": "yes", "name": "Allow", "kind": "allow_once"},
                                                {"optionId": "no", "name": "Reject", "kind": "reject_once"}]}}),
                        )?;
                        let answer = lines
                            .by_ref()
                            .map_while(Result::ok)
                            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
                            .find(|v| v["id"] == "p1")
                            .unwrap_or(Value::Null);
                        let outcome = &answer["result"]["outcome"];
                        match outcome["optionId"].as_str() {
                            Some(option) => format!("granted: {option}"),
                            None => format!("outcome: {}", outcome["outcome"]),
                        }
                    }
                    other => format!("echo: {other}"),
                };
                send(&mut output, chunk(&reply))?;
                send(
                    &mut output,
                    json!({"jsonrpc": "2.0", "id": id, "result": {"stopReason": "end_turn"}}),
                )?;
            }
            Some(method) if !id.is_null() => send(
                &mut output,
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("no {method}")}}),
            )?,
            _ => {}
        }
    }
    Ok(None)
}

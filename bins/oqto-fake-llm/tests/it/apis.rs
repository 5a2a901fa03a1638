//! The Anthropic Messages, Gemini and `OpenAI` Responses routes over real HTTP: each answers
//! the same script in its own shape, streamed and whole, with its own error bodies.

use oqto_fake_llm::Config;
use serde_json::{Value, json};

use crate::support::{Server, sse_data};

/// The `data:` payloads of a stream as JSON, with the `event:` names when there are any.
fn events(body: &str) -> Vec<(Option<String>, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = None;
            let mut data = None;
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(d).unwrap_or_else(|err| panic!("{d}: {err}")));
                }
            }
            (name, data.unwrap_or_else(|| panic!("no data in {e:?}")))
        })
        .collect()
}

fn anthropic(text: &str, stream: bool) -> Value {
    json!({
        "model": "claude-test", "max_tokens": 100, "stream": stream,
        "system": [{"type": "text", "text": "You are a test."}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>context</system-reminder>"},
            {"type": "text", "text": text}]}],
    })
}

#[test]
fn anthropic_messages_stream_text_thinking_and_tool_use() {
    let server = Server::start(Config::default());
    let res = server.post("/v1/messages", &anthropic("think hello", true).to_string());
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("text/event-stream"));
    let evs = events(&res.text());
    let names: Vec<&str> = evs.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    for (name, data) in &evs {
        assert_eq!(
            name.as_deref(),
            data["type"].as_str(),
            "event name = data type"
        );
    }
    let joined = |kind: &str, field: &str| -> String {
        evs.iter()
            .filter(|(_, d)| d["delta"]["type"] == kind)
            .filter_map(|(_, d)| d["delta"][field].as_str())
            .collect()
    };
    assert_eq!(
        joined("thinking_delta", "thinking"),
        "Thinking about: think hello"
    );
    assert_eq!(joined("text_delta", "text"), "echo: think hello");
    let delta = evs
        .iter()
        .find(|(n, _)| n.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "end_turn");
    assert!(delta.1["usage"]["output_tokens"].as_u64().unwrap() > 0);

    let res = server.post(
        "/v1/messages",
        &anthropic("tool:Bash {\"command\":\"ls\"}", true).to_string(),
    );
    let evs = events(&res.text());
    let start = evs
        .iter()
        .find(|(_, d)| d["content_block"]["type"] == "tool_use")
        .unwrap();
    assert_eq!(start.1["content_block"]["name"], "Bash");
    assert!(
        start.1["content_block"]["id"]
            .as_str()
            .unwrap()
            .starts_with("toolu_")
    );
    let args: String = evs
        .iter()
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"command": "ls"})
    );
    let delta = evs
        .iter()
        .find(|(n, _)| n.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    server.stop();
}

#[test]
fn anthropic_whole_message_tool_results_count_tokens_and_errors() {
    let server = Server::start(Config::default());
    let whole = server
        .post("/v1/messages", &anthropic("hello", false).to_string())
        .json();
    assert_eq!(whole["type"], "message");
    assert_eq!(
        whole["content"],
        json!([{"type": "text", "text": "echo: hello"}])
    );
    assert_eq!(whole["stop_reason"], "end_turn");

    let after_tool = json!({"model": "m", "max_tokens": 10, "messages": [
        {"role": "user", "content": "tool:Bash {\"command\":\"echo hi\"}"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "hi"}]}]});
    let whole = server.post("/v1/messages", &after_tool.to_string()).json();
    assert_eq!(whole["content"][0]["text"], "done: hi");

    let count = server.post(
        "/v1/messages/count_tokens",
        &anthropic("x", false).to_string(),
    );
    assert_eq!(count.status, 200);
    assert!(count.json()["input_tokens"].as_u64().unwrap() >= 1);

    let failed = server.post("/v1/messages", &anthropic("fail:529", true).to_string());
    assert_eq!(failed.status, 529);
    assert_eq!(failed.json()["error"]["type"], "overloaded_error");
    let bad = server.post("/v1/messages", r#"{"messages": "no"}"#);
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["type"], "error");
    assert_eq!(bad.json()["error"]["type"], "invalid_request_error");
    server.stop();
}

fn gemini(text: &str) -> String {
    json!({
        "systemInstruction": {"parts": [{"text": "You are a test."}]},
        "contents": [{"role": "user", "parts": [{"text": text}]}],
    })
    .to_string()
}

#[test]
fn gemini_streams_sse_or_a_json_array_and_answers_whole() {
    let server = Server::start(Config::default());
    let path = "/v1beta/models/oqto-demo:streamGenerateContent?alt=sse";
    let res = server.post(path, &gemini("think hello"));
    assert_eq!(res.status, 200);
    let chunks: Vec<Value> = sse_data(&res.text())
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let parts: Vec<&Value> = chunks
        .iter()
        .flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().unwrap())
        .collect();
    let thought: String = parts
        .iter()
        .filter(|p| p["thought"] == true)
        .filter_map(|p| p["text"].as_str())
        .collect();
    let text: String = parts
        .iter()
        .filter(|p| p["thought"] != true)
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(thought, "Thinking about: think hello");
    assert_eq!(text, "echo: think hello");
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(last["usageMetadata"]["totalTokenCount"].as_u64().unwrap() > 0);
    assert_eq!(last["modelVersion"], "oqto-demo");

    let array = server
        .post(
            "/v1beta/models/oqto-demo:streamGenerateContent",
            &gemini("hello"),
        )
        .json();
    assert!(array.as_array().unwrap().len() > 1);

    let whole = server
        .post(
            "/v1beta/models/gemini-x:generateContent",
            &gemini("tool:run_shell_command {\"command\":\"ls\"}"),
        )
        .json();
    let call = &whole["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "run_shell_command");
    assert_eq!(call["args"], json!({"command": "ls"}));

    let after = json!({"contents": [
        {"role": "user", "parts": [{"text": "tool:run_shell_command {}"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "run_shell_command", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "run_shell_command",
            "response": {"output": "<untrusted_context>\nOutput: hi\n</untrusted_context>"}}}]}]});
    let whole = server
        .post(
            "/v1beta/models/oqto-demo:generateContent",
            &after.to_string(),
        )
        .json();
    assert_eq!(
        whole["candidates"][0]["content"]["parts"][0]["text"],
        "done: hi"
    );

    let count = server
        .post("/v1beta/models/oqto-demo:countTokens", &gemini("x"))
        .json();
    assert!(count["totalTokens"].as_u64().unwrap() >= 1);
    let failed = server.post(path, &gemini("fail:503"));
    assert_eq!(failed.status, 503);
    assert_eq!(failed.json()["error"]["status"], "UNAVAILABLE");
    let unknown = server.post("/v1beta/models/oqto-demo:embedContent", &gemini("x"));
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("embedContent")
    );
    server.stop();
}

fn responses(input: &Value, stream: bool) -> String {
    json!({"model": "oqto-demo", "instructions": "You are a test.", "stream": stream, "input": input})
        .to_string()
}

#[test]
fn responses_stream_items_deltas_and_completed_usage() {
    let server = Server::start(Config::default());
    let input = json!([{"type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": "think hello"}]}]);
    let res = server.post("/v1/responses", &responses(&input, true));
    assert_eq!(res.status, 200);
    let evs = events(&res.text());
    let seq: Vec<u64> = evs
        .iter()
        .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seq,
        (0..evs.len() as u64).collect::<Vec<_>>(),
        "sequence numbers count up"
    );
    assert_eq!(evs[0].0.as_deref(), Some("response.created"));
    let text: String = evs
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("response.output_text.delta"))
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(text, "echo: think hello");
    let summary: String = evs
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("response.reasoning_summary_text.delta"))
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(summary, "Thinking about: think hello");
    let (name, done) = evs.last().unwrap();
    assert_eq!(name.as_deref(), Some("response.completed"));
    assert_eq!(done["response"]["status"], "completed");
    assert!(done["response"]["usage"]["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(done["response"]["output"].as_array().unwrap().len(), 2);

    let input = json!([{"role": "user", "content": "tool:exec_command {\"cmd\":\"echo hi\"}"}]);
    let evs = events(
        &server
            .post("/v1/responses", &responses(&input, true))
            .text(),
    );
    let added = evs
        .iter()
        .find(|(n, _)| n.as_deref() == Some("response.output_item.added"))
        .unwrap();
    assert_eq!(added.1["item"]["type"], "function_call");
    assert_eq!(added.1["item"]["name"], "exec_command");
    let args: String = evs
        .iter()
        .filter(|(n, _)| n.as_deref() == Some("response.function_call_arguments.delta"))
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(args, r#"{"cmd":"echo hi"}"#);
    server.stop();
}

#[test]
fn responses_whole_tool_output_and_errors() {
    let server = Server::start(Config::default());
    let input = json!([
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "tool:exec_command {}"}]},
        {"type": "function_call", "name": "exec_command", "arguments": "{}", "call_id": "call_1"},
        {"type": "function_call_output", "call_id": "call_1",
         "output": "Chunk ID: 1\nProcess exited with code 0\nOutput:\nhi\n"}]);
    let whole = server
        .post("/v1/responses", &responses(&input, false))
        .json();
    assert_eq!(whole["object"], "response");
    assert_eq!(whole["output"][0]["content"][0]["text"], "done: hi");
    let failed = server.post("/v1/responses", &responses(&json!("fail:500"), true));
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json()["error"]["type"], "server_error");
    let bad = server.post("/v1/responses", r#"{"input": 3}"#);
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'input'")
    );
    assert_eq!(server.stats()["scripted_failures"], 1);
    server.stop();
}

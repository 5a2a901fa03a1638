//! The HTTP API, with the server in-process.

use std::io::Read;
use std::time::Duration;

use oqto_fake_llm::Config;
use oqto_testkit::wait_until;
use serde_json::{Value, json};

use crate::support::{Server, Stream, send_request};

#[test]
fn models_are_listed_and_health_is_ok() {
    let server = Server::start(Config::default());
    let models = server.get("/v1/models");
    assert_eq!(models.status, 200);
    let list = models.json();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["oqto-demo", "oqto-demo-2", "oqto-demo-think"]);
    assert_eq!(list["data"][0]["object"], "model");
    assert_eq!(list["data"][0]["owned_by"], "oqto");

    let health = server.get("/health");
    assert_eq!((health.status, health.text().as_str()), (200, "ok"));

    let missing = server.get("/v1/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["type"], "invalid_request_error");
    server.stop();
}

#[test]
fn streaming_echo_has_role_deltas_finish_usage_and_done() {
    let server = Server::start(Config::default());
    let resp = server.chat("hello world", true);
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let stream = Stream::parse(&resp.text());
    assert!(stream.done, "ends with data: [DONE]");
    let first = &stream.chunks[0];
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(stream.joined("content"), "echo: hello world");
    assert!(stream.count("content") >= 3, "split over several deltas");
    assert_eq!(stream.finish_reasons(), ["stop"]);
    let ids: std::collections::HashSet<&str> = stream
        .chunks
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "every chunk carries the same id");

    let last = stream.chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]), "the usage chunk has no choices");
    let usage = stream.usage().expect("usage chunk");
    let (prompt, completion) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    );
    assert!(prompt >= 1 && completion >= 1);
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), prompt + completion);
    server.stop();
}

#[test]
fn streaming_without_include_usage_has_no_usage_chunk() {
    let server = Server::start(Config::default());
    let body = json!({
        "model": "oqto-demo", "stream": true,
        "messages": [{"role": "user", "content": "plain string content"}],
    });
    let resp = server.post("/v1/chat/completions", &body.to_string());
    let stream = Stream::parse(&resp.text());
    assert!(stream.done);
    assert_eq!(stream.joined("content"), "echo: plain string content");
    assert!(stream.usage().is_none());
    server.stop();
}

#[test]
fn non_streaming_reply_is_one_completion() {
    let server = Server::start(Config::default());
    let resp = server.chat("hello world", false);
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "oqto-demo");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hello world");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() >= 2);

    let tool = server.chat("tool:bash ls -l", false).json();
    let message = &tool["choices"][0]["message"];
    assert_eq!(tool["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["tool_calls"][0]["function"]["name"], "bash");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        r#"{"command":"ls -l"}"#
    );
    server.stop();
}

#[test]
fn tool_call_chunks_reassemble_to_valid_json_arguments() {
    let server = Server::start(Config::default());
    let resp = server.chat("please run tool:bash echo hi && cat hello.txt", true);
    let stream = Stream::parse(&resp.text());
    assert!(stream.done);
    let calls: Vec<&Value> = stream
        .chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    assert!(
        calls.len() >= 3,
        "name chunk plus several argument chunks: {calls:?}"
    );
    assert!(calls.iter().all(|c| c["index"] == 0));
    let id = calls[0]["id"].as_str().expect("first delta has the id");
    assert!(id.starts_with("call_") && id.len() == 17, "{id}");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "bash");
    assert!(calls[1..].iter().all(|c| c.get("id").is_none()));
    let args: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    let args: Value = serde_json::from_str(&args).expect("arguments are JSON");
    assert_eq!(args, json!({"command": "echo hi && cat hello.txt"}));
    assert_eq!(stream.finish_reasons(), ["tool_calls"]);
    assert_eq!(stream.joined("content"), "");

    let other = Stream::parse(&server.chat(r#"tool:read {"path":"a.txt"}"#, true).text());
    assert_eq!(other.finish_reasons(), ["tool_calls"]);
    server.stop();
}

#[test]
fn fail_returns_the_status_and_an_openai_error() {
    let server = Server::start(Config::default());
    for status in [503, 400, 429] {
        let resp = server.chat(&format!("fail:{status}"), true);
        assert_eq!(resp.status, status);
        assert_eq!(
            resp.json(),
            json!({"error": {
                "message": format!("oqto-fake-llm scripted failure {status}"),
                "type": "server_error",
            }})
        );
    }
    assert_eq!(server.stats()["scripted_failures"], 3);
    server.stop();
}

#[test]
fn flaky_fails_once_per_text_then_echoes() {
    let server = Server::start(Config::default());
    assert_eq!(server.chat("flaky:503 first", true).status, 503);
    let retry = server.chat("flaky:503 first", true);
    assert_eq!(retry.status, 200);
    assert_eq!(
        Stream::parse(&retry.text()).joined("content"),
        "echo: flaky:503 first"
    );
    assert_eq!(server.chat("flaky:503 first", false).status, 200);
    // Another text has its own first failure.
    assert_eq!(server.chat("flaky:503 second", false).status, 503);
    server.stop();
}

#[test]
fn think_streams_reasoning_before_the_text() {
    let server = Server::start(Config::default());
    let stream = Stream::parse(&server.chat("think about this", true).text());
    assert_eq!(
        stream.joined("reasoning_content"),
        "Thinking about: think about this"
    );
    assert!(stream.count("reasoning_content") > 1);
    assert_eq!(stream.joined("content"), "echo: think about this");
    let last_reasoning = stream
        .chunks
        .iter()
        .rposition(|c| c["choices"][0]["delta"]["reasoning_content"].is_string())
        .unwrap();
    let first_text = stream
        .chunks
        .iter()
        .position(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .unwrap();
    assert!(last_reasoning < first_text);

    let whole = server.chat("think twice", false).json();
    assert_eq!(
        whole["choices"][0]["message"]["reasoning_content"],
        "Thinking about: think twice"
    );
    server.stop();
}

#[test]
fn compaction_request_gets_a_summary() {
    let server = Server::start(Config::default());
    let body = json!({
        "model": "oqto-demo", "stream": false,
        "messages": [
            {"role": "system", "content": "You are a context summarization assistant. Summarise."},
            {"role": "user", "content": [{"type": "text", "text": "<conversation>[User]: tool:bash ls</conversation>"}]},
        ],
    });
    let v = server
        .post("/v1/chat/completions", &body.to_string())
        .json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "SUMMARY: 1 messages summarised by oqto-fake-llm."
    );
    server.stop();
}

#[test]
fn bad_requests_get_400_and_the_server_lives_on() {
    let server = Server::start(Config::default());
    let bad = server.post("/v1/chat/completions", "{this is not json");
    assert_eq!(bad.status, 400);
    let err = bad.json();
    assert_eq!(err["error"]["type"], "invalid_request_error");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let wrong_shape = server.post("/v1/chat/completions", r#"{"messages": "nope"}"#);
    assert_eq!(wrong_shape.status, 400);
    let empty = server.post(
        "/v1/chat/completions",
        r#"{"model": "oqto-demo", "messages": []}"#,
    );
    assert_eq!(empty.status, 400);

    let ok = server.chat("still here", false);
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.json()["choices"][0]["message"]["content"],
        "echo: still here"
    );
    server.stop();
}

#[test]
fn unknown_model_is_still_answered() {
    let server = Server::start(Config::default());
    let body = json!({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]});
    let v = server
        .post("/v1/chat/completions", &body.to_string())
        .json();
    assert_eq!(v["model"], "gpt-9");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hi");
    server.stop();
}

#[test]
fn slow_stream_stops_when_the_client_disconnects() {
    let server = Server::start(Config {
        slow_delay: Duration::from_millis(50),
        ..Config::default()
    });
    // 400 words at 50 ms would take 20 s; the test only waits for the first few.
    let body = json!({
        "model": "oqto-demo", "stream": true,
        "messages": [{"role": "user", "content": "slow:400"}],
    });
    let mut conn = send_request(
        server.addr,
        "POST",
        "/v1/chat/completions",
        Some(body.to_string().as_bytes()),
    );
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("word2") {
        let n = conn.read(&mut buf).expect("read the stream");
        assert!(
            n > 0,
            "stream ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert_eq!(server.stats()["active_streams"], 1);
    drop(conn);

    assert!(
        wait_until(Duration::from_secs(5), || {
            let s = server.stats();
            s["active_streams"] == 0 && s["cancelled_streams"] == 1
        }),
        "the stream was not dropped: {}",
        server.stats()
    );
    assert_eq!(server.stats()["completed_streams"], 0);
    assert_eq!(server.get("/health").status, 200);
    let after = server.chat("after the abort", true);
    assert_eq!(
        Stream::parse(&after.text()).joined("content"),
        "echo: after the abort"
    );
    assert_eq!(server.stats()["completed_streams"], 1);
    server.stop();
}

#[test]
fn slow_words_arrive_with_the_configured_pause() {
    let server = Server::start(Config {
        slow_delay: Duration::from_millis(1),
        ..Config::default()
    });
    let stream = Stream::parse(&server.chat("slow:5", true).text());
    assert_eq!(stream.joined("content"), "word1 word2 word3 word4 word5");
    assert_eq!(stream.count("content"), 5);
    server.stop();
}

#[test]
fn request_log_holds_one_json_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let server = Server::start(Config {
        request_log: Some(log.clone()),
        ..Config::default()
    });
    // Pretty-printed bodies are logged as one line each.
    let pretty = serde_json::to_string_pretty(&json!({
        "model": "oqto-demo", "messages": [{"role": "user", "content": "first"}],
    }))
    .unwrap();
    assert_eq!(server.post("/v1/chat/completions", &pretty).status, 200);
    server.chat("second", true);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["messages"][0]["content"], "first");
    assert_eq!(lines[1]["messages"][1]["content"][0]["text"], "second");
    server.stop();
}

#[test]
fn shutdown_completes_while_a_stream_is_open() {
    let server = Server::start(Config {
        slow_delay: Duration::from_millis(200),
        ..Config::default()
    });
    let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "slow:1000"}]});
    let mut conn = send_request(
        server.addr,
        "POST",
        "/v1/chat/completions",
        Some(body.to_string().as_bytes()),
    );
    let mut buf = [0u8; 1024];
    assert!(conn.read(&mut buf).unwrap() > 0);
    // The stream would run for 200 s; `stop` fails unless serve returns within DEADLINE,
    // which the shutdown grace period makes it do.
    server.stop();
}

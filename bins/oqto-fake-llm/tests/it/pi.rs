//! The real `pi` coding agent in RPC mode, driven against the fake LLM.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use oqto_fake_llm::Config;
use oqto_ipc::spawn::{Spawn, terminate_blocking};
use oqto_testkit::{JsonLinesChild, TestEnv, pi_bin, summarize, wait_until};
use serde_json::{Value, json};

use crate::support::{DEADLINE, Server};

const HELLO: &str = "hello from the project dir\n";

/// A running `pi --mode rpc`: JSON lines in on stdin, out on stdout (read by a thread).
struct Pi {
    io: JsonLinesChild,
}

impl Pi {
    fn spawn(env: &TestEnv, agent_dir: &Path, project: &Path) -> Self {
        let child = Spawn::new(pi_bin())
            .args(["--mode", "rpc", "--no-session", "--offline"])
            .args(["-ne", "-ns", "-np", "-nc"])
            .envs(env.vars())
            .env("PI_CODING_AGENT_DIR", agent_dir)
            .env("PI_OFFLINE", "1")
            .current_dir(project)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pi");
        Self {
            io: JsonLinesChild::attach(child, "pi"),
        }
    }

    fn send(&mut self, command: &Value) {
        self.io.send(command);
    }

    /// Reads lines until `done` matches one (included), failing after the deadline.
    fn read_until(&self, what: &str, done: impl FnMut(&Value) -> bool) -> Vec<Value> {
        self.io.read_until(what, DEADLINE, done)
    }

    /// Sends a prompt and collects its run: lines until `agent_end`. Checks that the prompt
    /// was accepted.
    fn prompt(&mut self, id: &str, message: &str) -> Vec<Value> {
        self.send(&json!({"id": id, "type": "prompt", "message": message}));
        let events = self.read_until("agent_end", |v| v["type"] == "agent_end");
        assert_accepted(&events, id);
        events
    }
}

fn assert_accepted(events: &[Value], id: &str) {
    let response = events
        .iter()
        .find(|v| v["type"] == "response" && v["id"] == id)
        .unwrap_or_else(|| panic!("no response to {id}:\n{}", summarize(events)));
    assert_eq!(response["success"], true, "{response}");
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|v| v["type"] == kind).collect()
}

/// The concatenated `text_delta` deltas of a run.
fn text_deltas(events: &[Value]) -> String {
    events
        .iter()
        .filter(|v| v["type"] == "message_update")
        .filter(|v| v["assistantMessageEvent"]["type"] == "text_delta")
        .filter_map(|v| v["assistantMessageEvent"]["delta"].as_str())
        .collect()
}

/// The assistant messages of a run, from `message_end`.
fn assistant_ends(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|v| v["type"] == "message_end" && v["message"]["role"] == "assistant")
        .map(|v| &v["message"])
        .collect()
}

/// The text blocks of a message's content, joined.
fn message_text(message: &Value) -> String {
    message["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect()
}

#[test]
#[allow(clippy::too_many_lines)] // one conversation, asserted step by step
fn real_pi_text_tool_retry_think_abort_and_compact_turns() {
    let started = Instant::now();
    let env = TestEnv::new();
    let request_log = env.root().join("llm-requests.jsonl");
    let server = Server::start(Config {
        request_log: Some(request_log.clone()),
        ..Config::default()
    });

    let agent_dir = env.root().join("pi-agent");
    oqto_fake_llm::write_pi_agent_dir(&agent_dir, &server.base_url()).unwrap();
    let project = env.work().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("hello.txt"), HELLO).unwrap();

    let mut pi = Pi::spawn(&env, &agent_dir, &project);

    // Handshake: pi has no ready message; get_state is answered once it is up.
    pi.send(&json!({"id": "state-1", "type": "get_state"}));
    let state = pi.read_until("get_state response", |v| v["id"] == "state-1");
    let state = state.last().unwrap();
    assert_eq!(state["success"], true, "{state}");
    assert_eq!(state["data"]["model"]["id"], "oqto-demo", "{state}");
    assert_eq!(state["data"]["model"]["provider"], "demo", "{state}");
    assert_eq!(state["data"]["isStreaming"], false);

    // Text turn.
    let run = pi.prompt("prompt-1", "hello world");
    assert_eq!(text_deltas(&run), "echo: hello world");
    let replies = assistant_ends(&run);
    assert_eq!(replies.len(), 1, "{}", summarize(&run));
    assert_eq!(message_text(replies[0]), "echo: hello world");
    assert_eq!(replies[0]["stopReason"], "stop");
    assert_eq!(replies[0]["model"], "oqto-demo");
    assert!(
        replies[0]["usage"]["output"].as_u64().unwrap() >= 1,
        "usage reached pi"
    );

    // Tool turn: a bash call in the project dir, then the closing text.
    let run = pi.prompt(
        "prompt-2",
        "please run tool:bash echo hi-from-bash && cat hello.txt",
    );
    let starts = of_type(&run, "tool_execution_start");
    assert_eq!(starts.len(), 1, "{}", summarize(&run));
    assert_eq!(starts[0]["toolName"], "bash");
    assert_eq!(
        starts[0]["args"]["command"],
        "echo hi-from-bash && cat hello.txt"
    );
    let ends = of_type(&run, "tool_execution_end");
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0]["isError"], false, "{}", ends[0]);
    assert_eq!(ends[0]["toolCallId"], starts[0]["toolCallId"]);
    let output = message_text(&ends[0]["result"]);
    assert!(output.contains("hi-from-bash"), "{output:?}");
    assert!(output.contains(HELLO.trim()), "{output:?}");
    let replies = assistant_ends(&run);
    assert_eq!(replies.len(), 2, "{}", summarize(&run));
    assert_eq!(replies[0]["stopReason"], "toolUse");
    assert_eq!(replies[0]["content"][0]["type"], "toolCall");
    assert_eq!(replies[1]["stopReason"], "stop");
    assert_eq!(message_text(replies[1]), "done: hi-from-bash");

    // What pi sent: the tool list, the assistant tool call, and the tool result message.
    let requests: Vec<Value> = std::fs::read_to_string(&request_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(requests.len(), 3, "one request per LLM call");
    for r in &requests {
        assert_eq!(r["model"], "oqto-demo");
        assert_eq!(r["stream"], true);
        assert_eq!(r["stream_options"]["include_usage"], true);
    }
    let tool_names: Vec<&str> = requests[1]["tools"]
        .as_array()
        .expect("pi sends its tools")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(tool_names.contains(&"bash"), "{tool_names:?}");
    let last = requests[2]["messages"].as_array().unwrap();
    let tool_msg = last.last().unwrap();
    assert_eq!(tool_msg["role"], "tool", "{tool_msg}");
    assert_eq!(tool_msg["tool_call_id"], starts[0]["toolCallId"]);
    assert!(
        tool_msg["content"]
            .as_str()
            .unwrap()
            .starts_with("hi-from-bash\n")
    );
    let call = &last[last.len() - 2];
    assert_eq!(call["role"], "assistant");
    assert_eq!(call["tool_calls"][0]["function"]["name"], "bash");

    // Retry turn: the first call fails with 503, pi retries after its backoff and succeeds.
    // `agent_end` comes once for the failed attempt and once for the good one.
    pi.send(&json!({"id": "prompt-3", "type": "prompt", "message": "flaky:503 try again"}));
    let mut retry_ended = false;
    let run = pi.read_until("agent_end after the retry", |v| {
        if v["type"] == "auto_retry_end" {
            retry_ended = true;
        }
        retry_ended && v["type"] == "agent_end"
    });
    assert_accepted(&run, "prompt-3");
    let retry_start = of_type(&run, "auto_retry_start");
    assert_eq!(retry_start.len(), 1, "{}", summarize(&run));
    assert!(
        retry_start[0]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("503 oqto-fake-llm scripted failure 503"),
        "{}",
        retry_start[0]
    );
    assert_eq!(of_type(&run, "auto_retry_end")[0]["success"], true);
    let replies = assistant_ends(&run);
    assert_eq!(replies.first().unwrap()["stopReason"], "error");
    assert_eq!(replies.last().unwrap()["stopReason"], "stop");
    assert_eq!(
        message_text(replies.last().unwrap()),
        "echo: flaky:503 try again"
    );

    // Thinking: reasoning_content deltas become thinking_delta events, before the text.
    let run = pi.prompt("prompt-4", "think about this");
    let thinking: String = run
        .iter()
        .filter(|v| v["assistantMessageEvent"]["type"] == "thinking_delta")
        .filter_map(|v| v["assistantMessageEvent"]["delta"].as_str())
        .collect();
    assert_eq!(thinking, "Thinking about: think about this");
    assert_eq!(text_deltas(&run), "echo: think about this");

    // Abort mid-stream: pi drops the HTTP connection and the server notices.
    let cancelled_before = server.stats()["cancelled_streams"].as_u64().unwrap();
    pi.send(&json!({"id": "prompt-5", "type": "prompt", "message": "slow"}));
    pi.read_until("the first slow word", |v| {
        v["assistantMessageEvent"]["type"] == "text_delta"
    });
    pi.send(&json!({"id": "abort-1", "type": "abort"}));
    let run = pi.read_until("the abort response", |v| v["id"] == "abort-1");
    assert_eq!(run.last().unwrap()["success"], true);
    let aborted = assistant_ends(&run);
    assert_eq!(aborted.len(), 1, "{}", summarize(&run));
    assert_eq!(aborted[0]["stopReason"], "aborted");
    assert!(message_text(aborted[0]).starts_with("word1"));
    assert!(
        wait_until(DEADLINE, || {
            let s = server.stats();
            s["cancelled_streams"].as_u64().unwrap() == cancelled_before + 1
                && s["active_streams"] == 0
        }),
        "the server saw the stream dropped: {}",
        server.stats()
    );

    // Manual compaction: pi's summarisation request gets the scripted summary.
    pi.send(&json!({"id": "compact-1", "type": "compact"}));
    let run = pi.read_until("the compact response", |v| v["id"] == "compact-1");
    let response = run.last().unwrap();
    assert_eq!(response["success"], true, "{response}");
    let summary = response["data"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("SUMMARY: ") && summary.ends_with("summarised by oqto-fake-llm."),
        "{summary}"
    );

    // Stop pi the way the runner will: SIGTERM to its group, then SIGKILL after the grace.
    let status =
        terminate_blocking(&mut pi.io.child, Duration::from_secs(5)).expect("terminate pi");
    assert!(
        status.code() == Some(143)
            || std::os::unix::process::ExitStatusExt::signal(&status) == Some(15),
        "pi exits on SIGTERM (143), got {status:?}"
    );
    server.stop();
    eprintln!("real pi end to end took {:?}", started.elapsed());
}

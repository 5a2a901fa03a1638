//! Claude Code, Gemini CLI and Codex, each driven over its Agent Client Protocol (JSON-RPC 2.0
//! on stdio) against the fake LLM: `initialize`, `session/new` in a temporary project,
//! a text turn (`hello` comes back as `echo: hello`) and a tool turn (the agent's own shell
//! tool, allowed when it asks, then `done: hi`). Each agent runs in a private home written by
//! `write_agent_home`, so the user's own configuration is never read or touched.
//!
//! The agents come from the project-local prefix `.local/agents` that `scripts/setup` installs
//! (or `OQTO_AGENTS_PREFIX`). A test whose agent is not installed says so and passes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use oqto_fake_llm::Config;
use oqto_fake_llm::agents::{Agent, write_agent_home};
use oqto_ipc::spawn::{Spawn, terminate_blocking};
use oqto_testkit::{JsonLinesChild, TestEnv, summarize, workspace_root};
use serde_json::{Value, json};

use crate::support::Server;

/// Agents start node and load large bundles; a turn also waits for the agent's own startup work.
const AGENT_DEADLINE: Duration = Duration::from_secs(120);

/// The installed ACP program of `agent`, or `None` (after saying so) when it is not installed.
fn installed(agent: Agent) -> Option<PathBuf> {
    let prefix = std::env::var_os("OQTO_AGENTS_PREFIX")
        .map_or_else(|| workspace_root().join(".local/agents"), PathBuf::from);
    let bin = prefix.join("bin").join(agent.acp_command().0);
    if bin.exists() {
        Some(bin)
    } else {
        eprintln!(
            "SKIPPED: {} is not installed at {} (scripts/setup installs it)",
            agent.name(),
            bin.display()
        );
        None
    }
}

/// A running ACP agent and a minimal JSON-RPC client for it.
struct AcpAgent {
    io: JsonLinesChild,
    next_id: u64,
    /// The `session/request_permission` requests answered so far.
    permissions: Vec<Value>,
}

/// What a request brought: the notifications before the response, and the response's result.
struct Answer {
    notifications: Vec<Value>,
    result: Value,
}

impl AcpAgent {
    fn spawn(
        env: &TestEnv,
        bin: &Path,
        args: &[&str],
        vars: &[(String, String)],
        cwd: &Path,
    ) -> Self {
        let child = Spawn::new(bin)
            .args(args)
            .envs(env.vars())
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        Self {
            io: JsonLinesChild::attach(child, &bin.display().to_string()),
            next_id: 1,
            permissions: Vec::new(),
        }
    }

    /// Sends a request and reads until its response, answering the agent's permission requests
    /// with the first `allow_once` (else `allow_always`) option. Fails on a JSON-RPC error.
    fn request(&mut self, method: &str, params: &Value) -> Answer {
        let id = self.next_id;
        self.next_id += 1;
        self.io
            .send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut notifications = Vec::new();
        loop {
            let lines = self.io.read_until(method, AGENT_DEADLINE, |v| {
                v.get("method").is_some() && v.get("id").is_some() || v["id"] == id
            });
            let (last, before) = lines.split_last().expect("read_until returns the match");
            notifications.extend(before.iter().cloned());
            if last.get("method").is_none() {
                assert!(
                    last.get("error").is_none(),
                    "{method} failed: {last}\nstderr:\n{}",
                    self.io.stderr()
                );
                return Answer {
                    notifications,
                    result: last["result"].clone(),
                };
            }
            self.answer_agent_request(last);
        }
    }

    fn answer_agent_request(&mut self, req: &Value) {
        // Agents number their own requests; opencode, Claude Code and Gemini CLI start at 0.
        let id = req["id"].clone();
        if req["method"] == "session/request_permission" {
            let options = req["params"]["options"].as_array().expect("options");
            let pick = |kind: &str| options.iter().find(|o| o["kind"] == kind);
            let option = pick("allow_once")
                .or_else(|| pick("allow_always"))
                .unwrap_or_else(|| panic!("no allow option in {req}"));
            self.io.send(&json!({"jsonrpc": "2.0", "id": id, "result":
                {"outcome": {"outcome": "selected", "optionId": option["optionId"]}}}));
            self.permissions.push(req.clone());
        } else {
            // We advertise no fs or terminal capability: nothing else may be asked.
            self.io.send(&json!({"jsonrpc": "2.0", "id": id, "error":
                {"code": -32601, "message": "method not found"}}));
            panic!("the agent called a client method we did not advertise: {req}");
        }
    }

    fn stop(mut self) {
        terminate_blocking(&mut self.io.child, Duration::from_secs(5))
            .expect("terminate the agent");
    }
}

/// The `session/update` payloads of one kind.
fn updates<'a>(notes: &'a [Value], kind: &str) -> Vec<&'a Value> {
    notes
        .iter()
        .filter(|n| n["method"] == "session/update")
        .map(|n| &n["params"]["update"])
        .filter(|u| u["sessionUpdate"] == kind)
        .collect()
}

/// The agent's message text of a turn: its `agent_message_chunk` texts joined.
fn message_text(notes: &[Value]) -> String {
    updates(notes, "agent_message_chunk")
        .iter()
        .filter_map(|u| u["content"]["text"].as_str())
        .collect()
}

/// A text turn and a tool turn of `agent`, whose shell tool is called by `tool_prompt`;
/// `api_field` is a field only that agent's API requests have (where it must have called).
fn text_and_tool_turn(agent: Agent, tool_prompt: &str, api_field: &str) {
    let Some(bin) = installed(agent) else { return };
    let env = TestEnv::new();
    let request_log = env.root().join("llm-requests.jsonl");
    let server = Server::start(Config {
        request_log: Some(request_log.clone()),
        ..Config::default()
    });
    let vars = write_agent_home(agent, &env.root().join("agent-home"), &server.base_url())
        .expect("write the agent's private home");
    let project = env.work().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let mut acp = AcpAgent::spawn(&env, &bin, agent.acp_command().1, &vars, &project);

    let init = acp.request(
        "initialize",
        &json!({"protocolVersion": 1, "clientCapabilities":
            {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false}}),
    );
    assert_eq!(init.result["protocolVersion"], 1, "{}", init.result);
    let session = acp.request("session/new", &json!({"cwd": project, "mcpServers": []}));
    let session_id = session.result["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no sessionId in {}", session.result))
        .to_owned();
    let prompt =
        |text: &str| json!({"sessionId": session_id, "prompt": [{"type": "text", "text": text}]});

    // Text turn.
    let turn = acp.request("session/prompt", &prompt("hello"));
    assert_eq!(turn.result["stopReason"], "end_turn", "{}", turn.result);
    let text = message_text(&turn.notifications);
    assert!(
        text.contains("echo: hello"),
        "{}: {text:?}\n{}",
        agent.name(),
        summarize(&turn.notifications)
    );

    // Tool turn: the agent's shell tool writes a file, asks first, and the reply quotes it.
    let turn = acp.request("session/prompt", &prompt(tool_prompt));
    assert_eq!(turn.result["stopReason"], "end_turn", "{}", turn.result);
    let calls = updates(&turn.notifications, "tool_call").len()
        + updates(&turn.notifications, "tool_call_update").len();
    assert!(
        calls > 0,
        "no tool_call updates:\n{}",
        summarize(&turn.notifications)
    );
    let completed = updates(&turn.notifications, "tool_call_update")
        .iter()
        .any(|u| u["status"] == "completed");
    assert!(
        completed,
        "no completed tool call:\n{}",
        summarize(&turn.notifications)
    );
    assert_eq!(
        acp.permissions.len(),
        1,
        "one permission asked: {:?}",
        acp.permissions
    );
    let asked = &acp.permissions[0]["params"];
    assert_eq!(asked["sessionId"], session_id.as_str());
    assert_eq!(
        std::fs::read_to_string(project.join("out.txt")).expect("the tool wrote out.txt"),
        "hi\n"
    );
    let text = message_text(&turn.notifications);
    assert!(text.contains("done: hi"), "{}: {text:?}", agent.name());
    acp.stop();

    // Every model request went to the fake LLM, in this agent's API.
    let log = std::fs::read_to_string(&request_log).unwrap();
    let requests: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        requests.len() >= 3,
        "text, tool call and tool result: {}",
        requests.len()
    );
    for r in &requests {
        assert!(
            r.get(api_field).is_some(),
            "{} sent a request without {api_field}",
            agent.name()
        );
    }
    server.stop();
}

#[test]
fn claude_code_text_and_tool_turn_over_acp() {
    text_and_tool_turn(
        Agent::Claude,
        r#"tool:Bash {"command": "echo hi | tee out.txt"}"#,
        "messages",
    );
}

#[test]
fn gemini_cli_text_and_tool_turn_over_acp() {
    text_and_tool_turn(
        Agent::Gemini,
        r#"tool:run_shell_command {"command": "echo hi | tee out.txt"}"#,
        "contents",
    );
}

#[test]
fn codex_text_and_tool_turn_over_acp() {
    text_and_tool_turn(
        Agent::Codex,
        r#"tool:exec_command {"cmd": "echo hi | tee out.txt"}"#,
        "input",
    );
}

//! Claude Code, Gemini CLI and Codex as the built-in `claude`, `gemini` and `codex` ACP
//! harnesses, through `oqtoctl prompt`, the real runner and the real sandbox, against the fake
//! LLM: a text turn, a tool turn whose permission request `--approve all` answers, the events
//! without gaps, the permission and the tool call in `oqtoctl audit`, and both turns found by
//! `history search`.
//!
//! The runner finds each agent in the project-local prefix `.local/agents` that `scripts/setup`
//! installs (no `command` in runner.toml); runner.toml only gives it the fake LLM's variables,
//! with its private home under `$XDG_CACHE_HOME` (writable under the development profile). A
//! test whose agent is not installed says so and passes.

use oqto_fake_llm_core::agents::{Agent, write_agent_home};
use oqto_fake_llm_core::{Background, Config};
use oqto_testkit::workspace_root;
use serde_json::Value;

use crate::support::{Ctl, describe, sibling};

/// A `Ctl` whose runner.toml gives the built-in harness of `agent` the fake LLM at `base_url`,
/// or `None` (after saying so) when the agent is not installed.
fn ctl_for(agent: Agent, base_url: &str) -> Option<Ctl> {
    let program = agent.acp_command().0;
    let installed = workspace_root().join(".local/agents/bin").join(program);
    if !installed.exists() {
        eprintln!(
            "SKIPPED: {program} is not installed at {} (scripts/setup installs it)",
            installed.display()
        );
        return None;
    }
    let ctl = Ctl::new();
    let home = ctl.env.root().join("cache/agents").join(agent.name());
    let vars = write_agent_home(agent, &home, base_url).expect("write the agent's home");
    let quote = |s: &str| Value::from(s).to_string();
    let table: Vec<String> = vars
        .iter()
        .map(|(k, v)| format!("{k} = {}", quote(v)))
        .collect();
    ctl.env.write(
        "config/oqto/runner.toml",
        format!(
            "[runner]\ndefault_harness = \"fake\"\n[harness.fake]\ncommand = {}\n\
             [harness.{}]\nenv = {{ {} }}\n",
            quote(&sibling("oqto-fake-agent").display().to_string()),
            agent.name(),
            table.join(", ")
        ),
    );
    Some(ctl)
}

fn events(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn text_and_tool_turn(agent: Agent, tool_prompt: &str) {
    let llm = Background::start(Config::default()).expect("start the fake LLM");
    let Some(ctl) = ctl_for(agent, &llm.base_url()) else {
        return;
    };
    let name = agent.name();
    let project = ctl.env.work();

    // Text turn.
    let greeting = format!("hello from {name}");
    let out = ctl.run(&["prompt", "--harness", name, "-o", "text", &greeting]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("echo: {greeting}")),
        "{}",
        describe(&out)
    );

    // Tool turn, in events mode.
    let out = ctl.run(&["prompt", "--harness", name, "--approve", "all", tool_prompt]);
    assert!(out.status.success(), "{}", describe(&out));
    let evs = events(&out.stdout);
    let seqs: Vec<u64> = evs.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs.len(), evs.len(), "every event has a seq");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "events without gaps: {seqs:?}"
    );
    let of = |kind: &str| evs.iter().filter(|e| e["type"] == kind).count();
    assert_eq!(of("permission.request"), 1, "{}", describe(&out));
    let resolved = evs
        .iter()
        .find(|e| e["type"] == "permission.resolved")
        .unwrap();
    assert_eq!(resolved["answered"]["by"], "user", "{resolved}");
    assert!(of("tool.start") + of("tool.end") > 0, "{}", describe(&out));
    let tool_end = evs.iter().find(|e| e["type"] == "tool.end").unwrap();
    assert_eq!(tool_end["part"]["status"], "done", "{tool_end}");
    let last_text = evs
        .iter()
        .filter(|e| e["type"] == "part.end" && e["part"]["type"] == "text")
        .filter_map(|e| e["part"]["text"].as_str())
        .next_back()
        .unwrap_or_default();
    assert!(
        last_text.contains("done: hi"),
        "{last_text:?}\n{}",
        describe(&out)
    );
    assert_eq!(evs.last().unwrap()["state"], "idle");
    assert_eq!(
        std::fs::read_to_string(project.join("out.txt")).expect("the tool wrote out.txt"),
        "hi\n"
    );

    // The audit log has the permission, who answered it, and the tool call's start and end.
    let session = evs[0]["session"].as_str().expect("session id").to_owned();
    let out = ctl.run(&["audit", "--json", "--session", &session]);
    assert!(out.status.success(), "{}", describe(&out));
    let audit = events(&out.stdout);
    let kinds: Vec<&str> = audit.iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in [
        "permission.request",
        "permission.resolved",
        "tool.start",
        "tool.end",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing: {}", describe(&out));
    }
    let answered = audit
        .iter()
        .find(|e| e["kind"] == "permission.resolved")
        .unwrap();
    assert_eq!(answered["answered"]["by"], "user", "{answered}");

    // Both turns are stored and found, as this harness's.
    for (query, role) in [(greeting.as_str(), "user"), ("\"done: hi\"", "assistant")] {
        let out = ctl.run(&["history", "search", "--json", "--harness", name, query]);
        assert!(out.status.success(), "{}", describe(&out));
        let hits = events(&out.stdout);
        assert!(
            hits.iter().any(|h| h.to_string().contains(role)),
            "{query}: {}",
            describe(&out)
        );
    }
    llm.stop(std::time::Duration::from_secs(5))
        .expect("fake LLM stops");
}

#[test]
fn claude_code_through_oqtoctl_prompt() {
    text_and_tool_turn(
        Agent::Claude,
        r#"tool:Bash {"command": "echo hi | tee out.txt"}"#,
    );
}

#[test]
fn gemini_cli_through_oqtoctl_prompt() {
    text_and_tool_turn(
        Agent::Gemini,
        r#"tool:run_shell_command {"command": "echo hi | tee out.txt"}"#,
    );
}

#[test]
fn codex_through_oqtoctl_prompt() {
    text_and_tool_turn(
        Agent::Codex,
        r#"tool:exec_command {"cmd": "echo hi | tee out.txt"}"#,
    );
}

//! `oqtoctl prompt` with the real opencode (an ACP agent, installed by scripts/setup)
//! against the fake LLM (the `oqto-fake-llm` program), under the real sandbox.

use std::process::{Child, Stdio};

use oqto_ipc::spawn::Spawn;
use oqto_testkit::wait_until;
use serde_json::{Value, json};

use crate::support::{Ctl, WAIT, describe, json_lines, sibling};

/// A running `oqto-fake-llm`, stopped when dropped.
struct Llm(Child);

impl Drop for Llm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `Ctl` whose `opencode` harness is the real opencode with a private configuration
/// file naming the fake LLM, and opencode's own rule for bash set to `bash`.
fn opencode(bash: &str) -> (Ctl, Llm) {
    let mut ctl = Ctl::new();
    let port_file = ctl.env.root().join("llm.port");
    let child = Spawn::new(sibling("oqto-fake-llm"))
        .args(["--port", "0", "--port-file"])
        .arg(&port_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start oqto-fake-llm");
    let llm = Llm(child);
    assert!(wait_until(WAIT, || std::fs::read_to_string(&port_file)
        .is_ok_and(|p| p.trim().parse::<u16>().is_ok())));
    let port = std::fs::read_to_string(&port_file).unwrap();
    let config = json!({
        "provider": {"fake": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Fake",
            "options": {"baseURL": format!("http://127.0.0.1:{}/v1", port.trim()), "apiKey": "oqto-test"},
            "models": {"oqto-demo": {"name": "oqto-demo"}},
        }},
        "model": "fake/oqto-demo",
        "small_model": "fake/oqto-demo",
        "autoupdate": false,
        "share": "disabled",
        "permission": {"bash": bash},
    });
    let file = ctl.env.write("home/opencode-test.json", config.to_string());
    std::fs::write(ctl.env.work().join("a.txt"), "contents of a\n").unwrap();
    let opencode = oqto_testkit::workspace_root().join(".local/agents/bin/opencode");
    assert!(opencode.exists(), "run scripts/setup: it installs opencode");
    let toml = ctl.env.root().join("config/oqto/runner.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let text = text
        + &format!(
            "[harness.opencode]\ncommand = \"{}\"\nenv = {{ OPENCODE_CONFIG = \"{}\", OPENCODE_DISABLE_MODELS_FETCH = \"1\", OPENCODE_DISABLE_AUTOUPDATE = \"1\" }}\n",
            opencode.display(),
            file.display()
        );
    std::fs::write(&toml, text).unwrap();
    ctl.vars = ctl.env.vars();
    (ctl, llm)
}

fn assistant_texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "message.end" && e["message"]["role"] == "assistant")
        .flat_map(|e| e["message"]["parts"].as_array().unwrap().clone())
        .filter(|p| p["type"] == "text")
        .map(|p| p["text"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn opencode_text_and_tool_turns_through_oqtoctl_prompt() {
    let (ctl, _llm) = opencode("allow");
    let out = ctl.run(&["prompt", "--harness", "opencode", "hello through oqtoctl"]);
    assert!(out.status.success(), "{}", describe(&out));
    let events = json_lines(&out);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap-free"
    );
    assert_eq!(assistant_texts(&events), ["echo: hello through oqtoctl"]);
    let session = events[0]["session"].as_str().unwrap().to_owned();

    let out = ctl.run(&[
        "prompt",
        "-s",
        &session,
        "-o",
        "final",
        "tool:bash cat a.txt",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "done: contents of a\n"
    );

    let hits = ctl.ok(&["history", "search", "through oqtoctl", "--json"]);
    assert!(hits.contains(&session), "{hits}");
    let hits = ctl.ok(&["history", "search", "contents", "--json"]);
    assert!(hits.contains(&session), "{hits}");
}

#[test]
fn on_a_pipe_a_permission_is_refused_unless_approve_says_otherwise() {
    let (ctl, _llm) = opencode("ask");
    let out = ctl.run(&["prompt", "--harness", "opencode", "tool:bash cat a.txt"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--approve"), "{stderr}");
    let events = json_lines(&out);
    let resolved: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "permission.resolved")
        .collect();
    assert_eq!(resolved[0]["kind"], "reject_once", "{events:#?}");

    let out = ctl.run(&[
        "prompt",
        "--harness",
        "opencode",
        "--approve",
        "all",
        "-o",
        "final",
        "tool:bash cat a.txt",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "done: contents of a\n"
    );

    // read-only refuses a command, and says nothing: it was asked for.
    let out = ctl.run(&[
        "prompt",
        "--harness",
        "opencode",
        "--approve",
        "read-only",
        "tool:bash cat a.txt",
    ]);
    assert!(out.status.success(), "{}", describe(&out));

    let audit = ctl.ok(&["audit", "--json"]);
    let answers: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == "permission.resolved")
        .map(|e| e["summary"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(answers.len(), 3, "{audit}");
    assert!(answers[1].contains("allow_once"), "{answers:?}");
    assert!(answers.iter().all(|a| a.contains("oqtoctl")), "{answers:?}");
    let human = ctl.ok(&["audit", "--search", "cat a.txt"]);
    assert!(human.contains("permission.request"), "{human}");
}

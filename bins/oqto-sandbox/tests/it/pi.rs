//! The real pi, under the `development` profile, completes a bash tool turn against the
//! fake LLM, its bash tool confined like any command.

use std::process::Stdio;

use oqto_fake_llm_core::{Background, Config};
use oqto_testkit::{JsonLinesChild, pi_bin, workspace_root};
use serde_json::{Value, json};

use crate::support::{DEADLINE, SECRET, Sandbox};

/// Prompts and returns the output of the one bash tool call of the turn.
fn bash_turn(pi: &mut JsonLinesChild, id: &str, command: &str) -> Value {
    pi.send(
        &json!({"id": id, "type": "prompt", "message": format!("please run tool:bash {command}")}),
    );
    let run = pi.read_until("agent_end", DEADLINE, |v| v["type"] == "agent_end");
    let ends: Vec<&Value> = run
        .iter()
        .filter(|v| v["type"] == "tool_execution_end")
        .collect();
    assert_eq!(ends.len(), 1, "{run:#?}");
    ends[0].clone()
}

fn output_text(end: &Value) -> String {
    end["result"]["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["text"].as_str())
        .collect()
}

#[test]
fn real_pi_completes_a_bash_tool_turn_under_development() {
    let sb = Sandbox::new();
    let server = Background::start(Config::default()).unwrap();
    let agent_dir = sb.env.root().join("pi-agent");
    oqto_fake_llm_core::write_pi_agent_dir(&agent_dir, &server.base_url()).unwrap();
    std::fs::write(sb.ws.join("hello.txt"), "hello from the project\n").unwrap();
    // pi is installed in the repository (scripts/setup), outside home and the system
    // directories: the user's policy exposes that install, read-only.
    let pi = pi_bin();
    let install = workspace_root().join(".local/pi");
    let install = if pi.starts_with(&install) {
        install
    } else {
        pi.parent().unwrap().parent().unwrap().to_path_buf()
    };
    sb.write_user_policy(&format!(
        "profile = \"development\"\nallow_read = [\"{}\"]\n",
        install.display()
    ));

    let child = sb
        .spawn([
            "--profile".as_ref(),
            "development".as_ref(),
            "--workspace".as_ref(),
            sb.ws.as_os_str(),
            "--".as_ref(),
            pi.as_os_str(),
        ])
        .args(["--mode", "rpc", "--offline", "-ne", "-ns", "-np", "-nc"])
        .env("PI_CODING_AGENT_DIR", &agent_dir)
        .env("PI_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pi = JsonLinesChild::attach(child, "pi");

    pi.send(&json!({"id": "state-1", "type": "get_state"}));
    let state = pi.read_until("get_state response", DEADLINE, |v| v["id"] == "state-1");
    assert_eq!(state.last().unwrap()["success"], true, "{state:#?}");

    let end = bash_turn(
        &mut pi,
        "p1",
        "echo hi-from-bash && cat hello.txt && echo made > made.txt",
    );
    assert_eq!(end["isError"], false, "{end}");
    let out = output_text(&end);
    assert!(out.contains("hi-from-bash"), "{out:?}");
    assert!(out.contains("hello from the project"), "{out:?}");
    assert!(
        sb.ws.join("made.txt").exists(),
        "the tool wrote into the workspace"
    );

    // The same agent's tool cannot read the user's ssh key or write to home.
    let end = bash_turn(
        &mut pi,
        "p2",
        "cat ~/.ssh/id_ed25519; echo x > ~/escaped; echo end",
    );
    let out = output_text(&end);
    assert!(!out.contains(SECRET), "{out:?}");
    assert!(!sb.home().join("escaped").exists());

    // pi kept its session in the writable sessions directory.
    let sessions = agent_dir.join("sessions");
    let any_session = walk(&sessions)
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "jsonl"));
    assert!(any_session, "no session file under {}", sessions.display());

    let status = oqto_ipc::spawn::terminate_blocking(&mut pi.child, DEADLINE).unwrap();
    assert!(status.code().is_some() || status.signal_or_none().is_some());
    server.stop(DEADLINE).unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

trait SignalOrNone {
    fn signal_or_none(&self) -> Option<i32>;
}

impl SignalOrNone for std::process::ExitStatus {
    fn signal_or_none(&self) -> Option<i32> {
        std::os::unix::process::ExitStatusExt::signal(self)
    }
}

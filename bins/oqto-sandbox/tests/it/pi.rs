//! The real pi, under the `development` profile, completes a bash tool turn against the
//! fake LLM, its bash tool confined like any command.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use oqto_fake_llm::{Background, Config};
use oqto_testkit::{pi_bin, workspace_root};
use serde_json::{Value, json};

use crate::support::{DEADLINE, SECRET, Sandbox};

struct Pi {
    child: std::process::Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    stderr: Arc<Mutex<String>>,
}

impl Pi {
    fn send(&mut self, command: &Value) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn read_until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let stop = done(&line);
                    seen.push(line);
                    if stop {
                        return seen;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "no {what} from pi; got {seen:#?}\nstderr:\n{}",
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// Prompts and returns the output of the one bash tool call of the turn.
    fn bash_turn(&mut self, id: &str, command: &str) -> Value {
        self.send(&json!({"id": id, "type": "prompt", "message": format!("please run tool:bash {command}")}));
        let run = self.read_until("agent_end", |v| v["type"] == "agent_end");
        let ends: Vec<&Value> = run
            .iter()
            .filter(|v| v["type"] == "tool_execution_end")
            .collect();
        assert_eq!(ends.len(), 1, "{run:#?}");
        ends[0].clone()
    }
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
    oqto_fake_llm::write_pi_agent_dir(&agent_dir, &server.base_url()).unwrap();
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

    let mut child = sb
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
    let stdin = child.stdin.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(value) = serde_json::from_str(&line) else {
                panic!("pi wrote a non-JSON line: {line}")
            };
            if tx.send(value).is_err() {
                break;
            }
        }
    });
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&stderr);
    let mut err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut pi = Pi {
        child,
        stdin,
        lines,
        stderr,
    };

    pi.send(&json!({"id": "state-1", "type": "get_state"}));
    let state = pi.read_until("get_state response", |v| v["id"] == "state-1");
    assert_eq!(state.last().unwrap()["success"], true, "{state:#?}");

    let end = pi.bash_turn(
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
    let end = pi.bash_turn("p2", "cat ~/.ssh/id_ed25519; echo x > ~/escaped; echo end");
    let out = output_text(&end);
    assert!(!out.contains(SECRET), "{out:?}");
    assert!(!sb.home().join("escaped").exists());

    // pi kept its session in the writable sessions directory.
    let sessions = agent_dir.join("sessions");
    let any_session = walk(&sessions)
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "jsonl"));
    assert!(any_session, "no session file under {}", sessions.display());

    drop(pi.stdin);
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

//! Runs the real `pi --mode rpc` against the in-process fake LLM, one fresh pi per scenario,
//! and checks what the [`Translator`] makes of the live output.
//!
//! With `CAPTURE_PI=1` the raw stdout lines are (re)written to
//! `tests/data/pi-<scenario>.jsonl`, the inputs of the golden tests in `tests.rs` (then run
//! with `UPDATE_EXPECT=1` once to refresh the expected outputs, and review them). The
//! server's port and the scratch directory are replaced by `PORT` and `<tmp>`; pi's
//! timestamps stay (the translator does not read them).

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use oqto_fake_llm_core::{Background, Config};
use oqto_ipc::spawn::terminate_blocking;
use oqto_testkit::TestEnv;
use serde_json::{Value, json};

use super::tests::{check_invariants, data_dir, translate_lines};

const DEADLINE: Duration = Duration::from_secs(30);

/// The fake LLM on its own runtime, on `127.0.0.1:0`.
struct Server {
    base_url: String,
    _inner: Background,
}

impl Server {
    fn start() -> Self {
        let inner = Background::start(Config::default()).expect("start the fake LLM");
        Self {
            base_url: inner.base_url(),
            _inner: inner,
        }
    }
}

/// A running pi and the raw lines it wrote so far.
struct Pi {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
    env: TestEnv,
}

impl Pi {
    fn spawn(server: &Server) -> Self {
        let env = TestEnv::new();
        let agent_dir = env.root().join("pi-agent");
        oqto_fake_llm_core::write_pi_agent_dir(&agent_dir, &server.base_url).unwrap();
        let project = env.work().join("project");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("hello.txt"), "hello from the project dir\n").unwrap();
        let crate::harness::pi::test_pi::RpcPi {
            child,
            stdin,
            lines,
        } = crate::harness::pi::test_pi::spawn(
            &env,
            &agent_dir,
            &project,
            vec!["--no-session".into()],
        );
        let mut pi = Self {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            env,
        };
        // Handshake: pi has no ready message.
        pi.send(&json!({"id": "state-1", "type": "get_state"}));
        pi.read_until("get_state response", |v| v["id"] == "state-1");
        pi
    }

    fn send(&mut self, command: &Value) {
        writeln!(self.stdin, "{command}").expect("write to pi");
        self.stdin.flush().expect("flush pi stdin");
    }

    fn read_until(&mut self, what: &str, mut done: impl FnMut(&Value) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let value: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("pi wrote a non-JSON line ({e}): {line}"));
                    self.seen.push(line);
                    if done(&value) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} from pi within {DEADLINE:?}: {:#?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("pi closed stdout before {what}: {:#?}", self.seen)
                }
            }
        }
    }

    fn prompt(&mut self, id: &str, message: &str) {
        self.send(&json!({"id": id, "type": "prompt", "message": message}));
        self.read_until("agent_end", |v| v["type"] == "agent_end");
    }

    /// Stops pi and returns its lines, normalized.
    fn finish(mut self, server: &Server) -> Vec<String> {
        terminate_blocking(&mut self.child, Duration::from_secs(5)).expect("terminate pi");
        let root = self.env.root().display().to_string();
        let port_free = server
            .base_url
            .rsplit_once(':')
            .map(|(host, _)| format!("{host}:PORT/v1"))
            .unwrap();
        self.seen
            .iter()
            .map(|l| {
                l.replace(&server.base_url, &port_free)
                    .replace(&root, "<tmp>")
            })
            .collect()
    }
}

/// The scenarios, by name: each drives a fresh pi.
fn scenarios(server: &Server) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();

    let mut pi = Pi::spawn(server);
    pi.prompt("prompt-1", "hello world");
    out.push(("text", pi.finish(server)));

    let mut pi = Pi::spawn(server);
    pi.prompt(
        "prompt-1",
        "please run tool:bash for i in 1 2 3; do echo line$i; sleep 0.3; done; cat hello.txt",
    );
    out.push(("tool", pi.finish(server)));

    let mut pi = Pi::spawn(server);
    pi.prompt("prompt-1", "think about this");
    out.push(("think", pi.finish(server)));

    let mut pi = Pi::spawn(server);
    pi.send(&json!({"id": "prompt-1", "type": "prompt", "message": "flaky:503 try again"}));
    let mut retry_ended = false;
    pi.read_until("agent_end after the retry", |v| {
        retry_ended |= v["type"] == "auto_retry_end";
        retry_ended && v["type"] == "agent_end"
    });
    out.push(("retry", pi.finish(server)));

    let mut pi = Pi::spawn(server);
    pi.send(&json!({"id": "prompt-1", "type": "prompt", "message": "slow"}));
    pi.read_until("the first slow word", |v| {
        v["assistantMessageEvent"]["type"] == "text_delta"
    });
    pi.send(&json!({"id": "abort-1", "type": "abort"}));
    pi.read_until("the abort response", |v| v["id"] == "abort-1");
    out.push(("abort", pi.finish(server)));

    let mut pi = Pi::spawn(server);
    pi.prompt("prompt-1", "fail:400 please");
    out.push(("fail", pi.finish(server)));

    let mut pi = Pi::spawn(server);
    pi.prompt("prompt-1", "hello before compacting");
    pi.send(&json!({"id": "compact-1", "type": "compact"}));
    pi.read_until("the compact response", |v| v["id"] == "compact-1");
    out.push(("compact", pi.finish(server)));

    out
}

#[test]
fn real_pi_output_translates_cleanly() {
    let server = Server::start();
    let write = std::env::var_os("CAPTURE_PI").is_some_and(|v| v == "1");
    for (name, lines) in scenarios(&server) {
        let outs = translate_lines(&lines);
        check_invariants(name, &outs);
        if write {
            let path = data_dir().join(format!("pi-{name}.jsonl"));
            std::fs::write(&path, lines.join("\n") + "\n").unwrap();
            eprintln!("wrote {}", path.display());
        }
    }
    assert!(Path::new(&data_dir()).is_dir());
}

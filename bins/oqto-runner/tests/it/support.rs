//! The real `oqto-runner` binary in a private HOME/XDG tree, and a small synchronous client.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use oqto_ipc::spawn::{Spawn, terminate_blocking};
use oqto_testkit::{TestEnv, wait_until};
use serde_json::{Value, json};

/// How long any single wait in these tests may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn runner_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oqto-runner"))
}

/// The `oqto-fake-agent` binary next to the runner (built by `cargo test --workspace`).
pub fn fake_agent_bin() -> PathBuf {
    let path = runner_bin().with_file_name("oqto-fake-agent");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p oqto-fake-agent` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// A runner process with its own environment.
pub struct Runner {
    pub env: TestEnv,
    pub socket: PathBuf,
    pub child: Option<Child>,
    extra_env: Vec<(OsString, OsString)>,
}

impl Runner {
    /// Starts a runner whose `runner.toml` is `config` (plus the fake harness's path).
    pub fn start(config: &str) -> Self {
        let env = TestEnv::new();
        Self::start_in(env, config, Vec::new())
    }

    pub fn start_in(env: TestEnv, config: &str, extra_env: Vec<(OsString, OsString)>) -> Self {
        let full = format!(
            "{config}\n[harness.fake]\ncommand = \"{}\"\n",
            fake_agent_bin().display()
        );
        env.write("config/oqto/runner.toml", full);
        let socket = env.runtime_dir().join("oqto/runner.sock");
        let mut runner = Self {
            env,
            socket,
            child: None,
            extra_env,
        };
        runner.spawn();
        runner
    }

    pub fn command(&self) -> Spawn {
        Spawn::new(runner_bin())
            .envs(self.env.vars())
            .envs(self.extra_env.clone())
            .stdin(Stdio::null())
    }

    /// Starts the process again (after `kill` or `stop`) and waits for the socket.
    pub fn spawn(&mut self) {
        let log = std::fs::File::create(self.env.root().join("runner.log")).expect("log file");
        let child = self
            .command()
            .arg("-v")
            .stderr(log)
            .spawn()
            .expect("start oqto-runner");
        self.child = Some(child);
        let socket = self.socket.clone();
        let up = wait_until(WAIT, || {
            oqto_ipc::socket::is_live(&socket) || self.exited().is_some()
        });
        assert!(
            up && self.exited().is_none(),
            "runner did not come up:\n{}",
            self.log()
        );
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.as_ref().expect("running").id()).expect("pid")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.env.root().join("runner.log")).unwrap_or_default()
    }

    /// SIGTERM, and the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid")),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "runner did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL, no cleanup.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket)
    }

    pub fn work(&self) -> String {
        self.env.work().display().to_string()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = terminate_blocking(&mut child, Duration::from_secs(5));
        }
        if std::thread::panicking() {
            eprintln!("--- runner log ---\n{}", self.log());
        }
    }
}

/// A client connection: requests with ids, events buffered while waiting for answers.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    pub events: VecDeque<Value>,
    pub welcome: Value,
}

impl Client {
    pub fn connect(socket: &Path) -> Self {
        let mut client = Self::raw(socket);
        client.send_line(&json!({"type":"hello","protocol":1,"client":"it/1"}).to_string());
        let welcome = client.read_value().expect("welcome");
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        client.welcome = welcome;
        client
    }

    /// Connected, no handshake.
    pub fn raw(socket: &Path) -> Self {
        let stream = UnixStream::connect(socket).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        Self {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
            next_id: 0,
            events: VecDeque::new(),
            welcome: Value::Null,
        }
    }

    pub fn send_line(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).expect("write");
        self.writer.write_all(b"\n").expect("write");
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// The next line as text; `None` at EOF.
    pub fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("reading from the runner: {e}"),
        }
    }

    pub fn read_value(&mut self) -> Option<Value> {
        self.read_line()
            .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
    }

    /// Sends `request` (an object without `id`) and returns the `ok`/`error` answering it.
    pub fn request(&mut self, mut request: Value) -> Value {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        request["id"] = json!(id);
        self.send_line(&request.to_string());
        self.response(&id)
    }

    /// Like [`request`](Self::request), and expects `ok`: returns `result`.
    pub fn ok(&mut self, request: Value) -> Value {
        let shown = request.to_string();
        let answer = self.request(request);
        assert_eq!(answer["type"], "ok", "{shown} -> {answer}");
        answer["result"].clone()
    }

    /// Like [`request`](Self::request), and expects an error: returns its code.
    pub fn error(&mut self, request: Value) -> (String, String) {
        let shown = request.to_string();
        let answer = self.request(request);
        assert_eq!(answer["type"], "error", "{shown} -> {answer}");
        (
            answer["code"].as_str().expect("code").to_owned(),
            answer["message"].as_str().expect("message").to_owned(),
        )
    }

    pub fn response(&mut self, id: &str) -> Value {
        loop {
            let value = self
                .read_value()
                .expect("connection closed before the answer");
            if matches!(value["type"].as_str(), Some("ok" | "error")) && value["id"] == id {
                return value;
            }
            self.events.push_back(value);
        }
    }

    /// The next event (buffered first).
    pub fn next_event(&mut self) -> Value {
        if let Some(event) = self.events.pop_front() {
            return event;
        }
        self.read_value()
            .expect("connection closed while waiting for an event")
    }

    /// Events up to and including the first that matches `pred`.
    pub fn events_until(&mut self, mut pred: impl FnMut(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "no matching event; saw {seen:#?}"
            );
            let event = self.next_event();
            let done = pred(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// Creates a session of `harness` in `cwd`, subscribes, and returns its id.
    pub fn create(&mut self, harness: &str, cwd: &str) -> String {
        let result = self.ok(json!({"type":"session.create","harness":harness,"cwd":cwd}));
        let id = result["session"]["id"].as_str().expect("id").to_owned();
        self.ok(json!({"type":"session.subscribe","session":id,"after_seq":0}));
        id
    }

    /// Prompts and returns every event up to the `state idle` or `error` that ends the turn.
    pub fn turn(&mut self, session: &str, text: &str) -> Vec<Value> {
        self.ok(json!({"type":"prompt","session":session,"text":text}));
        let mut working = false;
        self.events_until(|e| {
            if e["session"] != session || e["type"] != "state" {
                return false;
            }
            if e["state"] == "working" {
                working = true;
            }
            working && matches!(e["state"].as_str(), Some("idle" | "error"))
        })
    }
}

/// `true` while a process with this pid exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// Pids of all descendants of `pid`: each harness is `oqto-sandbox`, its `bwrap`, the
/// sandbox's init and the harness program.
pub fn children(pid: i32) -> Vec<i32> {
    oqto_ipc::spawn::descendants(pid)
}

/// Pids of the fake agents running below `pid` (inside their sandboxes).
pub fn agents(pid: i32) -> Vec<i32> {
    children(pid)
        .into_iter()
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "oqto-fake-agent")
        })
        .collect()
}

/// The text of every assistant `message.end` in `events`.
pub fn assistant_texts(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "message.end" && e["message"]["role"] == "assistant")
        .map(|e| {
            e["message"]["parts"]
                .as_array()
                .expect("parts")
                .iter()
                .filter(|p| p["type"] == "text")
                .map(|p| p["text"].as_str().expect("text"))
                .collect::<String>()
        })
        .collect()
}

//! `cargo bench -p oqto-runner --bench acp [-- AGENT…]`: ACP agents from `.local/agents`
//! (opencode, and Codex through `codex-acp`; `AGENT` picks some: `opencode`, `codex`)
//! driven through Oqto against driven directly, side by side in one run, all against the
//! same in-process fake LLM.
//!
//! * **Oqto**: a release `oqto-runner` with the agent's harness (through `oqto-sandbox`,
//!   as always); a client on the socket sends `prompt` and times the first `part.delta` and
//!   the `state idle` that ends the turn.
//! * **Oqto, no sandbox**: the same runner with the user's sandbox policy `enabled = false`,
//!   to tell the sandbox's share from the runner's.
//! * **direct**: the bench's own minimal ACP client runs the agent as a child (unconfined,
//!   no runner), writes `session/prompt` and times the first `agent_message_chunk` and the
//!   prompt's answer.
//!
//! Start-up (harness start to ready: sandbox, agent, `initialize`, `session/new`) is
//! measured apart, once per side. Turns alternate between the sides. Nothing fails on
//! slowness: it measures and reports (docs/benchmarks.md).

#![allow(clippy::print_stdout)]
#![allow(clippy::cast_precision_loss)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};

use oqto_fake_llm_core::agents::{Agent, write_agent_home};
use oqto_fake_llm_core::{Background, Config};
use oqto_ipc::spawn::Spawn;
use oqto_testkit::{TestEnv, wait_until};
use serde_json::{Value, json};

const TURNS: usize = 30;

/// An ACP agent under test: its harness name in the runner, program and arguments.
struct Bench {
    harness: &'static str,
    program: PathBuf,
    args: &'static [&'static str],
}

impl Bench {
    fn of(name: &str) -> Option<Self> {
        let bin = oqto_testkit::workspace_root().join(".local/agents/bin");
        match name {
            "opencode" => Some(Self {
                harness: "opencode",
                program: bin.join("opencode"),
                args: &["acp"],
            }),
            "codex" => Some(Self {
                harness: "codex",
                program: bin.join(Agent::Codex.acp_command().0),
                args: Agent::Codex.acp_command().1,
            }),
            _ => None,
        }
    }

    /// Writes the agent's configuration for the fake LLM at `base_url` into `env` (never the
    /// user's own) and returns the environment to run it with.
    fn configure(&self, env: &TestEnv, base_url: &str) -> Vec<(String, String)> {
        if self.harness == "opencode" {
            let config = json!({
                "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                    "options": {"baseURL": base_url, "apiKey": "x"},
                    "models": {"oqto-demo": {"name": "oqto-demo"}}}},
                "model": "fake/oqto-demo", "small_model": "fake/oqto-demo",
                "autoupdate": false, "share": "disabled",
            });
            // Under HOME: the sandbox shows the home directory (read-only).
            let file = env.write("home/opencode-bench.json", config.to_string());
            return vec![
                ("OPENCODE_CONFIG".into(), file.display().to_string()),
                ("OPENCODE_DISABLE_MODELS_FETCH".into(), "1".into()),
                ("OPENCODE_DISABLE_AUTOUPDATE".into(), "1".into()),
            ];
        }
        let home = env.root().join("cache/agents").join(self.harness);
        write_agent_home(Agent::Codex, &home, base_url).expect("write the agent's home")
    }

    /// A runner in `env` with this agent as its harness, and a client with one session.
    fn runner(
        &self,
        env: &TestEnv,
        base_url: &str,
        sandbox: bool,
    ) -> (Child, Oqto, String, Duration) {
        let vars = self.configure(env, base_url);
        let quote = |s: &str| Value::from(s).to_string();
        let table: Vec<String> = vars
            .iter()
            .map(|(k, v)| format!("{k} = {}", quote(v)))
            .collect();
        env.write(
            "config/oqto/runner.toml",
            format!(
                "[runner]\nidle_timeout = \"off\"\n[harness.{}]\ncommand = {}\nenv = {{ {} }}\n",
                self.harness,
                quote(&self.program.display().to_string()),
                table.join(", ")
            ),
        );
        if !sandbox {
            env.write("config/oqto/sandbox.toml", "enabled = false\n");
        }
        let (runner, socket) = start_runner(env);
        let mut client = Oqto::connect(&socket);
        let t = Instant::now();
        let session = client.create(self.harness, &env.work().display().to_string());
        (runner, client, session, t.elapsed())
    }
}

fn main() -> ExitCode {
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let names = if names.is_empty() {
        vec!["opencode".to_owned(), "codex".to_owned()]
    } else {
        names
    };
    for name in &names {
        let Some(bench) = Bench::of(name) else {
            println!("acp bench: unknown agent `{name}` (opencode, codex)");
            return ExitCode::FAILURE;
        };
        if !bench.program.exists() {
            println!(
                "acp bench: {} is missing; run scripts/setup",
                bench.program.display()
            );
            return ExitCode::FAILURE;
        }
        run(&bench);
    }
    ExitCode::SUCCESS
}

fn run(bench: &Bench) {
    let llm = Background::start(Config::default()).expect("fake LLM");
    let env = TestEnv::new();
    let bare_env = TestEnv::new();
    let (mut runner, mut oqto, session, oqto_start) = bench.runner(&env, &llm.base_url(), true);
    let (mut bare_runner, mut bare, bare_session, bare_start) =
        bench.runner(&bare_env, &llm.base_url(), false);
    let direct_env = TestEnv::new();
    let vars = bench.configure(&direct_env, &llm.base_url());
    let t = Instant::now();
    let mut direct = Direct::start(bench, &direct_env, &vars);
    let direct_start = t.elapsed();

    // One warm-up turn each (opencode's first turn also asks for a title).
    oqto.turn(&session, "warm up");
    bare.turn(&bare_session, "warm up");
    direct.turn("warm up");
    let (mut o, mut b, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..TURNS {
        let text = format!("turn {i} of the bench");
        o.push(oqto.turn(&session, &text));
        b.push(bare.turn(&bare_session, &text));
        d.push(direct.turn(&text));
    }
    println!(
        "acp bench: {}, {TURNS} turns per side, alternating; fake LLM in process",
        bench.harness
    );
    println!(
        "start to ready: oqto {:.0} ms (sandbox + agent + handshake), oqto without sandbox {:.0} ms, direct {:.0} ms",
        ms(oqto_start),
        ms(bare_start),
        ms(direct_start)
    );
    report("first delta, oqto            ", &o, &d, |s| s.0);
    report("first delta, oqto, no sandbox", &b, &d, |s| s.0);
    report("idle, oqto                   ", &o, &d, |s| s.1);
    report("idle, oqto, no sandbox       ", &b, &d, |s| s.1);
    direct.stop();
    for r in [&mut runner, &mut bare_runner] {
        let _ = r.kill();
        let _ = r.wait();
    }
}

/// A release `oqto-runner` in `env`, and its socket once it accepts.
fn start_runner(env: &TestEnv) -> (Child, PathBuf) {
    let runner = Spawn::new(env!("CARGO_BIN_EXE_oqto-runner"))
        .envs(env.vars())
        .current_dir(env.work())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start oqto-runner");
    let socket = env.runtime_dir().join("oqto/runner.sock");
    assert!(wait_until(Duration::from_secs(20), || UnixStream::connect(
        &socket
    )
    .is_ok()));
    (runner, socket)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

type Sample = (Duration, Duration);

fn report(name: &str, oqto: &[Sample], direct: &[Sample], pick: fn(&Sample) -> Duration) {
    let stats = |samples: &[Sample]| {
        let mut v: Vec<f64> = samples.iter().map(|s| ms(pick(s))).collect();
        v.sort_by(f64::total_cmp);
        // q * (len - 1) with q in 0..=1, in integer steps of a percent.
        let p = |percent: usize| v[(v.len() - 1) * percent / 100];
        (p(50), p(90), v.iter().sum::<f64>() / v.len() as f64)
    };
    let (o50, o90, om) = stats(oqto);
    let (d50, d90, dm) = stats(direct);
    println!(
        "{name}: p50 {o50:.1} p90 {o90:.1} mean {om:.1} ms | direct p50 {d50:.1} p90 {d90:.1} mean {dm:.1} ms | adds {:.1} ms at p50 ({:+.1}%)",
        o50 - d50,
        (o50 - d50) / d50 * 100.0
    );
}

/// A client of the runner on its socket.
struct Oqto {
    out: UnixStream,
    lines: BufReader<UnixStream>,
    next: u64,
}

impl Oqto {
    fn connect(socket: &Path) -> Self {
        let out = UnixStream::connect(socket).expect("connect");
        let lines = BufReader::new(out.try_clone().expect("clone"));
        let mut c = Self {
            out,
            lines,
            next: 0,
        };
        c.send(&json!({"type":"hello","protocol":1,"client":"acp-bench"}));
        c.read();
        c
    }

    fn send(&mut self, value: &Value) {
        writeln!(self.out, "{value}").expect("write");
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        assert!(
            self.lines.read_line(&mut line).expect("read") > 0,
            "runner closed"
        );
        serde_json::from_str(&line).expect("json")
    }

    fn request(&mut self, mut value: Value) -> Value {
        self.next += 1;
        let id = self.next.to_string();
        value["id"] = Value::String(id.clone());
        self.send(&value);
        loop {
            let line = self.read();
            if line["id"] == id.as_str() {
                assert_eq!(line["type"], "ok", "{line}");
                return line;
            }
        }
    }

    fn create(&mut self, harness: &str, cwd: &str) -> String {
        let r = self.request(json!({"type":"session.create","harness":harness,"cwd":cwd}));
        let id = r["result"]["session"]["id"].as_str().unwrap().to_owned();
        self.request(json!({"type":"session.subscribe","session":id}));
        id
    }

    fn turn(&mut self, session: &str, text: &str) -> Sample {
        let start = Instant::now();
        self.next += 1;
        self.send(
            &json!({"type":"prompt","id":self.next.to_string(),"session":session,"text":text}),
        );
        let mut first = None;
        loop {
            let e = self.read();
            if e["type"] == "part.delta" && first.is_none() {
                first = Some(start.elapsed());
            }
            if e["type"] == "state" && e["state"] == "idle" {
                return (first.expect("a delta"), start.elapsed());
            }
        }
    }
}

/// The bench's own minimal ACP client.
struct Direct {
    child: Child,
    lines: BufReader<std::process::ChildStdout>,
    session: String,
    next: u64,
}

impl Direct {
    fn start(bench: &Bench, env: &TestEnv, vars: &[(String, String)]) -> Self {
        let mut child = Spawn::new(&bench.program)
            .args(bench.args)
            .envs(env.vars())
            .envs(
                vars.iter()
                    .map(|(k, v)| (std::ffi::OsString::from(k), std::ffi::OsString::from(v))),
            )
            .current_dir(env.work())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the agent");
        let lines = BufReader::new(child.stdout.take().unwrap());
        let mut d = Self {
            child,
            lines,
            session: String::new(),
            next: 0,
        };
        d.call(
            "initialize",
            &json!({"protocolVersion": 1, "clientCapabilities": {}}),
        );
        let r = d.call(
            "session/new",
            &json!({"cwd": env.work().display().to_string(), "mcpServers": []}),
        );
        r["result"]["sessionId"]
            .as_str()
            .unwrap()
            .clone_into(&mut d.session);
        d
    }

    fn write(&mut self, method: &str, params: &Value) -> u64 {
        self.next += 1;
        let line = json!({"jsonrpc":"2.0","id":self.next,"method":method,"params":params});
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").expect("write");
        self.next
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        assert!(
            self.lines.read_line(&mut line).expect("read") > 0,
            "the agent closed"
        );
        serde_json::from_str(&line).unwrap_or(Value::Null)
    }

    fn call(&mut self, method: &str, params: &Value) -> Value {
        let id = self.write(method, params);
        loop {
            let v = self.read();
            if v["id"] == id && v.get("method").is_none() {
                return v;
            }
        }
    }

    fn turn(&mut self, text: &str) -> Sample {
        let start = Instant::now();
        let params = json!({"sessionId": self.session, "prompt": [{"type":"text","text":text}]});
        let id = self.write("session/prompt", &params);
        let mut first = None;
        loop {
            let v = self.read();
            if first.is_none() && v["params"]["update"]["sessionUpdate"] == "agent_message_chunk" {
                first = Some(start.elapsed());
            }
            if v["id"] == id && v.get("method").is_none() {
                return (first.expect("a chunk"), start.elapsed());
            }
        }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

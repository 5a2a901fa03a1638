//! `cargo bench -p oqto-runner --bench acp`: opencode (an ACP agent, from `.local/agents`)
//! driven through Oqto against driven directly, side by side in one run, both against the
//! same in-process fake LLM.
//!
//! * **Oqto**: a release `oqto-runner` with the `opencode` harness (through `oqto-sandbox`,
//!   as always); a client on the socket sends `prompt` and times the first `part.delta` and
//!   the `state idle` that ends the turn.
//! * **direct**: the bench's own minimal ACP client runs `opencode acp` as a child
//!   (unconfined, no runner), writes `session/prompt` and times the first
//!   `agent_message_chunk` and the prompt's answer.
//!
//! Start-up (harness start to ready: sandbox, opencode, `initialize`, `session/new`) is
//! measured apart, once per side. Turns alternate between the two sides. Nothing fails on
//! slowness: it measures and reports (docs/benchmarks.md).

#![allow(clippy::print_stdout)]
#![allow(clippy::cast_precision_loss)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};

use oqto_fake_llm_core::{Background, Config};
use oqto_ipc::spawn::Spawn;
use oqto_testkit::{TestEnv, wait_until};
use serde_json::{Value, json};

const TURNS: usize = 30;

fn main() -> ExitCode {
    let opencode = oqto_testkit::workspace_root().join(".local/agents/bin/opencode");
    if !opencode.exists() {
        println!(
            "acp bench: {} is missing; run scripts/setup",
            opencode.display()
        );
        return ExitCode::FAILURE;
    }
    let llm = Background::start(Config::default()).expect("fake LLM");
    let env = TestEnv::new();
    let config = json!({
        "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
            "options": {"baseURL": llm.base_url(), "apiKey": "x"},
            "models": {"oqto-demo": {"name": "oqto-demo"}}}},
        "model": "fake/oqto-demo", "small_model": "fake/oqto-demo",
        "autoupdate": false, "share": "disabled",
    });
    let file = env.write("home/opencode-bench.json", config.to_string());
    let agent_env = [
        ("OPENCODE_CONFIG", file.display().to_string()),
        ("OPENCODE_DISABLE_MODELS_FETCH", "1".into()),
        ("OPENCODE_DISABLE_AUTOUPDATE", "1".into()),
    ];
    let table: Vec<String> = agent_env
        .iter()
        .map(|(k, v)| format!("{k} = \"{v}\""))
        .collect();
    let runner_toml = format!(
        "[runner]\nidle_timeout = \"off\"\n[harness.opencode]\ncommand = \"{}\"\nenv = {{ {} }}\n",
        opencode.display(),
        table.join(", ")
    );
    env.write("config/oqto/runner.toml", &runner_toml);
    // The same runner with the sandbox turned off (user policy `enabled = false`), to tell
    // the sandbox's share from the runner's.
    let bare_env = TestEnv::new();
    bare_env.write("home/opencode-bench.json", config.to_string());
    bare_env.write(
        "config/oqto/runner.toml",
        runner_toml.replace(
            &file.display().to_string(),
            &bare_env
                .home()
                .join("opencode-bench.json")
                .display()
                .to_string(),
        ),
    );
    bare_env.write("config/oqto/sandbox.toml", "enabled = false\n");
    let (mut runner, socket) = start_runner(&env);
    let (mut bare_runner, bare_socket) = start_runner(&bare_env);
    let mut oqto = Oqto::connect(&socket);
    let t = Instant::now();
    let session = oqto.create(&env.work().display().to_string());
    let oqto_start = t.elapsed();
    let mut bare = Oqto::connect(&bare_socket);
    let t = Instant::now();
    let bare_session = bare.create(&bare_env.work().display().to_string());
    let bare_start = t.elapsed();

    let t = Instant::now();
    let mut direct = Direct::start(&opencode, &env, &agent_env);
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
    println!("acp bench: opencode, {TURNS} turns per side, alternating; fake LLM in process");
    println!(
        "start to ready: oqto {:.0} ms (sandbox + opencode + handshake), oqto without sandbox {:.0} ms, direct {:.0} ms",
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
    ExitCode::SUCCESS
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

    fn create(&mut self, cwd: &str) -> String {
        let r = self.request(json!({"type":"session.create","harness":"opencode","cwd":cwd}));
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
    fn start(opencode: &PathBuf, env: &TestEnv, vars: &[(&str, String)]) -> Self {
        let mut child = Spawn::new(opencode)
            .arg("acp")
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
            .expect("start opencode");
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
            "opencode closed"
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

//! `cargo bench -p oqto-relay --bench relay [FILTER]`: the real `oqto-relay` in front of the
//! real runner, fake agents and file server, measured from the outside against the direct
//! Unix socket in the same run.
//!
//! Parts (FILTER runs those whose name contains it):
//!
//! * `events.throughput`: N sessions (1, 100) streaming `stream:K` as fast as the fake agents
//!   write, read by one subscriber: once on the runner's socket, once through the relay's
//!   `agent` channel (fresh sessions each time). Events/s of each.
//! * `events.latency`: N sessions paced at one delta per 10 ms (100 sessions: 10,000
//!   deltas/s), read at the same time by a direct subscriber and a relay subscriber, each on
//!   its own thread; per delta, the relay read time minus the direct read time.
//! * `files.download`: a 1 GiB file read through `oqto-files --socket` directly and through
//!   the relay's `files` channel.
//! * `idle`: the relay's RSS with 1,000 idle logged-in `WebSockets` (hello answered).
//! * `connect`: TCP connect, WebSocket upgrade with the session cookie, `hello`/`welcome`,
//!   `session.subscribe` with `after_seq`, first event: p50/p95 over 200 connections.
//!
//! Build the other programs first: `cargo build --release -p oqto-runner -p oqto-sandbox
//! -p oqto-fake-agent -p oqto-files`. The report goes to stdout; docs/benchmarks.md records
//! results. Nothing here fails on slowness.

// A benchmark's report is its output.
#![allow(clippy::print_stdout)]
// Counts, byte sizes and durations here are far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures_util::{SinkExt, StreamExt};
use oqto_client::{FilesClient, FilesIncoming};
use oqto_ipc::spawn::Spawn;
use oqto_protocol::files::FilesCommand;
use oqto_testkit::{TestEnv, wait_until};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Part = fn(&Bins) -> anyhow::Result<()>;

/// How long one wait may take before a run is declared stuck.
const STUCK: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let bins = match Bins::locate() {
        Ok(bins) => bins,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    let parts: [(&str, Part); 5] = [
        ("events.throughput", events_throughput),
        ("events.latency", events_latency),
        ("files.download", files_download),
        ("idle", idle),
        ("connect", connect),
    ];
    let selected: Vec<_> = parts
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .collect();
    if selected.is_empty() {
        eprintln!("no part matches {filter:?}");
        return ExitCode::from(2);
    }
    println!("oqto-relay benchmark");
    println!("  relay:  {}", bins.relay.display());
    println!(
        "  cores:  {}",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    let mut failed = false;
    for (name, part) in selected {
        println!("\n== {name}");
        let t = Instant::now();
        if let Err(e) = part(&bins) {
            println!("  FAILED: {e:#}");
            failed = true;
        }
        println!("  ({:.1} s)", t.elapsed().as_secs_f64());
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The programs under test.
struct Bins {
    relay: PathBuf,
    dir: PathBuf,
}

impl Bins {
    fn locate() -> anyhow::Result<Self> {
        let relay = PathBuf::from(env!("CARGO_BIN_EXE_oqto-relay"));
        let dir = relay.parent().context("the relay's directory")?.to_owned();
        for name in [
            "oqto-runner",
            "oqto-sandbox",
            "oqto-fake-agent",
            "oqto-files",
        ] {
            ensure!(
                dir.join(name).is_file(),
                "{} is missing: build it first with `cargo build --release -p oqto-runner \
                 -p oqto-sandbox -p oqto-fake-agent -p oqto-files`",
                dir.join(name).display()
            );
        }
        Ok(Self { relay, dir })
    }
}

// ----- the stack ------------------------------------------------------------------------------

/// A relay (which starts the runner) in a private environment.
struct Stack {
    env: TestEnv,
    relay: Child,
    host: String,
    cookie: String,
    socket: PathBuf,
}

impl Stack {
    fn start(bins: &Bins) -> anyhow::Result<Self> {
        let env = TestEnv::new();
        env.write(
            "config/oqto/runner.toml",
            format!(
                "[runner]\ndefault_harness = \"fake\"\nmax_sessions = 1100\n\
                 [harness.fake]\ncommand = \"{}\"\n",
                bins.dir.join("oqto-fake-agent").display()
            ),
        );
        // Big enough that 1,000 WebSockets and 100 streaming sessions are not throttled by
        // the defaults of a tab.
        env.write("config/oqto/relay.toml", "");
        let log = std::fs::File::create(env.root().join("relay.log"))?;
        let relay = command(bins, &env, &["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start oqto-relay")?;
        let state = env.runtime_dir().join("oqto/relay.json");
        let mut url = None;
        ensure!(
            wait_until(STUCK, || {
                url = std::fs::read_to_string(&state)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .and_then(|v| v["url"].as_str().map(str::to_owned));
                url.is_some()
            }),
            "the relay wrote no {}",
            state.display()
        );
        let host = url
            .unwrap_or_default()
            .trim_start_matches("http://")
            .to_owned();
        let socket = env.runtime_dir().join("oqto/runner.sock");
        let mut stack = Self {
            env,
            relay,
            host,
            cookie: String::new(),
            socket,
        };
        stack.cookie = stack.login(bins)?;
        // The relay starts the runner for its first tab.
        runtime()?.block_on(stack.ws())?;
        ensure!(
            wait_until(STUCK, || UnixStream::connect(&stack.socket).is_ok()),
            "no runner on {}",
            stack.socket.display()
        );
        Ok(stack)
    }

    /// A session cookie from a fresh login link.
    fn login(&self, bins: &Bins) -> anyhow::Result<String> {
        let out = command(bins, &self.env, &["link"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?
            .wait_with_output()?;
        ensure!(
            out.status.success(),
            "oqto-relay link: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let link = String::from_utf8(out.stdout)?;
        let path = link.trim().split_once(&self.host).context("a link")?.1;
        let mut stream = std::net::TcpStream::connect(&self.host)?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host
        )?;
        let mut response = String::new();
        std::io::Read::read_to_string(&mut stream, &mut response)?;
        let cookie = response
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("set-cookie")
                    .then(|| value.trim())
            })
            .context("no cookie from the login link")?;
        Ok(cookie.split(';').next().unwrap_or_default().to_owned())
    }

    fn relay_pid(&self) -> u32 {
        self.relay.id()
    }

    fn runner_pid(&self) -> Option<u32> {
        oqto_config::holder(&self.env.data_dir().join("oqto")).map(|h| h.pid)
    }

    /// A logged-in WebSocket, greeted.
    async fn ws(&self) -> anyhow::Result<Ws> {
        let mut request = format!("ws://{}/ws", self.host).into_client_request()?;
        let headers = request.headers_mut();
        headers.insert("cookie", self.cookie.parse()?);
        headers.insert("origin", format!("http://{}", self.host).parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
        let hello = json!({"ch":"relay","msg":{"type":"hello","protocol":1,"client":"bench"}});
        ws.send(Message::text(hello.to_string())).await?;
        loop {
            let frame = next_text(&mut ws).await?;
            let v: Value = serde_json::from_str(&frame)?;
            if v["ch"] == "relay" && v["msg"]["type"] == "welcome" {
                return Ok(ws);
            }
        }
    }

    /// A greeted connection to the runner's socket.
    fn direct(&self) -> anyhow::Result<Direct> {
        let stream = UnixStream::connect(&self.socket)
            .with_context(|| format!("connect {}", self.socket.display()))?;
        stream.set_read_timeout(Some(STUCK))?;
        let mut direct = Direct {
            reader: BufReader::with_capacity(1 << 16, stream.try_clone()?),
            writer: stream,
            next: 0,
        };
        direct.send(&json!({"type":"hello","protocol":1,"client":"bench"}))?;
        let welcome = direct.line()?;
        ensure!(welcome.contains("\"welcome\""), "no welcome: {welcome}");
        Ok(direct)
    }

    /// Creates `n` fake-agent sessions (on a direct connection).
    fn sessions(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let mut direct = self.direct()?;
        let work = self.env.work();
        (0..n)
            .map(|_| {
                let ok =
                    direct.ok(&json!({"type":"session.create","harness":"fake","cwd":work}))?;
                ok["result"]["session"]["id"]
                    .as_str()
                    .map(str::to_owned)
                    .context("a session id")
            })
            .collect()
    }

    fn delete(&self, sessions: &[String]) -> anyhow::Result<()> {
        let mut direct = self.direct()?;
        for id in sessions {
            direct.ok(&json!({"type":"session.delete","session":id}))?;
        }
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.relay.id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.relay.wait();
        if let Some(pid) = self.runner_pid() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        wait_until(Duration::from_secs(10), || self.runner_pid().is_none());
    }
}

fn command(bins: &Bins, env: &TestEnv, args: &[&str]) -> Spawn {
    let mut vars = env.vars();
    for (var, name) in [
        ("OQTO_RUNNER_BIN", "oqto-runner"),
        ("OQTO_SANDBOX_BIN", "oqto-sandbox"),
        ("OQTO_FILES_BIN", "oqto-files"),
    ] {
        vars.push((var.into(), bins.dir.join(name).into()));
    }
    Spawn::new(&bins.relay)
        .envs(vars)
        .current_dir(env.work())
        .args(args)
}

/// A blocking JSON-lines connection to the runner.
struct Direct {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next: u64,
}

impl Direct {
    fn send(&mut self, value: &Value) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(value)?;
        line.push(b'\n');
        self.writer.write_all(&line)?;
        Ok(())
    }

    fn line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        ensure!(
            self.reader.read_line(&mut line)? > 0,
            "the runner closed the connection"
        );
        Ok(line)
    }

    /// Sends `request` with a fresh id and returns its `ok` answer (other lines skipped).
    fn ok(&mut self, request: &Value) -> anyhow::Result<Value> {
        self.next += 1;
        let id = format!("b{}", self.next);
        let mut request = request.clone();
        request["id"] = json!(id);
        self.send(&request)?;
        loop {
            let v: Value = serde_json::from_str(&self.line()?)?;
            if v["id"] == id.as_str() {
                ensure!(v["type"] == "ok", "{request}: {v}");
                return Ok(v);
            }
        }
    }
}

async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    loop {
        match tokio::time::timeout(STUCK, ws.next()).await {
            Err(_) => bail!("nothing from the relay for {STUCK:?}"),
            Ok(None) => bail!("the relay closed the WebSocket"),
            Ok(Some(frame)) => {
                if let Message::Text(text) = frame? {
                    return Ok(text.as_str().to_owned());
                }
            }
        }
    }
}

async fn agent(ws: &mut Ws, msg: &Value) -> anyhow::Result<()> {
    ws.send(Message::text(json!({"ch":"agent","msg":msg}).to_string()))
        .await?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

// ----- reading turns --------------------------------------------------------------------------

/// The fields of a runner line this benchmark looks at.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    session: Option<&'a str>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default, borrow)]
    delta: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    state: Option<&'a str>,
}

/// A relay frame: the runner line under `msg`.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    ch: &'a str,
    #[serde(borrow)]
    msg: Wire<'a>,
}

/// What a subscriber saw while its sessions ran one turn each.
#[derive(Default)]
struct Tally {
    events: usize,
    resyncs: usize,
    finished: usize,
    working: Vec<bool>,
    done: Vec<bool>,
    /// `(session index, delta number)` → when it was read, when `keep` is set.
    reads: HashMap<(usize, u32), Instant>,
    keep: bool,
    end: Option<Instant>,
}

impl Tally {
    fn new(n: usize, keep: bool) -> Self {
        Self {
            working: vec![false; n],
            done: vec![false; n],
            keep,
            ..Self::default()
        }
    }

    fn all_done(&self) -> bool {
        self.finished == self.done.len()
    }

    fn see(&mut self, wire: &Wire<'_>, index: &HashMap<String, usize>, now: Instant) {
        if wire.seq.is_none() && wire.kind != "resync" {
            return;
        }
        self.events += 1;
        let Some(&i) = wire.session.and_then(|s| index.get(s)) else {
            return;
        };
        match wire.kind {
            "part.delta" if self.keep => {
                let n = wire
                    .delta
                    .as_deref()
                    .and_then(|d| d.strip_prefix('w')?.trim_end().parse().ok());
                if let Some(n) = n {
                    self.reads.insert((i, n), now);
                }
            }
            "state" => match wire.state {
                Some("working") => self.working[i] = true,
                Some("idle" | "error") if self.working[i] && !self.done[i] => {
                    self.done[i] = true;
                    self.finished += 1;
                    if self.all_done() {
                        self.end = Some(now);
                    }
                }
                _ => {}
            },
            "resync" => self.resyncs += 1,
            _ => {}
        }
    }
}

fn index_of(sessions: &[String]) -> HashMap<String, usize> {
    sessions
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i))
        .collect()
}

/// Reads the direct connection until every session finished a turn.
fn read_direct(direct: &mut Direct, sessions: &[String], keep: bool) -> anyhow::Result<Tally> {
    let index = index_of(sessions);
    let mut tally = Tally::new(sessions.len(), keep);
    let mut line = String::new();
    while !tally.all_done() {
        line.clear();
        ensure!(
            direct.reader.read_line(&mut line)? > 0,
            "the runner closed the connection"
        );
        let now = Instant::now();
        let wire: Wire<'_> = serde_json::from_str(&line)?;
        ensure!(wire.kind != "error", "{line}");
        tally.see(&wire, &index, now);
    }
    Ok(tally)
}

/// Reads the WebSocket until every session finished a turn.
async fn read_ws(ws: &mut Ws, sessions: &[String], keep: bool) -> anyhow::Result<Tally> {
    let index = index_of(sessions);
    let mut tally = Tally::new(sessions.len(), keep);
    while !tally.all_done() {
        let text = next_text(ws).await?;
        let now = Instant::now();
        let frame: Frame<'_> = serde_json::from_str(&text)?;
        match (frame.ch, frame.msg.kind) {
            ("relay", "ping") => {
                let pong = json!({"ch":"relay","msg":{"type":"pong"}});
                ws.send(Message::text(pong.to_string())).await?;
            }
            ("agent", kind) if kind != "error" => tally.see(&frame.msg, &index, now),
            _ => bail!("{text}"),
        }
    }
    Ok(tally)
}

// ----- events ---------------------------------------------------------------------------------

fn events_throughput(bins: &Bins) -> anyhow::Result<()> {
    let stack = Stack::start(bins)?;
    println!(
        "  | sessions | deltas each | path | events | events/s | relay / direct | CPU s: runner / relay / client |"
    );
    println!("  |---|---|---|---|---|---|---|");
    let runner = stack.runner_pid().context("no runner")?;
    for (n, k) in [(1usize, 100_000u32), (100, 2_000)] {
        let mut direct_rate = 0.0;
        for path in ["direct", "relay"] {
            let sessions = stack.sessions(n)?;
            let text = format!("stream:{k}");
            let prompts: Vec<Value> = sessions
                .iter()
                .enumerate()
                .map(|(i, s)| json!({"type":"prompt","id":format!("p{i}"),"session":s,"text":text}))
                .collect();
            let cpu_before = [
                cpu_s(runner),
                cpu_s(stack.relay_pid()),
                cpu_s(std::process::id()),
            ];
            let (t0, tally) = if path == "direct" {
                let mut direct = stack.direct()?;
                for s in &sessions {
                    direct.ok(&json!({"type":"session.subscribe","session":s}))?;
                }
                let t0 = Instant::now();
                for p in &prompts {
                    direct.send(p)?;
                }
                (t0, read_direct(&mut direct, &sessions, false)?)
            } else {
                runtime()?.block_on(async {
                    let mut ws = stack.ws().await?;
                    for (i, s) in sessions.iter().enumerate() {
                        agent(
                            &mut ws,
                            &json!({"type":"session.subscribe","id":format!("s{i}"),"session":s}),
                        )
                        .await?;
                    }
                    let t0 = Instant::now();
                    for p in &prompts {
                        agent(&mut ws, p).await?;
                    }
                    Ok::<_, anyhow::Error>((t0, read_ws(&mut ws, &sessions, false).await?))
                })?
            };
            let secs = tally.end.unwrap_or_else(Instant::now).duration_since(t0);
            let cpu = [
                cpu_s(runner) - cpu_before[0],
                cpu_s(stack.relay_pid()) - cpu_before[1],
                cpu_s(std::process::id()) - cpu_before[2],
            ];
            let rate = tally.events as f64 / secs.as_secs_f64();
            let ratio = if path == "direct" {
                direct_rate = rate;
                String::new()
            } else {
                format!("{:.0}%", 100.0 * rate / direct_rate)
            };
            println!(
                "  | {n} | {k} | {path} | {} | {rate:.0} | {ratio} | {:.2} / {:.2} / {:.2} |{}",
                tally.events,
                cpu[0],
                cpu[1],
                cpu[2],
                if tally.resyncs > 0 {
                    format!(" ({} resyncs)", tally.resyncs)
                } else {
                    String::new()
                }
            );
            stack.delete(&sessions)?;
        }
    }
    Ok(())
}

fn events_latency(bins: &Bins) -> anyhow::Result<()> {
    let stack = Stack::start(bins)?;
    println!(
        "  | sessions | deltas/s in all | deltas compared | relay - direct p50 | p90 | p99 | max |"
    );
    println!("  |---|---|---|---|---|---|---|---|");
    for (n, k) in [(1usize, 2_000u32), (100, 500)] {
        let sessions = stack.sessions(n)?;
        let mut direct = stack.direct()?;
        for s in &sessions {
            direct.ok(&json!({"type":"session.subscribe","session":s}))?;
        }
        let rt = runtime()?;
        let mut ws = rt.block_on(async {
            let mut ws = stack.ws().await?;
            for (i, s) in sessions.iter().enumerate() {
                agent(
                    &mut ws,
                    &json!({"type":"session.subscribe","id":format!("s{i}"),"session":s}),
                )
                .await?;
            }
            // The subscriptions are answered before the prompts go out.
            let mut answered = 0;
            while answered < sessions.len() {
                let text = next_text(&mut ws).await?;
                if text.contains("\"ok\"") {
                    answered += 1;
                }
            }
            Ok::<_, anyhow::Error>(ws)
        })?;
        let (direct_tally, relay_tally) = std::thread::scope(|scope| {
            let sessions = &sessions;
            let relay = scope.spawn(move || rt.block_on(read_ws(&mut ws, sessions, true)));
            let text = format!("stream:{k}@10");
            for (i, s) in sessions.iter().enumerate() {
                direct
                    .send(&json!({"type":"prompt","id":format!("p{i}"),"session":s,"text":text}))?;
            }
            let direct_tally = read_direct(&mut direct, sessions, true)?;
            let relay_tally = relay
                .join()
                .map_err(|_| anyhow::anyhow!("the relay reader panicked"))??;
            Ok::<_, anyhow::Error>((direct_tally, relay_tally))
        })?;
        let mut added: Vec<f64> = direct_tally
            .reads
            .iter()
            .filter_map(|(key, direct_at)| {
                let relay_at = relay_tally.reads.get(key)?;
                Some(if relay_at >= direct_at {
                    relay_at.duration_since(*direct_at).as_secs_f64() * 1e3
                } else {
                    -(direct_at.duration_since(*relay_at).as_secs_f64() * 1e3)
                })
            })
            .collect();
        added.sort_by(f64::total_cmp);
        println!(
            "  | {n} | {} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |",
            n * 100,
            added.len(),
            pct(&added, 0.5),
            pct(&added, 0.9),
            pct(&added, 0.99),
            added.last().copied().unwrap_or(f64::NAN)
        );
        ensure!(
            relay_tally.resyncs == 0 && direct_tally.resyncs == 0,
            "resyncs: relay {}, direct {}",
            relay_tally.resyncs,
            direct_tally.resyncs
        );
        stack.delete(&sessions)?;
    }
    Ok(())
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank: `q` is in [0, 1], so the index is in range.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

// ----- files ----------------------------------------------------------------------------------

const GIB: u64 = 1 << 30;

fn files_download(bins: &Bins) -> anyhow::Result<()> {
    let stack = Stack::start(bins)?;
    let work = stack.env.work();
    // Real bytes (not a sparse file), so both paths read the same page-cached data.
    let path = work.join("big.bin");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let block: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        for _ in 0..GIB >> 20 {
            file.write_all(&block)?;
        }
        file.flush()?;
    }
    let session = stack.sessions(1)?.remove(0);
    let socket = stack.env.root().join("files.sock");
    let mut server = Spawn::new(bins.dir.join("oqto-files"))
        .args([
            "--socket".as_ref(),
            socket.as_os_str(),
            "--root".as_ref(),
            work.as_os_str(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    ensure!(
        wait_until(STUCK, || UnixStream::connect(&socket).is_ok()),
        "oqto-files did not listen"
    );
    let rt = runtime()?;
    println!("  | path | bytes | seconds | MiB/s | relay / direct |");
    println!("  |---|---|---|---|---|");
    for round in 0..2 {
        let (bytes, secs) = rt.block_on(download_direct(&socket))?;
        let direct_rate = bytes as f64 / secs / f64::from(1 << 20);
        let rate = direct_rate;
        println!("  | direct (round {round}) | {bytes} | {secs:.2} | {rate:.0} | |");
        let (bytes, secs) = rt.block_on(download_relay(&stack, &session))?;
        let rate = bytes as f64 / secs / f64::from(1 << 20);
        println!(
            "  | relay (round {round}) | {bytes} | {secs:.2} | {rate:.0} | {:.0}% |",
            100.0 * rate / direct_rate
        );
    }
    let (bytes, secs) = tcp_floor()?;
    let rate = bytes as f64 / secs / f64::from(1 << 20);
    println!(
        "  | floor: 1 MiB writes over loopback TCP, no WebSocket | {bytes} | {secs:.2} | {rate:.0} | |"
    );
    let _ = server.kill();
    let _ = server.wait();
    std::fs::remove_file(&path)?;
    Ok(())
}

/// The same bytes between two threads over a loopback TCP connection: what the kernel's
/// TCP path alone allows, for scale.
fn tcp_floor() -> anyhow::Result<(u64, f64)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut stream, _) = listener.accept()?;
        let block = vec![7u8; 1 << 20];
        for _ in 0..GIB >> 20 {
            stream.write_all(&block)?;
        }
        Ok(())
    });
    let mut stream = std::net::TcpStream::connect(addr)?;
    let t0 = Instant::now();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = std::io::Read::read(&mut stream, &mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
    }
    let secs = t0.elapsed().as_secs_f64();
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer panicked"))??;
    Ok((bytes, secs))
}

async fn download_direct(socket: &Path) -> anyhow::Result<(u64, f64)> {
    let mut client = FilesClient::connect(socket, "bench").await?;
    let t0 = Instant::now();
    let id = client
        .send(FilesCommand::Read {
            path: "big.bin".into(),
            offset: None,
            length: None,
            expect: None,
        })
        .await?;
    let mut bytes = 0u64;
    loop {
        match client.next().await {
            FilesIncoming::Data(header, chunk) if header.id == id => bytes += chunk.len() as u64,
            FilesIncoming::Reply(reply_id, result) if reply_id == id => {
                ensure!(result.is_ok(), "read: {result:?}");
                break;
            }
            FilesIncoming::Closed(why) => bail!("the file server closed: {why:?}"),
            _ => {}
        }
    }
    ensure!(bytes == GIB, "read {bytes} bytes");
    Ok((bytes, t0.elapsed().as_secs_f64()))
}

async fn download_relay(stack: &Stack, session: &str) -> anyhow::Result<(u64, f64)> {
    let mut ws = stack.ws().await?;
    // The first frame for a root starts its file server: not part of the download.
    let list = json!({"ch":"files","root":session,"msg":{"id":"l","type":"list","path":""}});
    ws.send(Message::text(list.to_string())).await?;
    loop {
        let v: Value = serde_json::from_str(&next_text(&mut ws).await?)?;
        if v["msg"]["id"] == "l" {
            break;
        }
    }
    let t0 = Instant::now();
    let read = json!({"ch":"files","root":session,"msg":{"id":"r","type":"read","path":"big.bin"}});
    ws.send(Message::text(read.to_string())).await?;
    let mut bytes = 0u64;
    loop {
        let frame = tokio::time::timeout(STUCK, ws.next())
            .await?
            .context("the relay closed")??;
        match frame {
            Message::Binary(chunk) => bytes += chunk.len() as u64,
            Message::Text(text) => {
                let v: Value = serde_json::from_str(text.as_str())?;
                if v["msg"]["id"] == "r" && v["msg"]["type"] != "data" {
                    ensure!(v["msg"]["type"] == "ok", "read: {v}");
                    break;
                }
            }
            _ => {}
        }
    }
    ensure!(bytes == GIB, "read {bytes} bytes");
    Ok((bytes, t0.elapsed().as_secs_f64()))
}

// ----- idle connections and connect time ------------------------------------------------------

/// CPU time (user + system) of process `pid`, in seconds; 0 when it cannot be read.
fn cpu_s(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): utime and stime are the
    // 12th and 13th of them.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100);
    ticks as f64 / hz as f64
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

fn idle(bins: &Bins) -> anyhow::Result<()> {
    const N: usize = 1000;
    let stack = Stack::start(bins)?;
    let rt = runtime()?;
    rt.block_on(async {
        // One connection first, so that what every connection shares is counted before.
        let first = stack.ws().await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let relay_before = rss_kib(stack.relay_pid())?;
        let runner_pid = stack.runner_pid().context("no runner")?;
        let runner_before = rss_kib(runner_pid)?;
        let mut all = Vec::with_capacity(N);
        for _ in 0..N {
            all.push(stack.ws().await?);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let relay_after = rss_kib(stack.relay_pid())?;
        let runner_after = rss_kib(runner_pid)?;
        println!("  | | before (1 socket) | with {N} more | per socket |");
        println!("  |---|---|---|---|");
        for (name, before, after) in [
            ("relay RSS", relay_before, relay_after),
            ("runner RSS", runner_before, runner_after),
        ] {
            println!(
                "  | {name} | {before} KiB | {after} KiB | {:.1} KiB |",
                after.saturating_sub(before) as f64 / N as f64
            );
        }
        drop(all);
        drop(first);
        Ok(())
    })
}

fn connect(bins: &Bins) -> anyhow::Result<()> {
    const N: usize = 200;
    let stack = Stack::start(bins)?;
    let session = stack.sessions(1)?.remove(0);
    // Some history to resume from.
    let mut direct = stack.direct()?;
    direct.ok(&json!({"type":"session.subscribe","session":session}))?;
    direct.send(&json!({"type":"prompt","id":"p","session":session,"text":"stream:20"}))?;
    read_direct(&mut direct, std::slice::from_ref(&session), false)?;
    let rt = runtime()?;
    let mut upgrade = Vec::with_capacity(N);
    let mut first = Vec::with_capacity(N);
    rt.block_on(async {
        for _ in 0..N {
            let t0 = Instant::now();
            let mut ws = stack.ws().await?;
            upgrade.push(t0.elapsed().as_secs_f64() * 1e3);
            agent(
                &mut ws,
                &json!({"type":"session.subscribe","id":"s","session":session,"after_seq":1}),
            )
            .await?;
            loop {
                let text = next_text(&mut ws).await?;
                let frame: Frame<'_> = serde_json::from_str(&text)?;
                if frame.ch == "agent" && frame.msg.seq.is_some() {
                    break;
                }
            }
            first.push(t0.elapsed().as_secs_f64() * 1e3);
            ws.close(None).await?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    upgrade.sort_by(f64::total_cmp);
    first.sort_by(f64::total_cmp);
    println!("  | {N} connections | p50 | p95 | p99 |");
    println!("  |---|---|---|---|");
    for (name, v) in [
        ("connect + upgrade + cookie + hello/welcome", &upgrade),
        ("… + subscribe(after_seq) + first event", &first),
    ] {
        println!(
            "  | {name} | {:.2} ms | {:.2} ms | {:.2} ms |",
            pct(v, 0.5),
            pct(v, 0.95),
            pct(v, 0.99)
        );
    }
    Ok(())
}

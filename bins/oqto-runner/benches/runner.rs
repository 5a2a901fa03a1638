//! `cargo bench -p oqto-runner --bench runner [FILTER]`: the real `oqto-runner` binary driving
//! the real `oqto-fake-agent` (and pi, when installed), measured from the outside.
//!
//! Parts (FILTER runs those whose name contains it, e.g. `events`, `memory`, `cold`):
//!
//! * `events.throughput`: N concurrent sessions streaming `stream:K` as fast as the fake
//!   agent can write, every event read by a subscriber; aggregate events/s, and the
//!   runner-emit (`ts`) to client-read latency (millisecond resolution).
//! * `events.latency`: paced streams (`stream:K@1`, `@2`, `@10`); the precise harness-write
//!   to client-read latency, measured through a probe (this same executable started as the
//!   harness, relaying the fake agent's stdout and recording when it writes each delta).
//! * `events.floor`: the same JSON lines through a socketpair between two threads.
//! * `memory`: the runner's RSS with 0 and with 1000 idle sessions; what deleting one
//!   session and stopping the runner cost with that many harnesses alive.
//! * `cold.runner`, `cold.fake`, `cold.pi`: start-up and `session.create` times.
//!
//! The report goes to stdout; docs/benchmarks.md explains the method and records results.
//! Nothing here fails on slowness: it measures and reports.

// A benchmark's report is its output.
#![allow(clippy::print_stdout)]
// Counts, byte sizes and durations here are far below 2^52: converting them to f64 for
// the report loses nothing.
#![allow(clippy::cast_precision_loss)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use oqto_ipc::spawn::{Spawn, descendants, terminate_blocking};
use oqto_testkit::TestEnv;
use serde::Deserialize;
use serde_json::{Value, json};

/// The first argument that turns this executable into a probe harness (see [`probe`]).
const PROBE_FLAG: &str = "--oqto-bench-probe";
/// How long one read from the runner may block before a run is declared stuck.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Requests in flight per connection while setting sessions up.
const WINDOW: usize = 32;
/// `max_sessions` for every runner started here (the 1000-session parts need 1000).
const MAX_SESSIONS: usize = 1100;

type Part = fn(&Bins, &mut Shared) -> anyhow::Result<()>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(PROBE_FLAG) {
        return probe::run(&args[1..]);
    }
    // cargo passes `--bench` (and libtest flags some tools add): only a bare word filters.
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let Some(bins) = Bins::locate() else {
        return ExitCode::from(2);
    };
    let parts: [(&str, Part); 7] = [
        ("events.throughput", events_throughput),
        ("events.latency", events_latency),
        ("events.floor", events_floor),
        ("memory", memory),
        ("cold.runner", cold_runner),
        ("cold.fake", cold_fake),
        ("cold.pi", cold_pi),
    ];
    let selected: Vec<&(&str, Part)> = parts
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = parts.iter().map(|(name, _)| *name).collect();
        eprintln!(
            "no part matches {:?}; parts: {}",
            filter.unwrap_or_default(),
            names.join(", ")
        );
        return ExitCode::from(2);
    }
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!("oqto-runner benchmark");
    println!("  runner:     {}", bins.runner.display());
    println!("  fake agent: {}", bins.fake.display());
    println!("  cores:      {cores}");
    let mut shared = Shared::default();
    let started = Instant::now();
    let mut failed = false;
    for (name, part) in selected {
        println!("\n== {name}");
        let t = Instant::now();
        let before = machine_ticks();
        if let Err(e) = part(&bins, &mut shared) {
            println!("  FAILED: {e:#}");
            failed = true;
        }
        let after = machine_ticks();
        let busy = after.0.saturating_sub(before.0) as f64;
        let total = after.1.saturating_sub(before.1).max(1) as f64;
        println!(
            "  ({:.1} s; machine busy {:.0}% over the part, this benchmark included)",
            t.elapsed().as_secs_f64(),
            100.0 * busy / total
        );
    }
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The programs under test.
#[derive(Debug)]
struct Bins {
    runner: PathBuf,
    fake: PathBuf,
    /// This executable, started as the probe harness.
    me: PathBuf,
}

impl Bins {
    fn locate() -> Option<Self> {
        let runner = PathBuf::from(env!("CARGO_BIN_EXE_oqto-runner"));
        let fake = runner.with_file_name("oqto-fake-agent");
        if !fake.is_file() {
            eprintln!(
                "{} is missing: build it first with `cargo build --release -p oqto-fake-agent` \
                 (`cargo bench --workspace` builds it too)",
                fake.display()
            );
            return None;
        }
        let me = match std::env::current_exe() {
            Ok(me) => me,
            Err(e) => {
                eprintln!("cannot find this benchmark's own executable: {e}");
                return None;
            }
        };
        Some(Self { runner, fake, me })
    }
}

/// What one part leaves for a later one.
#[derive(Debug, Default)]
struct Shared {
    /// JSON lines a subscriber received in `events.throughput` (for `events.floor`).
    sample: Vec<String>,
    /// Events of the run the sample comes from.
    sample_events: usize,
}

// ----- clocks and statistics ----------------------------------------------------------------

/// Wall-clock nanoseconds since the Unix epoch (`CLOCK_REALTIME`: the same clock in every
/// process on this machine, which is what lets a probe and a client compare times).
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Nearest-rank percentile of sorted `values`, `q` in 0..=1.
fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0);
    // In 1..=len: the float came from a usize.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let index = (rank as usize).min(sorted.len()) - 1;
    sorted[index]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

fn median(values: &[Duration]) -> Duration {
    let mut v = values.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// "p50 1.23  p99 4.56  max 7.89 ms (n samples)"
fn dist_ms(sorted_ms: &[f64]) -> String {
    format!(
        "p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3} ms  ({} samples)",
        pct(sorted_ms, 0.50),
        pct(sorted_ms, 0.90),
        pct(sorted_ms, 0.99),
        sorted_ms.last().copied().unwrap_or(f64::NAN),
        sorted_ms.len()
    )
}

fn list_ms(values: &[Duration]) -> String {
    let shown: Vec<String> = values.iter().map(|d| format!("{:.1}", ms(*d))).collect();
    shown.join(" ")
}

/// `VmRSS` (or another `/proc/<pid>/status` field in kB) of a process.
fn status_kb(pid: i32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// CPU time (ns) of every thread of `pid` still alive, from `/proc/<pid>/task/*/schedstat`.
fn cpu_ns(pid: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|task| {
            let text = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            text.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

/// CPU time (ns) of the calling thread.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The machine's busy and total CPU time from the first line of `/proc/stat` (in clock
/// ticks; only their ratio is used).
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    (busy, busy + at(3) + at(4))
}

/// CPU used by the runner and by its harness processes (ns), and by the whole machine.
#[derive(Clone, Copy, Debug)]
struct Cpu {
    runner: u64,
    harnesses: u64,
    machine: (u64, u64),
}

impl Cpu {
    fn of(daemon: &Daemon, harnesses: &[i32]) -> Self {
        Self {
            runner: cpu_ns(&daemon.pid().to_string()),
            harnesses: harnesses.iter().map(|p| cpu_ns(&p.to_string())).sum(),
            machine: machine_ticks(),
        }
    }

    /// "CPU: runner 0.50 s, harnesses 0.20 s, bench client 0.10 s = 0.80 s of 1.00 s x 2 cores"
    fn report(before: Self, after: Self, client_ns: u64, wall: Duration) -> String {
        let runner = after.runner.saturating_sub(before.runner) as f64 / 1e9;
        let harnesses = after.harnesses.saturating_sub(before.harnesses) as f64 / 1e9;
        let client = client_ns as f64 / 1e9;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let busy = after.machine.0.saturating_sub(before.machine.0) as f64;
        let total = after.machine.1.saturating_sub(before.machine.1) as f64;
        let ours = runner + harnesses + client;
        format!(
            "CPU: runner {runner:.2} s, harnesses {harnesses:.2} s, bench client {client:.2} s \
             = {ours:.2} s of {:.2} s wall x {cores} cores ({:.0}%); machine busy {:.0}%",
            wall.as_secs_f64(),
            100.0 * ours / (wall.as_secs_f64() * cores as f64),
            100.0 * busy / total.max(1.0)
        )
    }
}

// ----- the runner process ---------------------------------------------------------------------

/// An `oqto-runner` in a private HOME/XDG tree.
struct Daemon {
    env: TestEnv,
    socket: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// A new tree whose `runner.toml` has `runner_keys` in `[runner]` (plus `max_sessions`
    /// and `idle_timeout = "off"`), the fake harness at `bins.fake`, then `tables`.
    fn prepare(bins: &Bins, runner_keys: &str, tables: &str) -> Self {
        let env = TestEnv::new();
        let config = format!(
            "[runner]\nmax_sessions = {MAX_SESSIONS}\nidle_timeout = \"off\"\n{runner_keys}\n\
             [harness.fake]\ncommand = \"{}\"\n{tables}\n",
            bins.fake.display()
        );
        env.write("config/oqto/runner.toml", config);
        let socket = env.runtime_dir().join("oqto/runner.sock");
        Self {
            env,
            socket,
            child: None,
        }
    }

    fn start(bins: &Bins, runner_keys: &str, tables: &str) -> anyhow::Result<Self> {
        let mut daemon = Self::prepare(bins, runner_keys, tables);
        daemon.spawn(bins)?;
        daemon.wait_ready()?;
        Ok(daemon)
    }

    fn spawn(&mut self, bins: &Bins) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.env.root().join("runner.log"))?;
        let child = Spawn::new(&bins.runner)
            .envs(self.env.vars())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls until a connect succeeds (returns then), or the runner exits.
    fn wait_connect(&mut self) -> anyhow::Result<UnixStream> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(stream) = UnixStream::connect(&self.socket) {
                return Ok(stream);
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("the runner exited ({status}):\n{}", self.log_tail());
            }
            ensure!(
                Instant::now() < deadline,
                "the runner did not come up:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let stream = self.wait_connect()?;
        Conn::handshake(stream).map(drop)
    }

    fn pid(&self) -> i32 {
        self.child
            .as_ref()
            .and_then(|c| i32::try_from(c.id()).ok())
            .unwrap_or(0)
    }

    fn connect(&self) -> anyhow::Result<Conn> {
        Conn::connect(&self.socket)
    }

    fn work(&self) -> String {
        self.env.work().display().to_string()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.env.root().join("runner.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGKILL, no clean-up.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, and how long the runner took to exit (SIGKILL after 60 s).
    fn stop(&mut self) -> Option<Duration> {
        let mut child = self.child.take()?;
        let t = Instant::now();
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).ok()?);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        while t.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = terminate_blocking(&mut child, Duration::from_secs(1));
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

// ----- a client connection ----------------------------------------------------------------

/// One line from the runner, with only the fields the benchmark looks at.
#[derive(Debug, Deserialize)]
struct Wire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    session: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    ts: Option<u64>,
    #[serde(default, borrow)]
    state: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delta: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    info: Option<InfoState<'a>>,
}

#[derive(Debug, Deserialize)]
struct InfoState<'a> {
    #[serde(borrow)]
    state: Cow<'a, str>,
}

/// A handshaken connection: a buffered reader and a writer on the same socket.
struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: usize,
}

impl Conn {
    fn connect(socket: &Path) -> anyhow::Result<Self> {
        let stream = UnixStream::connect(socket)
            .with_context(|| format!("connecting to {}", socket.display()))?;
        Self::handshake(stream)
    }

    fn handshake(stream: UnixStream) -> anyhow::Result<Self> {
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        let mut conn = Self {
            reader: BufReader::with_capacity(256 * 1024, stream.try_clone()?),
            writer: stream,
            next_id: 0,
        };
        conn.send(&json!({"type":"hello","protocol":1,"client":"oqto-bench/1"}))?;
        let welcome = conn.read_value()?;
        ensure!(welcome["type"] == "welcome", "no welcome: {welcome}");
        Ok(conn)
    }

    fn send(&mut self, value: &Value) -> anyhow::Result<()> {
        let mut line = value.to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        Ok(())
    }

    fn read_value(&mut self) -> anyhow::Result<Value> {
        let mut line = String::new();
        ensure!(
            self.reader.read_line(&mut line)? > 0,
            "the runner closed the connection"
        );
        serde_json::from_str(&line).with_context(|| format!("bad line {line:?}"))
    }

    /// Sends `requests` with at most `window` unanswered at a time and returns their answers
    /// (`ok` or `error`) in order. Events read meanwhile are dropped.
    fn pipeline(&mut self, requests: &[Value], window: usize) -> anyhow::Result<Vec<Value>> {
        let base = self.next_id;
        self.next_id += requests.len();
        let mut answers = vec![Value::Null; requests.len()];
        let (mut sent, mut got) = (0, 0);
        while got < requests.len() {
            while sent < requests.len() && sent - got < window {
                let mut request = requests[sent].clone();
                request["id"] = json!(format!("q{}", base + sent));
                self.send(&request)?;
                sent += 1;
            }
            let value = self.read_value()?;
            if !matches!(value["type"].as_str(), Some("ok" | "error")) {
                continue;
            }
            let n = value["id"]
                .as_str()
                .and_then(|id| id.strip_prefix('q')?.parse::<usize>().ok());
            if let Some(n) = n.filter(|n| (base..base + requests.len()).contains(n)) {
                answers[n - base] = value;
                got += 1;
            }
        }
        Ok(answers)
    }

    /// One request; its `result`, or the error as an `Err`.
    fn ok(&mut self, request: Value) -> anyhow::Result<Value> {
        let shown = request.to_string();
        let mut answer = self.pipeline(&[request], 1)?;
        let answer = answer.pop().unwrap_or_default();
        ensure!(answer["type"] == "ok", "{shown} -> {answer}");
        Ok(answer["result"].clone())
    }
}

// ----- sessions across connections, and reading their turns ----------------------------------

/// A connection and the sessions it is subscribed to (`global` index, id).
struct Group {
    conn: Conn,
    sessions: Vec<(usize, String)>,
}

/// Creates `n` sessions over `conns` connections (session `i` on connection `i % conns`, its
/// harness `harness(i)`), in parallel, and subscribes each on its connection (live, no
/// replay).
fn open_sessions(
    daemon: &Daemon,
    n: usize,
    conns: usize,
    harness: &(dyn Fn(usize) -> &'static str + Sync),
) -> anyhow::Result<Vec<Group>> {
    let work = daemon.work();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..conns)
            .map(|c| {
                let work = &work;
                scope.spawn(move || -> anyhow::Result<Group> {
                    let mut conn = daemon.connect()?;
                    let mine: Vec<usize> = (c..n).step_by(conns).collect();
                    let creates: Vec<Value> = mine
                        .iter()
                        .map(|&i| json!({"type":"session.create","harness":harness(i),"cwd":work}))
                        .collect();
                    let mut sessions = Vec::new();
                    for (answer, &i) in conn.pipeline(&creates, WINDOW)?.iter().zip(&mine) {
                        let id = answer["result"]["session"]["id"].as_str();
                        let Some(id) = id.filter(|_| answer["type"] == "ok") else {
                            bail!("session.create {i}: {answer}");
                        };
                        sessions.push((i, id.to_owned()));
                    }
                    let subscribes: Vec<Value> = sessions
                        .iter()
                        .map(|(_, id)| json!({"type":"session.subscribe","session":id}))
                        .collect();
                    for answer in conn.pipeline(&subscribes, WINDOW)? {
                        ensure!(answer["type"] == "ok", "session.subscribe: {answer}");
                    }
                    Ok(Group { conn, sessions })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("a setup thread panicked"))
            })
            .collect::<anyhow::Result<Vec<Group>>>()
    })
    .with_context(|| format!("runner log:\n{}", daemon.log_tail()))
}

/// What a reader saw while its sessions ran one turn each.
#[derive(Debug, Default)]
struct Seen {
    /// Lines with a `seq` (events and resyncs).
    events: usize,
    deltas: usize,
    bytes: usize,
    resyncs: usize,
    /// Sessions whose turn ended (`state` idle or error after `working`).
    finished: usize,
    expected: usize,
    /// `error` answers and unreadable lines.
    problems: Vec<String>,
    /// Per `part.delta`: client read time minus the event's `ts`, in ms (see the docs).
    ts_latency_ms: Vec<f64>,
    /// Per probe session (its id): `(delta index, client read time in ns, ts)`.
    probe_reads: HashMap<String, Vec<(u32, u64, u64)>>,
    /// When the last turn ended (or the reader gave up).
    end: Option<Instant>,
    /// The first lines read, kept for `events.floor`.
    sample: Vec<String>,
    /// CPU time of the reading thread.
    cpu_ns: u64,
}

/// The `N` of a fake agent delta `wN `.
fn delta_index(delta: &str) -> Option<u32> {
    delta.strip_prefix('w')?.trim_end().parse().ok()
}

/// Reads `reader` until every session in `sessions` finished a turn. `probe(i)` says
/// whether session `i` (global index) is a probe whose delta read times are kept. The
/// prompts are answered on this connection too: an `error` for id `p<local index>` ends
/// that session.
fn read_turns(
    reader: &mut BufReader<UnixStream>,
    sessions: &[(usize, String)],
    probe: &(dyn Fn(usize) -> bool + Sync),
    keep_lines: usize,
) -> Seen {
    let index: HashMap<&str, usize> = sessions
        .iter()
        .enumerate()
        .map(|(local, (_, id))| (id.as_str(), local))
        .collect();
    let probes: Vec<bool> = sessions.iter().map(|(i, _)| probe(*i)).collect();
    let mut working = vec![false; sessions.len()];
    let mut done = vec![false; sessions.len()];
    let mut seen = Seen {
        expected: sessions.len(),
        ..Seen::default()
    };
    let mut finish = |local: usize, seen: &mut Seen| {
        if !done[local] {
            done[local] = true;
            seen.finished += 1;
        }
    };
    let mut line = String::new();
    while seen.finished < seen.expected {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => {
                seen.problems
                    .push("the runner closed the connection".into());
                break;
            }
            Ok(_) => {}
            Err(e) => {
                seen.problems.push(format!("reading: {e}"));
                break;
            }
        }
        let now_ns = wall_ns();
        seen.bytes += line.len();
        let wire: Wire = match serde_json::from_str(&line) {
            Ok(wire) => wire,
            Err(e) => {
                seen.problems.push(format!("unreadable line ({e})"));
                continue;
            }
        };
        if wire.kind == "error" {
            seen.problems.push(line.trim_end().to_owned());
            let local = wire
                .id
                .as_deref()
                .and_then(|id| id.strip_prefix('p')?.parse().ok());
            if let Some(local) = local.filter(|l: &usize| *l < sessions.len()) {
                finish(local, &mut seen);
            }
            continue;
        }
        if wire.seq.is_none() {
            continue;
        }
        seen.events += 1;
        if seen.sample.len() < keep_lines {
            seen.sample.push(line.clone());
        }
        let Some(&local) = wire.session.as_deref().and_then(|s| index.get(s)) else {
            continue;
        };
        match wire.kind.as_ref() {
            "part.delta" => {
                seen.deltas += 1;
                if let Some(ts) = wire.ts {
                    let latency_ns = i128::from(now_ns) - i128::from(ts) * 1_000_000;
                    seen.ts_latency_ms.push(latency_ns as f64 / 1e6);
                }
                if probes[local] {
                    if let Some(n) = wire.delta.as_deref().and_then(delta_index) {
                        seen.probe_reads
                            .entry(sessions[local].1.clone())
                            .or_default()
                            .push((n, now_ns, wire.ts.unwrap_or(0)));
                    }
                }
            }
            "state" => match wire.state.as_deref() {
                Some("working") => working[local] = true,
                Some("idle" | "error") if working[local] => finish(local, &mut seen),
                _ => {}
            },
            "resync" => {
                seen.resyncs += 1;
                let state = wire.info.as_ref().map(|i| i.state.as_ref());
                if working[local] && matches!(state, Some("idle" | "error")) {
                    finish(local, &mut seen);
                }
            }
            _ => {}
        }
    }
    seen.end = Some(Instant::now());
    seen.cpu_ns = thread_cpu_ns();
    seen
}

/// Prompts every session of every group with `text` (one write per connection) and reads
/// until each finished its turn. Returns when the first prompt was written and what each
/// reader saw.
fn run_turns(
    groups: &mut [Group],
    text: &str,
    probe: &(dyn Fn(usize) -> bool + Sync),
    keep_lines: usize,
) -> anyhow::Result<(Instant, Vec<Seen>)> {
    std::thread::scope(|scope| {
        let mut writers = Vec::new();
        let mut readers = Vec::new();
        for group in groups.iter_mut() {
            let Group { conn, sessions } = group;
            let sessions: &[(usize, String)] = sessions;
            let reader = &mut conn.reader;
            readers.push(scope.spawn(move || read_turns(reader, sessions, probe, keep_lines)));
            let mut batch = String::new();
            for (local, (_, id)) in sessions.iter().enumerate() {
                let prompt =
                    json!({"type":"prompt","id":format!("p{local}"),"session":id,"text":text});
                let _ = writeln!(batch, "{prompt}");
            }
            writers.push((&mut conn.writer, batch));
        }
        let t0 = Instant::now();
        for (writer, batch) in &mut writers {
            writer.write_all(batch.as_bytes())?;
        }
        let seen = readers
            .into_iter()
            .map(|r| r.join().unwrap_or_default())
            .collect();
        Ok((t0, seen))
    })
}

/// The readers' results added up.
#[derive(Debug, Default)]
struct Totals {
    events: usize,
    deltas: usize,
    bytes: usize,
    resyncs: usize,
    finished: usize,
    expected: usize,
    problems: Vec<String>,
    ts_latency_ms: Vec<f64>,
    probe_reads: HashMap<String, Vec<(u32, u64, u64)>>,
    elapsed: Duration,
    sample: Vec<String>,
    cpu_ns: u64,
}

fn totals(t0: Instant, seen: Vec<Seen>) -> Totals {
    let mut t = Totals::default();
    for s in seen {
        t.events += s.events;
        t.deltas += s.deltas;
        t.bytes += s.bytes;
        t.resyncs += s.resyncs;
        t.finished += s.finished;
        t.expected += s.expected;
        t.problems.extend(s.problems);
        t.ts_latency_ms.extend(s.ts_latency_ms);
        t.probe_reads.extend(s.probe_reads);
        t.sample.extend(s.sample);
        t.cpu_ns += s.cpu_ns;
        if let Some(end) = s.end {
            t.elapsed = t.elapsed.max(end.duration_since(t0));
        }
    }
    t.ts_latency_ms = sorted(std::mem::take(&mut t.ts_latency_ms));
    t
}

fn print_problems(t: &Totals) {
    if t.finished < t.expected {
        println!(
            "  INCOMPLETE: {} of {} turns finished",
            t.finished, t.expected
        );
    }
    if !t.problems.is_empty() {
        println!("  {} problems, first: {}", t.problems.len(), t.problems[0]);
    }
}

// ----- events.throughput ----------------------------------------------------------------------

fn events_throughput(bins: &Bins, shared: &mut Shared) -> anyhow::Result<()> {
    println!(
        "  N sessions, one subscriber each, each prompted `stream:K` (fake agent --delay-ms 0)"
    );
    for (n, k, conns) in [(1, 100_000, 1), (100, 1_000, 4), (1000, 100, 4)] {
        let daemon = Daemon::start(bins, "", "")?;
        let setup = Instant::now();
        let mut groups = open_sessions(&daemon, n, conns, &|_| "fake")?;
        let setup = setup.elapsed();
        let keep = if n == 100 { 2_000 } else { 0 };
        let harnesses = descendants(daemon.pid());
        let before = Cpu::of(&daemon, &harnesses);
        let (t0, seen) = run_turns(&mut groups, &format!("stream:{k}"), &|_| false, keep)?;
        let after = Cpu::of(&daemon, &harnesses);
        let t = totals(t0, seen);
        let secs = t.elapsed.as_secs_f64();
        println!(
            "  N={n:<4} K={k:<6} conns={conns}: {} events ({} deltas) in {:.3} s = {:.0} events/s, \
             {:.1} MB/s read",
            t.events,
            t.deltas,
            secs,
            t.events as f64 / secs,
            t.bytes as f64 / secs / 1e6
        );
        println!(
            "    runner emit (ts) -> client read, part.delta: {}",
            dist_ms(&t.ts_latency_ms)
        );
        println!("    {}", Cpu::report(before, after, t.cpu_ns, t.elapsed));
        println!(
            "    resyncs {}; setup (create + subscribe {n}) {:.2} s",
            t.resyncs,
            setup.as_secs_f64()
        );
        print_problems(&t);
        if n == 100 {
            shared.sample_events = t.events;
            shared.sample = t.sample;
        }
        drop(groups);
        let mut daemon = daemon;
        if n >= 1000 {
            // A clean stop with this many harnesses takes long (`memory` reports it); the
            // harnesses exit on their own when their stdin closes.
            daemon.kill();
        } else if let Some(stop) = daemon.stop() {
            println!(
                "    runner stop (SIGTERM -> exit) with {n} live harnesses: {:.2} s",
                stop.as_secs_f64()
            );
        }
    }
    Ok(())
}

// ----- events.latency -------------------------------------------------------------------------

fn events_latency(bins: &Bins, _shared: &mut Shared) -> anyhow::Result<()> {
    println!("  paced streams `stream:K@P`; every `probe_every`-th session runs behind the probe");
    for (n, k, pace, conns, probe_every) in [
        (1, 2_000, 1, 1, 1),
        (100, 1_000, 1, 4, 10),
        (100, 500, 2, 4, 10),
        (100, 200, 10, 4, 10),
    ] {
        let marks = tempfile::Builder::new()
            .prefix("oqto-bench-marks-")
            .tempdir()?;
        let tables = format!(
            "[harness.probe]\nkind = \"native\"\ncommand = \"{}\"\nargs = [\"{PROBE_FLAG}\", \"{}\", \"{}\"]\n",
            bins.me.display(),
            bins.fake.display(),
            marks.path().display()
        );
        let mut daemon = Daemon::prepare(bins, "", &tables);
        // The probe starts the fake agent from target/ and writes its marks to /tmp, which
        // the sandbox hides. The measured path (harness stdout -> runner -> client) is the
        // same confined or not: bwrap hands the pipes to the harness as they are.
        daemon
            .env
            .write("config/oqto/sandbox.toml", "enabled = false\n");
        daemon.spawn(bins)?;
        daemon.wait_ready()?;
        let is_probe = move |i: usize| i % probe_every == 0;
        let mut groups = open_sessions(&daemon, n, conns, &|i| {
            if is_probe(i) { "probe" } else { "fake" }
        })?;
        let harnesses = descendants(daemon.pid());
        let before = Cpu::of(&daemon, &harnesses);
        let text = format!("stream:{k}@{pace}");
        let (t0, seen) = run_turns(&mut groups, &text, &is_probe, 0)?;
        let after = Cpu::of(&daemon, &harnesses);
        let t = totals(t0, seen);
        let probed = match_probe_marks(marks.path(), &t.probe_reads)?;
        let secs = t.elapsed.as_secs_f64();
        println!(
            "  N={n:<4} `{text}` probes={}: {} events in {:.3} s = {:.0} events/s; \
             deltas written {:.3} ms apart (mean, probe sessions)",
            t.probe_reads.len(),
            t.events,
            secs,
            t.events as f64 / secs,
            probed.spacing_ms
        );
        println!(
            "    harness write -> client read (probe, us clock): {}",
            dist_ms(&probed.total)
        );
        println!(
            "      without each turn's first {WARM_UP_DELTAS} deltas:       {}",
            dist_ms(&probed.steady)
        );
        println!(
            "    runner emit (ts, ms clock) -> client read:      {}",
            dist_ms(&t.ts_latency_ms)
        );
        println!(
            "    slowest 1% of probe deltas (>= {:.3} ms): median write -> ts {:.3} ms, \
             ts -> read {:.3} ms (ms clock: +-1 ms); their delta index: p10 {:.0} p50 {:.0} \
             p90 {:.0} of {k}",
            pct(&probed.total, 0.99),
            pct(&probed.tail_to_emit, 0.5),
            pct(&probed.tail_from_emit, 0.5),
            pct(&probed.tail_index, 0.1),
            pct(&probed.tail_index, 0.5),
            pct(&probed.tail_index, 0.9)
        );
        println!(
            "    {}; resyncs {}",
            Cpu::report(before, after, t.cpu_ns, t.elapsed),
            t.resyncs
        );
        print_problems(&t);
    }
    Ok(())
}

/// Deltas at the start of a turn, left out of the "steady" latency: with 100 sessions
/// prompted at once, the runner's work at the start of the turns delays them.
const WARM_UP_DELTAS: u32 = 20;

/// The probe sessions' deltas, each paired with the time the probe wrote it.
#[derive(Debug)]
struct Probed {
    /// Harness write to client read, ms, sorted.
    total: Vec<f64>,
    /// The same without the first [`WARM_UP_DELTAS`] deltas of each turn, sorted.
    steady: Vec<f64>,
    /// For the deltas at or above the 99th percentile of `total`: write to `ts`, and `ts`
    /// to read, ms, sorted (`ts` is whole milliseconds, rounded down).
    tail_to_emit: Vec<f64>,
    tail_from_emit: Vec<f64>,
    /// The delta indexes (1 = first of the turn) of those slowest deltas, sorted.
    tail_index: Vec<f64>,
    /// Mean time between two deltas written by the same probe, ms.
    spacing_ms: f64,
}

/// Pairs each delta a probe session's subscriber read with the time the probe wrote it.
fn match_probe_marks(
    dir: &Path,
    reads: &HashMap<String, Vec<(u32, u64, u64)>>,
) -> anyhow::Result<Probed> {
    // (total, write -> ts, ts -> read), ms, and the delta index.
    let mut pairs: Vec<(f64, f64, f64, u32)> = Vec::new();
    let (mut spacing_ns, mut gaps) = (0u64, 0u64);
    for (session, reads) in reads {
        let path = dir.join(format!("{session}.marks"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the probe's marks {}", path.display()))?;
        let mut written: HashMap<u32, u64> = HashMap::new();
        let mut times = Vec::new();
        for line in text.lines() {
            let mut fields = line.split(' ');
            let (Some(n), Some(t)) = (fields.next(), fields.next()) else {
                continue;
            };
            let (Ok(n), Ok(t)) = (n.parse::<u32>(), t.parse::<u64>()) else {
                continue;
            };
            written.insert(n, t);
            times.push(t);
        }
        if let (Some(first), Some(last)) = (times.first(), times.last()) {
            spacing_ns += last.saturating_sub(*first);
            gaps += u64::try_from(times.len().saturating_sub(1)).unwrap_or(0);
        }
        for (n, read, ts) in reads {
            if let Some(write) = written.get(n) {
                let (write, read, emit) = (
                    i128::from(*write),
                    i128::from(*read),
                    i128::from(*ts) * 1_000_000,
                );
                pairs.push((
                    (read - write) as f64 / 1e6,
                    (emit - write) as f64 / 1e6,
                    (read - emit) as f64 / 1e6,
                    *n,
                ));
            }
        }
    }
    let total = sorted(pairs.iter().map(|p| p.0).collect());
    let steady = sorted(
        pairs
            .iter()
            .filter(|p| p.3 > WARM_UP_DELTAS)
            .map(|p| p.0)
            .collect(),
    );
    let cut = pct(&total, 0.99);
    let tail: Vec<&(f64, f64, f64, u32)> = pairs.iter().filter(|p| p.0 >= cut).collect();
    Ok(Probed {
        total,
        steady,
        tail_to_emit: sorted(tail.iter().map(|p| p.1).collect()),
        tail_from_emit: sorted(tail.iter().map(|p| p.2).collect()),
        tail_index: sorted(tail.iter().map(|p| f64::from(p.3)).collect()),
        spacing_ms: if gaps == 0 {
            f64::NAN
        } else {
            spacing_ns as f64 / gaps as f64 / 1e6
        },
    })
}

// ----- events.floor ---------------------------------------------------------------------------

fn events_floor(_bins: &Bins, shared: &mut Shared) -> anyhow::Result<()> {
    let (lines, total, source) = if shared.sample.is_empty() {
        (synthetic_lines(), 101_000, "synthetic part.delta lines")
    } else {
        (
            shared.sample.clone(),
            shared.sample_events,
            "the first lines the N=100 subscribers read, repeated",
        )
    };
    let bytes: usize = (0..total).map(|i| lines[i % lines.len()].len()).sum();
    println!(
        "  {total} lines, {:.1} MB ({source}), writer thread -> reader thread",
        bytes as f64 / 1e6
    );
    for parse in [false, true] {
        let (a, b) = UnixStream::pair()?;
        let t = Instant::now();
        let count = std::thread::scope(|scope| {
            let lines = &lines;
            scope.spawn(move || -> std::io::Result<()> {
                let mut out = BufWriter::with_capacity(64 * 1024, a);
                for i in 0..total {
                    out.write_all(lines[i % lines.len()].as_bytes())?;
                }
                out.flush()
            });
            read_floor(b, parse)
        })?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "  socketpair, reader {}: {count} lines in {:.3} s = {:.0} lines/s, {:.0} MB/s",
            if parse {
                "read_line + envelope parse (as the bench client)"
            } else {
                "read_line only"
            },
            secs,
            count as f64 / secs,
            bytes as f64 / secs / 1e6
        );
    }
    Ok(())
}

fn read_floor(stream: UnixStream, parse: bool) -> anyhow::Result<usize> {
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let mut line = String::new();
    let mut count = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        count += 1;
        if parse {
            // What the bench client does per line: a clock read and the envelope parse.
            let now = wall_ns();
            let wire: Wire = serde_json::from_str(&line)?;
            std::hint::black_box((now, wire.seq, wire.ts));
        }
    }
    Ok(count)
}

fn synthetic_lines() -> Vec<String> {
    (1..=1000)
        .map(|n| {
            format!(
                "{{\"type\":\"part.delta\",\"message_id\":\"msg_01jd8x4m7f2a\",\"part_id\":\"prt_01jd8x4m7f2c\",\
                 \"delta\":\"w{n} \",\"session\":\"ses_01jd8x4k2m9q\",\"seq\":{},\"ts\":1795515913159}}\n",
                n + 9
            )
        })
        .collect()
}

// ----- memory -----------------------------------------------------------------------------------

fn memory(bins: &Bins, _shared: &mut Shared) -> anyhow::Result<()> {
    const N: usize = 1000;
    let daemon = Daemon::start(bins, "", "")?;
    let pid = daemon.pid();
    let mut control = daemon.connect()?;
    std::thread::sleep(Duration::from_millis(300));
    let rss0 = status_kb(pid, "VmRSS")?;
    let threads0 = status_kb(pid, "Threads")?;
    let mut groups = open_sessions(&daemon, N, 4, &|_| "fake")?;
    let (t0, seen) = run_turns(&mut groups, "hi", &|_| false, 0)?;
    let t = totals(t0, seen);
    print_problems(&t);
    std::thread::sleep(Duration::from_millis(300));
    let rss_subscribed = status_kb(pid, "VmRSS")?;
    let threads_subscribed = status_kb(pid, "Threads")?;
    for group in &mut groups {
        let unsubscribes: Vec<Value> = group
            .sessions
            .iter()
            .map(|(_, id)| json!({"type":"session.unsubscribe","session":id}))
            .collect();
        for answer in group.conn.pipeline(&unsubscribes, WINDOW)? {
            ensure!(answer["type"] == "ok", "session.unsubscribe: {answer}");
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let rss_unsubscribed = status_kb(pid, "VmRSS")?;
    // Extra threads the turns made (tokio's blocking pool) retire after their keep-alive.
    let settle = Instant::now();
    while status_kb(pid, "Threads")? > threads0 && settle.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(250));
    }
    let settled = settle.elapsed();
    let rss_idle = status_kb(pid, "VmRSS")?;
    let threads_idle = status_kb(pid, "Threads")?;
    let hwm = status_kb(pid, "VmHWM")?;
    let status = control.ok(json!({"type":"runner.status"}))?;
    let harnesses = descendants(pid);
    let harness_rss: u64 = harnesses
        .iter()
        .filter_map(|&p| status_kb(p, "VmRSS").ok())
        .sum();
    let per = |rss: u64| (rss.saturating_sub(rss0)) as f64 / N as f64;
    println!("  runner RSS, 0 sessions (one client connected): {rss0} kB, {threads0} threads");
    println!(
        "  {N} sessions, each after one `hi` turn, subscribed (+0.3 s): {rss_subscribed} kB, \
         {threads_subscribed} threads -> {:.1} kB per session",
        per(rss_subscribed)
    );
    println!(
        "  after unsubscribing all (+0.3 s): {rss_unsubscribed} kB -> {:.1} kB per session",
        per(rss_unsubscribed)
    );
    println!(
        "  idle, {:.1} s later: {rss_idle} kB, {threads_idle} threads -> {:.1} kB ({:.3} MB) per session",
        settled.as_secs_f64(),
        per(rss_idle),
        per(rss_idle) / 1024.0
    );
    println!(
        "  runner VmHWM {hwm} kB; live_sessions {}; {} harness processes, {:.1} MB RSS together \
         (not included above)",
        status["status"]["live_sessions"],
        harnesses.len(),
        harness_rss as f64 / 1024.0
    );
    // What stopping one session costs while this many harnesses are alive.
    let mut deletes = Vec::new();
    for (_, id) in groups[0].sessions.iter().take(5) {
        let t = Instant::now();
        control.ok(json!({"type":"session.delete","session":id}))?;
        deletes.push(t.elapsed());
    }
    println!(
        "  session.delete of one session with {N} harnesses alive: median {:.1} ms [{}]",
        ms(median(&deletes)),
        list_ms(&deletes)
    );
    let left = N - deletes.len();
    drop(groups);
    let mut daemon = daemon;
    if let Some(stop) = daemon.stop() {
        println!(
            "  runner stop (SIGTERM -> exit) with {left} live harnesses: {:.2} s",
            stop.as_secs_f64()
        );
    }
    Ok(())
}

// ----- cold -------------------------------------------------------------------------------------

fn cold_runner(bins: &Bins, _shared: &mut Shared) -> anyhow::Result<()> {
    const RUNS: usize = 10;
    for fresh in [true, false] {
        let (mut connect, mut welcome) = (Vec::new(), Vec::new());
        let mut daemon = Daemon::prepare(bins, "", "");
        for _ in 0..RUNS {
            if fresh {
                daemon = Daemon::prepare(bins, "", "");
            }
            let t = Instant::now();
            daemon.spawn(bins)?;
            let stream = daemon.wait_connect()?;
            connect.push(t.elapsed());
            Conn::handshake(stream)?;
            welcome.push(t.elapsed());
            daemon.stop();
        }
        println!(
            "  {}: spawn -> connect succeeds: median {:.2} ms [{}]; -> welcome read: median {:.2} ms [{}]",
            if fresh {
                "fresh data dir (creates history.db)"
            } else {
                "existing data dir"
            },
            ms(median(&connect)),
            list_ms(&connect),
            ms(median(&welcome)),
            list_ms(&welcome)
        );
    }
    Ok(())
}

fn cold_fake(bins: &Bins, _shared: &mut Shared) -> anyhow::Result<()> {
    const RUNS: usize = 20;
    let daemon = Daemon::start(bins, "", "")?;
    let mut conn = daemon.connect()?;
    let work = daemon.work();
    let (mut created, mut first, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..=RUNS {
        let (answer_at, event_at, delete) = create_then_first_event(&mut conn, "fake", &work)?;
        if run > 0 {
            created.push(answer_at);
            first.push(event_at);
            deleted.push(delete);
        }
    }
    println!(
        "  runner, fake agent: session.create -> ok: median {:.2} ms; -> first event \
         (session.created, seq 1): median {:.2} ms [{}]",
        ms(median(&created)),
        ms(median(&first)),
        list_ms(&first)
    );
    let mut bare = Vec::new();
    for run in 0..=RUNS {
        let t = bare_fake(bins, &daemon.env.work())?;
        if run > 0 {
            bare.push(t);
        }
    }
    println!(
        "  session.delete of that session (the only harness alive): median {:.2} ms [{}]",
        ms(median(&deleted)),
        list_ms(&deleted)
    );
    println!(
        "  bare oqto-fake-agent, spawn -> `ready` answer to init: median {:.2} ms [{}]",
        ms(median(&bare)),
        list_ms(&bare)
    );
    println!(
        "  runner overhead on session.create (medians): {:.2} ms",
        ms(median(&created)) - ms(median(&bare))
    );
    Ok(())
}

/// `session.create`, then `session.subscribe {after_seq: 0}` as soon as its `ok` is read;
/// the times from writing the create to reading its `ok`, and to reading the first event.
/// Then the session is deleted: the third time is that request's.
fn create_then_first_event(
    conn: &mut Conn,
    harness: &str,
    cwd: &str,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let t = Instant::now();
    let result = conn.ok(json!({"type":"session.create","harness":harness,"cwd":cwd}))?;
    let answered = t.elapsed();
    let id = result["session"]["id"]
        .as_str()
        .context("session.create without an id")?
        .to_owned();
    conn.send(&json!({"type":"session.subscribe","id":"first","session":id,"after_seq":0}))?;
    let first = loop {
        let value = conn.read_value()?;
        if value.get("seq").is_some() && value["session"] == id.as_str() {
            break t.elapsed();
        }
        ensure!(value["type"] != "error", "session.subscribe: {value}");
    };
    let t = Instant::now();
    conn.ok(json!({"type":"session.delete","session":id}))?;
    Ok((answered, first, t.elapsed()))
}

/// Spawn → `ready` of a fake agent without the runner.
fn bare_fake(bins: &Bins, cwd: &Path) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut child = Spawn::new(&bins.fake)
        .env_inherit(["PATH", "HOME", "LANG"])
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let init = json!({"id":"1","type":"init","protocol":1,"session":"ses_bench","cwd":cwd});
    let elapsed = answer_of(&mut child, &format!("{init}\n"), |v| {
        v["type"] == "ok" && v["id"] == "1"
    })
    .map(|()| t.elapsed());
    drop(child.stdin.take());
    let _ = terminate_blocking(&mut child, Duration::from_secs(2));
    elapsed
}

/// Writes `request` to the child's stdin and reads its stdout until a line matches `done`.
fn answer_of(
    child: &mut Child,
    request: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<()> {
    child
        .stdin
        .as_mut()
        .context("stdin")?
        .write_all(request.as_bytes())?;
    let mut out = BufReader::new(child.stdout.as_mut().context("stdout")?);
    let mut line = String::new();
    loop {
        line.clear();
        ensure!(out.read_line(&mut line)? > 0, "the process closed stdout");
        if serde_json::from_str::<Value>(&line).is_ok_and(|v| done(&v)) {
            return Ok(());
        }
    }
}

fn cold_pi(bins: &Bins, _shared: &mut Shared) -> anyhow::Result<()> {
    const RUNS: usize = 5;
    let pi = oqto_testkit::workspace_root().join(".local/pi/bin/pi");
    if !pi.is_file() {
        println!("  skipped: {} not installed (scripts/setup)", pi.display());
        return Ok(());
    }
    let llm = oqto_fake_llm_core::Background::start(oqto_fake_llm_core::Config::default())?;
    let agent_dir = tempfile::Builder::new()
        .prefix("oqto-bench-pi-")
        .tempdir()?;
    oqto_fake_llm_core::write_pi_agent_dir(agent_dir.path(), &llm.base_url())?;
    let tables = format!(
        "[harness.pi]\ncommand = \"{}\"\nenv = {{ PI_CODING_AGENT_DIR = \"{}\", PI_OFFLINE = \"1\" }}\n",
        pi.display(),
        agent_dir.path().display()
    );
    let daemon = Daemon::start(bins, "", &tables)?;
    let mut conn = daemon.connect()?;
    let work = daemon.work();
    let home = daemon.env.home();
    let (mut created, mut first, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    // Alternating, after one untimed warm-up of each.
    for run in 0..=RUNS {
        let t = bare_pi(&pi, agent_dir.path(), &home, &daemon.env.work())?;
        let (answer_at, event_at, _) = create_then_first_event(&mut conn, "pi", &work)?;
        if run > 0 {
            bare.push(t);
            created.push(answer_at);
            first.push(event_at);
        }
    }
    println!(
        "  bare `pi --mode rpc`, spawn -> get_state response: median {:.1} ms [{}]",
        ms(median(&bare)),
        list_ms(&bare)
    );
    println!(
        "  runner, pi: session.create -> ok (waits for pi's get_state): median {:.1} ms [{}]; \
         -> first event: median {:.1} ms",
        ms(median(&created)),
        list_ms(&created),
        ms(median(&first))
    );
    println!(
        "  runner overhead on session.create (medians): {:.1} ms",
        ms(median(&created)) - ms(median(&bare))
    );
    Ok(())
}

/// Spawn → `get_state` response of `pi --mode rpc` with the environment the runner gives it.
fn bare_pi(pi: &Path, agent_dir: &Path, home: &Path, cwd: &Path) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut child = Spawn::new(pi)
        .args(["--mode", "rpc"])
        .env_inherit(["PATH", "LANG", "TERM"])
        .env("HOME", home)
        .env("PI_CODING_AGENT_DIR", agent_dir)
        .env("PI_OFFLINE", "1")
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let elapsed = answer_of(
        &mut child,
        "{\"id\":\"bench-1\",\"type\":\"get_state\"}\n",
        |v| v["type"] == "response" && v["id"] == "bench-1",
    )
    .map(|()| t.elapsed());
    drop(child.stdin.take());
    let _ = terminate_blocking(&mut child, Duration::from_secs(2));
    elapsed
}

// ----- the probe harness --------------------------------------------------------------------

/// This executable as a harness: `<exe> --oqto-bench-probe <fake agent> <marks dir>` starts
/// the fake agent, passes the runner's requests to it unchanged, and relays its stdout line
/// by line to the runner. Just before writing a `part.delta` line it notes the wall clock;
/// just before relaying the `state idle` that ends a turn it writes the turn's notes to
/// `<marks dir>/<session>.marks` (`<delta index> <ns>` per line), so they are on disk before
/// any subscriber can see the turn end. The runner reads the probe's stdout exactly as it
/// reads a harness's: the time noted is when "the harness" wrote the line.
mod probe {
    use super::{
        Arc, BufRead, BufReader, ExitCode, Mutex, Path, Read, Spawn, Stdio, Value, Write, wall_ns,
    };
    use anyhow::Context as _;
    use std::fmt::Write as _;

    pub fn run(args: &[String]) -> ExitCode {
        match relay(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("oqto bench probe: {e:#}");
                ExitCode::from(1)
            }
        }
    }

    fn relay(args: &[String]) -> anyhow::Result<ExitCode> {
        let [fake, dir] = args else {
            anyhow::bail!("usage: {} FAKE_AGENT MARKS_DIR", super::PROBE_FLAG);
        };
        let mut child = Spawn::new(fake)
            .envs(std::env::vars_os())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let to_agent = child.stdin.take().context("agent stdin")?;
        let from_agent = child.stdout.take().context("agent stdout")?;
        let session = Arc::new(Mutex::new(None::<String>));
        let named = Arc::clone(&session);
        std::thread::spawn(move || forward_requests(std::io::stdin(), to_agent, &named));

        let mut reader = BufReader::new(from_agent);
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let mut marks: Vec<(u32, u64)> = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            if line.starts_with("{\"type\":\"state\",\"state\":\"idle\"") && !marks.is_empty() {
                let name = session.lock().ok().and_then(|s| s.clone());
                write_marks(Path::new(dir), name.as_deref(), &marks)?;
                marks.clear();
            }
            if let Some(n) = delta_of(&line) {
                marks.push((n, wall_ns()));
            }
            out.write_all(line.as_bytes())?;
            out.flush()?;
        }
        drop(out);
        let status = child.wait()?;
        Ok(ExitCode::from(
            status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(1),
        ))
    }

    /// Copies the runner's lines to the agent; learns the session id from `init`.
    fn forward_requests(
        from_runner: impl Read,
        mut to_agent: impl Write,
        session: &Mutex<Option<String>>,
    ) {
        let mut from_runner = BufReader::new(from_runner);
        let mut line = String::new();
        loop {
            line.clear();
            match from_runner.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if let Ok(request) = serde_json::from_str::<Value>(&line) {
                if request["type"] == "init" {
                    if let (Some(id), Ok(mut slot)) = (request["session"].as_str(), session.lock())
                    {
                        *slot = Some(id.to_owned());
                    }
                }
            }
            if to_agent.write_all(line.as_bytes()).is_err() || to_agent.flush().is_err() {
                return;
            }
        }
    }

    /// The index N of a fake agent's `part.delta` line whose delta is `wN `.
    fn delta_of(line: &str) -> Option<u32> {
        if !line.starts_with("{\"type\":\"part.delta\"") {
            return None;
        }
        let rest = &line[line.find("\"delta\":\"w")? + 10..];
        let digits = &rest[..rest.find(|c: char| !c.is_ascii_digit())?];
        digits.parse().ok()
    }

    fn write_marks(dir: &Path, session: Option<&str>, marks: &[(u32, u64)]) -> anyhow::Result<()> {
        let name = session.map_or_else(|| format!("pid-{}", std::process::id()), str::to_owned);
        let mut text = String::with_capacity(marks.len() * 24);
        for (n, t) in marks {
            let _ = writeln!(text, "{n} {t}");
        }
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(format!("{name}.marks")))?;
        Ok(())
    }
}

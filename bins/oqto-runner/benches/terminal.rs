//! `cargo bench -p oqto-runner --bench terminal`: a terminal of the real `oqto-runner`
//! (started through the real `oqto-sandbox`), driven over the socket with raw frames.
//!
//! * `terminal.echo`: keystroke round trip: one input byte written by the client until the
//!   program's echo of it (`cat` on a raw-mode terminal) is read back; p50 / p99.
//! * `terminal.cat`: output throughput: 200 MB written by `head` inside the terminal to
//!   one attached client that reads as fast as it can.
//!
//! The report goes to stdout; docs/benchmarks.md records results. Nothing here fails on
//! slowness. ttyd, for the side-by-side comparison the issue asks for, is not measured
//! here (see docs/benchmarks.md).

// A benchmark's report is its output.
#![allow(clippy::print_stdout)]
// Counts and durations here are far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use oqto_ipc::spawn::{Spawn, terminate_blocking};
use oqto_testkit::{TestEnv, wait_until};
use serde_json::{Value, json};

const SAMPLES: usize = 2000;
const CAT_BYTES: u64 = 200_000_000;

struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next: u64,
}

/// One thing read: a line, and for `terminal.output` its bytes.
struct Item {
    value: Value,
    bytes: Vec<u8>,
}

impl Conn {
    fn connect(socket: &std::path::Path) -> anyhow::Result<Self> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut conn = Self {
            reader: BufReader::with_capacity(256 << 10, stream.try_clone()?),
            writer: stream,
            next: 0,
        };
        conn.writer
            .write_all(b"{\"type\":\"hello\",\"protocol\":1,\"client\":\"bench/1\"}\n")?;
        conn.read()?;
        Ok(conn)
    }

    fn read(&mut self) -> anyhow::Result<Item> {
        let mut line = Vec::new();
        if self.reader.read_until(b'\n', &mut line)? == 0 {
            bail!("the runner closed the connection");
        }
        let value: Value = serde_json::from_slice(&line)?;
        let mut bytes = Vec::new();
        if value["type"] == "terminal.output" {
            let len = usize::try_from(value["len"].as_u64().unwrap_or(0))?;
            bytes.resize(len, 0);
            self.reader.read_exact(&mut bytes)?;
        }
        Ok(Item { value, bytes })
    }

    fn send(&mut self, mut request: Value, bytes: &[u8]) -> anyhow::Result<()> {
        self.next += 1;
        request["id"] = json!(format!("b{}", self.next));
        let mut line = request.to_string().into_bytes();
        line.push(b'\n');
        line.extend_from_slice(bytes);
        self.writer.write_all(&line)?;
        Ok(())
    }

    fn ok(&mut self, request: Value) -> anyhow::Result<Value> {
        self.send(request, b"")?;
        let id = format!("b{}", self.next);
        loop {
            let item = self.read()?;
            if item.value["id"] == id.as_str() {
                if item.value["type"] != "ok" {
                    bail!("{}", item.value);
                }
                return Ok(item.value["result"].clone());
            }
        }
    }

    /// Opens `script` under `sh -c` and attaches from the start; returns the terminal's id
    /// once the script printed `ready`.
    fn open(&mut self, work: &str, script: &str) -> anyhow::Result<String> {
        let info = self.ok(
            json!({"type":"terminal.open","cwd":work,"cols":80,"rows":24,
            "command":["/bin/sh","-c",script]}),
        )?;
        let id = info["terminal"]["id"].as_str().context("id")?.to_owned();
        self.ok(json!({"type":"terminal.attach","terminal":id,"after_offset":0}))?;
        let mut seen = Vec::new();
        while !seen.windows(5).any(|w| w == b"ready") {
            seen.extend(self.read()?.bytes);
        }
        Ok(id)
    }

    fn input(&mut self, terminal: &str, bytes: &[u8]) -> anyhow::Result<()> {
        self.send(
            json!({"type":"terminal.input","terminal":terminal,"len":bytes.len()}),
            bytes,
        )
    }
}

/// The `per_mille`-th value of `sorted` (nearest rank).
fn pct(sorted: &[f64], per_mille: usize) -> f64 {
    sorted[((sorted.len() - 1) * per_mille + 500) / 1000]
}

fn echo(conn: &mut Conn, work: &str) -> anyhow::Result<()> {
    let id = conn.open(work, "stty raw -echo; echo ready; exec cat")?;
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES + 100 {
        let key = b'a' + u8::try_from(i % 26)?;
        let start = Instant::now();
        conn.input(&id, &[key])?;
        loop {
            let item = conn.read()?;
            if item.bytes.contains(&key) {
                break;
            }
        }
        // The first 100 warm up.
        if i >= 100 {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "terminal.echo   oqto-runner  {SAMPLES} keystrokes: p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        pct(&times, 500),
        pct(&times, 990),
        times[times.len() - 1]
    );
    conn.ok(json!({"type":"terminal.close","terminal":id}))?;
    Ok(())
}

fn cat(conn: &mut Conn, work: &str) -> anyhow::Result<()> {
    let script =
        format!("stty raw -echo; echo ready; read x; head -c {CAT_BYTES} /dev/zero; exit 0");
    let id = conn.open(work, &script)?;
    let start = Instant::now();
    conn.input(&id, b"\n")?;
    let mut bytes = 0u64;
    loop {
        let item = conn.read()?;
        bytes += item.bytes.len() as u64;
        if item.value["type"] == "terminal.closed" {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "terminal.cat    oqto-runner  {} MB in {secs:.2} s: {:.0} MB/s",
        bytes / 1_000_000,
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runner = PathBuf::from(env!("CARGO_BIN_EXE_oqto-runner"));
    let sandbox = runner.with_file_name("oqto-sandbox");
    if !sandbox.exists() {
        bail!(
            "{} is missing: run `cargo build --release -p oqto-sandbox` first",
            sandbox.display()
        );
    }
    let env = TestEnv::new();
    env.write("config/oqto/runner.toml", "");
    let socket = env.runtime_dir().join("oqto/runner.sock");
    let mut child = Spawn::new(&runner)
        .envs(env.vars())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    if !wait_until(Duration::from_secs(20), || {
        oqto_ipc::socket::is_live(&socket)
    }) {
        bail!("the runner did not come up");
    }
    let work = env.work().display().to_string();
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let result = (|| {
        let mut conn = Conn::connect(&socket)?;
        if filter
            .as_deref()
            .is_none_or(|f| "terminal.echo".contains(f))
        {
            echo(&mut conn, &work)?;
        }
        if filter.as_deref().is_none_or(|f| "terminal.cat".contains(f)) {
            cat(&mut conn, &work)?;
        }
        anyhow::Ok(())
    })();
    let _ = terminate_blocking(&mut child, Duration::from_secs(5));
    if which_ttyd().is_none() {
        println!("ttyd            not installed: no side-by-side numbers in this run");
    }
    result
}

fn which_ttyd() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("ttyd"))
            .find(|p| p.exists())
    })
}

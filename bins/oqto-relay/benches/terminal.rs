//! `cargo bench -p oqto-relay --bench terminal`: terminals side by side in one run, with
//! one client: directly over the runner's socket (raw frames), through `oqto-relay` (its
//! `terminal` channel, binary WebSocket frames), and through ttyd when one is found
//! (`OQTO_TTYD_BIN`, else `ttyd` on `PATH`).
//!
//! * `echo`: keystroke round trip, one byte written until the program's echo of it (`cat`
//!   on a raw-mode terminal) is read back; p50 / p99 of 2000 after 100 warm-up ones.
//! * `cat`: `head -c 200000000 /dev/zero` inside the terminal to one client reading as
//!   fast as it can, from the keystroke that starts it to the last byte.
//! * `memory`: the runner's RSS with no terminal, with N idle ones (a shell that printed a
//!   line), and with N whose rings are full.
//!
//! The runner's terminals run through the real `oqto-sandbox`; ttyd runs the same command
//! unconfined (it has no sandbox). The report goes to stdout; docs/benchmarks.md records
//! results. Nothing here fails on slowness.

// A benchmark's report is its output.
#![allow(clippy::print_stdout)]
// Counting NUL bytes of a 200 MB stream needs no extra crate.
#![allow(clippy::naive_bytecount)]
// Counts and durations here are far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::{SinkExt, StreamExt};
use oqto_client::{RawClient, RawReceiver, RawSender};
use oqto_ipc::spawn::{Spawn, terminate_blocking};
use oqto_protocol::TerminalBytes;
use oqto_testkit::{TestEnv, contains, proc_kib, wait_until};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WARMUP: usize = 100;
const SAMPLES: usize = 2000;
const CAT_BYTES: usize = 200_000_000;
const IDLE_TERMINALS: usize = 20;
const ECHO: &str = "stty raw -echo; echo ready; exec cat";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One terminal, over one of the three ways in.
enum Term {
    Direct {
        tx: RawSender,
        rx: RawReceiver,
        id: String,
    },
    Relay {
        ws: Ws,
        id: String,
    },
    Ttyd {
        ws: Ws,
        server: Child,
    },
}

fn cat_script() -> String {
    format!("stty raw -echo; echo ready; read x; head -c {CAT_BYTES} /dev/zero; exec sleep 100")
}

impl Term {
    fn name(&self) -> &'static str {
        match self {
            Term::Direct { .. } => "direct",
            Term::Relay { .. } => "relay",
            Term::Ttyd { .. } => "ttyd",
        }
    }

    async fn direct(socket: &Path, work: &str, script: &str) -> anyhow::Result<Self> {
        let RawClient {
            sender: mut tx,
            receiver: mut rx,
            ..
        } = RawClient::connect(socket, "bench/direct").await?;
        let open = json!({"id":"o","type":"terminal.open","cwd":work,"cols":80,"rows":24,
            "command":["/bin/sh","-c",script]});
        tx.send_line(&open.to_string()).await?;
        let id = loop {
            let line = rx.next_line().await?.context("closed")?;
            let value: Value = serde_json::from_str(&line)?;
            if value["id"] == "o" {
                break value["result"]["terminal"]["id"]
                    .as_str()
                    .with_context(|| line.clone())?
                    .to_owned();
            }
        };
        let attach = json!({"id":"a","type":"terminal.attach","terminal":id,"after_offset":0});
        tx.send_line(&attach.to_string()).await?;
        let mut term = Term::Direct { tx, rx, id };
        term.until(b"ready").await?;
        Ok(term)
    }

    async fn relay(url: &str, token: &str, work: &str, script: &str) -> anyhow::Result<Self> {
        let mut request = format!("{url}/ws").into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
        let send = |v: Value| Message::Text(v.to_string().into());
        ws.send(send(
            json!({"ch":"relay","msg":{"type":"hello","protocol":1,"client":"bench/relay"}}),
        ))
        .await?;
        ws.send(send(
            json!({"ch":"terminal","msg":{"id":"o","type":"terminal.open",
            "cwd":work,"cols":80,"rows":24,"command":["/bin/sh","-c",script]}}),
        ))
        .await?;
        let id = loop {
            let Some(Message::Text(text)) = ws.next().await.transpose()? else {
                continue;
            };
            let value: Value = serde_json::from_str(&text)?;
            if value["msg"]["id"] == "o" {
                break value["msg"]["result"]["terminal"]["id"]
                    .as_str()
                    .with_context(|| text.to_string())?
                    .to_owned();
            }
        };
        ws.send(send(
            json!({"ch":"terminal","msg":{"id":"a","type":"terminal.attach",
            "terminal":id,"after_offset":0}}),
        ))
        .await?;
        let mut term = Term::Relay { ws, id };
        term.until(b"ready").await?;
        Ok(term)
    }

    async fn ttyd(bin: &Path, work: &str, script: &str) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let server = Spawn::new(bin)
            .args(["-W", "-i", "lo", "-p", &port.to_string(), "-w", work])
            .args(["/bin/sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let addr = format!("127.0.0.1:{port}");
        if !wait_until(Duration::from_secs(10), || {
            std::net::TcpStream::connect(&addr).is_ok()
        }) {
            bail!("ttyd did not listen on {addr}");
        }
        let mut request = format!("ws://{addr}/ws").into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "tty".parse()?);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
        // ttyd's first message: the window size (and a token, none here); it starts the
        // command then.
        ws.send(Message::Binary(
            br#"{"AuthToken":"","columns":80,"rows":24}"#.to_vec().into(),
        ))
        .await?;
        let mut term = Term::Ttyd { ws, server };
        term.until(b"ready").await?;
        Ok(term)
    }

    async fn input(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Term::Direct { tx, id, .. } => {
                let header =
                    json!({"id":"i","type":"terminal.input","terminal":id,"len":bytes.len()});
                tx.send_frame(&header.to_string(), bytes).await?;
            }
            Term::Relay { ws, id } => {
                let frame = TerminalBytes::Input {
                    terminal: id,
                    bytes,
                }
                .encode();
                ws.send(Message::Binary(frame.into())).await?;
            }
            Term::Ttyd { ws, .. } => {
                let mut frame = Vec::with_capacity(bytes.len() + 1);
                frame.push(b'0');
                frame.extend_from_slice(bytes);
                ws.send(Message::Binary(frame.into())).await?;
            }
        }
        Ok(())
    }

    /// The next output bytes (anything else read on the way is skipped).
    async fn output(&mut self) -> anyhow::Result<Vec<u8>> {
        loop {
            match self {
                Term::Direct { rx, .. } => {
                    let line = rx.next_line().await?.context("the runner closed")?;
                    if line.starts_with("{\"type\":\"terminal.output\"") {
                        let value: Value = serde_json::from_str(&line)?;
                        let len = value["len"].as_u64().context("len")?;
                        return Ok(rx.next_bytes(len).await?);
                    }
                }
                Term::Relay { ws, .. } => match ws.next().await.context("closed")?? {
                    Message::Binary(frame) => {
                        if let TerminalBytes::Output { bytes, .. } =
                            TerminalBytes::decode(&frame)
                                .map_err(|e| anyhow::anyhow!("{}", e.message))?
                        {
                            return Ok(bytes.to_vec());
                        }
                    }
                    Message::Text(text) if text.contains("\"type\":\"ping\"") => {
                        ws.send(Message::Text(
                            r#"{"ch":"relay","msg":{"type":"pong"}}"#.into(),
                        ))
                        .await?;
                    }
                    _ => {}
                },
                Term::Ttyd { ws, .. } => match ws.next().await.context("closed")?? {
                    Message::Binary(frame) if frame.first() == Some(&b'0') => {
                        return Ok(frame[1..].to_vec());
                    }
                    Message::Close(_) => bail!("ttyd closed the connection"),
                    _ => {}
                },
            }
        }
    }

    /// Reads until the output holds `want`.
    async fn until(&mut self, want: &[u8]) -> anyhow::Result<()> {
        let mut seen = Vec::new();
        while !contains(&seen, want) {
            seen.extend(self.output().await?);
        }
        Ok(())
    }

    async fn close(self) -> anyhow::Result<()> {
        match self {
            Term::Direct { mut tx, id, .. } => {
                let close = json!({"id":"c","type":"terminal.close","terminal":id});
                tx.send_line(&close.to_string()).await?;
            }
            Term::Relay { mut ws, id } => {
                let close =
                    json!({"ch":"terminal","msg":{"id":"c","type":"terminal.close","terminal":id}});
                ws.send(Message::Text(close.to_string().into())).await?;
                let _ = ws.close(None).await;
            }
            Term::Ttyd { mut ws, mut server } => {
                let _ = ws.close(None).await;
                terminate_blocking(&mut server, Duration::from_secs(5))?;
            }
        }
        Ok(())
    }
}

/// The `per_mille`-th value of `sorted` (nearest rank).
fn pct(sorted: &[f64], per_mille: usize) -> f64 {
    sorted[((sorted.len() - 1) * per_mille + 500) / 1000]
}

async fn echo(mut term: Term) -> anyhow::Result<()> {
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..WARMUP + SAMPLES {
        let key = b'a' + u8::try_from(i % 26)?;
        let start = Instant::now();
        term.input(&[key]).await?;
        while !term.output().await?.contains(&key) {}
        if i >= WARMUP {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "echo    {:<7} {SAMPLES} keystrokes: p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        term.name(),
        pct(&times, 500),
        pct(&times, 990),
        times[times.len() - 1]
    );
    term.close().await
}

async fn cat(mut term: Term) -> anyhow::Result<()> {
    let start = Instant::now();
    term.input(b"\n").await?;
    let mut zeros = 0;
    while zeros < CAT_BYTES {
        zeros += term.output().await?.iter().filter(|b| **b == 0).count();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "cat     {:<7} {} MB in {secs:.2} s: {:.0} MB/s",
        term.name(),
        zeros / 1_000_000,
        zeros as f64 / secs / 1e6
    );
    term.close().await
}

/// Sends `request` (with id `id`) and returns its answer's `result`.
async fn ask(
    tx: &mut RawSender,
    rx: &mut RawReceiver,
    id: &str,
    mut request: Value,
) -> anyhow::Result<Value> {
    request["id"] = json!(id);
    tx.send_line(&request.to_string()).await?;
    loop {
        let line = rx.next_line().await?.context("the runner closed")?;
        let value: Value = serde_json::from_str(&line)?;
        if value["id"] == id {
            if value["type"] != "ok" {
                bail!("{line}");
            }
            return Ok(value["result"].clone());
        }
    }
}

/// The runner's RSS with no terminal, with `IDLE_TERMINALS` idle ones (no client
/// attached, a line of output each), and with as many again whose rings are full.
async fn memory(socket: &Path, work: &str, runner: u32, ring: usize) -> anyhow::Result<()> {
    let RawClient {
        sender: mut tx,
        receiver: mut rx,
        ..
    } = RawClient::connect(socket, "bench/memory").await?;
    let mut ids = Vec::new();
    let mut open_and_wait = async |script: &str, output: u64, ids: &mut Vec<String>| {
        let first = ids.len();
        for n in 0..IDLE_TERMINALS {
            let open = json!({"type":"terminal.open","cwd":work,"cols":80,"rows":24,
                "command":["/bin/sh","-c",script]});
            let info = ask(&mut tx, &mut rx, &format!("o{first}-{n}"), open).await?;
            ids.push(info["terminal"]["id"].as_str().context("id")?.to_owned());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let list = ask(&mut tx, &mut rx, "l", json!({"type":"terminal.list"})).await?;
            let done = list["terminals"]
                .as_array()
                .context("terminals")?
                .iter()
                .filter(|t| t["offset"].as_u64() == Some(output))
                .count();
            if done == ids.len() - first {
                break;
            }
            if Instant::now() > deadline {
                bail!("terminals did not print their output: {list}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let the allocator and the kernel settle before reading RSS.
        tokio::time::sleep(Duration::from_millis(500)).await;
        anyhow::Ok(proc_kib(runner, "VmRSS"))
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let none = proc_kib(runner, "VmRSS");
    let with_idle = open_and_wait("echo ready; exec sleep 100000", 7, &mut ids).await?;
    let fill = format!(
        "head -c {} /dev/zero | tr '\\0' x; exec sleep 100000",
        ring * 2
    );
    let with_full = open_and_wait(&fill, (ring * 2) as u64, &mut ids).await?;
    let per = |kib: u64, base: u64| kib.saturating_sub(base) as f64 / IDLE_TERMINALS as f64;
    println!(
        "memory  runner  RSS {none} KiB with no terminal; {with_idle} KiB with {IDLE_TERMINALS} idle \
         ({:.0} KiB each); {with_full} KiB with {IDLE_TERMINALS} more whose {} KiB rings are full \
         ({:.0} KiB each)",
        per(with_idle, none),
        ring >> 10,
        per(with_full, with_idle),
    );
    for (n, id) in ids.iter().enumerate() {
        ask(
            &mut tx,
            &mut rx,
            &format!("c{n}"),
            json!({"type":"terminal.close","terminal":id}),
        )
        .await?;
    }
    Ok(())
}

fn find_ttyd() -> Option<PathBuf> {
    std::env::var_os("OQTO_TTYD_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|p| p.join("ttyd"))
                .find(|p| p.exists())
        })
        .filter(|p| p.exists())
}

/// A token for the relay, from `oqto-relay token create`.
fn relay_token(
    relay: &Path,
    vars: &[(std::ffi::OsString, std::ffi::OsString)],
) -> anyhow::Result<String> {
    let out = Spawn::new(relay)
        .envs(vars.iter().cloned())
        .args(["token", "create", "--name", "bench"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?
        .wait_with_output()?;
    if !out.status.success() {
        bail!("token create: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn main() -> anyhow::Result<()> {
    let relay_bin = PathBuf::from(env!("CARGO_BIN_EXE_oqto-relay"));
    let runner_bin = relay_bin.with_file_name("oqto-runner");
    for bin in [&runner_bin, &relay_bin.with_file_name("oqto-sandbox")] {
        if !bin.exists() {
            bail!(
                "{} is missing: run `cargo build --release -p oqto-runner -p oqto-sandbox` first",
                bin.display()
            );
        }
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |part: &str| filter.as_deref().is_none_or(|f| part.contains(f));
    let env = TestEnv::new();
    env.write("config/oqto/runner.toml", "");
    let mut vars = env.vars();
    vars.push(("OQTO_RUNNER_BIN".into(), runner_bin.clone().into()));
    let socket = env.runtime_dir().join("oqto/runner.sock");
    let mut runner = Spawn::new(&runner_bin)
        .envs(vars.clone())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    if !wait_until(Duration::from_secs(20), || {
        oqto_ipc::socket::is_live(&socket)
    }) {
        bail!("the runner did not come up");
    }
    let token = relay_token(&relay_bin, &vars)?;
    let state_file = env.runtime_dir().join("oqto/relay.json");
    let mut relay = Spawn::new(&relay_bin)
        .envs(vars.clone())
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut url = None;
    wait_until(Duration::from_secs(20), || {
        url = std::fs::read_to_string(&state_file)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| Some(v["url"].as_str()?.replace("http://", "ws://")));
        url.is_some()
    });
    let url = url.context("the relay did not start")?;
    let work = env.work().display().to_string();
    let ttyd = find_ttyd();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        if wanted("memory") {
            memory(&socket, &work, runner.id(), 1 << 20).await?;
        }
        if wanted("echo") {
            echo(Term::direct(&socket, &work, ECHO).await?).await?;
            echo(Term::relay(&url, &token, &work, ECHO).await?).await?;
            if let Some(ttyd) = &ttyd {
                echo(Term::ttyd(ttyd, &work, ECHO).await?).await?;
            }
        }
        if wanted("cat") {
            let script = cat_script();
            cat(Term::direct(&socket, &work, &script).await?).await?;
            cat(Term::relay(&url, &token, &work, &script).await?).await?;
            if let Some(ttyd) = &ttyd {
                cat(Term::ttyd(ttyd, &work, &script).await?).await?;
            }
        }
        anyhow::Ok(())
    });
    if ttyd.is_none() {
        println!("ttyd    not found (OQTO_TTYD_BIN, PATH): no side-by-side numbers in this run");
    }
    let _ = terminate_blocking(&mut relay, Duration::from_secs(5));
    let _ = terminate_blocking(&mut runner, Duration::from_secs(5));
    result
}

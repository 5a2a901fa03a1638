//! The `terminal` channel: real PTYs in the real runner, confined by the real sandbox,
//! driven through the relay over a real WebSocket; output and input as binary frames.

use oqto_protocol::TerminalBytes;
use oqto_testkit::{contains, proc_kib, seq_text};
use serde_json::{Value, json};

use crate::support::{Relay, WAIT, Ws, create_session};

/// A WebSocket used for terminals: output bytes in order, checked for gaps and overlaps.
struct Tab {
    ws: Ws,
    next_id: u64,
    /// Output bytes received, in order.
    out: Vec<u8>,
    /// The offset the next output frame must have, once known.
    expect: Option<u64>,
    /// Terminal channel messages other than the answers waited for, in order.
    events: Vec<Value>,
}

impl Tab {
    async fn open(relay: &Relay) -> Self {
        let mut ws = relay.browser().await;
        ws.hello().await;
        Self {
            ws,
            next_id: 0,
            out: Vec::new(),
            expect: None,
            events: Vec::new(),
        }
    }

    /// Reads one frame: output is appended, a terminal channel message returned, anything
    /// else (the relay channel, agent events) dropped.
    async fn read(&mut self) -> Option<Value> {
        match self.ws.next_any().await {
            Ok(frame) if frame["ch"] != "terminal" => None,
            Ok(frame) => {
                if frame["ch"] == "terminal" && frame["msg"]["type"] == "terminal.truncated" {
                    self.expect = frame["msg"]["offset"].as_u64();
                }
                Some(frame)
            }
            Err(bytes) => {
                let TerminalBytes::Output { offset, bytes, .. } =
                    TerminalBytes::decode(&bytes).expect("a terminal frame")
                else {
                    panic!("an input frame from the relay");
                };
                if let Some(expect) = self.expect {
                    assert_eq!(offset, expect, "a gap or an overlap");
                }
                self.out.extend_from_slice(bytes);
                self.expect = Some(offset + bytes.len() as u64);
                None
            }
        }
    }

    /// Sends a terminal request and returns its answer.
    async fn request(&mut self, mut msg: Value) -> Value {
        self.next_id += 1;
        let id = format!("w{}", self.next_id);
        msg["id"] = json!(id);
        self.ws.send(&json!({"ch":"terminal","msg":msg})).await;
        loop {
            let Some(frame) = self.read().await else {
                continue;
            };
            assert_eq!(frame["ch"], "terminal", "{frame}");
            let msg = frame["msg"].clone();
            if msg["id"] == id.as_str() {
                return msg;
            }
            self.events.push(msg);
        }
    }

    async fn ok(&mut self, msg: Value) -> Value {
        let shown = msg.to_string();
        let answer = self.request(msg).await;
        assert_eq!(answer["type"], "ok", "{shown} -> {answer}");
        answer["result"].clone()
    }

    async fn open_terminal(&mut self, cwd: &str, command: &[&str]) -> String {
        let info = self
            .ok(json!({"type":"terminal.open","cwd":cwd,"cols":80,"rows":24,"command":command}))
            .await;
        info["terminal"]["id"].as_str().unwrap().to_owned()
    }

    async fn attach(&mut self, terminal: &str, after_offset: u64) -> Value {
        self.expect = Some(after_offset);
        self.ok(json!({"type":"terminal.attach","terminal":terminal,"after_offset":after_offset}))
            .await["terminal"]
            .clone()
    }

    async fn input(&mut self, terminal: &str, bytes: &[u8]) {
        let frame = TerminalBytes::Input { terminal, bytes }.encode();
        self.ws.send_binary(frame).await;
    }

    /// Reads until the output holds `want`.
    async fn output_until(&mut self, want: &[u8]) {
        let mut from = 0;
        while !contains(&self.out[from..], want) {
            from = self.out.len().saturating_sub(want.len());
            if let Some(frame) = self.read().await {
                self.events.push(frame["msg"].clone());
            }
        }
    }

    /// Reads until a terminal message of `kind`; returns it.
    async fn event(&mut self, kind: &str) -> Value {
        loop {
            if let Some(i) = self.events.iter().position(|e| e["type"] == kind) {
                return self.events.remove(i);
            }
            if let Some(frame) = self.read().await {
                self.events.push(frame["msg"].clone());
            }
        }
    }
}

#[tokio::test]
async fn a_shell_echoes_bytes_both_ways_and_resizes_through_the_relay() {
    let relay = Relay::start();
    let work = relay.env.work().display().to_string();
    let mut tab = Tab::open(&relay).await;
    let id = tab
        .open_terminal(
            &work,
            &[
                "/bin/sh",
                "-c",
                "stty -echo; printf 'A\\000B\\377C\\n'; head -c 4 | od -An -tx1; \
                 read x; stty size; read y; echo \"T=$TERM\"; pwd; exit 3",
            ],
        )
        .await;
    tab.attach(&id, 0).await;
    tab.output_until(b"A\x00B\xffC").await;
    tab.input(&id, b"\x00\xff\xfe\n").await;
    tab.output_until(b"00 ff fe 0a").await;

    // Sizes out of range are the runner's typed error, through the relay unchanged.
    for (cols, rows) in [(0, 0), (65535, 65535)] {
        let answer = tab
            .request(json!({"type":"terminal.resize","terminal":id,"cols":cols,"rows":rows}))
            .await;
        assert_eq!(answer["code"], "bad_request", "{answer}");
    }
    tab.ok(json!({"type":"terminal.resize","terminal":id,"cols":100,"rows":30}))
        .await;
    tab.input(&id, b"\n").await;
    tab.output_until(b"30 100").await;
    tab.input(&id, b"\n").await;
    tab.output_until(b"T=xterm-256color").await;
    tab.output_until(format!("{work}\r\n").as_bytes()).await;
    let exit = tab.event("terminal.exit").await;
    assert_eq!(exit["code"], 3, "{exit}");
    let closed = tab.event("terminal.closed").await;
    assert_eq!(closed["reason"], "the program exited");

    // Input to the closed terminal: a typed error naming it.
    tab.input(&id, b"late\n").await;
    let error = tab.event("error").await;
    assert_eq!(error["code"], "terminal_not_found", "{error}");
    assert_eq!(error["id"], format!("input:{id}"));
    let listed = tab.ok(json!({"type":"terminal.list"})).await;
    assert_eq!(listed["terminals"], json!([]));
}

#[tokio::test]
async fn a_tab_that_comes_back_resumes_with_exactly_the_missed_bytes() {
    let relay = Relay::start_with_runner("", "terminal_scrollback = \"64KiB\"");
    let work = relay.env.work().display().to_string();
    let mut first = Tab::open(&relay).await;
    let id = first
        .open_terminal(
            &work,
            &[
                "/bin/sh",
                "-c",
                "stty -echo; echo go; read x; seq 1 2000; read y; seq 2001 4000; \
                 read z; seq 1 100000; read w",
            ],
        )
        .await;
    first.attach(&id, 0).await;
    first.output_until(b"go\r\n").await;
    first.input(&id, b"\n").await;
    first.output_until(b"\r\n2000\r\n").await;
    let seen = first.expect.unwrap();
    // The tab goes away (a laptop that sleeps); output goes on without it, driven by
    // input from another tab that never attached.
    first.ws.close().await;
    let mut other = Tab::open(&relay).await;
    other.input(&id, b"\n").await;
    let done = ("go\r\n".len() + seq_text(1, 4000).len()) as u64;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listed = other.ok(json!({"type":"terminal.list"})).await;
        if listed["terminals"][0]["offset"].as_u64() == Some(done) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{listed}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut back = Tab::open(&relay).await;
    back.attach(&id, seen).await;
    back.output_until(b"\r\n4000\r\n").await;
    let mut all = first.out.clone();
    all.extend_from_slice(&back.out);
    let want = format!("go\r\n{}{}", seq_text(1, 2000), seq_text(2001, 4000));
    assert_eq!(
        String::from_utf8(all).unwrap(),
        want,
        "no byte lost or twice"
    );
    assert!(
        back.events
            .iter()
            .all(|e| e["type"] != "terminal.truncated")
    );

    // Far more than the ring while nobody reads: from 0, a `truncated` mark, then the ring.
    back.input(&id, b"\n").await;
    back.output_until(b"\r\n100000\r\n").await;
    let end = back.expect.unwrap();
    let mut late = Tab::open(&relay).await;
    late.attach(&id, 0).await;
    let mark = late.event("terminal.truncated").await;
    assert_eq!(mark["offset"], end - (64 << 10), "{mark}");
    late.output_until(b"\r\n100000\r\n").await;
    assert_eq!(late.out, back.out[back.out.len() - (64 << 10)..]);
}

#[tokio::test]
async fn a_tab_that_stops_reading_holds_the_program_not_the_relay_and_is_detached() {
    let relay = Relay::start();
    let work = relay.env.work().display().to_string();
    // The stuck tab reads through a small TCP buffer and stops reading once attached.
    let mut stuck = relay.small_buffered_browser().await;
    stuck.hello().await;
    let mut tab = Tab::open(&relay).await;
    let id = tab
        .open_terminal(&work, &["/bin/sh", "-c", "stty -echo; read x; exec yes"])
        .await;
    stuck
        .send(&json!({"ch":"terminal","msg":{"id":"s1","type":"terminal.attach","terminal":id,"after_offset":0}}))
        .await;
    tab.attach(&id, 0).await;
    let relay_pid = relay.pid();
    let before = proc_kib(relay_pid, "VmRSS");
    tab.input(&id, b"\n").await;
    // The reading tab is held back while the stuck one is behind, then the stuck one is
    // detached and the reading tab gets `yes` at full speed, every byte in order (the
    // offsets are checked on every frame).
    while tab.expect.unwrap_or(0) < 32 << 20 {
        tab.read().await;
        if tab.out.len() > 1 << 20 {
            assert!(
                tab.out.iter().all(|b| b"y\r\n".contains(b)),
                "not `yes` output"
            );
            tab.out.clear();
        }
    }
    let after = proc_kib(relay_pid, "VmRSS");
    assert!(
        after < before + 32 * 1024,
        "relay RSS grew from {before} KiB to {after} KiB"
    );
    // The stuck tab, reading again, finds the runner told it that it was detached.
    let mut detached = false;
    while !detached {
        if let Ok(frame) = stuck.next_any().await {
            detached = frame["msg"]["type"] == "terminal.detached";
        }
    }
    tab.ok(json!({"type":"terminal.close","terminal":id})).await;
    tab.event("terminal.closed").await;
}

#[tokio::test]
async fn file_bytes_and_terminal_output_share_a_socket_without_mixing() {
    let relay = Relay::start();
    let content: Vec<u8> = (0..200_000u32).map(|n| (n % 251) as u8).collect();
    std::fs::write(relay.env.work().join("data.bin"), &content).unwrap();
    let work = relay.env.work().display().to_string();
    let mut tab = Tab::open(&relay).await;
    let session = create_session(&mut tab.ws, &work).await;
    // A terminal streaming as fast as it can on the same socket.
    let id = tab
        .open_terminal(&work, &["/bin/sh", "-c", "stty -echo; exec yes"])
        .await;
    tab.attach(&id, 0).await;
    for n in 0..10 {
        let rid = format!("f{n}");
        tab.ws
            .send(&json!({"ch":"files","root":session,"msg":{"id":rid,"type":"read","path":"data.bin"}}))
            .await;
        let mut file = Vec::new();
        loop {
            match tab.ws.next_any().await {
                Ok(frame) if frame["ch"] == "files" && frame["msg"]["type"] == "data" => {
                    // The header's bytes come next, whatever the terminal writes.
                    let bytes = tab
                        .ws
                        .next_any()
                        .await
                        .expect_err("the data's binary frame");
                    assert_eq!(bytes.len() as u64, frame["msg"]["len"].as_u64().unwrap());
                    file.extend_from_slice(&bytes);
                }
                Ok(frame) if frame["ch"] == "files" && frame["msg"]["id"] == rid.as_str() => {
                    assert_eq!(frame["msg"]["type"], "ok", "{frame}");
                    break;
                }
                Ok(_) => {}
                Err(bytes) => {
                    let decoded = TerminalBytes::decode(&bytes).expect("a terminal frame");
                    assert!(matches!(decoded, TerminalBytes::Output { .. }));
                }
            }
        }
        assert!(file == content, "read {n}: not the file's bytes");
    }
    // The output read above by hand was not counted: offsets are not checked from here.
    tab.expect = None;
    tab.ok(json!({"type":"terminal.close","terminal":id})).await;
}

#[tokio::test]
async fn a_killed_runner_ends_the_terminals_and_a_new_one_says_so() {
    let relay = Relay::start();
    let work = relay.env.work().display().to_string();
    let mut tab = Tab::open(&relay).await;
    let id = tab
        .open_terminal(&work, &["/bin/sh", "-c", "echo ready; exec cat"])
        .await;
    tab.attach(&id, 0).await;
    tab.output_until(b"ready").await;
    let pid = relay.runner_pid().expect("a runner");
    crate::support::signal(pid, nix::sys::signal::Signal::SIGKILL);
    // The terminal channel says its runner connection is gone (the relay channel says so
    // too, for the agent connection).
    let lost = tab.event("error").await;
    assert_eq!(lost["code"], "runner_unavailable", "{lost}");
    assert!(lost["id"].is_null(), "{lost}");
    // The next terminal request connects again (to a runner started on demand), which
    // knows nothing of the old terminal.
    let deadline = tokio::time::Instant::now() + WAIT;
    let answer = loop {
        let answer = tab
            .request(json!({"type":"terminal.attach","terminal":id,"after_offset":0}))
            .await;
        if answer["code"] != "runner_unavailable" {
            break answer;
        }
        assert!(tokio::time::Instant::now() < deadline, "{answer}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(answer["code"], "terminal_not_found", "{answer}");
    assert_ne!(relay.runner_pid(), Some(pid));
}

#[tokio::test]
async fn input_the_runner_cannot_take_yet_does_not_stop_the_output() {
    let relay = Relay::start();
    let work = relay.env.work().display().to_string();
    let mut tab = Tab::open(&relay).await;
    let id = tab
        .open_terminal(&work, &["/bin/sh", "-c", "stty -echo; read x; exec yes"])
        .await;
    tab.attach(&id, 0).await;
    tab.input(&id, b"\n").await;
    // This tab reads nothing until every queue between it and the terminal is full: the
    // runner stops reading the terminal, and its offset stands still.
    let mut watcher = Tab::open(&relay).await;
    let mut last = None;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listed = watcher.ok(json!({"type":"terminal.list"})).await;
        let offset = listed["terminals"][0]["offset"].as_u64();
        if offset > Some(0) && offset == last {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{listed}");
        last = offset;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Input for a terminal that does not exist: the runner answers each with an error,
    // which waits behind the output; the relay must go on writing meanwhile.
    let n = 3000;
    for _ in 0..n {
        tab.input("term_gone_1", b"x").await;
    }
    let mut errors = 0;
    while errors < n {
        if let Some(msg) = tab.read().await {
            if msg["msg"]["type"] == "error" {
                assert_eq!(msg["msg"]["code"], "terminal_not_found", "{msg}");
                assert_eq!(msg["msg"]["id"], "input:term_gone_1", "{msg}");
                errors += 1;
            }
        }
        if tab.out.len() > 1 << 20 {
            tab.out.clear();
        }
    }
}

//! Terminals: real PTYs, started through the real `oqto-sandbox`, driven over the socket
//! with raw frames.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use oqto_testkit::{TestEnv, contains, proc_kib, seq_text, wait_until};
use serde_json::{Value, json};

use crate::support::{Runner, WAIT};

/// A client of the runner that reads raw frames: terminal output is bytes.
struct Term {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    /// Output bytes received, in order.
    out: Vec<u8>,
    /// The offset the next output frame must have (checked on every frame), once known.
    expect: Option<u64>,
    /// Terminal events other than output, in order.
    events: VecDeque<Value>,
    /// Answers read while waiting for another one (answers come in any order).
    answers: HashMap<String, Value>,
}

impl Term {
    fn connect(socket: &Path) -> Self {
        let stream = UnixStream::connect(socket).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut t = Self {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
            next_id: 0,
            out: Vec::new(),
            expect: None,
            events: VecDeque::new(),
            answers: HashMap::new(),
        };
        t.writer
            .write_all(b"{\"type\":\"hello\",\"protocol\":1,\"client\":\"it-term/1\"}\n")
            .unwrap();
        let welcome = t.read_item().expect("welcome");
        assert_eq!(welcome["type"], "welcome");
        t
    }

    /// Reads one line (and a frame's bytes, appended to `out`); `None` at end of stream.
    fn read_item(&mut self) -> Option<Value> {
        let mut line = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut line)
            .unwrap_or_else(|e| {
                panic!(
                    "reading: {e}; output so far: {:?}; events: {:?}",
                    String::from_utf8_lossy(&self.out),
                    self.events
                )
            });
        if n == 0 {
            return None;
        }
        let value: Value = serde_json::from_slice(&line)
            .unwrap_or_else(|e| panic!("bad line {:?}: {e}", String::from_utf8_lossy(&line)));
        match value["type"].as_str() {
            Some("terminal.output") => {
                let offset = value["offset"].as_u64().unwrap();
                if let Some(expect) = self.expect {
                    assert_eq!(offset, expect, "a gap or an overlap before {value}");
                }
                let len = usize::try_from(value["len"].as_u64().unwrap()).unwrap();
                let mut bytes = vec![0u8; len];
                self.reader.read_exact(&mut bytes).expect("frame bytes");
                self.out.extend_from_slice(&bytes);
                self.expect = Some(offset + len as u64);
            }
            Some("terminal.truncated") => {
                self.expect = Some(value["offset"].as_u64().unwrap());
                self.events.push_back(value.clone());
            }
            _ => {}
        }
        Some(value)
    }

    fn send(&mut self, mut request: Value, bytes: &[u8]) -> String {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        request["id"] = json!(id);
        let mut line = request.to_string().into_bytes();
        line.push(b'\n');
        line.extend_from_slice(bytes);
        self.writer.write_all(&line).expect("write");
        id
    }

    fn answer(&mut self, id: &str) -> Value {
        if let Some(value) = self.answers.remove(id) {
            return value;
        }
        loop {
            let value = self.read_item().expect("closed before the answer");
            let kind = value["type"].as_str().unwrap_or_default().to_owned();
            if matches!(kind.as_str(), "ok" | "error") {
                if value["id"] == id {
                    return value;
                }
                if let Some(other) = value["id"].as_str() {
                    self.answers.insert(other.to_owned(), value.clone());
                }
                continue;
            }
            if kind.starts_with("terminal.")
                && kind != "terminal.output"
                && kind != "terminal.truncated"
            {
                self.events.push_back(value);
            }
        }
    }

    fn request(&mut self, request: Value) -> Value {
        let id = self.send(request, b"");
        self.answer(&id)
    }

    fn ok(&mut self, request: Value) -> Value {
        let shown = request.to_string();
        let answer = self.request(request);
        assert_eq!(answer["type"], "ok", "{shown} -> {answer}");
        answer["result"].clone()
    }

    fn error(&mut self, request: Value) -> String {
        let shown = request.to_string();
        let answer = self.request(request);
        assert_eq!(answer["type"], "error", "{shown} -> {answer}");
        answer["code"].as_str().unwrap().to_owned()
    }

    fn open(&mut self, cwd: &str, command: &[&str]) -> String {
        let info = self
            .ok(json!({"type":"terminal.open","cwd":cwd,"cols":80,"rows":24,"command":command}));
        info["terminal"]["id"].as_str().unwrap().to_owned()
    }

    fn attach(&mut self, terminal: &str, after_offset: Option<u64>) -> Value {
        let mut request = json!({"type":"terminal.attach","terminal":terminal});
        if let Some(offset) = after_offset {
            request["after_offset"] = json!(offset);
            self.expect = Some(offset);
        }
        self.ok(request)["terminal"].clone()
    }

    fn input(&mut self, terminal: &str, bytes: &[u8]) -> Value {
        let id = self.send(
            json!({"type":"terminal.input","terminal":terminal,"len":bytes.len()}),
            bytes,
        );
        self.answer(&id)
    }

    /// Reads until the output holds `want`.
    fn output_until(&mut self, want: &[u8]) {
        self.output_since(0, want);
    }

    /// Reads until the output from byte `start` on holds `want`.
    fn output_since(&mut self, start: usize, want: &[u8]) {
        let mut from = start;
        while !contains(&self.out[from..], want) {
            from = self.out.len().saturating_sub(want.len());
            let item = self.read_item();
            assert!(
                item.is_some(),
                "closed before {:?}; output so far: {:?}",
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(&self.out)
            );
        }
    }

    /// Reads until an event of `kind`; returns it.
    fn event(&mut self, kind: &str) -> Value {
        loop {
            if let Some(i) = self.events.iter().position(|e| e["type"] == kind) {
                return self.events.remove(i).unwrap();
            }
            let value = self
                .read_item()
                .unwrap_or_else(|| panic!("closed before `{kind}`: {:?}", self.events));
            let k = value["type"].as_str().unwrap_or_default();
            if k.starts_with("terminal.") && k != "terminal.output" && k != "terminal.truncated" {
                self.events.push_back(value);
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }
}

/// Processes whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

/// Whether `pid`'s process group is the foreground group of its terminal (fields 5 and 8
/// of `/proc/PID/stat`, after the command name in parentheses).
fn in_foreground(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[2] == fields[5]
}

fn list(t: &mut Term) -> Vec<Value> {
    t.ok(json!({"type":"terminal.list"}))["terminals"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_shell_runs_in_the_workspace_with_a_clean_environment_and_its_exit_code() {
    let runner = Runner::start("");
    let work = runner.work();
    let mut t = Term::connect(&runner.socket);
    let id = t.open(&work, &["/bin/sh"]);
    assert!(id.starts_with("term_"), "{id}");
    t.attach(&id, Some(0));
    let listed = list(&mut t);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["clients"], 1);
    assert_eq!(listed[0]["cwd"], work.as_str());
    let answer = t.input(&id, b"echo \"T=$TERM R=[$XDG_RUNTIME_DIR]\"; pwd; exit 3\n");
    assert_eq!(answer["type"], "ok", "{answer}");
    t.output_until(b"T=xterm-256color R=[]");
    t.output_until(format!("\n{work}\r\n").as_bytes());
    let exit = t.event("terminal.exit");
    assert_eq!(exit["code"], 3, "{exit}");
    let closed = t.event("terminal.closed");
    assert_eq!(closed["reason"], "the program exited");
    assert!(list(&mut t).is_empty());
}

#[test]
fn non_utf8_and_nul_bytes_pass_both_ways() {
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(
        &runner.work(),
        &[
            "/bin/sh",
            "-c",
            "printf 'A\\000B\\377C\\n'; head -c 4 | od -An -tx1",
        ],
    );
    t.attach(&id, Some(0));
    t.output_until(b"A\x00B\xffC");
    assert_eq!(t.input(&id, b"\x00\xff\xfe\n")["type"], "ok");
    t.output_until(b"00 ff fe 0a");
    t.event("terminal.closed");
}

#[test]
fn input_from_one_client_arrives_in_order() {
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(
        &runner.work(),
        &["/bin/sh", "-c", "stty -echo; echo go; exec cat"],
    );
    t.attach(&id, Some(0));
    t.output_until(b"go\r\n");
    // Sent back to back, without waiting for the answers.
    let ids: Vec<String> = (1..=200)
        .map(|n| {
            let bytes = format!("{n}\n");
            t.send(
                json!({"type":"terminal.input","terminal":id,"len":bytes.len()}),
                bytes.as_bytes(),
            )
        })
        .collect();
    for rid in ids {
        assert_eq!(t.answer(&rid)["type"], "ok");
    }
    let want = format!("go\r\n{}", seq_text(1, 200));
    t.output_until(b"\r\n200\r\n");
    assert_eq!(t.text(), want);
}

#[test]
fn attaching_after_an_offset_resumes_with_exactly_the_missed_bytes() {
    let runner = Runner::start("");
    let mut a = Term::connect(&runner.socket);
    let id = a.open(
        &runner.work(),
        &[
            "/bin/sh",
            "-c",
            "stty -echo; echo go; read x; seq 1 20000; read y; seq 20001 40000; read z",
        ],
    );
    a.attach(&id, Some(0));
    a.output_until(b"go\r\n");
    a.input(&id, b"\n");
    a.output_until(b"\r\n20000\r\n");
    let seen = a.expect.unwrap();
    a.ok(json!({"type":"terminal.detach","terminal":id}));
    // Output goes on with nobody attached; a second client attaches from where the first
    // stopped, and the two together saw every byte once.
    a.input(&id, b"\n");
    let mut b = Term::connect(&runner.socket);
    b.attach(&id, Some(seen));
    b.output_until(b"\r\n40000\r\n");
    let mut all = a.out.clone();
    all.extend_from_slice(&b.out);
    let want = format!("go\r\n{}{}", seq_text(1, 20000), seq_text(20001, 40000));
    assert_eq!(String::from_utf8(all).unwrap(), want);
    assert!(b.events.iter().all(|e| e["type"] != "terminal.truncated"));
}

#[test]
fn a_client_behind_the_ring_gets_a_truncated_mark_then_the_ring() {
    let runner = Runner::start("[runner]\nterminal_scrollback = \"64KiB\"\n");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(
        &runner.work(),
        &["/bin/sh", "-c", "stty -echo; seq 1 100000; read x"],
    );
    let want = seq_text(1, 100_000);
    let total = want.len() as u64;
    assert!(wait_until(WAIT, || list(&mut t)[0]["offset"].as_u64() == Some(total)));
    t.attach(&id, Some(0));
    let mark = t.event("terminal.truncated");
    let start = total - (64 << 10);
    assert_eq!(mark["offset"], start);
    t.output_until(b"\r\n100000\r\n");
    assert_eq!(t.out, &want.as_bytes()[usize::try_from(start).unwrap()..]);
    // Past the end is refused; at the end, only new output follows.
    let mut late = Term::connect(&runner.socket);
    let answer =
        late.request(json!({"type":"terminal.attach","terminal":id,"after_offset":total + 1}));
    assert_eq!(answer["code"], "bad_request", "{answer}");
}

#[test]
fn resize_is_checked_and_reaches_the_program() {
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(
        &runner.work(),
        &[
            "/bin/sh",
            "-c",
            "stty -echo; echo go; read x; stty size; read y",
        ],
    );
    t.attach(&id, Some(0));
    t.output_until(b"go");
    for (cols, rows) in [(0, 0), (65535, 65535), (80, 0)] {
        let code = t.error(json!({"type":"terminal.resize","terminal":id,"cols":cols,"rows":rows}));
        assert_eq!(code, "bad_request");
    }
    let code = t.error(json!({"type":"terminal.resize","terminal":id,"cols":65536,"rows":10}));
    assert_eq!(code, "bad_request");
    t.ok(json!({"type":"terminal.resize","terminal":id,"cols":100,"rows":30}));
    assert_eq!(list(&mut t)[0]["cols"], 100);
    t.input(&id, b"\n");
    t.output_until(b"30 100");
}

#[test]
fn a_closed_terminal_takes_no_input_and_bad_frames_keep_the_connection() {
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(&runner.work(), &["/bin/cat"]);
    t.ok(json!({"type":"terminal.close","terminal":id}));
    let answer = t.input(&id, b"late\n");
    assert_eq!(answer["code"], "terminal_not_found", "{answer}");
    for request in [
        json!({"type":"terminal.attach","terminal":id}),
        json!({"type":"terminal.resize","terminal":id,"cols":10,"rows":10}),
        json!({"type":"terminal.close","terminal":id}),
        json!({"type":"terminal.detach","terminal":id}),
    ] {
        assert_eq!(t.error(request), "terminal_not_found");
    }
    // A malformed input line still has its bytes skipped: the next line is read normally.
    t.send(
        json!({"type":"terminal.input","terminal":id,"len":5,"extra":1}),
        b"{\"x\"\n",
    );
    let mut line = Vec::new();
    t.reader.read_until(b'\n', &mut line).unwrap();
    let answer: Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(answer["code"], "bad_request", "{answer}");
    assert!(list(&mut t).is_empty());
    // No session, no cwd; a relative cwd; an empty command.
    for request in [
        json!({"type":"terminal.open","cols":80,"rows":24}),
        json!({"type":"terminal.open","cwd":"rel","cols":80,"rows":24}),
        json!({"type":"terminal.open","cwd":runner.work(),"cols":80,"rows":24,"command":[]}),
        json!({"type":"terminal.open","cwd":runner.work(),"cols":0,"rows":24}),
    ] {
        assert_eq!(t.error(request), "bad_request");
    }
}

#[test]
fn close_ends_a_shell_that_ignores_sighup_and_leaves_no_process() {
    let runner = Runner::start("[runner]\nshutdown_grace = \"1s\"\n");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(
        &runner.work(),
        &[
            "/bin/sh",
            "-c",
            "trap '' HUP TERM INT; echo ready; sleep 7777001; echo after",
        ],
    );
    t.attach(&id, Some(0));
    t.output_until(b"ready");
    assert!(!processes_with("7777001").is_empty());
    let mut other = Term::connect(&runner.socket);
    other.ok(json!({"type":"terminal.close","terminal":id}));
    assert_eq!(processes_with("7777001"), Vec::<i32>::new());
    t.event("terminal.exit");
    let closed = t.event("terminal.closed");
    assert_eq!(closed["reason"], "closed by it-term/1", "{closed}");
}

#[test]
fn kill_9_of_the_shell_is_its_exit() {
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(&runner.work(), &["/bin/sh", "-c", "echo ready; kill -9 $$"]);
    t.attach(&id, Some(0));
    let exit = t.event("terminal.exit");
    // Through oqto-sandbox a death by signal N is the exit code 128 + N.
    assert!(exit["code"] == 137 || exit["signal"] == 9, "{exit}");
    t.event("terminal.closed");
    assert!(t.text().contains("ready"));
}

#[test]
fn runner_shutdown_ends_terminals_and_a_new_runner_says_they_are_gone() {
    let mut runner = Runner::start("[runner]\nshutdown_grace = \"1s\"\n");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(
        &runner.work(),
        &["/bin/sh", "-c", "trap '' HUP TERM; sleep 7777002"],
    );
    assert!(wait_until(WAIT, || !processes_with("7777002").is_empty()));
    assert!(runner.stop().success());
    assert_eq!(processes_with("7777002"), Vec::<i32>::new(), "orphans");
    runner.spawn();
    let mut t = Term::connect(&runner.socket);
    let answer = t.request(json!({"type":"terminal.attach","terminal":id,"after_offset":0}));
    assert_eq!(answer["code"], "terminal_not_found", "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("restarted"));
}

#[test]
fn deleting_the_session_closes_its_terminals() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let session = c.create("fake", &runner.work());
    let mut t = Term::connect(&runner.socket);
    let info = t.ok(json!({"type":"terminal.open","session":session,"cols":80,"rows":24,"command":["/bin/cat"]}));
    assert_eq!(info["terminal"]["session"], session.as_str());
    assert_eq!(info["terminal"]["cwd"], runner.work().as_str());
    let id = info["terminal"]["id"].as_str().unwrap().to_owned();
    t.attach(&id, None);
    c.ok(json!({"type":"session.delete","session":session}));
    let closed = t.event("terminal.closed");
    assert_eq!(closed["reason"], "its session was deleted");
    assert!(list(&mut t).is_empty());
    let code = t.error(json!({"type":"terminal.open","session":"ses_gone","cols":80,"rows":24}));
    assert_eq!(code, "session_not_found");
}

#[test]
fn an_idle_terminal_with_no_client_is_closed() {
    let runner = Runner::start("[runner]\nterminal_idle_timeout = \"1s\"\n");
    let mut t = Term::connect(&runner.socket);
    t.open(&runner.work(), &["/bin/sh", "-c", "sleep 7777003"]);
    assert!(wait_until(WAIT, || list(&mut t).is_empty()));
    assert!(wait_until(WAIT, || processes_with("7777003").is_empty()));
}

#[test]
fn an_escape_from_the_terminal_fails_as_for_the_agent() {
    const SECRET: &str = "SECRET-KEY-MATERIAL-4711";
    let env = TestEnv::new();
    env.write("home/.ssh/id_ed25519", SECRET);
    let home = env.home();
    let outside = env.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let runner = Runner::start_in(env, "", Vec::new());
    let work = runner.work();
    let mut t = Term::connect(&runner.socket);
    let script = format!(
        "cat {home}/.ssh/id_ed25519; echo planted > {home}/planted; echo out > {outside}/pwned; \
         echo inside > {work}/made-inside; echo finished",
        home = home.display(),
        outside = outside.display(),
    );
    let id = t.open(&work, &["/bin/sh", "-c", &script]);
    t.attach(&id, Some(0));
    t.event("terminal.closed");
    let text = t.text();
    assert!(text.contains("finished"), "{text}");
    assert!(!text.contains(SECRET), "the ssh key was read: {text}");
    assert!(!home.join("planted").exists(), "home was written");
    assert!(
        !outside.join("pwned").exists(),
        "outside the workspace was written"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{work}/made-inside")).unwrap(),
        "inside\n"
    );
}

#[test]
fn a_client_that_never_reads_is_detached_and_another_gets_every_byte() {
    // A ring far smaller than the output: the reader gets every byte only because the
    // runner stops reading the terminal while a client is behind.
    const SIZE: usize = 50_000_000;
    let runner = Runner::start("[runner]\nterminal_scrollback = \"64KiB\"\n");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(
        &runner.work(),
        &[
            "/bin/sh",
            "-c",
            &format!(
                "stty -echo; echo go; read x; head -c {SIZE} /dev/zero | tr '\\0' a; echo; echo END"
            ),
        ],
    );
    // This one attaches, then never reads again.
    let mut stuck = Term::connect(&runner.socket);
    stuck.attach(&id, Some(0));
    t.attach(&id, Some(0));
    t.output_until(b"go\r\n");
    t.input(&id, b"\n");
    t.output_until(b"\r\nEND\r\n");
    assert!(t.events.iter().all(|e| e["type"] != "terminal.truncated"));
    let want = [b"go\r\n".as_slice(), &vec![b'a'; SIZE], b"\r\nEND\r\n"].concat();
    assert!(t.out == want, "not exactly the program's output");
    let stuck_events: Vec<Value> = std::iter::from_fn(|| stuck.read_item())
        .filter(|v| v["type"] == "terminal.detached")
        .take(1)
        .collect();
    assert_eq!(stuck_events.len(), 1, "the stuck client was detached");
    let peak = proc_kib(u32::try_from(runner.pid()).unwrap(), "VmHWM");
    assert!(
        peak < 200 * 1024,
        "runner peak RSS {peak} KiB for 50 MB of output"
    );
}

#[test]
fn ctrl_c_leaves_the_shell_running() {
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(&runner.work(), &["/bin/sh"]);
    t.attach(&id, Some(0));
    t.input(&id, b"echo one-$((1+1))\n");
    t.output_until(b"one-2");
    let before = t.out.len();
    t.input(&id, b"\x03");
    // The shell gets SIGINT from the terminal and prompts again. The prompt may come in
    // the same frame as the echoed `^C`: it is looked for from just after the `^C`.
    t.output_since(before, b"^C");
    let after = before + t.out[before..].windows(2).position(|w| w == b"^C").unwrap() + 2;
    while !(contains(&t.out[after..], b"# ") || contains(&t.out[after..], b"$ ")) {
        assert!(t.read_item().is_some(), "closed: {}", t.text());
    }
    t.input(&id, b"echo two-$((2+2))\n");
    t.output_until(b"two-4");
    assert_eq!(list(&mut t).len(), 1);
}

/// The prompt of [`interactive_bash`]; set as `'tty-''prompt> '` so that the echo of the
/// command setting it does not hold it.
const PROMPT: &[u8] = b"tty-prompt> ";

/// An interactive bash without start-up files on a new terminal, at its first prompt.
fn interactive_bash(runner: &Runner, t: &mut Term) -> String {
    let id = t.open(
        &runner.work(),
        &["/bin/bash", "--norc", "--noprofile", "-i"],
    );
    t.attach(&id, Some(0));
    t.input(&id, b"PS1='tty-''prompt> '\n");
    t.output_until(PROMPT);
    id
}

#[test]
fn ctrl_c_interrupts_the_foreground_command_and_the_shell_prompts_again() {
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = interactive_bash(&runner, &mut t);
    // A controlling terminal: no "no job control" complaint at start-up.
    assert!(!t.text().contains("job control"), "{}", t.text());
    t.input(&id, b"sleep 2718\n");
    let marker = "sleep\u{0}2718";
    assert!(
        wait_until(WAIT, || !processes_with(marker).is_empty()),
        "sleep never ran: {}",
        t.text()
    );
    let sleep = processes_with(marker)[0];
    assert!(wait_until(WAIT, || in_foreground(sleep)), "{}", t.text());
    let before = t.out.len();
    t.input(&id, b"\x03");
    // The terminal sends SIGINT to its foreground process group, the shell's job.
    t.output_since(before, PROMPT);
    assert!(
        wait_until(WAIT, || processes_with(marker).is_empty()),
        "sleep survived Ctrl-C: {}",
        t.text()
    );
    let before = t.out.len();
    t.input(&id, b"echo status-$?\n");
    t.output_since(before, b"status-130");
    assert_eq!(list(&mut t).len(), 1);
}

#[test]
fn a_resize_sends_sigwinch_to_the_foreground_program() {
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = interactive_bash(&runner, &mut t);
    // A foreground job of the shell, as a full-screen program would be. (Expansions make
    // the words looked for differ from the echo of what was typed.)
    t.input(
        &id,
        b"sh -c 'trap \"echo got-$((6*7)); exit 0\" WINCH; echo armed-$((1+1)); while :; do sleep 1; done'\n",
    );
    t.output_until(b"armed-2");
    let before = t.out.len();
    t.ok(json!({"type":"terminal.resize","terminal":id,"cols":100,"rows":30}));
    t.output_since(before, b"got-42");
    t.output_since(before, PROMPT);
    // The shell itself gets it too: bash runs the trap at its prompt, or at the latest
    // once the next command is done.
    let before = t.out.len();
    t.input(&id, b"trap 'echo shell-win''ch' WINCH; echo set-$((4+4))\n");
    t.output_since(before, b"set-8");
    let before = t.out.len();
    t.ok(json!({"type":"terminal.resize","terminal":id,"cols":90,"rows":20}));
    t.input(&id, b"echo next-$((5+5))\n");
    t.output_since(before, b"next-10");
    t.output_since(before, b"shell-winch");
    let before = t.out.len();
    t.input(&id, b"stty size\n");
    t.output_since(before, b"20 90");
}

#[test]
fn job_control_works_in_a_terminal() {
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = interactive_bash(&runner, &mut t);
    t.input(&id, b"sleep 3141 &\n");
    let marker = "sleep\u{0}3141";
    assert!(
        wait_until(WAIT, || !processes_with(marker).is_empty()),
        "sleep never ran: {}",
        t.text()
    );
    let before = t.out.len();
    t.input(&id, b"jobs\n");
    t.output_since(before, b"Running");
    t.output_since(before, b"sleep 3141 &");
    // Brought to the foreground, it is the one Ctrl-C interrupts.
    let sleep = processes_with(marker)[0];
    assert!(!in_foreground(sleep), "{}", t.text());
    let before = t.out.len();
    t.input(&id, b"fg\n");
    t.output_since(before, b"sleep 3141\r\n");
    assert!(
        wait_until(WAIT, || in_foreground(sleep)),
        "fg did not give the terminal to the job: {}",
        t.text()
    );
    let before = t.out.len();
    t.input(&id, b"\x03");
    t.output_since(before, PROMPT);
    assert!(
        wait_until(WAIT, || processes_with(marker).is_empty()),
        "sleep survived Ctrl-C: {}",
        t.text()
    );
    let before = t.out.len();
    t.input(&id, b"jobs; echo listed-$((3+3))\n");
    t.output_since(before, b"listed-6");
    assert!(!contains(&t.out[before..], b"Running"), "{}", t.text());
}

#[test]
fn ctrl_c_reaches_a_command_run_without_a_shell() {
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(
        &runner.work(),
        &["/bin/sh", "-c", "echo armed-$((2+3)); exec sleep 1618"],
    );
    t.attach(&id, Some(0));
    t.output_until(b"armed-5");
    assert!(
        wait_until(WAIT, || !processes_with("sleep\u{0}1618").is_empty()),
        "sleep never ran: {}",
        t.text()
    );
    t.input(&id, b"\x03");
    let exit = t.event("terminal.exit");
    assert!(exit["code"] == 130 || exit["signal"] == 2, "{exit}");
    t.event("terminal.closed");
}

#[test]
fn max_terminals_caps_open_and_a_closed_one_frees_its_place() {
    let runner = Runner::start("[runner]\nmax_terminals = 2\n");
    let mut t = Term::connect(&runner.socket);
    let work = runner.work();
    let first = t.open(&work, &["/bin/cat"]);
    t.open(&work, &["/bin/cat"]);
    let answer = t.request(
        json!({"type":"terminal.open","cwd":work,"cols":80,"rows":24,"command":["/bin/cat"]}),
    );
    assert_eq!(answer["code"], "invalid_state", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("max_terminals = 2"),
        "{answer}"
    );
    assert_eq!(list(&mut t).len(), 2, "the refused one started nothing");
    t.ok(json!({"type":"terminal.close","terminal":first}));
    t.open(&work, &["/bin/cat"]);
    assert_eq!(list(&mut t).len(), 2);
}

#[test]
fn a_slow_reader_of_100_mb_gets_every_byte_and_the_runner_stays_small() {
    const SIZE: usize = 100_000_000;
    let runner = Runner::start("");
    let mut t = Term::connect(&runner.socket);
    let id = t.open(
        &runner.work(),
        &[
            "/bin/sh",
            "-c",
            &format!(
                "stty -echo; echo go; read x; head -c {SIZE} /dev/zero | tr '\\0' a; echo; echo END"
            ),
        ],
    );
    t.attach(&id, Some(0));
    t.output_until(b"go\r\n");
    t.input(&id, b"\n");
    // A client slower than the program: it takes 64 KiB, then looks away for 4 ms
    // (about 16 MB/s), so the program outruns it the whole time.
    let mut next_pause = 64 << 10;
    while !t.out.ends_with(b"\r\nEND\r\n") {
        assert!(t.read_item().is_some(), "closed early");
        if t.out.len() >= next_pause {
            std::thread::sleep(std::time::Duration::from_millis(4));
            next_pause += 64 << 10;
        }
    }
    // Every byte, in order, once (offsets are checked on every frame).
    assert_eq!(t.out.len(), 4 + SIZE + 7);
    assert!(t.out[4..4 + SIZE].iter().all(|b| *b == b'a'));
    assert!(t.events.iter().all(|e| e["type"] != "terminal.truncated"));
    let peak = proc_kib(u32::try_from(runner.pid()).unwrap(), "VmHWM");
    assert!(
        peak < 64 * 1024,
        "runner peak RSS {peak} KiB for 100 MB to a slow client"
    );
}

//! A client of the real binary: JSON lines out, lines and raw frames in (on a reader thread,
//! so every wait has a deadline).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use oqto_ipc::Spawn;
use oqto_protocol::{
    ErrorCode, ErrorResponse, FilesEvent, FilesReply, FilesServerMessage, FilesWelcome,
};
use oqto_testkit::{TestEnv, wait_until};

pub const WAIT: Duration = Duration::from_secs(20);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oqto-files"))
}

/// What arrives from the server.
#[derive(Debug)]
pub enum Frame {
    Msg(FilesServerMessage),
    /// A `data` frame: its header and its bytes.
    Data {
        id: String,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// The stream ended (or did not parse: the text).
    End(String),
}

/// Everything a request got, in order, up to and including its final `ok`/`error`.
#[derive(Debug)]
pub struct Answer {
    pub data: Vec<(u64, Vec<u8>)>,
    pub events: Vec<FilesEvent>,
    pub last: Result<FilesReply, ErrorResponse>,
}

impl Answer {
    #[track_caller]
    pub fn ok(self) -> FilesReply {
        match self.last {
            Ok(r) => r,
            Err(e) => panic!("expected ok, got {e:?}"),
        }
    }

    #[track_caller]
    pub fn err(self, code: ErrorCode) -> ErrorResponse {
        match self.last {
            Ok(r) => panic!("expected {code}, got ok {r:?}"),
            Err(e) => {
                assert_eq!(e.code, code, "{e:?}");
                e
            }
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.data
            .iter()
            .flat_map(|(_, b)| b.iter().copied())
            .collect()
    }
}

pub struct Client {
    pub child: Option<Child>,
    writer: Box<dyn Write + Send>,
    frames: Receiver<Frame>,
    /// Frames read while waiting for another request.
    stash: Vec<Frame>,
    next_id: u64,
    pub welcome: Option<FilesWelcome>,
}

fn reader_thread(read: impl Read + Send + 'static) -> Receiver<Frame> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(read);
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Frame::End(String::new()));
                    return;
                }
                Ok(_) => {}
            }
            let line = line.trim_end_matches('\n');
            let frame = match FilesServerMessage::parse(line) {
                Ok(FilesServerMessage::Data(h)) => {
                    let mut bytes = vec![0u8; usize::try_from(h.len).unwrap()];
                    if r.read_exact(&mut bytes).is_err() {
                        let _ = tx.send(Frame::End("cut inside a data frame".into()));
                        return;
                    }
                    Frame::Data {
                        id: h.id.0,
                        offset: h.offset,
                        bytes,
                    }
                }
                Ok(msg) => Frame::Msg(msg),
                Err(e) => Frame::End(format!("unparsable line {line:?}: {e}")),
            };
            if tx.send(frame).is_err() {
                return;
            }
        }
    });
    rx
}

impl Client {
    /// Starts `oqto-files --root ROOT --stdio ARGS...` and says hello.
    pub fn stdio(env: &TestEnv, args: &[&str]) -> Self {
        let mut client = Self::stdio_no_hello(env, args);
        client.hello();
        client
    }

    pub fn stdio_no_hello(env: &TestEnv, args: &[&str]) -> Self {
        let log = std::fs::File::create(env.root().join("files.log")).expect("log");
        let mut child = Spawn::new(bin())
            .envs(env.vars())
            .arg("--root")
            .arg(env.work())
            .arg("--stdio")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start oqto-files");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        Self {
            child: Some(child),
            writer: Box::new(stdin),
            frames: reader_thread(stdout),
            stash: Vec::new(),
            next_id: 0,
            welcome: None,
        }
    }

    /// Connects to a socket server and says hello.
    pub fn connect(socket: &Path) -> Self {
        let stream = UnixStream::connect(socket).expect("connect");
        let read = stream.try_clone().unwrap();
        let mut client = Self {
            child: None,
            writer: Box::new(stream),
            frames: reader_thread(read),
            stash: Vec::new(),
            next_id: 0,
            welcome: None,
        };
        client.hello();
        client
    }

    fn hello(&mut self) {
        self.send_line(r#"{"type":"hello","protocol":1,"client":"it/0"}"#);
        match self.next_frame() {
            Frame::Msg(FilesServerMessage::Welcome(w)) => self.welcome = Some(w),
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub fn send_line(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
        self.writer.flush().unwrap();
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    /// A fresh request id.
    pub fn id(&mut self) -> String {
        self.next_id += 1;
        format!("r{}", self.next_id)
    }

    #[track_caller]
    pub fn next_frame(&mut self) -> Frame {
        if !self.stash.is_empty() {
            return self.stash.remove(0);
        }
        self.recv(WAIT).expect("no answer from oqto-files in time")
    }

    pub fn recv(&mut self, timeout: Duration) -> Option<Frame> {
        match self.frames.recv_timeout(timeout) {
            Ok(f) => Some(f),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Frame::End("reader gone".into())),
        }
    }

    /// Sends `{"id": <fresh>, ...fields}` and collects its answer.
    #[track_caller]
    pub fn call(&mut self, fields: serde_json::Value) -> Answer {
        let id = self.id();
        let mut obj = fields;
        obj.as_object_mut()
            .unwrap()
            .insert("id".into(), serde_json::Value::String(id.clone()));
        self.send_line(&obj.to_string());
        self.answer(&id)
    }

    /// Collects frames of request `id` until its final line; others are kept for later.
    #[track_caller]
    pub fn answer(&mut self, id: &str) -> Answer {
        let deadline = Instant::now() + WAIT;
        let mut answer = Answer {
            data: Vec::new(),
            events: Vec::new(),
            last: Err(ErrorResponse::new(None, ErrorCode::Other, "none")),
        };
        let mut kept = Vec::new();
        let mut stash = std::mem::take(&mut self.stash).into_iter();
        loop {
            let frame = if let Some(f) = stash.next() {
                f
            } else {
                let left = deadline.saturating_duration_since(Instant::now());
                self.recv(left)
                    .unwrap_or_else(|| panic!("no final answer to {id} in time"))
            };
            match frame {
                Frame::Data {
                    id: fid,
                    offset,
                    bytes,
                } if fid == id => {
                    answer.data.push((offset, bytes));
                }
                Frame::Msg(FilesServerMessage::Event(FilesEvent::SearchMatches {
                    id: ref eid,
                    ..
                })) if eid.as_str() == id => {
                    if let Frame::Msg(FilesServerMessage::Event(ev)) = frame {
                        answer.events.push(ev);
                    }
                }
                Frame::Msg(FilesServerMessage::Ok(ok)) if ok.id.as_str() == id => {
                    answer.last = Ok(ok.result);
                    break;
                }
                Frame::Msg(FilesServerMessage::Error(e))
                    if e.id.as_ref().is_some_and(|i| i.as_str() == id) =>
                {
                    answer.last = Err(e);
                    break;
                }
                Frame::End(why) => panic!("stream ended waiting for {id}: {why}"),
                other => kept.push(other),
            }
        }
        kept.extend(stash);
        self.stash = kept;
        answer
    }

    /// The next error without an id (bad input).
    #[track_caller]
    pub fn anonymous_error(&mut self) -> ErrorResponse {
        loop {
            match self.next_frame() {
                Frame::Msg(FilesServerMessage::Error(e)) if e.id.is_none() => return e,
                Frame::End(why) => panic!("stream ended: {why}"),
                other => self.stash.push(other),
            }
        }
    }

    /// Waits for the next frame that `want` accepts (others are kept).
    #[track_caller]
    pub fn wait_for<T>(&mut self, mut want: impl FnMut(&Frame) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        let mut idx = 0;
        loop {
            if idx < self.stash.len() {
                if let Some(t) = want(&self.stash[idx]) {
                    self.stash.remove(idx);
                    return t;
                }
                idx += 1;
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self
                .recv(left)
                .expect("the awaited frame did not come in time");
            if let Frame::End(why) = &frame {
                panic!("stream ended: {why}");
            }
            self.stash.push(frame);
        }
    }

    /// Closes stdin and waits for the process to exit; its status code.
    pub fn finish(mut self) -> Option<i32> {
        self.writer = Box::new(std::io::sink());
        let mut child = self.child.take()?;
        let mut status = None;
        assert!(
            wait_until(WAIT, || {
                status = child.try_wait().unwrap();
                status.is_some()
            }),
            "oqto-files did not exit after stdin closed"
        );
        status.and_then(|s| s.code())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A socket server in `env`, stopped on drop.
pub struct Server {
    pub child: Child,
    pub socket: PathBuf,
}

impl Server {
    pub fn start(env: &TestEnv, args: &[&str]) -> Self {
        let socket = env.runtime_dir().join("oqto/files.sock");
        let log = std::fs::File::create(env.root().join("files.log")).expect("log");
        let child = Spawn::new(bin())
            .envs(env.vars())
            .arg("--root")
            .arg(env.work())
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start oqto-files");
        let mut server = Self { child, socket };
        let live = wait_until(WAIT, || {
            oqto_ipc::socket::is_live(&server.socket) || server.child.try_wait().unwrap().is_some()
        });
        assert!(
            live && server.child.try_wait().unwrap().is_none(),
            "server did not come up"
        );
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

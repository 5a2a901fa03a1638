//! A relay started from its binary in a private environment, an HTTP GET over a plain TCP
//! socket, and a WebSocket client that reads envelope frames with deadlines.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use oqto_ipc::spawn::Spawn;
use oqto_testkit::{TestEnv, wait_until};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// A program built next to this test's executable.
pub fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p oqto-runner -p oqto-sandbox -p oqto-fake-agent -p oqto-files`",
        path.display()
    );
    path
}

/// A running `oqto-relay` (and the runner it starts on demand).
pub struct Relay {
    pub env: TestEnv,
    vars: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    /// Arguments added to every start (e.g. `--tls-cert`).
    pub args: Vec<String>,
    /// Under TLS: the client side, trusting the relay's certificate.
    pub tls: Option<tokio_rustls::TlsConnector>,
    child: Option<Child>,
    pub url: String,
    pub login_url: String,
}

impl Relay {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// Starts the relay with `relay_toml` as its configuration.
    pub fn start_with(relay_toml: &str) -> Self {
        Self::start_with_runner(relay_toml, "")
    }

    /// As [`Relay::start_with`], with `runner_extra` added to `[runner]` in runner.toml.
    pub fn start_with_runner(relay_toml: &str, runner_extra: &str) -> Self {
        let mut relay = Self::prepare(relay_toml, runner_extra);
        relay.launch();
        relay
    }

    /// A relay not started yet (see [`Relay::launch`]).
    pub fn prepare(relay_toml: &str, runner_extra: &str) -> Self {
        // The runner starts this one (next to it) for the files channel.
        built("oqto-files");
        let env = TestEnv::new();
        env.write(
            "config/oqto/runner.toml",
            format!(
                "[runner]\ndefault_harness = \"fake\"\n{runner_extra}\n[harness.fake]\ncommand = \"{}\"\n",
                built("oqto-fake-agent").display()
            ),
        );
        env.write("config/oqto/relay.toml", relay_toml);
        let mut vars = env.vars();
        vars.push(("OQTO_RUNNER_BIN".into(), built("oqto-runner").into()));
        vars.push(("OQTO_SANDBOX_BIN".into(), built("oqto-sandbox").into()));
        Self {
            env,
            vars,
            args: Vec::new(),
            tls: None,
            child: None,
            url: String::new(),
            login_url: String::new(),
        }
    }

    /// A relay serving TLS itself with a self-signed certificate for 127.0.0.1 made here
    /// (`--tls-cert`/`--tls-key`); its client side trusts that certificate.
    pub fn start_tls() -> Self {
        let mut relay = Self::prepare("", "");
        let (cert, key) = relay.self_signed();
        relay.args = vec![
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ];
        relay.launch();
        relay
    }

    /// Writes a self-signed certificate for 127.0.0.1 and its key; returns their paths
    /// and makes this relay's client side trust it.
    pub fn self_signed(&mut self) -> (PathBuf, PathBuf) {
        use tokio_rustls::rustls;
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = self.env.write("tls/cert.pem", made.cert.pem());
        let key = self
            .env
            .write("tls/key.pem", made.signing_key.serialize_pem());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(made.cert.der().clone()).unwrap();
        #[allow(deprecated)]
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        self.tls = Some(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
            config,
        )));
        (cert, key)
    }

    /// Starts the relay process (again) and waits for its `relay.json`.
    pub fn launch(&mut self) {
        let state_file = self.state_file();
        let _ = std::fs::remove_file(&state_file);
        let mut args = Vec::new();
        if !self.args.iter().any(|a| a == "--listen") {
            args.extend(["--listen", "127.0.0.1:0"]);
        }
        args.extend(self.args.iter().map(String::as_str));
        let log = std::fs::File::create(self.log_file()).expect("the relay's log");
        let child = self
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start oqto-relay");
        self.child = Some(child);
        let mut announced = None;
        assert!(
            wait_until(WAIT, || {
                announced = std::fs::read_to_string(&state_file)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok());
                announced.is_some()
            }),
            "the relay did not write {}",
            state_file.display()
        );
        let announced = announced.unwrap();
        announced["url"].as_str().unwrap().clone_into(&mut self.url);
        announced["login_url"]
            .as_str()
            .unwrap()
            .clone_into(&mut self.login_url);
    }

    /// The relay's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running relay").id()
    }

    /// Where the relay's stderr (its log) goes.
    pub fn log_file(&self) -> PathBuf {
        self.env.work().join("relay.log")
    }

    /// Runs `oqto-relay ARGS`, which must end (with an error, when it is a server) within
    /// the deadline.
    pub fn run_to_end(&self, args: &[&str]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oqto-relay");
        let ended = wait_until(WAIT, || matches!(child.try_wait(), Ok(Some(_))));
        if !ended {
            let _ = child.kill();
            let _ = child.wait();
            panic!("oqto-relay {args:?} did not end");
        }
        child.wait_with_output().expect("its output")
    }

    pub fn state_file(&self) -> PathBuf {
        self.env.runtime_dir().join("oqto/relay.json")
    }

    fn command(&self, args: &[&str]) -> Spawn {
        Spawn::new(env!("CARGO_BIN_EXE_oqto-relay"))
            .envs(self.vars.clone())
            .current_dir(self.env.work())
            .args(args)
    }

    /// Runs `oqto-relay ARGS` (a subcommand) to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oqto-relay")
            .wait_with_output()
            .expect("wait for oqto-relay")
    }

    /// Runs `oqto-relay ARGS` with `input` on its stdin (not a terminal).
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oqto-relay");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
        child.wait_with_output().expect("wait for oqto-relay")
    }

    /// A new API token from `oqto-relay token create`.
    pub fn token(&self, args: &[&str]) -> String {
        let mut all = vec!["token", "create"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// `host:port`.
    pub fn host(&self) -> &str {
        self.url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
    }

    /// Opens a fresh login link (from `oqto-relay link`) and returns the `Cookie` header
    /// value it set.
    pub async fn login(&self) -> String {
        let link = self.run(&["link"]);
        assert!(
            link.status.success(),
            "{}",
            String::from_utf8_lossy(&link.stderr)
        );
        let link = String::from_utf8(link.stdout).unwrap();
        let path = link.trim().trim_start_matches(&self.url).to_owned();
        let response = self.get(&path, &[]).await;
        assert!(response.starts_with("HTTP/1.1 303"), "{response}");
        let set_cookie = header(&response, "set-cookie").expect("a cookie");
        assert!(header(&response, "location").as_deref() == Some("/"));
        set_cookie.split(';').next().unwrap().to_owned()
    }

    /// A GET (or another method) with extra headers, over a fresh TCP connection: the
    /// whole response.
    pub async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
        self.http(None, method, path, headers, "").await
    }

    /// A POST of `body` as `content_type` from the local address `from` (any 127.x.y.z
    /// reaches a relay on 127.0.0.1): the whole response.
    pub async fn post(
        &self,
        from: &str,
        path: &str,
        content_type: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> String {
        let mut all = vec![("content-type", content_type)];
        all.extend_from_slice(headers);
        self.http(Some(from), "POST", path, &all, body).await
    }

    /// One HTTP/1.1 request on a fresh connection (over TLS when the relay serves it).
    async fn http(
        &self,
        from: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> String {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(from) = from {
            socket
                .bind(std::net::SocketAddr::new(from.parse().unwrap(), 0))
                .unwrap();
        }
        let stream = socket
            .connect(self.host().parse().unwrap())
            .await
            .expect("connect");
        let mut text = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.host(),
            body.len()
        );
        for (name, value) in headers {
            let _ = write!(text, "{name}: {value}\r\n");
        }
        text.push_str("\r\n");
        text.push_str(body);
        let mut out = Vec::new();
        if let Some(tls) = &self.tls {
            let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(
                std::net::Ipv4Addr::LOCALHOST.into(),
            );
            let mut stream = tls.connect(name, stream).await.expect("a TLS handshake");
            stream.write_all(text.as_bytes()).await.unwrap();
            // The relay closes without a TLS close_notify at times; what came is enough.
            let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut out))
                .await
                .expect("a response");
        } else {
            let mut stream = stream;
            stream.write_all(text.as_bytes()).await.unwrap();
            tokio::time::timeout(WAIT, stream.read_to_end(&mut out))
                .await
                .expect("a response")
                .unwrap();
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> String {
        self.request("GET", path, headers).await
    }

    /// A logged-in WebSocket whose TCP receive buffer is small, so that a test that stops
    /// reading fills the relay's queues quickly.
    pub async fn small_buffered_browser(&self) -> Ws {
        let cookie = self.login().await;
        let mut request = format!("ws://{}/ws", self.host())
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
        request
            .headers_mut()
            .insert("origin", self.url.parse().unwrap());
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket
            .connect(self.host().parse().unwrap())
            .await
            .expect("connect");
        let (stream, _) = tokio_tungstenite::client_async(request, Box::new(stream) as Box<dyn Io>)
            .await
            .expect("an authenticated websocket");
        Ws { stream }
    }

    /// Opens `/ws` with `headers`; the error is the refusal (e.g. an HTTP 403).
    pub async fn ws(&self, headers: &[(&str, &str)]) -> Result<Ws, tungstenite::Error> {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        let mut request = format!("{scheme}://{}/ws", self.host())
            .into_client_request()
            .unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let tcp = TcpStream::connect(self.host()).await.expect("connect");
        let stream: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let name = tokio_rustls::rustls::pki_types::ServerName::IpAddress(
                    std::net::Ipv4Addr::LOCALHOST.into(),
                );
                Box::new(tls.connect(name, tcp).await.expect("a TLS handshake"))
            }
        };
        let (stream, _) = tokio_tungstenite::client_async(request, stream).await?;
        Ok(Ws { stream })
    }

    /// A WebSocket logged in with a cookie from the login link, from the relay's origin.
    pub async fn browser(&self) -> Ws {
        let cookie = self.login().await;
        let origin = self.url.clone();
        self.ws(&[("cookie", &cookie), ("origin", &origin)])
            .await
            .expect("an authenticated websocket")
    }

    /// The pid of the runner holding the test's data directory.
    pub fn runner_pid(&self) -> Option<u32> {
        oqto_config::holder(&self.env.data_dir().join("oqto")).map(|h| h.pid)
    }

    /// Sends SIGTERM and waits for the relay to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("a running relay");
        signal(child.id(), nix::sys::signal::Signal::SIGTERM);
        child.wait().expect("wait for the relay")
    }
}

pub fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
    nix::sys::signal::kill(pid, signal).expect("signal");
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), nix::sys::signal::Signal::SIGTERM);
            let _ = child.wait();
        }
        // The runner the relay started on demand outlives it: stop it.
        if let Some(pid) = self.runner_pid() {
            signal(pid, nix::sys::signal::Signal::SIGTERM);
            let lock = self.env.data_dir().join("oqto");
            wait_until(WAIT, || oqto_config::holder(&lock).is_none());
        }
    }
}

/// A header's value in a raw HTTP response.
pub fn header(response: &str, name: &str) -> Option<String> {
    response
        .split("\r\n\r\n")
        .next()?
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
}

/// The HTTP status of a refused upgrade.
pub fn refusal_status(result: Result<Ws, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("not an HTTP refusal: {other}"),
        Ok(_) => panic!("the upgrade was accepted"),
    }
}

type Socket = WebSocketStream<Box<dyn Io>>;

/// A client connection, plain or TLS.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// A connected WebSocket.
pub struct Ws {
    stream: WebSocketStream<Box<dyn Io>>,
}

impl Ws {
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.stream
            .send(Message::Text(text.into().into()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.stream
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    /// The two halves, to write and read at the same time.
    pub fn split(self) -> (SplitSink<Socket, Message>, SplitStream<Socket>) {
        self.stream.split()
    }

    pub async fn send(&mut self, frame: &Value) {
        self.send_text(frame.to_string()).await;
    }

    /// The next text frame as JSON, answering relay pings on the way; `None` when the
    /// socket closed (with the close code, if any, in `Err`).
    pub async fn next(&mut self) -> Result<Value, Option<u16>> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a frame within the deadline");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
                    if frame["ch"] == "relay" && frame["msg"]["type"] == "ping" {
                        self.send(&json!({"ch":"relay","msg":{"type":"pong"}}))
                            .await;
                        continue;
                    }
                    return Ok(frame);
                }
                Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| f.code.into())),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(None),
            }
        }
    }

    /// The next text frame as it came, answering nothing; `None` once the socket closed.
    pub async fn next_raw(&mut self) -> Option<String> {
        loop {
            let message = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("a frame within the deadline");
            match message {
                Some(Ok(Message::Text(text))) => return Some(text.to_string()),
                Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next frame, text (as JSON) or binary, answering relay pings on the way.
    pub async fn next_any(&mut self) -> Result<Value, Vec<u8>> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a frame within the deadline");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
                    if frame["ch"] == "relay" && frame["msg"]["type"] == "ping" {
                        self.send(&json!({"ch":"relay","msg":{"type":"pong"}}))
                            .await;
                        continue;
                    }
                    return Ok(frame);
                }
                Some(Ok(Message::Binary(bytes))) => return Err(bytes.to_vec()),
                Some(Ok(_)) => {}
                other => panic!("the socket ended: {other:?}"),
            }
        }
    }

    /// The next frame, which must exist.
    pub async fn frame(&mut self) -> Value {
        self.next().await.expect("an open socket")
    }

    /// Says hello and returns the relay's welcome message.
    pub async fn hello(&mut self) -> Value {
        self.send(
            &json!({"ch":"relay","msg":{"type":"hello","protocol":1,"client":"relay-test/1"}}),
        )
        .await;
        let frame = self.frame().await;
        assert_eq!(frame["ch"], "relay", "{frame}");
        assert_eq!(frame["msg"]["type"], "welcome", "{frame}");
        frame["msg"].clone()
    }

    /// Sends an agent request and returns its reply's message; agent events that arrive
    /// first are pushed to `events`.
    pub async fn request(&mut self, msg: Value, events: &mut Vec<Value>) -> Value {
        let id = msg["id"].clone();
        self.send(&json!({"ch":"agent","msg":msg})).await;
        loop {
            let frame = self.frame().await;
            assert_eq!(frame["ch"], "agent", "unexpected {frame}");
            let msg = frame["msg"].clone();
            if msg["id"] == id && (msg["type"] == "ok" || msg["type"] == "error") {
                return msg;
            }
            events.push(msg);
        }
    }

    /// Agent events of `session` until it is idle again after working, appended to
    /// `events` (which may already hold some). `working`: the session was seen working
    /// before (a resumed subscription replays only what came after that).
    pub async fn until_idle(&mut self, session: &str, working: bool, events: &mut Vec<Value>) {
        let mut worked = working
            || events
                .iter()
                .any(|e| e["type"] == "state" && e["state"] == "working");
        if worked
            && events
                .last()
                .is_some_and(|e| e["type"] == "state" && e["state"] == "idle")
        {
            return;
        }
        loop {
            let frame = self.frame().await;
            if frame["ch"] != "agent" || frame["msg"]["session"] != session {
                continue;
            }
            let msg = frame["msg"].clone();
            let state = msg["state"].as_str().map(str::to_owned);
            let is_state = msg["type"] == "state";
            events.push(msg);
            if is_state && state.as_deref() == Some("working") {
                worked = true;
            }
            if is_state && worked && state.as_deref() == Some("idle") {
                return;
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// Creates a fake-agent session in `cwd` and returns its id.
pub async fn create_session(ws: &mut Ws, cwd: &str) -> String {
    let mut events = Vec::new();
    let reply = ws
        .request(
            json!({"id":"create-1","type":"session.create","harness":"fake","cwd":cwd}),
            &mut events,
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    reply["result"]["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Subscribes `ws` to `session` and prompts it with `text`, both answered `ok`; the
/// session's events that arrive meanwhile go to `seen`.
pub async fn subscribe_and_prompt(ws: &mut Ws, session: &str, text: &str, seen: &mut Vec<Value>) {
    for msg in [
        json!({"id":"s","type":"session.subscribe","session":session}),
        json!({"id":"p","type":"prompt","session":session,"text":text}),
    ] {
        let reply = ws.request(msg, seen).await;
        assert_eq!(reply["type"], "ok", "{reply}");
    }
}

/// The seqs of a list of events.
pub fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().filter_map(|e| e["seq"].as_u64()).collect()
}

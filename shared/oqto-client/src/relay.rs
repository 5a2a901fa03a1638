//! The runner protocol through an `oqto-relay`: one WebSocket to the relay's `/ws`,
//! authenticated with `Authorization: Bearer TOKEN` (never a token in the URL), the
//! envelope's `relay` channel for hello/welcome, pings and the relay's own errors, and the
//! `agent` channel carrying runner lines verbatim. A [`Client`] made here works as one on
//! the Unix socket: the same requests, replies, events and ends.
//!
//! What differs is said where it happens: the relay answers the runner handshake itself
//! (its welcome wraps the runner's), it pings (answered here), and when it loses the
//! runner it says so on its channel: that is the end of this connection, as a runner that
//! went away is on the socket, and the caller reconnects and resubscribes.
//!
//! Terminals (`terminal.*`) go on the relay's `terminal` channel: requests, replies and
//! events as text, output and input bytes as binary frames ([`TerminalBytes`]), read back
//! into the same [`Incoming::Terminal`] items as on the socket. The relay answers input
//! only when it fails (an `error` with the id `input:<terminal>`). A relay whose welcome
//! does not list the channel is not sent them: the request fails at once with
//! `unsupported`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use oqto_protocol::{
    Channel, ErrorCode, ErrorResponse, Frame, Hello, PROTOCOL_VERSION, RelayMessage, RelayWelcome,
    TerminalBytes, TerminalEvent, TerminalId, agent_frame, terminal_frame,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::Error;
use crate::inbox::{Inbox, deliver};
use crate::runner::{Client, Incoming, Parsed, Writer, parse_line};

/// The variable naming an extra CA certificate file (PEM) to trust, for a relay with a
/// self-signed or private certificate.
pub const RELAY_CA_VAR: &str = "OQTO_RELAY_CA";
/// How long connecting and the relay's welcome may take (the relay may be starting the
/// runner on demand, which may take up to 15 s).
const CONNECT_DEADLINE: Duration = Duration::from_secs(30);
/// The relay's ping interval when its welcome does not say (it always does).
const DEFAULT_PING: Duration = Duration::from_secs(15);
/// Frames queued for the socket's writer.
const OUT_QUEUE: usize = 64;
/// Items the reader may queue before it waits for the caller.
const QUEUE: usize = 1024;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where a relay is and how this client proves who it is.
#[derive(Clone)]
pub struct Relay {
    url: String,
    token: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Relay {
    /// A relay at `url` (`https://host[:port]`, `wss://…/ws`, `http://…` or `ws://…`; a
    /// URL without a path means the relay's `/ws`), reached with the API `token`. For
    /// `https`/`wss`, the server's certificate must chain to a web PKI root or to one in
    /// `ca_file` (PEM).
    pub fn new(url: &str, token: &str, ca_file: Option<&Path>) -> Result<Self, Error> {
        let url = ws_url(url)?;
        let token = token.trim();
        if token.is_empty() || token.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(Error::BadToken(
                "the token is empty or has spaces or control characters in it".into(),
            ));
        }
        let tls = if url.starts_with("wss://") {
            Some(Arc::new(tls_config(ca_file)?))
        } else {
            None
        };
        Ok(Self {
            url,
            token: token.to_owned(),
            tls,
        })
    }

    /// The WebSocket URL this connects to (`wss://host:port/ws`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the connection is encrypted (`wss://`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Connects, says hello as `client` and waits for the relay's welcome.
    pub async fn connect(&self, client: &str) -> Result<Client, Error> {
        tokio::time::timeout(CONNECT_DEADLINE, self.connect_now(client))
            .await
            .unwrap_or_else(|_| {
                Err(Error::Unreachable {
                    url: self.url.clone(),
                    why: format!(
                        "no welcome within {}s (is it a relay?)",
                        CONNECT_DEADLINE.as_secs()
                    ),
                })
            })
    }

    async fn connect_now(&self, client: &str) -> Result<Client, Error> {
        let mut request = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| Error::BadUrl {
                url: self.url.clone(),
                why: e.to_string(),
            })?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.token))
            .map_err(|e| Error::BadToken(e.to_string()))?;
        auth.set_sensitive(true);
        request.headers_mut().insert("authorization", auth);
        let connector = match &self.tls {
            Some(config) => Connector::Rustls(config.clone()),
            None => Connector::Plain,
        };
        let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
        let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            Some(connector),
        )
        .await
        .map_err(|e| self.connect_error(e))?;
        let welcome = hello(&mut socket, client).await?;
        let ping = Duration::from_millis(welcome.ping_interval_ms);
        let ping = if ping.is_zero() { DEFAULT_PING } else { ping };
        let terminals = welcome
            .channels
            .iter()
            .any(|c| c == Channel::Terminal.name());
        let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(async move { pump(socket, out_rx, &tx, ping * 3).await });
        Ok(Client::over(
            Writer::Relay(Outbox {
                tx: out_tx,
                terminals,
            }),
            Inbox::new(rx),
            welcome.runner.clone(),
            Some(welcome),
        ))
    }

    /// A failed connect or upgrade, sorted: an HTTP refusal (403 for a bad, expired or
    /// revoked token) is [`Error::Refused`], the rest [`Error::Unreachable`].
    fn connect_error(&self, err: tungstenite::Error) -> Error {
        let url = self.url.clone();
        match err {
            tungstenite::Error::Http(response) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                    .unwrap_or_default();
                Error::Refused {
                    url,
                    status: response.status().as_u16(),
                    message: body,
                }
            }
            tungstenite::Error::Url(e) => Error::BadUrl {
                url,
                why: e.to_string(),
            },
            tungstenite::Error::Io(e) => Error::Unreachable {
                url,
                why: e.to_string(),
            },
            tungstenite::Error::Tls(e) => Error::Unreachable {
                url,
                why: format!("TLS: {e}"),
            },
            other => Error::Unreachable {
                url,
                why: other.to_string(),
            },
        }
    }
}

/// The writing side of a relay connection: frames for the socket's task.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Message>,
    /// Whether the relay carries the `terminal` channel.
    terminals: bool,
}

impl Outbox {
    /// Sends one runner request line: `terminal.*` on the `terminal` channel, the rest on
    /// the `agent` channel; `terminal.input` bytes (`input`: the terminal and its bytes) as
    /// one binary frame instead of the line.
    pub(crate) async fn send(
        &self,
        name: &str,
        line: &str,
        input: Option<(&TerminalId, &[u8])>,
    ) -> Result<(), Error> {
        if let Some(refused) = self.refuses(name) {
            return Err(refused);
        }
        let message = match input {
            Some((terminal, bytes)) => Message::Binary(
                TerminalBytes::Input {
                    terminal: &terminal.0,
                    bytes,
                }
                .encode()
                .into(),
            ),
            None if name.starts_with("terminal.") => Message::Text(terminal_frame(line).into()),
            None => Message::Text(agent_frame(line).into()),
        };
        self.tx
            .send(message)
            .await
            .map_err(|_| Error::Closed(Some("the relay connection ended".into())))
    }

    /// Whether a command named `name` can go through this relay; else the error to answer
    /// with.
    fn refuses(&self, name: &str) -> Option<Error> {
        (name.starts_with("terminal.") && !self.terminals).then(|| {
            Error::Reply(ErrorResponse::new(
                None,
                ErrorCode::Unsupported,
                format!(
                    "{name}: this relay does not carry terminals (its welcome lists no `terminal` channel)"
                ),
            ))
        })
    }
}

/// `ws://` or `wss://` with a path: `http(s)` becomes `ws(s)`, no path becomes `/ws`. A
/// query or fragment is refused: nothing secret belongs in a URL.
pub fn ws_url(url: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::BadUrl {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("no scheme; use https://HOST[:PORT] (or http://, wss://, ws://)"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(bad("the scheme is not http, https, ws or wss")),
    };
    if rest.contains(['?', '#']) {
        return Err(bad(
            "a relay URL has no query or fragment (the token goes in OQTO_TOKEN or --token-file)",
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad("a relay URL carries no user or password"));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err(bad("no host"));
    }
    // `host:port` or `[v6]:port`: a port is a number up to 65535.
    if let Some((_, port)) = authority.rsplit_once(':')
        && !port.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(bad("the port is not a number from 0 to 65535"));
    }
    let path = if path.is_empty() || path == "/" {
        "/ws"
    } else {
        path
    };
    let full = format!("{scheme}://{authority}{path}");
    // The URI parser has the last word (ports, characters).
    full.as_str()
        .into_client_request()
        .map_err(|e| bad(&e.to_string()))?;
    Ok(full)
}

/// Trust for `wss://`: the web PKI's roots, plus the certificates in `ca_file`.
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in read_pem_certs(path)? {
            roots
                .add(cert)
                .map_err(|e| bad_ca(path, &format!("not a CA certificate: {e}")))?;
        }
    }
    // ring, not aws-lc-rs: it builds with cc alone and quickly. rustls 0.23.48 marks its
    // provider deprecated because ring has no post-quantum key exchange; the classical
    // groups (X25519, P-256, P-384) it offers are what relays behind nginx or Caddy speak.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::io("setting up TLS", io::Error::other(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn read_pem_certs(path: &Path) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, Error> {
    use rustls_pki_types::pem::PemObject as _;
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| bad_ca(path, &e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_ca(path, &e.to_string()))?;
    if certs.is_empty() {
        return Err(bad_ca(path, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn bad_ca(path: &Path, why: &str) -> Error {
    Error::BadCa {
        path: PathBuf::from(path),
        why: why.to_owned(),
    }
}

/// Says hello on the `relay` channel and reads up to the relay's welcome, answering its
/// pings. An error the relay sends first (it cannot reach or start the runner) is the
/// error.
async fn hello(socket: &mut Socket, client: &str) -> Result<RelayWelcome, Error> {
    let hello = RelayMessage::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        client: client.to_owned(),
    });
    socket
        .send(Message::Text(hello.to_frame().into()))
        .await
        .map_err(|e| Error::Handshake(format!("cannot send hello to the relay: {e}")))?;
    loop {
        let text = match socket.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Err(Error::Handshake(format!(
                    "the relay closed the connection before its welcome {why}"
                )));
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(Error::Handshake(e.to_string())),
            None => {
                return Err(Error::Handshake(
                    "the relay closed the connection before its welcome".into(),
                ));
            }
        };
        let Ok(frame) = Frame::parse(&text) else {
            return Err(Error::Handshake(format!(
                "not a relay envelope: {}",
                text.chars().take(200).collect::<String>()
            )));
        };
        if frame.ch != Channel::Relay {
            continue;
        }
        match RelayMessage::from_raw(frame.msg) {
            Ok(RelayMessage::Welcome(welcome)) => return Ok(welcome),
            Ok(RelayMessage::Ping {}) => {
                let pong = RelayMessage::Pong {}.to_frame();
                let _ = socket.send(Message::Text(pong.into())).await;
            }
            Ok(RelayMessage::Error(err)) => return Err(Error::Reply(err)),
            Ok(_) => {}
            Err(e) => return Err(Error::Handshake(e.message)),
        }
    }
}

/// Owns the socket: writes what the client sends, answers pings, and turns frames into
/// [`Incoming`] items until either side ends. `silence` without a frame from the relay
/// (three of its ping intervals) is a dead connection.
async fn pump(
    mut socket: Socket,
    mut out: mpsc::Receiver<Message>,
    tx: &mpsc::Sender<Incoming>,
    silence: Duration,
) {
    let mut deadline = tokio::time::Instant::now() + silence;
    loop {
        let item = tokio::select! {
            frame = socket.next() => {
                deadline = tokio::time::Instant::now() + silence;
                match frame {
                    Some(Ok(Message::Text(text))) => match on_text(&text) {
                        Read::Item(item) => item,
                        Read::Pong => {
                            let pong = RelayMessage::Pong {}.to_frame();
                            if let Err(e) = socket.send(Message::Text(pong.into())).await {
                                Incoming::Closed(Some(e.to_string()))
                            } else {
                                continue;
                            }
                        }
                        Read::Nothing => continue,
                    },
                    Some(Ok(Message::Binary(bytes))) => match output(&bytes) {
                        Some(item) => item,
                        None => continue,
                    },
                    Some(Ok(Message::Close(frame))) => Incoming::Closed(Some(match frame {
                        Some(f) if !f.reason.is_empty() => format!("the relay closed the connection: {}", f.reason),
                        _ => "the relay closed the connection".to_owned(),
                    })),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => Incoming::Closed(Some(format!("the relay connection failed: {e}"))),
                    None => Incoming::Closed(Some("the relay closed the connection".into())),
                }
            }
            message = out.recv() => {
                let Some(message) = message else {
                    // The client is gone: say goodbye.
                    let _ = socket.close(None).await;
                    return;
                };
                match socket.send(message).await {
                    Ok(()) => continue,
                    Err(e) => Incoming::Closed(Some(format!("the relay connection failed: {e}"))),
                }
            }
            () = tokio::time::sleep_until(deadline) => Incoming::Closed(Some(format!(
                "the relay sent nothing for {}s",
                silence.as_secs()
            ))),
        };
        if !deliver(tx, item).await {
            let _ = socket.close(None).await;
            return;
        }
    }
}

/// What a text frame from the relay means here.
// Read once and moved on at once, like `Incoming` itself.
#[allow(clippy::large_enum_variant)]
enum Read {
    Item(Incoming),
    /// A ping: answer it.
    Pong,
    Nothing,
}

fn on_text(text: &str) -> Read {
    let frame = match Frame::parse(text) {
        Ok(frame) => frame,
        Err(e) => {
            tracing::warn!("skipping an unreadable frame from the relay: {}", e.message);
            return Read::Nothing;
        }
    };
    match frame.ch {
        Channel::Agent | Channel::Terminal => match parse_line(frame.msg.get().to_owned()) {
            Parsed::Item(item) => Read::Item(item),
            // No bytes follow a line here: output comes as binary frames.
            Parsed::Terminal(event) if event.frame_len() == 0 => {
                Read::Item(Incoming::Terminal(event, Vec::new()))
            }
            Parsed::Terminal(_) | Parsed::Skip => Read::Nothing,
        },
        Channel::Relay => match RelayMessage::from_raw(frame.msg) {
            Ok(RelayMessage::Ping {}) => Read::Pong,
            Ok(RelayMessage::Error(err)) => Read::Item(relay_error(err)),
            Ok(RelayMessage::Welcome(_) | RelayMessage::Pong {} | RelayMessage::Hello(_)) => {
                Read::Nothing
            }
            Err(e) => {
                tracing::warn!("skipping an unreadable relay message: {}", e.message);
                Read::Nothing
            }
        },
        Channel::Files => Read::Nothing,
    }
}

/// A binary frame: a terminal's output, as the socket's `terminal.output` and its bytes.
fn output(frame: &[u8]) -> Option<Incoming> {
    match TerminalBytes::decode(frame) {
        Ok(TerminalBytes::Output {
            terminal,
            offset,
            bytes,
        }) => Some(Incoming::Terminal(
            TerminalEvent::Output {
                terminal: TerminalId(terminal.to_owned()),
                offset,
                len: bytes.len() as u64,
            },
            bytes.to_vec(),
        )),
        Ok(TerminalBytes::Input { .. }) => {
            tracing::warn!("skipping an input frame from the relay");
            None
        }
        Err(e) => {
            tracing::warn!("skipping a binary frame from the relay: {}", e.message);
            None
        }
    }
}

/// The relay's own error: a request's when it names one; the end of the connection when
/// the relay lost the runner (as a runner that went away is on the socket); else an error
/// tied to no request.
fn relay_error(err: ErrorResponse) -> Incoming {
    match err.id.clone() {
        Some(id) => Incoming::Reply(id, Err(err)),
        None if err.code == ErrorCode::RunnerUnavailable => {
            Incoming::Closed(Some(format!("the relay lost the runner: {}", err.message)))
        }
        None => Incoming::Error(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_websocket_scheme_and_path() {
        assert_eq!(
            ws_url("https://oqto.example.com").unwrap(),
            "wss://oqto.example.com/ws"
        );
        assert_eq!(
            ws_url("http://127.0.0.1:8420/").unwrap(),
            "ws://127.0.0.1:8420/ws"
        );
        assert_eq!(ws_url("wss://h:9/oqto/ws").unwrap(), "wss://h:9/oqto/ws");
        assert_eq!(ws_url("WS://h:1").unwrap(), "ws://h:1/ws");
    }

    #[test]
    fn urls_without_a_host_or_with_secrets_are_refused() {
        for bad in [
            "oqto.example.com",
            "ftp://h",
            "https://",
            "https://:80",
            "https://h/ws?token=x",
            "https://u:p@h",
            "http://h:notaport",
        ] {
            let err = ws_url(bad).unwrap_err();
            assert!(matches!(err, Error::BadUrl { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn tokens_with_spaces_are_refused_and_never_shown() {
        assert!(matches!(
            Relay::new("http://h:1", "a b", None),
            Err(Error::BadToken(_))
        ));
        let relay = Relay::new("http://h:1", "oqto_secret\n", None).unwrap();
        assert!(!format!("{relay:?}").contains("secret"));
        assert!(!relay.is_tls());
        assert!(Relay::new("https://h", "t", None).unwrap().is_tls());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = Relay::new("https://h", "t", Some(&path)).unwrap_err();
        assert!(matches!(err, Error::BadCa { .. }), "{err}");
        let missing = Relay::new("https://h", "t", Some(&dir.path().join("none"))).unwrap_err();
        assert!(matches!(missing, Error::BadCa { .. }), "{missing}");
    }

    #[test]
    fn terminals_go_only_to_a_relay_that_carries_them() {
        let (tx, _rx) = mpsc::channel(1);
        let old = Outbox {
            tx: tx.clone(),
            terminals: false,
        };
        let err = old.refuses("terminal.list").unwrap();
        assert_eq!(err.code(), Some(&ErrorCode::Unsupported));
        assert!(
            err.to_string().contains("does not carry terminals"),
            "{err}"
        );
        assert!(old.refuses("session.list").is_none());
        let new = Outbox {
            tx,
            terminals: true,
        };
        assert!(new.refuses("terminal.list").is_none());
    }

    #[test]
    fn output_frames_become_terminal_output() {
        let frame = TerminalBytes::Output {
            terminal: "term_1",
            offset: 7,
            bytes: b"hi\r\n",
        }
        .encode();
        let Some(Incoming::Terminal(
            TerminalEvent::Output {
                terminal,
                offset,
                len,
            },
            bytes,
        )) = output(&frame)
        else {
            panic!("not output");
        };
        assert_eq!((terminal.0.as_str(), offset, len), ("term_1", 7, 4));
        assert_eq!(bytes, b"hi\r\n");
        assert!(output(b"\x09junk").is_none());
    }

    #[test]
    fn relay_errors_become_replies_ends_or_notices() {
        let with_id = ErrorResponse::new(
            Some(oqto_protocol::RequestId("c3".into())),
            ErrorCode::RunnerUnavailable,
            "not connected",
        );
        assert!(matches!(relay_error(with_id), Incoming::Reply(id, Err(_)) if id.0 == "c3"));
        let lost = ErrorResponse::new(None, ErrorCode::RunnerUnavailable, "lost it");
        assert!(
            matches!(relay_error(lost), Incoming::Closed(Some(why)) if why.contains("lost it"))
        );
        let other = ErrorResponse::new(None, ErrorCode::TooLarge, "big");
        assert!(matches!(relay_error(other), Incoming::Error(_)));
    }
}

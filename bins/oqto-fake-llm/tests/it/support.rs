//! Shared helpers: the server in-process, a tiny HTTP/1.1 client, and an SSE parser.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use oqto_fake_llm::{Background, Config};
use serde_json::Value;

/// Deadline for anything a test waits on.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The server running on its own runtime in this process, on `127.0.0.1:0`.
pub struct Server {
    pub addr: SocketAddr,
    inner: Background,
}

impl Server {
    pub fn start(config: Config) -> Self {
        let inner = Background::start(config).expect("start the fake LLM");
        Self {
            addr: inner.addr(),
            inner,
        }
    }

    pub fn base_url(&self) -> String {
        self.inner.base_url()
    }

    pub fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, None)
    }

    pub fn post(&self, path: &str, body: &str) -> HttpResponse {
        http(self.addr, "POST", path, Some(body.as_bytes()))
    }

    /// A chat completion request with one user message.
    pub fn chat(&self, text: &str, stream: bool) -> HttpResponse {
        let body = serde_json::json!({
            "model": "oqto-demo",
            "stream": stream,
            "stream_options": {"include_usage": true},
            "messages": [
                {"role": "system", "content": "You are a test."},
                {"role": "user", "content": [{"type": "text", "text": text}]},
            ],
        });
        self.post("/v1/chat/completions", &body.to_string())
    }

    pub fn stats(&self) -> Value {
        self.get("/stats").json()
    }

    /// Stops the server and checks that `serve` returned `Ok`.
    pub fn stop(self) {
        self.inner.stop(DEADLINE).expect("serve returned Ok");
    }
}

/// A response as read off the socket.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Writes the head of an HTTP/1.1 request with `Connection: close`.
pub fn send_request(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let body = body.unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    stream
}

/// One request on a fresh connection, read to the end.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> HttpResponse {
    let mut stream = send_request(addr, method, path, body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of response head");
    let head = std::str::from_utf8(&raw[..end]).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body);
    }
    response
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).expect("ascii size");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("hex chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// The payloads of the `data:` lines of an event stream, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {event:?}"))
                .to_owned()
        })
        .collect()
}

/// A parsed stream: its chunks (JSON), and whether it ended with `[DONE]`.
pub struct Stream {
    pub chunks: Vec<Value>,
    pub done: bool,
}

impl Stream {
    pub fn parse(body: &str) -> Self {
        let mut data = sse_data(body);
        let done = data.last().is_some_and(|d| d == "[DONE]");
        if done {
            data.pop();
        }
        let chunks = data
            .iter()
            .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("chunk {d:?}: {e}")))
            .collect();
        Self { chunks, done }
    }

    /// The concatenation of `choices[0].delta.<field>` over all chunks.
    pub fn joined(&self, field: &str) -> String {
        self.chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"][field].as_str())
            .collect()
    }

    /// The number of chunks whose delta has a non-empty `<field>`.
    pub fn count(&self, field: &str) -> usize {
        self.chunks
            .iter()
            .filter(|c| {
                c["choices"][0]["delta"][field]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
            })
            .count()
    }

    pub fn finish_reasons(&self) -> Vec<String> {
        self.chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str().map(str::to_owned))
            .collect()
    }

    pub fn usage(&self) -> Option<&Value> {
        self.chunks.iter().find_map(|c| c.get("usage"))
    }
}

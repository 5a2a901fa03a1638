//! The `files` channel: one connection per workspace root a WebSocket names, to the file
//! server the runner runs for it (`files.open`: the runner owns the user's processes,
//! starts `oqto-files` on demand and ends it when idle). The root is a session id; its
//! working directory is what the server serves. The connection closes with the WebSocket.
//!
//! Lines go through verbatim, in `{"ch":"files","root":R,"msg":M}` frames. A `data` header
//! from the server is followed by one binary frame with its bytes; an `upload.chunk` from
//! the client is followed by one binary frame with its bytes, which the relay writes after
//! the header as the file server's raw frame. Bytes never travel as base64.

use std::collections::HashMap;
use std::path::PathBuf;

use oqto_client::Runner;
use oqto_ipc::framing::{AsyncLineReader, AsyncLineWriter};
use oqto_protocol::{
    Command, ErrorCode, ErrorResponse, FilesClientMessage, Hello, PROTOCOL_VERSION, Reply,
    RequestId, SessionId, files_frame,
};
use serde::Deserialize;
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::mpsc;

use crate::upstream::Upstream;

/// The file servers of one WebSocket, by root.
#[derive(Debug, Default)]
pub struct Files {
    servers: HashMap<String, Server>,
    /// An `upload.chunk` waiting for its binary frame: root, header line, length.
    pending: Option<(String, String, u64)>,
}

#[derive(Debug)]
struct Server {
    writer: AsyncLineWriter<OwnedWriteHalf>,
    // Aborted on drop, which closes the read half and so the connection.
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// What a line says about itself, as much as the relay needs.
#[derive(Deserialize)]
struct Peek {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    id: Option<RequestId>,
    #[serde(default)]
    len: Option<u64>,
}

fn peek(line: &str) -> Peek {
    serde_json::from_str(line).unwrap_or(Peek {
        kind: None,
        id: None,
        len: None,
    })
}

/// A files-channel error for `root`, in the file server's own error shape.
pub fn error_frame(root: &str, id: Option<RequestId>, code: ErrorCode, message: &str) -> String {
    let err = oqto_protocol::FilesServerMessage::Error(ErrorResponse::new(id, code, message));
    files_frame(root, &err.to_line())
}

impl Files {
    /// Forwards one client message for `root`, starting its server first if needed.
    /// `Err` is a frame to answer with.
    pub async fn send(
        &mut self,
        runner: &Runner,
        root: &str,
        line: String,
        out: &mpsc::Sender<Upstream>,
    ) -> Result<(), String> {
        let peeked = peek(&line);
        if self.pending.is_some() {
            return Err(error_frame(
                root,
                peeked.id,
                ErrorCode::BadRequest,
                "an upload.chunk is waiting for its binary frame",
            ));
        }
        if !self.servers.contains_key(root) {
            let server = start(runner, root, out)
                .await
                .map_err(|(code, message)| error_frame(root, peeked.id.clone(), code, &message))?;
            self.servers.insert(root.to_owned(), server);
        }
        if peeked.kind.as_deref() == Some("upload.chunk") {
            let len = peeked.len.unwrap_or(0);
            self.pending = Some((root.to_owned(), line, len));
            return Ok(());
        }
        let Some(server) = self.servers.get_mut(root) else {
            return Err(error_frame(
                root,
                peeked.id,
                ErrorCode::Internal,
                "the file server is gone",
            ));
        };
        if let Err(e) = server.writer.write_line(&line).await {
            self.servers.remove(root);
            return Err(error_frame(
                root,
                peeked.id,
                ErrorCode::Io,
                &format!("the file server went away: {e}"),
            ));
        }
        Ok(())
    }

    /// Whether an `upload.chunk` waits for its binary frame.
    pub fn awaiting_bytes(&self) -> bool {
        self.pending.is_some()
    }

    /// The bytes of the pending `upload.chunk`. `Err` is a frame to answer with.
    pub async fn bytes(&mut self, bytes: &[u8]) -> Result<(), String> {
        let Some((root, header, len)) = self.pending.take() else {
            return Err(crate::ws::relay_error(
                ErrorCode::BadRequest,
                "a binary frame where a text frame was expected",
            ));
        };
        let id = peek(&header).id;
        if bytes.len() as u64 != len {
            return Err(error_frame(
                &root,
                id,
                ErrorCode::BadRequest,
                &format!(
                    "upload.chunk announced {len} bytes, the binary frame has {}",
                    bytes.len()
                ),
            ));
        }
        let Some(server) = self.servers.get_mut(&root) else {
            return Err(error_frame(
                &root,
                id,
                ErrorCode::Io,
                "the file server went away",
            ));
        };
        server
            .writer
            .write_frame(&header, bytes)
            .await
            .map_err(|e| {
                error_frame(
                    &root,
                    id,
                    ErrorCode::Io,
                    &format!("the file server went away: {e}"),
                )
            })
    }
}

/// The socket of the runner's file server for session `root` (`files.open`).
async fn open(runner: &Runner, root: &str) -> Result<PathBuf, (ErrorCode, String)> {
    let mut client = runner.connect().await.map_err(|e| {
        (
            ErrorCode::RunnerUnavailable,
            format!("cannot reach the runner: {e}"),
        )
    })?;
    match client
        .request(Command::FilesOpen {
            session: Some(SessionId(root.to_owned())),
            cwd: None,
        })
        .await
    {
        Ok(Reply::FilesServer { socket, .. }) => Ok(PathBuf::from(socket)),
        Ok(_) => Err((ErrorCode::Internal, "unexpected reply to files.open".into())),
        Err(e) => Err((
            e.code().copied().unwrap_or(ErrorCode::RunnerUnavailable),
            format!("root {root}: {e}"),
        )),
    }
}

/// Connects to the runner's file server for `root`, greets it, forwards its welcome.
async fn start(
    runner: &Runner,
    root: &str,
    out: &mpsc::Sender<Upstream>,
) -> Result<Server, (ErrorCode, String)> {
    // A server may reach its idle time between `files.open` and the connect; the second
    // `files.open` then starts a new one.
    let mut tries = 0;
    let stream = loop {
        tries += 1;
        let socket = open(runner, root).await?;
        match UnixStream::connect(&socket).await {
            Ok(stream) => break stream,
            Err(e) if tries < 2 => {
                tracing::debug!(root, socket = %socket.display(), error = %e, "file server gone; asking again");
            }
            Err(e) => {
                return Err((
                    ErrorCode::Io,
                    format!(
                        "cannot connect to the file server {}: {e}",
                        socket.display()
                    ),
                ));
            }
        }
    };
    let (read, write) = stream.into_split();
    let mut writer = AsyncLineWriter::new(write);
    let mut reader = AsyncLineReader::new(BufReader::new(read));
    let hello = FilesClientMessage::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        client: crate::client_name(),
    });
    let greeted = async {
        writer.write_line(&hello.to_line()).await.ok()?;
        reader.read_line().await.ok().flatten()
    };
    let Some(welcome) = greeted.await else {
        return Err((
            ErrorCode::Io,
            format!("the file server for {root} did not answer"),
        ));
    };
    tracing::info!(root, "connected to the file server");
    let _ = out.send(Upstream::Frame(files_frame(root, &welcome))).await;
    let out = out.clone();
    let root = root.to_owned();
    let reader = tokio::spawn(async move {
        loop {
            let Ok(Some(line)) = reader.read_line().await else {
                return;
            };
            let peeked = peek(&line);
            let frame = files_frame(&root, &line);
            // A `data` header goes with its bytes as one item, so that nothing (a
            // terminal's binary frame) comes between them on the socket.
            let item = if peeked.kind.as_deref() == Some("data") {
                let len = peeked.len.unwrap_or(0);
                let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                let read = reader
                    .read_raw(len, |chunk| {
                        bytes.extend_from_slice(chunk);
                        Ok::<(), std::convert::Infallible>(())
                    })
                    .await;
                if read.is_err() {
                    return;
                }
                Upstream::Data(frame, bytes)
            } else {
                Upstream::Frame(frame)
            };
            if out.send(item).await.is_err() {
                return;
            }
        }
    });
    Ok(Server { writer, reader })
}

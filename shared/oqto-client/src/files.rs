//! One connection to `oqto-files`: the handshake, requests correlated by id, the raw
//! `data` frames of a `read` with their bytes, `search.matches` and `watch.changes` lines,
//! and uploads (an `upload.chunk` request line followed by its raw bytes).
//!
//! As for the runner, a reader task turns what arrives into [`FilesIncoming`] items on a
//! channel, so a caller can wait on it next to other things (cancel-safe); a `data` frame
//! arrives whole, header and bytes, never half-read.

use std::path::Path;

use oqto_ipc::framing::{AsyncLineReader, AsyncLineWriter};
use oqto_protocol::{
    DataHeader, ErrorResponse, FilesClientMessage, FilesCommand, FilesEvent, FilesReply,
    FilesRequest, FilesServerMessage, FilesWelcome, Hello, PROTOCOL_VERSION, RequestId,
};
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::Error;
use crate::inbox::{Inbox, Item, deliver, frame_bytes};

/// Items the reader task may queue before it waits for the caller (a queued `data` frame
/// holds at most `max_chunk` bytes).
const QUEUE: usize = 64;

/// What the file server sent, or that it stopped sending.
#[derive(Debug)]
pub enum FilesIncoming {
    Reply(RequestId, Result<FilesReply, ErrorResponse>),
    /// A raw frame of request `header.id`'s file, with its `header.len` bytes.
    Data(DataHeader, Vec<u8>),
    Event(FilesEvent),
    /// An `error` tied to no request (e.g. a line over `max_line`); the connection goes on
    /// unless [`FilesIncoming::Closed`] follows.
    Error(ErrorResponse),
    /// The connection ended; `None` at a clean end of stream, else why.
    Closed(Option<String>),
}

/// A connected, greeted client of `oqto-files`.
#[derive(Debug)]
pub struct FilesClient {
    writer: AsyncLineWriter<OwnedWriteHalf>,
    inbox: Inbox<FilesIncoming>,
    next_id: u64,
    /// The server's greeting: its version, whether it is read-only, its limits.
    pub welcome: FilesWelcome,
}

/// A file read whole: the bytes, and the `read` reply (size, mtime, mime, binary).
#[derive(Debug)]
pub struct ReadFile {
    pub bytes: Vec<u8>,
    pub reply: FilesReply,
}

impl FilesClient {
    /// Connects to an `oqto-files --socket` and does the handshake as `client`.
    pub async fn connect(socket: &Path, client: &str) -> Result<Self, Error> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| Error::connecting(socket, e))?;
        Self::greet(stream, client).await
    }

    /// Does the handshake on a connected stream.
    pub async fn greet(stream: UnixStream, client: &str) -> Result<Self, Error> {
        let (read, write) = stream.into_split();
        let mut writer = AsyncLineWriter::new(write);
        let hello = FilesClientMessage::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            client: client.to_owned(),
        });
        writer
            .write_line(&hello.to_line())
            .await
            .map_err(|e| Error::Handshake(format!("cannot send hello: {e}")))?;
        let mut reader = AsyncLineReader::new(BufReader::new(read));
        let line = reader
            .read_line()
            .await
            .map_err(|e| Error::Handshake(e.to_string()))?
            .ok_or_else(|| {
                Error::Handshake("the file server closed the connection before its welcome".into())
            })?;
        let welcome = match FilesServerMessage::parse(&line) {
            Ok(FilesServerMessage::Welcome(welcome)) => welcome,
            Ok(FilesServerMessage::Error(err)) => return Err(Error::Reply(err)),
            Ok(_) => {
                return Err(Error::Handshake(
                    "the file server did not start with a welcome".into(),
                ));
            }
            Err(e) => return Err(Error::Handshake(format!("unreadable welcome: {e}"))),
        };
        let max_chunk = welcome.limits.max_chunk;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(async move { read_loop(&mut reader, &tx, max_chunk).await });
        Ok(Self {
            writer,
            inbox: Inbox::new(rx),
            next_id: 0,
            welcome,
        })
    }

    fn next_request(&mut self, command: FilesCommand) -> (RequestId, String) {
        self.next_id += 1;
        let id = RequestId(format!("f{}", self.next_id));
        let line = FilesRequest {
            id: id.clone(),
            command,
        }
        .to_line();
        (id, line)
    }

    /// Sends a request without waiting for its reply; returns its id.
    pub async fn send(&mut self, command: FilesCommand) -> Result<RequestId, Error> {
        let (id, line) = self.next_request(command);
        self.writer
            .write_line(&line)
            .await
            .map_err(|e| Error::Closed(Some(e.to_string())))?;
        Ok(id)
    }

    /// Sends a request and waits for its reply; what arrives meanwhile is kept, in order,
    /// for [`FilesClient::next`].
    pub async fn request(&mut self, command: FilesCommand) -> Result<FilesReply, Error> {
        let id = self.send(command).await?;
        self.inbox.reply(&id).await
    }

    /// The next thing the server sent: buffered items first. Cancel-safe.
    pub async fn next(&mut self) -> FilesIncoming {
        self.inbox.next().await
    }

    /// Reads a whole file: its `data` frames, in order, then the reply. A file that
    /// changed while it was read ends with the server's `changed` error.
    pub async fn read(&mut self, path: &str) -> Result<ReadFile, Error> {
        let id = self
            .send(FilesCommand::Read {
                path: path.to_owned(),
                offset: None,
                length: None,
                expect: None,
            })
            .await?;
        let mut bytes = Vec::new();
        let reply = self
            .inbox
            .reply_with(&id, |item| match item {
                FilesIncoming::Data(header, chunk) if header.id == id => {
                    bytes.extend_from_slice(&chunk);
                    None
                }
                other => Some(other),
            })
            .await?;
        Ok(ReadFile { bytes, reply })
    }

    /// Uploads `bytes` to `path` in chunks of at most the server's `max_chunk`, each an
    /// `upload.chunk` line followed by its raw bytes, then moves the file into place. An
    /// interrupted upload can be resumed with [`FilesClient::upload_resume`].
    pub async fn upload(
        &mut self,
        path: &str,
        bytes: &[u8],
        create_parents: bool,
    ) -> Result<FilesReply, Error> {
        self.upload_from(path, None, bytes, create_parents).await
    }

    /// Resumes upload `upload` (its bytes so far are kept by the server): sends what
    /// follows the server's current offset of `bytes`, then finishes.
    pub async fn upload_resume(
        &mut self,
        path: &str,
        upload: &str,
        bytes: &[u8],
    ) -> Result<FilesReply, Error> {
        self.upload_from(path, Some(upload.to_owned()), bytes, false)
            .await
    }

    async fn upload_from(
        &mut self,
        path: &str,
        upload: Option<String>,
        bytes: &[u8],
        create_parents: bool,
    ) -> Result<FilesReply, Error> {
        let started = self
            .request(FilesCommand::UploadStart {
                path: path.to_owned(),
                upload,
                create_parents,
            })
            .await?;
        let FilesReply::Upload { upload, mut offset } = started else {
            return Err(Error::Handshake(format!(
                "unexpected reply to upload.start: {started:?}"
            )));
        };
        let chunk = usize::try_from(self.welcome.limits.max_chunk.max(1)).unwrap_or(usize::MAX);
        while let Some(rest) = usize::try_from(offset).ok().and_then(|o| bytes.get(o..))
            && !rest.is_empty()
        {
            let piece = &rest[..rest.len().min(chunk)];
            let (id, header) = self.next_request(FilesCommand::UploadChunk {
                upload: upload.clone(),
                offset,
                len: piece.len() as u64,
            });
            self.writer
                .write_frame(&header, piece)
                .await
                .map_err(|e| Error::Closed(Some(e.to_string())))?;
            match self.inbox.reply(&id).await? {
                FilesReply::Upload { offset: next, .. } => offset = next,
                other => {
                    return Err(Error::Handshake(format!(
                        "unexpected reply to upload.chunk: {other:?}"
                    )));
                }
            }
        }
        self.request(FilesCommand::UploadFinish {
            upload,
            sha256: None,
            expect: None,
        })
        .await
    }
}

async fn read_loop(
    reader: &mut AsyncLineReader<BufReader<OwnedReadHalf>>,
    tx: &mpsc::Sender<FilesIncoming>,
    max_chunk: u64,
) {
    loop {
        let item = match reader.read_line().await {
            Ok(None) => FilesIncoming::Closed(None),
            Err(e) if e.closes_connection() => FilesIncoming::Closed(Some(e.to_string())),
            Err(e) => {
                tracing::warn!("skipping an unreadable line from the file server: {e}");
                continue;
            }
            Ok(Some(line)) => match FilesServerMessage::parse(&line) {
                Ok(FilesServerMessage::Data(header)) => {
                    match frame_bytes(reader, header.len, max_chunk).await {
                        Ok(bytes) => FilesIncoming::Data(header, bytes),
                        Err(why) => FilesIncoming::Closed(Some(why)),
                    }
                }
                Ok(FilesServerMessage::Ok(ok)) => FilesIncoming::Reply(ok.id, Ok(ok.result)),
                Ok(FilesServerMessage::Error(err)) => match err.id.clone() {
                    Some(id) => FilesIncoming::Reply(id, Err(err)),
                    None => FilesIncoming::Error(err),
                },
                Ok(FilesServerMessage::Event(event)) => FilesIncoming::Event(event),
                Ok(FilesServerMessage::Welcome(_)) => continue,
                Err(e) => {
                    tracing::warn!("skipping an unreadable line from the file server: {e}");
                    continue;
                }
            },
        };
        if !deliver(tx, item).await {
            return;
        }
    }
}

impl Item for FilesIncoming {
    type Reply = FilesReply;

    fn reply_to(self, id: &RequestId) -> Result<Result<FilesReply, ErrorResponse>, Self> {
        match self {
            FilesIncoming::Reply(got, result) if &got == id => Ok(result),
            other => Err(other),
        }
    }

    fn ended(&self) -> Option<Error> {
        match self {
            FilesIncoming::Closed(why) => Some(Error::Closed(why.clone())),
            _ => None,
        }
    }

    fn closed(why: Option<String>) -> Self {
        FilesIncoming::Closed(why)
    }
}

//! A raw pass-through connection to the runner: after the handshake, lines go in and come
//! out as they are, request ids included, without decoding or re-encoding each event. The
//! relay forwards a browser's `agent` channel this way; the runner stays the one that
//! validates requests. A header line that announces raw bytes is followed by them:
//! `terminal.output` from the runner ([`RawReceiver::next_bytes`]), `terminal.input` to it
//! ([`RawSender::send_frame`]).

use std::io;
use std::path::Path;

use oqto_ipc::framing::{AsyncLineReader, AsyncLineWriter};
use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::Error;
use crate::runner::handshake;

/// A greeted connection that forwards lines unchanged.
#[derive(Debug)]
pub struct RawClient {
    /// The runner's `welcome` line, as it wrote it.
    pub welcome: String,
    pub sender: RawSender,
    pub receiver: RawReceiver,
}

/// The writing half: one line per call.
#[derive(Debug)]
pub struct RawSender {
    writer: AsyncLineWriter<OwnedWriteHalf>,
}

/// The reading half: one line per call, at most the framing's maximum length.
#[derive(Debug)]
pub struct RawReceiver {
    reader: AsyncLineReader<BufReader<OwnedReadHalf>>,
}

impl RawClient {
    /// Connects to `socket` and does the handshake as `client`; the welcome line is kept
    /// as it was written.
    pub async fn connect(socket: &Path, client: &str) -> Result<Self, Error> {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|e| Error::connecting(socket, e))?;
        let (reader, writer, welcome) = handshake(stream, client).await?;
        Ok(Self {
            welcome,
            sender: RawSender { writer },
            receiver: RawReceiver { reader },
        })
    }
}

impl RawSender {
    /// Writes one line (without its newline). A line with a newline inside is refused
    /// (`InvalidInput`): it would reach the runner as two.
    pub async fn send_line(&mut self, line: &str) -> io::Result<()> {
        self.writer.write_line(line).await
    }

    /// Writes a line that announces raw bytes (`terminal.input`), then the bytes.
    pub async fn send_frame(&mut self, line: &str, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_frame(line, bytes).await
    }
}

impl RawReceiver {
    /// The next line, without its newline; `None` at the end of the stream.
    pub async fn next_line(&mut self) -> Result<Option<String>, Error> {
        self.reader
            .read_line()
            .await
            .map_err(|e| Error::Closed(Some(e.to_string())))
    }

    /// The `len` raw bytes that follow a header line just read (`terminal.output`).
    pub async fn next_bytes(&mut self, len: u64) -> Result<Vec<u8>, Error> {
        let mut bytes = Vec::new();
        self.reader
            .read_raw(len, |chunk| {
                bytes.extend_from_slice(chunk);
                Ok::<(), std::convert::Infallible>(())
            })
            .await
            .map_err(|e| Error::Closed(Some(e.to_string())))?
            .map_err(|never| match never {})?;
        Ok(bytes)
    }
}

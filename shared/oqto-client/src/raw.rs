//! A raw pass-through connection to the runner: after the handshake, lines go in and come
//! out as they are, request ids included, without decoding or re-encoding each event. The
//! relay forwards a browser's `agent` channel this way; the runner stays the one that
//! validates requests.

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
}

impl RawReceiver {
    /// The next line, without its newline; `None` at the end of the stream.
    pub async fn next_line(&mut self) -> Result<Option<String>, Error> {
        self.reader
            .read_line()
            .await
            .map_err(|e| Error::Closed(Some(e.to_string())))
    }
}

//! What both clients do with the items their reader task queues: wait for the reply to one
//! request while keeping everything else, in order, for `next`; and see the end of the
//! connection once, however many calls are waiting.

use std::collections::VecDeque;

use oqto_ipc::framing::AsyncLineReader;
use oqto_protocol::{ErrorResponse, RequestId};
use tokio::io::AsyncBufRead;
use tokio::sync::mpsc;

use crate::Error;

/// An item a reader task queues: a reply to a request, the end of the connection, or
/// something else (events, frames) the caller reads with `next`.
pub(crate) trait Item: Sized {
    type Reply;
    /// The reply's result when this is the reply to `id`; else the item itself, back.
    fn reply_to(self, id: &RequestId) -> Result<Result<Self::Reply, ErrorResponse>, Self>;
    /// When this item is the end of the connection: the error a waiting request gets.
    fn ended(&self) -> Option<Error>;
    /// The end of the connection, as an item.
    fn closed(why: Option<String>) -> Self;
}

/// The receiving side of a reader task's channel, with what was read ahead.
#[derive(Debug)]
pub(crate) struct Inbox<T> {
    rx: mpsc::Receiver<T>,
    buffered: VecDeque<T>,
}

impl<T: Item> Inbox<T> {
    pub(crate) fn new(rx: mpsc::Receiver<T>) -> Self {
        Self {
            rx,
            buffered: VecDeque::new(),
        }
    }

    /// Waits for the reply to `id`. Every other item is offered to `take` first, which
    /// keeps it (returns `None`) or hands it back to be kept for `next`.
    pub(crate) async fn reply_with(
        &mut self,
        id: &RequestId,
        mut take: impl FnMut(T) -> Option<T>,
    ) -> Result<T::Reply, Error> {
        loop {
            let Some(item) = self.rx.recv().await else {
                return Err(Error::Closed(None));
            };
            if let Some(error) = item.ended() {
                // Later calls to `next` must still see the end.
                self.buffered.push_back(item);
                return Err(error);
            }
            match item.reply_to(id) {
                Ok(result) => return result.map_err(Error::Reply),
                Err(item) => {
                    if let Some(item) = take(item) {
                        self.buffered.push_back(item);
                    }
                }
            }
        }
    }

    /// Waits for the reply to `id`, keeping everything else for `next`.
    pub(crate) async fn reply(&mut self, id: &RequestId) -> Result<T::Reply, Error> {
        self.reply_with(id, Some).await
    }

    /// The next item: what was read ahead first. Cancel-safe.
    pub(crate) async fn next(&mut self) -> T {
        if let Some(item) = self.buffered.pop_front() {
            return item;
        }
        self.rx.recv().await.unwrap_or_else(|| T::closed(None))
    }
}

/// Hands `item` to the caller; whether the reader task should go on (not after the end,
/// nor once nobody listens).
pub(crate) async fn deliver<T: Item>(tx: &mpsc::Sender<T>, item: T) -> bool {
    let end = item.ended().is_some();
    tx.send(item).await.is_ok() && !end
}

/// Reads the `len` raw bytes that follow a frame header. A frame over `max` bytes is an
/// error: its bytes cannot be told from lines, so the connection cannot go on.
pub(crate) async fn frame_bytes<R: AsyncBufRead + Unpin>(
    reader: &mut AsyncLineReader<R>,
    len: u64,
    max: u64,
) -> Result<Vec<u8>, String> {
    if len > max {
        return Err(format!("a frame of {len} bytes, over the limit of {max}"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    reader
        .read_raw(len, |piece| {
            bytes.extend_from_slice(piece);
            Ok::<(), std::convert::Infallible>(())
        })
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_else(|never| match never {});
    Ok(bytes)
}

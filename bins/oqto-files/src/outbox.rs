//! The sending side of a connection's writer queue, used by the connection's reader, its
//! workers, searches and watches alike. It sits beneath all of them: it knows the file
//! server's lines and [`oqto_ipc::queue`], nothing else.

use std::sync::mpsc::SyncSender;

use oqto_ipc::queue::Out;
use oqto_protocol::{ErrorResponse, FilesReply, FilesServerMessage, OkResponse, RequestId};

/// The sending side of a connection's writer queue. Every method waits while the queue is
/// full and returns false when the client is gone.
#[derive(Clone, Debug)]
pub struct Outbox(SyncSender<Out>);

impl Outbox {
    /// An outbox feeding `tx` (the writer thread drains the other end).
    pub fn new(tx: SyncSender<Out>) -> Self {
        Self(tx)
    }

    /// Queues a line.
    pub fn send(&self, msg: &FilesServerMessage) -> bool {
        self.0.send(Out::Line(msg.to_line())).is_ok()
    }

    /// Queues a raw frame or anything else the writer knows.
    pub fn raw(&self, out: Out) -> bool {
        self.0.send(out).is_ok()
    }

    pub fn ok(&self, id: RequestId, result: FilesReply) -> bool {
        self.send(&FilesServerMessage::Ok(OkResponse { id, result }))
    }

    pub fn error(&self, e: ErrorResponse) -> bool {
        self.send(&FilesServerMessage::Error(e))
    }
}

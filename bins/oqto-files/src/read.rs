//! `read`: a file range streamed as raw `data` frames (header line, then the bytes, sent by
//! the writer thread with `sendfile`), then the `read` reply.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use oqto_ipc::queue::Out;
use oqto_protocol::{
    DataHeader, ErrorCode, ErrorResponse, FilesReply, FilesServerMessage, OkResponse, Precondition,
    RequestId,
};

use crate::confine::{FsError, FsResult, RelPath};
use crate::ops::Fs;
use crate::outbox::Outbox;

/// Bytes looked at to tell text from binary.
const BINARY_SNIFF: usize = 8192;

/// What a `read` asks for.
#[derive(Clone, Copy, Debug)]
pub struct ReadRequest<'a> {
    pub path: &'a str,
    pub offset: u64,
    /// To the end when `None`.
    pub length: Option<u64>,
    pub expect: Option<&'a Precondition>,
}

/// Streams a file range as `data` frames, then the `read` reply (queued behind them).
///
/// The `ok` and the `changed` error are both queued as one [`Out::Closing`]: the writer
/// picks `changed` when the file came up short while its frames were sent.
pub fn read(
    fs: &Fs,
    out: &Outbox,
    max_chunk: usize,
    id: RequestId,
    request: &ReadRequest<'_>,
    cancel: &AtomicBool,
) -> FsResult<()> {
    let ReadRequest {
        path,
        offset,
        length,
        expect,
    } = *request;
    let rel = RelPath::parse(path)?;
    let (file, st) = fs.root.open_read(&rel)?;
    if let Some(expect) = expect {
        let (dir, name) = fs.root.parent(&rel)?;
        fs.check(&dir, name, &rel, expect)?;
    }
    let size = u64::try_from(st.st_size).unwrap_or(0);
    if offset > size {
        return Err(FsError::new(
            ErrorCode::BadOffset,
            format!("offset {offset} is past the end of {rel} ({size} bytes)"),
        ));
    }
    let end = length.map_or(size, |l| offset.saturating_add(l).min(size));
    let (mime, binary) = sniff(&file, &rel);
    let file = Arc::new(file);
    let short = Arc::new(AtomicBool::new(false));
    let mut at = offset;
    while at < end {
        if cancel.load(Ordering::Relaxed) {
            return Err(FsError::new(ErrorCode::Cancelled, "cancelled"));
        }
        let len = (end - at).min(max_chunk as u64);
        let header = FilesServerMessage::Data(DataHeader {
            id: id.clone(),
            offset: at,
            len,
        })
        .to_line();
        let sent = out.raw(Out::File {
            header,
            file: Arc::clone(&file),
            offset: at,
            len,
            short: Arc::clone(&short),
        });
        if !sent {
            return Ok(());
        }
        at += len;
    }
    let whole = FilesServerMessage::Ok(OkResponse {
        id: id.clone(),
        result: FilesReply::Read {
            offset,
            length: end - offset,
            size,
            mtime: crate::confine::mtime_ms(&st),
            mime,
            binary,
        },
    })
    .to_line();
    let cut = FilesServerMessage::Error(ErrorResponse::new(
        Some(id),
        ErrorCode::Changed,
        format!("{rel} shrank while it was read"),
    ))
    .to_line();
    out.raw(Out::Closing { whole, cut, short });
    Ok(())
}

/// A MIME type from the name, and whether the first bytes look binary.
pub fn sniff(file: &File, rel: &RelPath) -> (String, bool) {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; BINARY_SNIFF];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    let head = &head[..n];
    let binary =
        head.contains(&0) || std::str::from_utf8(head).is_err_and(|e| e.error_len().is_some());
    let mime = mime_guess::from_path(rel.name()).first_raw().map_or_else(
        || {
            if binary {
                "application/octet-stream".to_owned()
            } else {
                "text/plain".to_owned()
            }
        },
        str::to_owned,
    );
    (mime, binary)
}

//! One client connection: a reader (this thread), a bounded pool of workers, and one
//! writer thread fed by a bounded queue, so a slow client stalls its own requests instead
//! of making the server buffer.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use oqto_ipc::framing::{FrameError, LineReader};
use oqto_ipc::queue::{Out, write_loop};
use oqto_protocol::{
    ErrorCode, ErrorResponse, FilesClientMessage, FilesCommand, FilesReply, FilesServerMessage,
    FilesWelcome, PROTOCOL_VERSION, RequestId,
};
use tracing::{debug, warn};

use crate::confine::{FsError, FsResult, RelPath};
use crate::ops::{Fs, ListOptions};
use crate::outbox::Outbox;
use crate::read::{ReadRequest, read};
use crate::upload::Uploads;
use crate::watch::Watch;
use crate::{Limits, search};

/// Lines queued for the writer before senders wait. With `max_chunk`-sized frames sent by
/// `sendfile`, the queue holds descriptors, not bytes.
const OUT_QUEUE: usize = 64;
/// Bytes the reader buffers from the client (a chunk's bytes go straight from it to the
/// upload's file).
const IN_BUFFER: usize = 256 * 1024;

/// A connection's input: lines and raw frames.
type Reader = LineReader<BufReader<File>>;

/// What a connection shares between its reader and workers.
#[derive(Debug)]
pub struct Shared {
    pub fs: Arc<Fs>,
    pub limits: Limits,
    pub read_only: bool,
    pub out: Outbox,
    /// Running `read`s and `search`es by request id, for `cancel`.
    cancels: Mutex<HashMap<RequestId, Arc<AtomicBool>>>,
    watches: Mutex<HashMap<String, Watch>>,
    next_watch: Mutex<u64>,
}

struct Job {
    id: RequestId,
    command: FilesCommand,
    cancel: Arc<AtomicBool>,
}

/// Serves one client until it closes its side, then finishes the requests in flight.
pub fn serve(
    fs: Arc<Fs>,
    limits: Limits,
    read_only: bool,
    input: File,
    output: File,
) -> io::Result<()> {
    let (tx, rx) = sync_channel::<Out>(OUT_QUEUE);
    let writer = std::thread::Builder::new()
        .name("files-writer".into())
        .spawn(move || {
            if let Err(e) = write_loop(output, &rx) {
                debug!(error = %e, "client output closed");
            }
            // Drain so that blocked senders wake up and see the channel closed.
            drop(rx);
        })?;
    let shared = Arc::new(Shared {
        fs,
        limits,
        read_only,
        out: Outbox::new(tx),
        cancels: Mutex::new(HashMap::new()),
        watches: Mutex::new(HashMap::new()),
        next_watch: Mutex::new(0),
    });
    let mut reader =
        LineReader::with_max(BufReader::with_capacity(IN_BUFFER, input), limits.max_line);
    let result = run(&shared, &mut reader);
    shared
        .watches
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
    drop(shared);
    let _ = writer.join();
    result
}

fn run(shared: &Arc<Shared>, reader: &mut Reader) -> io::Result<()> {
    if !handshake(shared, reader)? {
        return Ok(());
    }
    let (jobs_tx, jobs_rx) = sync_channel::<Job>(shared.limits.max_concurrent);
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let mut workers = Vec::new();
    for n in 0..shared.limits.max_concurrent {
        let shared = Arc::clone(shared);
        let rx = Arc::clone(&jobs_rx);
        workers.push(
            std::thread::Builder::new()
                .name(format!("files-worker-{n}"))
                .spawn(move || worker(&shared, &rx))?,
        );
    }
    let mut uploads = Uploads::default();
    let result = read_loop(shared, reader, &jobs_tx, &mut uploads);
    drop(jobs_tx);
    for w in workers {
        let _ = w.join();
    }
    result
}

/// Waits for `hello`. False when the connection should close.
fn handshake(shared: &Shared, reader: &mut Reader) -> io::Result<bool> {
    loop {
        let line = match reader.read_line() {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(false),
            Err(e) => {
                shared.out.error(line_error(e)?);
                continue;
            }
        };
        match FilesClientMessage::parse(&line) {
            Ok(FilesClientMessage::Hello(hello)) if hello.protocol == PROTOCOL_VERSION => {
                debug!(client = %hello.client, "hello");
                shared.out.send(&FilesServerMessage::Welcome(FilesWelcome {
                    protocol: PROTOCOL_VERSION,
                    server: "oqto-files".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    read_only: shared.read_only,
                    limits: shared.limits.wire(),
                }));
                return Ok(true);
            }
            Ok(FilesClientMessage::Hello(hello)) => {
                shared.out.error(ErrorResponse::new(
                    None,
                    ErrorCode::ProtocolMismatch,
                    format!(
                        "this server speaks protocol {PROTOCOL_VERSION}, the client {}",
                        hello.protocol
                    ),
                ));
                return Ok(false);
            }
            Ok(FilesClientMessage::Request(r)) => {
                shared.out.error(ErrorResponse::new(
                    Some(r.id),
                    ErrorCode::BadRequest,
                    "the first line must be a `hello`",
                ));
                skip_body(reader, &r.command)?;
            }
            Err(e) => {
                shared.out.error(e);
            }
        }
    }
}

/// Reads the raw bytes that follow an `upload.chunk` that will not be processed.
fn skip_body(reader: &mut Reader, command: &FilesCommand) -> io::Result<()> {
    if let FilesCommand::UploadChunk { len, .. } = command {
        reader.read_raw::<()>(*len, |_| Ok(()))?.ok();
    }
    Ok(())
}

/// The answer to a line that could not be read (it was skipped), or the I/O error that ends
/// the connection.
fn line_error(e: FrameError) -> io::Result<ErrorResponse> {
    match e {
        FrameError::TooLarge { limit } => Ok(ErrorResponse::line_too_large(limit)),
        FrameError::InvalidUtf8 { .. } => Ok(ErrorResponse::line_not_utf8()),
        FrameError::Io(e) => Err(e),
    }
}

// One arm per operation the reader handles itself; splitting it would scatter the dispatch.
#[allow(clippy::too_many_lines)]
fn read_loop(
    shared: &Arc<Shared>,
    reader: &mut Reader,
    jobs: &SyncSender<Job>,
    uploads: &mut Uploads,
) -> io::Result<()> {
    loop {
        let line = match reader.read_line() {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(e) => {
                if !shared.out.error(line_error(e)?) {
                    return Ok(());
                }
                continue;
            }
        };
        let request = match FilesClientMessage::parse(&line) {
            Ok(FilesClientMessage::Request(r)) => r,
            Ok(FilesClientMessage::Hello(_)) => {
                shared.out.error(ErrorResponse::new(
                    None,
                    ErrorCode::BadRequest,
                    "`hello` was already received",
                ));
                continue;
            }
            Err(e) => {
                warn!(error = %e.message, "bad request");
                if !shared.out.error(e) {
                    return Ok(());
                }
                continue;
            }
        };
        let (id, command) = (request.id, request.command);
        if shared.read_only && command.is_mutation() {
            skip_body(reader, &command)?;
            shared.out.error(ErrorResponse::new(
                Some(id),
                ErrorCode::ReadOnly,
                "the server is read-only",
            ));
            continue;
        }
        match command {
            // In order, on this thread: the chunk's bytes follow its line.
            FilesCommand::UploadChunk {
                upload,
                offset,
                len,
            } => {
                let reply = uploads.chunk(shared.limits.max_chunk, reader, &upload, offset, len)?;
                reply_with(&shared.out, id, reply);
            }
            FilesCommand::UploadStart {
                path,
                upload,
                create_parents,
            } => {
                let reply = RelPath::parse(&path).and_then(|rel| {
                    uploads.start(&shared.fs, &rel, upload.as_deref(), create_parents)
                });
                reply_with(&shared.out, id, reply);
            }
            FilesCommand::UploadFinish {
                upload,
                sha256,
                expect,
            } => {
                let reply = uploads.finish(&shared.fs, &upload, sha256.as_deref(), expect.as_ref());
                reply_with(&shared.out, id, reply);
            }
            FilesCommand::UploadAbort { upload } => {
                reply_with(&shared.out, id, uploads.abort(&upload));
            }
            FilesCommand::Cancel { target } => {
                let flag = shared
                    .cancels
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(&target)
                    .cloned();
                let reply = match flag {
                    Some(flag) => {
                        flag.store(true, Ordering::Relaxed);
                        Ok(FilesReply::Empty)
                    }
                    None => Err(FsError::new(
                        ErrorCode::UnknownId,
                        format!("no running request {target}"),
                    )),
                };
                reply_with(&shared.out, id, reply);
            }
            FilesCommand::Unwatch { watch } => {
                let removed = shared
                    .watches
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&watch);
                let reply = match removed {
                    Some(_) => Ok(FilesReply::Empty),
                    None => Err(FsError::new(
                        ErrorCode::UnknownId,
                        format!("no watch {watch}"),
                    )),
                };
                reply_with(&shared.out, id, reply);
            }
            command => {
                let cancel = Arc::new(AtomicBool::new(false));
                if matches!(
                    command,
                    FilesCommand::Read { .. } | FilesCommand::Search { .. }
                ) {
                    shared
                        .cancels
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(id.clone(), Arc::clone(&cancel));
                }
                // Waits while every worker is busy: the bound on concurrent operations.
                if jobs
                    .send(Job {
                        id,
                        command,
                        cancel,
                    })
                    .is_err()
                {
                    return Ok(());
                }
            }
        }
    }
}

fn reply_with(out: &Outbox, id: RequestId, reply: FsResult<FilesReply>) -> bool {
    match reply {
        Ok(result) => out.ok(id, result),
        Err(e) => out.error(e.into_reply(Some(id))),
    }
}

fn worker(shared: &Arc<Shared>, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let rx = jobs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            rx.recv()
        };
        let Ok(job) = job else { return };
        let id = job.id.clone();
        let name = job.command.name();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handle(shared, job.id.clone(), job.command, &job.cancel)
        }));
        shared
            .cancels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
        let reply = match outcome {
            Ok(Some(reply)) => reply,
            Ok(None) => continue,
            Err(_) => {
                warn!(request = %id, op = name, "request handler panicked");
                Err(FsError::new(
                    ErrorCode::Internal,
                    "the request failed unexpectedly; see the server log",
                ))
            }
        };
        if !reply_with(&shared.out, id, reply) {
            return;
        }
    }
}

/// Runs one request. `None` when the handler sent its own final line.
// One arm per operation: the dispatch table of the workers.
#[allow(clippy::too_many_lines)]
fn handle(
    shared: &Arc<Shared>,
    id: RequestId,
    command: FilesCommand,
    cancel: &Arc<AtomicBool>,
) -> Option<FsResult<FilesReply>> {
    let fs = &shared.fs;
    let limits = &shared.limits;
    Some(match command {
        FilesCommand::List {
            path,
            offset,
            limit,
            sort,
            desc,
            dirs_first,
            hidden,
            gitignore,
        } => RelPath::parse(&path).and_then(|rel| {
            let limit = limit.map_or(limits.max_page, |l| (l as usize).min(limits.max_page));
            let offset = offset.unwrap_or(0);
            let opts = ListOptions {
                offset,
                limit,
                sort,
                desc,
                dirs_first,
                hidden,
                gitignore,
            };
            let (entries, total) = fs.list(&rel, opts)?;
            Ok(FilesReply::Entries {
                entries,
                offset,
                total,
            })
        }),
        FilesCommand::Stat { path, follow } => RelPath::parse(&path)
            .and_then(|rel| fs.stat(&rel, follow))
            .map(|entry| FilesReply::Stat { entry }),
        FilesCommand::Read {
            path,
            offset,
            length,
            expect,
        } => {
            let request = ReadRequest {
                path: &path,
                offset: offset.unwrap_or(0),
                length,
                expect: expect.as_ref(),
            };
            return read(fs, &shared.out, limits.max_chunk, id, &request, cancel)
                .err()
                .map(Err);
        }
        FilesCommand::Write {
            path,
            content,
            create_parents,
            expect,
        } => RelPath::parse(&path)
            .and_then(|rel| fs.write(&rel, content.as_bytes(), create_parents, expect.as_ref()))
            .map(|(entry, sha256)| FilesReply::Written { entry, sha256 }),
        FilesCommand::Mkdir { path, parents } => RelPath::parse(&path)
            .and_then(|rel| fs.mkdir(&rel, parents))
            .map(|()| FilesReply::Empty),
        FilesCommand::Rename {
            from,
            to,
            overwrite,
        } => RelPath::parse(&from)
            .and_then(|f| Ok((f, RelPath::parse(&to)?)))
            .and_then(|(f, t)| fs.rename(&f, &t, overwrite))
            .map(|()| FilesReply::Empty),
        FilesCommand::Copy {
            from,
            to,
            overwrite,
            recursive,
        } => RelPath::parse(&from)
            .and_then(|f| Ok((f, RelPath::parse(&to)?)))
            .and_then(|(f, t)| fs.copy(&f, &t, overwrite, recursive))
            .map(|()| FilesReply::Empty),
        FilesCommand::Delete { path, recursive } => RelPath::parse(&path)
            .and_then(|rel| fs.delete(&rel, recursive))
            .map(|()| FilesReply::Empty),
        FilesCommand::Hash { path } => RelPath::parse(&path)
            .and_then(|rel| fs.hash(&rel))
            .map(|(sha256, size)| FilesReply::Hash { sha256, size }),
        FilesCommand::Search {
            path,
            mode,
            pattern,
            case_insensitive,
            hidden,
            gitignore,
            include,
            max_results,
            time_ms,
        } => {
            let query = search::Query {
                mode,
                pattern,
                case_insensitive,
                hidden,
                gitignore: gitignore.unwrap_or(true),
                include,
                max_results: max_results.map_or(limits.max_results, |m| m.min(limits.max_results)),
                time: std::time::Duration::from_millis(u64::from(
                    time_ms.map_or(limits.search_time_ms, |t| t.min(limits.search_time_ms)),
                )),
            };
            RelPath::parse(&path)
                .and_then(|rel| search::run(fs, &rel, &query, &id, &shared.out, cancel))
        }
        FilesCommand::Watch { path, recursive } => {
            let started = RelPath::parse(&path).and_then(|rel| {
                let watch_id = {
                    let mut n = shared
                        .next_watch
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    *n += 1;
                    format!("w{n}")
                };
                let watch = Watch::start(
                    fs,
                    &rel,
                    recursive.unwrap_or(true),
                    watch_id.clone(),
                    shared.out.clone(),
                )?;
                Ok((watch_id, watch))
            });
            let (watch_id, watch) = match started {
                Ok(w) => w,
                Err(e) => return Some(Err(e)),
            };
            // The `watching` reply is queued before the first change can be.
            shared.out.ok(
                id,
                FilesReply::Watching {
                    watch: watch_id.clone(),
                },
            );
            shared
                .watches
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(watch_id, watch);
            return None;
        }
        FilesCommand::Unwatch { .. }
        | FilesCommand::UploadStart { .. }
        | FilesCommand::UploadChunk { .. }
        | FilesCommand::UploadFinish { .. }
        | FilesCommand::UploadAbort { .. }
        | FilesCommand::Cancel { .. } => Err(FsError::new(
            ErrorCode::Internal,
            "handled by the connection's reader",
        )),
    })
}

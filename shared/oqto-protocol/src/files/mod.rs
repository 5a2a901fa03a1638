//! The file server's protocol (`oqto-files`, the `files` channel of the relay).
//!
//! A connection:
//! 1. the client sends [`FilesClientMessage::Hello`] (the shared [`Hello`]); the server answers
//!    [`FilesServerMessage::Welcome`] with its limits, or an `error` with
//!    [`ErrorCode::ProtocolMismatch`] and closes;
//! 2. the client sends [`FilesRequest`]s (`{"type": op, "id": ..}`); each gets exactly one
//!    `ok` ([`OkResponse`] with a [`FilesReply`]) or `error` (the shared [`ErrorResponse`],
//!    whose [`ErrorCode`] is the one enum of every Oqto program) with the same id, in any
//!    order. Before it, a request may get `data`
//!    frames (`read`), `search.matches` lines (`search`) or, after it, `watch.changes` lines
//!    (`watch`);
//! 3. bytes travel as raw frames: a JSON header line announcing `len`, then exactly `len` raw
//!    bytes. The server sends [`DataHeader`] frames for `read`; the client sends an
//!    `upload.chunk` request followed by its bytes.
//!
//! Every path is relative to the served root, `/`-separated; `""` and `"."` are the root.

//!
//! The commands are here; what the server answers is in `reply.rs`; the line envelope (and
//! its decoding) in `envelope.rs`.

mod envelope;
mod reply;

use serde::{Deserialize, Serialize};

use crate::ids::{Millis, RequestId};
#[cfg(doc)]
use crate::response::{ErrorCode, ErrorResponse, Hello, OkResponse};

pub use envelope::{FilesClientMessage, FilesServerMessage};
pub use reply::{
    Change, ChangeKind, DataHeader, Entry, EntryKind, FilesEvent, FilesLimits, FilesReply,
    FilesWelcome, SearchLimit, SearchMatch,
};

/// A request to the file server: an operation plus the id its one response echoes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FilesRequest {
    pub id: RequestId,
    #[serde(flatten)]
    pub command: FilesCommand,
}

/// Every operation of the file server. Tagged by `type`; unknown fields are rejected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum FilesCommand {
    /// One page of a directory's entries.
    #[serde(rename = "list")]
    List {
        path: String,
        /// Entries to skip (the `offset` + `entries.len()` of the previous page).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
        offset: Option<u64>,
        /// Page size; the server caps it (`max_page` in `welcome`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        limit: Option<u32>,
        #[serde(default, skip_serializing_if = "is_default")]
        #[cfg_attr(feature = "ts", ts(as = "Option<SortKey>", optional))]
        sort: SortKey,
        /// Reverse the order.
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        desc: bool,
        /// Directories before files (in either direction).
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        dirs_first: bool,
        /// Include names starting with `.`.
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        hidden: bool,
        /// Leave out what `.gitignore` files (from the root down) ignore.
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        gitignore: bool,
    },
    /// One entry. A symlink is described itself, with its target, unless `follow`.
    #[serde(rename = "stat")]
    Stat {
        path: String,
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        follow: bool,
    },
    /// A regular file's bytes from `offset` (default 0), at most `length` (default: to the
    /// end), as `data` frames; then `ok` with a [`FilesReply::Read`]. A download resumes by
    /// reading again from the offset it reached, with `expect` pinning the version.
    #[serde(rename = "read")]
    Read {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
        offset: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
        length: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        expect: Option<Precondition>,
    },
    /// Replace a file's content with `content` (UTF-8 text), atomically: a temporary file in
    /// the same directory, renamed over the target. Large or binary files use `upload.*`.
    #[serde(rename = "write")]
    Write {
        path: String,
        content: String,
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        create_parents: bool,
        /// Write only if the current file matches; otherwise a `conflict` error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        expect: Option<Precondition>,
    },
    #[serde(rename = "mkdir")]
    Mkdir {
        path: String,
        /// Create missing parents, and succeed if the directory exists.
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        parents: bool,
    },
    /// Rename or move an entry (a symlink is moved, not followed).
    #[serde(rename = "rename")]
    Rename {
        from: String,
        to: String,
        /// Replace an existing `to` (never a non-empty directory).
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        overwrite: bool,
    },
    /// Copy a file, a symlink (as a symlink) or, with `recursive`, a directory tree.
    #[serde(rename = "copy")]
    Copy {
        from: String,
        to: String,
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        overwrite: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        recursive: bool,
    },
    /// Delete an entry; a directory only with `recursive` (an empty one too).
    #[serde(rename = "delete")]
    Delete {
        path: String,
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        recursive: bool,
    },
    /// SHA-256 of a regular file.
    #[serde(rename = "hash")]
    Hash { path: String },
    /// Find names (`glob`, `fuzzy`) or contents (`regex`) below `path`. Matches stream as
    /// `search.matches` lines; the `ok` ([`FilesReply::Searched`]) comes last.
    #[serde(rename = "search")]
    Search {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        #[cfg_attr(feature = "ts", ts(as = "Option<String>", optional))]
        path: String,
        mode: SearchMode,
        pattern: String,
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        case_insensitive: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        hidden: bool,
        /// Honour `.gitignore`/`.ignore` files (default true).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        gitignore: Option<bool>,
        /// Only in files whose path matches this glob (content search).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        include: Option<String>,
        /// At most this many matches (capped by the server's `max_results`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        max_results: Option<u32>,
        /// Stop after this many milliseconds (capped by the server's `search_time_ms`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        time_ms: Option<u32>,
    },
    /// Report changes below a directory as `watch.changes` lines, debounced.
    #[serde(rename = "watch")]
    Watch {
        path: String,
        /// Subdirectories too (default true).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        recursive: Option<bool>,
    },
    #[serde(rename = "unwatch")]
    Unwatch { watch: String },
    /// Start an upload to `path`, or resume upload `upload` (its bytes so far are kept in a
    /// temporary file beside the target, also across connections).
    #[serde(rename = "upload.start")]
    UploadStart {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        upload: Option<String>,
        #[serde(default, skip_serializing_if = "is_false")]
        #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
        create_parents: bool,
    },
    /// Followed by exactly `len` raw bytes, written at `offset` (which must be the upload's
    /// current size).
    #[serde(rename = "upload.chunk")]
    UploadChunk {
        upload: String,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        offset: u64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        len: u64,
    },
    /// Move the uploaded bytes into place atomically, after checking `sha256` and `expect`.
    #[serde(rename = "upload.finish")]
    UploadFinish {
        upload: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        sha256: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        expect: Option<Precondition>,
    },
    /// Drop an upload and its temporary file.
    #[serde(rename = "upload.abort")]
    UploadAbort { upload: String },
    /// Stop a running `read` or `search`; it ends with a `cancelled` error.
    #[serde(rename = "cancel")]
    Cancel { target: RequestId },
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl FilesCommand {
    /// Every operation's wire name, in declaration order.
    pub const NAMES: &'static [&'static str] = &[
        "list",
        "stat",
        "read",
        "write",
        "mkdir",
        "rename",
        "copy",
        "delete",
        "hash",
        "search",
        "watch",
        "unwatch",
        "upload.start",
        "upload.chunk",
        "upload.finish",
        "upload.abort",
        "cancel",
    ];

    /// This operation's wire name.
    pub fn name(&self) -> &'static str {
        let index = match self {
            FilesCommand::List { .. } => 0,
            FilesCommand::Stat { .. } => 1,
            FilesCommand::Read { .. } => 2,
            FilesCommand::Write { .. } => 3,
            FilesCommand::Mkdir { .. } => 4,
            FilesCommand::Rename { .. } => 5,
            FilesCommand::Copy { .. } => 6,
            FilesCommand::Delete { .. } => 7,
            FilesCommand::Hash { .. } => 8,
            FilesCommand::Search { .. } => 9,
            FilesCommand::Watch { .. } => 10,
            FilesCommand::Unwatch { .. } => 11,
            FilesCommand::UploadStart { .. } => 12,
            FilesCommand::UploadChunk { .. } => 13,
            FilesCommand::UploadFinish { .. } => 14,
            FilesCommand::UploadAbort { .. } => 15,
            FilesCommand::Cancel { .. } => 16,
        };
        Self::NAMES[index]
    }

    /// Whether the operation changes the tree (refused by a `--read-only` server).
    pub fn is_mutation(&self) -> bool {
        matches!(
            self,
            FilesCommand::Write { .. }
                | FilesCommand::Mkdir { .. }
                | FilesCommand::Rename { .. }
                | FilesCommand::Copy { .. }
                | FilesCommand::Delete { .. }
                | FilesCommand::UploadStart { .. }
                | FilesCommand::UploadChunk { .. }
                | FilesCommand::UploadFinish { .. }
                | FilesCommand::UploadAbort { .. }
        )
    }
}

/// Order of a listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// Byte order of the names.
    #[default]
    Name,
    Mtime,
    Size,
}

/// What `search` matches `pattern` against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Paths relative to the search directory, by glob (`**/*.rs`; a pattern without `/`
    /// matches the name alone).
    Glob,
    /// Paths, by fuzzy subsequence (`srvrs` finds `src/server.rs`), best first per batch.
    Fuzzy,
    /// File contents, by regular expression (Rust `regex` syntax), line by line.
    Regex,
}

/// A condition on the current file, for `write`, `read` and `upload.finish`: every field
/// given must hold, else the operation fails with `conflict` and changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Precondition {
    /// The file's modification time, in ms, as `stat` or `written` reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub mtime: Option<Millis>,
    /// The file's SHA-256 (lowercase hex), as `hash` or `written` reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub sha256: Option<String>,
    /// `true`: the file must not exist (create only). `false`: it must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub absent: Option<bool>,
}

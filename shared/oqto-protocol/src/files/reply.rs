//! What the file server answers: entries, matches, changes, its welcome, the `ok`
//! payloads, raw frame headers and the lines it sends unasked.

use serde::{Deserialize, Serialize};

use crate::ids::{Millis, RequestId};

/// The kind of a directory entry. Special files are listed but never opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

/// One directory entry, or the answer to `stat`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Entry {
    /// The last path component (`""` for the root).
    pub name: String,
    pub kind: EntryKind,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: u64,
    /// Modification time, ms since the epoch.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub mtime: Millis,
    /// Permission bits (`0o644` is 420).
    pub mode: u32,
    /// A symlink's target, as stored (it may point anywhere; it is never followed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub target: Option<String>,
}

/// One `search` match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SearchMatch {
    /// Relative to the root.
    pub path: String,
    /// Content matches: 1-based line number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub line: Option<u64>,
    /// Content matches: the line (lossy UTF-8, cut at 500 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub text: Option<String>,
    /// Content matches: byte ranges `[start, end)` of the matches within `text`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<[u32; 2]>>", optional))]
    pub ranges: Vec<[u32; 2]>,
    /// Fuzzy matches: higher is better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub score: Option<u32>,
}

/// Why a `search` stopped before walking everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum SearchLimit {
    MaxResults,
    Time,
}

/// What happened to a path, in `watch.changes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Created,
    Modified,
    Deleted,
    /// Moved from `from` to `path` (both below the watched directory).
    Renamed,
}

/// One debounced change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Change {
    pub kind: ChangeKind,
    /// Relative to the root.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub from: Option<String>,
}

/// The server's limits, announced in `welcome`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FilesLimits {
    /// Longest JSON line accepted (a `write`'s content included).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub max_line: u64,
    /// Largest `data` frame the server sends and `upload.chunk` it accepts.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub max_chunk: u64,
    /// Requests of one connection running at once; further ones wait.
    pub max_concurrent: u32,
    /// Largest `list` page.
    pub max_page: u32,
    /// Most matches one `search` returns.
    pub max_results: u32,
    /// Longest a `search` runs.
    pub search_time_ms: u32,
}

/// The server's answer to a `hello` whose version it speaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FilesWelcome {
    pub protocol: u32,
    /// `oqto-files`.
    pub server: String,
    pub version: String,
    /// Mutations are refused with `read_only`.
    pub read_only: bool,
    pub limits: FilesLimits,
}

/// Typed payload of a file server's `ok`. Tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FilesReply {
    /// Done; nothing to return.
    Empty,
    /// A `list` page: `total` entries in all, this page from `offset`.
    Entries {
        entries: Vec<Entry>,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        offset: u64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        total: u64,
    },
    Stat {
        entry: Entry,
    },
    /// The end of a `read`: `length` bytes from `offset` were sent; the file had `size`
    /// bytes and `mtime` when opened.
    Read {
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        offset: u64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        length: u64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        size: u64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        mtime: Millis,
        /// A guess from the name, and `application/octet-stream` for unknown binary.
        mime: String,
        /// The file's first 8 KiB hold a NUL byte or are not UTF-8.
        binary: bool,
    },
    /// A file was written (`write`, `upload.finish`): its new entry and SHA-256.
    Written {
        entry: Entry,
        sha256: String,
    },
    Hash {
        sha256: String,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        size: u64,
    },
    /// The end of a `search`.
    Searched {
        matches: u32,
        files: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        limit: Option<SearchLimit>,
    },
    Watching {
        watch: String,
    },
    /// An upload's id and its current size (where the next chunk goes).
    Upload {
        upload: String,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        offset: u64,
    },
}

/// The header of a raw byte frame: exactly `len` raw bytes follow the line's newline.
/// They are the bytes of request `id`'s file at `offset`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DataHeader {
    pub id: RequestId,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub offset: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub len: u64,
}

/// Lines the server sends without being asked, tied to a request or a watch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type")]
pub enum FilesEvent {
    /// A batch of matches of search request `id`.
    #[serde(rename = "search.matches")]
    SearchMatches {
        id: RequestId,
        matches: Vec<SearchMatch>,
    },
    /// A batch of debounced changes below watch `watch`.
    #[serde(rename = "watch.changes")]
    WatchChanges { watch: String, changes: Vec<Change> },
    /// More changes happened than the server keeps: some were dropped, so list again.
    #[serde(rename = "watch.overflow")]
    WatchOverflow { watch: String },
}

impl FilesEvent {
    /// Every event's wire name.
    pub const NAMES: &'static [&'static str] =
        &["search.matches", "watch.changes", "watch.overflow"];
}

//! The handshake and the one response every request gets: `ok` or `error`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{MessageId, Millis, RequestId, Seq, SessionId};
use crate::message::{Message, Role};
use crate::session::{HarnessInfo, ModelInfo, SessionInfo};
use crate::terminal::TerminalInfo;

/// First line a client sends on every connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The protocol version the client speaks ([`crate::PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// Free-form client name and version, e.g. `oqtoctl/0.1.0`, for logs.
    pub client: String,
}

/// The server's answer to a `hello` whose version it speaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Welcome {
    pub protocol: u32,
    /// Program name, e.g. `oqto-runner`.
    pub server: String,
    /// Program version.
    pub version: String,
    /// Optional server features: `replay`, `history`, `search`, `sandbox`.
    pub capabilities: Vec<String>,
    pub harnesses: Vec<HarnessInfo>,
    /// The harness to name in `session.create` when the user chose none: the runner's
    /// configured default, or `demo` (the bundled demo model) when that default is pi and
    /// pi has no model configured. Absent from runners that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub default_harness: Option<String>,
    /// Set when the demo model stands in for the configured default: why, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub default_harness_note: Option<String>,
}

/// Typed payload of an `ok` response. Tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// Done; nothing to return.
    Empty,
    Session {
        session: SessionInfo,
        /// `session.get` only: the sandbox policy the session's harness runs (or last ran)
        /// under, as `oqto-sandbox explain --json` prints it (its `version` 1 format, see
        /// docs/sandbox.md). Absent until the harness has been started once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "unknown"))]
        sandbox: Option<serde_json::Value>,
    },
    Sessions {
        sessions: Vec<SessionInfo>,
    },
    /// Subscribed; replayed events (if any) follow, then live ones.
    Subscribed {
        session: SessionId,
        /// Newest seq at the time of subscribing.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        last_seq: Seq,
    },
    Models {
        models: Vec<ModelInfo>,
    },
    Model {
        model: ModelInfo,
    },
    Compacted {
        summary: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
        tokens_before: Option<u64>,
    },
    /// A page of messages, oldest first; `has_more` when older ones exist.
    Messages {
        messages: Vec<Message>,
        has_more: bool,
    },
    SearchResults {
        hits: Vec<SearchHit>,
    },
    /// What `history.import` did: files looked at, sessions stored for the first time,
    /// updated (new messages) or left as they were, messages written, and what was skipped.
    Imported {
        files: u32,
        sessions_new: u32,
        sessions_updated: u32,
        sessions_unchanged: u32,
        messages: u32,
        skipped: Vec<ImportSkipped>,
    },
    Status {
        status: RunnerStatus,
    },
    /// `terminal.open` and `terminal.attach`: the terminal as it is now. After
    /// `terminal.attach`, its output frames follow.
    Terminal {
        terminal: TerminalInfo,
    },
    /// `terminal.list`: every live terminal, oldest first.
    Terminals {
        terminals: Vec<TerminalInfo>,
    },
    /// `audit.list`: entries, newest last; `has_more` when older ones match too.
    Audit {
        entries: Vec<crate::permission::AuditEntry>,
        has_more: bool,
    },
    /// `files.open`: the file server's socket (speak the files protocol there) and the
    /// directory it serves.
    FilesServer {
        socket: String,
        root: String,
    },
}

/// One `history.search` hit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SearchHit {
    pub session: SessionId,
    pub message_id: MessageId,
    /// The seq of the message's `message.end` event, to jump to in a live view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub seq: Option<Seq>,
    pub role: Role,
    /// Matched text with the hits wrapped in `[` `]`, shortened with `…`.
    pub snippet: String,
    /// Higher is better.
    pub score: f64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub created_at: Millis,
    pub harness: String,
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub title: Option<String>,
}

/// A file or directory `history.import` did not import, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportSkipped {
    pub path: String,
    /// For people, e.g. `not a pi session file: the first line is not JSON (…)`.
    pub reason: String,
}

/// `runner.status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RunnerStatus {
    pub version: String,
    pub pid: u32,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub started_at: Millis,
    pub socket: String,
    pub data_dir: String,
    /// Sessions known to the runner.
    pub sessions: u32,
    /// Sessions whose harness process is running.
    pub live_sessions: u32,
    /// Connected clients.
    pub clients: u32,
}

/// Machine-readable error code, one enum for every Oqto program (runner, file server,
/// native harness). The first seven codes are common; the others are marked with the
/// program that sends them. Unknown codes from a newer peer parse as `other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not valid JSON or not UTF-8, or a field is missing or has the wrong type.
    BadRequest,
    /// The `type` names no command.
    UnknownCommand,
    /// The client speaks a protocol version the server does not; the connection closes.
    ProtocolMismatch,
    /// A line, a raw frame or a file exceeds a limit. What was sent is read to its end and
    /// dropped; the connection goes on.
    TooLarge,
    /// The peer may not use this server (the connection closes), or the file system refused.
    PermissionDenied,
    /// A deadline passed.
    Timeout,
    /// A bug; the log has the details.
    Internal,
    /// Runner: no session with that id.
    SessionNotFound,
    /// Runner: no message with that id.
    MessageNotFound,
    /// Runner: the command is not possible in the session's current state.
    InvalidState,
    /// Runner: the session's harness cannot do this (see its capabilities).
    Unsupported,
    /// Runner: the harness failed to start or to carry out the command.
    HarnessFailed,
    /// Runner: the history store failed (disk full, read-only database).
    Storage,
    /// Runner: no terminal with that id (it ended, or the runner restarted since).
    TerminalNotFound,
    /// Files: an absolute path, a `..` component, a NUL byte, or an empty name where one is
    /// needed.
    InvalidPath,
    /// Files: the path or one of its components is longer than the system allows.
    NameTooLong,
    /// Files: resolving the path would leave the root (through a symlink).
    OutsideRoot,
    /// Files: no such file or directory.
    NotFound,
    /// Files: the target exists.
    AlreadyExists,
    /// Files: a directory was needed.
    NotADirectory,
    /// Files: a file was needed.
    IsADirectory,
    /// Files: a directory is not empty (delete without `recursive`, rename over it).
    NotEmpty,
    /// Files: a FIFO, socket or device: listed, never opened.
    SpecialFile,
    /// Files: the server runs with `--read-only`.
    ReadOnly,
    /// Files: a precondition (`expect`) does not hold: someone else changed the file.
    Conflict,
    /// Files: `upload.chunk` at an offset other than the upload's size (in the error's
    /// `offset`), or a read offset past the end.
    BadOffset,
    /// An id that names nothing: files: an `upload`, `watch` or `cancel` target; runner: a
    /// `permission.reply` to a request that is not pending.
    UnknownId,
    /// Files: the request was cancelled.
    Cancelled,
    /// Files: the file changed while it was read; the bytes sent may be mixed.
    Changed,
    /// Files: the disk is full, or another I/O failure.
    Io,
    /// Relay: a frame names a channel that does not exist.
    UnknownChannel,
    /// Relay: the runner does not answer (it stopped or was killed); the relay reconnects
    /// and sends a new `welcome` when it is back.
    RunnerUnavailable,
    /// A code this build does not know.
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// Every code but `other`, in declaration order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::BadRequest,
        ErrorCode::UnknownCommand,
        ErrorCode::ProtocolMismatch,
        ErrorCode::TooLarge,
        ErrorCode::PermissionDenied,
        ErrorCode::Timeout,
        ErrorCode::Internal,
        ErrorCode::SessionNotFound,
        ErrorCode::MessageNotFound,
        ErrorCode::InvalidState,
        ErrorCode::Unsupported,
        ErrorCode::HarnessFailed,
        ErrorCode::Storage,
        ErrorCode::TerminalNotFound,
        ErrorCode::InvalidPath,
        ErrorCode::NameTooLong,
        ErrorCode::OutsideRoot,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::NotADirectory,
        ErrorCode::IsADirectory,
        ErrorCode::NotEmpty,
        ErrorCode::SpecialFile,
        ErrorCode::ReadOnly,
        ErrorCode::Conflict,
        ErrorCode::BadOffset,
        ErrorCode::UnknownId,
        ErrorCode::Cancelled,
        ErrorCode::Changed,
        ErrorCode::Io,
        ErrorCode::UnknownChannel,
        ErrorCode::RunnerUnavailable,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::ProtocolMismatch => "protocol_mismatch",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
            ErrorCode::SessionNotFound => "session_not_found",
            ErrorCode::MessageNotFound => "message_not_found",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::HarnessFailed => "harness_failed",
            ErrorCode::Storage => "storage",
            ErrorCode::TerminalNotFound => "terminal_not_found",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::NameTooLong => "name_too_long",
            ErrorCode::OutsideRoot => "outside_root",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::NotADirectory => "not_a_directory",
            ErrorCode::IsADirectory => "is_a_directory",
            ErrorCode::NotEmpty => "not_empty",
            ErrorCode::SpecialFile => "special_file",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::Conflict => "conflict",
            ErrorCode::BadOffset => "bad_offset",
            ErrorCode::UnknownId => "unknown_id",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::Changed => "changed",
            ErrorCode::Io => "io",
            ErrorCode::UnknownChannel => "unknown_channel",
            ErrorCode::RunnerUnavailable => "runner_unavailable",
            ErrorCode::Other => "other",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The success response to request `id`: `result` is a runner [`Reply`] or, from the file
/// server, a [`crate::FilesReply`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OkResponse<R = Reply> {
    pub id: RequestId,
    pub result: R,
}

/// The failure response to request `id` (`id` is null when the line had no readable id), from
/// every Oqto program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorResponse {
    pub id: Option<RequestId>,
    pub code: ErrorCode,
    pub message: String,
    /// `bad_offset` from the file server: where the upload stands, to resume from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub offset: Option<u64>,
}

impl ErrorResponse {
    pub fn new(id: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
            offset: None,
        }
    }

    /// The answer to a line longer than `limit` bytes (it is skipped; the connection goes on).
    pub fn line_too_large(limit: usize) -> Self {
        Self::new(
            None,
            ErrorCode::TooLarge,
            format!("line longer than {limit} bytes; skipped"),
        )
    }

    /// The answer to a line that is not UTF-8 (it is skipped; the connection goes on).
    pub fn line_not_utf8() -> Self {
        Self::new(None, ErrorCode::BadRequest, "line is not valid UTF-8")
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ErrorResponse {}

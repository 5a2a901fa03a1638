//! The handshake and the one response every request gets: `ok` or `error`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{MessageId, Millis, RequestId, Seq, SessionId};
use crate::message::{Message, Role};
use crate::session::{HarnessInfo, ModelInfo, SessionInfo};

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

/// Machine-readable error code. Unknown codes from a newer peer parse as `other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is not valid JSON, or a field is missing or has the wrong type.
    BadRequest,
    /// The `type` names no command.
    UnknownCommand,
    /// The client speaks a protocol version the server does not; the connection closes.
    ProtocolMismatch,
    SessionNotFound,
    MessageNotFound,
    /// The command is not possible in the session's current state.
    InvalidState,
    /// The session's harness cannot do this (see its capabilities).
    Unsupported,
    /// The harness failed to start or to carry out the command.
    HarnessFailed,
    /// A line or payload exceeds a limit; the connection closes.
    TooLarge,
    PermissionDenied,
    /// The history store failed (disk full, read-only database).
    Storage,
    /// A deadline passed.
    Timeout,
    /// A bug; the log has the details.
    Internal,
    /// A code this build does not know.
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::ProtocolMismatch => "protocol_mismatch",
            ErrorCode::SessionNotFound => "session_not_found",
            ErrorCode::MessageNotFound => "message_not_found",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::HarnessFailed => "harness_failed",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::Storage => "storage",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
            ErrorCode::Other => "other",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The success response to request `id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OkResponse {
    pub id: RequestId,
    pub result: Reply,
}

/// The failure response to request `id` (`id` is null when the line had no readable id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorResponse {
    pub id: Option<RequestId>,
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorResponse {
    pub fn new(id: Option<RequestId>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ErrorResponse {}

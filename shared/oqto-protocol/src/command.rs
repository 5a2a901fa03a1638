//! Client requests: `{"type": <command>, "id": <request id>, ...arguments}`.

use serde::{Deserialize, Serialize};

use crate::ids::{ClientMsgId, MessageId, Millis, RequestId, Seq, SessionId, TerminalId};
use crate::message::{ImageInput, Role};
use crate::session::{State, ThinkingLevel};

/// A request: a command plus the client-chosen id its one response will echo.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Request {
    pub id: RequestId,
    #[serde(flatten)]
    pub command: Command,
}

/// Every command a client can send to the runner. Tagged by `type`; unknown fields are
/// rejected so that a typo is a `bad_request`, not a silently ignored option.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum Command {
    /// Start a harness in `cwd` and create a session for it.
    #[serde(rename = "session.create")]
    SessionCreate {
        harness: String,
        cwd: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        model: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        provider: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        sandbox_profile: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        title: Option<String>,
    },
    /// List sessions, newest activity first, optionally filtered.
    #[serde(rename = "session.list")]
    SessionList {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        state: Option<State>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        harness: Option<String>,
        /// Only sessions whose cwd is this directory or below it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        cwd: Option<String>,
    },
    #[serde(rename = "session.get")]
    SessionGet { session: SessionId },
    /// Stop the session's harness; the session and its history stay.
    #[serde(rename = "session.close")]
    SessionClose { session: SessionId },
    /// Stop the harness and delete the session with its history.
    #[serde(rename = "session.delete")]
    SessionDelete { session: SessionId },
    #[serde(rename = "session.rename")]
    SessionRename { session: SessionId, title: String },
    /// Receive the session's events. With `after_seq`, first replay every event after it.
    #[serde(rename = "session.subscribe")]
    SessionSubscribe {
        session: SessionId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
        after_seq: Option<Seq>,
    },
    #[serde(rename = "session.unsubscribe")]
    SessionUnsubscribe { session: SessionId },
    /// Start a turn. A stopped session's harness is started again first.
    #[serde(rename = "prompt")]
    Prompt {
        session: SessionId,
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[cfg_attr(feature = "ts", ts(as = "Option<Vec<ImageInput>>", optional))]
        images: Vec<ImageInput>,
        /// The client's id of this send: a repeat gets the first answer, not a second run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        client_msg_id: Option<ClientMsgId>,
    },
    /// Redirect a running turn: delivered after the current tool calls finish.
    #[serde(rename = "steer")]
    Steer {
        session: SessionId,
        text: String,
        /// The client's id of this send: a repeat gets the first answer, not a second run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        client_msg_id: Option<ClientMsgId>,
    },
    /// Queue a message delivered when the agent would otherwise stop.
    #[serde(rename = "follow_up")]
    FollowUp {
        session: SessionId,
        text: String,
        /// The client's id of this send: a repeat gets the first answer, not a second run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        client_msg_id: Option<ClientMsgId>,
    },
    /// Stop the running turn.
    #[serde(rename = "abort")]
    Abort { session: SessionId },
    /// Answer the agent's `permission.request` `request` with one of its options.
    #[serde(rename = "permission.reply")]
    PermissionReply {
        session: SessionId,
        request: String,
        option: String,
    },
    #[serde(rename = "set_model")]
    SetModel {
        session: SessionId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        provider: Option<String>,
        model: String,
    },
    #[serde(rename = "get_models")]
    GetModels { session: SessionId },
    #[serde(rename = "set_thinking_level")]
    SetThinkingLevel {
        session: SessionId,
        level: ThinkingLevel,
    },
    /// Summarise earlier context to free the model's context window.
    #[serde(rename = "compact")]
    Compact {
        session: SessionId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        instructions: Option<String>,
    },
    /// A new session holding the conversation before the given user message.
    #[serde(rename = "fork")]
    Fork {
        session: SessionId,
        message_id: MessageId,
    },
    /// A page of stored messages, newest last, ending before `before` (or at the newest).
    #[serde(rename = "get_messages")]
    GetMessages {
        session: SessionId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        before: Option<MessageId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        limit: Option<u32>,
    },
    /// Full-text search over every stored message of every session.
    #[serde(rename = "history.search")]
    HistorySearch {
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        limit: Option<u32>,
        #[serde(default, skip_serializing_if = "SearchFilters::is_empty")]
        #[cfg_attr(feature = "ts", ts(as = "Option<SearchFilters>", optional))]
        filters: SearchFilters,
    },
    /// Import the conversations a harness kept on its own (pi's session files) into the
    /// history, as stopped sessions that can be resumed. Read-only for the source;
    /// importing again adds only what is new.
    #[serde(rename = "history.import")]
    HistoryImport {
        source: ImportSource,
        /// The harness's own directory (for pi, its agent directory); by default the one
        /// the harness uses (`$PI_CODING_AGENT_DIR`, else `~/.pi/agent`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        dir: Option<String>,
    },
    #[serde(rename = "runner.status")]
    RunnerStatus {},
    /// Stop every harness and exit.
    #[serde(rename = "runner.shutdown")]
    RunnerShutdown {},
    /// Start a shell (or `command`) on a new terminal of `cols` x `rows`, in `session`'s
    /// workspace under its sandbox policy, or in `cwd` under the default policy.
    #[serde(rename = "terminal.open")]
    TerminalOpen {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        session: Option<SessionId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        cwd: Option<String>,
        cols: u16,
        rows: u16,
        /// The program and its arguments; by default the user's shell.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        command: Option<Vec<String>>,
    },
    /// Receive the terminal's output (raw frames) and its end. With `after_offset`, first
    /// every byte after it that the ring still holds; without, only new output.
    #[serde(rename = "terminal.attach")]
    TerminalAttach {
        terminal: TerminalId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
        after_offset: Option<u64>,
    },
    #[serde(rename = "terminal.detach")]
    TerminalDetach { terminal: TerminalId },
    /// Exactly `len` raw bytes follow the line: keystrokes for the program.
    #[serde(rename = "terminal.input")]
    TerminalInput {
        terminal: TerminalId,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        len: u64,
    },
    #[serde(rename = "terminal.resize")]
    TerminalResize {
        terminal: TerminalId,
        cols: u16,
        rows: u16,
    },
    /// End the program (its whole process group) and the terminal.
    #[serde(rename = "terminal.close")]
    TerminalClose { terminal: TerminalId },
    #[serde(rename = "terminal.list")]
    TerminalList {},
    /// The audit log: permissions asked and answered, tool calls started and ended, newest
    /// last, filtered by every field given.
    #[serde(rename = "audit.list")]
    AuditList {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        session: Option<SessionId>,
        /// Only entries at or after this time (ms since the epoch).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
        since: Option<Millis>,
        /// Only entries whose summary contains this text (case-insensitive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        query: Option<String>,
        /// At most this many (default 100, at most 1000): the newest that match.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        limit: Option<u32>,
    },
    /// The file server of `session`'s workspace, or of `cwd`: an `oqto-files` the runner
    /// starts on first use on a private socket, shares with later callers for the same
    /// directory, and ends after `files_idle_timeout` without connections or when it stops.
    #[serde(rename = "files.open")]
    FilesOpen {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        session: Option<SessionId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        cwd: Option<String>,
    },
}

impl Command {
    /// Every command's wire name, in declaration order.
    pub const NAMES: &'static [&'static str] = &[
        "session.create",
        "session.list",
        "session.get",
        "session.close",
        "session.delete",
        "session.rename",
        "session.subscribe",
        "session.unsubscribe",
        "prompt",
        "steer",
        "follow_up",
        "abort",
        "set_model",
        "get_models",
        "set_thinking_level",
        "compact",
        "fork",
        "get_messages",
        "history.search",
        "history.import",
        "runner.status",
        "runner.shutdown",
        "terminal.open",
        "terminal.attach",
        "terminal.detach",
        "terminal.input",
        "terminal.resize",
        "terminal.close",
        "terminal.list",
        "permission.reply",
        "audit.list",
        "files.open",
    ];

    /// Raw bytes that follow this request's line: `len` of `terminal.input`, else 0.
    pub fn frame_len(&self) -> u64 {
        match self {
            Command::TerminalInput { len, .. } => *len,
            _ => 0,
        }
    }

    /// This command's wire name.
    pub fn name(&self) -> &'static str {
        let index = match self {
            Command::SessionCreate { .. } => 0,
            Command::SessionList { .. } => 1,
            Command::SessionGet { .. } => 2,
            Command::SessionClose { .. } => 3,
            Command::SessionDelete { .. } => 4,
            Command::SessionRename { .. } => 5,
            Command::SessionSubscribe { .. } => 6,
            Command::SessionUnsubscribe { .. } => 7,
            Command::Prompt { .. } => 8,
            Command::Steer { .. } => 9,
            Command::FollowUp { .. } => 10,
            Command::Abort { .. } => 11,
            Command::SetModel { .. } => 12,
            Command::GetModels { .. } => 13,
            Command::SetThinkingLevel { .. } => 14,
            Command::Compact { .. } => 15,
            Command::Fork { .. } => 16,
            Command::GetMessages { .. } => 17,
            Command::HistorySearch { .. } => 18,
            Command::HistoryImport { .. } => 19,
            Command::RunnerStatus {} => 20,
            Command::RunnerShutdown {} => 21,
            Command::TerminalOpen { .. } => 22,
            Command::TerminalAttach { .. } => 23,
            Command::TerminalDetach { .. } => 24,
            Command::TerminalInput { .. } => 25,
            Command::TerminalResize { .. } => 26,
            Command::TerminalClose { .. } => 27,
            Command::TerminalList {} => 28,
            Command::PermissionReply { .. } => 29,
            Command::AuditList { .. } => 30,
            Command::FilesOpen { .. } => 31,
        };
        Self::NAMES[index]
    }

    /// The `client_msg_id` of a `prompt`, `steer` or `follow_up`, if it has one.
    pub fn client_msg_id(&self) -> Option<&ClientMsgId> {
        match self {
            Command::Prompt { client_msg_id, .. }
            | Command::Steer { client_msg_id, .. }
            | Command::FollowUp { client_msg_id, .. } => client_msg_id.as_ref(),
            _ => None,
        }
    }

    /// The session this command addresses, if any.
    pub fn session(&self) -> Option<&SessionId> {
        match self {
            Command::SessionGet { session }
            | Command::SessionClose { session }
            | Command::SessionDelete { session }
            | Command::SessionRename { session, .. }
            | Command::SessionSubscribe { session, .. }
            | Command::SessionUnsubscribe { session }
            | Command::Prompt { session, .. }
            | Command::Steer { session, .. }
            | Command::FollowUp { session, .. }
            | Command::Abort { session }
            | Command::PermissionReply { session, .. }
            | Command::SetModel { session, .. }
            | Command::GetModels { session }
            | Command::SetThinkingLevel { session, .. }
            | Command::Compact { session, .. }
            | Command::Fork { session, .. }
            | Command::GetMessages { session, .. } => Some(session),
            Command::TerminalOpen { session, .. } | Command::FilesOpen { session, .. } => {
                session.as_ref()
            }
            Command::SessionCreate { .. }
            | Command::TerminalAttach { .. }
            | Command::TerminalDetach { .. }
            | Command::TerminalInput { .. }
            | Command::TerminalResize { .. }
            | Command::TerminalClose { .. }
            | Command::TerminalList {}
            | Command::SessionList { .. }
            | Command::HistorySearch { .. }
            | Command::HistoryImport { .. }
            | Command::RunnerStatus {}
            | Command::RunnerShutdown {}
            | Command::AuditList { .. } => None,
        }
    }
}

/// Where `history.import` reads conversations from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ImportSource {
    /// pi's session files (`<dir>/sessions/**/*.jsonl`).
    Pi,
}

/// Filters of `history.search`; every field narrows the result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct SearchFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub harness: Option<String>,
    /// A directory: only sessions whose cwd is it or below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub session: Option<SessionId>,
    /// Only messages created at or after this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub since: Option<Millis>,
    /// Only messages created before this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub until: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub role: Option<Role>,
}

impl SearchFilters {
    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

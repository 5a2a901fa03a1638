//! Oqto's canonical wire protocol.
//!
//! Every JSON line any Oqto program reads or writes is a type in this crate; no binary
//! defines its own copy. This crate does no I/O. `docs/protocol.md` is the human spec; the
//! golden files in `tests/data/` pin the exact bytes.
//!
//! A connection to the runner:
//! 1. the client sends [`ClientMessage::Hello`]; the runner answers [`ServerMessage::Welcome`]
//!    or an `error` with [`ErrorCode::ProtocolMismatch`] and closes;
//! 2. the client sends [`Request`]s (`{"type": command, "id": ..}`); each gets exactly one
//!    [`OkResponse`] or [`ErrorResponse`] with the same id, in any order;
//! 3. after `session.subscribe`, [`Event`]s of that session arrive with a per-session `seq`;
//!    after `terminal.attach`, [`TerminalEvent`]s of that terminal, its output as raw frames
//!    (see [`terminal`]).
//!
//! The file server (`oqto-files`) speaks its own set of operations over the same framing,
//! with the same `hello`, [`OkResponse`] (carrying a [`FilesReply`]) and [`ErrorResponse`]:
//! see [`files`]. [`ErrorCode`] is one enum for every program.

pub mod acp;
pub mod command;
pub mod envelope;
pub mod event;
pub mod files;
pub mod harness;
pub mod ids;
pub mod login;
pub mod message;
pub mod permission;
pub mod relay;
pub mod response;
pub mod session;
pub mod terminal;
#[cfg(feature = "ts")]
pub mod ts;

pub use command::{Command, ImportSource, Request, SearchFilters};
pub use envelope::{ClientMessage, ServerMessage};
pub use event::{CompactionReason, Event, EventKind, ResyncReason};
pub use files::{
    Change, ChangeKind, DataHeader, Entry, EntryKind, FilesClientMessage, FilesCommand, FilesEvent,
    FilesLimits, FilesReply, FilesRequest, FilesServerMessage, FilesWelcome, Precondition,
    SearchLimit, SearchMatch, SearchMode, SortKey,
};
pub use harness::{AgentCommand, AgentMessage, AgentOk, AgentReply, AgentRequest};
pub use ids::{
    ClientMsgId, MAX_CLIENT_MSG_ID_BYTES, MessageId, Millis, PartId, RequestId, Seq, SessionId,
    TerminalId, now_millis,
};
pub use login::{LoginError, LoginErrorCode, LoginOk, LoginRequest};
pub use message::{
    ImageInput, Message, ModelRef, Part, PartKind, PlanEntry, PlanPriority, PlanStatus, Role,
    StopReason, ToolStatus, Usage,
};
pub use permission::{
    Answerer, AuditEntry, AuditKind, OptionKind, PendingPermission, PermissionOption,
    PermissionTool, ToolKind,
};
pub use relay::{
    Channel, Frame, RelayMessage, RelayWelcome, TERMINAL_INPUT, TERMINAL_OUTPUT, TerminalBytes,
    agent_frame, files_frame, terminal_frame,
};
pub use response::{
    ErrorCode, ErrorResponse, Hello, ImportSkipped, OkResponse, Reply, RunnerStatus, SearchHit,
    Welcome,
};
pub use session::{Capability, HarnessInfo, ModelInfo, Phase, SessionInfo, State, ThinkingLevel};
pub use terminal::{TerminalEvent, TerminalInfo};

/// The protocol version this build speaks. Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

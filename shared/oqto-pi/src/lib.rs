//! pi's wire types and their conversion to Oqto's protocol, written once.
//!
//! pi (`@mariozechner/pi-coding-agent`) speaks in two places Oqto reads: its RPC stdout
//! (`pi --mode rpc`, read live by the runner's pi adapter) and its session files (read by
//! the history importer). Both hold the same `AgentMessage`s with the same content
//! blocks, so both readers share these types and one mapping of blocks to [`Part`]s:
//!
//! - [`rpc`]: one stdout line ([`parse_line`] → [`PiLine`]): events and command responses.
//! - [`message`]: [`PiMessage`] and its [`PiContent`] blocks, [`PiUsage`], [`PiStopReason`].
//! - [`session`]: the payloads of the session-file entries that are not messages.
//! - [`parts`]: blocks and results → [`Part`]s, usage, stop reason, tool status.
//! - [`answers`]: the `data` of pi's answers to the commands the runner sends.
//!
//! Nothing here is lost silently: an unknown event type is [`PiLine::Other`], an unknown
//! role [`PiMessage::Other`], an unknown content block [`PiContent::Other`] (which becomes
//! a visible text part, see [`parts`]), an unknown stop reason [`PiStopReason::Other`].
//!
//! Serde only: no I/O, no async runtime. pi's protocol is described from observation in
//! `shared/reference/pi-rpc.md` beside the repository.
//!
//! [`Part`]: oqto_protocol::Part

pub mod answers;
pub mod message;
pub mod parts;
pub mod rpc;
pub mod session;

pub use answers::{PiCancelled, PiCompacted, PiForkMessage, PiForkMessages, PiModel, PiState};
pub use message::{PiContent, PiCost, PiMessage, PiStopReason, PiToolCall, PiUsage};
pub use parts::{
    PROVIDER_FAILED, assistant_part, ended_tool_status, error_part, model_ref, pending_call,
    tool_result_text, unsupported_block, user_part,
};
pub use rpc::{
    ParseError, PiCompactionReason, PiCompactionResult, PiLine, PiPartial, PiResponse,
    PiStreamEvent, PiToolResult, parse_line,
};
pub use session::{PiBranchSummary, PiCompaction, PiCustomMessage, PiModelChange};

//! Sessions, their state machine's states, harnesses and models.

use serde::{Deserialize, Serialize};

use crate::ids::{Millis, SessionId};
use crate::message::ModelRef;
use crate::permission::PendingPermission;

/// The state of a session. Driven by one state machine in the runner; clients never infer it.
///
/// `starting → idle ↔ working → stopped | error`; a stopped or errored session can be
/// prompted again, which starts its harness anew.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The harness process is starting and has not answered its readiness handshake yet.
    Starting,
    /// Ready for a prompt.
    Idle,
    /// Running a turn; see [`Phase`].
    Working,
    /// The harness failed (crash, hang, failed start); `reason` says why.
    Error,
    /// No harness process runs (closed, reaped while idle, or the runner restarted).
    Stopped,
}

impl State {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Idle => "idle",
            State::Working => "working",
            State::Error => "error",
            State::Stopped => "stopped",
        }
    }
}

/// What a `working` session is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for or streaming the model's reply.
    Generating,
    /// Streaming the model's reasoning.
    Thinking,
    /// A tool is running.
    ToolRunning,
    /// Summarising earlier context.
    Compacting,
    /// Waiting to retry after a provider error.
    Retrying,
    /// The agent asked for permission to run a tool and waits for the answer.
    AwaitingPermission,
}

/// How hard a reasoning model thinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ThinkingLevel {
    Off,
    Minimal,
    Low,
    Medium,
    High,
    Xhigh,
}

/// A harness feature; a command needing one the harness lacks gets `unsupported`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Steer,
    FollowUp,
    Fork,
    Compact,
    Models,
    Thinking,
    Images,
    Rename,
}

/// A harness the runner can start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HarnessInfo {
    /// Name used in `session.create {harness}`, e.g. `pi`.
    pub name: String,
    /// Whether its program was found and can be started.
    pub available: bool,
    pub capabilities: Vec<Capability>,
    /// Why it is unavailable, or where it was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub detail: Option<String>,
}

/// A model a harness can use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ModelInfo {
    pub provider: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "number"))]
    pub context_window: Option<u64>,
    #[serde(default)]
    pub reasoning: bool,
}

/// What the runner knows of a session; returned by `session.*` commands and events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionInfo {
    pub id: SessionId,
    pub harness: String,
    /// Absolute working directory of the agent.
    pub cwd: String,
    pub title: Option<String>,
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub phase: Option<Phase>,
    /// Why the session is in `error` (or `stopped`), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub model: Option<ModelRef>,
    /// Sandbox profile the harness runs under; `none` when sandboxing is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub sandbox_profile: Option<String>,
    /// The session this one was forked from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub parent: Option<SessionId>,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub created_at: Millis,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub last_activity: Millis,
    /// The seq of the newest event; a subscriber with `after_seq` equal to it misses nothing.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub last_seq: u64,
    /// Clients currently subscribed.
    pub subscribers: u32,
    /// Permission requests waiting for a person (oldest first), with what their
    /// `permission.request` said; empty (and left out) when none waits. Not stored: a
    /// request does not outlive its harness.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<PendingPermission>>", optional))]
    pub permissions: Vec<PendingPermission>,
}

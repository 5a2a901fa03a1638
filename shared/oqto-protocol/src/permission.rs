//! Permission requests: an agent asks before it runs a tool; a person, a policy rule or an
//! abort answers. Streamed as `permission.request` and `permission.resolved` events and
//! answered with the `permission.reply` command.

use serde::{Deserialize, Serialize};

use crate::ids::{Millis, SessionId};

/// The tool call a permission request is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PermissionTool {
    /// The agent's id of the call (the `call_id` of its `tool_call` part).
    pub call_id: String,
    /// What the agent shows for it, e.g. the command line.
    pub title: String,
    /// The tool's kind, which policies allow-list.
    pub kind: ToolKind,
    /// The call's arguments as the agent sent them (any JSON), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "unknown"))]
    pub input: Option<serde_json::Value>,
}

/// What kind of thing a tool does (the ACP tool kinds); the unit of permission policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ToolKind {
    Read,
    Edit,
    Delete,
    Move,
    Search,
    Execute,
    Think,
    Fetch,
    SwitchMode,
    Other,
}

impl ToolKind {
    /// Every kind, in declaration order.
    pub const ALL: [ToolKind; 10] = [
        ToolKind::Read,
        ToolKind::Edit,
        ToolKind::Delete,
        ToolKind::Move,
        ToolKind::Search,
        ToolKind::Execute,
        ToolKind::Think,
        ToolKind::Fetch,
        ToolKind::SwitchMode,
        ToolKind::Other,
    ];

    /// The kinds that only look: `--approve read-only` answers yes to these.
    pub const READ_ONLY: [ToolKind; 3] = [ToolKind::Read, ToolKind::Search, ToolKind::Think];

    /// The wire name (`read`, `switch_mode`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ToolKind::Read => "read",
            ToolKind::Edit => "edit",
            ToolKind::Delete => "delete",
            ToolKind::Move => "move",
            ToolKind::Search => "search",
            ToolKind::Execute => "execute",
            ToolKind::Think => "think",
            ToolKind::Fetch => "fetch",
            ToolKind::SwitchMode => "switch_mode",
            ToolKind::Other => "other",
        }
    }

    /// The kind named `name`; an unknown name is [`ToolKind::Other`].
    pub fn from_name(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .unwrap_or(ToolKind::Other)
    }
}

/// One answer the agent offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PermissionOption {
    /// The agent's id of the option, sent back in `permission.reply {option}`.
    pub id: String,
    /// For people, e.g. `Allow once`.
    pub name: String,
    pub kind: OptionKind,
}

/// A permission request still waiting for a person, as a session's `SessionInfo` lists it:
/// what its `permission.request` event said, so that a client arriving (or reloading) while
/// the agent waits can show it and answer it with `permission.reply`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PendingPermission {
    /// The runner's id of the request, for `permission.reply {request}`.
    pub request: String,
    pub tool: PermissionTool,
    pub options: Vec<PermissionOption>,
}

/// What choosing an option means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum OptionKind {
    AllowOnce,
    AllowAlways,
    RejectOnce,
    RejectAlways,
}

impl OptionKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OptionKind::AllowOnce => "allow_once",
            OptionKind::AllowAlways => "allow_always",
            OptionKind::RejectOnce => "reject_once",
            OptionKind::RejectAlways => "reject_always",
        }
    }

    /// Whether the option lets the tool run.
    pub fn allows(self) -> bool {
        matches!(self, OptionKind::AllowOnce | OptionKind::AllowAlways)
    }
}

/// Who or what answered a permission request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Answerer {
    /// A person, through the client that sent `permission.reply` (its `hello` name).
    User { client: String },
    /// A policy rule of `runner.toml` or the workspace's `.oqto/permissions.toml`.
    Policy { rule: String },
    /// The turn was aborted while the request waited: answered `cancelled`.
    Abort,
    /// The harness stopped (closed, crashed), or the turn ended, while the request waited.
    Stopped,
}

impl Answerer {
    /// For people and the audit log: `user (oqtoctl)`, `policy (allow execute)`, `abort`.
    pub fn describe(&self) -> String {
        match self {
            Answerer::User { client } => format!("user ({client})"),
            Answerer::Policy { rule } => format!("policy ({rule})"),
            Answerer::Abort => "abort".into(),
            Answerer::Stopped => "harness stopped".into(),
        }
    }
}

/// What an audit entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum AuditKind {
    #[serde(rename = "permission.request")]
    PermissionRequest,
    #[serde(rename = "permission.resolved")]
    PermissionResolved,
    #[serde(rename = "tool.start")]
    ToolStart,
    #[serde(rename = "tool.end")]
    ToolEnd,
}

impl AuditKind {
    /// The wire name (the event's).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::PermissionRequest => "permission.request",
            AuditKind::PermissionResolved => "permission.resolved",
            AuditKind::ToolStart => "tool.start",
            AuditKind::ToolEnd => "tool.end",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            AuditKind::PermissionRequest,
            AuditKind::PermissionResolved,
            AuditKind::ToolStart,
            AuditKind::ToolEnd,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// One entry of the audit log: a permission asked or answered, a tool call started or
/// ended. Written by the runner from the session's events, kept in the history database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuditEntry {
    /// Increases with every entry.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub id: u64,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ts: Millis,
    pub session: SessionId,
    pub kind: AuditKind,
    /// For people: what was asked or run, and the outcome.
    pub summary: String,
    /// The tool call's id, when the entry is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub call_id: Option<String>,
    /// The permission request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub request: Option<String>,
    /// Who or what answered (`permission.resolved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub answered: Option<Answerer>,
}

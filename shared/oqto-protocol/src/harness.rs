//! The native harness sub-protocol: how the runner drives any program that speaks JSON
//! lines on stdin/stdout, so that any program can be an Oqto agent.
//!
//! * The runner writes [`AgentRequest`]s (`{"type", "id", ...}`), the first one always
//!   `init`. The agent answers each with exactly one `ok` ([`AgentReply`]) or `error`.
//! * The agent writes [`AgentMessage`]s: those responses, and events of the canonical
//!   [`EventKind`] shape without `session`/`seq`/`ts` (the runner adds them). The
//!   `message_id`/`part_id` values in an agent's events are the agent's own labels; the
//!   runner replaces them with ids it assigns, so an agent may use `"m1"`, `"p1"`.
//! * An agent reports its state with `state` events (`working` when a turn starts, `idle`
//!   when it ends) and failures with `session.error`. `session.created`, `session.updated`,
//!   `session.closed`, `session.deleted` and `resync` are the runner's own and are refused.
//! * The agent emits the user's messages too (a prompt, steer or follow-up becomes a
//!   `message.start`/`message.end` with role `user` when the agent takes it in), because
//!   only the agent knows when that happens.
//! * In a `message.end`, the runner overwrites `id`, `session` and part ids with its own and
//!   sets `created_at` from its clock. Labels must stay unique within one agent process; the
//!   runner keeps the label-to-id mapping, which `fork {message_id}` uses in reverse.
//! * stderr is free text: the runner keeps the last lines to explain a crash.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::envelope::{decode_request, from_value, parse_object, serialize_tagged, type_of};
use crate::event::EventKind;
use crate::ids::{MessageId, RequestId, SessionId};
use crate::message::{ImageInput, ModelRef};
use crate::response::ErrorResponse;
use crate::session::{Capability, ModelInfo, ThinkingLevel};

/// Version of the native harness sub-protocol, sent in `init`.
pub const AGENT_PROTOCOL_VERSION: u32 = 1;

/// A command from the runner to a native agent, with the id its response echoes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AgentRequest {
    pub id: RequestId,
    #[serde(flatten)]
    pub command: AgentCommand,
}

/// Commands a native agent receives. Tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentCommand {
    /// Always first. The agent answers with `ready`, or `protocol_mismatch` when it does
    /// not speak `protocol`; any other command before `init` gets `invalid_state`.
    Init {
        protocol: u32,
        session: SessionId,
        cwd: String,
        /// The `resume` token the agent returned in an earlier `ready`: continue that
        /// conversation instead of starting a new one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        resume: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        model: Option<ModelRef>,
    },
    Prompt {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[cfg_attr(feature = "ts", ts(as = "Option<Vec<ImageInput>>", optional))]
        images: Vec<ImageInput>,
    },
    Steer {
        text: String,
    },
    FollowUp {
        text: String,
    },
    Abort {},
    SetModel {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        provider: Option<String>,
        model: String,
    },
    GetModels {},
    SetThinkingLevel {
        level: ThinkingLevel,
    },
    Compact {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        instructions: Option<String>,
    },
    /// Branch the conversation before the agent's message `message_id` (its own label).
    Fork {
        message_id: MessageId,
    },
    /// Finish and exit. The runner sends SIGTERM if the agent has not exited soon after.
    Shutdown {},
}

impl AgentCommand {
    /// Every command's wire name.
    pub const NAMES: &'static [&'static str] = &[
        "init",
        "prompt",
        "steer",
        "follow_up",
        "abort",
        "set_model",
        "get_models",
        "set_thinking_level",
        "compact",
        "fork",
        "shutdown",
    ];
}

/// Typed payload of an agent's `ok` response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentReply {
    Empty,
    /// The answer to `init`.
    Ready {
        /// Agent name and version, for logs and `doctor`.
        agent: String,
        /// What the agent can do. Names this build does not know (a newer agent's) are
        /// skipped, so the agent still starts and only those features stay unused.
        #[serde(deserialize_with = "known_capabilities")]
        capabilities: Vec<Capability>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        model: Option<ModelRef>,
        /// A token to pass back in `init` to continue this conversation later (pi: its
        /// session file). The runner stores the newest one it received. Labels must stay
        /// unique across resumes of one conversation, because `fork` may name a label that
        /// an earlier process handed out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        resume: Option<String>,
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
    /// The answer to `fork`: a token for `init` that continues the branch.
    Forked {
        resume: String,
    },
}

/// An agent's success response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AgentOk {
    pub id: RequestId,
    pub result: AgentReply,
}

/// A line from a native agent to the runner.
// Events are by far the most frequent line; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum AgentMessage {
    Ok(AgentOk),
    Error(ErrorResponse),
    Event(EventKind),
}

impl AgentMessage {
    /// Decodes one line from an agent.
    pub fn parse(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }

    /// Encodes as one JSON line without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl Serialize for AgentMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AgentMessage::Ok(ok) => serialize_tagged(serializer, "ok", ok),
            AgentMessage::Error(e) => serialize_tagged(serializer, "error", e),
            AgentMessage::Event(kind) => kind.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for AgentMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::deserialize(deserializer)?;
        let kind = type_of(&map).map_err(|e| D::Error::custom(e.message))?;
        Ok(match kind {
            "ok" | "error" => {
                let is_ok = kind == "ok";
                map.remove("type");
                let rest = Value::Object(map);
                if is_ok {
                    AgentMessage::Ok(from_value(rest)?)
                } else {
                    AgentMessage::Error(from_value(rest)?)
                }
            }
            _ => AgentMessage::Event(from_value(Value::Object(map))?),
        })
    }
}

impl AgentRequest {
    /// Decodes one line from the runner (for agents written in Rust, like the fake agent).
    pub fn parse(line: &str) -> Result<Self, ErrorResponse> {
        let (id, command) = decode_request(parse_object(line)?, AgentCommand::NAMES)?;
        Ok(AgentRequest { id, command })
    }

    /// Encodes as one JSON line without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl<'de> Deserialize<'de> for AgentRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::deserialize(deserializer)?;
        let (id, command) =
            decode_request(map, AgentCommand::NAMES).map_err(|e| D::Error::custom(e.message))?;
        Ok(AgentRequest { id, command })
    }
}

/// The capabilities in a list, skipping names this build does not know.
fn known_capabilities<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Capability>, D::Error> {
    let names = Vec::<Value>::deserialize(d)?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if !name.is_string() {
            return Err(D::Error::custom(format!(
                "a capability must be a string, got {name}"
            )));
        }
        if let Ok(capability) = serde_json::from_value::<Capability>(name) {
            out.push(capability);
        }
    }
    Ok(out)
}

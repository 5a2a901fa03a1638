//! The Agent Client Protocol (ACP, protocol version 1) as the runner speaks it to an agent:
//! JSON-RPC 2.0 lines on the agent's stdin and stdout.
//!
//! Only what the runner sends or reads is here, written from the specification at
//! agentclientprotocol.com. Decoding is tolerant where agents differ: every field the runner
//! does not need to act is optional, `null` reads as absent, and an unknown session update,
//! content block or tool content is kept as `Other` rather than failing the line.
//!
//! Why not the `agent-client-protocol` crate's schema types: they pull `schemars` and
//! `derive_more` into the one crate every Oqto program links, decode some fields strictly
//! that real agents send as `null`, and change shape between minor versions; the wire types
//! of every line an Oqto program reads live in this crate by rule. The few dozen types
//! below are the part of the schema the adapter uses.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The ACP version the runner speaks.
pub const ACP_PROTOCOL_VERSION: u32 = 1;

/// One line from the agent, sorted by its JSON-RPC shape.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// A request the client must answer (`session/request_permission`, `fs/…`).
    Request {
        /// The id exactly as sent (a number or a string; opencode uses `0`).
        id: Value,
        method: String,
        params: Value,
    },
    /// A notification (`session/update`).
    Notification { method: String, params: Value },
    /// The answer to one of the runner's requests.
    Response {
        id: Value,
        result: Result<Value, RpcError>,
    },
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// Why a line is not a JSON-RPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Json(String),
    Shape(&'static str),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Json(why) => write!(f, "not JSON: {why}"),
            DecodeError::Shape(why) => write!(f, "not a JSON-RPC 2.0 message: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl Incoming {
    /// Decodes one line.
    pub fn parse(line: &str) -> Result<Self, DecodeError> {
        let value: Value =
            serde_json::from_str(line).map_err(|e| DecodeError::Json(e.to_string()))?;
        let Value::Object(mut object) = value else {
            return Err(DecodeError::Shape("not an object"));
        };
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(DecodeError::Shape("`jsonrpc` is not \"2.0\""));
        }
        let params = object.remove("params").unwrap_or(Value::Null);
        match (object.remove("id"), object.remove("method")) {
            (id, Some(Value::String(method))) => Ok(match id {
                Some(id) if !id.is_null() => Incoming::Request { id, method, params },
                _ => Incoming::Notification { method, params },
            }),
            (_, Some(_)) => Err(DecodeError::Shape("`method` is not a string")),
            (Some(id), None) => {
                let result = match (object.remove("result"), object.remove("error")) {
                    (_, Some(error)) if !error.is_null() => Err(serde_json::from_value(error)
                        .map_err(|_| DecodeError::Shape("`error` is not an error object"))?),
                    (Some(result), _) => Ok(result),
                    (None, _) => return Err(DecodeError::Shape("a response without `result`")),
                };
                Ok(Incoming::Response { id, result })
            }
            (None, None) => Err(DecodeError::Shape("neither `method` nor `id`")),
        }
    }
}

/// A request line with numeric id `id`.
pub fn request_line(id: u64, method: &str, params: &impl Serialize) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// A notification line.
pub fn notification_line(method: &str, params: &impl Serialize) -> String {
    serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

/// The answer to the agent's request `id` (its id kept exactly).
pub fn result_line(id: &Value, result: &impl Serialize) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

/// An error answer to the agent's request `id`.
pub fn error_line(id: &Value, code: i64, message: &str) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        .to_string()
}

/// JSON-RPC's "method not found".
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC's "invalid params".
pub const INVALID_PARAMS: i64 = -32602;

/// `null` reads as the default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

// ----- initialize ----------------------------------------------------------------------

/// `initialize` params. The runner advertises no file-system or terminal methods: agents
/// use their own tools, confined by the sandbox.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    pub protocol_version: u32,
    pub client_capabilities: ClientCapabilities,
    pub client_info: Implementation,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCapabilities {
    pub fs: FsCapabilities,
    pub terminal: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FsCapabilities {
    pub read_text_file: bool,
    pub write_text_file: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Implementation {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    #[serde(default, deserialize_with = "nullable")]
    pub protocol_version: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub agent_capabilities: AgentCapabilities,
    #[serde(default)]
    pub agent_info: Option<Implementation>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentCapabilities {
    #[serde(default, deserialize_with = "nullable")]
    pub load_session: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub prompt_capabilities: PromptCapabilities,
    #[serde(default, deserialize_with = "nullable")]
    pub session_capabilities: SessionCapabilities,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptCapabilities {
    #[serde(default, deserialize_with = "nullable")]
    pub image: bool,
}

/// Optional session methods; each is present (an object) when the agent supports it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCapabilities {
    #[serde(default)]
    pub resume: Option<Value>,
}

// ----- sessions ------------------------------------------------------------------------

/// `session/new` params.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSessionParams {
    pub cwd: String,
    pub mcp_servers: Vec<Value>,
}

/// `session/load` and `session/resume` params.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadSessionParams {
    pub session_id: String,
    pub cwd: String,
    pub mcp_servers: Vec<Value>,
}

/// The answer to `session/new` (and, without `session_id`, to load and resume).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionResult {
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub models: Option<SessionModels>,
    #[serde(default, deserialize_with = "nullable")]
    pub config_options: Vec<ConfigOption>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionModels {
    #[serde(default)]
    pub current_model_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub available_models: Vec<ModelEntry>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelEntry {
    pub model_id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A session setting the agent offers (`configOptions`); the one with category `model`
/// is the model.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigOption {
    pub id: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub current_value: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub options: Vec<ConfigValue>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ConfigValue {
    pub value: Value,
    #[serde(default)]
    pub name: Option<String>,
}

/// `session/set_config_option` params.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetConfigOptionParams {
    pub session_id: String,
    pub config_id: String,
    pub value: Value,
}

/// `session/set_model` params.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetModelParams {
    pub session_id: String,
    pub model_id: String,
}

/// `session/prompt` params.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptParams {
    pub session_id: String,
    pub prompt: Vec<Value>,
}

/// `session/cancel` params.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelParams {
    pub session_id: String,
}

/// The answer to `session/prompt`: the turn is over.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptResult {
    pub stop_reason: String,
    #[serde(default)]
    pub usage: Option<TurnUsage>,
}

/// Token counts of a turn; any of them may be missing or `null`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cached_read_tokens: Option<u64>,
    #[serde(default)]
    pub cached_write_tokens: Option<u64>,
}

// ----- session/update ------------------------------------------------------------------

/// `session/update` params.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionNotification {
    pub session_id: String,
    pub update: SessionUpdate,
}

/// What an agent reports during a turn. Tagged by `sessionUpdate`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "sessionUpdate", rename_all = "snake_case")]
pub enum SessionUpdate {
    UserMessageChunk(Chunk),
    AgentMessageChunk(Chunk),
    AgentThoughtChunk(Chunk),
    ToolCall(ToolCallFields),
    ToolCallUpdate(ToolCallFields),
    Plan {
        #[serde(default, deserialize_with = "nullable")]
        entries: Vec<PlanEntryWire>,
    },
    UsageUpdate {
        #[serde(default)]
        used: Option<u64>,
        #[serde(default)]
        size: Option<u64>,
        #[serde(default)]
        cost: Option<Cost>,
    },
    /// `available_commands_update`, `current_mode_update`, `config_option_update`,
    /// `session_info_update` and anything newer: nothing the runner shows.
    #[serde(other)]
    Other,
}

/// A piece of a message.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chunk {
    pub content: ContentBlock,
    /// The agent's id of the message the chunk belongs to (newer agents send it).
    #[serde(default)]
    pub message_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Cost {
    #[serde(default)]
    pub amount: Option<f64>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// Content of a message or a tool's output. Tagged by `type`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    Image {
        #[serde(rename = "mimeType")]
        mime_type: String,
        #[serde(default)]
        data: Option<String>,
        #[serde(default)]
        uri: Option<String>,
    },
    ResourceLink {
        uri: String,
        #[serde(default)]
        name: Option<String>,
    },
    Resource {
        resource: Value,
    },
    /// Audio and anything newer.
    #[serde(other)]
    Other,
}

/// The fields of `tool_call` and `tool_call_update`: an update names only what changed.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallFields {
    pub tool_call_id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub content: Option<Vec<ToolCallContent>>,
    #[serde(default)]
    pub raw_input: Option<Value>,
    #[serde(default)]
    pub raw_output: Option<Value>,
}

/// Output of a tool call. Tagged by `type`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolCallContent {
    Content {
        content: ContentBlock,
    },
    Diff {
        path: String,
        #[serde(default, rename = "oldText")]
        old_text: Option<String>,
        #[serde(rename = "newText")]
        new_text: String,
    },
    Terminal {
        #[serde(rename = "terminalId")]
        terminal_id: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PlanEntryWire {
    pub content: String,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

// ----- session/request_permission ------------------------------------------------------

/// `session/request_permission` params.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestPermissionParams {
    pub session_id: String,
    pub tool_call: ToolCallFields,
    pub options: Vec<PermissionOptionWire>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionOptionWire {
    pub option_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    pub kind: String,
}

/// The answer to `session/request_permission`.
pub fn permission_outcome(option: Option<&str>) -> Value {
    match option {
        Some(id) => serde_json::json!({"outcome": {"outcome": "selected", "optionId": id}}),
        None => serde_json::json!({"outcome": {"outcome": "cancelled"}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opencode_permission_request_with_id_zero_is_a_request() {
        let line = r#"{"jsonrpc":"2.0","id":0,"method":"session/request_permission","params":{"sessionId":"s","toolCall":{"toolCallId":"c","title":"ls","kind":"execute","status":"pending","locations":[],"rawInput":{"command":"ls"}},"options":[{"optionId":"once","kind":"allow_once","name":"Allow once"}]}}"#;
        let Incoming::Request { id, method, params } = Incoming::parse(line).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(id, Value::from(0));
        assert_eq!(method, "session/request_permission");
        let params: RequestPermissionParams = serde_json::from_value(params).unwrap();
        assert_eq!(params.options[0].option_id, "once");
        assert_eq!(params.tool_call.kind.as_deref(), Some("execute"));
    }

    #[test]
    fn unknown_updates_and_null_usage_are_tolerated() {
        let n: SessionNotification = serde_json::from_str(
            r#"{"sessionId":"s","update":{"sessionUpdate":"available_commands_update","availableCommands":[]}}"#,
        )
        .unwrap();
        assert_eq!(n.update, SessionUpdate::Other);
        let r: PromptResult = serde_json::from_str(
            r#"{"stopReason":"end_turn","usage":{"inputTokens":null,"outputTokens":3}}"#,
        )
        .unwrap();
        let usage = r.usage.unwrap();
        assert_eq!((usage.input_tokens, usage.output_tokens), (None, Some(3)));
    }

    #[test]
    fn responses_and_errors_decode_and_garbage_does_not() {
        assert!(matches!(
            Incoming::parse(r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"no"}}"#),
            Ok(Incoming::Response {
                result: Err(RpcError { code: -32601, .. }),
                ..
            })
        ));
        assert!(Incoming::parse("garbage").is_err());
        assert!(Incoming::parse(r#"{"id":1,"result":{}}"#).is_err());
        assert!(Incoming::parse(r#"{"jsonrpc":"2.0"}"#).is_err());
    }
}

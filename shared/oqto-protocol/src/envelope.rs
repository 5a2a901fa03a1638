//! Whole lines: what a client sends ([`ClientMessage`]) and what the runner sends
//! ([`ServerMessage`]).
//!
//! Decoding goes through a JSON object first, so that a request that fails to decode still
//! gets its `id` echoed in the error, and an unknown `type` (`unknown_command`) is told
//! apart from a malformed known one (`bad_request`).

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::command::{Command, Request};
use crate::event::{Event, EventKind};
use crate::ids::RequestId;
use crate::response::{ErrorCode, ErrorResponse, Hello, OkResponse, Welcome};
use crate::terminal::TerminalEvent;

/// A line from a client to the runner.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    Hello(Hello),
    Request(Request),
}

/// A line from the runner to a client.
// Events are by far the most frequent line; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    Welcome(Welcome),
    Ok(OkResponse),
    Error(ErrorResponse),
    Event(Event),
    /// About an attached terminal; a `terminal.output` header is followed by its raw bytes.
    Terminal(TerminalEvent),
}

/// Serializes `value` as `{"type": tag, ...value's fields}`.
pub(crate) fn serialize_tagged<S: Serializer, T: Serialize>(
    serializer: S,
    tag: &'static str,
    value: &T,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Tagged<'a, T> {
        #[serde(rename = "type")]
        tag: &'static str,
        #[serde(flatten)]
        inner: &'a T,
    }
    Tagged { tag, inner: value }.serialize(serializer)
}

/// Parses a line into a JSON object, or explains why it is not one.
pub(crate) fn parse_object(line: &str) -> Result<Map<String, Value>, ErrorResponse> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(bad_request(
            None,
            format!("expected a JSON object, got {}", json_kind(&other)),
        )),
        Err(e) => Err(bad_request(None, format!("invalid JSON: {e}"))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn bad_request(id: Option<RequestId>, message: impl Into<String>) -> ErrorResponse {
    ErrorResponse::new(id, ErrorCode::BadRequest, message)
}

/// The `type` field of an object.
pub(crate) fn type_of(map: &Map<String, Value>) -> Result<&str, ErrorResponse> {
    match map.get("type") {
        Some(Value::String(t)) => Ok(t),
        Some(_) => Err(bad_request(None, "field `type` must be a string")),
        None => Err(bad_request(None, "missing field `type`")),
    }
}

/// Decodes `{"type", "id", ...}` into a request id and a command of type `C`, whose wire
/// names are `names`.
pub(crate) fn decode_request<C: DeserializeOwned>(
    mut map: Map<String, Value>,
    names: &[&str],
) -> Result<(RequestId, C), ErrorResponse> {
    let id = match map.remove("id") {
        Some(Value::String(id)) => Some(RequestId(id)),
        Some(_) => return Err(bad_request(None, "field `id` must be a string")),
        None => None,
    };
    let kind = type_of(&map)
        .map_err(|e| ErrorResponse {
            id: id.clone(),
            ..e
        })?
        .to_owned();
    if !names.contains(&kind.as_str()) {
        return Err(ErrorResponse::new(
            id,
            ErrorCode::UnknownCommand,
            format!("unknown command `{kind}`"),
        ));
    }
    let Some(id) = id else {
        return Err(bad_request(
            None,
            format!("`{kind}` request without an `id`"),
        ));
    };
    match C::deserialize(Value::Object(map)) {
        Ok(command) => Ok((id, command)),
        Err(e) => Err(bad_request(Some(id), format!("{kind}: {e}"))),
    }
}

impl ClientMessage {
    /// Decodes one line. The error is the reply to send (with the id when one was readable).
    pub fn parse(line: &str) -> Result<Self, ErrorResponse> {
        Self::from_object(parse_object(line)?)
    }

    fn from_object(map: Map<String, Value>) -> Result<Self, ErrorResponse> {
        // Only a `hello` is decoded here; everything else (including a missing or
        // malformed `type`) goes through `decode_request`, which echoes a readable id.
        if map.get("type").and_then(Value::as_str) == Some("hello") {
            let mut map = map;
            map.remove("type");
            return Hello::deserialize(Value::Object(map))
                .map(ClientMessage::Hello)
                .map_err(|e| bad_request(None, format!("hello: {e}")));
        }
        let (id, command) = decode_request::<Command>(map, Command::NAMES)?;
        Ok(ClientMessage::Request(Request { id, command }))
    }

    /// Encodes as one JSON line without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl Serialize for ClientMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ClientMessage::Hello(hello) => serialize_tagged(serializer, "hello", hello),
            ClientMessage::Request(request) => request.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ClientMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::deserialize(deserializer)?;
        Self::from_object(map).map_err(|e| D::Error::custom(e.message))
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::deserialize(deserializer)?;
        let (id, command) =
            decode_request(map, Command::NAMES).map_err(|e| D::Error::custom(e.message))?;
        Ok(Request { id, command })
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::deserialize(deserializer)?;
        Event::from_object(&mut map).map_err(D::Error::custom)
    }
}

impl Event {
    fn from_object(map: &mut Map<String, Value>) -> Result<Self, serde_json::Error> {
        let missing = |f: &str| serde_json::Error::custom(format!("event without `{f}`"));
        let session = map.remove("session").ok_or_else(|| missing("session"))?;
        let seq = map.remove("seq").ok_or_else(|| missing("seq"))?;
        let ts = map.remove("ts").ok_or_else(|| missing("ts"))?;
        Ok(Event {
            session: serde_json::from_value(session)?,
            seq: serde_json::from_value(seq)?,
            ts: serde_json::from_value(ts)?,
            kind: EventKind::deserialize(Value::Object(std::mem::take(map)))?,
        })
    }

    /// Encodes as one JSON line without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl ServerMessage {
    /// Decodes one line from the runner.
    pub fn parse(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }

    /// Encodes as one JSON line without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ServerMessage::Welcome(w) => serialize_tagged(serializer, "welcome", w),
            ServerMessage::Ok(ok) => serialize_tagged(serializer, "ok", ok),
            ServerMessage::Error(e) => serialize_tagged(serializer, "error", e),
            ServerMessage::Event(ev) => ev.serialize(serializer),
            ServerMessage::Terminal(ev) => ev.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ServerMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::deserialize(deserializer)?;
        let kind = type_of(&map).map_err(|e| D::Error::custom(e.message))?;
        let rest = |map: &mut Map<String, Value>| {
            map.remove("type");
            Value::Object(std::mem::take(map))
        };
        let msg = match kind {
            "welcome" => ServerMessage::Welcome(from_value(rest(&mut map))?),
            "ok" => ServerMessage::Ok(from_value(rest(&mut map))?),
            "error" => ServerMessage::Error(from_value(rest(&mut map))?),
            kind if TerminalEvent::NAMES.contains(&kind) => {
                ServerMessage::Terminal(from_value(Value::Object(std::mem::take(&mut map)))?)
            }
            _ => ServerMessage::Event(Event::from_object(&mut map).map_err(D::Error::custom)?),
        };
        Ok(msg)
    }
}

pub(crate) fn from_value<T: DeserializeOwned, E: serde::de::Error>(v: Value) -> Result<T, E> {
    serde_json::from_value(v).map_err(E::custom)
}

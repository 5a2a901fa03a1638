//! The lines of a files connection, both ways, and their decoding (which keeps a request's
//! id in the error when the rest does not decode).

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{DataHeader, FilesCommand, FilesEvent, FilesReply, FilesRequest, FilesWelcome};
use crate::envelope::{decode_request, from_value, parse_object, serialize_tagged, type_of};
use crate::response::{ErrorCode, ErrorResponse, Hello, OkResponse};

/// A line from a client to the file server.
#[derive(Clone, Debug, PartialEq)]
pub enum FilesClientMessage {
    Hello(Hello),
    Request(FilesRequest),
}

/// A line from the file server to a client.
#[derive(Clone, Debug, PartialEq)]
pub enum FilesServerMessage {
    Welcome(FilesWelcome),
    /// The shared [`OkResponse`], carrying a [`FilesReply`].
    Ok(OkResponse<FilesReply>),
    /// The shared [`ErrorResponse`].
    Error(ErrorResponse),
    /// A raw frame's header; `len` bytes follow.
    Data(DataHeader),
    Event(FilesEvent),
}

impl FilesClientMessage {
    /// Decodes one line. The error is the reply to send (with the id when one was readable).
    pub fn parse(line: &str) -> Result<Self, ErrorResponse> {
        Self::from_object(parse_object(line)?)
    }

    fn from_object(map: Map<String, Value>) -> Result<Self, ErrorResponse> {
        if map.get("type").and_then(Value::as_str) == Some("hello") {
            let mut map = map;
            map.remove("type");
            return Hello::deserialize(Value::Object(map))
                .map(FilesClientMessage::Hello)
                .map_err(|e| {
                    ErrorResponse::new(None, ErrorCode::BadRequest, format!("hello: {e}"))
                });
        }
        let (id, command) = decode_request::<FilesCommand>(map, FilesCommand::NAMES)?;
        Ok(FilesClientMessage::Request(FilesRequest { id, command }))
    }

    /// Encodes as one JSON line without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl FilesRequest {
    /// Encodes as one JSON line without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl Serialize for FilesClientMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FilesClientMessage::Hello(hello) => serialize_tagged(serializer, "hello", hello),
            FilesClientMessage::Request(request) => request.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for FilesClientMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::deserialize(deserializer)?;
        Self::from_object(map).map_err(|e| D::Error::custom(e.message))
    }
}

impl<'de> Deserialize<'de> for FilesRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::deserialize(deserializer)?;
        let (id, command) =
            decode_request(map, FilesCommand::NAMES).map_err(|e| D::Error::custom(e.message))?;
        Ok(FilesRequest { id, command })
    }
}

impl FilesServerMessage {
    /// Decodes one line from the file server.
    pub fn parse(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }

    /// Encodes as one JSON line without the trailing newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("protocol types always serialize")
    }
}

impl Serialize for FilesServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FilesServerMessage::Welcome(w) => serialize_tagged(serializer, "welcome", w),
            FilesServerMessage::Ok(ok) => serialize_tagged(serializer, "ok", ok),
            FilesServerMessage::Error(e) => serialize_tagged(serializer, "error", e),
            FilesServerMessage::Data(d) => serialize_tagged(serializer, "data", d),
            FilesServerMessage::Event(ev) => ev.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for FilesServerMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fn rest<T: DeserializeOwned, E: serde::de::Error>(
            mut map: Map<String, Value>,
        ) -> Result<T, E> {
            map.remove("type");
            from_value(Value::Object(map))
        }
        let map = Map::deserialize(deserializer)?;
        let kind = type_of(&map).map_err(|e| D::Error::custom(e.message))?;
        Ok(match kind {
            "welcome" => FilesServerMessage::Welcome(rest(map)?),
            "ok" => FilesServerMessage::Ok(rest(map)?),
            "error" => FilesServerMessage::Error(rest(map)?),
            "data" => FilesServerMessage::Data(rest(map)?),
            _ => FilesServerMessage::Event(from_value(Value::Object(map))?),
        })
    }
}

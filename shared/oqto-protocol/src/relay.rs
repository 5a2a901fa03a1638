//! The relay's WebSocket envelope: one socket per browser tab (or remote client) at `/ws`,
//! with channels inside.
//!
//! Every text frame is a JSON object with `ch`, the channel, and `msg`, the message:
//! - `{"ch":"relay","msg":M}`: `M` is a [`RelayMessage`] (hello/welcome, ping/pong, the
//!   relay's own errors);
//! - `{"ch":"agent","msg":M}`: `M` is one runner protocol line ([`crate::ClientMessage`]
//!   from the client, [`crate::ServerMessage`] to it), carried verbatim: the relay does the
//!   runner handshake itself, so a client sends requests only, and their ids come back
//!   unchanged.
//!
//! - `{"ch":"files","root":R,"msg":M}`: `M` is one file server line for the workspace of
//!   session `R`; a `data` header is followed by one binary frame with its bytes, and so is
//!   a client's `upload.chunk`.
//!
//! - `{"ch":"terminal","msg":M}`: `M` is one runner `terminal.*` request, reply or terminal
//!   event, verbatim; output and input bytes travel as binary frames with a small header
//!   ([`TerminalBytes`]).
//!
//! Any other channel is
//! [`ErrorCode::UnknownChannel`]. A frame that is not a JSON object with `ch` and `msg` is
//! [`ErrorCode::BadRequest`], one over the relay's limit [`ErrorCode::TooLarge`]; none of
//! them closes the connection.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::response::{ErrorCode, ErrorResponse, Hello, Welcome};

/// A channel of the envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Relay,
    Agent,
    Files,
    Terminal,
}

impl Channel {
    /// Every channel, in the order the docs list them.
    pub const ALL: &'static [Channel] = &[
        Channel::Relay,
        Channel::Agent,
        Channel::Files,
        Channel::Terminal,
    ];

    /// The wire name (`"agent"`).
    pub fn name(self) -> &'static str {
        match self {
            Channel::Relay => "relay",
            Channel::Agent => "agent",
            Channel::Files => "files",
            Channel::Terminal => "terminal",
        }
    }

    /// The channel named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }
}

/// A message on the `relay` channel, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RelayMessage {
    /// Client → relay, first: the protocol version it speaks and its name.
    Hello(Hello),
    /// Relay → client, the answer to `hello`; sent again when the relay reconnected to a
    /// restarted runner (resubscribe then, with the last seq seen).
    Welcome(RelayWelcome),
    /// Either way; the other side answers `pong`. The relay pings every
    /// `ping_interval_ms` and drops a client it has heard nothing from for three intervals.
    Ping {},
    Pong {},
    /// A frame the relay could not carry, or the runner went away
    /// ([`ErrorCode::RunnerUnavailable`]). `id` is the agent request's id when one was
    /// readable. The connection lives on.
    Error(ErrorResponse),
}

/// What the relay says about itself and the runner behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct RelayWelcome {
    /// The envelope's version ([`crate::PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// The relay's version.
    pub version: String,
    /// The Unix account the relay serves.
    pub user: String,
    /// The runner's own `welcome`: its capabilities, harnesses and default harness.
    pub runner: Welcome,
    /// The channels this relay carries.
    pub channels: Vec<String>,
    /// The largest text frame the relay reads, in bytes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub max_frame: u64,
    /// How often the relay pings.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub ping_interval_ms: u64,
}

impl RelayMessage {
    /// The whole text frame carrying this message on the `relay` channel.
    pub fn to_frame(&self) -> String {
        let msg = serde_json::to_string(self).expect("protocol types always serialize");
        format!("{{\"ch\":\"relay\",\"msg\":{msg}}}")
    }

    /// Decodes a `relay` channel message.
    pub fn from_raw(msg: &RawValue) -> Result<Self, ErrorResponse> {
        serde_json::from_str(msg.get())
            .map_err(|e| ErrorResponse::new(None, ErrorCode::BadRequest, format!("relay: {e}")))
    }

    /// Reads a whole `relay` channel frame (the golden files and tests use it; the relay
    /// itself reads the envelope once with [`Frame::parse`]).
    pub fn parse_frame(text: &str) -> Result<Self, ErrorResponse> {
        let frame = Frame::parse(text)?;
        if frame.ch != Channel::Relay {
            return Err(ErrorResponse::new(
                None,
                ErrorCode::BadRequest,
                format!("a `{}` frame, not a `relay` one", frame.ch.name()),
            ));
        }
        Self::from_raw(frame.msg)
    }

    /// An error frame with no request id.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        RelayMessage::Error(ErrorResponse::new(None, code, message))
    }
}

/// The whole text frame carrying one runner line on the `agent` channel. The line is
/// embedded as it is: the relay never re-encodes what the runner wrote.
pub fn agent_frame(line: &str) -> String {
    format!("{{\"ch\":\"agent\",\"msg\":{line}}}")
}

/// The whole text frame carrying one file server line for workspace `root` on the
/// `files` channel, the line embedded as it is.
pub fn files_frame(root: &str, line: &str) -> String {
    let root = serde_json::to_string(root).expect("a string serializes");
    format!("{{\"ch\":\"files\",\"root\":{root},\"msg\":{line}}}")
}

/// The whole text frame carrying one runner line on the `terminal` channel: a client's
/// `terminal.*` request, or the runner's reply or terminal event, embedded as it is.
pub fn terminal_frame(line: &str) -> String {
    format!("{{\"ch\":\"terminal\",\"msg\":{line}}}")
}

/// The first byte of a `terminal` channel binary frame that carries output (relay to
/// client).
pub const TERMINAL_OUTPUT: u8 = 0x01;
/// The first byte of a `terminal` channel binary frame that carries input (client to
/// relay).
pub const TERMINAL_INPUT: u8 = 0x02;

/// A binary frame of the `terminal` channel: a terminal's bytes with a small header, never
/// base64 or a string.
///
/// ```text
/// output: 0x01 | n: u8 | terminal id: n bytes (ASCII) | offset: u64 big-endian | bytes
/// input:  0x02 | n: u8 | terminal id: n bytes (ASCII) | bytes
/// ```
///
/// `offset` is the runner's offset of the first byte (as in a `terminal.output` header);
/// the length is the rest of the frame. Ids are 1 to 255 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminalBytes<'a> {
    Output {
        terminal: &'a str,
        offset: u64,
        bytes: &'a [u8],
    },
    Input {
        terminal: &'a str,
        bytes: &'a [u8],
    },
}

impl<'a> TerminalBytes<'a> {
    /// The whole binary frame.
    ///
    /// # Panics
    /// When the terminal id is empty or longer than 255 bytes (the runner makes ~20).
    pub fn encode(&self) -> Vec<u8> {
        let (kind, terminal, offset, bytes) = match *self {
            TerminalBytes::Output {
                terminal,
                offset,
                bytes,
            } => (TERMINAL_OUTPUT, terminal, Some(offset), bytes),
            TerminalBytes::Input { terminal, bytes } => (TERMINAL_INPUT, terminal, None, bytes),
        };
        let n = u8::try_from(terminal.len())
            .ok()
            .filter(|n| *n > 0)
            .expect("a terminal id of 1 to 255 bytes");
        let mut frame = Vec::with_capacity(2 + terminal.len() + 8 + bytes.len());
        frame.push(kind);
        frame.push(n);
        frame.extend_from_slice(terminal.as_bytes());
        if let Some(offset) = offset {
            frame.extend_from_slice(&offset.to_be_bytes());
        }
        frame.extend_from_slice(bytes);
        frame
    }

    /// Reads a binary frame's header. Errors are `bad_request`: an unknown first byte, a
    /// frame shorter than its header, an empty or non-ASCII id.
    pub fn decode(frame: &'a [u8]) -> Result<Self, ErrorResponse> {
        let bad = |why: &str| {
            ErrorResponse::new(
                None,
                ErrorCode::BadRequest,
                format!(
                    "a binary frame of {} bytes is not a terminal frame: {why}",
                    frame.len()
                ),
            )
        };
        let [kind, n, rest @ ..] = frame else {
            return Err(bad("shorter than its header"));
        };
        if !matches!(*kind, TERMINAL_OUTPUT | TERMINAL_INPUT) {
            return Err(bad(&format!(
                "its first byte is {kind:#04x}, not 0x01 (output) or 0x02 (input)"
            )));
        }
        let n = usize::from(*n);
        if n == 0 || rest.len() < n {
            return Err(bad("no terminal id"));
        }
        let (id, rest) = rest.split_at(n);
        let terminal = std::str::from_utf8(id)
            .ok()
            .filter(|id| id.is_ascii())
            .ok_or_else(|| bad("the terminal id is not ASCII"))?;
        if *kind == TERMINAL_INPUT {
            return Ok(TerminalBytes::Input {
                terminal,
                bytes: rest,
            });
        }
        let Some((offset, bytes)) = rest.split_first_chunk::<8>() else {
            return Err(bad("no offset"));
        };
        Ok(TerminalBytes::Output {
            terminal,
            offset: u64::from_be_bytes(*offset),
            bytes,
        })
    }
}

/// A text frame as read: its channel and the message's JSON text, not yet decoded.
#[derive(Debug)]
pub struct Frame<'a> {
    pub ch: Channel,
    /// The workspace of a `files` frame (a session id).
    pub root: Option<String>,
    /// The message exactly as the client wrote it.
    pub msg: &'a RawValue,
}

#[derive(Deserialize)]
struct RawFrame<'a> {
    ch: &'a str,
    #[serde(borrow)]
    msg: &'a RawValue,
    #[serde(default)]
    root: Option<String>,
}

impl<'a> Frame<'a> {
    /// Reads a text frame's envelope. Errors are what the relay answers on its channel:
    /// `bad_request` (not JSON, not an object, no `ch` or `msg`), `unknown_channel`.
    pub fn parse(text: &'a str) -> Result<Self, ErrorResponse> {
        let raw: RawFrame<'a> = serde_json::from_str(text).map_err(|e| {
            ErrorResponse::new(
                None,
                ErrorCode::BadRequest,
                format!("not an envelope ({{\"ch\":…,\"msg\":…}}): {e}"),
            )
        })?;
        let ch = Channel::from_name(raw.ch).ok_or_else(|| {
            ErrorResponse::new(
                None,
                ErrorCode::UnknownChannel,
                format!(
                    "no channel `{}` (channels: relay, agent, files, terminal)",
                    raw.ch.escape_debug()
                ),
            )
        })?;
        if ch == Channel::Files && raw.root.as_deref().is_none_or(str::is_empty) {
            return Err(ErrorResponse::new(
                None,
                ErrorCode::BadRequest,
                "a `files` frame names its workspace in `root` (a session id)",
            ));
        }
        Ok(Frame {
            ch,
            root: raw.root,
            msg: raw.msg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_keeps_its_message_verbatim() {
        let text = r#"{"ch":"agent","msg":{"type":"sessions.list", "id":"a1"}}"#;
        let frame = Frame::parse(text).unwrap();
        assert_eq!(frame.ch, Channel::Agent);
        assert_eq!(frame.msg.get(), r#"{"type":"sessions.list", "id":"a1"}"#);
    }

    #[test]
    fn bad_frames_have_typed_errors() {
        let code = |text: &str| Frame::parse(text).unwrap_err().code;
        assert_eq!(code("not json"), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"msg":{}}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"ch":"agent"}"#), ErrorCode::BadRequest);
        assert_eq!(
            code(r#"{"ch":"video","msg":{}}"#),
            ErrorCode::UnknownChannel
        );
    }

    #[test]
    fn a_files_frame_needs_a_root() {
        let frame = Frame::parse(r#"{"ch":"files","root":"ses_1","msg":{}}"#).unwrap();
        assert_eq!(frame.root.as_deref(), Some("ses_1"));
        let err = Frame::parse(r#"{"ch":"files","msg":{}}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert_eq!(
            files_frame("ses_\"1", r#"{"type":"ok"}"#),
            r#"{"ch":"files","root":"ses_\"1","msg":{"type":"ok"}}"#
        );
    }

    #[test]
    fn terminal_bytes_round_trip_and_bad_ones_are_refused() {
        let output = TerminalBytes::Output {
            terminal: "term_1",
            offset: 258,
            bytes: b"\0\xff\r\n",
        };
        let frame = output.encode();
        assert_eq!(
            frame,
            b"\x01\x06term_1\0\0\0\0\0\0\x01\x02\0\xff\r\n".to_vec()
        );
        assert_eq!(TerminalBytes::decode(&frame).unwrap(), output);
        let input = TerminalBytes::Input {
            terminal: "t",
            bytes: b"",
        };
        assert_eq!(input.encode(), b"\x02\x01t".to_vec());
        assert_eq!(TerminalBytes::decode(b"\x02\x01t").unwrap(), input);
        for bad in [
            &b""[..],
            b"\x02",
            b"\x03\x01t",
            b"\x02\x00x",
            b"\x02\x05term",
            b"\x02\x01\xff",
            b"\x01\x01t\0\0\0",
        ] {
            let err = TerminalBytes::decode(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadRequest, "{bad:?}");
        }
    }

    #[test]
    fn an_agent_frame_embeds_the_line() {
        assert_eq!(
            agent_frame(r#"{"type":"ok","id":"x","result":{}}"#),
            r#"{"ch":"agent","msg":{"type":"ok","id":"x","result":{}}}"#
        );
    }
}

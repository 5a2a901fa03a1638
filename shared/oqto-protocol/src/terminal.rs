//! Terminals: pseudo-terminals the runner owns, each running a shell (or a command) in a
//! workspace under the same sandbox as an agent there.
//!
//! Output and input are bytes, not text. Both travel as raw frames: a JSON header line
//! announcing `len`, then exactly `len` raw bytes. The runner sends
//! [`TerminalEvent::Output`] headers; a client sends `terminal.input` requests
//! ([`crate::Command::TerminalInput`]) with `len` bytes after the line.
//!
//! Every output byte has an offset: the count of bytes the terminal wrote before it. The
//! runner keeps the newest ones in a ring (its scrollback); `terminal.attach` with
//! `after_offset` resumes with exactly the bytes after it, or, when the ring no longer
//! reaches back that far, a [`TerminalEvent::Truncated`] mark and then the whole ring.

use serde::{Deserialize, Serialize};

use crate::ids::{Millis, SessionId, TerminalId};

/// A live terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TerminalInfo {
    pub id: TerminalId,
    /// The session whose workspace and sandbox policy it has, when opened for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub session: Option<SessionId>,
    /// Its working directory (the sandbox's workspace).
    pub cwd: String,
    /// The program and its arguments, as started inside the sandbox.
    pub command: Vec<String>,
    pub cols: u16,
    pub rows: u16,
    /// Output bytes so far: the offset the next output byte will have.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub offset: u64,
    /// Clients attached now.
    pub clients: u32,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub created_at: Millis,
}

/// What the runner sends an attached client about a terminal, besides replies. Tagged by
/// `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type")]
pub enum TerminalEvent {
    /// The header of a raw frame: `len` output bytes follow the line, the first of them at
    /// `offset`.
    #[serde(rename = "terminal.output")]
    Output {
        terminal: TerminalId,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        offset: u64,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        len: u64,
    },
    /// The bytes before `offset` are no longer kept: what follows starts there, and the
    /// client missed what lay between its `after_offset` and `offset`.
    #[serde(rename = "terminal.truncated")]
    Truncated {
        terminal: TerminalId,
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        offset: u64,
    },
    /// The program ended, with an exit `code` or killed by `signal` (one of the two). The
    /// output before it has been sent; `terminal.closed` follows.
    #[serde(rename = "terminal.exit")]
    Exit {
        terminal: TerminalId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        signal: Option<i32>,
    },
    /// The terminal is gone (program exit, `terminal.close`, its session deleted, idle, or
    /// the runner stopping); the last line about it.
    #[serde(rename = "terminal.closed")]
    Closed {
        terminal: TerminalId,
        reason: String,
    },
    /// This client was detached (the terminal goes on): it did not read its output for
    /// too long. Attach again with `after_offset` to resume.
    #[serde(rename = "terminal.detached")]
    Detached {
        terminal: TerminalId,
        reason: String,
    },
}

impl TerminalEvent {
    /// Every event's wire name, in declaration order.
    pub const NAMES: &'static [&'static str] = &[
        "terminal.output",
        "terminal.truncated",
        "terminal.exit",
        "terminal.closed",
        "terminal.detached",
    ];

    /// This event's wire name.
    pub fn name(&self) -> &'static str {
        let index = match self {
            TerminalEvent::Output { .. } => 0,
            TerminalEvent::Truncated { .. } => 1,
            TerminalEvent::Exit { .. } => 2,
            TerminalEvent::Closed { .. } => 3,
            TerminalEvent::Detached { .. } => 4,
        };
        Self::NAMES[index]
    }

    /// The terminal it is about.
    pub fn terminal(&self) -> &TerminalId {
        match self {
            TerminalEvent::Output { terminal, .. }
            | TerminalEvent::Truncated { terminal, .. }
            | TerminalEvent::Exit { terminal, .. }
            | TerminalEvent::Closed { terminal, .. }
            | TerminalEvent::Detached { terminal, .. } => terminal,
        }
    }

    /// Raw bytes that follow this line: `len` of an output header, else 0.
    pub fn frame_len(&self) -> u64 {
        match self {
            TerminalEvent::Output { len, .. } => *len,
            _ => 0,
        }
    }
}

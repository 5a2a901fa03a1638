//! Harness adapters: how each agent program's output becomes canonical protocol events.

pub mod acp;
pub mod adapter;
pub mod native;
pub mod pi;

use oqto_protocol::{MessageId, PartId};

/// How many characters of a harness line a warning or an error quotes.
const EXCERPT_CHARS: usize = 120;

/// The start of a harness `line`, for a warning: at most [`EXCERPT_CHARS`] characters,
/// `…` if cut.
pub(crate) fn excerpt(line: &str) -> String {
    match line.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}

/// Makes the ids of the messages and parts the runner creates.
pub trait IdSource {
    fn message_id(&mut self) -> MessageId;
    fn part_id(&mut self) -> PartId;
}

/// Counting ids, `msg_1`, `prt_1`, …: deterministic, for tests and golden files.
#[derive(Debug, Default)]
pub struct CountingIds {
    messages: u64,
    parts: u64,
}

impl IdSource for CountingIds {
    fn message_id(&mut self) -> MessageId {
        self.messages += 1;
        MessageId(format!("msg_{}", self.messages))
    }

    fn part_id(&mut self) -> PartId {
        self.parts += 1;
        PartId(format!("prt_{}", self.parts))
    }
}

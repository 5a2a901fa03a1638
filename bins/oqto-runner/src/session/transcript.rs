//! [`Transcript`]: the messages a session actor keeps in memory, built from the session's
//! own canonical events: the message being streamed and the newest ended ones.
//!
//! It serves two needs without asking the store: the snapshot of a `resync` (the newest
//! messages plus the one in flight, consistent with the event stream at that very seq), and
//! knowing which message to store again when a tool call of an already ended message
//! finishes (pi runs tools after the assistant message that asked for them has ended).

use std::collections::VecDeque;

use oqto_protocol::{
    EventKind, Message, MessageId, Millis, Part, PartId, SessionId, StopReason, ToolStatus,
};

/// Keeps at most this many ended messages; older ones are only in the store.
pub const RECENT_MESSAGES: usize = 50;
/// And at most about this many bytes of their JSON.
pub const RECENT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct Transcript {
    in_flight: Option<Message>,
    /// Ended messages, oldest first, with their approximate size.
    recent: VecDeque<(Message, usize)>,
    recent_bytes: usize,
    /// Messages older than `recent` exist (in the store).
    has_older: bool,
}

impl Transcript {
    /// A transcript continuing from `recent` (oldest first, from the store) with
    /// `has_older` saying whether the store has older ones.
    pub fn new(recent: Vec<Message>, has_older: bool) -> Self {
        let mut transcript = Self {
            has_older,
            ..Self::default()
        };
        for message in recent {
            transcript.push_recent(message);
        }
        transcript
    }

    /// The message being streamed, as far as it has come.
    pub fn in_flight(&self) -> Option<&Message> {
        self.in_flight.as_ref()
    }

    /// The newest ended messages, oldest first, and whether older ones exist.
    pub fn recent(&self) -> (Vec<Message>, bool) {
        (
            self.recent.iter().map(|(m, _)| m.clone()).collect(),
            self.has_older,
        )
    }

    /// Applies one event of the session's stream. Returns a message to write to the store:
    /// the one a `message.end` ended, or an ended message whose tool call just finished.
    pub fn apply(&mut self, session: &SessionId, kind: &EventKind, ts: Millis) -> Option<Message> {
        match kind {
            EventKind::MessageStart {
                message_id,
                role,
                model,
            } => {
                self.in_flight = Some(Message {
                    id: message_id.clone(),
                    session: session.clone(),
                    role: *role,
                    parts: Vec::new(),
                    created_at: ts,
                    model: model.clone(),
                    usage: None,
                    stop_reason: None,
                    client_msg_id: None,
                });
                None
            }
            EventKind::PartStart { message_id, part } | EventKind::PartEnd { message_id, part } => {
                let message = self.in_flight_mut(message_id)?;
                upsert_part(&mut message.parts, part.clone());
                None
            }
            EventKind::PartDelta {
                message_id,
                part_id,
                delta,
            } => {
                let message = self.in_flight_mut(message_id)?;
                if let Some(Part::Text { text, .. } | Part::Thinking { text, .. }) =
                    find_part(&mut message.parts, part_id)
                {
                    text.push_str(delta);
                }
                None
            }
            EventKind::ToolStart {
                message_id,
                part_id,
                ..
            } => {
                if let Some(Part::ToolCall { status, .. }) = self.part_mut(message_id, part_id) {
                    *status = ToolStatus::Running;
                }
                None
            }
            EventKind::ToolEnd { message_id, part } => {
                if let Some(message) = self.in_flight_mut(message_id) {
                    upsert_part(&mut message.parts, part.clone());
                    return None;
                }
                let message = self.recent_mut(message_id)?;
                upsert_part(&mut message.parts, part.clone());
                Some(message.clone())
            }
            EventKind::MessageEnd { message } => {
                if self.in_flight.as_ref().is_some_and(|m| m.id == message.id) {
                    self.in_flight = None;
                }
                if let Some(existing) = self.recent_mut(&message.id) {
                    existing.clone_from(message);
                } else {
                    self.push_recent(message.clone());
                }
                Some(message.clone())
            }
            _ => None,
        }
    }

    /// The events that end the message in flight with an error part, when the harness died
    /// in the middle of it; empty when nothing is in flight. The caller publishes them (they
    /// come back through [`apply`](Self::apply)).
    pub fn abandon(&self, reason: &str, part_id: PartId) -> Vec<EventKind> {
        let Some(message) = &self.in_flight else {
            return Vec::new();
        };
        let part = Part::Error {
            id: part_id,
            message: reason.to_owned(),
        };
        let mut ended = message.clone();
        ended.parts.push(part.clone());
        ended.stop_reason = Some(StopReason::Error);
        for part in &mut ended.parts {
            if let Part::ToolCall { status, .. } = part {
                if matches!(status, ToolStatus::Pending | ToolStatus::Running) {
                    *status = ToolStatus::Aborted;
                }
            }
        }
        vec![
            EventKind::PartStart {
                message_id: message.id.clone(),
                part: part.clone(),
            },
            EventKind::PartEnd {
                message_id: message.id.clone(),
                part,
            },
            EventKind::MessageEnd { message: ended },
        ]
    }

    /// Tool calls of ended messages still marked running, with their message: when the
    /// harness died they will never finish.
    pub fn running_tools(&self) -> Vec<(MessageId, Part)> {
        let mut out = Vec::new();
        for (message, _) in &self.recent {
            for part in &message.parts {
                if let Part::ToolCall {
                    status: ToolStatus::Pending | ToolStatus::Running,
                    ..
                } = part
                {
                    out.push((message.id.clone(), part.clone()));
                }
            }
        }
        out
    }

    fn in_flight_mut(&mut self, id: &MessageId) -> Option<&mut Message> {
        self.in_flight.as_mut().filter(|m| &m.id == id)
    }

    fn recent_mut(&mut self, id: &MessageId) -> Option<&mut Message> {
        self.recent
            .iter_mut()
            .rev()
            .map(|(m, _)| m)
            .find(|m| &m.id == id)
    }

    fn part_mut(&mut self, message_id: &MessageId, part_id: &PartId) -> Option<&mut Part> {
        if self.in_flight.as_ref().is_some_and(|m| &m.id == message_id) {
            let message = self.in_flight.as_mut()?;
            return find_part(&mut message.parts, part_id);
        }
        let message = self.recent_mut(message_id)?;
        find_part(&mut message.parts, part_id)
    }

    fn push_recent(&mut self, message: Message) {
        let size = approximate_size(&message);
        self.recent.push_back((message, size));
        self.recent_bytes += size;
        while self.recent.len() > RECENT_MESSAGES
            || (self.recent_bytes > RECENT_BYTES && self.recent.len() > 1)
        {
            if let Some((_, size)) = self.recent.pop_front() {
                self.recent_bytes -= size;
                self.has_older = true;
            }
        }
    }
}

fn find_part<'a>(parts: &'a mut [Part], id: &PartId) -> Option<&'a mut Part> {
    parts.iter_mut().find(|p| p.id() == id)
}

fn upsert_part(parts: &mut Vec<Part>, part: Part) {
    match parts.iter_mut().find(|p| p.id() == part.id()) {
        Some(existing) => *existing = part,
        None => parts.push(part),
    }
}

fn approximate_size(message: &Message) -> usize {
    let text: usize = message
        .parts
        .iter()
        .map(|part| match part {
            Part::Text { text, .. } | Part::Thinking { text, .. } => text.len(),
            Part::ToolCall { input, output, .. } => {
                input.to_string().len() + output.as_ref().map_or(0, String::len)
            }
            Part::Image { data, url, .. } => {
                data.as_ref().map_or(0, String::len) + url.as_ref().map_or(0, String::len)
            }
            Part::FileRef { path, .. } => path.len(),
            Part::Compaction { summary, .. } => summary.len(),
            Part::Error { message, .. } => message.len(),
            Part::Plan { entries, .. } => entries.iter().map(|e| e.content.len()).sum(),
            Part::Diff {
                path,
                old_text,
                new_text,
                ..
            } => path.len() + old_text.as_ref().map_or(0, String::len) + new_text.len(),
        })
        .sum();
    text + 64 * (message.parts.len() + 1)
}

#[cfg(test)]
mod tests {
    use oqto_protocol::Role;
    use serde_json::json;

    use super::*;

    fn sid() -> SessionId {
        SessionId("ses_1".into())
    }

    fn mid(n: u32) -> MessageId {
        MessageId(format!("msg_{n}"))
    }

    fn pid(n: u32) -> PartId {
        PartId(format!("prt_{n}"))
    }

    fn start(t: &mut Transcript, n: u32) {
        t.apply(
            &sid(),
            &EventKind::MessageStart {
                message_id: mid(n),
                role: Role::Assistant,
                model: None,
            },
            10,
        );
    }

    fn tool(status: ToolStatus, output: Option<&str>) -> Part {
        Part::ToolCall {
            id: pid(2),
            call_id: "call_1".into(),
            name: "bash".into(),
            input: json!({"command": "ls"}),
            status,
            output: output.map(str::to_owned),
            is_error: false,
        }
    }

    #[test]
    fn deltas_build_the_in_flight_message() {
        let mut t = Transcript::default();
        start(&mut t, 1);
        let text = Part::Text {
            id: pid(1),
            text: String::new(),
        };
        t.apply(
            &sid(),
            &EventKind::PartStart {
                message_id: mid(1),
                part: text,
            },
            11,
        );
        for delta in ["Hel", "lo"] {
            t.apply(
                &sid(),
                &EventKind::PartDelta {
                    message_id: mid(1),
                    part_id: pid(1),
                    delta: delta.into(),
                },
                12,
            );
        }
        let in_flight = t.in_flight().unwrap();
        assert_eq!(in_flight.created_at, 10);
        assert_eq!(
            in_flight.parts,
            vec![Part::Text {
                id: pid(1),
                text: "Hello".into()
            }]
        );
        // A delta for another message changes nothing.
        t.apply(
            &sid(),
            &EventKind::PartDelta {
                message_id: mid(9),
                part_id: pid(1),
                delta: "x".into(),
            },
            13,
        );
        assert_eq!(t.in_flight().unwrap().parts.len(), 1);
    }

    #[test]
    fn message_end_moves_the_message_to_recent_and_asks_to_store_it() {
        let mut t = Transcript::default();
        start(&mut t, 1);
        let mut message = t.in_flight().unwrap().clone();
        message.parts.push(tool(ToolStatus::Pending, None));
        let stored = t.apply(
            &sid(),
            &EventKind::MessageEnd {
                message: message.clone(),
            },
            20,
        );
        assert_eq!(stored.as_ref(), Some(&message));
        assert!(t.in_flight().is_none());
        assert_eq!(t.recent(), (vec![message], false));
    }

    #[test]
    fn a_tool_ending_after_its_message_updates_the_stored_message() {
        let mut t = Transcript::default();
        start(&mut t, 1);
        let mut message = t.in_flight().unwrap().clone();
        message.parts.push(tool(ToolStatus::Pending, None));
        let _ = t.apply(&sid(), &EventKind::MessageEnd { message }, 20);
        t.apply(
            &sid(),
            &EventKind::ToolStart {
                message_id: mid(1),
                part_id: pid(2),
                call_id: "call_1".into(),
                name: "bash".into(),
                input: json!({"command": "ls"}),
            },
            21,
        );
        assert_eq!(t.running_tools().len(), 1);
        let done = tool(ToolStatus::Done, Some("a\nb\n"));
        let stored = t
            .apply(
                &sid(),
                &EventKind::ToolEnd {
                    message_id: mid(1),
                    part: done.clone(),
                },
                22,
            )
            .unwrap();
        assert_eq!(stored.parts, vec![done]);
        assert!(t.running_tools().is_empty());
    }

    #[test]
    fn abandon_ends_the_in_flight_message_with_an_error_part() {
        let mut t = Transcript::default();
        assert!(t.abandon("gone", pid(9)).is_empty());
        start(&mut t, 1);
        t.apply(
            &sid(),
            &EventKind::PartStart {
                message_id: mid(1),
                part: tool(ToolStatus::Running, None),
            },
            11,
        );
        let events = t.abandon("pi exited with signal 9", pid(9));
        assert_eq!(events.len(), 3);
        let EventKind::MessageEnd { message } = &events[2] else {
            panic!("{events:?}")
        };
        assert_eq!(message.stop_reason, Some(StopReason::Error));
        assert!(matches!(
            message.parts[0],
            Part::ToolCall {
                status: ToolStatus::Aborted,
                ..
            }
        ));
        assert!(
            matches!(&message.parts[1], Part::Error { message, .. } if message == "pi exited with signal 9")
        );
        for event in &events {
            t.apply(&sid(), event, 30);
        }
        assert!(t.in_flight().is_none());
        assert_eq!(t.recent().0.len(), 1);
    }

    #[test]
    fn recent_is_bounded_and_reports_older_messages() {
        let mut t = Transcript::default();
        for n in 0..(u32::try_from(RECENT_MESSAGES).unwrap() + 5) {
            start(&mut t, n);
            let message = t.in_flight().unwrap().clone();
            let _ = t.apply(&sid(), &EventKind::MessageEnd { message }, 20);
        }
        let (recent, has_more) = t.recent();
        assert_eq!(recent.len(), RECENT_MESSAGES);
        assert_eq!(recent[0].id, mid(5));
        assert!(has_more);
    }
}

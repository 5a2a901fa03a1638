//! A native agent's events → canonical events: agent labels become runner ids.
//!
//! A native agent (see [`oqto_protocol::harness`]) names its messages and parts with its own
//! labels (`"m1"`, `"p1"`). A [`LabelMap`], one per agent process, replaces each label with
//! an id from an [`IdSource`] the first time it sees it and with the same id every time
//! after, overwrites a `message.end`'s `session` and `created_at`, and refuses the event
//! kinds only the runner may emit. It remembers each message's label so that `fork` can name
//! the message to the agent the way the agent knows it ([`LabelMap::label_of`]).
//!
//! Part labels are scoped to their message: `"p1"` in `"m1"` and `"p1"` in `"m2"` are two
//! parts. Agents that keep part labels unique per process, as the protocol asks, see no
//! difference.

use std::collections::HashMap;

use oqto_protocol::{EventKind, Message, MessageId, Millis, Part, PartId, SessionId};

use crate::harness::IdSource;

/// An agent sent an event kind that only the runner may emit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("agents may not send `{kind}` events: only the runner emits them")]
pub struct Refused {
    /// The refused event's wire name, e.g. `session.created`.
    pub kind: &'static str,
}

/// One agent process's label-to-id mapping.
#[derive(Debug)]
pub struct LabelMap<I: IdSource> {
    session: SessionId,
    ids: I,
    /// Agent message label → runner id.
    messages: HashMap<String, MessageId>,
    /// Runner message id → agent label, for `fork`.
    labels: HashMap<MessageId, String>,
    /// (agent message label, agent part label) → runner id.
    parts: HashMap<(String, String), PartId>,
}

impl<I: IdSource> LabelMap<I> {
    /// A mapping for one agent process of `session`, taking new ids from `ids`.
    pub fn new(session: SessionId, ids: I) -> Self {
        Self {
            session,
            ids,
            messages: HashMap::new(),
            labels: HashMap::new(),
            parts: HashMap::new(),
        }
    }

    /// The session whose events this mapping translates.
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// Rewrites one agent event's labels to runner ids. `now` becomes a `message.end`'s
    /// `created_at`. Refuses `session.created`, `session.updated`, `session.closed`,
    /// `session.deleted`, `resync` and the permission events (the sub-protocol has no
    /// permission requests).
    pub fn translate(&mut self, kind: EventKind, now: Millis) -> Result<EventKind, Refused> {
        Ok(match kind {
            EventKind::SessionCreated { .. }
            | EventKind::SessionUpdated { .. }
            | EventKind::SessionClosed { .. }
            | EventKind::SessionDeleted {}
            | EventKind::Resync { .. }
            | EventKind::PermissionRequest { .. }
            | EventKind::PermissionResolved { .. } => return Err(Refused { kind: kind.name() }),
            EventKind::MessageStart {
                message_id,
                role,
                model,
            } => EventKind::MessageStart {
                message_id: self.message_id(message_id).1,
                role,
                model,
            },
            EventKind::PartStart { message_id, part } => {
                let (label, message_id) = self.message_id(message_id);
                let part = self.part(&label, part);
                EventKind::PartStart { message_id, part }
            }
            EventKind::PartDelta {
                message_id,
                part_id,
                delta,
            } => {
                let (label, message_id) = self.message_id(message_id);
                EventKind::PartDelta {
                    part_id: self.part_id(&label, part_id),
                    message_id,
                    delta,
                }
            }
            EventKind::PartEnd { message_id, part } => {
                let (label, message_id) = self.message_id(message_id);
                let part = self.part(&label, part);
                EventKind::PartEnd { message_id, part }
            }
            EventKind::MessageEnd { message } => EventKind::MessageEnd {
                message: self.message(message, now),
            },
            EventKind::ToolStart {
                message_id,
                part_id,
                call_id,
                name,
                input,
            } => {
                let (label, message_id) = self.message_id(message_id);
                EventKind::ToolStart {
                    part_id: self.part_id(&label, part_id),
                    message_id,
                    call_id,
                    name,
                    input,
                }
            }
            EventKind::ToolOutput {
                message_id,
                part_id,
                delta,
            } => {
                let (label, message_id) = self.message_id(message_id);
                EventKind::ToolOutput {
                    part_id: self.part_id(&label, part_id),
                    message_id,
                    delta,
                }
            }
            EventKind::ToolEnd { message_id, part } => {
                let (label, message_id) = self.message_id(message_id);
                let part = self.part(&label, part);
                EventKind::ToolEnd { message_id, part }
            }
            other @ (EventKind::State { .. }
            | EventKind::QueueUpdate { .. }
            | EventKind::RetryStart { .. }
            | EventKind::RetryEnd { .. }
            | EventKind::CompactionStart { .. }
            | EventKind::CompactionEnd { .. }
            | EventKind::ModelChanged { .. }
            | EventKind::Error { .. }) => other,
        })
    }

    /// The agent's label of the runner's message `id`, if this agent process named it.
    pub fn label_of(&self, id: &MessageId) -> Option<&str> {
        self.labels.get(id).map(String::as_str)
    }

    /// The runner id of the agent's message `label`, if this agent process named it.
    pub fn id_of(&self, label: &str) -> Option<&MessageId> {
        self.messages.get(label)
    }

    /// The agent's label (kept, for scoping its parts) and the runner id it maps to.
    fn message_id(&mut self, label: MessageId) -> (String, MessageId) {
        let label = label.0;
        if let Some(id) = self.messages.get(&label) {
            return (label, id.clone());
        }
        let id = self.ids.message_id();
        self.messages.insert(label.clone(), id.clone());
        self.labels.insert(id.clone(), label.clone());
        (label, id)
    }

    fn part_id(&mut self, message_label: &str, label: PartId) -> PartId {
        let key = (message_label.to_owned(), label.0);
        if let Some(id) = self.parts.get(&key) {
            return id.clone();
        }
        let id = self.ids.part_id();
        self.parts.insert(key, id.clone());
        id
    }

    fn part(&mut self, message_label: &str, mut part: Part) -> Part {
        let id = part.id_mut();
        let label = std::mem::replace(id, PartId(String::new()));
        *id = self.part_id(message_label, label);
        part
    }

    fn message(&mut self, message: Message, now: Millis) -> Message {
        let (label, id) = self.message_id(message.id);
        Message {
            id,
            session: self.session.clone(),
            parts: message
                .parts
                .into_iter()
                .map(|part| self.part(&label, part))
                .collect(),
            created_at: now,
            ..message
        }
    }
}

#[cfg(test)]
mod tests;

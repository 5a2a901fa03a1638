//! Which user message a `client_msg_id` belongs to. The harness, not the runner, turns a
//! prompt, steer or follow-up into a user message, so the actor keeps the ids of the sends
//! the harness has been given and puts each on the user message that comes from it: the
//! first one waiting with the same text, else (a prompt whose text the harness expanded,
//! such as a pi template) the prompt waiting. A prompt's message comes in its own turn, so
//! a prompt id still waiting when the session goes idle is dropped; steers and follow-ups
//! wait until delivered, until the harness stops, or until [`MAX_WAITING`] newer ones.

use std::collections::VecDeque;

use oqto_protocol::{ClientMsgId, EventKind, Part, Role, State};

use super::Actor;
use crate::harness::adapter::Op;

/// Most ids waiting for their user message.
const MAX_WAITING: usize = 64;

/// A send the harness was given, waiting for its user message.
#[derive(Debug)]
pub(super) struct Tag {
    id: ClientMsgId,
    text: String,
    prompt: bool,
}

/// The ids waiting for their user messages, oldest first.
#[derive(Debug, Default)]
pub(super) struct Tags(VecDeque<Tag>);

impl Tags {
    /// `op` with `id` goes to the harness now.
    pub(super) fn sent(&mut self, op: &Op, id: ClientMsgId) {
        let (text, prompt) = match op {
            Op::Prompt { text, .. } => (text.clone(), true),
            Op::Steer { text } | Op::FollowUp { text } => (text.clone(), false),
            _ => return,
        };
        self.0.push_back(Tag { id, text, prompt });
        if self.0.len() > MAX_WAITING {
            self.0.pop_front();
        }
    }

    /// The send with `id` failed: no message will come from it.
    pub(super) fn failed(&mut self, id: &ClientMsgId) {
        self.0.retain(|tag| tag.id != *id);
    }

    /// The harness is gone: nothing given to it will become a message any more.
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    /// The id for a user message with `text`, taken off the list.
    fn take(&mut self, text: &str) -> Option<ClientMsgId> {
        let index = self
            .0
            .iter()
            .position(|tag| tag.text == text)
            .or_else(|| self.0.iter().position(|tag| tag.prompt))?;
        self.0.remove(index).map(|tag| tag.id)
    }
}

impl Actor {
    /// Puts the waiting `client_msg_id` on a user message that ends; forgets prompt ids
    /// when the session goes idle.
    pub(super) fn tag(&mut self, mut kind: EventKind) -> EventKind {
        match &mut kind {
            EventKind::MessageEnd { message }
                if message.role == Role::User && message.client_msg_id.is_none() =>
            {
                let text: String = message
                    .parts
                    .iter()
                    .filter_map(|part| match part {
                        Part::Text { text, .. } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                message.client_msg_id = self.tags.take(&text);
            }
            EventKind::State {
                state: State::Idle, ..
            } => self.tags.0.retain(|tag| !tag.prompt),
            _ => {}
        }
        kind
    }
}

#[cfg(test)]
mod tests {
    use oqto_protocol::ClientMsgId;

    use super::Tags;
    use crate::harness::adapter::Op;

    fn prompt(text: &str) -> Op {
        Op::Prompt {
            text: text.into(),
            images: Vec::new(),
        }
    }

    #[test]
    fn a_message_takes_the_id_with_its_text_else_the_waiting_prompt() {
        let mut tags = Tags::default();
        tags.sent(&prompt("/review"), ClientMsgId::new("p"));
        tags.sent(
            &Op::FollowUp {
                text: "then test".into(),
            },
            ClientMsgId::new("f"),
        );
        tags.sent(&Op::Abort, ClientMsgId::new("ignored"));
        assert_eq!(tags.take("then test"), Some(ClientMsgId::new("f")));
        // The prompt's text was expanded by the harness.
        assert_eq!(
            tags.take("Review the changes in this repository"),
            Some(ClientMsgId::new("p"))
        );
        assert_eq!(tags.take("anything"), None);
    }

    #[test]
    fn a_failed_send_is_forgotten() {
        let mut tags = Tags::default();
        tags.sent(&prompt("hi"), ClientMsgId::new("p"));
        tags.failed(&ClientMsgId::new("p"));
        assert_eq!(tags.take("hi"), None);
    }
}

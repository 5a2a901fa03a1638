//! The `client_msg_id`s a session has seen, with their answers: a repeated `prompt`,
//! `steer` or `follow_up` gets the first answer instead of running again.
//!
//! The first send of an id claims it ([`Claim::First`]) and publishes its answer through
//! the watch channel once it has one; a repeat that arrives meanwhile (another connection
//! racing) waits on the same channel ([`Claim::Repeat`]). So an id runs at most once per
//! runner, whatever the interleaving. Bounded: the newest [`REMEMBERED`] answered ids are
//! kept (ids still being carried out are never dropped). Older ones, and every id after a
//! runner restart, are recognised by the history store instead, through the user message
//! that carries the id (docs/protocol.md, "Sending once").

use std::collections::{HashMap, VecDeque};

use oqto_protocol::{ClientMsgId, Reply};
use tokio::sync::watch;

use crate::runner::Failure;

/// How many answered ids a session remembers in memory.
pub const REMEMBERED: usize = 256;

/// A send's answer, as the client got it.
pub type Answer = Result<Reply, Failure>;

/// What [`Sent::claim`] found.
#[derive(Debug)]
pub enum Claim {
    /// The id is new: the caller carries the send out and publishes the answer here.
    First(watch::Sender<Option<Answer>>),
    /// The id was sent before: its answer is (or will be) here.
    Repeat(watch::Receiver<Option<Answer>>),
}

/// A session's remembered ids, oldest first.
#[derive(Debug, Default)]
pub struct Sent {
    answers: HashMap<ClientMsgId, watch::Receiver<Option<Answer>>>,
    order: VecDeque<ClientMsgId>,
}

impl Sent {
    /// Claims `id` for a first send, or finds the send that claimed it.
    pub fn claim(&mut self, id: &ClientMsgId) -> Claim {
        if let Some(rx) = self.answers.get(id) {
            return Claim::Repeat(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        self.answers.insert(id.clone(), rx);
        self.order.push_back(id.clone());
        self.forget_oldest();
        Claim::First(tx)
    }

    /// Drops the oldest answered ids beyond [`REMEMBERED`].
    fn forget_oldest(&mut self) {
        let mut index = 0;
        while self.order.len() > REMEMBERED && index < self.order.len() {
            let answered = self
                .answers
                .get(&self.order[index])
                .is_none_or(|rx| rx.borrow().is_some());
            if answered {
                if let Some(id) = self.order.remove(index) {
                    self.answers.remove(&id);
                }
            } else {
                index += 1;
            }
        }
    }

    /// How many ids are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use oqto_protocol::{ClientMsgId, Reply};

    use super::{Claim, REMEMBERED, Sent};

    fn id(n: usize) -> ClientMsgId {
        ClientMsgId::new(format!("id-{n}"))
    }

    #[test]
    fn a_repeat_finds_the_first_send_and_its_answer() {
        let mut sent = Sent::default();
        let Claim::First(tx) = sent.claim(&id(1)) else {
            panic!("a new id is a first send");
        };
        let Claim::Repeat(rx) = sent.claim(&id(1)) else {
            panic!("the same id again is a repeat");
        };
        assert!(rx.borrow().is_none(), "not answered yet");
        tx.send_replace(Some(Ok(Reply::Empty)));
        assert_eq!(*rx.borrow(), Some(Ok(Reply::Empty)));
        assert!(matches!(sent.claim(&id(2)), Claim::First(_)));
    }

    #[test]
    fn only_the_newest_answered_ids_are_kept_and_none_in_flight_is_dropped() {
        let mut sent = Sent::default();
        // The first id stays in flight the whole time.
        let Claim::First(in_flight) = sent.claim(&id(0)) else {
            panic!("new id");
        };
        for n in 1..=REMEMBERED + 10 {
            let Claim::First(tx) = sent.claim(&id(n)) else {
                panic!("new id");
            };
            tx.send_replace(Some(Ok(Reply::Empty)));
        }
        assert_eq!(sent.len(), REMEMBERED);
        assert!(matches!(sent.claim(&id(0)), Claim::Repeat(_)));
        assert!(matches!(sent.claim(&id(1)), Claim::First(_)), "forgotten");
        assert!(matches!(sent.claim(&id(REMEMBERED + 10)), Claim::Repeat(_)));
        drop(in_flight);
    }
}

//! A session's event stream: numbering, the ring of recent events, and fan-out to
//! subscribers with exact replay on reconnect ("zero lost, zero duplicated").
//!
//! Three pieces, all synchronous and owned by the session actor's task (no locks, nothing
//! awaited; tokio only for the subscribers' `mpsc` queues, filled with `try_send`):
//!
//! - [`EventLog`] numbers each event with the session's next `seq` (1, 2, 3, … no gaps),
//!   serializes it **once** to its JSON line, and keeps the newest events in a ring bounded by
//!   a count and a byte budget ([`RingLimits`]). The [`Published`] item (seq, name, line) is
//!   shared by `Arc` between the ring and every subscriber queue.
//! - [`Fanout`] holds the subscribers. Each has a bounded queue of [`Delivery`] (read by its
//!   connection's writer task) and remembers the seq of the last thing it queued.
//! - [`EventHub`] owns one of each and does the per-event sequence (push, publish, pump) in
//!   one call, so the actor cannot get the order wrong.
//!
//! # Replay → live
//!
//! [`Fanout::subscribe`] with `after_seq: Some(n)` positions the subscriber at `n` and queues
//! `n + 1 ..= last_seq` from the ring, all inside one `&mut` call on the actor's task: no event
//! can be pushed in between. From then on an event reaches a subscriber only when its seq is
//! exactly one more than the last seq queued for it: an event already replayed is skipped, a
//! skipped one is filled in from the ring. So whatever the order of calls, nothing is queued
//! twice and nothing is skipped. A replay longer than the queue is queued as far as it fits;
//! the subscriber stays *behind* and [`Fanout::pump`] continues it as the queue drains, then
//! makes it live.
//!
//! # Lag → resync
//!
//! [`Fanout::publish`] never waits: a live subscriber whose queue is full becomes *behind*
//! and gets no new events; its queue keeps what it holds (those are valid events). Its id is
//! returned. [`Fanout::pump`] (called by [`EventHub::emit`] after every event, and by the
//! actor on a short timer while [`Fanout::has_pending`]) feeds a behind subscriber from the
//! ring once its queue has room: if the ring still holds its next seq this is a plain replay,
//! invisible to the client. Only when the ring has moved past it does it need a snapshot:
//! `pump` returns a [`NeedsResync`] (`slow_subscriber`) for it, once, when its queue has room.
//! The actor then builds the snapshot (stored messages from history plus the message in
//! flight) with [`EventLog::snapshot_line`], whose seq is the current `last_seq`, and calls
//! [`Fanout::resync`]: the `resync` line is queued, the subscriber is positioned at its seq,
//! and it continues from the ring and then live. `subscribe` answers
//! [`SubscribeOutcome::NeedsResync`] (`too_far_behind` or `seq_from_future`) the same way.
//!
//! A closed receiver (client gone) is removed by the next `publish`, `pump` or `resync`.
//!
//! # Memory bound
//!
//! Per session, at most:
//!
//! - the ring: `max_bytes` of lines and `max_events` entries (an `Arc` and a small header
//!   each);
//! - each subscriber's queue: its capacity `C` deliveries. A queued event shares its line with
//!   the ring, but may keep an evicted line alive, so a queue pins at most `C × L` more bytes,
//!   `L` being the longest line (16 MiB by the protocol, in practice far less).
//!
//! Worst case: `max_bytes + S × C × L` for `S` subscribers. A subscriber that stops reading
//! costs nothing more than its full queue: while behind it gets nothing, and the ring keeps
//! evicting regardless of it.

mod fanout;
mod log;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use oqto_protocol::{EventKind, Millis, Seq, SessionId};
use tokio::sync::mpsc::Sender;

pub use fanout::{
    Delivery, Fanout, NeedsResync, ResyncOutcome, SubscribeOutcome, SubscriberId, SubscriberStatus,
};
pub use log::{EventLog, Published, Replay, RingLimits, SnapshotLine};

/// One session's [`EventLog`] and [`Fanout`], driven together.
#[derive(Debug)]
pub struct EventHub {
    log: EventLog,
    fanout: Fanout,
}

/// What [`EventHub::emit`] did.
#[derive(Debug)]
#[must_use = "subscribers may need a snapshot"]
pub struct Emitted {
    /// The event as numbered and serialized.
    pub item: Arc<Published>,
    /// Subscribers that could not take this event (queue full); they catch up by `pump`.
    pub lagging: Vec<SubscriberId>,
    /// Subscribers that need a snapshot now ([`EventHub::resync`]).
    pub needs_resync: Vec<NeedsResync>,
}

impl EventHub {
    /// A new stream whose first event gets `next_seq` (see [`EventLog::new`]).
    pub fn new(session: SessionId, limits: RingLimits, next_seq: Seq) -> Self {
        Self {
            log: EventLog::new(session, limits, next_seq),
            fanout: Fanout::new(),
        }
    }

    /// Numbers, stores and fans out one event, then moves lagging subscribers forward.
    pub fn emit(&mut self, kind: EventKind, ts: Millis) -> Emitted {
        let item = self.log.push(kind, ts);
        let lagging = self.fanout.publish(&item);
        let needs_resync = if self.fanout.has_pending() {
            self.fanout.pump(&self.log)
        } else {
            Vec::new()
        };
        Emitted {
            item,
            lagging,
            needs_resync,
        }
    }

    /// See [`Fanout::subscribe`].
    pub fn subscribe(
        &mut self,
        id: SubscriberId,
        tx: Sender<Delivery>,
        after_seq: Option<Seq>,
    ) -> SubscribeOutcome {
        self.fanout.subscribe(id, tx, after_seq, &self.log)
    }

    /// See [`Fanout::pump`]; call on a timer while [`has_pending`](Self::has_pending).
    pub fn pump(&mut self) -> Vec<NeedsResync> {
        self.fanout.pump(&self.log)
    }

    /// See [`Fanout::resync`]; build `snapshot` with [`EventLog::snapshot_line`] on
    /// [`log`](Self::log).
    pub fn resync(&mut self, id: SubscriberId, snapshot: SnapshotLine) -> ResyncOutcome {
        self.fanout.resync(id, snapshot, &self.log)
    }

    /// See [`Fanout::unsubscribe`].
    pub fn unsubscribe(&mut self, id: SubscriberId) -> bool {
        self.fanout.unsubscribe(id)
    }

    /// See [`Fanout::has_pending`].
    pub fn has_pending(&self) -> bool {
        self.fanout.has_pending()
    }

    /// The log (seqs, ring, snapshot lines).
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The subscribers.
    pub fn fanout(&self) -> &Fanout {
        &self.fanout
    }
}

//! [`Fanout`]: a session's subscribers, each with its own bounded queue and its own position
//! in the stream.

use std::fmt;
use std::sync::Arc;

use oqto_protocol::{ResyncReason, Seq};
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use super::log::{EventLog, Published, SnapshotLine};

/// Identifies one subscription of one session (chosen by the caller, e.g. a counter per
/// runner). Subscribing again with an id in use replaces that subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriberId(pub u64);

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sub-{}", self.0)
    }
}

/// What a connection's writer task receives for one subscription, in order. It writes
/// [`line`](Self::line) as is.
///
/// A client that reads an `Event` appends it to its view; one that reads a `Resync` drops its
/// view of the session, rebuilds it from the snapshot, and gets `up_to_seq + 1` next.
/// Events queued before a `Resync` are harmless (the snapshot replaces them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The next event of the shared stream.
    Event(Arc<Published>),
    /// A snapshot for this subscriber only (`{"type":"resync",..}`).
    Resync(SnapshotLine),
}

impl Delivery {
    /// The JSON line to write, `\n` included.
    pub fn line(&self) -> &str {
        match self {
            Delivery::Event(item) => item.line(),
            Delivery::Resync(snapshot) => snapshot.line(),
        }
    }

    /// The seq of the event, or the last seq the snapshot reflects.
    pub fn seq(&self) -> Seq {
        match self {
            Delivery::Event(item) => item.seq(),
            Delivery::Resync(snapshot) => snapshot.up_to_seq(),
        }
    }
}

/// A subscriber the session actor must send a snapshot to: build it with
/// [`EventLog::snapshot_line`] and pass it to [`Fanout::resync`]. Reported once per need, and
/// only when the subscriber's queue has room for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeedsResync {
    pub id: SubscriberId,
    pub reason: ResyncReason,
}

/// The answer of [`Fanout::subscribe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a subscriber may need a snapshot"]
pub enum SubscribeOutcome {
    /// The whole replay (possibly nothing) is queued; the subscriber is live.
    Live,
    /// The replay did not fit in the queue; the rest follows from the ring as the queue
    /// drains (see [`Fanout::pump`]), then the subscriber is live.
    CatchingUp,
    /// The ring cannot replay exactly: send a snapshot with [`Fanout::resync`].
    NeedsResync(ResyncReason),
    /// The receiver was already closed; nothing was subscribed.
    Closed,
}

/// The answer of [`Fanout::resync`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a snapshot that did not fit must be built again later"]
pub enum ResyncOutcome {
    /// The snapshot is queued; events after its seq follow (from the ring, then live).
    Delivered,
    /// The queue had no room (possible only when the channel is shared with other senders,
    /// or the snapshot was not asked for). Nothing was queued; a subscriber waiting for a
    /// snapshot is reported again by [`Fanout::pump`] once its queue has room.
    QueueFull,
    /// The receiver is closed; the subscriber was removed.
    Closed,
    /// No subscriber has this id (it unsubscribed or was removed).
    Unknown,
}

/// Where a subscriber stands; see [`Fanout::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriberStatus {
    /// Gets every new event as it is published.
    Live,
    /// Its queue overflowed or its replay did not fit: it gets no new events until
    /// [`Fanout::pump`] has fed it from the ring up to the newest event.
    Behind,
    /// The ring no longer reaches back far enough: it waits for a snapshot.
    NeedsSnapshot(ResyncReason),
}

#[derive(Debug)]
enum Mode {
    Live,
    Behind,
    /// `reported`: the actor was told (and has not failed to deliver since).
    NeedsSnapshot {
        reason: ResyncReason,
        reported: bool,
    },
}

#[derive(Debug)]
struct Subscriber {
    id: SubscriberId,
    tx: Sender<Delivery>,
    mode: Mode,
    /// The seq of the newest event (or snapshot) put in its queue: everything up to here is
    /// queued exactly once, nothing after. 0 before the first.
    last: Seq,
}

enum Step {
    /// Nothing more to do for now.
    Idle,
    /// The receiver is gone: remove the subscriber.
    Closed,
}

impl Subscriber {
    /// Queues `delivery`; `Err(Full)` leaves everything unchanged.
    fn send(&mut self, delivery: Delivery) -> Result<(), TrySendError<Delivery>> {
        let seq = delivery.seq();
        self.tx.try_send(delivery)?;
        self.last = seq;
        Ok(())
    }

    /// Feeds a `Behind` subscriber from the ring until it is live, its queue is full, or the
    /// ring no longer reaches back. Reports a snapshot need once there is room for it.
    fn advance(&mut self, log: &EventLog, needs: &mut Vec<NeedsResync>) -> Step {
        if self.tx.is_closed() {
            return Step::Closed;
        }
        if matches!(self.mode, Mode::Live) && self.last < log.last_seq() {
            // An event was pushed but not published to it: fill the gap from the ring.
            self.mode = Mode::Behind;
        }
        if matches!(self.mode, Mode::Behind) {
            loop {
                if self.last >= log.last_seq() {
                    self.mode = Mode::Live;
                    break;
                }
                let Some(item) = log.get(self.last + 1) else {
                    self.mode = Mode::NeedsSnapshot {
                        reason: ResyncReason::SlowSubscriber,
                        reported: false,
                    };
                    break;
                };
                match self.send(Delivery::Event(Arc::clone(item))) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => return Step::Idle,
                    Err(TrySendError::Closed(_)) => return Step::Closed,
                }
            }
        }
        if let Mode::NeedsSnapshot { reason, reported } = &mut self.mode {
            if !*reported && self.tx.capacity() > 0 {
                *reported = true;
                needs.push(NeedsResync {
                    id: self.id,
                    reason: *reason,
                });
            }
        }
        Step::Idle
    }
}

/// One session's subscribers.
///
/// Every method runs on the session actor's task and never blocks or awaits: queues are
/// filled with `try_send`. Each subscriber remembers the seq of the last event put in its
/// queue, and an event reaches a queue only as exactly the successor of that seq, so no
/// order of calls can queue an event twice or skip one (a skipped seq is filled in from the
/// ring, or turns into a snapshot).
#[derive(Debug, Default)]
pub struct Fanout {
    subscribers: Vec<Subscriber>,
}

impl Fanout {
    /// No subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes `id` (replacing a subscription with the same id), queuing through `tx`.
    ///
    /// With `after_seq: None` the subscriber is live from the next published event. With
    /// `Some(n)` the events `n + 1 ..= log.last_seq()` are queued now from the ring, as many as
    /// fit; the rest follow as the queue drains. When the ring cannot replay exactly (see
    /// [`EventLog::replay_after`]) the answer is `NeedsResync`: the caller sends a snapshot
    /// with [`resync`](Self::resync).
    ///
    /// The `subscribed` reply holds `log.last_seq()` as read before this call; replayed
    /// events are queued at once, so a connection that must write its reply first writes it
    /// before it reads this queue.
    pub fn subscribe(
        &mut self,
        id: SubscriberId,
        tx: Sender<Delivery>,
        after_seq: Option<Seq>,
        log: &EventLog,
    ) -> SubscribeOutcome {
        self.unsubscribe(id);
        if tx.is_closed() {
            return SubscribeOutcome::Closed;
        }
        let (mode, last) = match after_seq {
            None => (Mode::Live, log.last_seq()),
            Some(after) => match log.check(after) {
                Ok(()) => (Mode::Behind, after),
                Err(reason) => {
                    self.subscribers.push(Subscriber {
                        id,
                        tx,
                        mode: Mode::NeedsSnapshot {
                            reason,
                            reported: true,
                        },
                        last: 0,
                    });
                    return SubscribeOutcome::NeedsResync(reason);
                }
            },
        };
        let mut sub = Subscriber { id, tx, mode, last };
        let mut needs = Vec::new();
        if let Step::Closed = sub.advance(log, &mut needs) {
            return SubscribeOutcome::Closed;
        }
        let outcome = match sub.mode {
            Mode::Live => SubscribeOutcome::Live,
            Mode::Behind => SubscribeOutcome::CatchingUp,
            // The ring covered `after` a moment ago and nothing was pushed since.
            Mode::NeedsSnapshot { reason, .. } => {
                sub.mode = Mode::NeedsSnapshot {
                    reason,
                    reported: true,
                };
                SubscribeOutcome::NeedsResync(reason)
            }
        };
        self.subscribers.push(sub);
        outcome
    }

    /// Queues `item` for every live subscriber whose last queued seq is `item.seq() - 1`.
    ///
    /// A subscriber whose queue is full is not waited for: it becomes `Behind`, gets no new
    /// events, and its id is returned so the actor knows to call [`pump`](Self::pump) (on
    /// its next events, and on a timer while [`has_pending`](Self::has_pending)). A closed
    /// receiver is removed.
    pub fn publish(&mut self, item: &Arc<Published>) -> Vec<SubscriberId> {
        let mut lagging = Vec::new();
        self.subscribers.retain_mut(|sub| {
            if !matches!(sub.mode, Mode::Live) {
                return !sub.tx.is_closed();
            }
            if item.seq() <= sub.last {
                // Already queued (it was replayed when this subscriber subscribed).
                return true;
            }
            if item.seq() != sub.last + 1 {
                // An event was skipped: the ring fills it in.
                sub.mode = Mode::Behind;
                lagging.push(sub.id);
                return true;
            }
            match sub.send(Delivery::Event(Arc::clone(item))) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    sub.mode = Mode::Behind;
                    lagging.push(sub.id);
                    true
                }
                Err(TrySendError::Closed(_)) => false,
            }
        });
        lagging
    }

    /// Moves every subscriber that is not live forward: `Behind` ones are fed from the ring
    /// as far as their queues allow (becoming live when caught up); those the ring no longer
    /// covers need a snapshot, returned once each when their queue has room for it. Closed
    /// receivers are removed. Cheap when everyone is live.
    pub fn pump(&mut self, log: &EventLog) -> Vec<NeedsResync> {
        let mut needs = Vec::new();
        self.subscribers
            .retain_mut(|sub| !matches!(sub.advance(log, &mut needs), Step::Closed));
        needs
    }

    /// Queues `snapshot` for `id` and positions it after the snapshot's seq; the events after
    /// that follow from the ring as with [`pump`](Self::pump) (or it needs another
    /// snapshot if the ring has moved past them). Works in any state, not only after
    /// a [`NeedsResync`].
    pub fn resync(
        &mut self,
        id: SubscriberId,
        snapshot: SnapshotLine,
        log: &EventLog,
    ) -> ResyncOutcome {
        debug_assert!(
            snapshot.up_to_seq() <= log.last_seq(),
            "snapshot of another log"
        );
        let Some(index) = self.subscribers.iter().position(|s| s.id == id) else {
            return ResyncOutcome::Unknown;
        };
        let sub = &mut self.subscribers[index];
        match sub.send(Delivery::Resync(snapshot)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if let Mode::NeedsSnapshot { reported, .. } = &mut sub.mode {
                    *reported = false;
                }
                return ResyncOutcome::QueueFull;
            }
            Err(TrySendError::Closed(_)) => {
                self.subscribers.remove(index);
                return ResyncOutcome::Closed;
            }
        }
        sub.mode = Mode::Behind;
        let mut needs = Vec::new();
        if let Step::Closed = sub.advance(log, &mut needs) {
            self.subscribers.remove(index);
            return ResyncOutcome::Closed;
        }
        // A stale snapshot the ring does not cover any more: `pump` reports it again.
        if let Mode::NeedsSnapshot { reported, .. } = &mut sub.mode {
            *reported = false;
        }
        ResyncOutcome::Delivered
    }

    /// Removes `id`; nothing more is queued for it. False when it was not subscribed.
    pub fn unsubscribe(&mut self, id: SubscriberId) -> bool {
        let before = self.subscribers.len();
        self.subscribers.retain(|s| s.id != id);
        self.subscribers.len() != before
    }

    /// Number of subscribers (including ones behind or waiting for a snapshot).
    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    /// True without subscribers.
    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    /// True while a subscriber is behind or waits for a snapshot the actor has not been
    /// told about: the actor then calls [`pump`](Self::pump) on a short timer (as well as
    /// after each published event), so one that drains its queue while the session is idle
    /// still catches up.
    pub fn has_pending(&self) -> bool {
        self.subscribers.iter().any(|s| match s.mode {
            Mode::Live => false,
            Mode::Behind => true,
            Mode::NeedsSnapshot { reported, .. } => !reported,
        })
    }

    /// The seq of the newest event or snapshot queued for `id` (0: nothing yet).
    pub fn last_delivered_seq(&self, id: SubscriberId) -> Option<Seq> {
        self.find(id).map(|s| s.last)
    }

    /// Where `id` stands, or `None` when it is not subscribed.
    pub fn status(&self, id: SubscriberId) -> Option<SubscriberStatus> {
        self.find(id).map(|s| match s.mode {
            Mode::Live => SubscriberStatus::Live,
            Mode::Behind => SubscriberStatus::Behind,
            Mode::NeedsSnapshot { reason, .. } => SubscriberStatus::NeedsSnapshot(reason),
        })
    }

    fn find(&self, id: SubscriberId) -> Option<&Subscriber> {
        self.subscribers.iter().find(|s| s.id == id)
    }
}

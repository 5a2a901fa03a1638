//! [`EventLog`]: a session's seq counter and its bounded ring of recent, serialized events.

use std::collections::VecDeque;
use std::sync::Arc;

use oqto_protocol::{Event, EventKind, Message, Millis, ResyncReason, Seq, SessionId, SessionInfo};

/// How much of a session's recent history the ring keeps. Both limits apply; the oldest
/// events are evicted first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLimits {
    /// At most this many events. `0` keeps none: every reconnect gets a `resync`.
    pub max_events: usize,
    /// At most this many bytes of serialized lines (newline included). An event whose line
    /// alone is longer is not kept, and it empties the ring (the ring is always gap-free).
    pub max_bytes: usize,
}

/// One event, numbered and serialized once, shared by the ring and every subscriber queue.
#[derive(Debug, PartialEq, Eq)]
pub struct Published {
    seq: Seq,
    name: &'static str,
    /// The JSON line, ended by `\n`.
    line: Box<str>,
}

impl Published {
    /// The event's seq in its session.
    pub fn seq(&self) -> Seq {
        self.seq
    }

    /// The event's wire name (`part.delta`, `state`, ...).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The JSON line including its terminating `\n`, ready for one `write_all`.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The JSON object alone, without the `\n`.
    pub fn json(&self) -> &str {
        &self.line[..self.line.len() - 1]
    }

    /// Bytes the ring accounts for this event: the line's length, newline included.
    pub fn size(&self) -> usize {
        self.line.len()
    }
}

/// The answer of [`EventLog::replay_after`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Exactly the events with a greater seq than asked for, oldest first; empty when the
    /// subscriber is caught up (or asked for live events only).
    Events(Vec<Arc<Published>>),
    /// The ring cannot answer exactly: the subscriber needs a `resync` snapshot.
    Resync(ResyncReason),
}

/// A `resync` line for one subscriber, built by [`EventLog::snapshot_line`] and handed to
/// [`Fanout::resync`](super::Fanout::resync).
///
/// Its seq (`up_to_seq`) is the log's `last_seq` when it was built: the snapshot must reflect
/// exactly the events up to there, so the session actor builds it (stored messages plus the
/// message in flight) and this line without pushing an event in between.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotLine {
    reason: ResyncReason,
    up_to_seq: Seq,
    line: Arc<str>,
}

impl SnapshotLine {
    /// Why the subscriber gets a snapshot.
    pub fn reason(&self) -> ResyncReason {
        self.reason
    }

    /// The last seq the snapshot reflects; the subscriber's next event has this + 1.
    pub fn up_to_seq(&self) -> Seq {
        self.up_to_seq
    }

    /// The `resync` JSON line including its terminating `\n`.
    pub fn line(&self) -> &str {
        &self.line
    }
}

/// One session's event numbering and its ring of recent events.
///
/// Invariant: the ring holds the events `oldest_seq() ..= last_seq()` without a gap (or
/// nothing), so a replay from it is exact.
#[derive(Debug)]
pub struct EventLog {
    session: SessionId,
    limits: RingLimits,
    /// The seq the next pushed event gets; always ≥ 1.
    next_seq: Seq,
    ring: VecDeque<Arc<Published>>,
    ring_bytes: usize,
}

impl EventLog {
    /// An empty log whose first event gets `next_seq` (1 for a new session; a restarted runner
    /// passes the stored `last_seq + 1`; 0 is taken as 1).
    pub fn new(session: SessionId, limits: RingLimits, next_seq: Seq) -> Self {
        Self {
            session,
            limits,
            next_seq: next_seq.max(1),
            ring: VecDeque::with_capacity(limits.max_events.min(1024)),
            ring_bytes: 0,
        }
    }

    /// The session this log numbers.
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The ring's limits.
    pub fn limits(&self) -> RingLimits {
        self.limits
    }

    /// Numbers `kind` with the next seq, serializes it once to its line and keeps it in the
    /// ring (evicting the oldest events past either limit).
    ///
    /// `kind` must not be [`EventKind::Resync`]: a resync is never part of the shared stream
    /// (build it with [`snapshot_line`](Self::snapshot_line)).
    pub fn push(&mut self, kind: EventKind, ts: Millis) -> Arc<Published> {
        debug_assert!(
            !matches!(kind, EventKind::Resync { .. }),
            "a resync is sent to one subscriber, never pushed to the shared stream"
        );
        let seq = self.next_seq;
        self.next_seq += 1;
        let name = kind.name();
        let line = self.serialize(kind, seq, ts);
        let item = Arc::new(Published { seq, name, line });
        self.keep(&item);
        item
    }

    /// The newest event's seq; 0 before the first event of a new session.
    pub fn last_seq(&self) -> Seq {
        self.next_seq - 1
    }

    /// The oldest seq still in the ring, or `None` when the ring is empty.
    pub fn oldest_seq(&self) -> Option<Seq> {
        self.ring.front().map(|p| p.seq)
    }

    /// Events in the ring.
    pub fn ring_len(&self) -> usize {
        self.ring.len()
    }

    /// Bytes of the lines in the ring (never more than `max_bytes`).
    pub fn ring_bytes(&self) -> usize {
        self.ring_bytes
    }

    /// The event with `seq`, if the ring still holds it.
    pub fn get(&self, seq: Seq) -> Option<&Arc<Published>> {
        let oldest = self.oldest_seq()?;
        let index = usize::try_from(seq.checked_sub(oldest)?).ok()?;
        self.ring.get(index)
    }

    /// What a subscriber that has seen the events up to `after_seq` is missing.
    ///
    /// - `None` means "live only": nothing is replayed (`Events` empty) and the subscriber
    ///   continues with the next pushed event.
    /// - `Some(n)` with `n == last_seq()`: caught up, `Events` empty.
    /// - `Some(n)` with `n + 1 >= oldest_seq()`: `Events` holds `n + 1 ..= last_seq()`.
    /// - `Some(n)` with `n > last_seq()`: `Resync(SeqFromFuture)` (e.g. the runner restarted
    ///   and lost events it had numbered).
    /// - otherwise `Resync(TooFarBehind)`: `n + 1` has been evicted.
    pub fn replay_after(&self, after_seq: Option<Seq>) -> Replay {
        let Some(after) = after_seq else {
            return Replay::Events(Vec::new());
        };
        if let Err(reason) = self.check(after) {
            return Replay::Resync(reason);
        }
        match self.oldest_seq() {
            // `check` passed: the ring holds `after + 1 ..= last_seq()`, or that is empty.
            Some(oldest) if after < self.last_seq() => {
                let skip = usize::try_from(after + 1 - oldest).unwrap_or(usize::MAX);
                Replay::Events(self.ring.iter().skip(skip).cloned().collect())
            }
            _ => Replay::Events(Vec::new()),
        }
    }

    /// Whether the ring can replay everything after `after` exactly.
    pub(super) fn check(&self, after: Seq) -> Result<(), ResyncReason> {
        let last = self.last_seq();
        if after > last {
            return Err(ResyncReason::SeqFromFuture);
        }
        if after == last {
            return Ok(());
        }
        match self.oldest_seq() {
            Some(oldest) if after + 1 >= oldest => Ok(()),
            _ => Err(ResyncReason::TooFarBehind),
        }
    }

    /// Builds the `resync` line for one subscriber from a snapshot of the session taken now:
    /// `info`, the newest stored `messages` (oldest first; `has_more` when older ones exist)
    /// and the message `in_flight`, as far as it has come. Its seq is [`last_seq`](Self::last_seq).
    pub fn snapshot_line(
        &self,
        reason: ResyncReason,
        info: SessionInfo,
        messages: Vec<Message>,
        has_more: bool,
        in_flight: Option<Message>,
        ts: Millis,
    ) -> SnapshotLine {
        let kind = EventKind::Resync {
            reason,
            info: Box::new(info),
            messages,
            has_more,
            in_flight: in_flight.map(Box::new),
        };
        let up_to_seq = self.last_seq();
        let event = Event {
            kind,
            session: self.session.clone(),
            seq: up_to_seq,
            ts,
        };
        SnapshotLine {
            reason,
            up_to_seq,
            line: Arc::from(to_line(&event)),
        }
    }

    fn serialize(&mut self, kind: EventKind, seq: Seq, ts: Millis) -> Box<str> {
        // Lend the session id to the event instead of cloning it for every event.
        let event = Event {
            kind,
            session: SessionId(std::mem::take(&mut self.session.0)),
            seq,
            ts,
        };
        let line = to_line(&event);
        self.session = event.session;
        line
    }

    fn keep(&mut self, item: &Arc<Published>) {
        if self.limits.max_events == 0 || item.size() > self.limits.max_bytes {
            // Keeping older events without this one would leave a gap.
            self.ring.clear();
            self.ring_bytes = 0;
            return;
        }
        while self.ring.len() >= self.limits.max_events
            || self.ring_bytes + item.size() > self.limits.max_bytes
        {
            let Some(old) = self.ring.pop_front() else {
                break;
            };
            self.ring_bytes -= old.size();
        }
        self.ring_bytes += item.size();
        self.ring.push_back(Arc::clone(item));
    }
}

/// Serializes `event` as one compact JSON line ended by `\n`.
fn to_line(event: &Event) -> Box<str> {
    // Every field of an event is a string-keyed struct, enum, string, number or JSON value:
    // serializing one cannot fail.
    let mut line = serde_json::to_string(event).expect("an event always serializes to JSON");
    line.push('\n');
    line.into_boxed_str()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use oqto_protocol::{MessageId, PartId, State};

    pub(crate) fn delta(text: &str) -> EventKind {
        EventKind::PartDelta {
            message_id: MessageId::new("msg_1"),
            part_id: PartId::new("prt_1"),
            delta: text.to_owned(),
        }
    }

    fn log(max_events: usize, max_bytes: usize) -> EventLog {
        EventLog::new(
            SessionId::new("ses_1"),
            RingLimits {
                max_events,
                max_bytes,
            },
            1,
        )
    }

    fn seqs(replay: &Replay) -> Vec<Seq> {
        match replay {
            Replay::Events(items) => items.iter().map(|p| p.seq()).collect(),
            Replay::Resync(reason) => panic!("expected events, got resync {reason:?}"),
        }
    }

    #[test]
    fn seq_starts_at_one_and_has_no_gaps() {
        let mut log = log(100, 1 << 20);
        assert_eq!(log.last_seq(), 0);
        assert_eq!(log.oldest_seq(), None);
        let got: Vec<Seq> = (0..10).map(|i| log.push(delta("x"), i).seq()).collect();
        assert_eq!(got, (1..=10).collect::<Vec<_>>());
        assert_eq!(log.last_seq(), 10);
        assert_eq!(log.oldest_seq(), Some(1));
    }

    #[test]
    fn seq_continues_from_next_seq() {
        let mut log = EventLog::new(
            SessionId::new("ses_1"),
            RingLimits {
                max_events: 8,
                max_bytes: 1 << 20,
            },
            82,
        );
        assert_eq!(log.last_seq(), 81);
        assert_eq!(log.push(delta("a"), 0).seq(), 82);
        assert_eq!(log.push(delta("b"), 0).seq(), 83);
        // A restarted runner has no ring for the events before: they need a snapshot.
        assert_eq!(
            log.replay_after(Some(80)),
            Replay::Resync(ResyncReason::TooFarBehind)
        );
        assert_eq!(seqs(&log.replay_after(Some(81))), vec![82, 83]);
        // 0 is not a seq: numbering still starts at 1.
        let mut zero = EventLog::new(
            SessionId::new("ses_2"),
            RingLimits {
                max_events: 8,
                max_bytes: 1024,
            },
            0,
        );
        assert_eq!(zero.push(delta("a"), 0).seq(), 1);
    }

    #[test]
    fn line_is_the_canonical_event_json() {
        let mut log = log(8, 1 << 20);
        let item = log.push(
            EventKind::State {
                state: State::Idle,
                phase: None,
                reason: None,
            },
            1_795_515_908_878,
        );
        assert_eq!(
            item.line(),
            "{\"type\":\"state\",\"state\":\"idle\",\"session\":\"ses_1\",\"seq\":1,\"ts\":1795515908878}\n"
        );
        assert_eq!(item.json(), item.line().trim_end_matches('\n'));
        assert_eq!(item.name(), "state");
        assert_eq!(log.session().as_str(), "ses_1", "the lent id comes back");
        let again = log.push(delta("x"), 2);
        assert!(again.json().contains("\"session\":\"ses_1\",\"seq\":2"));
    }

    #[test]
    fn ring_evicts_by_count() {
        let mut log = log(3, 1 << 20);
        for i in 0..10 {
            log.push(delta("x"), i);
        }
        assert_eq!(log.ring_len(), 3);
        assert_eq!(log.oldest_seq(), Some(8));
        assert_eq!(seqs(&log.replay_after(Some(7))), vec![8, 9, 10]);
        assert!(log.get(7).is_none());
        assert_eq!(log.get(9).map(|p| p.seq()), Some(9));
        assert!(log.get(11).is_none());
    }

    #[test]
    fn ring_evicts_by_bytes() {
        let mut probe = log(100, 1 << 20);
        let size = probe.push(delta("0123456789"), 0).size();
        // Room for exactly three lines of this size (all have one-digit seqs).
        let mut log = log(100, size * 3 + size / 2);
        for i in 0..9 {
            log.push(delta("0123456789"), i);
        }
        assert_eq!(log.ring_len(), 3);
        assert_eq!(log.oldest_seq(), Some(7));
        assert!(log.ring_bytes() <= log.limits().max_bytes);
        assert_eq!(log.ring_bytes(), size * 3);
        // A bigger event evicts as many as it needs.
        let big = "y".repeat(size * 2);
        log.push(delta(&big), 9);
        assert_eq!(log.oldest_seq(), Some(10));
        assert_eq!(log.ring_len(), 1);
        assert!(log.ring_bytes() <= log.limits().max_bytes);
    }

    #[test]
    fn an_event_larger_than_the_ring_empties_it() {
        let mut log = log(100, 200);
        log.push(delta("a"), 0);
        log.push(delta("b"), 0);
        let huge = log.push(delta(&"z".repeat(500)), 0);
        assert_eq!(huge.seq(), 3);
        assert_eq!(log.ring_len(), 0);
        assert_eq!(log.ring_bytes(), 0);
        assert_eq!(log.oldest_seq(), None);
        assert_eq!(seqs(&log.replay_after(Some(3))), Vec::<Seq>::new());
        assert_eq!(
            log.replay_after(Some(2)),
            Replay::Resync(ResyncReason::TooFarBehind)
        );
        log.push(delta("c"), 0);
        assert_eq!(seqs(&log.replay_after(Some(3))), vec![4]);
    }

    #[test]
    fn a_zero_sized_ring_replays_nothing() {
        let mut log = log(0, 1 << 20);
        log.push(delta("a"), 0);
        assert_eq!(log.ring_len(), 0);
        assert_eq!(seqs(&log.replay_after(Some(1))), Vec::<Seq>::new());
        assert_eq!(
            log.replay_after(Some(0)),
            Replay::Resync(ResyncReason::TooFarBehind)
        );
    }

    #[test]
    fn replay_after_every_case() {
        let mut log = log(5, 1 << 20);
        // Nothing yet: caught up at 0, anything else is from the future.
        assert_eq!(seqs(&log.replay_after(Some(0))), Vec::<Seq>::new());
        assert_eq!(
            log.replay_after(Some(1)),
            Replay::Resync(ResyncReason::SeqFromFuture)
        );
        for i in 0..10 {
            log.push(delta("x"), i);
        }
        // ring: 6..=10
        assert_eq!(
            seqs(&log.replay_after(None)),
            Vec::<Seq>::new(),
            "live only"
        );
        assert_eq!(
            seqs(&log.replay_after(Some(10))),
            Vec::<Seq>::new(),
            "caught up"
        );
        assert_eq!(
            seqs(&log.replay_after(Some(8))),
            vec![9, 10],
            "inside the ring"
        );
        assert_eq!(
            seqs(&log.replay_after(Some(5))),
            vec![6, 7, 8, 9, 10],
            "exactly at the oldest boundary"
        );
        assert_eq!(
            log.replay_after(Some(4)),
            Replay::Resync(ResyncReason::TooFarBehind),
            "one too far"
        );
        assert_eq!(
            log.replay_after(Some(0)),
            Replay::Resync(ResyncReason::TooFarBehind)
        );
        assert_eq!(
            log.replay_after(Some(11)),
            Replay::Resync(ResyncReason::SeqFromFuture)
        );
    }

    #[test]
    fn snapshot_line_carries_the_last_seq() {
        let mut log = log(5, 1 << 20);
        log.push(delta("x"), 0);
        log.push(delta("y"), 0);
        let snap = log.snapshot_line(
            ResyncReason::SlowSubscriber,
            info(),
            Vec::new(),
            false,
            None,
            7,
        );
        assert_eq!(snap.up_to_seq(), 2);
        assert_eq!(snap.reason(), ResyncReason::SlowSubscriber);
        assert!(
            snap.line()
                .starts_with("{\"type\":\"resync\",\"reason\":\"slow_subscriber\"")
        );
        assert!(
            snap.line()
                .ends_with("\"session\":\"ses_1\",\"seq\":2,\"ts\":7}\n")
        );
    }

    pub(crate) fn info() -> SessionInfo {
        SessionInfo {
            id: SessionId::new("ses_1"),
            harness: "pi".into(),
            cwd: "/tmp".into(),
            title: None,
            state: State::Working,
            phase: None,
            reason: None,
            model: None,
            sandbox_profile: None,
            parent: None,
            created_at: 0,
            last_activity: 0,
            last_seq: 0,
            subscribers: 1,
            permissions: Vec::new(),
        }
    }
}

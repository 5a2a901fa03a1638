//! Fan-out tests, and the reconnect property: whatever the cuts, the client's transcript is
//! the original one, with nothing lost and nothing twice.

use std::sync::Arc;

use oqto_protocol::{Event, EventKind, MessageId, PartId, ResyncReason, Seq, SessionId, State};
use proptest::prelude::*;
use tokio::sync::mpsc::{self, Receiver};

use super::log::tests::{delta, info};
use super::*;

fn limits(max_events: usize, max_bytes: usize) -> RingLimits {
    RingLimits {
        max_events,
        max_bytes,
    }
}

fn new_log(max_events: usize) -> EventLog {
    EventLog::new(SessionId::new("ses_1"), limits(max_events, 1 << 20), 1)
}

fn emit(log: &mut EventLog, fanout: &mut Fanout, n: usize) -> Vec<SubscriberId> {
    let mut lagging = Vec::new();
    for i in 0..n {
        let item = log.push(delta(&format!("d{i}")), 0);
        lagging.extend(fanout.publish(&item));
    }
    lagging
}

fn drain(rx: &mut Receiver<Delivery>) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Ok(d) = rx.try_recv() {
        out.push(d);
    }
    out
}

fn event_seqs(deliveries: &[Delivery]) -> Vec<Seq> {
    deliveries
        .iter()
        .map(|d| match d {
            Delivery::Event(item) => item.seq(),
            Delivery::Resync(s) => panic!("unexpected resync up to {}", s.up_to_seq()),
        })
        .collect()
}

fn snapshot(log: &EventLog, reason: ResyncReason) -> SnapshotLine {
    log.snapshot_line(reason, info(), Vec::new(), false, None, 0)
}

const A: SubscriberId = SubscriberId(1);
const B: SubscriberId = SubscriberId(2);
const C: SubscriberId = SubscriberId(3);

#[test]
fn every_subscriber_gets_every_event_in_order() {
    let mut log = new_log(100);
    let mut fanout = Fanout::new();
    let mut rxs = Vec::new();
    for id in [A, B, C] {
        let (tx, rx) = mpsc::channel(64);
        assert_eq!(fanout.subscribe(id, tx, None, &log), SubscribeOutcome::Live);
        rxs.push(rx);
    }
    assert_eq!(fanout.len(), 3);
    assert!(emit(&mut log, &mut fanout, 20).is_empty());
    for rx in &mut rxs {
        let got = drain(rx);
        assert_eq!(event_seqs(&got), (1..=20).collect::<Vec<_>>());
        // One serialization, shared: every queue holds the ring's own line.
        for d in &got {
            let Delivery::Event(item) = d else {
                unreachable!()
            };
            assert!(Arc::ptr_eq(item, log.get(item.seq()).unwrap()));
        }
    }
    assert_eq!(fanout.last_delivered_seq(B), Some(20));
    assert!(!fanout.has_pending());
}

#[test]
fn a_subscriber_that_never_reads_is_cut_off_and_memory_stays_bounded() {
    let mut log = new_log(16);
    let mut fanout = Fanout::new();
    let (slow_tx, slow_rx) = mpsc::channel(4);
    let (fast_tx, mut fast_rx) = mpsc::channel(4);
    let _ = fanout.subscribe(A, slow_tx, None, &log);
    let _ = fanout.subscribe(B, fast_tx, None, &log);

    let mut fast_seen = Vec::new();
    for round in 0..4 {
        let lagging = emit(&mut log, &mut fanout, 1);
        assert!(lagging.is_empty(), "round {round}");
        fast_seen.extend(event_seqs(&drain(&mut fast_rx)));
    }
    assert_eq!(slow_rx.len(), 4);
    assert_eq!(fanout.status(A), Some(SubscriberStatus::Live));
    // The fifth event does not fit: A is behind and gets nothing more.
    assert_eq!(emit(&mut log, &mut fanout, 1), vec![A]);
    assert_eq!(fanout.status(A), Some(SubscriberStatus::Behind));
    assert_eq!(fanout.last_delivered_seq(A), Some(4));
    fast_seen.extend(event_seqs(&drain(&mut fast_rx)));

    let early = Arc::clone(log.get(5).unwrap());
    for _ in 0..1000 {
        assert!(emit(&mut log, &mut fanout, 1).is_empty(), "reported once");
        assert!(fanout.pump(&log).is_empty(), "no room: no snapshot yet");
        fast_seen.extend(event_seqs(&drain(&mut fast_rx)));
    }
    assert_eq!(slow_rx.len(), 4, "the slow queue never grows");
    assert_eq!(log.ring_len(), 16, "the ring evicts regardless of A");
    assert_eq!(
        Arc::strong_count(&early),
        1,
        "nothing else keeps an evicted event"
    );
    assert_eq!(fast_seen, (1..=1005).collect::<Vec<_>>(), "B is unaffected");
    assert_eq!(fanout.last_delivered_seq(A), Some(4));
    drop(slow_rx);
}

#[test]
fn a_closed_receiver_is_dropped() {
    let mut log = new_log(100);
    let mut fanout = Fanout::new();
    let (tx_a, rx_a) = mpsc::channel(8);
    let (tx_b, mut rx_b) = mpsc::channel(8);
    let _ = fanout.subscribe(A, tx_a, None, &log);
    let _ = fanout.subscribe(B, tx_b, None, &log);
    drop(rx_a);
    emit(&mut log, &mut fanout, 1);
    assert_eq!(fanout.len(), 1);
    assert_eq!(fanout.status(A), None);
    assert_eq!(event_seqs(&drain(&mut rx_b)), vec![1]);

    // Also while behind, and found by pump.
    let (tx_c, rx_c) = mpsc::channel(1);
    let _ = fanout.subscribe(C, tx_c, Some(0), &log);
    assert_eq!(fanout.status(C), Some(SubscriberStatus::Live));
    emit(&mut log, &mut fanout, 1);
    assert_eq!(fanout.status(C), Some(SubscriberStatus::Behind));
    drop(rx_c);
    assert!(fanout.pump(&log).is_empty());
    assert_eq!(fanout.len(), 1);

    // A receiver closed before subscribing is refused.
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    assert_eq!(
        fanout.subscribe(C, tx, None, &log),
        SubscribeOutcome::Closed
    );
    assert_eq!(fanout.len(), 1);
}

#[test]
fn unsubscribe_stops_deliveries() {
    let mut log = new_log(100);
    let mut fanout = Fanout::new();
    let (tx, mut rx) = mpsc::channel(8);
    let _ = fanout.subscribe(A, tx, None, &log);
    emit(&mut log, &mut fanout, 2);
    assert!(fanout.unsubscribe(A));
    assert!(!fanout.unsubscribe(A));
    assert!(fanout.is_empty());
    emit(&mut log, &mut fanout, 2);
    assert_eq!(event_seqs(&drain(&mut rx)), vec![1, 2]);
}

#[test]
fn a_lagging_subscriber_catches_up_from_the_ring() {
    let mut log = new_log(100);
    let mut fanout = Fanout::new();
    let (tx, mut rx) = mpsc::channel(4);
    let _ = fanout.subscribe(A, tx, None, &log);
    assert_eq!(emit(&mut log, &mut fanout, 10), vec![A]);
    let mut seen = event_seqs(&drain(&mut rx));
    assert!(fanout.has_pending());
    assert!(fanout.pump(&log).is_empty());
    assert_eq!(fanout.status(A), Some(SubscriberStatus::Behind));
    seen.extend(event_seqs(&drain(&mut rx)));
    assert!(fanout.pump(&log).is_empty());
    assert_eq!(fanout.status(A), Some(SubscriberStatus::Live));
    assert!(!fanout.has_pending());
    emit(&mut log, &mut fanout, 1);
    seen.extend(event_seqs(&drain(&mut rx)));
    assert_eq!(seen, (1..=11).collect::<Vec<_>>());
}

#[test]
fn a_lagging_subscriber_the_ring_lost_gets_a_resync() {
    let mut log = new_log(5);
    let mut fanout = Fanout::new();
    let (tx, mut rx) = mpsc::channel(4);
    let _ = fanout.subscribe(A, tx, None, &log);
    emit(&mut log, &mut fanout, 20);
    // Its queue is full: no snapshot asked for yet.
    assert!(fanout.pump(&log).is_empty());
    let before = drain(&mut rx);
    assert_eq!(event_seqs(&before), vec![1, 2, 3, 4]);
    let needs = fanout.pump(&log);
    assert_eq!(
        needs,
        vec![NeedsResync {
            id: A,
            reason: ResyncReason::SlowSubscriber
        }]
    );
    assert_eq!(
        fanout.status(A),
        Some(SubscriberStatus::NeedsSnapshot(
            ResyncReason::SlowSubscriber
        ))
    );
    assert!(fanout.pump(&log).is_empty(), "reported once");
    assert!(!fanout.has_pending(), "the actor owes the snapshot now");
    // Events keep coming while the actor builds it: still nothing for A.
    emit(&mut log, &mut fanout, 2);
    assert!(rx.try_recv().is_err());
    let snap = snapshot(&log, ResyncReason::SlowSubscriber);
    assert_eq!(fanout.resync(A, snap, &log), ResyncOutcome::Delivered);
    let got = drain(&mut rx);
    let [Delivery::Resync(s)] = got.as_slice() else {
        panic!("expected one resync, got {got:?}")
    };
    assert_eq!(s.up_to_seq(), 22);
    assert_eq!(fanout.status(A), Some(SubscriberStatus::Live));
    emit(&mut log, &mut fanout, 1);
    assert_eq!(event_seqs(&drain(&mut rx)), vec![23]);
}

#[test]
fn a_stale_snapshot_is_followed_by_the_missing_events() {
    let mut log = new_log(5);
    let mut fanout = Fanout::new();
    let (tx, mut rx) = mpsc::channel(8);
    assert_eq!(
        fanout.subscribe(A, tx, Some(0), &log),
        SubscribeOutcome::Live
    );
    emit(&mut log, &mut fanout, 3);
    drain(&mut rx);
    // Built at 3, delivered at 5: events 4 and 5 follow it.
    let snap = snapshot(&log, ResyncReason::TooFarBehind);
    emit(&mut log, &mut fanout, 2);
    drain(&mut rx);
    assert_eq!(fanout.resync(A, snap, &log), ResyncOutcome::Delivered);
    let got = drain(&mut rx);
    assert_eq!(got.len(), 3);
    assert!(matches!(&got[0], Delivery::Resync(s) if s.up_to_seq() == 3));
    assert_eq!(event_seqs(&got[1..]), vec![4, 5]);
}

#[test]
fn subscribe_replays_exactly_what_was_missed() {
    let mut log = new_log(5);
    let mut fanout = Fanout::new();
    emit(&mut log, &mut fanout, 10); // ring: 6..=10

    let (tx, mut rx) = mpsc::channel(16);
    assert_eq!(
        fanout.subscribe(A, tx, Some(7), &log),
        SubscribeOutcome::Live
    );
    assert_eq!(event_seqs(&drain(&mut rx)), vec![8, 9, 10]);

    let (tx, mut rx) = mpsc::channel(16);
    assert_eq!(
        fanout.subscribe(B, tx, Some(10), &log),
        SubscribeOutcome::Live
    );
    assert!(rx.try_recv().is_err(), "caught up: nothing replayed");

    let (tx, _rx_too_far) = mpsc::channel(16);
    assert_eq!(
        fanout.subscribe(C, tx, Some(4), &log),
        SubscribeOutcome::NeedsResync(ResyncReason::TooFarBehind)
    );
    let (tx, _rx_future) = mpsc::channel(16);
    assert_eq!(
        fanout.subscribe(SubscriberId(4), tx, Some(11), &log),
        SubscribeOutcome::NeedsResync(ResyncReason::SeqFromFuture)
    );
    let (tx, mut rx_live) = mpsc::channel(16);
    assert_eq!(
        fanout.subscribe(SubscriberId(5), tx, None, &log),
        SubscribeOutcome::Live
    );
    emit(&mut log, &mut fanout, 1);
    assert_eq!(event_seqs(&drain(&mut rx_live)), vec![11], "live only");
    assert_eq!(event_seqs(&drain(&mut rx)), vec![11]);
}

#[test]
fn a_replay_longer_than_the_queue_continues_by_pump() {
    let mut log = new_log(100);
    let mut fanout = Fanout::new();
    emit(&mut log, &mut fanout, 10);
    let (tx, mut rx) = mpsc::channel(3);
    assert_eq!(
        fanout.subscribe(A, tx, Some(2), &log),
        SubscribeOutcome::CatchingUp
    );
    let mut seen = event_seqs(&drain(&mut rx));
    emit(&mut log, &mut fanout, 1); // 11 must not jump the queue
    seen.extend(event_seqs(&drain(&mut rx)));
    while fanout.has_pending() {
        assert!(fanout.pump(&log).is_empty());
        seen.extend(event_seqs(&drain(&mut rx)));
    }
    emit(&mut log, &mut fanout, 1);
    seen.extend(event_seqs(&drain(&mut rx)));
    assert_eq!(seen, (3..=12).collect::<Vec<_>>());
}

#[test]
fn any_call_order_neither_duplicates_nor_skips() {
    let mut log = new_log(100);
    let mut fanout = Fanout::new();
    emit(&mut log, &mut fanout, 3);
    // Pushed but not yet published when the subscriber arrives: replayed now...
    let four = log.push(delta("4"), 0);
    let (tx, mut rx) = mpsc::channel(16);
    assert_eq!(
        fanout.subscribe(A, tx, Some(2), &log),
        SubscribeOutcome::Live
    );
    // ...so publishing it afterwards does not queue it again.
    assert!(fanout.publish(&four).is_empty());
    // Pushed and never published: filled in from the ring before the next one.
    let _five = log.push(delta("5"), 0);
    let six = log.push(delta("6"), 0);
    assert_eq!(fanout.publish(&six), vec![A]);
    assert!(fanout.pump(&log).is_empty());
    assert_eq!(event_seqs(&drain(&mut rx)), vec![3, 4, 5, 6]);
    assert_eq!(fanout.status(A), Some(SubscriberStatus::Live));
}

#[test]
fn a_snapshot_that_does_not_fit_is_asked_for_again() {
    let mut log = new_log(2);
    let mut fanout = Fanout::new();
    emit(&mut log, &mut fanout, 10);
    // One channel shared with another sender, which fills it.
    let (tx, mut rx) = mpsc::channel(1);
    let other = tx.clone();
    assert_eq!(
        fanout.subscribe(A, tx, Some(1), &log),
        SubscribeOutcome::NeedsResync(ResyncReason::TooFarBehind)
    );
    other
        .try_send(Delivery::Resync(snapshot(&log, ResyncReason::TooFarBehind)))
        .unwrap();
    let snap = snapshot(&log, ResyncReason::TooFarBehind);
    assert_eq!(fanout.resync(A, snap, &log), ResyncOutcome::QueueFull);
    assert!(fanout.has_pending());
    assert!(fanout.pump(&log).is_empty(), "still no room");
    drain(&mut rx);
    let needs = fanout.pump(&log);
    assert_eq!(
        needs,
        vec![NeedsResync {
            id: A,
            reason: ResyncReason::TooFarBehind
        }]
    );
    let snap = snapshot(&log, needs[0].reason);
    assert_eq!(fanout.resync(A, snap, &log), ResyncOutcome::Delivered);
    assert_eq!(
        fanout.resync(B, snapshot(&log, ResyncReason::TooFarBehind), &log),
        ResyncOutcome::Unknown
    );
    drop(rx);
    assert_eq!(
        fanout.resync(A, snapshot(&log, ResyncReason::TooFarBehind), &log),
        ResyncOutcome::Closed
    );
    assert!(fanout.is_empty());
}

#[test]
fn the_hub_reports_lag_and_snapshot_needs() {
    let mut hub = EventHub::new(SessionId::new("ses_1"), limits(3, 1 << 20), 1);
    let (tx, mut rx) = mpsc::channel(2);
    assert_eq!(hub.subscribe(A, tx, Some(0)), SubscribeOutcome::Live);
    let _ = hub.emit(delta("a"), 0);
    let _ = hub.emit(delta("b"), 0);
    let third = hub.emit(delta("c"), 0);
    assert_eq!(third.item.seq(), 3);
    assert_eq!(third.lagging, vec![A]);
    assert!(hub.has_pending());
    for _ in 0..5 {
        let e = hub.emit(delta("d"), 0);
        assert!(e.needs_resync.is_empty());
    }
    drain(&mut rx);
    let e = hub.emit(delta("e"), 0);
    assert_eq!(
        e.needs_resync,
        vec![NeedsResync {
            id: A,
            reason: ResyncReason::SlowSubscriber
        }]
    );
    let snap = hub.log().snapshot_line(
        ResyncReason::SlowSubscriber,
        info(),
        Vec::new(),
        false,
        None,
        0,
    );
    assert_eq!(hub.resync(A, snap), ResyncOutcome::Delivered);
    assert_eq!(hub.fanout().len(), 1);
    assert!(hub.unsubscribe(A));
    assert!(hub.pump().is_empty());
}

// ---------------------------------------------------------------------------------------
// The reconnect property.

/// One step of the simulated actor and client.
#[derive(Clone, Debug)]
enum Op {
    /// The harness produces this many events.
    Emit(usize),
    /// The client reads up to this many deliveries.
    Read(usize),
    /// The connection drops (`unsubscribe`: the actor notices at once; otherwise the closed
    /// receiver is found later) and the client subscribes again, with a new queue of this
    /// capacity, after the last seq it has.
    Cut { unsubscribe: bool, capacity: usize },
    /// The actor's timer: `pump`.
    Tick,
    /// The actor sends the snapshots it owes.
    Snapshot,
}

#[derive(Debug, Default)]
struct Stats {
    cuts: usize,
    /// Times the live subscriber's queue overflowed.
    lagged: usize,
    replays: usize,
    resyncs_too_far: usize,
    resyncs_slow: usize,
}

struct Client {
    id: SubscriberId,
    rx: Receiver<Delivery>,
    /// The transcript as the client has reassembled it.
    view: Vec<String>,
}

impl Client {
    fn last(&self) -> Seq {
        self.view.len() as Seq
    }

    fn read(&mut self, max: usize, original: &[String], stats: &mut Stats) {
        for _ in 0..max {
            let Ok(delivery) = self.rx.try_recv() else {
                return;
            };
            match delivery {
                Delivery::Event(item) => {
                    assert_eq!(item.seq(), self.last() + 1, "lost or duplicated event");
                    self.view.push(item.json().to_owned());
                }
                Delivery::Resync(snap) => {
                    assert!(
                        snap.up_to_seq() >= self.last(),
                        "snapshot went back in time"
                    );
                    match snap.reason() {
                        ResyncReason::TooFarBehind => stats.resyncs_too_far += 1,
                        ResyncReason::SlowSubscriber => stats.resyncs_slow += 1,
                        ResyncReason::SeqFromFuture => panic!("client never asks from the future"),
                    }
                    // The real snapshot comes from history; here: the original up to its seq.
                    let up_to = usize::try_from(snap.up_to_seq()).unwrap();
                    self.view = original[..up_to].to_vec();
                }
            }
        }
    }
}

fn kind_of(choice: u8, text: &str) -> EventKind {
    match choice % 10 {
        0 => EventKind::State {
            state: State::Working,
            phase: None,
            reason: None,
        },
        1 => EventKind::ToolOutput {
            message_id: MessageId::new("msg_2"),
            part_id: PartId::new("prt_2"),
            delta: text.to_owned(),
        },
        _ => delta(text),
    }
}

/// The session actor (an [`EventHub`] and the snapshots it owes) and one reconnecting client.
struct Sim<'a> {
    transcript: &'a [EventKind],
    /// Each event's line, serialized independently of the log.
    original: Vec<String>,
    hub: EventHub,
    owed: Vec<NeedsResync>,
    next: usize,
    next_id: u64,
    stats: Stats,
}

impl Sim<'_> {
    fn emit(&mut self) {
        let index = self.next;
        let seq = index as Seq + 1;
        let e = self.hub.emit(self.transcript[index].clone(), seq);
        assert_eq!(e.item.seq(), seq);
        assert_eq!(e.item.json(), self.original[index]);
        self.stats.lagged += e.lagging.len();
        self.owed.extend(e.needs_resync);
        self.next += 1;
    }

    /// Subscribes a new connection after the last seq of `view`.
    fn connect(&mut self, view: Vec<String>, capacity: usize) -> Client {
        self.next_id += 1;
        let id = SubscriberId(self.next_id);
        let (tx, rx) = mpsc::channel(capacity);
        let after = view.len() as Seq;
        if let Replay::Events(missed) = self.hub.log().replay_after(Some(after)) {
            self.stats.replays += usize::from(!missed.is_empty());
        }
        match self.hub.subscribe(id, tx, Some(after)) {
            SubscribeOutcome::Live | SubscribeOutcome::CatchingUp => {}
            SubscribeOutcome::NeedsResync(reason) => self.owed.push(NeedsResync { id, reason }),
            SubscribeOutcome::Closed => unreachable!("the receiver is here"),
        }
        Client { id, rx, view }
    }

    fn send_snapshots(&mut self) {
        for need in self.owed.drain(..) {
            let snap =
                self.hub
                    .log()
                    .snapshot_line(need.reason, info(), Vec::new(), false, None, 0);
            // Unknown: that connection was cut meanwhile. QueueFull cannot happen (one
            // sender per queue) but would be reported again by pump.
            let _ = self.hub.resync(need.id, snap);
        }
    }

    fn step(&mut self, op: &Op, client: Client) -> Client {
        let mut client = client;
        match *op {
            Op::Emit(n) => {
                for _ in 0..n {
                    if self.next < self.transcript.len() {
                        self.emit();
                    }
                }
            }
            Op::Read(n) => client.read(n, &self.original, &mut self.stats),
            Op::Cut {
                unsubscribe,
                capacity,
            } => {
                self.stats.cuts += 1;
                if unsubscribe {
                    self.hub.unsubscribe(client.id);
                }
                let view = std::mem::take(&mut client.view);
                drop(client);
                client = self.connect(view, capacity);
            }
            Op::Tick => {
                self.owed.extend(self.hub.pump());
                assert_eq!(self.hub.fanout().len(), 1, "closed receivers are removed");
            }
            Op::Snapshot => self.send_snapshots(),
        }
        client
    }
}

/// Runs the actor and one reconnecting client over `transcript`, then lets the client catch
/// up; checks that it ends with exactly the original transcript.
fn simulate(
    transcript: &[EventKind],
    ops: &[Op],
    ring: RingLimits,
    first_capacity: usize,
) -> Stats {
    let session = SessionId::new("ses_prop");
    let original = transcript
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let seq = i as Seq + 1;
            serde_json::to_string(&Event {
                kind: kind.clone(),
                session: session.clone(),
                seq,
                ts: seq,
            })
            .unwrap()
        })
        .collect();
    let mut sim = Sim {
        transcript,
        original,
        hub: EventHub::new(session, ring, 1),
        owed: Vec::new(),
        next: 0,
        next_id: 0,
        stats: Stats::default(),
    };
    let mut client = sim.connect(Vec::new(), first_capacity);
    for op in ops {
        client = sim.step(op, client);
        // Memory stays bounded whatever happens.
        assert!(sim.hub.log().ring_len() <= ring.max_events);
        assert!(sim.hub.log().ring_bytes() <= ring.max_bytes);
    }

    // The rest of the transcript, then the client drains everything.
    while sim.next < transcript.len() {
        sim.emit();
    }
    let total = transcript.len() as Seq;
    let mut settled = false;
    for _ in 0..20_000 {
        sim.send_snapshots();
        sim.owed.extend(sim.hub.pump());
        client.read(usize::MAX, &sim.original, &mut sim.stats);
        if client.last() == total && !sim.hub.has_pending() && sim.owed.is_empty() {
            settled = true;
            break;
        }
    }
    assert_eq!(client.last(), total, "the client never caught up");
    assert_eq!(client.view, sim.original, "reassembled transcript differs");
    assert!(settled, "the subscriber never became live again");
    assert_eq!(
        sim.hub.fanout().status(client.id),
        Some(SubscriberStatus::Live)
    );
    sim.stats
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..12).prop_map(Op::Emit),
        4 => (0usize..12).prop_map(Op::Read),
        2 => (any::<bool>(), 1usize..8)
            .prop_map(|(unsubscribe, capacity)| Op::Cut { unsubscribe, capacity }),
        1 => Just(Op::Tick),
        2 => Just(Op::Snapshot),
    ]
}

fn transcript() -> impl Strategy<Value = Vec<EventKind>> {
    prop::collection::vec((any::<u8>(), "[a-z ]{0,24}"), 1..2000).prop_map(|items| {
        items
            .iter()
            .map(|(choice, text)| kind_of(*choice, text))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn reconnecting_at_random_points_loses_and_duplicates_nothing(
        transcript in transcript(),
        ops in prop::collection::vec(op(), 1..600),
        max_events in 0usize..48,
        max_bytes in 100usize..6000,
        capacity in 1usize..8,
    ) {
        simulate(&transcript, &ops, limits(max_events, max_bytes), capacity);
    }
}

/// A deterministic long run that must go through every recovery path, with hundreds of cuts.
#[test]
fn hundreds_of_cuts_take_every_path() {
    // xorshift64*: a fixed schedule, no dependency.
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let mut rand = move |n: u64| {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        usize::try_from(x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n).unwrap()
    };
    let transcript: Vec<EventKind> = (0..10_000)
        .map(|i| kind_of(u8::try_from(i % 256).unwrap(), &"w".repeat(rand(30))))
        .collect();
    let ops: Vec<Op> = (0..3000)
        .map(|_| match rand(13) {
            // Now and then a burst the client cannot keep up with.
            0 | 1 if rand(2) == 0 => Op::Emit(20 + rand(40)),
            0..=3 => Op::Emit(1 + rand(6)),
            4..=8 => Op::Read(rand(10)),
            9 | 10 => Op::Cut {
                unsubscribe: rand(2) == 0,
                capacity: 1 + rand(6),
            },
            11 => Op::Tick,
            _ => Op::Snapshot,
        })
        .collect();
    let stats = simulate(&transcript, &ops, limits(24, 4000), 4);
    assert!(stats.cuts >= 300, "{stats:?}");
    assert!(stats.replays >= 50, "{stats:?}");
    assert!(stats.lagged >= 50, "{stats:?}");
    assert!(stats.resyncs_too_far >= 20, "{stats:?}");
    assert!(stats.resyncs_slow >= 5, "{stats:?}");
}

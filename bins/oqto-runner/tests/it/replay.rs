//! Replay after a reconnect: cut the connection at random points, many times, and compare
//! the transcript put together from all the pieces with the one a steady subscriber saw.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::{Client, Runner};

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn hundreds_of_random_cuts_lose_and_duplicate_nothing() {
    let runner = Runner::start("");
    let mut watcher = runner.client();
    let work = runner.work();
    let session = watcher.create("fake", &work);
    // The steady subscriber: every event, in one connection.
    watcher.ok(json!({"type":"prompt","session":session,"text":"stream:3000@1"}));
    let mut reference: Vec<String> = Vec::new();
    let mut seen_working = false;
    loop {
        let event = watcher.next_event();
        if event["session"] != session.as_str() {
            continue;
        }
        let done = event["type"] == "state" && seen_working && event["state"] == "idle";
        seen_working |= event["type"] == "state" && event["state"] == "working";
        reference.push(event.to_string());
        if done {
            break;
        }
    }
    let last = reference.len() as u64;

    // The cutting client: subscribes after what it has, reads a few lines, hangs up.
    let mut rng = Lcg(0x5eed);
    let mut pieces: BTreeMap<u64, String> = BTreeMap::new();
    let mut have = 0u64;
    let mut cuts = 0;
    while have < last {
        let mut c = Client::connect(&runner.socket);
        let ok = c.ok(json!({"type":"session.subscribe","session":session,"after_seq":have}));
        assert_eq!(ok["last_seq"].as_u64(), Some(last));
        let take = 1 + rng.below(40);
        for _ in 0..take {
            if have == last {
                break;
            }
            let event: Value = c.next_event();
            assert_ne!(
                event["type"], "resync",
                "the ring holds the whole run: {event}"
            );
            let seq = event["seq"].as_u64().unwrap();
            assert_eq!(seq, have + 1, "gap or repeat after a cut");
            assert!(pieces.insert(seq, event.to_string()).is_none());
            have = seq;
        }
        cuts += 1;
        drop(c);
    }
    assert!(cuts >= 100, "only {cuts} cuts");
    let rebuilt: Vec<String> = pieces.into_values().collect();
    assert_eq!(rebuilt, reference);
}

#[test]
fn a_client_too_far_behind_gets_a_snapshot_and_continues() {
    // A tiny ring: replay cannot reach back, so the client gets a `resync`.
    let runner = Runner::start("[runner]\nring_events = 16\n");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    c.turn(&session, "stream:50");
    let mut late = runner.client();
    let ok = late.ok(json!({"type":"session.subscribe","session":session,"after_seq":3}));
    let last = ok["last_seq"].as_u64().unwrap();
    let resync = late.next_event();
    assert_eq!(resync["type"], "resync");
    assert_eq!(resync["reason"], "too_far_behind");
    assert_eq!(resync["seq"].as_u64(), Some(last));
    let messages = resync["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{resync}");
    assert_eq!(resync["info"]["state"], "idle");
    // And live events continue right after the snapshot's seq.
    late.ok(json!({"type":"prompt","session":session,"text":"next"}));
    let next = late.next_event();
    assert_eq!(next["seq"].as_u64(), Some(last + 1), "{next}");
}

#[test]
fn a_slow_subscriber_is_resynced_not_buffered() {
    let runner = Runner::start("[runner]\nsubscriber_queue = 16\nring_events = 64\n");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    // A subscriber that does not read while 5000 events stream.
    let mut slow = runner.client();
    slow.ok(json!({"type":"session.subscribe","session":session}));
    c.turn(&session, "stream:5000");
    let final_seq = c.ok(json!({"type":"session.get","session":session}))["session"]["last_seq"]
        .as_u64()
        .unwrap();
    // Reading now: events in order, at least one resync, ending exactly at the last seq.
    let mut expected_next = None::<u64>;
    let mut resyncs = 0;
    loop {
        let event = slow.next_event();
        let seq = event["seq"].as_u64().unwrap();
        if event["type"] == "resync" {
            assert_eq!(event["reason"], "slow_subscriber");
            resyncs += 1;
        } else if let Some(next) = expected_next {
            assert_eq!(seq, next, "after a snapshot or event, the next seq follows");
        }
        expected_next = Some(seq + 1);
        if seq == final_seq {
            break;
        }
    }
    assert!(resyncs >= 1);
}

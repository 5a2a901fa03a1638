//! The `agent` channel: runner lines verbatim both ways, the client's ids kept, and
//! loss-free resume through the relay after a reconnect.

use serde_json::{Value, json};

use crate::support::{Relay, create_session, seqs, subscribe_and_prompt};

#[tokio::test]
async fn a_turn_streams_through_the_relay_with_the_clients_ids() {
    let relay = Relay::start();
    let mut ws = relay.browser().await;
    let welcome = ws.hello().await;
    assert_eq!(welcome["protocol"], 1);
    assert_eq!(
        welcome["channels"],
        json!(["relay", "agent", "files", "terminal"])
    );
    assert!(welcome["runner"]["harnesses"].is_array(), "{welcome}");

    let cwd = relay.env.work().display().to_string();
    let session = create_session(&mut ws, &cwd).await;
    let mut events = Vec::new();
    let reply = ws
        .request(
            json!({"id":"my-sub","type":"session.subscribe","session":session}),
            &mut events,
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let reply = ws
        .request(
            json!({"id":"my-prompt","type":"prompt","session":session,"text":"stream:5"}),
            &mut events,
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    ws.until_idle(&session, false, &mut events).await;
    let deltas: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "part.delta")
        .collect();
    assert_eq!(deltas.len(), 5, "{events:#?}");
    let seqs = seqs(&events);
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gap-free: {seqs:?}"
    );
    // An unknown command is the runner's own error, with our id.
    let reply = ws
        .request(json!({"id":"odd","type":"no.such.command"}), &mut events)
        .await;
    assert_eq!(reply["code"], "unknown_command", "{reply}");
}

#[tokio::test]
async fn a_reconnect_resumes_with_exactly_the_missed_events() {
    let relay = Relay::start();
    let cwd = relay.env.work().display().to_string();
    let mut first = relay.browser().await;
    first.hello().await;
    let session = create_session(&mut first, &cwd).await;
    let mut seen = Vec::new();
    subscribe_and_prompt(&mut first, &session, "stream:30@10", &mut seen).await;
    // Read a few events, then the tab goes away mid-turn.
    while seqs(&seen).len() < 5 {
        let frame = first.frame().await;
        if frame["ch"] == "agent" && frame["msg"]["session"] == session.as_str() {
            seen.push(frame["msg"].clone());
        }
    }
    let last = *seqs(&seen).last().unwrap();
    assert!(
        seen.iter()
            .any(|e| e["type"] == "state" && e["state"] == "working"),
        "{seen:#?}"
    );
    first.close().await;

    // A new socket resumes after the last seq it saw...
    let mut second = relay.browser().await;
    second.hello().await;
    let mut resumed = Vec::new();
    let reply = second
        .request(
            json!({"id":"s2","type":"session.subscribe","session":session,"after_seq":last}),
            &mut resumed,
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    second.until_idle(&session, true, &mut resumed).await;

    // ...and gets exactly what a full replay has after that seq.
    let mut third = relay.browser().await;
    third.hello().await;
    let mut all = Vec::new();
    let reply = third
        .request(
            json!({"id":"s3","type":"session.subscribe","session":session,"after_seq":0}),
            &mut all,
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    third.until_idle(&session, false, &mut all).await;
    let expected: Vec<_> = all
        .iter()
        .filter(|e| e["seq"].as_u64().is_some_and(|s| s > last))
        .cloned()
        .collect();
    assert!(!resumed.is_empty());
    assert_eq!(resumed, expected, "missed events, none lost or repeated");
    let deltas = all.iter().filter(|e| e["type"] == "part.delta").count();
    assert_eq!(deltas, 30);
}

/// Subscribes after `after` and reads events of `session` until `count` more arrived or
/// the turn ended; returns them.
async fn read_some(relay: &Relay, session: &str, after: u64, count: usize) -> (Vec<Value>, bool) {
    let mut ws = relay.browser().await;
    ws.hello().await;
    let mut got = Vec::new();
    let reply = ws
        .request(
            json!({"id":"sub","type":"session.subscribe","session":session,"after_seq":after}),
            &mut got,
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    let ended = |e: &Value| e["type"] == "state" && e["state"] == "idle";
    while got.len() < count && !got.iter().any(ended) {
        let frame = ws.frame().await;
        if frame["ch"] == "agent" && frame["msg"]["session"] == session {
            got.push(frame["msg"].clone());
        }
    }
    let done = got.iter().any(ended);
    ws.close().await;
    (got, done)
}

/// Cut points from a seed printed on failure: 1..=6 events per connection.
fn cuts(seed: u64) -> impl FnMut() -> usize {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % 6).unwrap() + 1
    }
}

#[tokio::test]
async fn reconnecting_at_random_cut_points_reassembles_the_uninterrupted_stream() {
    let relay = Relay::start();
    let cwd = relay.env.work().display().to_string();
    let mut ws = relay.browser().await;
    ws.hello().await;
    let session = create_session(&mut ws, &cwd).await;
    let mut first = Vec::new();
    subscribe_and_prompt(&mut ws, &session, "stream:40@5", &mut first).await;
    // The cut stream starts after the turn's `working` state: any `idle` after it ends it.
    let working = |e: &Value| e["type"] == "state" && e["state"] == "working";
    while !first.iter().any(working) {
        let frame = ws.frame().await;
        if frame["ch"] == "agent" && frame["msg"]["session"] == session.as_str() {
            first.push(frame["msg"].clone());
        }
    }
    let start = first.iter().find(|e| working(e)).unwrap()["seq"]
        .as_u64()
        .unwrap();
    ws.close().await;

    let seed = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_007,
    )
    .unwrap();
    let mut next_cut = cuts(seed);
    let mut reassembled: Vec<Value> = Vec::new();
    let mut last = start;
    loop {
        let (got, done) = read_some(&relay, &session, last, next_cut()).await;
        if let Some(seq) = seqs(&got).last() {
            last = *seq;
        }
        reassembled.extend(got);
        if done {
            break;
        }
    }
    // The uninterrupted stream: one subscription replaying everything after `start`.
    let mut whole = relay.browser().await;
    whole.hello().await;
    let mut all = Vec::new();
    let reply = whole
        .request(
            json!({"id":"all","type":"session.subscribe","session":session,"after_seq":start}),
            &mut all,
        )
        .await;
    assert_eq!(reply["type"], "ok");
    whole.until_idle(&session, true, &mut all).await;
    assert_eq!(
        reassembled, all,
        "seed {seed}: reassembled differs from uninterrupted"
    );
    assert_eq!(all.iter().filter(|e| e["type"] == "part.delta").count(), 40);
}

#[tokio::test]
async fn a_relay_restarted_mid_turn_lets_clients_resume_with_nothing_lost() {
    let mut relay = Relay::start();
    let cwd = relay.env.work().display().to_string();
    let mut ws = relay.browser().await;
    ws.hello().await;
    let session = create_session(&mut ws, &cwd).await;
    let mut seen = Vec::new();
    subscribe_and_prompt(&mut ws, &session, "stream:30@10", &mut seen).await;
    while seqs(&seen).len() < 4 {
        let frame = ws.frame().await;
        if frame["ch"] == "agent" && frame["msg"]["session"] == session.as_str() {
            seen.push(frame["msg"].clone());
        }
    }
    assert_eq!(relay.terminate().code(), Some(0));
    // Frames already in flight first, then the close.
    let close = loop {
        if let Err(code) = ws.next().await {
            break code;
        }
    };
    assert_eq!(close, Some(1001));
    let last = *seqs(&seen).last().unwrap();

    // A new relay; the runner (and the turn) went on without it.
    relay.launch();
    let mut again = relay.browser().await;
    again.hello().await;
    let mut rest = Vec::new();
    let reply = again
        .request(
            json!({"id":"s2","type":"session.subscribe","session":session,"after_seq":last}),
            &mut rest,
        )
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    again.until_idle(&session, true, &mut rest).await;
    let mut whole = seen.clone();
    whole.extend(rest);
    let seqs = seqs(&whole);
    let expected: Vec<u64> = (seqs[0]..=*seqs.last().unwrap()).collect();
    assert_eq!(seqs, expected, "every event once, in order");
    assert_eq!(
        whole.iter().filter(|e| e["type"] == "part.delta").count(),
        30
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_told_to_resync() {
    // A small per-subscriber queue in the runner: the relay's own queue is bounded too, so
    // a client that stops reading makes the runner's queue overflow.
    let relay = Relay::start_with_runner("", "subscriber_queue = 16");
    let cwd = relay.env.work().display().to_string();
    let mut ws = relay.small_buffered_browser().await;
    ws.hello().await;
    let session = create_session(&mut ws, &cwd).await;
    let mut events = Vec::new();
    let reply = ws
        .request(
            json!({"id":"s","type":"session.subscribe","session":session}),
            &mut events,
        )
        .await;
    assert_eq!(reply["type"], "ok");
    // Another client watches the turn end; the first sends the prompt, then reads nothing.
    let mut watcher = relay.browser().await;
    watcher.hello().await;
    let mut seen_by_watcher = Vec::new();
    let reply = watcher
        .request(
            json!({"id":"w","type":"session.subscribe","session":session}),
            &mut seen_by_watcher,
        )
        .await;
    assert_eq!(reply["type"], "ok");
    ws.send(&json!({"ch":"agent","msg":{"id":"p","type":"prompt","session":session,"text":"stream:100000@0"}}))
        .await;
    watcher
        .until_idle(&session, false, &mut seen_by_watcher)
        .await;
    // Now the stalled client reads: somewhere in its stream the runner said `resync`.
    let mut resynced = false;
    loop {
        let frame = ws.frame().await;
        let msg = &frame["msg"];
        if frame["ch"] != "agent" || msg["session"] != session.as_str() {
            continue;
        }
        resynced |= msg["type"] == "resync";
        // The turn's end: its `idle` state, or a resync snapshot that shows it idle.
        let idle = (msg["type"] == "state" && msg["state"] == "idle")
            || (msg["type"] == "resync" && msg["info"]["state"] == "idle");
        if idle {
            break;
        }
    }
    assert!(resynced, "the stalled client was told to resync");
}

/// A tab that sends requests faster than the runner answers them, while reading: the
/// relay stops reading the tab until the runner takes more, but keeps writing the answers
/// to it, so every request is answered (waiting to hand over a request must not stop the
/// answers that would make room).
#[tokio::test]
async fn a_burst_of_requests_is_answered_in_full() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    const N: usize = 1500;
    let relay = Relay::start();
    let mut ws = relay.browser().await;
    ws.hello().await;
    let cwd = relay.env.work().display().to_string();
    // Sessions with long titles make each `session.list` answer tens of kilobytes.
    let title = "t".repeat(1000);
    for i in 0..40 {
        let mut events = Vec::new();
        let reply = ws
            .request(
                json!({"id":format!("c{i}"),"type":"session.create","harness":"fake","cwd":cwd,"title":title}),
                &mut events,
            )
            .await;
        assert_eq!(reply["type"], "ok", "{reply}");
    }
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        for i in 0..N {
            let frame = json!({"ch":"agent","msg":{"id":format!("l{i}"),"type":"session.list"}});
            sink.send(Message::Text(frame.to_string().into()))
                .await
                .expect("send");
        }
        sink
    });
    let mut answered = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while answered < N {
        let frame = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {answered} of {N} answers"))
            .expect("the socket stays open")
            .expect("a frame");
        let Message::Text(text) = frame else { continue };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        if v["ch"] == "agent"
            && v["msg"]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with('l'))
        {
            assert_eq!(v["msg"]["type"], "ok", "{v}");
            answered += 1;
        }
    }
    drop(writer.await.unwrap());
}

/// The relay's peak resident memory, in KiB.
fn relay_peak_kib(relay: &Relay) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", relay.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// A tab subscribed to 100 streaming sessions stops reading: the relay's memory stays
/// bounded (its queue for the tab is; what does not fit waits in the runner, whose
/// per-subscriber queues overflow into `resync`), another tab sees every turn end, and the
/// stalled tab, reading again, learns how every turn ended.
#[tokio::test]
async fn a_stalled_tab_with_100_streaming_sessions_keeps_the_relay_small() {
    const SESSIONS: usize = 100;
    let relay = Relay::start_with_runner("", "subscriber_queue = 16\nmax_sessions = 128");
    let cwd = relay.env.work().display().to_string();
    let mut watcher = relay.browser().await;
    watcher.hello().await;
    let mut sessions = Vec::new();
    let mut ignored = Vec::new();
    for i in 0..SESSIONS {
        let reply = watcher
            .request(
                json!({"id":format!("c{i}"),"type":"session.create","harness":"fake","cwd":cwd}),
                &mut ignored,
            )
            .await;
        assert_eq!(reply["type"], "ok", "{reply}");
        sessions.push(
            reply["result"]["session"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut stalled = relay.small_buffered_browser().await;
    stalled.hello().await;
    for (i, session) in sessions.iter().enumerate() {
        for ws in [&mut stalled, &mut watcher] {
            let reply = ws
                .request(
                    json!({"id":format!("s{i}"),"type":"session.subscribe","session":session}),
                    &mut ignored,
                )
                .await;
            assert_eq!(reply["type"], "ok", "{reply}");
        }
    }
    let before = relay_peak_kib(&relay);
    for (i, session) in sessions.iter().enumerate() {
        watcher
            .send(&json!({"ch":"agent","msg":{"id":format!("p{i}"),"type":"prompt","session":session,"text":"stream:1000"}}))
            .await;
    }
    // The watcher reads every session's turn to its end; the stalled tab reads nothing.
    let mut working = std::collections::HashSet::new();
    let mut done = std::collections::HashSet::new();
    while done.len() < SESSIONS {
        let frame = watcher.frame().await;
        let msg = &frame["msg"];
        let Some(session) = msg["session"].as_str() else {
            continue;
        };
        match (msg["type"].as_str(), msg["state"].as_str()) {
            (Some("state"), Some("working")) => {
                working.insert(session.to_owned());
            }
            (Some("state"), Some("idle")) if working.contains(session) => {
                done.insert(session.to_owned());
            }
            _ => {}
        }
    }
    let peak = relay_peak_kib(&relay);
    eprintln!("relay peak RSS: {before} KiB before the turns, {peak} KiB after");
    assert!(
        peak < before + 32 * 1024,
        "the relay grew from {before} to {peak} KiB"
    );
    // The stalled tab reads again: it learns how every turn ended, from the events the
    // runner still had for it or from a `resync` snapshot; nothing is left hanging.
    let mut ended = std::collections::HashSet::new();
    let mut resyncs = 0;
    while ended.len() < SESSIONS {
        let frame = stalled.frame().await;
        let msg = &frame["msg"];
        let Some(session) = msg["session"].as_str() else {
            continue;
        };
        resyncs += usize::from(msg["type"] == "resync");
        let idle = (msg["type"] == "state" && msg["state"] == "idle")
            || (msg["type"] == "resync" && msg["info"]["state"] == "idle");
        if idle {
            ended.insert(session.to_owned());
        }
    }
    eprintln!("the stalled tab saw every turn end ({resyncs} resyncs)");
}

//! The `agent` channel: runner lines verbatim both ways, the client's ids kept, and
//! loss-free resume through the relay after a reconnect.

use serde_json::json;

use crate::support::{Relay, create_session, seqs};

#[tokio::test]
async fn a_turn_streams_through_the_relay_with_the_clients_ids() {
    let relay = Relay::start();
    let mut ws = relay.browser().await;
    let welcome = ws.hello().await;
    assert_eq!(welcome["protocol"], 1);
    assert_eq!(welcome["channels"], json!(["relay", "agent", "files"]));
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
    let reply = first
        .request(
            json!({"id":"s1","type":"session.subscribe","session":session}),
            &mut seen,
        )
        .await;
    assert_eq!(reply["type"], "ok");
    let reply = first
        .request(
            json!({"id":"p1","type":"prompt","session":session,"text":"stream:30@10"}),
            &mut seen,
        )
        .await;
    assert_eq!(reply["type"], "ok");
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

//! Bad frames get typed errors on the `relay` channel and the connection lives.

use serde_json::json;

use crate::support::{Relay, Ws};

async fn expect_error(ws: &mut Ws, code: &str) {
    let frame = ws.frame().await;
    assert_eq!(frame["ch"], "relay", "{frame}");
    assert_eq!(frame["msg"]["type"], "error", "{frame}");
    assert_eq!(frame["msg"]["code"], code, "{frame}");
}

#[tokio::test]
async fn bad_frames_get_typed_errors_and_the_connection_lives() {
    let relay = Relay::start_with("[relay]\nmax_frame = \"2KiB\"\n");
    let mut ws = relay.browser().await;

    // Agent messages before the hello.
    ws.send(&json!({"ch":"agent","msg":{"id":"1","type":"session.list"}}))
        .await;
    expect_error(&mut ws, "bad_request").await;
    ws.send_text("this is not json").await;
    expect_error(&mut ws, "bad_request").await;
    ws.send_text("[1,2,3]").await;
    expect_error(&mut ws, "bad_request").await;
    ws.send_binary(vec![0, 1, 2, 3]).await;
    expect_error(&mut ws, "bad_request").await;
    ws.send(&json!({"ch":"video","msg":{}})).await;
    expect_error(&mut ws, "unknown_channel").await;
    ws.send(&json!({"ch":"terminal","msg":{"type":"terminal.list"}}))
        .await;
    expect_error(&mut ws, "bad_request").await;
    let big = json!({"ch":"agent","msg":{"id":"2","type":"session.list","pad":"x".repeat(4096)}});
    ws.send(&big).await;
    expect_error(&mut ws, "too_large").await;

    // Still alive: the hello and a request work.
    let welcome = ws.hello().await;
    assert_eq!(welcome["max_frame"], 2048);
    let mut events = Vec::new();
    let reply = ws
        .request(json!({"id":"after","type":"session.list"}), &mut events)
        .await;
    assert_eq!(reply["type"], "ok", "{reply}");
    // Terminals have their own channel, not `agent`.
    ws.send(&json!({"ch":"agent","msg":{"id":"t1","type":"terminal.open","cwd":"/"}}))
        .await;
    expect_error(&mut ws, "bad_request").await;
    // On the terminal channel: only terminal requests, input as binary frames, and binary
    // frames that are terminal input frames; errors in the runner's shape.
    for (msg, code) in [
        (json!({"id":"t2","type":"session.list"}), "bad_request"),
        (
            json!({"id":"t3","type":"terminal.input","terminal":"x","len":1}),
            "bad_request",
        ),
        (
            json!({"id":"input:x","type":"terminal.list"}),
            "bad_request",
        ),
        (
            json!({"id":"t4","type":"terminal.attach","terminal":"term_none_1"}),
            "terminal_not_found",
        ),
    ] {
        ws.send(&json!({"ch":"terminal","msg":msg})).await;
        let frame = ws.frame().await;
        assert_eq!(frame["ch"], "terminal", "{frame}");
        assert_eq!(frame["msg"]["type"], "error", "{frame}");
        assert_eq!(frame["msg"]["id"], msg["id"], "{frame}");
        assert_eq!(frame["msg"]["code"], code, "{frame}");
    }
    for bad in [vec![0, 1, 2, 3], vec![1, 1, b'x', 0, 0, 0, 0, 0, 0, 0, 0]] {
        ws.send_binary(bad).await;
        expect_error(&mut ws, "bad_request").await;
    }
    // A message written over several lines reaches the runner as one line.
    ws.send_text("{\"ch\":\"agent\",\"msg\":{\n\"id\":\"pretty\",\n\"type\":\"session.list\"}}")
        .await;
    let frame = ws.frame().await;
    assert_eq!(frame["msg"]["id"], "pretty", "{frame}");
    assert_eq!(frame["msg"]["type"], "ok", "{frame}");
    // A second hello and an unreadable relay message are errors too.
    ws.send(&json!({"ch":"relay","msg":{"type":"hello","protocol":1,"client":"again"}}))
        .await;
    expect_error(&mut ws, "bad_request").await;
    ws.send(&json!({"ch":"relay","msg":{"type":"dance"}})).await;
    expect_error(&mut ws, "bad_request").await;
    ws.send(&json!({"ch":"relay","msg":{"type":"ping"}})).await;
    let pong = ws.frame().await;
    assert_eq!(pong["msg"]["type"], "pong", "{pong}");
}

#[tokio::test]
async fn a_protocol_mismatch_closes_the_socket_with_an_error() {
    let relay = Relay::start();
    let mut ws = relay.browser().await;
    ws.send(&json!({"ch":"relay","msg":{"type":"hello","protocol":99,"client":"future"}}))
        .await;
    let frame = ws.frame().await;
    assert_eq!(frame["msg"]["code"], "protocol_mismatch", "{frame}");
    assert_eq!(ws.next().await.err(), Some(Some(1002)));
}

#[tokio::test]
async fn a_silent_client_is_pinged_then_dropped() {
    let relay = Relay::start_with("[relay]\nping_interval = \"100ms\"\n");
    let cookie = relay.login().await;
    let origin = relay.url.clone();
    let mut ws = relay
        .ws(&[("cookie", &cookie), ("origin", &origin)])
        .await
        .unwrap();
    // Read raw frames without answering pings: a ping comes, then the close.
    let mut pinged = false;
    let closed = loop {
        match ws.next_raw().await {
            Some(text) if text.contains("\"type\":\"ping\"") => pinged = true,
            Some(_) => {}
            None => break true,
        }
    };
    assert!(pinged && closed);
}

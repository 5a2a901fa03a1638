//! Handshake, requests, bad input: typed errors, and the connection lives on.

use serde_json::{Value, json};

use crate::support::{Client, Runner, assistant_texts};

#[test]
fn welcome_lists_the_harnesses() {
    let runner = Runner::start("");
    let client = runner.client();
    let harnesses = client.welcome["harnesses"].as_array().unwrap();
    let names: Vec<&str> = harnesses
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"pi") && names.contains(&"fake"),
        "{names:?}"
    );
    assert_eq!(client.welcome["protocol"], 1);
    // oqto-sandbox is found next to the runner: harnesses run confined.
    assert_eq!(
        client.welcome["capabilities"],
        serde_json::json!(["replay", "history", "search", "sandbox"])
    );
}

#[test]
fn a_wrong_protocol_or_a_request_first_closes_the_connection() {
    let runner = Runner::start("");
    let mut c = Client::raw(&runner.socket);
    c.send_line(r#"{"type":"hello","protocol":99,"client":"x"}"#);
    let e = c.read_value().unwrap();
    assert_eq!(e["code"], "protocol_mismatch", "{e}");
    assert!(c.read_line().is_none(), "closed after protocol_mismatch");

    let mut c = Client::raw(&runner.socket);
    c.send_line(r#"{"type":"session.list","id":"1"}"#);
    let e = c.read_value().unwrap();
    assert_eq!(
        (e["code"].as_str(), e["id"].as_str()),
        (Some("bad_request"), Some("1")),
        "{e}"
    );
    assert!(c.read_line().is_none());
}

#[test]
fn a_turn_streams_events_in_seq_order_and_is_stored() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    let events = c.turn(&session, "stream:7");
    // Every event of the session, from seq 1, without a gap.
    let mut all: Vec<Value> = c.events.drain(..).collect();
    all.splice(0..0, events.iter().cloned());
    let first = events.first().unwrap();
    assert_eq!(first["type"], "session.created", "{first}");
    assert_eq!(first["seq"], 1);
    for pair in events.windows(2) {
        assert_eq!(
            pair[1]["seq"].as_u64(),
            pair[0]["seq"].as_u64().map(|s| s + 1),
            "{pair:?}"
        );
        assert_eq!(pair[1]["session"], session.as_str());
    }
    let deltas = events.iter().filter(|e| e["type"] == "part.delta").count();
    assert_eq!(deltas, 7);
    assert_eq!(assistant_texts(&events), ["w1 w2 w3 w4 w5 w6 w7 "]);
    // Runner ids, not the agent's labels, and the same ids in the store.
    let ends: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "message.end")
        .collect();
    let streamed: Vec<&str> = ends
        .iter()
        .map(|e| e["message"]["id"].as_str().unwrap())
        .collect();
    assert!(
        streamed.iter().all(|id| id.starts_with("msg_")),
        "{streamed:?}"
    );
    let page = c.ok(json!({"type":"get_messages","session":session}));
    let stored: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(stored, streamed);
    for (stored, streamed) in page["messages"].as_array().unwrap().iter().zip(&ends) {
        assert_eq!(stored, &streamed["message"]);
    }
    // The title comes from the first prompt.
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["session"]["title"], "stream:7");
    assert_eq!(info["session"]["state"], "idle");
    assert_eq!(info["session"]["subscribers"], 1);
}

#[test]
fn list_get_rename_close_delete() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let sub = runner.env.work().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let a = c.create("fake", &work);
    let b = c.create("fake", sub.to_str().unwrap());
    let list = c.ok(json!({"type":"session.list"}));
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2);
    let list = c.ok(json!({"type":"session.list","cwd": sub}));
    let ids: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [b.as_str()]);
    let renamed = c.ok(json!({"type":"session.rename","session":a,"title":"my work"}));
    assert_eq!(renamed["session"]["title"], "my work");
    c.events_until(|e| e["type"] == "session.updated" && e["info"]["title"] == "my work");

    c.ok(json!({"type":"session.close","session":a}));
    c.events_until(|e| e["type"] == "session.closed" && e["session"] == a.as_str());
    let info = c.ok(json!({"type":"session.get","session":a}));
    assert_eq!(info["session"]["state"], "stopped");
    assert!(
        info["session"]["reason"]
            .as_str()
            .unwrap()
            .contains("closed by it/1")
    );
    // A closed session can be prompted again: its harness comes back.
    let events = c.turn(&a, "hello again");
    assert_eq!(assistant_texts(&events), ["echo: hello again"]);

    c.ok(json!({"type":"session.delete","session":b}));
    c.events_until(|e| e["type"] == "session.deleted" && e["session"] == b.as_str());
    let (code, _) = c.error(json!({"type":"session.get","session":b}));
    assert_eq!(code, "session_not_found");
    let list = c.ok(json!({"type":"session.list","state":"idle"}));
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_requests_get_typed_errors_and_the_connection_lives_on() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let (code, _) = c.error(json!({"type":"session.frobnicate"}));
    assert_eq!(code, "unknown_command");
    let (code, message) = c.error(json!({"type":"session.create","harness":"fake"}));
    assert_eq!(code, "bad_request");
    assert!(message.contains("cwd"), "{message}");
    let (code, message) = c.error(json!({"type":"session.create","harness":"nope","cwd":work}));
    assert_eq!(code, "bad_request");
    assert!(message.contains("unknown harness"), "{message}");
    let (code, _) = c.error(json!({"type":"session.create","harness":"fake","cwd":"relative/dir"}));
    assert_eq!(code, "bad_request");
    let (code, _) = c.error(json!({"type":"session.create","harness":"fake","cwd":"/no/such/dir"}));
    assert_eq!(code, "bad_request");
    let (code, _) = c.error(json!({"type":"prompt","session":"ses_nope","text":"x"}));
    assert_eq!(code, "session_not_found");
    let session = c.create("fake", &work);
    let (code, _) = c.error(json!({"type":"prompt","session":session,"text":"x","bogus":1}));
    assert_eq!(code, "bad_request");
    // Not JSON, and not UTF-8: errors with a null id; the connection goes on.
    c.events.clear();
    c.send_line("{not json");
    let e = c.events_until(|e| e["type"] == "error").pop().unwrap();
    assert_eq!(
        (e["code"].as_str(), e["id"].is_null()),
        (Some("bad_request"), true),
        "{e}"
    );
    c.send_bytes(b"\xff\xfe{}\n");
    let e = c.events_until(|e| e["type"] == "error").pop().unwrap();
    assert_eq!(e["code"], "bad_request", "{e}");
    // A command in the wrong state.
    c.ok(json!({"type":"prompt","session":session,"text":"slow"}));
    c.events_until(|e| e["type"] == "state" && e["state"] == "working");
    let (code, message) = c.error(json!({"type":"prompt","session":session,"text":"again"}));
    assert_eq!(code, "invalid_state", "{message}");
    // The unsupported: the fake agent cannot take images.
    let (code, _) = c.error(json!({"type":"prompt","session":session,"text":"x","images":[{"mime_type":"image/png","data":"AA=="}]}));
    assert_eq!(code, "unsupported");
    c.ok(json!({"type":"abort","session":session}));
    c.events_until(|e| e["type"] == "state" && e["state"] == "idle");
    // Still serving.
    c.ok(json!({"type":"runner.status"}));
}

#[test]
fn an_over_long_line_is_answered_and_skipped() {
    let runner = Runner::start("[runner]\nmax_line = \"4KiB\"\n");
    let mut c = runner.client();
    let mut long = String::from(r#"{"type":"session.list","id":"1","x":""#);
    long.push_str(&"a".repeat(8192));
    long.push_str("\"}");
    c.send_line(&long);
    let e = c.read_value().unwrap();
    assert_eq!(e["code"], "too_large", "{e}");
    assert!(e["id"].is_null(), "{e}");
    // The line was skipped to its end: the same connection goes on.
    let status = c.ok(json!({"type":"runner.status"}));
    assert_eq!(status["status"]["pid"], runner.pid());
    // A client that disconnects in the middle of a line and one mid-request: no harm.
    let mut half = Client::connect(&runner.socket);
    half.send_bytes(br#"{"type":"session.list","#);
    drop(half);
    let mut gone = Client::connect(&runner.socket);
    gone.send_line(r#"{"type":"session.create","id":"1","harness":"fake","cwd":"/tmp"}"#);
    drop(gone);
    let mut c = runner.client();
    let status = c.ok(json!({"type":"runner.status"}));
    assert_eq!(status["status"]["pid"], runner.pid());
}

#[test]
fn models_and_compaction_through_the_native_harness() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    let models = c.ok(json!({"type":"get_models","session":session}));
    assert_eq!(models["models"].as_array().unwrap().len(), 2, "{models}");
    let model = c
        .ok(json!({"type":"set_model","session":session,"provider":"fake","model":"fake-model-2"}));
    assert_eq!(model["model"]["id"], "fake-model-2");
    c.events_until(|e| e["type"] == "model.changed");
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["session"]["model"]["id"], "fake-model-2");
    c.turn(&session, "one");
    let compacted = c.ok(json!({"type":"compact","session":session}));
    assert!(
        compacted["summary"]
            .as_str()
            .unwrap()
            .starts_with("SUMMARY"),
        "{compacted}"
    );
    let (code, _) = c.error(json!({"type":"set_model","session":session,"model":"nope"}));
    assert_eq!(code, "bad_request");
}

#[test]
fn fork_starts_a_new_session_with_the_history_before_the_message() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    c.turn(&session, "first");
    c.turn(&session, "second");
    let page = c.ok(json!({"type":"get_messages","session":session}));
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    let second_prompt = messages[2]["id"].as_str().unwrap();
    let forked = c.ok(json!({"type":"fork","session":session,"message_id":second_prompt}));
    let child = forked["session"]["id"].as_str().unwrap();
    assert_ne!(child, session);
    assert_eq!(forked["session"]["parent"], session.as_str());
    let page = c.ok(json!({"type":"get_messages","session":child}));
    let copied = page["messages"].as_array().unwrap();
    assert_eq!(copied.len(), 2, "{page}");
    assert_eq!(copied[0]["parts"][0]["text"], "first");
    assert_ne!(
        copied[0]["id"], messages[0]["id"],
        "copies get their own ids"
    );
    let (code, _) = c.error(json!({"type":"fork","session":session,"message_id":"msg_nope"}));
    assert_eq!(code, "message_not_found");
    // The fork works on its own.
    c.ok(json!({"type":"session.subscribe","session":child}));
    let events = c.turn(child, "in the fork");
    assert_eq!(assistant_texts(&events), ["echo: in the fork"]);
}

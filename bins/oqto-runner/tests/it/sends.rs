//! `client_msg_id`: a `prompt` (or `steer`, `follow_up`) sent again with the same id runs
//! once, and every send gets the first answer; also across a runner restart and when two
//! connections race.

use serde_json::{Value, json};

use crate::support::{Client, Runner};

const ID: &str = "4f9a1c2e-8b3d-4e6f-a1c7-0d5e9b2f3a68";

fn prompt(session: &str, text: &str, id: &str) -> Value {
    json!({"type":"prompt","session":session,"text":text,"client_msg_id":id})
}

/// Events up to the `state idle` that ends a turn.
fn until_idle(c: &mut Client, session: &str) -> Vec<Value> {
    let mut working = false;
    c.events_until(|e| {
        if e["session"] != session || e["type"] != "state" {
            return false;
        }
        working |= e["state"] == "working";
        working && e["state"] == "idle"
    })
}

/// Events up to the next `state idle`, for a turn whose `working` was already seen.
fn until_next_idle(c: &mut Client) -> Vec<Value> {
    c.events_until(|e| e["type"] == "state" && e["state"] == "idle")
}

/// The session's stored user messages.
fn user_messages(c: &mut Client, session: &str) -> Vec<Value> {
    let page = c.ok(json!({"type":"get_messages","session":session,"limit":1000}));
    page["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "user")
        .cloned()
        .collect()
}

/// `message.start` events of `role` in `events`.
fn started(events: &[Value], role: &str) -> usize {
    events
        .iter()
        .filter(|e| e["type"] == "message.start" && e["role"] == role)
        .count()
}

#[test]
fn the_same_prompt_sent_twice_with_one_id_runs_once() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let session = c.create("fake", &runner.work());
    let first = c.request(prompt(&session, "hello once", ID));
    assert_eq!(first["type"], "ok", "{first}");
    let events = until_idle(&mut c, &session);
    assert_eq!(started(&events, "user"), 1);
    let ended = events
        .iter()
        .find(|e| e["type"] == "message.end" && e["message"]["role"] == "user")
        .expect("the user message");
    assert_eq!(ended["message"]["client_msg_id"], ID, "{ended}");

    // The repeat, on another connection (a client that reconnected).
    let mut again = runner.client();
    let second = again.request(prompt(&session, "hello once", ID));
    assert_eq!(second["result"], first["result"], "{second}");
    assert_eq!(second["type"], "ok");

    // Nothing ran: one user message, stored with the id, one turn.
    let users = user_messages(&mut c, &session);
    assert_eq!(users.len(), 1, "{users:#?}");
    assert_eq!(users[0]["client_msg_id"], ID);
    let last_seq = events.last().expect("events")["seq"].clone();
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(
        info["session"]["last_seq"], last_seq,
        "events after the repeat"
    );
    assert_eq!(info["session"]["state"], "idle");
}

#[test]
fn an_error_is_the_answer_to_every_repeat() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let session = c.create("fake", &runner.work());
    c.ok(json!({"type":"prompt","session":session,"text":"slow"}));
    c.events_until(|e| e["type"] == "state" && e["state"] == "working");
    let first = c.request(prompt(&session, "too early", "busy-1"));
    assert_eq!(first["code"], "invalid_state", "{first}");
    c.ok(json!({"type":"abort","session":session}));
    until_next_idle(&mut c);
    // The session is idle now, but the id already has its answer.
    let second = c.request(prompt(&session, "too early", "busy-1"));
    assert_eq!(second["code"], first["code"]);
    assert_eq!(second["message"], first["message"]);
    assert_eq!(user_messages(&mut c, &session).len(), 1, "only `slow` ran");
}

#[test]
fn different_ids_run_twice() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let session = c.create("fake", &runner.work());
    c.ok(prompt(&session, "same text", "id-a"));
    until_idle(&mut c, &session);
    c.ok(prompt(&session, "same text", "id-b"));
    until_idle(&mut c, &session);
    let users = user_messages(&mut c, &session);
    let ids: Vec<&Value> = users.iter().map(|m| &m["client_msg_id"]).collect();
    assert_eq!(ids, [&json!("id-a"), &json!("id-b")]);
}

#[test]
fn the_same_id_in_another_session_is_another_send() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let one = c.create("fake", &runner.work());
    let two = c.create("fake", &runner.work());
    c.ok(prompt(&one, "hi", ID));
    until_idle(&mut c, &one);
    c.ok(prompt(&two, "hi", ID));
    until_idle(&mut c, &two);
    assert_eq!(user_messages(&mut c, &one).len(), 1);
    assert_eq!(user_messages(&mut c, &two).len(), 1);
}

#[test]
fn a_repeat_after_a_runner_restart_does_not_run_again() {
    let mut runner = Runner::start("");
    let mut c = runner.client();
    let session = c.create("fake", &runner.work());
    c.ok(prompt(&session, "before the crash", ID));
    until_idle(&mut c, &session);
    drop(c);
    runner.kill9();
    runner.spawn();

    let mut c = runner.client();
    c.ok(json!({"type":"session.subscribe","session":session}));
    let answer = c.request(prompt(&session, "before the crash", ID));
    assert_eq!(answer["type"], "ok", "{answer}");
    assert_eq!(answer["result"], json!({"type":"empty"}));
    let users = user_messages(&mut c, &session);
    assert_eq!(users.len(), 1, "{users:#?}");
    assert_eq!(users[0]["client_msg_id"], ID);
    // The stopped session was not started for it.
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["session"]["state"], "stopped", "{info}");

    // A new id still runs.
    c.ok(prompt(&session, "after the restart", "id-new"));
    until_idle(&mut c, &session);
    assert_eq!(user_messages(&mut c, &session).len(), 2);
}

#[test]
fn two_clients_racing_with_one_id_run_it_once() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let session = c.create("fake", &runner.work());
    let mut clients: Vec<Client> = (0..4).map(|_| runner.client()).collect();
    let line = |n: usize| {
        let mut request = prompt(&session, "race", ID);
        request["id"] = json!(format!("race-{n}"));
        request.to_string()
    };
    // Every line is written before any answer is read: the sends overlap in the runner.
    for (n, client) in clients.iter_mut().enumerate() {
        client.send_line(&line(n));
    }
    let answers: Vec<Value> = clients
        .iter_mut()
        .enumerate()
        .map(|(n, client)| client.response(&format!("race-{n}")))
        .collect();
    for answer in &answers {
        assert_eq!(answer["type"], "ok", "{answer}");
        assert_eq!(answer["result"], answers[0]["result"]);
    }
    let events = until_idle(&mut c, &session);
    assert_eq!(started(&events, "user"), 1, "{events:#?}");
    assert_eq!(user_messages(&mut c, &session).len(), 1);
}

#[test]
fn steer_and_follow_up_ids_land_on_their_messages_and_run_once() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let session = c.create("fake", &runner.work());
    c.ok(prompt(&session, "stream:40@25", "p-1"));
    c.events_until(|e| e["type"] == "part.delta");
    let follow =
        json!({"type":"follow_up","session":session,"text":"and then this","client_msg_id":"f-1"});
    c.ok(follow.clone());
    c.ok(follow);
    until_next_idle(&mut c);
    let users = user_messages(&mut c, &session);
    let tagged: Vec<(&Value, &Value)> = users
        .iter()
        .map(|m| (&m["parts"][0]["text"], &m["client_msg_id"]))
        .collect();
    assert_eq!(
        tagged,
        [
            (&json!("stream:40@25"), &json!("p-1")),
            (&json!("and then this"), &json!("f-1")),
        ]
    );
}

#[test]
fn a_bad_client_msg_id_is_a_bad_request_and_runs_nothing() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let session = c.create("fake", &runner.work());
    let long = "x".repeat(oqto_protocol::MAX_CLIENT_MSG_ID_BYTES + 1);
    let (code, message) = c.error(prompt(&session, "hi", &long));
    assert_eq!(code, "bad_request");
    assert_eq!(
        message,
        "prompt: `client_msg_id` is 129 bytes long; at most 128 are allowed"
    );
    let (code, message) =
        c.error(json!({"type":"steer","session":session,"text":"x","client_msg_id":""}));
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("bad_request", "steer: `client_msg_id` is empty")
    );
    let (code, _) = c.error(prompt(&session, "hi", "a\nb"));
    assert_eq!(code, "bad_request");
    let at_limit = "y".repeat(oqto_protocol::MAX_CLIENT_MSG_ID_BYTES);
    c.ok(prompt(&session, "hi", &at_limit));
    until_idle(&mut c, &session);
    assert_eq!(user_messages(&mut c, &session).len(), 1);
}

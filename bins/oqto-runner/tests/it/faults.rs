//! Harnesses that crash, hang or get killed: the session says so, the runner lives on.

use std::time::Duration;

use serde_json::json;

use crate::support::{Runner, WAIT, agents, alive, assistant_texts, children};

#[test]
fn a_crashing_harness_puts_the_session_in_error_with_its_stderr() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    let events = c.turn(&session, "crash:7");
    let last = events.last().unwrap();
    assert_eq!(last["state"], "error", "{last}");
    let reason = last["reason"].as_str().unwrap();
    assert!(reason.contains("exited with status 7"), "{reason}");
    assert!(reason.contains("fake agent crashing as asked"), "{reason}");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "session.error" && e["code"] == "harness_failed")
    );
    // The message in flight ended with an error part, and was stored.
    let end = events
        .iter()
        .rev()
        .find(|e| e["type"] == "message.end")
        .unwrap();
    assert_eq!(end["message"]["stop_reason"], "error");
    let page = c.ok(json!({"type":"get_messages","session":session}));
    assert_eq!(
        page["messages"].as_array().unwrap().last().unwrap(),
        &end["message"]
    );
    // Restartable.
    let events = c.turn(&session, "better now");
    assert_eq!(assistant_texts(&events), ["echo: better now"]);
}

#[test]
fn a_hung_harness_is_detected_by_the_silence_timeout() {
    let runner = Runner::start("[runner]\nsilence_timeout = \"1s\"\n");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    let events = c.turn(&session, "hang");
    let last = events.last().unwrap();
    assert_eq!(last["state"], "error");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("wrote nothing for 1s"),
        "{last}"
    );
    let events = c.turn(&session, "alive again");
    assert_eq!(assistant_texts(&events), ["echo: alive again"]);
}

#[test]
fn kill_9_of_the_harness_mid_turn() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    c.ok(json!({"type":"prompt","session":session,"text":"slow"}));
    c.events_until(|e| e["type"] == "part.delta");
    let agents = agents(runner.pid());
    assert_eq!(agents.len(), 1, "{agents:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agents[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let events = c.events_until(|e| e["type"] == "state" && e["state"] == "error");
    assert!(
        events.last().unwrap()["reason"]
            .as_str()
            .unwrap()
            .contains("SIGKILL"),
        "{events:?}"
    );
    c.ok(json!({"type":"runner.status"}));
    let events = c.turn(&session, "after the kill");
    assert_eq!(assistant_texts(&events), ["echo: after the kill"]);
}

#[test]
fn sigterm_stops_the_harnesses_removes_the_socket_and_exits_0() {
    let mut runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    c.ok(json!({"type":"prompt","session":session,"text":"slow"}));
    c.events_until(|e| e["type"] == "part.delta");
    let sandbox = children(runner.pid());
    let agents = agents(runner.pid());
    assert_eq!(agents.len(), 1);
    let status = runner.stop();
    assert_eq!(status.code(), Some(0), "{}", runner.log());
    assert!(!runner.socket.exists(), "socket removed");
    assert!(
        oqto_testkit::wait_until(WAIT, || sandbox.iter().all(|p| !alive(*p))),
        "harness and its sandbox gone"
    );
    // The session is kept, stopped, with the message in flight ended.
    runner.spawn();
    let mut c = runner.client();
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["session"]["state"], "stopped");
}

#[test]
fn a_second_runner_refuses_a_live_socket_and_a_stale_one_is_replaced() {
    let mut runner = Runner::start("");
    let out = runner
        .command()
        .stderr(std::process::Stdio::piped())
        .std_command()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another oqto-runner is already listening"),
        "{stderr}"
    );
    // kill -9 leaves the socket file behind; the next runner replaces it.
    runner.kill9();
    assert!(runner.socket.exists());
    runner.spawn();
    runner.client().ok(json!({"type":"runner.status"}));
}

#[test]
fn kill_9_of_the_runner_mid_stream_then_restart_resumes_the_session() {
    let mut runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    c.turn(&session, "before");
    c.ok(json!({"type":"prompt","session":session,"text":"slow"}));
    c.events_until(|e| e["type"] == "part.delta");
    let last_seen = c
        .events_until(|e| e["type"] == "part.delta")
        .last()
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    runner.kill9();
    std::thread::sleep(Duration::from_millis(50));
    runner.spawn();
    let mut c = runner.client();
    let list = c.ok(json!({"type":"session.list"}));
    let info = &list["sessions"][0];
    assert_eq!(info["id"], session.as_str());
    assert_eq!(info["state"], "stopped");
    // Ended messages survived.
    let page = c.ok(json!({"type":"get_messages","session":session}));
    assert!(page["messages"].as_array().unwrap().len() >= 2, "{page}");
    // A client resuming from what it saw gets a resync, never a reused seq.
    c.ok(json!({"type":"session.subscribe","session":session,"after_seq":last_seen}));
    let resync = c.next_event();
    assert_eq!(resync["type"], "resync", "{resync}");
    assert!(resync["seq"].as_u64().unwrap() > last_seen);
    let events = c.turn(&session, "after the crash");
    assert_eq!(assistant_texts(&events), ["echo: after the crash"]);
}

//! The history store under the runner: search, crash safety, a full disk.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Runner, WAIT, assistant_texts};

#[test]
fn search_finds_what_a_session_said_with_its_message_id_and_seq() {
    let runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    let events = c.turn(&session, "please check parse_config in src/main.rs");
    let reply = events
        .iter()
        .find(|e| e["type"] == "message.end" && e["message"]["role"] == "assistant")
        .unwrap();
    let hits = c
        .ok(json!({"type":"history.search","query":"parse_config","filters":{"role":"assistant"}}));
    let hits = hits["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["message_id"], reply["message"]["id"]);
    assert_eq!(hits[0]["seq"], reply["seq"]);
    assert_eq!(hits[0]["session"], session.as_str());
    assert!(
        hits[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("[parse_config]"),
        "{hits:?}"
    );
    let (code, message) = c.error(json!({"type":"history.search","query":"\"unbalanced"}));
    assert_eq!(code, "bad_request", "{message}");
    // Deleting the session removes it from search.
    c.ok(json!({"type":"session.delete","session":session}));
    let hits = c.ok(json!({"type":"history.search","query":"parse_config"}));
    assert_eq!(hits["hits"], json!([]));
}

#[test]
fn kill_9_during_heavy_writes_loses_no_ended_message() {
    let mut runner = Runner::start("");
    let mut c = runner.client();
    let work = runner.work();
    let sessions: Vec<String> = (0..8).map(|_| c.create("fake", &work)).collect();
    for s in &sessions {
        c.ok(json!({"type":"prompt","session":s,"text":"stream:40"}));
    }
    // Keep every session busy; remember every message the runner announced as ended.
    let mut ended: HashMap<String, Value> = HashMap::new();
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let event = c.next_event();
        if event["type"] == "message.end" {
            ended.insert(
                event["message"]["id"].as_str().unwrap().to_owned(),
                event["message"].clone(),
            );
        }
        if event["type"] == "state" && event["state"] == "idle" {
            let s = event["session"].as_str().unwrap().to_owned();
            c.send_line(
                &json!({"type":"prompt","id":"again","session":s,"text":"stream:40"}).to_string(),
            );
        }
    }
    runner.kill9();
    assert!(ended.len() > 50, "only {} messages ended", ended.len());

    let db = runner.env.data_dir().join("oqto/history.db");
    let store = oqto_history::Store::open(&db).expect("the database opens after kill -9");
    store.integrity_check().expect("integrity check");
    drop(store);
    runner.spawn();
    let mut c = runner.client();
    let mut stored: HashMap<String, Value> = HashMap::new();
    for s in &sessions {
        let page = c.ok(json!({"type":"get_messages","session":s,"limit":1000}));
        assert_eq!(page["has_more"], false);
        for m in page["messages"].as_array().unwrap() {
            stored.insert(m["id"].as_str().unwrap().to_owned(), m.clone());
        }
    }
    for (id, message) in &ended {
        assert_eq!(
            stored.get(id),
            Some(message),
            "message {id} ended but is not stored"
        );
    }
}

/// Unmounts a test file system when dropped.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = oqto_ipc::spawn::Spawn::new("umount")
            .args(["-l"])
            .arg(&self.0)
            .env_inherit(["PATH"])
            .std_command()
            .status();
    }
}

/// A full disk: a 1 MiB tmpfs as the data directory. Needs root and permission to mount
/// (CI runs as root in a container that allows it).
#[test]
fn a_full_disk_is_reported_and_live_sessions_go_on() {
    let env = oqto_testkit::TestEnv::new();
    let data = env.data_dir().join("oqto");
    std::fs::create_dir_all(&data).unwrap();
    let mounted = oqto_ipc::spawn::Spawn::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
        .arg(&data)
        .env_inherit(["PATH"])
        .std_command()
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    }
    let _unmount = Unmount(data.clone());
    let runner = Runner::start_in(env, "", Vec::new());
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    // Fill the disk with long replies until the store fails.
    let long = "x".repeat(200_000);
    let deadline = Instant::now() + WAIT;
    let error = loop {
        assert!(Instant::now() < deadline, "the store never failed");
        let events = c.turn(&session, &long);
        assert_eq!(
            events.last().unwrap()["state"],
            "idle",
            "the turn still ends normally"
        );
        if let Some(e) = events.iter().find(|e| e["type"] == "session.error") {
            break e.clone();
        }
    };
    assert_eq!(error["code"], "storage", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("history store failed"),
        "{error}"
    );
    assert!(
        runner.log().contains("storing a message failed"),
        "a clear log line"
    );
    // Live sessions go on: a new turn streams and ends.
    let events = c.turn(&session, "still here");
    assert_eq!(assistant_texts(&events), ["echo: still here"]);
    c.ok(json!({"type":"runner.status"}));
}

/// A read-only database: the data directory bind-mounted read-only over itself. The runner
/// starts anyway, serves the stored history, runs live sessions, and reports each failed
/// write as a `storage` error. Needs root and permission to mount.
#[test]
fn a_read_only_database_still_serves_history_and_live_sessions() {
    let env = oqto_testkit::TestEnv::new();
    let data = env.data_dir().join("oqto");
    let mut runner = Runner::start_in(env, "", Vec::new());
    let work = runner.work();
    {
        let mut c = runner.client();
        let session = c.create("fake", &work);
        c.turn(&session, "remember the kiwi");
    }
    runner.stop();
    let mount = |args: &[&str]| {
        oqto_ipc::spawn::Spawn::new("mount")
            .args(args)
            .arg(&data)
            .arg(&data)
            .env_inherit(["PATH"])
            .std_command()
            .status()
            .is_ok_and(|s| s.success())
    };
    if !mount(&["--bind"]) {
        eprintln!("skipped: cannot bind-mount here (needs root and CAP_SYS_ADMIN)");
        return;
    }
    let _unmount = Unmount(data.clone());
    assert!(mount(&["-o", "remount,bind,ro"]), "remount read-only");
    runner.spawn();
    assert!(
        runner.log().contains("the history database is read-only"),
        "a clear log line: {}",
        runner.log()
    );
    let mut c = runner.client();
    let hits = c.ok(json!({"type":"history.search","query":"kiwi"}));
    assert_eq!(hits["hits"].as_array().unwrap().len(), 2, "{hits}");
    let sessions = c.ok(json!({"type":"session.list"}));
    let listed = sessions["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    let session = listed[0]["id"].as_str().unwrap().to_owned();
    // A new session cannot be recorded: a typed error, and the runner goes on.
    let refused = c.request(json!({"type":"session.create","harness":"fake","cwd":work}));
    assert_eq!(refused["code"], "storage", "{refused}");
    // The stored session runs again; what it cannot store is reported as a storage error.
    c.ok(json!({"type":"session.subscribe","session":session}));
    let events = c.turn(&session, "still here");
    assert_eq!(assistant_texts(&events), ["echo: still here"]);
    let error = events
        .iter()
        .find(|e| e["type"] == "session.error")
        .expect("a storage error event");
    assert_eq!(error["code"], "storage", "{error}");
}

//! `oqtoctl attach`: live events, and resuming across a runner restart with no gap and no
//! repeat.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{Ctl, WAIT, describe};

#[test]
fn attach_replays_after_a_seq_and_exits_when_idle() {
    let ctl = Ctl::new();
    let id = ctl.ok(&["prompt", "-d", "first"]).trim().to_owned();
    ctl.ok(&["prompt", "-s", &id, "-o", "final", "second"]);
    // Everything after seq 0, then follow the next turn to idle.
    let mut child = ctl.spawn(&["attach", &id, "--after-seq", "0", "--until-idle"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seqs = Vec::new();
    let mut texts = Vec::new();
    let mut prompted = false;
    let started = Instant::now();
    while let Some(Ok(line)) = lines.next() {
        let event: Value = serde_json::from_str(&line).unwrap();
        seqs.push(event["seq"].as_u64().unwrap());
        if event["type"] == "message.end" && event["message"]["role"] == "assistant" {
            texts.push(
                event["message"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
            if texts.len() == 2 && !prompted {
                prompted = true;
                ctl.ok(&["prompt", "-s", &id, "-d", "third"]);
            }
        }
        assert!(started.elapsed() < WAIT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(texts, ["echo: first", "echo: second", "echo: third"]);
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

#[test]
fn attach_resumes_after_a_runner_restart_without_gaps_or_repeats() {
    let ctl = Ctl::new();
    let id = ctl.ok(&["prompt", "-d", "stream:3"]).trim().to_owned();
    let mut child = ctl.spawn(&["attach", &id, "--after-seq", "0"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen: Vec<Value> = Vec::new();
    let mut next = |seen: &mut Vec<Value>| {
        let line = lines.next().expect("attach ended early").unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        seen.push(event.clone());
        event
    };
    // Read up to the first turn's idle.
    while !(next(&mut seen)["type"] == "state"
        && seen.last().unwrap()["state"] == "idle"
        && seen.iter().any(|e| e["type"] == "message.end"))
    {}
    let before = seen.len();
    let pid = ctl.runner_pid().unwrap();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    // attach starts a runner again on demand; once it is back, prompt again.
    let deadline = Instant::now() + WAIT;
    while ctl.runner_pid().is_none_or(|p| p == pid) {
        assert!(Instant::now() < deadline, "no new runner");
        std::thread::sleep(Duration::from_millis(20));
    }
    ctl.ok(&["prompt", "-s", &id, "-o", "final", "after restart"]);
    loop {
        let event = next(&mut seen);
        if event["type"] == "message.end"
            && event["message"]["parts"][0]["text"] == "echo: after restart"
        {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    child.kill().unwrap();
    let _ = child.wait();
    // Seqs strictly increase across the restart: nothing printed twice. (A runner killed
    // with -9 skips ahead in seq; a resync snapshot covers what it could not replay.)
    let seqs: Vec<u64> = seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(seen.len() > before);
    let after: Vec<&Value> = seen[before..].iter().collect();
    assert!(
        after.iter().any(|e| e["type"] == "message.end"),
        "the new turn arrived: {after:?}"
    );
}

//! `oqtoctl attach`: live events, and resuming across a runner restart with no gap and no
//! repeat.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{Ctl, WAIT, describe};

/// The events `attach` printed, parsed, and the texts of the assistant's replies.
fn printed(out: &std::process::Output) -> (Vec<Value>, Vec<String>) {
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let texts = events
        .iter()
        .filter(|e| e["type"] == "message.end" && e["message"]["role"] == "assistant")
        .map(|e| {
            e["message"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    (events, texts)
}

#[test]
fn attach_until_idle_on_a_session_at_rest_replays_and_exits() {
    let ctl = Ctl::new();
    let id = ctl.ok(&["prompt", "-d", "first"]).trim().to_owned();
    // `prompt -d` returns once the turn runs: let it end before the next prompt (a prompt
    // to a working session is refused).
    let out = ctl.run_within_wait(&["attach", &id, "--until-idle", "-o", "final"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    ctl.ok(&["prompt", "-s", &id, "-o", "final", "second"]);
    // Both turns are over: everything after seq 0, then exit (it used to wait for a turn
    // that might never come).
    let out = ctl.run_within_wait(&["attach", &id, "--after-seq", "0", "--until-idle"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (events, texts) = printed(&out);
    assert_eq!(texts, ["echo: first", "echo: second"]);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(events.last().unwrap()["state"], "idle");
    // Without a replay there is nothing to print.
    let out = ctl.run_within_wait(&["attach", &id, "--until-idle"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(out.stdout, b"");
}

#[test]
fn attach_until_idle_follows_a_running_turn_to_its_end() {
    let ctl = Ctl::new();
    // A turn of about two seconds, started detached, as a script would.
    let id = ctl.ok(&["prompt", "-d", "stream:20@100"]).trim().to_owned();
    let out = ctl.run_within_wait(&["attach", &id, "--until-idle"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (events, texts) = printed(&out);
    assert_eq!(texts.len(), 1, "{events:?}");
    assert!(texts[0].ends_with("w20 "), "{texts:?}");
    assert_eq!(events.last().unwrap()["type"], "state");
    assert_eq!(events.last().unwrap()["state"], "idle");
    // The turn's end is printed, and the session is idle for the next command.
    let info = serde_json::from_str::<Value>(&ctl.ok(&["session", "show", &id, "--json"])).unwrap();
    assert_eq!(info["state"], "idle", "{info}");
}

#[test]
fn attach_until_idle_exits_as_prompt_would_for_the_last_turn() {
    let ctl = Ctl::new();
    // A failed turn, over before attach: 5, and the reason on stderr.
    let id = ctl
        .ok(&["prompt", "-d", "fail:the provider is down"])
        .trim()
        .to_owned();
    let out = ctl.run_within_wait(&["attach", &id, "--until-idle"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the agent failed: the provider is down"),
        "{}",
        describe(&out)
    );
    // A crash leaves the session in `error`: 5 too.
    ctl.ok(&["prompt", "-s", &id, "-d", "crash"]);
    let out = ctl.run_within_wait(&["attach", &id, "--until-idle"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    // A turn aborted while attach follows it: 7.
    ctl.ok(&["prompt", "-s", &id, "-d", "slow"]);
    let mut child = ctl.spawn(&["attach", &id, "--until-idle"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    ctl.abort_after_first_delta(&id, &mut lines);
    assert_eq!(child.wait().unwrap().code(), Some(7));
    // A good turn after all that: 0.
    ctl.ok(&["prompt", "-s", &id, "-d", "hello"]);
    let out = ctl.run_within_wait(&["attach", &id, "--until-idle"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
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

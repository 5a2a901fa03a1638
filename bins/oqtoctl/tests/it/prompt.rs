//! `oqtoctl prompt`: output modes and every exit code.

use std::io::{BufRead, BufReader};
use std::time::Instant;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oqto_protocol::{Event, EventKind, Role, State};

use crate::support::{Ctl, WAIT, describe, json_lines};

#[test]
fn pipe_mode_prints_protocol_events_one_per_line_from_creation_to_idle() {
    let ctl = Ctl::new();
    let out = ctl.run(&["prompt", "hello pipes"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let events: Vec<Event> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not an event ({e}): {l}")))
        .collect();
    assert!(matches!(events[0].kind, EventKind::SessionCreated { .. }));
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap-free from 1"
    );
    assert!(matches!(
        events.last().unwrap().kind,
        EventKind::State {
            state: State::Idle,
            ..
        }
    ));
    let reply = events.iter().find_map(|e| match &e.kind {
        EventKind::MessageEnd { message } if message.role == Role::Assistant => Some(message),
        _ => None,
    });
    assert_eq!(
        serde_json::to_value(&reply.unwrap().parts[0]).unwrap()["text"],
        "echo: hello pipes"
    );
}

#[test]
fn final_and_text_modes_print_only_the_answer() {
    let ctl = Ctl::new();
    assert_eq!(
        ctl.ok(&["prompt", "--output", "final", "one two"]),
        "echo: one two\n"
    );
    assert_eq!(ctl.ok(&["prompt", "-o", "text", "three"]), "echo: three\n");
    // A tool turn: `text` has both messages' text, `final` the last one only.
    let tool = r#"tool:bash {"command":"ls"}"#;
    assert_eq!(ctl.ok(&["prompt", "-o", "final", tool]), "done: bash\n");
    assert_eq!(ctl.ok(&["prompt", "-o", "text", tool]), "done: bash\n");
}

#[test]
fn the_prompt_comes_from_stdin_or_a_file() {
    let ctl = Ctl::new();
    let out = ctl.run_input(&["prompt", "-o", "final", "-"], "from stdin\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo: from stdin\n",
        "{}",
        describe(&out)
    );
    let out = ctl.run_input(&["prompt", "-o", "final"], "implicit stdin");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo: implicit stdin\n"
    );
    let file = ctl.env.write("prompt.txt", "from a file");
    let out = ctl.ok(&["prompt", "-o", "final", "--file", file.to_str().unwrap()]);
    assert_eq!(out, "echo: from a file\n");
}

#[test]
fn a_session_can_be_continued() {
    let ctl = Ctl::new();
    let id = ctl.ok(&["prompt", "--detach", "first"]).trim().to_owned();
    assert!(id.starts_with("ses_"), "{id}");
    let out = ctl.run(&["prompt", "--session", &id, "second"]);
    assert!(out.status.success(), "{}", describe(&out));
    // Only the new turn's events, all of this session.
    let events = json_lines(&out);
    assert!(events.iter().all(|e| e["session"] == id.as_str()));
    assert!(events.iter().all(|e| e["type"] != "session.created"));
    let messages = ctl.ok(&["messages", &id, "--json"]);
    let texts: Vec<String> = messages
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["parts"][0]["text"].to_string()
        })
        .collect();
    assert_eq!(
        texts,
        [
            "\"first\"",
            "\"echo: first\"",
            "\"second\"",
            "\"echo: second\""
        ]
    );
}

#[test]
fn usage_errors_exit_2() {
    let ctl = Ctl::new();
    for args in [
        vec!["prompt", "--bogus", "x"],
        vec!["prompt", "--timeout", "5x", "x"],
        vec!["prompt", "--timeout", "0s", "x"],
        vec!["prompt", "--output", "yaml", "x"],
        vec!["prompt", "--session", "a", "--new", "x"],
        vec!["prompt", "--cwd", "/nonexistent/dir", "x"],
        vec!["prompt", "   "],
    ] {
        let out = ctl.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn an_unknown_session_exits_4() {
    let ctl = Ctl::new();
    let out = ctl.run(&["prompt", "--session", "ses_nope", "hi"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ses_nope"));
    let out = ctl.run(&["session", "show", "ses_nope"]);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
}

#[test]
fn an_agent_error_exits_5() {
    let ctl = Ctl::new();
    let out = ctl.run(&["prompt", "-o", "final", "fail:the provider is down"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the provider is down"));
    let out = ctl.run(&["prompt", "crash"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
}

#[test]
fn a_timeout_aborts_the_turn_and_exits_6() {
    let ctl = Ctl::new();
    let out = ctl.run(&["prompt", "--timeout", "300ms", "-o", "text", "slow"]);
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not finish within 300ms"));
    // The turn was aborted in the runner, not left running.
    let sessions = ctl.ok(&["sessions", "--json"]);
    let session: serde_json::Value =
        serde_json::from_str(sessions.lines().next().unwrap()).unwrap();
    assert_eq!(session["state"], "idle", "{session}");
}

#[test]
fn ctrl_c_aborts_the_turn_and_exits_7() {
    let ctl = Ctl::new();
    let mut child = ctl.spawn(&["prompt", "slow"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait until it streams, then interrupt.
    let started = Instant::now();
    loop {
        let line = lines.next().expect("a line").unwrap();
        if line.contains("part.delta") {
            break;
        }
        assert!(started.elapsed() < WAIT);
    }
    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGINT,
    )
    .unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(7));
    let last: serde_json::Value = serde_json::from_str(rest.last().unwrap()).unwrap();
    assert_eq!(last["type"], "state");
    assert_eq!(last["state"], "idle");
    assert!(
        rest.iter()
            .any(|l| l.contains(r#""stop_reason":"aborted""#))
    );
}

#[test]
fn abort_from_another_process_exits_7() {
    let ctl = Ctl::new();
    let mut child = ctl.spawn(&["prompt", "slow"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let id = first["session"].as_str().unwrap().to_owned();
    ctl.abort_after_first_delta(&id, &mut lines);
    assert_eq!(child.wait().unwrap().code(), Some(7));
}

#[test]
fn a_closed_pipe_is_a_quiet_exit() {
    let ctl = Ctl::new();
    let mut child = ctl.spawn(&["prompt", "stream:50@5"]);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(out.stderr.is_empty(), "{}", describe(&out));
}

#[test]
fn the_runner_dying_mid_turn_is_a_clear_error() {
    let ctl = Ctl::new();
    let mut child = ctl.spawn(&["prompt", "slow"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("part.delta") {
            break;
        }
    }
    let pid = ctl.runner_pid().expect("a runner");
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    for _ in lines {}
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("runner"));
}

#[test]
fn ctrl_c_twice_quits_without_waiting_for_the_turn() {
    let ctl = Ctl::new();
    // `hang`: the agent ignores the abort, so only the second Ctrl-C ends oqtoctl early.
    let mut child = ctl.spawn(&["prompt", "hang"]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains(r#""state":"working""#) {
            break;
        }
    }
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGINT).unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    stderr.read_line(&mut said).unwrap();
    assert!(said.contains("aborting the turn"), "{said}");
    kill(pid, Signal::SIGINT).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    for _ in lines {}
    assert_eq!(child.wait().unwrap().code(), Some(7));
    assert!(rest.contains("quit without waiting"), "{rest}");
}

#[test]
fn each_prompt_carries_its_own_client_msg_id() {
    let ctl = Ctl::new();
    let id = ctl.ok(&["prompt", "--detach", "first"]).trim().to_owned();
    // Let the detached turn end: a prompt to a working session is refused.
    let out = ctl.run_within_wait(&["attach", &id, "--until-idle", "-o", "final"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = ctl.run(&["prompt", "--session", &id, "first"]);
    assert!(out.status.success(), "{}", describe(&out));
    let messages = ctl.ok(&["messages", &id, "--json"]);
    let sent: Vec<String> = messages
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|m| m["role"] == "user")
        .map(|m| {
            m["client_msg_id"]
                .as_str()
                .unwrap_or_else(|| panic!("no client_msg_id on {m}"))
                .to_owned()
        })
        .collect();
    assert_eq!(sent.len(), 2, "the same text twice is two sends");
    assert_ne!(sent[0], sent[1]);
    assert!(sent.iter().all(|id| id.len() == 36), "{sent:?}");
}

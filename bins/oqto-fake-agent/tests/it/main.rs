//! Runs the real `oqto-fake-agent` binary and talks the native harness sub-protocol to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use oqto_ipc::spawn::{Spawn, terminate_blocking};
use oqto_protocol::{
    AgentMessage, AgentReply, ErrorCode, EventKind, Message, ModelRef, Part, Phase, Role, State,
    StopReason, ToolStatus,
};
use oqto_testkit::{TestEnv, wait_until};

/// How long any one expected line or exit may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// A running fake agent.
struct Agent {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    _env: TestEnv,
}

impl Agent {
    fn start(args: &[&str]) -> Self {
        let env = TestEnv::new();
        let mut child = Spawn::new(env!("CARGO_BIN_EXE_oqto-fake-agent"))
            .args(args)
            .envs(env.vars())
            .current_dir(env.work())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oqto-fake-agent");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Agent {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
            _env: env,
        }
    }

    /// Starts an agent and initializes it; returns the `ready` reply.
    fn ready(args: &[&str]) -> (Self, AgentReply) {
        let mut agent = Self::start(args);
        let ready = agent.init("");
        (agent, ready)
    }

    /// Sends `init` with `extra` fields (`,"resume":"…"`) and returns the `ready` reply.
    fn init(&mut self, extra: &str) -> AgentReply {
        self.send(&format!(
            r#"{{"id":"init","type":"init","protocol":1,"session":"ses_test","cwd":"/tmp"{extra}}}"#
        ));
        self.reply("init")
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to agent");
        stdin.flush().expect("flush");
    }

    /// Closes the agent's stdin.
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line, which must parse as an `AgentMessage`.
    fn next(&mut self) -> AgentMessage {
        match self.lines.recv_timeout(DEADLINE) {
            Ok(line) => AgentMessage::parse(&line)
                .unwrap_or_else(|e| panic!("not an AgentMessage ({e}): {line}")),
            Err(RecvTimeoutError::Timeout) => panic!("no line within {DEADLINE:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("stdout closed; stderr: {}", self.stderr_text())
            }
        }
    }

    /// Lines up to and including the first for which `stop` is true.
    fn until(&mut self, mut stop: impl FnMut(&AgentMessage) -> bool) -> Vec<AgentMessage> {
        let mut seen = Vec::new();
        loop {
            let msg = self.next();
            let done = stop(&msg);
            seen.push(msg);
            if done {
                return seen;
            }
        }
    }

    /// Lines up to and including the `state idle` that ends a turn.
    fn turn(&mut self) -> Vec<AgentMessage> {
        self.until(is_idle)
    }

    /// The `ok` for request `id` (skipping events before it); panics on an `error`.
    fn reply(&mut self, id: &str) -> AgentReply {
        let seen = self.until(|m| responds_to(m, id));
        match seen.into_iter().last() {
            Some(AgentMessage::Ok(ok)) => ok.result,
            other => panic!("expected ok for {id}, got {other:?}"),
        }
    }

    /// The `error` for request `id`; panics on an `ok`.
    fn error(&mut self, id: &str) -> ErrorCode {
        let seen = self.until(|m| responds_to(m, id));
        match seen.into_iter().last() {
            Some(AgentMessage::Error(e)) => {
                assert!(!e.message.is_empty());
                e.code
            }
            other => panic!("expected error for {id}, got {other:?}"),
        }
    }

    /// Every remaining line until stdout closes.
    fn rest(&mut self) -> Vec<AgentMessage> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(DEADLINE) {
                Ok(line) => seen.push(AgentMessage::parse(&line).expect("AgentMessage")),
                Err(RecvTimeoutError::Disconnected) => return seen,
                Err(RecvTimeoutError::Timeout) => panic!("stdout still open after {DEADLINE:?}"),
            }
        }
    }

    fn wait(&mut self) -> ExitStatus {
        let mut status = None;
        let exited = wait_until(DEADLINE, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        assert!(exited, "agent did not exit within {DEADLINE:?}");
        status.expect("status")
    }

    fn stderr_text(&mut self) -> String {
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stdin = None;
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = terminate_blocking(&mut self.child, Duration::from_secs(2));
        }
    }
}

fn responds_to(msg: &AgentMessage, id: &str) -> bool {
    match msg {
        AgentMessage::Ok(ok) => ok.id.as_str() == id,
        AgentMessage::Error(e) => e.id.as_ref().is_some_and(|i| i.as_str() == id),
        AgentMessage::Event(_) => false,
    }
}

fn is_idle(msg: &AgentMessage) -> bool {
    matches!(
        msg,
        AgentMessage::Event(EventKind::State {
            state: State::Idle,
            ..
        })
    )
}

fn is_delta(msg: &AgentMessage) -> bool {
    matches!(msg, AgentMessage::Event(EventKind::PartDelta { .. }))
}

/// Each line's `type` (`ok`, `error`, or the event name).
fn names(msgs: &[AgentMessage]) -> Vec<&'static str> {
    msgs.iter()
        .map(|m| match m {
            AgentMessage::Ok(_) => "ok",
            AgentMessage::Error(_) => "error",
            AgentMessage::Event(kind) => kind.name(),
        })
        .collect()
}

/// The completed messages, in order.
fn messages(msgs: &[AgentMessage]) -> Vec<Message> {
    msgs.iter()
        .filter_map(|m| match m {
            AgentMessage::Event(EventKind::MessageEnd { message }) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// The text of a message's text parts.
fn text(message: &Message) -> String {
    message
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// The concatenated deltas streamed into part `part`.
fn streamed(msgs: &[AgentMessage], part: &str) -> String {
    msgs.iter()
        .filter_map(|m| match m {
            AgentMessage::Event(EventKind::PartDelta { part_id, delta, .. })
                if part_id.as_str() == part =>
            {
                Some(delta.as_str())
            }
            _ => None,
        })
        .collect()
}

fn states(msgs: &[AgentMessage]) -> Vec<(State, Option<Phase>)> {
    msgs.iter()
        .filter_map(|m| match m {
            AgentMessage::Event(EventKind::State { state, phase, .. }) => Some((*state, *phase)),
            _ => None,
        })
        .collect()
}

/// (role, text) of each completed message.
fn transcript(msgs: &[AgentMessage]) -> Vec<(Role, String)> {
    messages(msgs).iter().map(|m| (m.role, text(m))).collect()
}

fn queue_updates(msgs: &[AgentMessage]) -> Vec<(Vec<String>, Vec<String>)> {
    msgs.iter()
        .filter_map(|m| match m {
            AgentMessage::Event(EventKind::QueueUpdate {
                steering,
                follow_up,
            }) => Some((steering.clone(), follow_up.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn init_answers_ready() {
    let (mut agent, ready) = Agent::ready(&[]);
    let AgentReply::Ready {
        agent: name,
        capabilities,
        model,
        resume,
    } = ready
    else {
        panic!("not ready: {ready:?}");
    };
    assert_eq!(
        name,
        format!("oqto-fake-agent/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        serde_json::to_value(&capabilities).expect("serialize"),
        serde_json::json!([
            "steer",
            "follow_up",
            "compact",
            "models",
            "thinking",
            "fork"
        ])
    );
    assert_eq!(
        model,
        Some(ModelRef {
            provider: "fake".into(),
            id: "fake-model".into()
        })
    );
    assert_eq!(resume.as_deref(), Some("fake:0:0:0"));
    agent.send(r#"{"id":"again","type":"init","protocol":1,"session":"s","cwd":"/"}"#);
    assert_eq!(agent.error("again"), ErrorCode::InvalidState, "second init");
}

#[test]
fn init_takes_name_and_model() {
    let mut agent = Agent::start(&["--name", "probe"]);
    let ready = agent.init(r#","model":{"provider":"anthropic","id":"claude-sonnet-4"}"#);
    let AgentReply::Ready {
        agent: name, model, ..
    } = ready
    else {
        panic!("not ready");
    };
    assert!(name.starts_with("probe/"), "{name}");
    assert_eq!(model.map(|m| m.id).as_deref(), Some("claude-sonnet-4"));
}

#[test]
fn init_refuses_other_protocol_versions_and_bad_tokens() {
    let mut agent = Agent::start(&[]);
    agent.send(r#"{"id":"a","type":"init","protocol":99,"session":"s","cwd":"/"}"#);
    assert_eq!(agent.error("a"), ErrorCode::ProtocolMismatch);
    agent.send(r#"{"id":"b","type":"init","protocol":1,"session":"s","cwd":"/","resume":"pi:x"}"#);
    assert_eq!(agent.error("b"), ErrorCode::BadRequest);
    assert!(matches!(agent.init(""), AgentReply::Ready { .. }));
}

#[test]
fn commands_before_init_are_invalid_state() {
    let mut agent = Agent::start(&[]);
    agent.send(r#"{"id":"1","type":"prompt","text":"hi"}"#);
    assert_eq!(agent.error("1"), ErrorCode::InvalidState);
    agent.send(r#"{"id":"2","type":"get_models"}"#);
    assert_eq!(agent.error("2"), ErrorCode::InvalidState);
    assert!(matches!(agent.init(""), AgentReply::Ready { .. }));
}

#[test]
fn echo_turn_streams_deltas_and_ends_idle() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"hello world"}"#);
    assert_eq!(agent.next(), ok_empty("p"));
    let turn = agent.turn();
    assert_eq!(
        states(&turn),
        [
            (State::Working, Some(Phase::Generating)),
            (State::Idle, None)
        ]
    );
    assert_eq!(
        names(&turn),
        [
            "state",
            "message.start",
            "part.start",
            "part.end",
            "message.end",
            "message.start",
            "part.start",
            "part.delta",
            "part.delta",
            "part.delta",
            "part.delta",
            "part.delta",
            "part.end",
            "message.end",
            "state"
        ]
    );
    let done = messages(&turn);
    assert_eq!(done.len(), 2);
    let (user, reply) = (&done[0], &done[1]);
    assert_eq!((user.id.as_str(), user.role), ("m1", Role::User));
    assert_eq!(user.session.as_str(), "ses_test");
    assert_eq!(text(user), "hello world");
    assert_eq!(user.parts[0].id().as_str(), "p1");
    assert!(user.created_at > 1_600_000_000_000);
    assert_eq!((reply.id.as_str(), reply.role), ("m2", Role::Assistant));
    assert_eq!(text(reply), "echo: hello world");
    assert_eq!(streamed(&turn, "p2"), "echo: hello world");
    assert_eq!(reply.stop_reason, Some(StopReason::Stop));
    assert!(
        reply
            .usage
            .as_ref()
            .is_some_and(|u| u.input == 2 && u.output > 0)
    );
    assert_eq!(
        reply.model.as_ref().map(|m| m.id.as_str()),
        Some("fake-model")
    );
    let part_end = turn.iter().find_map(|m| match m {
        AgentMessage::Event(EventKind::PartEnd { part, .. }) if part.id().as_str() == "p2" => {
            Some(part.clone())
        }
        _ => None,
    });
    assert_eq!(part_end.as_ref(), reply.parts.first());
}

#[test]
fn deltas_and_stream_scripts() {
    let (mut agent, _) = Agent::ready(&["--deltas", "2"]);
    agent.send(r#"{"id":"1","type":"prompt","text":"abcd"}"#);
    let turn = agent.turn();
    assert_eq!(turn.iter().filter(|m| is_delta(m)).count(), 2);
    agent.send(r#"{"id":"2","type":"prompt","text":"stream:30@1"}"#);
    let turn = agent.turn();
    let deltas: Vec<&str> = turn
        .iter()
        .filter_map(|m| match m {
            AgentMessage::Event(EventKind::PartDelta { delta, .. }) => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas.len(), 30);
    assert_eq!((deltas[0], deltas[29]), ("w1 ", "w30 "));
    assert_eq!(text(&messages(&turn)[1]), deltas.concat());
}

#[test]
fn tool_turn_runs_the_tool() {
    let (mut agent, _) = Agent::ready(&["--deltas", "1"]);
    agent.send(r#"{"id":"t","type":"prompt","text":"tool:bash {\"command\":\"ls -la\"}"}"#);
    assert_eq!(agent.next(), ok_empty("t"));
    let turn = agent.turn();
    assert_eq!(
        names(&turn),
        [
            "state",
            "message.start",
            "part.start",
            "part.end",
            "message.end",
            "message.start",
            "part.start",
            "part.delta",
            "part.end",
            "message.end",
            "state",
            "tool.start",
            "tool.output",
            "tool.output",
            "tool.end",
            "state",
            "message.start",
            "part.start",
            "part.delta",
            "part.end",
            "message.end",
            "state"
        ]
    );
    assert_eq!(
        states(&turn),
        [
            (State::Working, Some(Phase::Generating)),
            (State::Working, Some(Phase::ToolRunning)),
            (State::Working, Some(Phase::Generating)),
            (State::Idle, None)
        ]
    );
    let done = messages(&turn);
    let call = &done[1];
    assert_eq!(call.stop_reason, Some(StopReason::ToolUse));
    let Part::ToolCall {
        name,
        input,
        status,
        ..
    } = &call.parts[0]
    else {
        panic!("not a tool call: {call:?}");
    };
    assert_eq!((name.as_str(), *status), ("bash", ToolStatus::Pending));
    assert_eq!(input, &serde_json::json!({"command": "ls -la"}));
    assert_eq!(streamed(&turn, "p2"), r#"{"command":"ls -la"}"#);
    let outputs: String = turn
        .iter()
        .filter_map(|m| match m {
            AgentMessage::Event(EventKind::ToolOutput { delta, .. }) => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    let end = turn.iter().find_map(|m| match m {
        AgentMessage::Event(EventKind::ToolEnd { message_id, part }) => {
            Some((message_id.clone(), part.clone()))
        }
        _ => None,
    });
    let Some((
        message_id,
        Part::ToolCall {
            status,
            output,
            is_error,
            call_id,
            ..
        },
    )) = end
    else {
        panic!("no tool.end with a tool call");
    };
    assert_eq!(message_id, call.id);
    assert_eq!(status, ToolStatus::Done);
    assert_eq!(output.as_deref(), Some(outputs.as_str()));
    assert!(!is_error);
    assert!(!call_id.is_empty());
    assert_eq!(text(&done[2]), "done: bash");
    assert_eq!(done[2].stop_reason, Some(StopReason::Stop));
}

#[test]
fn think_streams_a_thinking_part_first() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"1","type":"prompt","text":"think"}"#);
    let turn = agent.turn();
    assert_eq!(
        states(&turn),
        [
            (State::Working, Some(Phase::Generating)),
            (State::Working, Some(Phase::Thinking)),
            (State::Working, Some(Phase::Generating)),
            (State::Idle, None)
        ]
    );
    let reply = &messages(&turn)[1];
    assert!(matches!(&reply.parts[0], Part::Thinking { text, .. } if !text.is_empty()));
    assert_eq!(text(reply), "echo: think");
}

#[test]
fn abort_mid_stream_ends_the_message_aborted() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"slow"}"#);
    let mut seen = agent.until(is_delta);
    agent.send(r#"{"id":"a","type":"abort"}"#);
    seen.extend(agent.until(|m| responds_to(m, "a")));
    assert_eq!(seen.last(), Some(&ok_empty("a")));
    let n = seen.len();
    assert!(is_idle(&seen[n - 2]), "idle before the abort's ok");
    let reply = messages(&seen).pop().expect("assistant message");
    assert_eq!(reply.stop_reason, Some(StopReason::Aborted));
    assert_eq!(text(&reply), streamed(&seen, "p2"));
    assert!(seen.iter().filter(|m| is_delta(m)).count() < 200);
    // The agent is idle again: a new turn works.
    agent.send(r#"{"id":"q","type":"prompt","text":"again"}"#);
    let turn = agent.turn();
    assert_eq!(text(&messages(&turn)[1]), "echo: again");
}

#[test]
fn abort_while_idle_is_ok() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"a","type":"abort"}"#);
    assert_eq!(agent.next(), ok_empty("a"));
}

#[test]
fn steer_mid_stream_interrupts_the_reply() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"slow"}"#);
    let mut seen = agent.until(is_delta);
    agent.send(r#"{"id":"s","type":"steer","text":"turn left"}"#);
    seen.extend(agent.turn());
    assert!(seen.contains(&ok_empty("s")));
    assert_eq!(
        transcript(&seen)
            .into_iter()
            .map(|(role, text)| (role, text.split(' ').next().unwrap_or("").to_owned()))
            .collect::<Vec<_>>(),
        [
            (Role::User, "slow".to_owned()),
            (Role::Assistant, "w1".to_owned()),
            (Role::User, "turn".to_owned()),
            (Role::Assistant, "echo:".to_owned()),
        ]
    );
    let done = messages(&seen);
    assert_eq!(done[1].stop_reason, Some(StopReason::Stop));
    assert!(text(&done[1]).len() < "w1 ".len() * 200, "cut short");
    assert_eq!(text(&done[2]), "turn left");
    assert_eq!(text(&done[3]), "echo: turn left");
    assert_eq!(
        queue_updates(&seen),
        [(vec!["turn left".to_owned()], vec![]), (vec![], vec![])]
    );
    assert_eq!(seen.iter().filter(|m| is_idle(m)).count(), 1);
}

#[test]
fn follow_up_runs_after_the_reply_in_the_same_turn() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"stream:20@50"}"#);
    let mut seen = agent.until(is_delta);
    agent.send(r#"{"id":"f","type":"follow_up","text":"and then"}"#);
    seen.extend(agent.turn());
    assert!(seen.contains(&ok_empty("f")));
    let done = messages(&seen);
    assert_eq!(done.len(), 4);
    assert_eq!(done[1].stop_reason, Some(StopReason::Stop));
    assert_eq!(
        text(&done[1]).split_whitespace().count(),
        20,
        "not cut short"
    );
    assert_eq!(text(&done[2]), "and then");
    assert_eq!(text(&done[3]), "echo: and then");
    assert_eq!(
        queue_updates(&seen),
        [(vec![], vec!["and then".to_owned()]), (vec![], vec![])]
    );
    assert_eq!(seen.iter().filter(|m| is_idle(m)).count(), 1);
}

#[test]
fn texts_queued_while_idle_wait_for_the_next_prompt() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"f","type":"follow_up","text":"later"}"#);
    assert_eq!(agent.next(), ok_empty("f"));
    assert!(matches!(
        agent.next(),
        AgentMessage::Event(EventKind::QueueUpdate { follow_up, .. }) if follow_up == ["later"]
    ));
    agent.send(r#"{"id":"p","type":"prompt","text":"now"}"#);
    let turn = agent.turn();
    let texts: Vec<String> = transcript(&turn).into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["now", "echo: now", "later", "echo: later"]);
}

#[test]
fn fail_reports_a_recoverable_error() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"fail:provider overloaded"}"#);
    assert_eq!(agent.next(), ok_empty("p"));
    let turn = agent.turn();
    assert!(turn.iter().any(|m| matches!(
        m,
        AgentMessage::Event(EventKind::Error { code: ErrorCode::HarnessFailed, message, recoverable: true })
            if message == "provider overloaded"
    )));
    let reply = messages(&turn).pop().expect("reply");
    assert_eq!(reply.stop_reason, Some(StopReason::Error));
    assert!(
        matches!(&reply.parts[..], [Part::Error { message, .. }] if message == "provider overloaded")
    );
    assert!(is_idle(turn.last().expect("lines")));
}

#[test]
fn crash_exits_with_its_code_and_explains_on_stderr() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"crash:7"}"#);
    let rest = agent.rest();
    assert!(!rest.iter().any(is_idle), "no idle after a crash: {rest:?}");
    assert_eq!(agent.wait().code(), Some(7));
    assert!(agent.stderr_text().contains("fake agent crashing as asked"));

    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"crash"}"#);
    assert_eq!(agent.wait().code(), Some(3));
}

#[test]
fn hang_writes_nothing_more_until_eof() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"hang"}"#);
    agent.send(r#"{"id":"m","type":"get_models"}"#);
    agent.close_stdin();
    let rest = agent.rest();
    assert_eq!(names(&rest), ["ok", "state"], "{rest:?}");
    assert!(agent.wait().success());
}

#[test]
fn prompt_during_a_turn_is_invalid_state() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"slow"}"#);
    agent.until(is_delta);
    agent.send(r#"{"id":"p2","type":"prompt","text":"me too"}"#);
    assert_eq!(agent.error("p2"), ErrorCode::InvalidState);
    agent.send(r#"{"id":"c","type":"compact"}"#);
    assert_eq!(agent.error("c"), ErrorCode::InvalidState);
    agent.send(r#"{"id":"a","type":"abort"}"#);
    assert_eq!(agent.reply("a"), AgentReply::Empty);
}

#[test]
fn junk_lines_get_errors_and_the_agent_lives_on() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send("this is not json");
    let AgentMessage::Error(e) = agent.next() else {
        panic!("expected an error line");
    };
    assert_eq!((e.id, e.code), (None, ErrorCode::BadRequest));
    agent.send(r#"{"id":"7","type":"prompt"}"#);
    assert_eq!(agent.error("7"), ErrorCode::BadRequest);
    agent.send(r#"{"id":"8","type":"dance"}"#);
    assert_eq!(agent.error("8"), ErrorCode::UnknownCommand);
    agent.send(r#"{"id":"9","type":"prompt","text":"still here?"}"#);
    let turn = agent.turn();
    assert_eq!(text(&messages(&turn)[1]), "echo: still here?");
}

#[test]
fn models_can_be_listed_and_switched() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"g","type":"get_models"}"#);
    let AgentReply::Models { models } = agent.reply("g") else {
        panic!("not models");
    };
    let ids: Vec<(&str, &str)> = models
        .iter()
        .map(|m| (m.provider.as_str(), m.id.as_str()))
        .collect();
    assert_eq!(ids, [("fake", "fake-model"), ("fake", "fake-model-2")]);

    agent.send(r#"{"id":"s","type":"set_model","provider":"fake","model":"fake-model-2"}"#);
    let changed = agent.next();
    assert!(matches!(
        changed,
        AgentMessage::Event(EventKind::ModelChanged { ref model, .. }) if model.id == "fake-model-2"
    ));
    assert!(matches!(agent.next(), AgentMessage::Ok(ok) if matches!(
        &ok.result, AgentReply::Model { model } if model.id == "fake-model-2"
    )));
    agent.send(r#"{"id":"u","type":"set_model","model":"gpt-5"}"#);
    assert_eq!(agent.error("u"), ErrorCode::BadRequest);
    agent.send(r#"{"id":"w","type":"set_model","provider":"other","model":"fake-model"}"#);
    assert_eq!(agent.error("w"), ErrorCode::BadRequest);
    agent.send(r#"{"id":"t","type":"set_thinking_level","level":"high"}"#);
    assert_eq!(agent.reply("t"), AgentReply::Empty);

    agent.send(r#"{"id":"p","type":"prompt","text":"hi"}"#);
    let reply = messages(&agent.turn()).pop().expect("reply");
    assert_eq!(reply.model.map(|m| m.id).as_deref(), Some("fake-model-2"));
}

#[test]
fn compact_summarises() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"hi"}"#);
    agent.turn();
    agent.send(r#"{"id":"c","type":"compact","instructions":"keep it short"}"#);
    let seen = agent.until(|m| responds_to(m, "c"));
    assert_eq!(
        names(&seen),
        ["state", "compaction.start", "compaction.end", "state", "ok"]
    );
    assert_eq!(
        states(&seen),
        [
            (State::Working, Some(Phase::Compacting)),
            (State::Idle, None)
        ]
    );
    let Some(AgentMessage::Ok(ok)) = seen.last() else {
        panic!("no ok");
    };
    assert_eq!(
        ok.result,
        AgentReply::Compacted {
            summary: "SUMMARY: 2 messages".into(),
            tokens_before: Some(200)
        }
    );
    assert!(matches!(
        &seen[2],
        AgentMessage::Event(EventKind::CompactionEnd { aborted: false, summary: Some(s), .. })
            if s == "SUMMARY: 2 messages"
    ));
}

#[test]
fn fork_accepts_only_user_messages_it_has_seen() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"hi"}"#);
    agent.turn();
    agent.send(r#"{"id":"f","type":"fork","message_id":"m1"}"#);
    assert_eq!(
        agent.reply("f"),
        AgentReply::Forked {
            resume: "fake:1:2:2:fork:m1".into()
        }
    );
    agent.send(r#"{"id":"g","type":"fork","message_id":"m2"}"#);
    assert_eq!(
        agent.error("g"),
        ErrorCode::MessageNotFound,
        "an assistant message"
    );
    agent.send(r#"{"id":"h","type":"fork","message_id":"m9"}"#);
    assert_eq!(agent.error("h"), ErrorCode::MessageNotFound);
}

#[test]
fn resume_token_continues_the_labels() {
    let (mut first, _) = Agent::ready(&[]);
    first.send(r#"{"id":"p","type":"prompt","text":"tool:read"}"#);
    let turn = first.turn();
    let last = messages(&turn).pop().expect("messages");
    first.send(r#"{"id":"f","type":"fork","message_id":"m1"}"#);
    let AgentReply::Forked { resume } = first.reply("f") else {
        panic!("not forked");
    };
    assert_eq!(last.id.as_str(), "m3");
    assert_eq!(resume, "fake:1:3:3:fork:m1");

    let mut second = Agent::start(&[]);
    let ready = second.init(&format!(r#","resume":"{resume}""#));
    let AgentReply::Ready { resume: again, .. } = ready else {
        panic!("not ready");
    };
    assert_eq!(again.as_deref(), Some("fake:1:3:3"));
    second.send(r#"{"id":"p","type":"prompt","text":"hi"}"#);
    let done = messages(&second.turn());
    let labels: Vec<(&str, &str)> = done
        .iter()
        .map(|m| (m.id.as_str(), m.parts[0].id().as_str()))
        .collect();
    assert_eq!(labels, [("m4", "p4"), ("m5", "p5")]);
    second.send(r#"{"id":"f","type":"fork","message_id":"m4"}"#);
    assert_eq!(
        second.reply("f"),
        AgentReply::Forked {
            resume: "fake:2:5:5:fork:m4".into()
        }
    );
}

#[test]
fn eof_exits_zero() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.close_stdin();
    assert!(agent.rest().is_empty());
    assert!(agent.wait().success());

    // Even in the middle of a turn.
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"p","type":"prompt","text":"slow"}"#);
    agent.until(is_delta);
    agent.close_stdin();
    let rest = agent.rest();
    assert!(!rest.iter().any(is_idle));
    assert!(agent.wait().success());

    // And before init.
    let mut agent = Agent::start(&[]);
    agent.close_stdin();
    assert!(agent.wait().success());
}

#[test]
fn shutdown_answers_and_exits_zero() {
    let (mut agent, _) = Agent::ready(&[]);
    agent.send(r#"{"id":"x","type":"shutdown"}"#);
    assert_eq!(agent.rest(), [ok_empty("x")]);
    assert!(agent.wait().success());
}

#[test]
fn every_line_is_one_agent_message() {
    // `next` already parses every line strictly; this checks the raw bytes: compact JSON,
    // one object per line, `type` first-class.
    let (mut agent, _) = Agent::ready(&["--deltas", "3"]);
    agent.send(r#"{"id":"p","type":"prompt","text":"tool:x [1,\"a\\nb\"]"}"#);
    let mut lines = Vec::new();
    loop {
        let line = agent.lines.recv_timeout(DEADLINE).expect("a line");
        let idle = line.contains(r#""state":"idle""#);
        lines.push(line);
        if idle {
            break;
        }
    }
    assert!(lines.len() > 10);
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert!(
            value.get("type").is_some_and(serde_json::Value::is_string),
            "{line}"
        );
        let parsed = AgentMessage::parse(line).expect("AgentMessage");
        assert_eq!(&parsed.to_line(), line, "round trip");
    }
}

fn ok_empty(id: &str) -> AgentMessage {
    AgentMessage::Ok(oqto_protocol::AgentOk {
        id: id.into(),
        result: AgentReply::Empty,
    })
}

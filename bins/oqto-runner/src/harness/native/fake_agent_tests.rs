//! The adapter driving the real `oqto-fake-agent` binary through a pipe, the way the
//! session actor will: every [`Output::Write`] goes to the agent's stdin, every stdout line
//! goes to [`Adapter::feed`].
//!
//! The binary is found as the runner finds it (`resolve_fake_agent`: next to the test
//! executable, one directory up from `deps/`). `cargo test --workspace` builds it; with
//! `cargo test -p oqto-runner` alone, build it first (`cargo build -p oqto-fake-agent`).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oqto_ipc::spawn::{Spawn, terminate_blocking};
use oqto_protocol::{
    Capability, ErrorCode, EventKind, MessageId, ModelRef, Part, Role, SessionId, State, StopReason,
};
use oqto_testkit::{TestEnv, wait_until};

use super::NativeAdapter;
use crate::config::{Environment, resolve_fake_agent};
use crate::harness::adapter::{
    Adapter, Done, ModelChoice, Op, OpError, Output, Ready, StartSpec, Token,
};
use crate::ids::RunnerIds;

/// How long any one expected output, or the exit, may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// The fake agent built next to this test executable.
fn fake_agent() -> PathBuf {
    // Without PATH: the binary built from this workspace, never an installed one.
    let env = Environment::capture().without_var("PATH");
    match resolve_fake_agent(None, &env) {
        Ok(program) => program.path,
        Err(missing) => panic!(
            "{missing}: build it with `cargo build -p oqto-fake-agent` \
             (`cargo test --workspace` builds it)"
        ),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One fake agent process and its adapter.
struct Agent {
    adapter: NativeAdapter<RunnerIds>,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    env: TestEnv,
}

impl Agent {
    /// Spawns the agent and writes the handshake for `spec` (`cwd` is filled in).
    fn start(resume: Option<String>, model: Option<ModelChoice>) -> Self {
        let env = TestEnv::new();
        let mut child = Spawn::new(fake_agent())
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
        let mut agent = Agent {
            adapter: NativeAdapter::new(SessionId::new("ses_fake_test"), RunnerIds::new()),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
            env,
        };
        let spec = StartSpec {
            cwd: agent.env.work().display().to_string(),
            resume,
            model,
            ..StartSpec::default()
        };
        let handshake = agent.adapter.start(&spec);
        let rest = agent.apply(handshake);
        assert!(rest.is_empty(), "{rest:?}");
        agent
    }

    /// Writes the lines among `outputs`; returns the others.
    fn apply(&mut self, outputs: Vec<Output>) -> Vec<Output> {
        let mut rest = Vec::new();
        for output in outputs {
            match output {
                Output::Write(line) => self.write(&line),
                other => rest.push(other),
            }
        }
        rest
    }

    fn write(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to agent");
        stdin.flush().expect("flush");
    }

    /// Feeds stdout lines to the adapter until an output satisfies `stop`; returns every
    /// output but the writes (which it carries out), the one that stopped included.
    fn until(&mut self, mut stop: impl FnMut(&Output) -> bool) -> Vec<Output> {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("nothing expected within {DEADLINE:?}; so far: {seen:?}")
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "stdout closed; so far: {seen:?}; stderr: {}",
                    self.stderr_text()
                ),
            };
            let outputs = self.adapter.feed(&line, now());
            for output in self.apply(outputs) {
                let done = stop(&output);
                seen.push(output);
                if done {
                    return seen;
                }
            }
        }
    }

    /// Every output until stdout closes.
    fn rest(&mut self) -> Vec<Output> {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let outputs = self.adapter.feed(&line, now());
                    seen.extend(self.apply(outputs));
                }
                Err(RecvTimeoutError::Disconnected) => return seen,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("stdout still open after {DEADLINE:?}; so far: {seen:?}")
                }
            }
        }
    }

    /// The outcome of the handshake.
    fn ready(&mut self) -> Result<Ready, String> {
        let seen = self.until(|o| matches!(o, Output::Ready(_) | Output::Failed(_)));
        match seen.into_iter().last() {
            Some(Output::Ready(ready)) => Ok(ready),
            Some(Output::Failed(why)) => Err(why),
            other => unreachable!("stopped on {other:?}"),
        }
    }

    /// Gives `op` to the adapter and writes its request; an immediate answer is returned.
    fn command(&mut self, token: Token, op: Op) -> Result<Vec<Output>, OpError> {
        let outputs = self.adapter.command(token, op)?;
        Ok(self.apply(outputs))
    }

    /// Sends `op` and waits for its answer; returns the outputs before it and the answer.
    fn call(&mut self, token: Token, op: Op) -> (Vec<Output>, Result<Done, OpError>) {
        let now = self.command(token, op).expect("accepted");
        assert!(now.is_empty(), "answered at once: {now:?}");
        let mut seen = self.until(|o| matches!(o, Output::Done { token: t, .. } if *t == token));
        let Some(Output::Done { result, .. }) = seen.pop() else {
            unreachable!()
        };
        (seen, result)
    }

    /// A prompt, through the `state idle` that ends its turn; `ok` must have come too.
    fn turn(&mut self, token: Token, text: &str) -> Vec<Output> {
        let prompt = Op::Prompt {
            text: text.into(),
            images: vec![],
        };
        let now = self.command(token, prompt).expect("accepted");
        assert!(now.is_empty(), "{now:?}");
        let seen = self.until(|o| {
            matches!(
                o,
                Output::Event(EventKind::State {
                    state: State::Idle,
                    ..
                })
            )
        });
        let answered = seen.iter().any(
            |o| matches!(o, Output::Done { token: t, result: Ok(Done::Empty) } if *t == token),
        );
        assert!(answered, "prompt not answered `empty`: {seen:?}");
        seen
    }

    /// `shutdown`, closed stdin, then the exit status.
    fn stop(&mut self) -> ExitStatus {
        for line in self.adapter.stop_lines() {
            self.write(&line);
        }
        self.stdin = None;
        self.exit()
    }

    fn exit(&mut self) -> ExitStatus {
        let mut status = None;
        let exited = wait_until(DEADLINE, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        assert!(exited, "the agent did not exit within {DEADLINE:?}");
        status.expect("exited")
    }

    /// Everything the agent wrote to stderr (stopping it first if it still runs).
    fn stderr_text(&mut self) -> String {
        self.stdin = None;
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = terminate_blocking(&mut self.child, Duration::from_secs(1));
        }
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stdin = None;
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = terminate_blocking(&mut self.child, Duration::from_secs(1));
        }
    }
}

/// The events among `outputs`.
fn events(outputs: &[Output]) -> Vec<&EventKind> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(kind) => Some(kind),
            _ => None,
        })
        .collect()
}

/// Every message and part id the events name; all must be runner ids.
fn assert_runner_ids(events: &[&EventKind]) {
    for kind in events {
        let (messages, parts): (Vec<&MessageId>, Vec<&str>) = match kind {
            EventKind::MessageStart { message_id, .. } => (vec![message_id], vec![]),
            EventKind::PartStart { message_id, part }
            | EventKind::PartEnd { message_id, part }
            | EventKind::ToolEnd { message_id, part } => {
                (vec![message_id], vec![part.id().as_str()])
            }
            EventKind::PartDelta {
                message_id,
                part_id,
                ..
            }
            | EventKind::ToolStart {
                message_id,
                part_id,
                ..
            }
            | EventKind::ToolOutput {
                message_id,
                part_id,
                ..
            } => (vec![message_id], vec![part_id.as_str()]),
            EventKind::MessageEnd { message } => {
                assert_eq!(message.session.as_str(), "ses_fake_test");
                (
                    vec![&message.id],
                    message.parts.iter().map(|p| p.id().as_str()).collect(),
                )
            }
            _ => continue,
        };
        for id in messages {
            assert!(id.as_str().starts_with("msg_"), "{kind:?}");
        }
        for id in parts {
            assert!(id.starts_with("prt_"), "{kind:?}");
        }
    }
}

/// The id of the message started with `role`.
fn started_with(events: &[&EventKind], role: Role) -> MessageId {
    events
        .iter()
        .find_map(|kind| match kind {
            EventKind::MessageStart {
                message_id,
                role: r,
                ..
            } if *r == role => Some(message_id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {role:?} message in {events:?}"))
}

fn fake_model(id: &str) -> ModelRef {
    ModelRef {
        provider: "fake".into(),
        id: id.into(),
    }
}

/// A ready agent asked for `fake-model-2` without a provider (set after `ready`).
fn ready_on_model_2() -> Agent {
    let wanted = ModelChoice {
        provider: None,
        model: "fake-model-2".into(),
    };
    let mut agent = Agent::start(None, Some(wanted));
    let ready = agent.ready().expect("ready");
    assert_eq!(
        ready.capabilities,
        Some(vec![
            Capability::Steer,
            Capability::FollowUp,
            Capability::Compact,
            Capability::Models,
            Capability::Thinking,
            Capability::Fork,
        ])
    );
    assert_eq!(ready.model, Some(fake_model("fake-model-2")));
    assert!(
        ready
            .resume
            .as_deref()
            .is_some_and(|r| r.starts_with("fake:")),
        "{ready:?}"
    );
    assert!(
        agent
            .adapter
            .agent()
            .is_some_and(|a| a.starts_with("oqto-fake-agent/")),
        "{:?}",
        agent.adapter.agent()
    );
    agent
}

/// A `stream:5` turn: runner ids everywhere, five deltas, idle at the end. Returns the
/// user and assistant message ids.
fn stream_turn(agent: &mut Agent, token: Token) -> (MessageId, MessageId) {
    let outputs = agent.turn(token, "stream:5");
    assert!(
        !outputs.iter().any(|o| matches!(o, Output::Warn(_))),
        "{outputs:?}"
    );
    let turn = events(&outputs);
    assert_runner_ids(&turn);
    let deltas: Vec<&str> = turn
        .iter()
        .filter_map(|kind| match kind {
            EventKind::PartDelta { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, ["w1 ", "w2 ", "w3 ", "w4 ", "w5 "]);
    assert!(matches!(
        turn.last(),
        Some(EventKind::State {
            state: State::Idle,
            ..
        })
    ));
    let user = started_with(&turn, Role::User);
    let assistant = started_with(&turn, Role::Assistant);
    assert_ne!(user, assistant);
    (user, assistant)
}

#[test]
fn fake_agent_streams_a_turn_and_answers_commands() {
    let mut agent = ready_on_model_2();
    let outputs = agent.turn(1, "stream:5");
    // The model set after `ready` is the one the turn runs on.
    let models: Vec<_> = events(&outputs)
        .iter()
        .filter_map(|kind| match kind {
            EventKind::MessageStart {
                role: Role::Assistant,
                model,
                ..
            } => model.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(models, [fake_model("fake-model-2")]);
    stream_turn(&mut agent, 2);

    // Models: the list, an unknown model refused with the agent's own code.
    let (_, models) = agent.call(3, Op::GetModels);
    let Ok(Done::Models(models)) = models else {
        panic!("{models:?}");
    };
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["fake-model", "fake-model-2"]);
    let unknown = ModelChoice {
        provider: None,
        model: "no-such-model".into(),
    };
    let (_, refused) = agent.call(4, Op::SetModel(unknown));
    assert_eq!(refused.unwrap_err().code, ErrorCode::BadRequest);

    // Compaction: its events, then the answer (four messages so far).
    let (before, compacted) = agent.call(5, Op::Compact { instructions: None });
    assert_eq!(
        compacted,
        Ok(Done::Compacted {
            summary: "SUMMARY: 4 messages".into(),
            tokens_before: Some(400),
        })
    );
    assert!(
        events(&before)
            .iter()
            .any(|kind| matches!(kind, EventKind::CompactionEnd { .. })),
        "{before:?}"
    );

    // Rename needs no agent.
    let renamed = agent.command(6, Op::Rename { title: "t".into() });
    assert_eq!(
        renamed,
        Ok(vec![Output::Done {
            token: 6,
            result: Ok(Done::Empty),
        }])
    );
    assert!(agent.stop().success());
}

#[test]
fn fake_agent_forks_and_a_new_process_resumes_the_branch() {
    let mut agent = ready_on_model_2();
    let (user, assistant) = stream_turn(&mut agent, 1);
    // A message no process of ours named is refused at once.
    let unknown = Op::Fork {
        message_id: MessageId::new("msg_0000000000000000"),
        user_index: 0,
        text: "stream:5".into(),
    };
    assert_eq!(
        agent.command(2, unknown).unwrap_err().code,
        ErrorCode::MessageNotFound
    );
    // The assistant's message is known, but the agent forks only before user messages.
    let (_, refused) = agent.call(
        3,
        Op::Fork {
            message_id: assistant,
            user_index: 0,
            text: String::new(),
        },
    );
    assert_eq!(refused.unwrap_err().code, ErrorCode::MessageNotFound);
    // Fork before the user message: the agent gets its own label back.
    let (_, forked) = agent.call(
        4,
        Op::Fork {
            message_id: user.clone(),
            user_index: 0,
            text: "stream:5".into(),
        },
    );
    let Ok(Done::Forked { resume }) = forked else {
        panic!("{forked:?}");
    };
    assert!(resume.ends_with(":fork:m1"), "{resume}");
    assert!(agent.stop().success());

    // A new process continues the branch.
    let mut branch = Agent::start(Some(resume), None);
    let ready = branch.ready().expect("the fork's token is accepted");
    assert_eq!(ready.model, Some(fake_model("fake-model")));
    assert!(ready.resume.is_some(), "{ready:?}");
    let (branch_user, _) = stream_turn(&mut branch, 1);
    assert!(branch_user.as_str() > user.as_str(), "{branch_user} {user}");
    // Ids of the first process mean nothing to this one.
    let old = Op::Fork {
        message_id: user,
        user_index: 0,
        text: "stream:5".into(),
    };
    assert_eq!(
        branch.command(2, old).unwrap_err().code,
        ErrorCode::MessageNotFound
    );
    assert!(branch.stop().success());
}

#[test]
fn fake_agent_tool_call_keeps_one_id_per_part() {
    let model = ModelChoice {
        provider: Some("fake".into()),
        model: "fake-model".into(),
    };
    let mut agent = Agent::start(None, Some(model));
    let ready = agent.ready().expect("ready");
    assert_eq!(ready.model, Some(fake_model("fake-model")));
    let outputs = agent.turn(1, r#"tool:read {"path":"README.md"}"#);
    let turn = events(&outputs);
    assert_runner_ids(&turn);
    let tool_part = turn
        .iter()
        .find_map(|kind| match kind {
            EventKind::PartStart {
                message_id,
                part: Part::ToolCall { id, .. },
            } => Some((message_id.clone(), id.clone())),
            _ => None,
        })
        .expect("a tool call part");
    let mut tool_events = 0;
    for kind in &turn {
        let named = match kind {
            EventKind::ToolStart {
                message_id,
                part_id,
                ..
            }
            | EventKind::ToolOutput {
                message_id,
                part_id,
                ..
            } => (message_id.clone(), part_id.clone()),
            EventKind::ToolEnd { message_id, part } => (message_id.clone(), part.id().clone()),
            _ => continue,
        };
        assert_eq!(named, tool_part, "{kind:?}");
        tool_events += 1;
    }
    // tool.start, two tool.output, tool.end.
    assert_eq!(tool_events, 4, "{turn:?}");
    assert!(agent.stop().success());
}

#[test]
fn fake_agent_fail_script_reports_the_error_and_goes_idle() {
    let mut agent = Agent::start(None, None);
    agent.ready().expect("ready");
    let outputs = agent.turn(1, "fail:boom");
    let turn = events(&outputs);
    assert_runner_ids(&turn);
    assert!(
        turn.iter().any(|kind| matches!(
            kind,
            EventKind::Error { code: ErrorCode::HarnessFailed, message, recoverable: true }
                if message == "boom"
        )),
        "{turn:?}"
    );
    let failed = turn
        .iter()
        .find_map(|kind| match kind {
            EventKind::MessageEnd { message } if message.role == Role::Assistant => Some(message),
            _ => None,
        })
        .expect("the assistant message");
    assert_eq!(failed.stop_reason, Some(StopReason::Error));
    assert!(
        matches!(&failed.parts[..], [Part::Error { message, .. }] if message == "boom"),
        "{failed:?}"
    );
    // The session is usable after a recoverable failure.
    let outputs = agent.turn(2, "stream:1");
    assert!(
        events(&outputs)
            .iter()
            .any(|kind| matches!(kind, EventKind::PartDelta { delta, .. } if delta == "w1 ")),
        "{outputs:?}"
    );
    assert!(agent.stop().success());
}

#[test]
fn fake_agent_crash_script_ends_mid_message() {
    let mut agent = Agent::start(None, None);
    agent.ready().expect("ready");
    let prompt = Op::Prompt {
        text: "crash:7".into(),
        images: vec![],
    };
    let now = agent.command(1, prompt).expect("accepted");
    assert!(now.is_empty());
    let outputs = agent.rest();
    assert!(
        outputs.iter().any(|o| matches!(
            o,
            Output::Done {
                token: 1,
                result: Ok(Done::Empty)
            }
        )),
        "{outputs:?}"
    );
    let turn = events(&outputs);
    assert_runner_ids(&turn);
    // The assistant message started and streamed one delta, then nothing: no idle.
    assert!(
        matches!(turn.last(), Some(EventKind::PartDelta { .. })),
        "{turn:?}"
    );
    let deltas = turn
        .iter()
        .filter(|kind| matches!(kind, EventKind::PartDelta { .. }))
        .count();
    assert_eq!(deltas, 1, "{turn:?}");
    started_with(&turn, Role::Assistant);
    assert!(
        !turn.iter().any(|kind| matches!(
            kind,
            EventKind::State {
                state: State::Idle,
                ..
            }
        )),
        "{turn:?}"
    );
    assert_eq!(agent.exit().code(), Some(7));
    let stderr = agent.stderr_text();
    assert!(stderr.contains("fake agent crashing as asked"), "{stderr}");
}

#[test]
fn fake_agent_refuses_a_resume_token_it_did_not_issue() {
    let mut agent = Agent::start(Some("not-a-fake-token".into()), None);
    let why = agent.ready().expect_err("refused");
    assert!(
        why.starts_with("agent refused init: bad_request: "),
        "{why}"
    );
    assert!(why.contains("not-a-fake-token"), "{why}");
    assert!(agent.stop().success());
}

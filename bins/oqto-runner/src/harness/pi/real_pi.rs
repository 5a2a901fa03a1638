//! End to end: the [`PiAdapter`] driving the real `pi --mode rpc` against the in-process fake
//! LLM, with a private `PI_CODING_AGENT_DIR` and HOME. A small synchronous loop plays the
//! session actor: it writes what the adapter asks for, feeds every stdout line to
//! [`Adapter::feed`], and calls [`Adapter::quiet`] when pi has been silent for 60 ms.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, ChildStdin};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use oqto_fake_llm_core::{Background, Config};
use oqto_ipc::spawn::terminate_blocking;
use oqto_protocol::{EventKind, ModelRef, Part, Role, SessionId, State, StopReason, ThinkingLevel};
use oqto_testkit::TestEnv;
use serde_json::{Value, json};

use super::PiAdapter;
use crate::harness::CountingIds;
use crate::harness::adapter::{
    Adapter, Done, ModelChoice, Op, OpError, Output, Ready, StartSpec, Token,
};

/// Silence after which the adapter is told pi is quiet (the actor uses about 50 ms).
const QUIET: Duration = Duration::from_millis(60);

/// The most any one step may take.
const STEP: Duration = Duration::from_secs(15);

/// The fake LLM and a private pi configuration.
struct Setup {
    _server: Background,
    env: TestEnv,
    agent_dir: PathBuf,
    project: PathBuf,
}

impl Setup {
    fn new() -> Self {
        let server = Background::start(Config {
            slow_delay: Duration::from_millis(100),
            ..Config::default()
        })
        .expect("start the fake LLM");
        let env = TestEnv::new();
        let agent_dir = env.root().join("pi-agent");
        oqto_fake_llm_core::write_pi_agent_dir(&agent_dir, &server.base_url()).unwrap();
        let project = env.work().join("project");
        std::fs::create_dir_all(&project).unwrap();
        Self {
            _server: server,
            env,
            agent_dir,
            project,
        }
    }

    fn spec(&self, resume: Option<&str>, model: Option<ModelChoice>) -> StartSpec {
        StartSpec {
            cwd: self.project.display().to_string(),
            resume: resume.map(str::to_owned),
            model,
            ..StartSpec::default()
        }
    }
}

/// One pi process and everything its adapter put out.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    adapter: PiAdapter<CountingIds>,
    next_token: Token,
    ready: Option<Ready>,
    events: Vec<EventKind>,
    titles: Vec<String>,
    warnings: Vec<String>,
    answers: HashMap<Token, Result<Done, OpError>>,
    /// Answers to `get_state` probes the test wrote itself (ids `probe-N`), by id.
    probes: HashMap<String, Value>,
    /// Every line pi wrote, for failure messages.
    log: Vec<String>,
    started: Instant,
}

impl Driver {
    /// Spawns pi for `spec` and runs the handshake until [`Output::Ready`].
    fn start(setup: &Setup, spec: &StartSpec) -> Self {
        let mut adapter = PiAdapter::new(SessionId::new("ses_e2e"), CountingIds::default());
        let crate::harness::pi::test_pi::RpcPi {
            child,
            stdin,
            lines,
        } = crate::harness::pi::test_pi::spawn(
            &setup.env,
            &setup.agent_dir,
            &setup.project,
            adapter.extra_args(spec),
        );
        let outputs = adapter.start(spec);
        let mut driver = Self {
            child,
            stdin,
            lines,
            adapter,
            next_token: 1,
            ready: None,
            events: Vec::new(),
            titles: Vec::new(),
            warnings: Vec::new(),
            answers: HashMap::new(),
            probes: HashMap::new(),
            log: Vec::new(),
            started: Instant::now(),
        };
        driver.apply(outputs);
        driver.pump("ready", |d| d.ready.is_some());
        driver
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn write(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to pi");
        self.stdin.flush().expect("flush pi's stdin");
    }

    fn apply(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Write(line) => self.write(&line),
                Output::Ready(ready) => {
                    assert!(self.ready.is_none(), "a second ready: {ready:?}");
                    self.ready = Some(ready);
                }
                Output::Failed(why) => panic!("the adapter failed: {why}\n{:#?}", self.log),
                Output::Event(event) => self.events.push(event),
                Output::Title(title) => self.titles.push(title),
                Output::Done { token, result } => {
                    let earlier = self.answers.insert(token, result);
                    assert!(earlier.is_none(), "token {token} answered twice");
                }
                Output::Warn(warning) => self.warnings.push(warning),
            }
        }
    }

    /// Reads pi's lines into the adapter until `done` holds.
    fn pump(&mut self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + STEP;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {what} within {STEP:?}; pi wrote: {:#?}",
                self.log
            );
            match self.lines.recv_timeout(QUIET.min(left)) {
                Ok(line) => {
                    self.log.push(line.clone());
                    let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                    if let Some(id) = value["id"].as_str().filter(|id| id.starts_with("probe-")) {
                        self.probes.insert(id.to_owned(), value["data"].clone());
                        continue;
                    }
                    let outputs = self.adapter.feed(&line, self.now());
                    self.apply(outputs);
                }
                Err(RecvTimeoutError::Timeout) => {
                    let outputs = self.adapter.quiet(self.now());
                    self.apply(outputs);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("pi closed stdout before {what}: {:#?}", self.log)
                }
            }
        }
    }

    /// Runs `op` to its answer.
    fn op(&mut self, op: Op) -> Result<Done, OpError> {
        let token = self.next_token;
        self.next_token += 1;
        let name = op.name();
        let outputs = self.adapter.command(token, op)?;
        self.apply(outputs);
        self.pump(&format!("answer to {name}"), |d| {
            d.answers.contains_key(&token)
        });
        self.answers.remove(&token).unwrap()
    }

    /// A prompt, until the session is idle again; returns the turn's events.
    fn turn(&mut self, text: &str) -> Vec<EventKind> {
        let from = self.events.len();
        let prompt = Op::Prompt {
            text: text.into(),
            images: vec![],
        };
        assert_eq!(self.op(prompt), Ok(Done::Empty));
        self.pump("idle after the turn", |d| {
            d.events[from..].iter().any(is_idle)
        });
        self.events[from..].to_vec()
    }

    /// pi's own `get_state`, written past the adapter.
    fn probe_state(&mut self) -> Value {
        let id = format!("probe-{}", self.probes.len() + 1);
        self.write(&json!({"id": id, "type": "get_state"}).to_string());
        self.pump("the get_state probe", |d| d.probes.contains_key(&id));
        self.probes[&id].clone()
    }

    fn stop(mut self) {
        terminate_blocking(&mut self.child, Duration::from_secs(5)).expect("terminate pi");
    }
}

fn is_idle(event: &EventKind) -> bool {
    matches!(
        event,
        EventKind::State {
            state: State::Idle,
            ..
        }
    )
}

fn model_changes(events: &[EventKind]) -> Vec<(ModelRef, Option<ThinkingLevel>)> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::ModelChanged {
                model,
                thinking_level,
            } => Some((model.clone(), *thinking_level)),
            _ => None,
        })
        .collect()
}

/// The text of the assistant messages that ended among `events`.
fn assistant_texts(events: &[EventKind]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::MessageEnd { message } if message.role == Role::Assistant => Some(
                message
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text { text, .. } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

fn demo(id: &str) -> ModelRef {
    ModelRef {
        provider: "demo".into(),
        id: id.into(),
    }
}

/// Runs `op` and returns its answer and the events it caused.
fn op_events(pi: &mut Driver, op: Op) -> (Result<Done, OpError>, Vec<EventKind>) {
    let from = pi.events.len();
    let result = pi.op(op);
    (result, pi.events[from..].to_vec())
}

#[test]
#[allow(clippy::too_many_lines)] // one session's story, step by step
fn real_pi_session_models_compaction_fork_and_resume() {
    let setup = Setup::new();

    // Handshake with a model named without provider: resolved, set, then ready.
    let spec = setup.spec(
        None,
        Some(ModelChoice {
            provider: None,
            model: "oqto-demo-2".into(),
        }),
    );
    let mut pi = Driver::start(&setup, &spec);
    let ready = pi.ready.clone().unwrap();
    assert_eq!(ready.model, Some(demo("oqto-demo-2")));
    assert_eq!(ready.thinking_level, Some(ThinkingLevel::Off));
    let original = ready.resume.clone().expect("pi's session file");
    assert_eq!(
        std::path::Path::new(&original)
            .extension()
            .and_then(|e| e.to_str()),
        Some("jsonl"),
        "{original}"
    );

    // A turn ends idle; its model is the one set, so no model.changed.
    let turn = pi.turn("hello world");
    assert_eq!(assistant_texts(&turn), ["echo: hello world"]);
    assert!(model_changes(&turn).is_empty(), "{turn:#?}");

    // The models.
    let Ok(Done::Models(models)) = pi.op(Op::GetModels) else {
        panic!("get_models failed")
    };
    let demo_model = models
        .iter()
        .find(|m| m.provider == "demo" && m.id == "oqto-demo")
        .expect("the demo model");
    assert!(demo_model.name.is_some() && demo_model.context_window.is_some());

    // set_model without provider, to a reasoning model: one model.changed, whatever level
    // pi clamps to on the switch.
    let (result, events) = op_events(
        &mut pi,
        Op::SetModel(ModelChoice {
            provider: None,
            model: "oqto-demo-think".into(),
        }),
    );
    let Ok(Done::Model(info)) = result else {
        panic!("set_model failed: {result:?}")
    };
    assert!(info.reasoning, "{info:?}");
    let changes = model_changes(&events);
    assert_eq!(changes.len(), 1, "{events:#?}");
    // pi moved the level from off to its default (`medium`) with a `thinking_level_changed`
    // before answering: that level is in the one event.
    assert_eq!(
        changes[0],
        (demo("oqto-demo-think"), Some(ThinkingLevel::Medium))
    );

    // A thinking level: one model.changed (pi's own event, translated), none for a repeat.
    let (result, events) = op_events(&mut pi, Op::SetThinkingLevel(ThinkingLevel::High));
    assert_eq!(result, Ok(Done::Empty));
    assert_eq!(
        model_changes(&events),
        [(demo("oqto-demo-think"), Some(ThinkingLevel::High))]
    );
    let (result, events) = op_events(&mut pi, Op::SetThinkingLevel(ThinkingLevel::High));
    assert_eq!(result, Ok(Done::Empty));
    assert!(model_changes(&events).is_empty(), "{events:#?}");

    // Back to the plain model: pi clamps the level to off on the way, still one event.
    let (result, events) = op_events(
        &mut pi,
        Op::SetModel(ModelChoice {
            provider: Some("demo".into()),
            model: "oqto-demo".into(),
        }),
    );
    assert!(matches!(result, Ok(Done::Model(ref m)) if m.id == "oqto-demo"));
    assert_eq!(
        model_changes(&events),
        [(demo("oqto-demo"), Some(ThinkingLevel::Off))]
    );
    // An unknown model.
    let refused = pi.op(Op::SetModel(ModelChoice {
        provider: None,
        model: "no-such-model".into(),
    }));
    assert_eq!(
        refused.unwrap_err().code,
        oqto_protocol::ErrorCode::BadRequest
    );

    let turn = pi.turn("second question");
    assert_eq!(assistant_texts(&turn), ["echo: second question"]);

    // Compaction.
    let compacted = pi.op(Op::Compact { instructions: None });
    let Ok(Done::Compacted {
        summary,
        tokens_before,
    }) = compacted
    else {
        panic!("compact failed: {compacted:?}")
    };
    assert!(summary.starts_with("SUMMARY:"), "{summary}");
    assert!(tokens_before.is_some());

    // Rename: pi echoes the name as a title.
    assert_eq!(
        pi.op(Op::Rename {
            title: "renamed".into()
        }),
        Ok(Done::Empty)
    );
    assert_eq!(pi.titles, ["renamed"]);

    // Fork before the second question: a new file with the first exchange only. pi writes
    // nothing but the responses while it forks and switches back.
    let (events_before, warnings_before) = (pi.events.len(), pi.warnings.len());
    let forked = pi.op(Op::Fork {
        message_id: oqto_protocol::MessageId("msg_2".into()),
        user_index: 1,
        text: "second question".into(),
    });
    let Ok(Done::Forked { resume: branch }) = forked else {
        panic!("fork failed: {forked:?}")
    };
    assert_ne!(branch, original);
    assert_eq!(
        pi.events.len(),
        events_before,
        "{:#?}",
        &pi.events[events_before..]
    );
    assert_eq!(pi.warnings.len(), warnings_before, "{:#?}", pi.warnings);
    let branch_text = std::fs::read_to_string(&branch).expect("the branch's file");
    assert!(branch_text.contains("hello world"));
    assert!(!branch_text.contains("second question"));

    // Fork before the first message: another new file.
    let forked = pi.op(Op::Fork {
        message_id: oqto_protocol::MessageId("msg_1".into()),
        user_index: 0,
        text: "hello world".into(),
    });
    let Ok(Done::Forked {
        resume: empty_branch,
    }) = forked
    else {
        panic!("fork failed: {forked:?}")
    };
    assert_ne!(empty_branch, original);
    assert_ne!(empty_branch, branch);
    // pi writes a session file at its first assistant message; this branch has none yet.
    assert!(!std::path::Path::new(&empty_branch).exists());

    // This pi is back on its own conversation.
    let state = pi.probe_state();
    assert_eq!(state["sessionFile"], json!(original));
    assert_eq!(state["sessionName"], "renamed");
    let turn = pi.turn("after the fork");
    assert_eq!(assistant_texts(&turn), ["echo: after the fork"]);
    let original_text = std::fs::read_to_string(&original).unwrap();
    assert!(original_text.contains("second question") && original_text.contains("after the fork"));
    assert!(
        !std::fs::read_to_string(&branch)
            .unwrap()
            .contains("after the fork")
    );
    assert!(pi.warnings.is_empty(), "{:#?}", pi.warnings);
    assert!(pi.adapter.stop_lines().is_empty(), "idle: nothing to abort");
    pi.stop();

    // Resume the original: same file, its name and model.
    let resumed = Driver::start(&setup, &setup.spec(Some(&original), None));
    let ready = resumed.ready.clone().unwrap();
    assert_eq!(ready.resume.as_deref(), Some(original.as_str()));
    assert_eq!(ready.title.as_deref(), Some("renamed"));
    assert_eq!(ready.model, Some(demo("oqto-demo")));
    resumed.stop();

    // Resume the branch: it holds the first exchange.
    let mut branched = Driver::start(&setup, &setup.spec(Some(&branch), None));
    assert_eq!(
        branched.ready.as_ref().unwrap().resume.as_deref(),
        Some(branch.as_str())
    );
    let state = branched.probe_state();
    assert_eq!(state["messageCount"], 2, "{state}");
    branched.stop();

    // Resume the empty branch (what the runner does after such a fork): pi starts an empty
    // conversation on that path, and its first turn creates the file.
    let mut empty = Driver::start(&setup, &setup.spec(Some(&empty_branch), None));
    assert_eq!(
        empty.ready.as_ref().unwrap().resume.as_deref(),
        Some(empty_branch.as_str())
    );
    let turn = empty.turn("fresh start");
    assert_eq!(assistant_texts(&turn), ["echo: fresh start"]);
    assert_eq!(empty.probe_state()["messageCount"], 2);
    assert!(std::path::Path::new(&empty_branch).exists());
    empty.stop();
}

#[test]
fn real_pi_stop_lines_abort_a_running_turn() {
    let setup = Setup::new();
    let mut pi = Driver::start(&setup, &setup.spec(None, None));
    assert_eq!(
        pi.op(Op::Prompt {
            text: "slow:100".into(),
            images: vec![],
        }),
        Ok(Done::Empty)
    );
    pi.pump("the first slow word", |d| {
        d.events
            .iter()
            .any(|e| matches!(e, EventKind::PartDelta { .. }))
    });
    let lines = pi.adapter.stop_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let abort: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(abort["type"], "abort");
    pi.write(&lines[0]);
    pi.pump("idle after the abort", |d| d.events.iter().any(is_idle));
    let aborted = pi.events.iter().any(|e| {
        matches!(e, EventKind::MessageEnd { message }
            if message.stop_reason == Some(StopReason::Aborted))
    });
    assert!(aborted, "{:#?}", pi.events);
    // The abort's answer is expected: let it arrive, it is no warning.
    pi.pump("the abort's answer", |d| {
        d.log.iter().any(|l| l.contains("\"command\":\"abort\""))
    });
    assert!(pi.warnings.is_empty(), "{:#?}", pi.warnings);
    assert!(pi.adapter.stop_lines().is_empty());
    pi.stop();
}

//! The adapter driven with hand-written agent lines.

use oqto_protocol::{
    Capability, ErrorCode, EventKind, ImageInput, MessageId, ModelInfo, ModelRef, Part, PartId,
    Role, SessionId, ThinkingLevel,
};
use serde_json::{Value, json};

use super::NativeAdapter;
use crate::harness::CountingIds;
use crate::harness::adapter::{Adapter, Done, ModelChoice, Op, OpError, Output, Ready, StartSpec};

const NOW: u64 = 1_750_000_000_000;

fn adapter() -> NativeAdapter<CountingIds> {
    NativeAdapter::new(SessionId::new("ses_test"), CountingIds::default())
}

fn spec() -> StartSpec {
    StartSpec {
        cwd: "/home/ada/proj".into(),
        resume: None,
        model: None,
        ..StartSpec::default()
    }
}

/// The JSON of the single line `outputs` asks to write.
fn written(outputs: &[Output]) -> Value {
    match outputs {
        [Output::Write(line)] => serde_json::from_str(line).expect("a JSON line"),
        other => panic!("expected one write, got {other:?}"),
    }
}

fn feed(adapter: &mut NativeAdapter<CountingIds>, line: &Value) -> Vec<Output> {
    adapter.feed(&line.to_string(), NOW)
}

/// The single warning in `outputs`.
fn warning(outputs: &[Output]) -> &str {
    match outputs {
        [Output::Warn(text)] => text,
        other => panic!("expected one warning, got {other:?}"),
    }
}

fn fake_model() -> ModelRef {
    ModelRef {
        provider: "fake".into(),
        id: "fake-model".into(),
    }
}

fn ready_line(id: &str) -> Value {
    json!({"type": "ok", "id": id, "result": {
        "type": "ready",
        "agent": "unit-agent/1.0",
        "capabilities": ["steer", "fork"],
        "model": {"provider": "fake", "id": "fake-model"},
        "resume": "tok-1",
    }})
}

/// An adapter past the handshake (request id 1 used).
fn started() -> NativeAdapter<CountingIds> {
    let mut a = adapter();
    a.start(&spec());
    let out = feed(&mut a, &ready_line("1"));
    assert!(matches!(out[..], [Output::Ready(_)]), "{out:?}");
    a
}

fn ok(id: &str, result: &Value) -> Value {
    json!({"type": "ok", "id": id, "result": result})
}

fn empty(id: &str) -> Value {
    ok(id, &json!({"type": "empty"}))
}

/// The single `Done` in `outputs`.
fn done(outputs: &[Output]) -> (u64, &Result<Done, OpError>) {
    match outputs {
        [Output::Done { token, result }] => (*token, result),
        other => panic!("expected one Done, got {other:?}"),
    }
}

/// A user message `m3` with part `p7`, as an agent announces it.
fn user_message(a: &mut NativeAdapter<CountingIds>) -> Vec<Output> {
    let mut out = feed(
        a,
        &json!({"type": "message.start", "message_id": "m3", "role": "user"}),
    );
    out.extend(feed(
        a,
        &json!({"type": "part.start", "message_id": "m3",
                "part": {"type": "text", "id": "p7", "text": "hi"}}),
    ));
    out.extend(feed(
        a,
        &json!({"type": "message.end", "message": {
            "id": "m3", "session": "agent-session", "role": "user",
            "parts": [{"type": "text", "id": "p7", "text": "hi"}],
            "created_at": 5,
        }}),
    ));
    out
}

#[test]
fn capabilities_before_the_handshake_are_everything_expressible() {
    let a = adapter();
    let caps = a.capabilities();
    for cap in [
        Capability::Steer,
        Capability::FollowUp,
        Capability::Fork,
        Capability::Compact,
        Capability::Models,
        Capability::Thinking,
        Capability::Images,
    ] {
        assert!(caps.contains(&cap), "{cap:?} missing from {caps:?}");
    }
    assert!(!caps.contains(&Capability::Rename), "{caps:?}");
    assert!(a.extra_args(&spec()).is_empty());
}

#[test]
fn init_line_shape() {
    let mut a = adapter();
    let full = StartSpec {
        cwd: "/home/ada/proj".into(),
        resume: Some("tok-0".into()),
        model: Some(ModelChoice {
            provider: Some("anthropic".into()),
            model: "claude-sonnet-4".into(),
        }),
        ..StartSpec::default()
    };
    assert_eq!(
        written(&a.start(&full)),
        json!({"id": "1", "type": "init", "protocol": 1, "session": "ses_test",
               "cwd": "/home/ada/proj", "resume": "tok-0",
               "model": {"provider": "anthropic", "id": "claude-sonnet-4"}})
    );
    // Nothing optional: no `resume`, no `model` keys.
    let mut a = adapter();
    assert_eq!(
        written(&a.start(&spec())),
        json!({"id": "1", "type": "init", "protocol": 1, "session": "ses_test",
               "cwd": "/home/ada/proj"})
    );
}

#[test]
fn ready_gives_capabilities_resume_and_model() {
    let mut a = adapter();
    a.start(&spec());
    assert_eq!(a.agent(), None);
    let out = feed(&mut a, &ready_line("1"));
    assert_eq!(
        out,
        vec![Output::Ready(Ready {
            resume: Some("tok-1".into()),
            model: Some(fake_model()),
            thinking_level: None,
            title: None,
            capabilities: Some(vec![Capability::Steer, Capability::Fork]),
        })]
    );
    assert_eq!(a.agent(), Some("unit-agent/1.0"));
    // A minimal agent: no model, no resume, no capabilities.
    let mut a = adapter();
    a.start(&spec());
    let out = feed(
        &mut a,
        &ok(
            "1",
            &json!({"type": "ready", "agent": "minimal/0.1", "capabilities": []}),
        ),
    );
    assert_eq!(
        out,
        vec![Output::Ready(Ready {
            capabilities: Some(vec![]),
            ..Ready::default()
        })]
    );
}

#[test]
fn init_error_fails_the_start() {
    let mut a = adapter();
    a.start(&spec());
    let out = feed(
        &mut a,
        &json!({"type": "error", "id": "1", "code": "protocol_mismatch",
                "message": "speaks version 2"}),
    );
    assert_eq!(
        out,
        vec![Output::Failed(
            "agent refused init: protocol_mismatch: speaks version 2".into()
        )]
    );
    // `init` answered with something that is not `ready`.
    let mut a = adapter();
    a.start(&spec());
    let out = feed(&mut a, &empty("1"));
    assert_eq!(
        out,
        vec![Output::Failed(
            "agent answered init with `empty` instead of `ready`".into()
        )]
    );
}

#[test]
fn events_before_ready_are_translated() {
    let mut a = adapter();
    a.start(&spec());
    let out = feed(
        &mut a,
        &json!({"type": "state", "state": "working", "phase": "generating"}),
    );
    assert!(
        matches!(&out[..], [Output::Event(EventKind::State { .. })]),
        "{out:?}"
    );
    let out = feed(&mut a, &ready_line("1"));
    assert!(matches!(&out[..], [Output::Ready(_)]), "{out:?}");
}

#[test]
fn model_without_provider_is_set_after_ready() {
    let mut a = adapter();
    let spec = StartSpec {
        model: Some(ModelChoice {
            provider: None,
            model: "fake-model-2".into(),
        }),
        ..spec()
    };
    let init = written(&a.start(&spec));
    assert!(init.get("model").is_none(), "{init}");
    // Ready is held back until the agent switched models.
    let out = feed(&mut a, &ready_line("1"));
    assert_eq!(
        written(&out),
        json!({"id": "2", "type": "set_model", "model": "fake-model-2"})
    );
    let out = feed(
        &mut a,
        &json!({"type": "model.changed", "model": {"provider": "fake", "id": "fake-model-2"}}),
    );
    assert!(
        matches!(&out[..], [Output::Event(EventKind::ModelChanged { .. })]),
        "{out:?}"
    );
    let out = feed(
        &mut a,
        &ok(
            "2",
            &json!({"type": "model", "model": {"provider": "fake", "id": "fake-model-2"}}),
        ),
    );
    let [Output::Ready(ready)] = &out[..] else {
        panic!("expected Ready, got {out:?}");
    };
    assert_eq!(
        ready.model,
        Some(ModelRef {
            provider: "fake".into(),
            id: "fake-model-2".into(),
        })
    );
    assert_eq!(ready.resume.as_deref(), Some("tok-1"));
}

#[test]
fn model_without_provider_already_in_use_needs_no_set_model() {
    let mut a = adapter();
    let spec = StartSpec {
        model: Some(ModelChoice {
            provider: None,
            model: "fake-model".into(),
        }),
        ..spec()
    };
    a.start(&spec);
    let out = feed(&mut a, &ready_line("1"));
    assert!(
        matches!(&out[..], [Output::Ready(r)] if r.model == Some(fake_model())),
        "{out:?}"
    );
}

#[test]
fn refused_model_fails_the_start() {
    let mut a = adapter();
    let spec = StartSpec {
        model: Some(ModelChoice {
            provider: None,
            model: "nope".into(),
        }),
        ..spec()
    };
    a.start(&spec);
    feed(&mut a, &ready_line("1"));
    let out = feed(
        &mut a,
        &json!({"type": "error", "id": "2", "code": "bad_request", "message": "unknown model"}),
    );
    assert_eq!(
        out,
        vec![Output::Failed(
            "agent refused model `nope`: bad_request: unknown model".into()
        )]
    );
}

#[test]
fn ops_map_one_to_one() {
    let mut a = started();
    let image = ImageInput {
        mime_type: "image/png".into(),
        data: "iVBORw0K".into(),
    };
    let cases = [
        (
            Op::Prompt {
                text: "hi".into(),
                images: vec![],
            },
            json!({"type": "prompt", "text": "hi"}),
        ),
        (
            Op::Prompt {
                text: "look".into(),
                images: vec![image],
            },
            json!({"type": "prompt", "text": "look",
                   "images": [{"mime_type": "image/png", "data": "iVBORw0K"}]}),
        ),
        (
            Op::Steer { text: "s".into() },
            json!({"type": "steer", "text": "s"}),
        ),
        (
            Op::FollowUp { text: "f".into() },
            json!({"type": "follow_up", "text": "f"}),
        ),
        (Op::Abort, json!({"type": "abort"})),
        (
            Op::SetModel(ModelChoice {
                provider: Some("openai".into()),
                model: "gpt-5".into(),
            }),
            json!({"type": "set_model", "provider": "openai", "model": "gpt-5"}),
        ),
        (
            Op::SetModel(ModelChoice {
                provider: None,
                model: "gpt-5".into(),
            }),
            json!({"type": "set_model", "model": "gpt-5"}),
        ),
        (Op::GetModels, json!({"type": "get_models"})),
        (
            Op::SetThinkingLevel(ThinkingLevel::Medium),
            json!({"type": "set_thinking_level", "level": "medium"}),
        ),
        (
            Op::Compact { instructions: None },
            json!({"type": "compact"}),
        ),
        (
            Op::Compact {
                instructions: Some("keep tests".into()),
            },
            json!({"type": "compact", "instructions": "keep tests"}),
        ),
    ];
    for (n, (op, mut want)) in cases.into_iter().enumerate() {
        let name = op.name();
        let out = a.command(100, op).expect("accepted");
        // Request ids go on from init's "1".
        want["id"] = json!((n + 2).to_string());
        assert_eq!(written(&out), want, "{name}");
    }
}

#[test]
fn out_of_order_replies_reach_their_tokens() {
    let mut a = started();
    let prompt = written(
        &a.command(
            10,
            Op::Prompt {
                text: "hi".into(),
                images: vec![],
            },
        )
        .unwrap(),
    );
    let models = written(&a.command(11, Op::GetModels).unwrap());
    let compact = written(&a.command(12, Op::Compact { instructions: None }).unwrap());
    let ids: Vec<&str> = [&prompt, &models, &compact]
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["2", "3", "4"]);

    let out = feed(
        &mut a,
        &ok(
            "4",
            &json!({"type": "compacted", "summary": "S", "tokens_before": 42}),
        ),
    );
    assert_eq!(
        done(&out),
        (
            12,
            &Ok(Done::Compacted {
                summary: "S".into(),
                tokens_before: Some(42),
            })
        )
    );
    let out = feed(&mut a, &empty("2"));
    assert_eq!(done(&out), (10, &Ok(Done::Empty)));
    let out = feed(
        &mut a,
        &ok(
            "3",
            &json!({"type": "models", "models": [{"provider": "fake", "id": "m"}]}),
        ),
    );
    let want = ModelInfo {
        provider: "fake".into(),
        id: "m".into(),
        name: None,
        context_window: None,
        reasoning: false,
    };
    assert_eq!(done(&out), (11, &Ok(Done::Models(vec![want]))));
    // Each id is answered once: a second answer is a response to nothing.
    let out = feed(&mut a, &empty("2"));
    assert!(warning(&out).contains("`2`"), "{out:?}");
}

#[test]
fn set_model_answers_model() {
    let mut a = started();
    a.command(
        7,
        Op::SetModel(ModelChoice {
            provider: None,
            model: "fake-model-2".into(),
        }),
    )
    .unwrap();
    let out = feed(
        &mut a,
        &ok(
            "2",
            &json!({"type": "model", "model": {"provider": "fake", "id": "fake-model-2",
                    "reasoning": true}}),
        ),
    );
    let want = ModelInfo {
        provider: "fake".into(),
        id: "fake-model-2".into(),
        name: None,
        context_window: None,
        reasoning: true,
    };
    assert_eq!(done(&out), (7, &Ok(Done::Model(want))));
}

#[test]
fn reply_kind_mismatch_is_harness_failed() {
    let mut a = started();
    a.command(
        3,
        Op::Prompt {
            text: "hi".into(),
            images: vec![],
        },
    )
    .unwrap();
    let out = feed(&mut a, &ok("2", &json!({"type": "models", "models": []})));
    let (token, result) = done(&out);
    assert_eq!(token, 3);
    assert_eq!(
        result,
        &Err(OpError::new(
            ErrorCode::HarnessFailed,
            "agent answered prompt with `models` instead of `empty`"
        ))
    );
    // A fork answered `empty`.
    let mut a = started();
    user_message(&mut a);
    a.command(
        4,
        Op::Fork {
            message_id: MessageId::new("msg_1"),
            user_index: 0,
            text: "hi".into(),
        },
    )
    .unwrap();
    let out = feed(&mut a, &empty("2"));
    let (_, result) = done(&out);
    let err = result.as_ref().unwrap_err();
    assert_eq!(err.code, ErrorCode::HarnessFailed);
    assert!(err.message.contains("fork") && err.message.contains("`forked`"));
}

#[test]
fn agent_errors_keep_code_and_message() {
    let mut a = started();
    a.command(5, Op::FollowUp { text: "x".into() }).unwrap();
    let out = feed(
        &mut a,
        &json!({"type": "error", "id": "2", "code": "unsupported",
                "message": "this agent has no follow-up queue"}),
    );
    assert_eq!(
        done(&out),
        (
            5,
            &Err(OpError::new(
                ErrorCode::Unsupported,
                "this agent has no follow-up queue"
            ))
        )
    );
}

#[test]
fn responses_to_nothing_warn() {
    let mut a = started();
    let out = feed(&mut a, &empty("99"));
    assert!(warning(&out).contains("`99`"), "{out:?}");
    let out = feed(
        &mut a,
        &json!({"type": "error", "id": "98", "code": "internal", "message": "boom"}),
    );
    let text = warning(&out);
    assert!(
        text.contains("`98`") && text.contains("internal: boom"),
        "{text}"
    );
    let out = feed(
        &mut a,
        &json!({"type": "error", "id": null, "code": "bad_request", "message": "not JSON"}),
    );
    assert!(warning(&out).contains("bad_request: not JSON"), "{out:?}");
}

#[test]
fn labels_become_runner_ids_in_events_and_message_end() {
    let mut a = started();
    let out = user_message(&mut a);
    let [
        Output::Event(EventKind::MessageStart {
            message_id,
            role: Role::User,
            ..
        }),
        Output::Event(EventKind::PartStart {
            message_id: part_message,
            part,
        }),
        Output::Event(EventKind::MessageEnd { message }),
    ] = &out[..]
    else {
        panic!("unexpected outputs {out:?}");
    };
    assert_eq!(message_id.as_str(), "msg_1");
    assert_eq!(part_message.as_str(), "msg_1");
    assert_eq!(part.id().as_str(), "prt_1");
    assert_eq!(message.id.as_str(), "msg_1");
    assert_eq!(message.session.as_str(), "ses_test");
    assert_eq!(message.created_at, NOW);
    assert_eq!(
        message.parts,
        vec![Part::Text {
            id: PartId::new("prt_1"),
            text: "hi".into(),
        }]
    );
    // A delta for the same labels reaches the same ids; a new label gets a new id.
    let out = feed(
        &mut a,
        &json!({"type": "part.delta", "message_id": "m3", "part_id": "p8", "delta": "x"}),
    );
    assert!(
        matches!(
            &out[..],
            [Output::Event(EventKind::PartDelta { message_id, part_id, .. })]
                if message_id.as_str() == "msg_1" && part_id.as_str() == "prt_2"
        ),
        "{out:?}"
    );
}

#[test]
fn runner_only_event_kinds_are_dropped_with_a_warning() {
    let mut a = started();
    for line in [
        json!({"type": "session.closed", "reason": "bye"}),
        json!({"type": "session.deleted"}),
    ] {
        let out = feed(&mut a, &line);
        let name = line["type"].as_str().unwrap();
        assert!(warning(&out).contains(name), "{out:?}");
    }
}

#[test]
fn garbage_lines_warn_with_an_excerpt() {
    let mut a = started();
    for line in [
        "",
        "not json",
        "[1,2]",
        r#"{"type":"nope"}"#,
        r#"{"id":"2"}"#,
    ] {
        let out = a.feed(line, NOW);
        let text = warning(&out);
        assert!(text.contains(line), "{text}");
    }
    // Long lines are cut, at a character boundary.
    let long = "é".repeat(10_000);
    let out = a.feed(&long, NOW);
    let text = warning(&out);
    assert!(text.len() < 1_000, "{} bytes", text.len());
    assert!(text.ends_with('…'), "{text}");
    assert!(text.contains(&"é".repeat(120)), "{text}");
    assert!(!text.contains(&"é".repeat(121)), "{text}");
    // A valid ok with an unknown result type is garbage too, not a reply.
    let out = feed(&mut a, &ok("2", &json!({"type": "surprise"})));
    assert!(warning(&out).contains("surprise"), "{out:?}");
}

#[test]
fn a_malformed_answer_still_answers_its_request() {
    let mut a = started();
    a.command(3, Op::GetModels).unwrap();
    let out = feed(
        &mut a,
        &ok("2", &json!({"type": "models", "models": "many"})),
    );
    let (token, result) = done(&out);
    assert_eq!(token, 3);
    let err = result.as_ref().unwrap_err();
    assert_eq!(err.code, ErrorCode::HarnessFailed);
    assert!(err.message.contains("many"), "{err}");
    // During the handshake it fails the start.
    let mut a = adapter();
    a.start(&spec());
    let out = feed(&mut a, &ok("1", &json!({"type": "ready"})));
    assert!(
        matches!(&out[..], [Output::Failed(why)] if why.contains("during the handshake")),
        "{out:?}"
    );
}

#[test]
fn fork_names_the_agent_label() {
    let mut a = started();
    user_message(&mut a);
    let out = a
        .command(
            9,
            Op::Fork {
                message_id: MessageId::new("msg_1"),
                user_index: 0,
                text: "hi".into(),
            },
        )
        .unwrap();
    assert_eq!(
        written(&out),
        json!({"id": "2", "type": "fork", "message_id": "m3"})
    );
    let out = feed(
        &mut a,
        &ok("2", &json!({"type": "forked", "resume": "tok-1.fork-m3"})),
    );
    assert_eq!(
        done(&out),
        (
            9,
            &Ok(Done::Forked {
                resume: "tok-1.fork-m3".into(),
            })
        )
    );
}

#[test]
fn fork_of_an_unknown_message_is_message_not_found() {
    let mut a = started();
    user_message(&mut a);
    let err = a
        .command(
            9,
            Op::Fork {
                message_id: MessageId::new("msg_from_before_restart"),
                user_index: 0,
                text: "hi".into(),
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        OpError::new(
            ErrorCode::MessageNotFound,
            "message `msg_from_before_restart` is not known to this agent process"
        )
    );
    // No request was written: the next one still gets id 2.
    let out = a.command(10, Op::GetModels).unwrap();
    assert_eq!(written(&out)["id"], "2");
}

#[test]
fn rename_is_answered_at_once() {
    let mut a = started();
    let out = a
        .command(
            4,
            Op::Rename {
                title: "new".into(),
            },
        )
        .unwrap();
    assert_eq!(
        out,
        vec![Output::Done {
            token: 4,
            result: Ok(Done::Empty),
        }]
    );
    let out = a.command(5, Op::Abort).unwrap();
    assert_eq!(written(&out), json!({"id": "2", "type": "abort"}));
}

#[test]
fn stop_lines_send_shutdown_once() {
    let mut a = started();
    let lines = a.stop_lines();
    let [line] = &lines[..] else {
        panic!("expected one line, got {lines:?}");
    };
    let value: Value = serde_json::from_str(line).unwrap();
    assert_eq!(value, json!({"id": "2", "type": "shutdown"}));
    assert!(a.stop_lines().is_empty());
    // Its answer is expected and says nothing.
    assert!(feed(&mut a, &empty("2")).is_empty());
    // Commands after it are refused at once.
    let err = a.command(6, Op::GetModels).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidState);
    assert!(a.quiet(NOW).is_empty());
}

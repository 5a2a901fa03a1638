//! The ACP adapter against lines recorded from `opencode acp` 1.18.33 (shortened where
//! noted), and against faults no real agent shows on demand.

use oqto_config::{PermissionMode, PermissionPolicy};
use oqto_protocol::{
    Answerer, EventKind, Message, ModelRef, OptionKind, Part, Phase, Role, SessionId, State,
    StopReason, ToolKind, ToolStatus,
};
use serde_json::{Value, json};

use super::AcpAdapter;
use crate::harness::CountingIds;
use crate::harness::adapter::{Adapter, Done, Op, Output, Ready, StartSpec};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":1,"agentCapabilities":{"loadSession":true,"mcpCapabilities":{"http":true,"sse":true},"promptCapabilities":{"embeddedContext":true,"image":true},"sessionCapabilities":{"close":{},"fork":{},"list":{},"resume":{}}},"authMethods":[],"agentInfo":{"name":"OpenCode","version":"1.18.33"}}}"#;
/// `configOptions` cut to two models.
const NEW: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"sessionId":"ses_acp1","configOptions":[{"id":"model","name":"Model","category":"model","type":"select","currentValue":"fake/oqto-demo","options":[{"value":"fake/oqto-demo","name":"Fake/oqto-demo"},{"value":"opencode/big-pickle","name":"Big Pickle"}]}]}}"#;

fn spec() -> StartSpec {
    StartSpec {
        cwd: "/tmp/ws".into(),
        ..StartSpec::default()
    }
}

fn adapter() -> AcpAdapter<CountingIds> {
    AcpAdapter::new(SessionId::new("ses_test"), CountingIds::default())
}

fn writes(out: &[Output]) -> Vec<Value> {
    out.iter()
        .filter_map(|o| match o {
            Output::Write(line) => Some(serde_json::from_str(line).unwrap()),
            _ => None,
        })
        .collect()
}

fn events(out: &[Output]) -> Vec<EventKind> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn update(update: &Value) -> String {
    json!({"jsonrpc": "2.0", "method": "session/update", "params": {"sessionId": "ses_acp1", "update": update}}).to_string()
}

/// An adapter through the handshake, with `policy`.
fn ready(policy: PermissionPolicy) -> AcpAdapter<CountingIds> {
    let mut a = adapter();
    let start = a.start(&StartSpec {
        permissions: policy,
        ..spec()
    });
    assert_eq!(
        writes(&start),
        [
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": 1,
            "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false},
            "clientInfo": {"name": "oqto-runner", "version": env!("CARGO_PKG_VERSION")}}})
        ]
    );
    let new = a.feed(INIT, 1);
    assert_eq!(
        writes(&new),
        [
            json!({"jsonrpc": "2.0", "id": 2, "method": "session/new", "params": {"cwd": "/tmp/ws", "mcpServers": []}})
        ]
    );
    let out = a.feed(NEW, 2);
    let [Output::Ready(ready)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        ready,
        &Ready {
            resume: Some("ses_acp1".into()),
            model: Some(ModelRef {
                provider: "fake".into(),
                id: "oqto-demo".into()
            }),
            thinking_level: None,
            title: None,
            capabilities: Some(vec![
                oqto_protocol::Capability::Models,
                oqto_protocol::Capability::Images
            ]),
        }
    );
    a
}

fn ended(events: &[EventKind]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::MessageEnd { message } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_text_turn_streams_one_message_and_ends_idle_with_usage() {
    let mut a = ready(PermissionPolicy::default());
    let out = a
        .command(
            7,
            Op::Prompt {
                text: "hello there".into(),
                images: Vec::new(),
            },
        )
        .unwrap();
    assert_eq!(
        writes(&out),
        [
            json!({"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": {
            "sessionId": "ses_acp1", "prompt": [{"type": "text", "text": "hello there"}]}})
        ]
    );
    assert!(out.contains(&Output::Done {
        token: 7,
        result: Ok(Done::Empty)
    }));
    let mut all = events(&out);
    let user = ended(&all);
    assert_eq!(user.len(), 1);
    assert_eq!(user[0].role, Role::User);
    for text in ["echo", ": he", "llo there"] {
        let line = update(
            &json!({"sessionUpdate": "agent_message_chunk", "messageId": "msg_a", "content": {"type": "text", "text": text}}),
        );
        all.extend(events(&a.feed(&line, 10)));
    }
    all.extend(events(&a.feed(
        r#"{"jsonrpc":"2.0","id":3,"result":{"stopReason":"end_turn","usage":{"inputTokens":2388,"outputTokens":5,"totalTokens":2393,"cachedReadTokens":null},"_meta":{}}}"#,
        11,
    )));
    let messages = ended(&all);
    assert_eq!(messages.len(), 2);
    let reply = &messages[1];
    assert_eq!(reply.role, Role::Assistant);
    assert_eq!(
        reply.parts,
        [Part::Text {
            id: oqto_protocol::PartId::new("prt_2"),
            text: "echo: hello there".into()
        }]
    );
    assert_eq!(reply.stop_reason, Some(StopReason::Stop));
    let usage = reply.usage.clone().unwrap();
    assert_eq!((usage.input, usage.output, usage.cache_read), (2388, 5, 0));
    assert_eq!(
        all.last(),
        Some(&EventKind::State {
            state: State::Idle,
            phase: None,
            reason: None
        })
    );
    let deltas = all
        .iter()
        .filter(|e| matches!(e, EventKind::PartDelta { .. }))
        .count();
    assert_eq!(deltas, 3);
}

#[test]
fn chunks_without_message_ids_still_get_one_stable_message() {
    let mut a = ready(PermissionPolicy::default());
    a.command(
        1,
        Op::Prompt {
            text: "hi".into(),
            images: Vec::new(),
        },
    )
    .unwrap();
    let mut all = Vec::new();
    for (kind, text) in [
        ("agent_thought_chunk", "hmm"),
        ("agent_message_chunk", "a"),
        ("agent_message_chunk", "b"),
    ] {
        all.extend(events(&a.feed(
            &update(&json!({"sessionUpdate": kind, "content": {"type": "text", "text": text}})),
            1,
        )));
    }
    all.extend(events(&a.feed(
        r#"{"jsonrpc":"2.0","id":3,"result":{"stopReason":"end_turn"}}"#,
        2,
    )));
    let starts: Vec<_> = all
        .iter()
        .filter(|e| {
            matches!(
                e,
                EventKind::MessageStart {
                    role: Role::Assistant,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(starts.len(), 1);
    let reply = ended(&all).pop().unwrap();
    assert!(matches!(&reply.parts[0], Part::Thinking { text, .. } if text == "hmm"));
    assert!(matches!(&reply.parts[1], Part::Text { text, .. } if text == "ab"));
    assert!(all.contains(&super::working(Phase::Thinking)));
}

fn tool_turn(a: &mut AcpAdapter<CountingIds>) -> Vec<Output> {
    a.command(
        1,
        Op::Prompt {
            text: "tool:bash cat a.txt".into(),
            images: Vec::new(),
        },
    )
    .unwrap();
    let mut out = a.feed(
        &update(&json!({"sessionUpdate": "tool_call", "toolCallId": "call_1", "title": "bash", "kind": "execute", "status": "pending", "rawInput": {}})),
        1,
    );
    out.extend(a.feed(
        r#"{"jsonrpc":"2.0","id":0,"method":"session/request_permission","params":{"sessionId":"ses_acp1","toolCall":{"toolCallId":"call_1","title":"cat a.txt","kind":"execute","status":"pending","locations":[],"rawInput":{"command":"cat a.txt"}},"options":[{"optionId":"once","kind":"allow_once","name":"Allow once"},{"optionId":"always","kind":"allow_always","name":"Always allow"},{"optionId":"reject","kind":"reject_once","name":"Reject"}]}}"#,
        2,
    ));
    out
}

#[test]
fn a_permission_is_asked_and_answered_with_the_agents_id_zero() {
    let mut a = ready(PermissionPolicy::default());
    let out = tool_turn(&mut a);
    let evs = events(&out);
    let Some(EventKind::PermissionRequest {
        request,
        tool,
        options,
    }) = evs
        .iter()
        .find(|e| matches!(e, EventKind::PermissionRequest { .. }))
    else {
        panic!("{evs:?}")
    };
    assert_eq!(request, "perm_1");
    assert_eq!(
        (tool.kind, tool.title.as_str()),
        (ToolKind::Execute, "cat a.txt")
    );
    assert_eq!(options.len(), 3);
    assert_eq!(evs.last(), Some(&super::working(Phase::AwaitingPermission)));
    assert!(
        writes(&out).is_empty(),
        "nothing answered before a person does"
    );
    // A wrong option is refused and changes nothing.
    let wrong = a.command(
        2,
        Op::PermissionReply {
            request: "perm_1".into(),
            option: "sure".into(),
            client: "oqtoctl".into(),
        },
    );
    assert!(wrong.unwrap_err().message.contains("no option `sure`"));
    let out = a
        .command(
            3,
            Op::PermissionReply {
                request: "perm_1".into(),
                option: "once".into(),
                client: "oqtoctl".into(),
            },
        )
        .unwrap();
    assert_eq!(
        writes(&out),
        [
            json!({"jsonrpc": "2.0", "id": 0, "result": {"outcome": {"outcome": "selected", "optionId": "once"}}})
        ]
    );
    assert!(events(&out).contains(&EventKind::PermissionResolved {
        request: "perm_1".into(),
        option: Some("once".into()),
        kind: Some(OptionKind::AllowOnce),
        answered: Answerer::User {
            client: "oqtoctl".into()
        },
    }));
    let again = a.command(
        4,
        Op::PermissionReply {
            request: "perm_1".into(),
            option: "once".into(),
            client: "oqtoctl".into(),
        },
    );
    assert_eq!(again.unwrap_err().code, oqto_protocol::ErrorCode::UnknownId);
}

#[test]
fn a_granted_tool_keeps_its_output_and_diff_and_the_answer_is_a_new_message() {
    let mut a = ready(PermissionPolicy::default());
    tool_turn(&mut a);
    a.command(
        3,
        Op::PermissionReply {
            request: "perm_1".into(),
            option: "once".into(),
            client: "oqtoctl".into(),
        },
    )
    .unwrap();
    let mut evs = events(&a.feed(
        &update(&json!({"sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "in_progress", "rawInput": {"command": "cat a.txt"}})),
        3,
    ));
    evs.extend(events(&a.feed(
        &update(&json!({"sessionUpdate": "tool_call_update", "toolCallId": "call_1", "status": "completed", "content": [{"type": "content", "content": {"type": "text", "text": "hi\n"}}, {"type": "diff", "path": "/tmp/ws/a.txt", "oldText": "a", "newText": "b"}]})),
        4,
    )));
    assert!(
        evs.iter()
            .any(|e| matches!(e, EventKind::ToolStart { call_id, .. } if call_id == "call_1"))
    );
    let Some(EventKind::ToolEnd { part, .. }) =
        evs.iter().find(|e| matches!(e, EventKind::ToolEnd { .. }))
    else {
        panic!("{evs:?}")
    };
    assert!(
        matches!(part, Part::ToolCall { status: ToolStatus::Done, output: Some(o), is_error: false, .. } if o == "hi\n")
    );
    assert!(evs.iter().any(|e| matches!(e, EventKind::PartEnd { part: Part::Diff { path, new_text, .. }, .. } if path == "/tmp/ws/a.txt" && new_text == "b")));
    // The answer to the tool's result is a message of its own, even though the tool's
    // message had no agent message id.
    evs.extend(events(&a.feed(
        &update(&json!({"sessionUpdate": "agent_message_chunk", "messageId": "msg_b", "content": {"type": "text", "text": "done: hi"}})),
        5,
    )));
    evs.extend(events(&a.feed(
        r#"{"jsonrpc":"2.0","id":3,"result":{"stopReason":"end_turn"}}"#,
        6,
    )));
    let messages = ended(&evs);
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].stop_reason, Some(StopReason::ToolUse));
    assert!(matches!(
        &messages[0].parts[..],
        [Part::ToolCall { .. }, Part::Diff { .. }]
    ));
    assert!(matches!(&messages[1].parts[..], [Part::Text { text, .. }] if text == "done: hi"));
    assert_eq!(messages[1].stop_reason, Some(StopReason::Stop));
}

#[test]
fn policy_allows_or_rejects_without_asking() {
    let allow = PermissionPolicy {
        allow: [ToolKind::Execute].into_iter().collect(),
        ..PermissionPolicy::default()
    };
    let mut a = ready(allow);
    let out = tool_turn(&mut a);
    assert_eq!(
        writes(&out),
        [
            json!({"jsonrpc": "2.0", "id": 0, "result": {"outcome": {"outcome": "selected", "optionId": "once"}}})
        ]
    );
    assert!(events(&out).iter().any(|e| matches!(e, EventKind::PermissionResolved { answered: Answerer::Policy { rule }, .. } if rule == "allow execute")));
    let reject = PermissionPolicy {
        mode: PermissionMode::Reject,
        ..PermissionPolicy::default()
    };
    let mut a = ready(reject);
    let out = tool_turn(&mut a);
    assert_eq!(
        writes(&out),
        [
            json!({"jsonrpc": "2.0", "id": 0, "result": {"outcome": {"outcome": "selected", "optionId": "reject"}}})
        ]
    );
    assert!(!events(&out).contains(&super::working(Phase::AwaitingPermission)));
}

#[test]
fn abort_answers_pending_requests_cancelled_and_the_turn_ends_aborted() {
    let mut a = ready(PermissionPolicy::default());
    tool_turn(&mut a);
    let out = a.command(5, Op::Abort).unwrap();
    assert_eq!(
        writes(&out),
        [
            json!({"jsonrpc": "2.0", "id": 0, "result": {"outcome": {"outcome": "cancelled"}}}),
            json!({"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": "ses_acp1"}}),
        ]
    );
    assert!(events(&out).iter().any(|e| matches!(
        e,
        EventKind::PermissionResolved {
            option: None,
            answered: Answerer::Abort,
            ..
        }
    )));
    let out = a.feed(
        r#"{"jsonrpc":"2.0","id":3,"result":{"stopReason":"cancelled"}}"#,
        9,
    );
    let evs = events(&out);
    let reply = ended(&evs).pop().unwrap();
    assert_eq!(reply.stop_reason, Some(StopReason::Aborted));
    assert!(matches!(
        &reply.parts[0],
        Part::ToolCall {
            status: ToolStatus::Aborted,
            ..
        }
    ));
    assert!(!evs.iter().any(|e| matches!(e, EventKind::Error { .. })));
}

#[test]
fn refusal_and_max_tokens_are_visible_errors() {
    for (reason, stop, text) in [
        ("refusal", StopReason::Error, "refused"),
        ("max_tokens", StopReason::Length, "token limit"),
    ] {
        let mut a = ready(PermissionPolicy::default());
        a.command(
            1,
            Op::Prompt {
                text: "x".into(),
                images: Vec::new(),
            },
        )
        .unwrap();
        let line = json!({"jsonrpc": "2.0", "id": 3, "result": {"stopReason": reason}}).to_string();
        let evs = events(&a.feed(&line, 1));
        let reply = ended(&evs).pop().unwrap();
        assert_eq!(reply.stop_reason, Some(stop));
        assert!(
            matches!(&reply.parts[..], [Part::Error { message, .. }] if message.contains(text))
        );
        assert!(
            evs.iter()
                .any(|e| matches!(e, EventKind::Error { message, .. } if message.contains(text)))
        );
    }
}

#[test]
fn a_plan_is_one_part_replaced_by_each_update() {
    let mut a = ready(PermissionPolicy::default());
    a.command(
        1,
        Op::Prompt {
            text: "x".into(),
            images: Vec::new(),
        },
    )
    .unwrap();
    let mut evs = Vec::new();
    for status in ["pending", "completed"] {
        evs.extend(events(&a.feed(
            &update(&json!({"sessionUpdate": "plan", "entries": [{"content": "write it", "priority": "high", "status": status}]})),
            1,
        )));
    }
    evs.extend(events(&a.feed(
        r#"{"jsonrpc":"2.0","id":3,"result":{"stopReason":"end_turn"}}"#,
        2,
    )));
    let reply = ended(&evs).pop().unwrap();
    let [Part::Plan { entries, .. }] = &reply.parts[..] else {
        panic!("{:?}", reply.parts)
    };
    assert_eq!(entries[0].status, oqto_protocol::PlanStatus::Completed);
}

#[test]
fn a_resumed_session_uses_session_resume_and_keeps_the_agents_id() {
    let mut a = adapter();
    a.start(&StartSpec {
        resume: Some("ses_acp1".into()),
        ..spec()
    });
    let out = a.feed(INIT, 1);
    assert_eq!(
        writes(&out),
        [
            json!({"jsonrpc": "2.0", "id": 2, "method": "session/resume", "params": {"sessionId": "ses_acp1", "cwd": "/tmp/ws", "mcpServers": []}})
        ]
    );
    let out = a.feed(r#"{"jsonrpc":"2.0","id":2,"result":{}}"#, 2);
    assert!(
        matches!(&out[..], [Output::Ready(Ready { resume: Some(id), .. })] if id == "ses_acp1")
    );
}

#[test]
fn a_failed_resume_starts_afresh_and_says_so() {
    let mut a = adapter();
    a.start(&StartSpec {
        resume: Some("gone".into()),
        ..spec()
    });
    a.feed(INIT, 1);
    let out = a.feed(
        r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"session not found"}}"#,
        2,
    );
    assert_eq!(writes(&out)[0]["method"], "session/new");
    let out = a.feed(&NEW.replace("\"id\":2", "\"id\":3"), 3);
    assert!(
        matches!(&out[0], Output::Event(EventKind::Error { message, .. }) if message.contains("session not found"))
    );
    assert!(matches!(&out[1], Output::Ready(_)));
}

#[test]
fn garbage_and_answers_to_nothing_fail_the_session() {
    let mut a = ready(PermissionPolicy::default());
    assert!(
        matches!(&a.feed("hello from stdout", 1)[..], [Output::Failed(why)] if why.contains("not ACP"))
    );
    let mut a = ready(PermissionPolicy::default());
    let out = a.feed(r#"{"jsonrpc":"2.0","id":42,"result":{}}"#, 1);
    assert!(matches!(&out[..], [Output::Failed(why)] if why.contains("never sent")));
}

#[test]
fn unoffered_client_methods_are_refused() {
    let mut a = ready(PermissionPolicy::default());
    let out = a.feed(
        r#"{"jsonrpc":"2.0","id":"r1","method":"fs/read_text_file","params":{"path":"/etc/passwd"}}"#,
        1,
    );
    assert_eq!(writes(&out)[0]["error"]["code"], -32601);
    assert_eq!(writes(&out)[0]["id"], "r1");
}

#[test]
fn set_model_uses_the_model_config_option() {
    let mut a = ready(PermissionPolicy::default());
    let out = a
        .command(
            1,
            Op::SetModel(crate::harness::adapter::ModelChoice {
                provider: None,
                model: "big-pickle".into(),
            }),
        )
        .unwrap();
    assert_eq!(
        writes(&out),
        [
            json!({"jsonrpc": "2.0", "id": 3, "method": "session/set_config_option", "params": {"sessionId": "ses_acp1", "configId": "model", "value": "opencode/big-pickle"}})
        ]
    );
    let out = a.feed(
        r#"{"jsonrpc":"2.0","id":3,"result":{"configOptions":[]}}"#,
        1,
    );
    assert!(events(&out).iter().any(
        |e| matches!(e, EventKind::ModelChanged { model, .. } if model.provider == "opencode")
    ));
    let missing = a.command(
        2,
        Op::SetModel(crate::harness::adapter::ModelChoice {
            provider: None,
            model: "nope".into(),
        }),
    );
    assert_eq!(
        missing.unwrap_err().code,
        oqto_protocol::ErrorCode::BadRequest
    );
}

use oqto_protocol::{
    AgentMessage, EventKind, MessageId, ModelRef, Part, PartId, ResyncReason, Role, SessionId,
    SessionInfo, State, StopReason, ToolStatus,
};
use serde_json::{Value, json};

use super::{LabelMap, Refused};
use crate::harness::CountingIds;
use crate::ids::RunnerIds;

const NOW: u64 = 1_750_000_000_000;

fn labels() -> LabelMap<CountingIds> {
    LabelMap::new(SessionId::new("ses_test"), CountingIds::default())
}

/// Parses one agent line (as the runner will) and translates its event.
fn feed(map: &mut LabelMap<CountingIds>, line: &Value) -> EventKind {
    let AgentMessage::Event(kind) = AgentMessage::parse(&line.to_string()).expect("valid line")
    else {
        panic!("not an event: {line}");
    };
    map.translate(kind, NOW).expect("accepted")
}

/// The message id and part ids an event carries.
fn ids_of(kind: &EventKind) -> (Option<&str>, Vec<&str>) {
    match kind {
        EventKind::MessageStart { message_id, .. } => (Some(message_id.as_str()), vec![]),
        EventKind::PartStart { message_id, part }
        | EventKind::PartEnd { message_id, part }
        | EventKind::ToolEnd { message_id, part } => {
            (Some(message_id.as_str()), vec![part.id().as_str()])
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
        } => (Some(message_id.as_str()), vec![part_id.as_str()]),
        EventKind::MessageEnd { message } => (
            Some(message.id.as_str()),
            message.parts.iter().map(|p| p.id().as_str()).collect(),
        ),
        _ => (None, vec![]),
    }
}

/// A user prompt, then an assistant reply with streamed text and a tool call.
fn agent_stream() -> Vec<Value> {
    let tool_input = json!({"command": "ls"});
    vec![
        json!({"type": "state", "state": "working"}),
        json!({"type": "message.start", "message_id": "m1", "role": "user"}),
        json!({"type": "part.start", "message_id": "m1",
               "part": {"type": "text", "id": "p1", "text": "list files"}}),
        json!({"type": "part.end", "message_id": "m1",
               "part": {"type": "text", "id": "p1", "text": "list files"}}),
        json!({"type": "message.end", "message": {
               "id": "m1", "session": "whatever", "role": "user", "created_at": 5,
               "parts": [{"type": "text", "id": "p1", "text": "list files"}]}}),
        json!({"type": "message.start", "message_id": "m2", "role": "assistant",
               "model": {"provider": "fake", "id": "echo"}}),
        json!({"type": "part.start", "message_id": "m2",
               "part": {"type": "text", "id": "p2", "text": ""}}),
        json!({"type": "part.delta", "message_id": "m2", "part_id": "p2", "delta": "Sure, "}),
        json!({"type": "part.delta", "message_id": "m2", "part_id": "p2", "delta": "running ls."}),
        json!({"type": "part.end", "message_id": "m2",
               "part": {"type": "text", "id": "p2", "text": "Sure, running ls."}}),
        json!({"type": "part.start", "message_id": "m2",
               "part": {"type": "tool_call", "id": "p3", "call_id": "call_1", "name": "bash",
                        "input": null, "status": "pending"}}),
        json!({"type": "part.delta", "message_id": "m2", "part_id": "p3",
               "delta": "{\"command\":\"ls\"}"}),
        json!({"type": "part.end", "message_id": "m2",
               "part": {"type": "tool_call", "id": "p3", "call_id": "call_1", "name": "bash",
                        "input": tool_input, "status": "pending"}}),
        json!({"type": "tool.start", "message_id": "m2", "part_id": "p3", "call_id": "call_1",
               "name": "bash", "input": tool_input}),
        json!({"type": "tool.output", "message_id": "m2", "part_id": "p3", "delta": "a.txt\n"}),
        json!({"type": "tool.output", "message_id": "m2", "part_id": "p3", "delta": "b.txt\n"}),
        json!({"type": "tool.end", "message_id": "m2",
               "part": {"type": "tool_call", "id": "p3", "call_id": "call_1", "name": "bash",
                        "input": tool_input, "status": "done", "output": "a.txt\nb.txt\n"}}),
        json!({"type": "message.end", "message": {
               "id": "m2", "session": "whatever", "role": "assistant", "created_at": 6,
               "model": {"provider": "fake", "id": "echo"}, "stop_reason": "tool_use",
               "usage": {"input": 10, "output": 4},
               "parts": [
                   {"type": "text", "id": "p2", "text": "Sure, running ls."},
                   {"type": "tool_call", "id": "p3", "call_id": "call_1", "name": "bash",
                    "input": tool_input, "status": "done", "output": "a.txt\nb.txt\n"}]}}),
        json!({"type": "state", "state": "idle"}),
    ]
}

#[test]
fn a_stream_gets_runner_ids_consistently() {
    let mut map = labels();
    let out: Vec<EventKind> = agent_stream().iter().map(|l| feed(&mut map, l)).collect();
    let ids: Vec<(Option<&str>, Vec<&str>)> = out.iter().map(ids_of).collect();
    let expected: Vec<(Option<&str>, Vec<&str>)> = vec![
        (None, vec![]),
        (Some("msg_1"), vec![]),
        (Some("msg_1"), vec!["prt_1"]),
        (Some("msg_1"), vec!["prt_1"]),
        (Some("msg_1"), vec!["prt_1"]),
        (Some("msg_2"), vec![]),
        (Some("msg_2"), vec!["prt_2"]),
        (Some("msg_2"), vec!["prt_2"]),
        (Some("msg_2"), vec!["prt_2"]),
        (Some("msg_2"), vec!["prt_2"]),
        (Some("msg_2"), vec!["prt_3"]),
        (Some("msg_2"), vec!["prt_3"]),
        (Some("msg_2"), vec!["prt_3"]),
        (Some("msg_2"), vec!["prt_3"]),
        (Some("msg_2"), vec!["prt_3"]),
        (Some("msg_2"), vec!["prt_3"]),
        (Some("msg_2"), vec!["prt_3"]),
        (Some("msg_2"), vec!["prt_2", "prt_3"]),
        (None, vec![]),
    ];
    assert_eq!(ids, expected);

    // Everything but the ids (and message.end's session/created_at) passes through.
    assert_eq!(
        out[0],
        EventKind::State {
            state: State::Working,
            phase: None,
            reason: None
        }
    );
    assert_eq!(
        out[8],
        EventKind::PartDelta {
            message_id: MessageId::new("msg_2"),
            part_id: PartId::new("prt_2"),
            delta: "running ls.".into(),
        }
    );
    assert_eq!(
        out[13],
        EventKind::ToolStart {
            message_id: MessageId::new("msg_2"),
            part_id: PartId::new("prt_3"),
            call_id: "call_1".into(),
            name: "bash".into(),
            input: json!({"command": "ls"}),
        }
    );
    let EventKind::MessageEnd { message } = &out[17] else {
        panic!("not a message.end: {:?}", out[17]);
    };
    assert_eq!(message.role, Role::Assistant);
    assert_eq!(message.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(message.usage.as_ref().map(|u| u.output), Some(4));
    assert_eq!(
        message.model,
        Some(ModelRef {
            provider: "fake".into(),
            id: "echo".into()
        })
    );
    assert!(matches!(
        &message.parts[1],
        Part::ToolCall { status: ToolStatus::Done, output: Some(o), .. } if o == "a.txt\nb.txt\n"
    ));
}

#[test]
fn message_end_gets_the_runner_session_and_clock() {
    let mut map = labels();
    let out: Vec<EventKind> = agent_stream().iter().map(|l| feed(&mut map, l)).collect();
    for index in [4, 17] {
        let EventKind::MessageEnd { message } = &out[index] else {
            panic!("not a message.end: {:?}", out[index]);
        };
        assert_eq!(message.session, SessionId::new("ses_test"));
        assert_eq!(message.created_at, NOW);
    }
    assert_eq!(map.session(), &SessionId::new("ses_test"));
}

#[test]
fn labels_first_seen_in_message_end_get_fresh_ids() {
    let mut map = labels();
    for line in agent_stream() {
        feed(&mut map, &line);
    }
    // A message only ever reported whole, with a new part and a reused part label.
    let out = feed(
        &mut map,
        &json!({"type": "message.end", "message": {
            "id": "m3", "session": "whatever", "role": "assistant", "created_at": 0,
            "parts": [{"type": "thinking", "id": "p9", "text": "hm"},
                      {"type": "error", "id": "p1", "message": "boom"}]}}),
    );
    assert_eq!(ids_of(&out), (Some("msg_3"), vec!["prt_4", "prt_5"]));
    // The same labels map to the same ids afterwards.
    let again = feed(
        &mut map,
        &json!({"type": "part.delta", "message_id": "m3", "part_id": "p9", "delta": "!"}),
    );
    assert_eq!(ids_of(&again), (Some("msg_3"), vec!["prt_4"]));
}

#[test]
fn reverse_lookup_for_fork() {
    let mut map = labels();
    for line in agent_stream() {
        feed(&mut map, &line);
    }
    assert_eq!(map.label_of(&MessageId::new("msg_1")), Some("m1"));
    assert_eq!(map.label_of(&MessageId::new("msg_2")), Some("m2"));
    assert_eq!(map.label_of(&MessageId::new("msg_9")), None);
    assert_eq!(map.id_of("m2"), Some(&MessageId::new("msg_2")));
    assert_eq!(map.id_of("m9"), None);
}

fn info() -> Box<SessionInfo> {
    Box::new(SessionInfo {
        id: SessionId::new("ses_x"),
        harness: "native".into(),
        cwd: "/tmp".into(),
        title: None,
        state: State::Idle,
        phase: None,
        reason: None,
        model: None,
        sandbox_profile: None,
        parent: None,
        created_at: 0,
        last_activity: 0,
        last_seq: 0,
        subscribers: 0,
        permissions: Vec::new(),
    })
}

#[test]
fn runner_only_kinds_are_refused() {
    let refused = [
        EventKind::SessionCreated { info: info() },
        EventKind::SessionUpdated { info: info() },
        EventKind::SessionClosed { reason: None },
        EventKind::SessionDeleted {},
        EventKind::Resync {
            reason: ResyncReason::TooFarBehind,
            info: info(),
            messages: vec![],
            has_more: false,
            in_flight: None,
        },
    ];
    let mut map = labels();
    for kind in refused {
        let name = kind.name();
        let err = map.translate(kind, NOW).expect_err(name);
        assert_eq!(err, Refused { kind: name });
        assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
    }
}

#[test]
fn refused_kinds_from_the_wire() {
    let mut map = labels();
    let line = json!({"type": "session.closed", "reason": "bye"}).to_string();
    let AgentMessage::Event(kind) = AgentMessage::parse(&line).unwrap() else {
        panic!("not an event");
    };
    let err = map.translate(kind, NOW).unwrap_err();
    assert_eq!(
        err.to_string(),
        "agents may not send `session.closed` events: only the runner emits them"
    );
}

#[test]
fn works_with_runner_ids() {
    let mut map = LabelMap::new(RunnerIds::new().session_id(), RunnerIds::new());
    let a = map
        .translate(
            EventKind::MessageStart {
                message_id: MessageId::new("m1"),
                role: Role::User,
                model: None,
            },
            NOW,
        )
        .unwrap();
    let (Some(id), _) = ids_of(&a) else {
        panic!("no id");
    };
    assert!(id.starts_with("msg_") && id.len() == 20, "{id}");
    assert_eq!(map.label_of(&MessageId::new(id)), Some("m1"));
}

//! Golden tests over captured pi transcripts, and targeted unit tests.
//!
//! Each `tests/data/<name>.jsonl` (raw pi stdout) is fed through a [`Translator`] with
//! counting ids (`msg_1`, `prt_1`, …) and `now` = the line number; the outputs must equal
//! `tests/data/<name>.expected.jsonl`, one per line: an `EventKind` as JSON, or
//! `{"type":"(title)",…}` / `{"type":"(response)",…}` for the other [`Out`]s. The translator's
//! held-back idle is flushed once, after the last line. Run with `UPDATE_EXPECT=1` to rewrite
//! the expected files, then review the diff by eye.

use std::collections::HashMap;
use std::path::PathBuf;

use oqto_protocol::{EventKind, Part, Phase, SessionId, State, ToolStatus};
use serde_json::{Value, json};

use oqto_pi::{PiLine, parse_line};

use super::{CountingIds, Out, Translator};

pub(super) fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn translator() -> Translator<CountingIds> {
    Translator::new(SessionId::new("ses_test"), CountingIds::default())
}

/// Feeds raw lines (each must parse), then flushes the held-back idle.
pub(super) fn translate_lines(lines: &[String]) -> Vec<Out> {
    let mut t = translator();
    let mut outs = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let parsed = parse_line(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1));
        outs.extend(t.feed(parsed, n as u64 + 1));
    }
    outs.extend(t.flush_idle());
    outs
}

/// One expected-file line. Events keep their field order (`type` first).
fn out_line(out: &Out) -> String {
    match out {
        Out::Event(event) => serde_json::to_string(event).unwrap(),
        Out::Title(title) => json!({"type": "(title)", "title": title}).to_string(),
        Out::Response(r) => {
            json!({"type": "(response)", "id": r.id, "command": r.command, "success": r.success})
                .to_string()
        }
    }
}

fn events(outs: &[Out]) -> Vec<&EventKind> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn is_idle(e: &EventKind) -> bool {
    matches!(
        e,
        EventKind::State {
            state: State::Idle,
            ..
        }
    )
}

/// What must hold for any transcript's translation.
#[allow(clippy::too_many_lines)] // one list of checks
pub(super) fn check_invariants(name: &str, outs: &[Out]) {
    let events = events(outs);
    // Streamed deltas add up to the part's final content; part ids are stable up to message.end.
    let mut deltas: HashMap<String, String> = HashMap::new();
    let mut ended: HashMap<String, Part> = HashMap::new();
    let mut open_messages = Vec::new();
    for e in &events {
        match e {
            EventKind::MessageStart { message_id, .. } => open_messages.push(message_id.clone()),
            EventKind::PartDelta { part_id, delta, .. } => {
                deltas.entry(part_id.0.clone()).or_default().push_str(delta);
            }
            EventKind::PartEnd { part, .. } => {
                let streamed = deltas.get(&part.id().0);
                match part {
                    Part::Text { text, .. } | Part::Thinking { text, .. } => {
                        if let Some(streamed) = streamed {
                            assert_eq!(streamed, text, "{name}: deltas of {}", part.id());
                        }
                    }
                    Part::ToolCall { input, .. } => {
                        if let Some(streamed) = streamed {
                            let parsed: Value = serde_json::from_str(streamed).unwrap();
                            assert_eq!(&parsed, input, "{name}: tool input of {}", part.id());
                        }
                    }
                    _ => {}
                }
                ended.insert(part.id().0.clone(), part.clone());
            }
            EventKind::MessageEnd { message } => {
                assert!(
                    open_messages.contains(&message.id),
                    "{name}: message.end without start: {}",
                    message.id
                );
                open_messages.retain(|id| id != &message.id);
                for part in &message.parts {
                    assert_eq!(
                        ended.get(&part.id().0),
                        Some(part),
                        "{name}: message.end part differs from its part.end"
                    );
                }
            }
            _ => {}
        }
    }
    assert!(
        open_messages.is_empty(),
        "{name}: unfinished {open_messages:?}"
    );

    // No idle between a failed attempt and its retry.
    let mut since_error = None;
    for (i, e) in events.iter().enumerate() {
        match e {
            EventKind::Error { .. } => since_error = Some(i),
            EventKind::RetryStart { .. } => {
                if let Some(start) = since_error {
                    assert!(
                        !events[start..i].iter().any(|e| is_idle(e)),
                        "{name}: idle before retry.start at {i}"
                    );
                }
            }
            _ => {}
        }
    }

    // Tool output deltas are not duplicated: they add up to a prefix of the final output.
    let mut output: HashMap<String, String> = HashMap::new();
    for e in &events {
        match e {
            EventKind::ToolOutput { part_id, delta, .. } => {
                output.entry(part_id.0.clone()).or_default().push_str(delta);
            }
            EventKind::ToolEnd {
                part:
                    Part::ToolCall {
                        id,
                        output: Some(done),
                        ..
                    },
                ..
            } => {
                let streamed = output.get(&id.0).map_or("", String::as_str);
                assert!(
                    done.starts_with(streamed),
                    "{name}: tool output {streamed:?} vs {done:?}"
                );
            }
            _ => {}
        }
    }

    // The session ends idle, and never says the same state twice in a row.
    let states: Vec<&EventKind> = events
        .iter()
        .copied()
        .filter(|e| matches!(e, EventKind::State { .. }))
        .collect();
    assert!(
        states.last().is_some_and(|e| is_idle(e)),
        "{name}: ends idle"
    );
    for pair in states.windows(2) {
        assert_ne!(pair[0], pair[1], "{name}: repeated state");
    }
}

pub(super) fn read_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn golden_transcripts() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".jsonl") && !name.ends_with(".expected.jsonl")
        })
        .collect();
    inputs.sort();
    let names: Vec<String> = inputs
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "pi-text",
        "pi-tool",
        "pi-think",
        "pi-retry",
        "pi-abort",
        "pi-fail",
        "pi-compact",
    ] {
        assert!(names.iter().any(|n| n == want), "missing transcript {want}");
    }
    let mut mismatched = Vec::new();
    for (input, name) in inputs.iter().zip(&names) {
        let outs = translate_lines(&read_lines(input));
        check_invariants(name, &outs);
        let actual: String = outs.iter().map(|o| out_line(o) + "\n").collect();
        let expected_path = data_dir().join(format!("{name}.expected.jsonl"));
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            let first = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(expected.lines().count().min(actual.lines().count()));
            mismatched.push(format!(
                "{name}: first difference at line {}\n  expected: {}\n  actual:   {}",
                first + 1,
                expected.lines().nth(first).unwrap_or("<none>"),
                actual.lines().nth(first).unwrap_or("<none>")
            ));
        }
    }
    assert!(
        mismatched.is_empty(),
        "golden mismatch (rerun with UPDATE_EXPECT=1 and review):\n{}",
        mismatched.join("\n")
    );
}

#[test]
fn reference_transcripts_parse_into_known_lines() {
    for name in ["reference-text-tool", "reference-abort-steer-retry"] {
        for line in read_lines(&data_dir().join(format!("{name}.jsonl"))) {
            let parsed = parse_line(&line).unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
            assert!(
                !matches!(parsed, PiLine::Other { .. } | PiLine::Unknown),
                "{name}: {line}"
            );
        }
    }
}

fn feed(t: &mut Translator<CountingIds>, line: &Value) -> Vec<Out> {
    t.feed(parse_line(&line.to_string()).unwrap(), 1)
}

fn only_events(outs: Vec<Out>) -> Vec<EventKind> {
    outs.into_iter()
        .map(|o| match o {
            Out::Event(e) => e,
            other => panic!("not an event: {other:?}"),
        })
        .collect()
}

fn idle() -> EventKind {
    EventKind::State {
        state: State::Idle,
        phase: None,
        reason: None,
    }
}

fn working(phase: Phase) -> EventKind {
    EventKind::State {
        state: State::Working,
        phase: Some(phase),
        reason: None,
    }
}

/// A translator that has seen a bash tool call `call_1` in `msg_1`/`prt_1`.
fn with_tool_call() -> Translator<CountingIds> {
    let mut t = translator();
    feed(&mut t, &json!({"type": "agent_start"}));
    feed(
        &mut t,
        &json!({"type": "message_start", "message": {"role": "assistant", "content": [], "provider": "p", "model": "m"}}),
    );
    feed(
        &mut t,
        &json!({"type": "message_end", "message": {"role": "assistant", "provider": "p", "model": "m",
            "stopReason": "toolUse",
            "content": [{"type": "toolCall", "id": "call_1", "name": "bash", "arguments": {"command": "x"}}]}}),
    );
    t
}

fn update(t: &mut Translator<CountingIds>, text: Option<&str>) -> Vec<EventKind> {
    let content = text.map_or(json!([]), |t| json!([{"type": "text", "text": t}]));
    only_events(feed(
        t,
        &json!({"type": "tool_execution_update", "toolCallId": "call_1", "toolName": "bash",
            "args": {}, "partialResult": {"content": content}}),
    ))
}

fn tool_output(delta: &str) -> EventKind {
    EventKind::ToolOutput {
        message_id: "msg_1".into(),
        part_id: "prt_1".into(),
        delta: delta.to_owned(),
    }
}

#[test]
fn cumulative_tool_updates_become_incremental_output() {
    let mut t = with_tool_call();
    let start = only_events(feed(
        &mut t,
        &json!({"type": "tool_execution_start", "toolCallId": "call_1", "toolName": "bash", "args": {"command": "x"}}),
    ));
    assert_eq!(start[0], working(Phase::ToolRunning));
    assert!(matches!(&start[1], EventKind::ToolStart { call_id, .. } if call_id == "call_1"));
    assert_eq!(update(&mut t, None), vec![]);
    assert_eq!(update(&mut t, Some("a\n")), vec![tool_output("a\n")]);
    assert_eq!(update(&mut t, Some("a\n")), vec![]);
    assert_eq!(update(&mut t, Some("a\nb\n")), vec![tool_output("b\n")]);
    let end = only_events(feed(
        &mut t,
        &json!({"type": "tool_execution_end", "toolCallId": "call_1", "toolName": "bash",
            "result": {"content": [{"type": "text", "text": "a\nb\n"}]}, "isError": false}),
    ));
    assert_eq!(
        end,
        vec![
            EventKind::ToolEnd {
                message_id: "msg_1".into(),
                part: Part::ToolCall {
                    id: "prt_1".into(),
                    call_id: "call_1".into(),
                    name: "bash".into(),
                    input: json!({"command": "x"}),
                    status: ToolStatus::Done,
                    output: Some("a\nb\n".into()),
                    is_error: false,
                },
            },
            working(Phase::Generating),
        ]
    );
}

#[test]
fn aborted_tool_ends_aborted() {
    let mut t = with_tool_call();
    feed(
        &mut t,
        &json!({"type": "tool_execution_start", "toolCallId": "call_1", "toolName": "bash", "args": {"command": "x"}}),
    );
    let end = only_events(feed(
        &mut t,
        &json!({"type": "tool_execution_end", "toolCallId": "call_1", "toolName": "bash",
            "result": {"content": [{"type": "text", "text": "partial\n\nCommand aborted"}]}, "isError": true}),
    ));
    assert!(
        matches!(
            &end[0],
            EventKind::ToolEnd {
                part: Part::ToolCall {
                    status: ToolStatus::Aborted,
                    is_error: true,
                    ..
                },
                ..
            }
        ),
        "{end:?}"
    );
}

#[test]
fn agent_end_then_retry_does_not_flicker_idle() {
    let mut t = translator();
    assert_eq!(
        only_events(feed(&mut t, &json!({"type": "agent_start"}))),
        vec![working(Phase::Generating)]
    );
    assert_eq!(
        feed(&mut t, &json!({"type": "agent_end", "messages": []})),
        vec![]
    );
    let retry = only_events(feed(
        &mut t,
        &json!({"type": "auto_retry_start", "attempt": 1, "maxAttempts": 2, "delayMs": 500, "errorMessage": "503 x"}),
    ));
    assert_eq!(
        retry,
        vec![
            EventKind::RetryStart {
                attempt: 1,
                max_attempts: 2,
                delay_ms: 500,
                error: "503 x".into()
            },
            working(Phase::Retrying),
        ]
    );
    assert_eq!(
        t.flush_idle(),
        vec![],
        "the retry cancelled the held-back idle"
    );
    assert_eq!(
        only_events(feed(&mut t, &json!({"type": "agent_start"}))),
        vec![working(Phase::Generating)]
    );
    feed(&mut t, &json!({"type": "agent_end", "messages": []}));
    // The final failure: retry.end, then idle.
    let end = only_events(feed(
        &mut t,
        &json!({"type": "auto_retry_end", "success": false, "attempt": 2, "finalError": "503 x"}),
    ));
    assert_eq!(
        end,
        vec![
            EventKind::RetryEnd {
                success: false,
                attempt: 2,
                error: Some("503 x".into())
            },
            idle(),
        ]
    );
    assert_eq!(t.flush_idle(), vec![]);
}

#[test]
fn agent_end_then_quiet_flushes_idle_once() {
    let mut t = translator();
    feed(&mut t, &json!({"type": "agent_start"}));
    assert_eq!(feed(&mut t, &json!({"type": "agent_end"})), vec![]);
    assert_eq!(only_events(t.flush_idle()), vec![idle()]);
    assert_eq!(t.flush_idle(), vec![]);
}

#[test]
fn agent_end_then_other_line_emits_idle_first() {
    let mut t = translator();
    feed(&mut t, &json!({"type": "agent_start"}));
    feed(&mut t, &json!({"type": "agent_end"}));
    let outs = only_events(feed(
        &mut t,
        &json!({"type": "queue_update", "steering": [], "followUp": ["later"]}),
    ));
    assert_eq!(
        outs,
        vec![
            idle(),
            EventKind::QueueUpdate {
                steering: vec![],
                follow_up: vec!["later".into()]
            }
        ]
    );
}

#[test]
fn responses_pass_through_without_deciding_idle() {
    let mut t = translator();
    feed(&mut t, &json!({"type": "agent_start"}));
    feed(&mut t, &json!({"type": "agent_end"}));
    let outs = feed(
        &mut t,
        &json!({"id": "abort-1", "type": "response", "command": "abort", "success": true}),
    );
    assert!(
        matches!(&outs[..], [Out::Response(r)] if r.id.as_deref() == Some("abort-1") && r.success),
        "{outs:?}"
    );
    assert_eq!(only_events(t.flush_idle()), vec![idle()]);
}

#[test]
fn unknown_event_is_other_and_ignored() {
    let line = parse_line(r#"{"type":"extension_ui_request","id":"x","method":"notify"}"#).unwrap();
    assert_eq!(
        line,
        PiLine::Other {
            kind: "extension_ui_request".into()
        }
    );
    let mut t = translator();
    assert_eq!(t.feed(line, 1), vec![]);
    // An unknown streaming sub-type inside a known event is ignored too.
    let mut t = translator();
    let outs = feed(
        &mut t,
        &json!({"type": "message_update", "assistantMessageEvent": {"type": "brand_new", "contentIndex": 0}}),
    );
    assert_eq!(outs, vec![]);
}

#[test]
fn garbage_lines_are_errors_not_panics() {
    for line in [
        "",
        "this is not json",
        "{",
        "[]",
        "42",
        "{}",
        r#"{"type":5}"#,
        r#"{"type":"message_start"}"#,
        r#"{"type":"message_update","assistantMessageEvent":{"type":"text_delta"}}"#,
        r#"{"type":"response"}"#,
        "{\"type\":\"agent_start\"\u{2028}",
    ] {
        assert!(parse_line(line).is_err(), "{line:?} parsed");
    }
    // Trailing CR and U+2028 inside strings are fine.
    assert_eq!(
        parse_line("{\"type\":\"agent_start\"}\r").unwrap(),
        PiLine::AgentStart
    );
    assert!(matches!(
        parse_line("{\"type\":\"session_info_changed\",\"name\":\"a\u{2028}b\"}").unwrap(),
        PiLine::SessionInfoChanged { name: Some(n) } if n == "a\u{2028}b"
    ));
}

#[test]
fn unknown_content_blocks_become_visible_text_parts() {
    let mut t = translator();
    feed(&mut t, &json!({"type": "agent_start"}));
    let user = json!({"role": "user", "content": [
        {"type": "text", "text": "hi"}, {"type": "audio", "data": "…"}]});
    feed(&mut t, &json!({"type": "message_start", "message": user}));
    let outs = only_events(feed(
        &mut t,
        &json!({"type": "message_end", "message": user}),
    ));
    let EventKind::MessageEnd { message } = &outs[0] else {
        panic!("{outs:?}")
    };
    assert_eq!(
        message.parts,
        [
            Part::Text {
                id: "prt_1".into(),
                text: "hi".into()
            },
            Part::Text {
                id: "prt_2".into(),
                text: "[unsupported pi content block: audio]".into()
            }
        ]
    );
    let assistant = json!({"role": "assistant", "provider": "p", "model": "m",
        "stopReason": "pause_turn",
        "content": [{"type": "redacted_thinking", "data": "x"}, {"type": "text", "text": "ok"}]});
    feed(
        &mut t,
        &json!({"type": "message_start", "message": assistant}),
    );
    let outs = only_events(feed(
        &mut t,
        &json!({"type": "message_end", "message": assistant}),
    ));
    let names: Vec<&str> = outs.iter().map(EventKind::name).collect();
    assert_eq!(
        names,
        [
            "part.start",
            "part.end",
            "part.start",
            "part.end",
            "message.end"
        ]
    );
    let EventKind::MessageEnd { message } = &outs[4] else {
        panic!("{outs:?}")
    };
    assert!(matches!(
        &message.parts[0],
        Part::Text { text, .. } if text == "[unsupported pi content block: redacted_thinking]"
    ));
    // A stop reason this build does not know is no stop reason, not a failed line.
    assert_eq!(message.stop_reason, None);
}

#[test]
fn provider_error_gives_error_part_and_recoverable_session_error() {
    let mut t = translator();
    feed(&mut t, &json!({"type": "agent_start"}));
    let msg = json!({"role": "assistant", "content": [], "provider": "p", "model": "m",
        "stopReason": "error", "errorMessage": "400 nope"});
    feed(&mut t, &json!({"type": "message_start", "message": msg}));
    let outs = only_events(feed(
        &mut t,
        &json!({"type": "message_end", "message": msg}),
    ));
    let names: Vec<&str> = outs.iter().map(EventKind::name).collect();
    assert_eq!(
        names,
        ["part.start", "part.end", "message.end", "session.error"]
    );
    assert!(
        matches!(&outs[3], EventKind::Error { recoverable: true, message, .. } if message == "400 nope")
    );
}

#[test]
fn session_name_and_thinking_level() {
    let mut t = translator();
    assert_eq!(
        feed(
            &mut t,
            &json!({"type": "session_info_changed", "name": "probe"})
        ),
        vec![Out::Title("probe".into())]
    );
    // Without a known model there is nothing to report.
    assert_eq!(
        feed(
            &mut t,
            &json!({"type": "thinking_level_changed", "level": "high"})
        ),
        vec![]
    );
    t.set_model(
        oqto_protocol::ModelRef {
            provider: "p".into(),
            id: "m".into(),
        },
        None,
    );
    let outs = only_events(feed(
        &mut t,
        &json!({"type": "thinking_level_changed", "level": "low"}),
    ));
    assert!(matches!(
        &outs[..],
        [EventKind::ModelChanged {
            thinking_level: Some(oqto_protocol::ThinkingLevel::Low),
            ..
        }]
    ));
}

#[test]
fn compaction_while_idle_returns_to_idle() {
    let mut t = translator();
    t.set_state(State::Idle, None);
    let start = only_events(feed(
        &mut t,
        &json!({"type": "compaction_start", "reason": "manual"}),
    ));
    assert_eq!(start[1], working(Phase::Compacting));
    let end = only_events(feed(
        &mut t,
        &json!({"type": "compaction_end", "reason": "manual", "aborted": false, "willRetry": false,
            "result": {"summary": "S", "tokensBefore": 9, "firstKeptEntryId": "x"}}),
    ));
    assert_eq!(
        end,
        vec![
            EventKind::CompactionEnd {
                reason: oqto_protocol::CompactionReason::Manual,
                aborted: false,
                summary: Some("S".into()),
                tokens_before: Some(9),
            },
            idle(),
        ]
    );
}

#[test]
fn compaction_right_after_agent_end_keeps_idle_held_back() {
    let mut t = translator();
    feed(&mut t, &json!({"type": "agent_start"}));
    feed(&mut t, &json!({"type": "agent_end"}));
    let start = only_events(feed(
        &mut t,
        &json!({"type": "compaction_start", "reason": "threshold"}),
    ));
    assert!(!start.iter().any(is_idle), "{start:?}");
    let end = only_events(feed(
        &mut t,
        &json!({"type": "compaction_end", "reason": "threshold", "aborted": false}),
    ));
    assert_eq!(end.len(), 1, "{end:?}");
    assert_eq!(only_events(t.flush_idle()), vec![idle()]);
}

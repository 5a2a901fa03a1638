//! The parser on hand-written pi lines and on session files written by the real pi
//! (`tests/data/pi-sessions/`, see the README there).

use std::path::{Path, PathBuf};

use oqto_protocol::{Message, ModelRef, Part, Role, State, StopReason, ToolStatus, Usage};
use serde_json::json;

use super::{IMPORTED_REASON, ParseError, ParsedSession, parse_session, session_id};

const UUID: &str = "01a20e00-0000-7000-8000-000000000001";

fn real(name: &str) -> (PathBuf, ParsedSession) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pi-sessions")
        .join(format!("pi-session-{name}.jsonl"));
    let parsed = super::parse_session_file(&path).unwrap();
    (path, parsed)
}

fn header() -> String {
    json!({"type":"session","version":3,"id":UUID,"timestamp":"2026-11-24T10:00:00.000Z","cwd":"/home/ada/proj"})
        .to_string()
}

/// `{"type":"message",…}` with `message`, entry `id` and parent.
fn message(id: &str, parent: Option<&str>, message: &serde_json::Value) -> String {
    json!({"type":"message","id":id,"parentId":parent,"timestamp":"2026-11-24T10:00:01.000Z","message":message})
        .to_string()
}

fn user(id: &str, parent: Option<&str>, text: &str) -> String {
    message(
        id,
        parent,
        &json!({"role":"user","content":[{"type":"text","text":text}],"timestamp":1_795_514_401_000_u64}),
    )
}

fn assistant(id: &str, parent: Option<&str>, text: &str) -> String {
    message(
        id,
        parent,
        &json!({"role":"assistant","content":[{"type":"text","text":text}],"provider":"anthropic","model":"claude-sonnet-4","stopReason":"stop","timestamp":1_795_514_402_000_u64}),
    )
}

fn parse(lines: &[String]) -> ParsedSession {
    parse_session(lines.join("\n").as_bytes(), Path::new("/p/s.jsonl")).unwrap()
}

fn parse_err(text: &str) -> String {
    match parse_session(text.as_bytes(), Path::new("/p/s.jsonl")) {
        Ok(parsed) => panic!("accepted {text:?}: {parsed:?}"),
        Err(e) => e.to_string(),
    }
}

/// Each message's role and text (text parts joined), for compact assertions.
fn texts(messages: &[Message]) -> Vec<(Role, String)> {
    messages
        .iter()
        .map(|m| {
            let text = m
                .parts
                .iter()
                .filter_map(|p| match p {
                    Part::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            (m.role, text)
        })
        .collect()
}

fn tool_calls(messages: &[Message]) -> Vec<&Part> {
    messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter(|p| matches!(p, Part::ToolCall { .. }))
        .collect()
}

// ----- files written by the real pi ---------------------------------------------------------

#[test]
fn real_text_turn_with_thinking_and_a_name() {
    let (path, s) = real("text");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.pi_session, "01a20e00-562e-707f-82cc-4832f7e367ff");
    let r = &s.record;
    assert_eq!(r.id, session_id("01a20e00-562e-707f-82cc-4832f7e367ff"));
    assert_eq!(r.harness, "pi");
    assert_eq!(r.harness_ref.as_deref(), path.to_str());
    assert_eq!(r.cwd, "/tmp/pi-capture/work/proj");
    assert_eq!(r.title.as_deref(), Some("probe session"));
    assert_eq!(
        r.model,
        Some(ModelRef {
            provider: "demo".into(),
            id: "oqto-demo".into()
        })
    );
    assert_eq!(r.state, State::Stopped);
    assert_eq!(r.reason.as_deref(), Some(IMPORTED_REASON));
    assert_eq!(r.created_at, 1_795_531_232_815); // the header's 14:40:32.815Z
    assert_eq!(r.updated_at, 1_795_531_232_983); // the last entry's 14:40:32.983Z
    assert_eq!(r.last_seq, 0);
    assert_eq!(r.parent, None);

    assert_eq!(
        texts(&s.messages),
        [
            (Role::User, "hello world".into()),
            (Role::Assistant, "echo: hello world".into()),
            (Role::User, "think about this".into()),
            (Role::Assistant, "echo: think about this".into()),
        ]
    );
    let last = &s.messages[3];
    assert!(
        matches!(&last.parts[0], Part::Thinking { text, .. } if text == "Thinking about: think about this"),
        "{last:?}"
    );
    assert_eq!(last.stop_reason, Some(StopReason::Stop));
    assert_eq!(last.created_at, 1_795_531_232_972); // the message's own timestamp
    assert_eq!(
        s.messages[1].usage,
        Some(Usage {
            input: 591,
            output: 5,
            cache_read: 0,
            cache_write: 0,
            cost: None,
        })
    );
    assert!(s.messages.iter().all(|m| m.session == r.id));
    assert!(s.messages[0].stop_reason.is_none() && s.messages[0].model.is_none());
}

#[test]
fn real_tool_turns_fill_the_tool_call_parts() {
    let (_, s) = real("tool");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // 3 prompts, 6 assistant messages, 1 user-run bash command; tool results are no messages.
    let roles: Vec<Role> = s.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles.len(), 10, "{roles:?}");
    assert_eq!(roles.iter().filter(|r| **r == Role::User).count(), 4);

    let calls = tool_calls(&s.messages);
    assert_eq!(calls.len(), 4, "{calls:?}");
    let Part::ToolCall {
        call_id,
        name,
        input,
        status,
        output,
        is_error,
        ..
    } = calls[0]
    else {
        unreachable!()
    };
    assert_eq!(call_id, "call_e3142f537ddd");
    assert_eq!(name, "bash");
    assert_eq!(
        input,
        &json!({"command": "echo hi-from-bash && cat hello.txt"})
    );
    assert_eq!(*status, ToolStatus::Done);
    assert_eq!(
        output.as_deref(),
        Some("hi-from-bash\nhello from the project dir\n")
    );
    assert!(!is_error);
    assert_eq!(s.messages[1].stop_reason, Some(StopReason::ToolUse));

    // A command that exits 7: done, but failed.
    assert!(matches!(
        calls[1],
        Part::ToolCall { status: ToolStatus::Done, is_error: true, output: Some(o), .. }
            if o.ends_with("Command exited with code 7")
    ));
    // The user's own `bash` (pi's bashExecution): a user message with a bash tool call.
    let bash = s
        .messages
        .iter()
        .find(|m| m.role == Role::User && matches!(m.parts[..], [Part::ToolCall { .. }]))
        .unwrap();
    assert!(matches!(
        &bash.parts[0],
        Part::ToolCall { name, input, status: ToolStatus::Done, output: Some(o), is_error: true, .. }
            if name == "bash" && input == &json!({"command": "echo from-rpc-bash; exit 3"}) && o == "from-rpc-bash\n"
    ));
    // A failing `read`.
    assert!(matches!(
        calls[3],
        Part::ToolCall { name, status: ToolStatus::Done, is_error: true, output: Some(o), .. }
            if name == "read" && o.starts_with("ENOENT")
    ));
}

#[test]
fn real_compaction_is_a_system_message_in_place() {
    let (_, s) = real("compact");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let roles: Vec<Role> = s.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::System,
            Role::User,
            Role::Assistant
        ]
    );
    assert!(matches!(
        &s.messages[4].parts[..],
        [Part::Compaction { summary, tokens_before: Some(620), .. }]
            if summary == "SUMMARY: 1 messages summarised by oqto-fake-llm."
    ));
    assert_eq!(s.messages[4].created_at, 1_795_531_238_914);
    // No name: the first prompt is the title.
    assert_eq!(s.record.title.as_deref(), Some("hello before compacting"));
}

#[test]
fn real_errors_retries_and_aborts() {
    let (_, s) = real("errors");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let m = &s.messages;
    // fail:400 → an error message with an error part.
    assert_eq!(m[1].stop_reason, Some(StopReason::Error));
    assert!(matches!(
        &m[1].parts[..],
        [Part::Error { message, .. }] if message.starts_with("400 ")
    ));
    // flaky:503 → the failed attempt stays, then the retry's answer.
    assert_eq!(m[3].stop_reason, Some(StopReason::Error));
    assert_eq!(
        texts(&m[4..5]),
        [(Role::Assistant, "echo: flaky:503 try again".into())]
    );
    // An abort while streaming keeps the partial text, without an error part.
    assert_eq!(m[6].stop_reason, Some(StopReason::Aborted));
    assert!(matches!(&m[6].parts[..], [Part::Text { text, .. }] if text == "word1"));
    // An abort while a tool runs: the call is aborted (pi says `Command aborted`), then an
    // empty aborted message.
    assert!(matches!(
        &m[8].parts[..],
        [Part::ToolCall { status: ToolStatus::Aborted, is_error: true, output: Some(o), .. }] if o == "Command aborted"
    ));
    assert_eq!(m[9].stop_reason, Some(StopReason::Aborted));
    assert!(m[9].parts.is_empty());
    assert_eq!(m.len(), 10);
}

/// The ids are the derived ones, so parsing again gives the same messages.
#[test]
fn real_files_parse_to_the_same_ids_every_time() {
    for name in ["text", "tool", "compact", "errors"] {
        let (_, a) = real(name);
        let (_, b) = real(name);
        assert_eq!(a, b, "{name}");
        let mut ids: Vec<&str> = a
            .messages
            .iter()
            .map(|m| m.id.as_str())
            .chain(
                a.messages
                    .iter()
                    .flat_map(|m| m.parts.iter().map(|p| p.id().as_str())),
            )
            .collect();
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all, "{name}: ids repeat");
    }
}

// ----- hand-written lines -------------------------------------------------------------------

#[test]
fn only_the_branch_of_the_last_entry_is_imported() {
    // u1 → a1 → u2 → a2 (abandoned); then back to a1 → u3 → a3, the current leaf.
    let s = parse(&[
        header(),
        user("u1", None, "first"),
        assistant("a1", Some("u1"), "one"),
        user("u2", Some("a1"), "abandoned question"),
        assistant("a2", Some("u2"), "abandoned answer"),
        json!({"type":"branch_summary","id":"b1","parentId":"a1","timestamp":"2026-11-24T10:00:05.000Z","fromId":"a2","summary":"Tried the abandoned question."}).to_string(),
        user("u3", Some("b1"), "second try"),
        assistant("a3", Some("u3"), "three"),
    ]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        texts(&s.messages),
        [
            (Role::User, "first".into()),
            (Role::Assistant, "one".into()),
            (Role::System, String::new()),
            (Role::User, "second try".into()),
            (Role::Assistant, "three".into()),
        ]
    );
    assert!(matches!(
        &s.messages[2].parts[..],
        [Part::Compaction { summary, tokens_before: None, .. }] if summary == "Tried the abandoned question."
    ));
    // Entries of every branch are the importer's own, for telling them from runner messages.
    assert_eq!(s.own_ids.len(), 7);
}

#[test]
fn the_leaf_is_the_last_entry_even_on_an_older_branch() {
    let s = parse(&[
        header(),
        user("u1", None, "first"),
        assistant("a1", Some("u1"), "one"),
        user("u2", Some("a1"), "newer branch"),
        user("u3", Some("a1"), "written last"),
    ]);
    assert_eq!(
        texts(&s.messages),
        [
            (Role::User, "first".into()),
            (Role::Assistant, "one".into()),
            (Role::User, "written last".into()),
        ]
    );
}

#[test]
fn garbage_lines_are_warnings_not_failures() {
    let mut bytes = Vec::new();
    for line in [
        header(),
        user("u1", None, "hello"),
        "this is not json".to_owned(),
        "[1,2]".to_owned(),
        json!({"id":"x1","parentId":"u1"}).to_string(),
        json!({"type":"message","parentId":"u1"}).to_string(),
        json!({"type":"message","id":"m1","parentId":"u1","message":{"role":"assistant","content":[],"usage":"lots"}}).to_string(),
        json!({"type":"message","id":"m2","parentId":"m1","message":"not an object"}).to_string(),
    ] {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"{\"type\":\"label\",\"id\":\"\xff\xfe\"}\n");
    bytes.extend_from_slice(assistant("a1", Some("m2"), "still here").as_bytes());
    // A half-written last line (pi appends while we read): a warning too.
    bytes.extend_from_slice(b"\n{\"type\":\"message\",\"id\":\"a2\",\"par");
    let s = parse_session(&bytes, Path::new("/p/s.jsonl")).unwrap();
    let lines: Vec<&str> = s
        .warnings
        .iter()
        .map(|w| w.split(':').next().unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            "line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9", "line 11"
        ],
        "{:#?}",
        s.warnings
    );
    assert!(
        s.warnings[0].starts_with("line 3: not JSON"),
        "{}",
        s.warnings[0]
    );
    assert!(
        s.warnings[4].starts_with("line 7: unreadable message"),
        "{}",
        s.warnings[4]
    );
    assert!(
        s.warnings[6].starts_with("line 9: not JSON"),
        "{}",
        s.warnings[6]
    );
    // m1 and m2 make no message, but the chain through them holds.
    assert_eq!(
        texts(&s.messages),
        [
            (Role::User, "hello".into()),
            (Role::Assistant, "still here".into())
        ]
    );
}

#[test]
fn files_without_a_valid_header_are_refused() {
    assert_eq!(parse_err(""), "the file is empty");
    assert_eq!(parse_err("\n  \n"), "the file is empty");
    assert!(
        parse_err("garbage\n").starts_with("not a pi session file: the first line is not JSON")
    );
    assert_eq!(
        parse_err(&user("u1", None, "hi")),
        "not a pi session file: the first line is a `message` entry, not the `session` header"
    );
    assert_eq!(
        parse_err(r#"{"type":"session","version":3,"cwd":"/w"}"#),
        "not a pi session file: the header has no session `id`"
    );
    assert_eq!(
        parse_err(r#"{"type":"session","version":3,"id":"x","cwd":"work"}"#),
        "not a pi session file: the header's cwd `work` is not an absolute path"
    );
    assert!(
        parse_err(r#"{"type":"session","id":"x","cwd":"/w"}"#)
            .starts_with("pi session format version 1 is not supported")
    );
    assert!(matches!(
        parse_session(
            br#"{"type":"session","version":4,"id":"x","cwd":"/w"}"#,
            Path::new("/p")
        ),
        Err(ParseError::Version(4))
    ));
    // Version 2 (before the `custom` rename) reads the same.
    let v2 = parse_session(
        format!(
            "{}\n{}",
            r#"{"type":"session","version":2,"id":"x","cwd":"/w"}"#,
            user("u", None, "hi")
        )
        .as_bytes(),
        Path::new("/p"),
    )
    .unwrap();
    assert_eq!(v2.messages.len(), 1);
}

#[test]
fn a_header_only_file_is_an_empty_session() {
    let s = parse(&[header()]);
    assert!(s.messages.is_empty());
    assert_eq!(s.record.title, None);
    assert_eq!(s.record.created_at, 1_795_514_400_000);
    assert_eq!(s.record.updated_at, 1_795_514_400_000);
}

#[test]
fn titles_come_from_the_last_name_else_the_first_prompt() {
    let long = format!(
        "  \n{} and then some more words\nsecond line",
        "x".repeat(85)
    );
    let s = parse(&[
        header(),
        user("u1", None, &long),
        assistant("a1", Some("u1"), "ok"),
    ]);
    let title = s.record.title.unwrap();
    assert_eq!(title.chars().count(), 80);
    assert!(title.ends_with("x…"), "{title}");

    let named = |names: &[&str]| {
        let mut lines = vec![header(), user("u1", None, "the prompt")];
        let mut parent = "u1".to_owned();
        for (i, name) in names.iter().enumerate() {
            let id = format!("n{i}");
            lines.push(json!({"type":"session_info","id":id,"parentId":parent,"timestamp":"2026-11-24T10:00:09.000Z","name":name}).to_string());
            parent = id;
        }
        parse(&lines)
    };
    let s = named(&["first name", "  second name "]);
    assert_eq!(s.record.title.as_deref(), Some("second name"));
    assert_eq!(s.named_at, Some(1_795_514_409_000));
    // An empty name clears it, as in pi: back to the first prompt.
    let s = named(&["a name", ""]);
    assert_eq!(s.record.title.as_deref(), Some("the prompt"));
    assert_eq!(s.named_at, None);
}

#[test]
fn tool_results_without_a_call_and_calls_without_a_result() {
    let s = parse(&[
        header(),
        user("u1", None, "go"),
        message(
            "a1",
            Some("u1"),
            &json!({"role":"assistant","content":[
                {"type":"text","text":"running two"},
                {"type":"toolCall","id":"c1","name":"bash","arguments":{"command":"ls"}},
                {"type":"toolCall","id":"c2","name":"read","arguments":{"path":"a"}}
            ],"provider":"p","model":"m","stopReason":"toolUse"}),
        ),
        message(
            "r1",
            Some("a1"),
            &json!({"role":"toolResult","toolCallId":"c1","toolName":"bash","content":[{"type":"text","text":"a\n"},{"type":"image","data":"AAAA","mimeType":"image/png"}],"isError":false}),
        ),
        message(
            "r9",
            Some("r1"),
            &json!({"role":"toolResult","toolCallId":"nope","toolName":"bash","content":[],"isError":false}),
        ),
        message(
            "r2",
            Some("r9"),
            &json!({"role":"toolResult","toolCallId":"c2","toolName":"read","content":[{"type":"text","text":"Operation aborted"}],"isError":true}),
        ),
        message(
            "a2",
            Some("r2"),
            &json!({"role":"assistant","content":[{"type":"toolCall","id":"c3","name":"bash","arguments":{}}],"stopReason":"toolUse"}),
        ),
    ]);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(
        s.warnings[0].contains("tool call `nope`"),
        "{}",
        s.warnings[0]
    );
    assert_eq!(s.messages.len(), 3);
    let calls = tool_calls(&s.messages);
    assert!(
        matches!(calls[0], Part::ToolCall { status: ToolStatus::Done, output: Some(o), is_error: false, .. } if o == "a\n[image]")
    );
    assert!(matches!(
        calls[1],
        Part::ToolCall {
            status: ToolStatus::Aborted,
            is_error: true,
            ..
        }
    ));
    // No result anywhere on the branch: aborted, without output.
    assert!(matches!(
        calls[2],
        Part::ToolCall {
            status: ToolStatus::Aborted,
            output: None,
            is_error: false,
            ..
        }
    ));
    // The model of a message that names none is the session's current one.
    assert_eq!(
        s.messages[2].model,
        Some(ModelRef {
            provider: "p".into(),
            id: "m".into()
        })
    );
}

#[test]
fn user_content_strings_images_and_custom_messages() {
    let s = parse(&[
        header(),
        json!({"type":"model_change","id":"mc","parentId":null,"timestamp":"2026-11-24T10:00:00.500Z","provider":"openai","modelId":"gpt-5"}).to_string(),
        message("u1", Some("mc"), &json!({"role":"user","content":"plain string"})),
        message(
            "u2",
            Some("u1"),
            &json!({"role":"user","content":[{"type":"text","text":"see"},{"type":"image","data":"iVBO","mimeType":"image/png"},{"type":"audio"}]}),
        ),
        json!({"type":"custom_message","id":"c1","parentId":"u2","timestamp":"2026-11-24T10:00:03.000Z","customType":"ext","content":"shown note","display":true}).to_string(),
        json!({"type":"custom_message","id":"c2","parentId":"c1","timestamp":"2026-11-24T10:00:04.000Z","customType":"ext","content":"hidden","display":false}).to_string(),
        json!({"type":"custom","id":"c3","parentId":"c2","timestamp":"2026-11-24T10:00:05.000Z","customType":"ext","data":{"n":1}}).to_string(),
        json!({"type":"label","id":"l1","parentId":"c3","timestamp":"2026-11-24T10:00:06.000Z","targetId":"u1","label":"start"}).to_string(),
        json!({"type":"thinking_level_change","id":"t1","parentId":"l1","timestamp":"2026-11-24T10:00:07.000Z","thinkingLevel":"high"}).to_string(),
        json!({"type":"something_new","id":"z1","parentId":"t1","timestamp":"2026-11-24T10:00:08.000Z"}).to_string(),
        message("x1", Some("z1"), &json!({"role":"custom","customType":"ext","content":[{"type":"text","text":"from an extension"}],"display":true,"timestamp":1_795_514_410_000_u64})),
    ]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(
        texts(&s.messages),
        [
            (Role::User, "plain string".into()),
            (
                Role::User,
                "see[unsupported pi content block: audio]".into()
            ),
            (Role::System, "shown note".into()),
            (Role::System, "from an extension".into()),
        ]
    );
    assert!(matches!(
        &s.messages[1].parts[1],
        Part::Image { mime_type, data: Some(d), url: None, .. } if mime_type == "image/png" && d == "iVBO"
    ));
    // A block of a kind pi added later is kept in its place, as text that names it.
    assert!(matches!(
        &s.messages[1].parts[2],
        Part::Text { text, .. } if text == "[unsupported pi content block: audio]"
    ));
    assert_eq!(s.messages[1].parts.len(), 3);
    // Without its own timestamp a message takes its entry's.
    assert_eq!(s.messages[2].created_at, 1_795_514_403_000);
    assert_eq!(s.messages[3].created_at, 1_795_514_410_000);
    assert_eq!(s.record.updated_at, 1_795_514_410_000);
    assert_eq!(
        s.record.model,
        Some(ModelRef {
            provider: "openai".into(),
            id: "gpt-5".into()
        })
    );
}

#[test]
fn broken_parent_links_start_the_branch_where_they_break() {
    let s = parse(&[
        header(),
        user("u1", None, "lost"),
        user("u2", Some("gone"), "kept"),
        assistant("a2", Some("u2"), "answer"),
    ]);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("parent `gone`"), "{}", s.warnings[0]);
    assert_eq!(
        texts(&s.messages),
        [
            (Role::User, "kept".into()),
            (Role::Assistant, "answer".into())
        ]
    );

    let s = parse(&[
        header(),
        user("u1", Some("u2"), "a"),
        user("u2", Some("u1"), "b"),
    ]);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("cycle"), "{}", s.warnings[0]);
    assert_eq!(
        texts(&s.messages),
        [(Role::User, "a".into()), (Role::User, "b".into())]
    );
}

#[test]
fn a_parent_session_file_gives_the_parent() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("parent.jsonl");
    std::fs::write(&parent, format!("{}\n", header())).unwrap();
    let child = json!({"type":"session","version":3,"id":"child-uuid","cwd":"/w","parentSession":parent.to_str().unwrap()}).to_string();
    let s = parse(&[child]);
    assert_eq!(s.record.parent, Some(session_id(UUID)));
    let orphan = json!({"type":"session","version":3,"id":"child-uuid","cwd":"/w","parentSession":"/no/such/file.jsonl"}).to_string();
    assert_eq!(parse(&[orphan]).record.parent, None);
}

#[test]
fn provider_errors_get_an_error_part_after_the_blocks() {
    let s = parse(&[
        header(),
        user("u1", None, "hi"),
        message(
            "a1",
            Some("u1"),
            &json!({"role":"assistant","content":[{"type":"text","text":"partial"}],"provider":"p","model":"m","stopReason":"error","errorMessage":"503 overloaded"}),
        ),
        message(
            "a2",
            Some("a1"),
            &json!({"role":"assistant","content":[],"stopReason":"error"}),
        ),
    ]);
    let a1 = &s.messages[1];
    assert!(
        matches!(&a1.parts[..], [Part::Text { .. }, Part::Error { message, .. }] if message == "503 overloaded")
    );
    assert_eq!(a1.parts[1].id(), &super::ids::part_id("pi", UUID, "a1", 1));
    assert!(
        matches!(&s.messages[2].parts[..], [Part::Error { message, .. }] if message == "the model provider failed")
    );
}

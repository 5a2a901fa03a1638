//! The live translator and the history importer map pi's messages with the same code
//! (`oqto_pi::parts`); this checks the result on every captured transcript: the messages
//! the runner streams for a transcript's `message_end`s are the messages the importer makes
//! from a session file holding the same messages, apart from ids, times and what only one
//! side knows (a tool call's result arrives live through `tool.end`, imported through the
//! `toolResult` message).

use oqto_protocol::{EventKind, Message, Part, Role};
use serde_json::{Value, json};

use super::Out;
use super::tests::{data_dir, read_lines, translate_lines};

/// What both sides must agree on: the role and each part without its id; of a tool call
/// its call id, name and input.
fn shape(messages: &[Message]) -> Vec<(Role, Vec<Value>)> {
    messages
        .iter()
        .map(|m| {
            let parts = m
                .parts
                .iter()
                .map(|part| {
                    let mut part = part.clone();
                    *part.id_mut() = "-".into();
                    match part {
                        Part::ToolCall {
                            call_id,
                            name,
                            input,
                            ..
                        } => json!({"tool_call": [call_id, name, input]}),
                        other => serde_json::to_value(other).unwrap(),
                    }
                })
                .collect();
            (m.role, parts)
        })
        .collect()
}

/// A session file holding the transcript's ended messages, one entry each, in order.
fn session_file(lines: &[String]) -> Vec<u8> {
    let mut file =
        json!({"type": "session", "version": 3, "id": "01a20e00-0000-7000-8000-00000000000a",
        "timestamp": "2026-11-24T10:00:00.000Z", "cwd": "/p"})
        .to_string();
    let mut parent = Value::Null;
    for (n, line) in lines.iter().enumerate() {
        let value: Value = serde_json::from_str(line).unwrap();
        if value["type"] != "message_end" {
            continue;
        }
        let id = format!("e{n}");
        let entry = json!({"type": "message", "id": id, "parentId": parent,
            "timestamp": "2026-11-24T10:00:01.000Z", "message": value["message"]});
        file.push('\n');
        file.push_str(&entry.to_string());
        parent = Value::String(id);
    }
    file.push('\n');
    file.into_bytes()
}

#[test]
fn live_and_imported_messages_agree_on_every_transcript() {
    let mut inputs: Vec<_> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".jsonl") && !name.ends_with(".expected.jsonl")
        })
        .collect();
    inputs.sort();
    let mut compared = 0;
    for input in inputs {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let lines = read_lines(&input);
        let live: Vec<Message> = translate_lines(&lines)
            .into_iter()
            .filter_map(|out| match out {
                Out::Event(EventKind::MessageEnd { message }) => Some(message),
                _ => None,
            })
            .collect();
        let imported = oqto_history::import::pi::parse_session(
            &session_file(&lines),
            std::path::Path::new("/p/s.jsonl"),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            imported.warnings.is_empty(),
            "{name}: {:?}",
            imported.warnings
        );
        assert_eq!(shape(&live), shape(&imported.messages), "{name}");
        compared += live.len();
    }
    assert!(compared > 20, "only {compared} messages compared");
}

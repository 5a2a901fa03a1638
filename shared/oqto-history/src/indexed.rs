//! What of a message is indexed for full-text search: its body text, as the writer stores
//! it in the FTS table and as search rebuilds it. Beneath both `writer.rs` and `search.rs`.

use oqto_protocol::Part;

/// Of each part's text, at most this many bytes are indexed (a huge text is still stored
/// whole, but only its start is searchable).
pub const MAX_INDEXED_PART_BYTES: usize = 256 * 1024;
/// Of each tool output, at most this many bytes are indexed: its first and its last half
/// of it (the output is still stored whole; its middle is not searchable).
pub const MAX_INDEXED_TOOL_OUTPUT_BYTES: usize = 8 * 1024;

/// The searchable text of a message: its text and thinking, each tool call's input (as
/// JSON text) and output, file reference paths, compaction summaries and error messages,
/// one per line. Images contribute nothing.
pub(crate) fn body_text(parts: &[Part]) -> String {
    let mut body = String::new();
    let mut scratch = String::new();
    let mut add = |text: &str| {
        if text.is_empty() {
            return;
        }
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(truncate(text, MAX_INDEXED_PART_BYTES));
    };
    for part in parts {
        match part {
            Part::Text { text, .. } | Part::Thinking { text, .. } => add(text),
            Part::ToolCall { input, output, .. } => {
                scratch.clear();
                json_text(input, &mut scratch);
                add(&scratch);
                if let Some(output) = output {
                    let (head, tail) = head_and_tail(output, MAX_INDEXED_TOOL_OUTPUT_BYTES);
                    add(head);
                    add(tail);
                }
            }
            Part::FileRef { path, .. } => add(path),
            Part::Compaction { summary, .. } => add(summary),
            Part::Error { message, .. } => add(message),
            Part::Plan { entries, .. } => {
                for entry in entries {
                    add(&entry.content);
                }
            }
            Part::Diff { path, new_text, .. } => {
                add(path);
                add(truncate(new_text, MAX_INDEXED_TOOL_OUTPUT_BYTES));
            }
            Part::Image { .. } => {}
        }
    }
    body
}

/// The text of a tool call's input: every object key and every string, number and boolean
/// of `value`, in order, one per line. Not its JSON: escapes such as `\n` would glue a
/// letter to the next word (`\nimport` would be indexed as `nimport`).
fn json_text(value: &serde_json::Value, out: &mut String) {
    let line = |out: &mut String, text: &str| {
        if !text.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(text);
        }
    };
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::Bool(b) => line(out, if *b { "true" } else { "false" }),
        serde_json::Value::Number(n) => line(out, &n.to_string()),
        serde_json::Value::String(s) => line(out, s),
        serde_json::Value::Array(items) => {
            for item in items {
                json_text(item, out);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                line(out, key);
                json_text(item, out);
            }
        }
    }
}

/// The first and the last `max / 2` bytes of `text` (cut at character boundaries), or all
/// of it and `""` when it is no longer than `max`.
fn head_and_tail(text: &str, max: usize) -> (&str, &str) {
    if text.len() <= max {
        return (text, "");
    }
    let head = truncate(text, max / 2);
    let mut start = text.len() - max / 2;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    (head, &text[start..])
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use oqto_protocol::{PartId, ToolStatus};

    use super::*;

    #[test]
    fn body_holds_every_searchable_part_and_no_image() {
        let id = PartId::new;
        let parts = vec![
            Part::Text {
                id: id("p1"),
                text: "hello".into(),
            },
            Part::Thinking {
                id: id("p2"),
                text: "pondering".into(),
            },
            Part::ToolCall {
                id: id("p3"),
                call_id: "c".into(),
                name: "bash".into(),
                input: serde_json::json!({"command": "ls"}),
                status: ToolStatus::Done,
                output: Some("README.md".into()),
                is_error: false,
            },
            Part::Image {
                id: id("p4"),
                mime_type: "image/png".into(),
                data: Some("iVBORw0KGgo".into()),
                url: None,
            },
            Part::FileRef {
                id: id("p5"),
                path: "src/lib.rs".into(),
                mime_type: None,
            },
            Part::Compaction {
                id: id("p6"),
                summary: "summary".into(),
                tokens_before: None,
            },
            Part::Error {
                id: id("p7"),
                message: "boom".into(),
            },
            Part::Plan {
                id: id("p8"),
                entries: vec![oqto_protocol::PlanEntry {
                    content: "write the test".into(),
                    priority: oqto_protocol::PlanPriority::High,
                    status: oqto_protocol::PlanStatus::Pending,
                }],
            },
            Part::Diff {
                id: id("p9"),
                call_id: "c1".into(),
                path: "/w/a.rs".into(),
                old_text: Some("old".into()),
                new_text: "fn new()".into(),
            },
        ];
        assert_eq!(
            body_text(&parts),
            "hello\npondering\ncommand\nls\nREADME.md\nsrc/lib.rs\nsummary\nboom\nwrite the test\n/w/a.rs\nfn new()"
        );
    }

    #[test]
    fn tool_input_is_indexed_as_its_keys_and_values_not_as_json_escapes() {
        let mut text = String::new();
        json_text(
            &serde_json::json!({"edits": [{"newText": "}\nimport os\t\"q\"", "line": 7, "all": true}, null]}),
            &mut text,
        );
        let mut words: Vec<&str> = text.lines().collect();
        words.sort_unstable();
        // Key order is the map's; the lines themselves are what matters.
        assert_eq!(
            words,
            [
                "7",
                "all",
                "edits",
                "import os\t\"q\"",
                "line",
                "newText",
                "true",
                "}"
            ]
        );
        assert!(!text.contains("\\n"), "{text}");
    }

    #[test]
    fn huge_parts_are_indexed_up_to_the_cap_at_a_char_boundary() {
        let text = "é".repeat(MAX_INDEXED_PART_BYTES); // two bytes each
        let parts = vec![Part::Text {
            id: PartId::new("p"),
            text,
        }];
        let body = body_text(&parts);
        assert_eq!(body.len(), MAX_INDEXED_PART_BYTES);
        assert!(body.chars().all(|c| c == 'é'));
        assert_eq!(truncate("aé", 2), "a");
    }
}

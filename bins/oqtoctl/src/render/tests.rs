//! Snapshot tests of every output mode over event streams recorded from the fake agent
//! (`oqtoctl prompt SCRIPT > testdata/NAME.jsonl`).

use oqto_protocol::Event;

use super::*;

fn render(name: &str, mode: Output, color: bool) -> String {
    let path = format!(
        "{}/src/render/testdata/{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = Vec::new();
    let mut printer = Printer::new(mode, color, &mut out);
    for line in text.lines() {
        let event: Event = serde_json::from_str(line).unwrap();
        printer.event(&event, line).unwrap();
    }
    printer.finish().unwrap();
    drop(printer);
    String::from_utf8(out).unwrap()
}

/// Colour codes made visible, for snapshots that can be read.
fn visible(text: &str) -> String {
    text.replace('\x1b', "<ESC>")
}

#[test]
fn human_tool_turn() {
    insta::assert_snapshot!(render("tool", Output::Human, false));
}

#[test]
fn human_tool_turn_in_colour() {
    insta::assert_snapshot!(visible(&render("tool", Output::Human, true)));
}

#[test]
fn human_thinking_is_dimmed() {
    insta::assert_snapshot!(visible(&render("think", Output::Human, true)));
}

#[test]
fn human_errors_are_red() {
    insta::assert_snapshot!(visible(&render("fail", Output::Human, true)));
}

#[test]
fn human_escapes_control_characters_from_the_agent() {
    let text = render("controls", Output::Human, false);
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    insta::assert_snapshot!(text);
}

#[test]
fn text_and_final_modes() {
    assert_eq!(render("tool", Output::Text, false), "done: bash\n");
    assert_eq!(render("tool", Output::Final, false), "done: bash\n");
    assert_eq!(render("think", Output::Text, true), "echo: think\n");
    assert_eq!(render("fail", Output::Final, false), "");
}

#[test]
fn events_mode_passes_lines_through_unchanged() {
    let path = format!(
        "{}/src/render/testdata/tool.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    assert_eq!(
        render("tool", Output::Events, true),
        std::fs::read_to_string(path).unwrap()
    );
}

#[test]
fn control_characters_are_escaped_but_newlines_and_tabs_kept() {
    assert_eq!(escape_controls("a\tb\nc"), "a\tb\nc");
    assert_eq!(
        escape_controls("\x1b[2J\r\x07\u{9b}x\u{7f}"),
        "\\u{1b}[2J\\u{d}\\u{7}\\u{9b}x\\u{7f}"
    );
}

#[test]
fn tool_summaries_prefer_the_command_and_stay_on_one_line() {
    let input = serde_json::json!({"command": "ls\nrm -rf /tmp/x"});
    assert_eq!(tool_summary(&input), "ls ⏎ rm -rf /tmp/x");
    let long = serde_json::json!({"path": "x".repeat(200)});
    assert_eq!(tool_summary(&long).chars().count(), 101);
    assert_eq!(tool_summary(&serde_json::json!({"n": 1})), r#"{"n":1}"#);
}

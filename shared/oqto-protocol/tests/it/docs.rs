//! `docs/protocol.md` and the golden files describe the same protocol: every golden line is
//! shown in the doc, every JSON example in the doc is a canonical protocol line, and every
//! command, event and error code has its place in the doc.

use std::collections::BTreeSet;
use std::path::PathBuf;

use oqto_protocol::{
    AgentCommand, AgentMessage, AgentRequest, ClientMessage, Command, EventKind,
    FilesClientMessage, FilesCommand, FilesEvent, FilesServerMessage, RelayMessage, ServerMessage,
    TerminalEvent,
};

use crate::support::{self, tags};

fn doc() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of the doc's `json` code blocks, with their 1-based line numbers.
fn json_example_lines(doc: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut in_json = false;
    for (i, line) in doc.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_json = !in_json && trimmed == "```json";
        } else if in_json {
            out.push((i + 1, line));
        }
    }
    out
}

/// Whether `line` is a protocol line in its canonical form, read as any of the seven kinds.
fn is_canonical(line: &str) -> bool {
    ClientMessage::parse(line).is_ok_and(|m| m.to_line() == line)
        || FilesClientMessage::parse(line).is_ok_and(|m| m.to_line() == line)
        || FilesServerMessage::parse(line).is_ok_and(|m| m.to_line() == line)
        || ServerMessage::parse(line).is_ok_and(|m| m.to_line() == line)
        || AgentRequest::parse(line).is_ok_and(|m| m.to_line() == line)
        || AgentMessage::parse(line).is_ok_and(|m| m.to_line() == line)
        || RelayMessage::parse_frame(line).is_ok_and(|m| m.to_frame() == line)
        || support::TerminalChannel::parse_frame(line).is_ok_and(|m| m.to_frame() == line)
}

#[test]
fn every_golden_line_is_in_the_doc() {
    let doc = doc();
    let doc_lines: BTreeSet<&str> = doc.lines().collect();
    let missing: Vec<String> = support::FILES
        .iter()
        .flat_map(|file| support::lines(file))
        .filter(|line| !doc_lines.contains(line.text.as_str()))
        .map(|line| format!("{line}: {}", line.text))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/protocol.md lacks {} golden lines:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn every_json_example_in_the_doc_is_a_canonical_line() {
    let doc = doc();
    let examples = json_example_lines(&doc);
    assert!(
        !examples.is_empty(),
        "no ```json blocks in docs/protocol.md"
    );
    let bad: Vec<String> = examples
        .iter()
        .filter(|(_, line)| !is_canonical(line))
        .map(|(n, line)| format!("docs/protocol.md:{n}: {line}"))
        .collect();
    assert!(
        bad.is_empty(),
        "these ```json lines are not canonical protocol lines (one JSON object per line, \
         as `to_line` writes it):\n{}",
        bad.join("\n")
    );
}

/// Each command and event has a heading naming it in backticks, each error code a row in
/// the error table, each part type a row in the part table, each agent command a heading in
/// the harness section.
#[test]
fn every_name_is_documented() {
    let doc = doc();
    let headings = |lines: &mut dyn Iterator<Item = &str>| -> BTreeSet<String> {
        lines
            .filter(|l| l.starts_with('#'))
            .flat_map(|l| l.split('`').skip(1).step_by(2).map(str::to_owned))
            .collect()
    };
    let all_headings = headings(&mut doc.lines());
    let harness_headings = headings(
        &mut doc
            .lines()
            .skip_while(|l| !l.starts_with("## Native harness")),
    );
    let mut missing = Vec::new();
    for name in Command::NAMES
        .iter()
        .chain(EventKind::NAMES)
        .chain(TerminalEvent::NAMES)
    {
        if !all_headings.contains(*name) {
            missing.push(format!("heading for `{name}`"));
        }
    }
    for name in AgentCommand::NAMES {
        if !harness_headings.contains(*name) {
            missing.push(format!(
                "heading for agent command `{name}` under `## Native harness`"
            ));
        }
    }
    let files_headings = headings(&mut doc.lines().skip_while(|l| !l.starts_with("## Files")));
    for name in FilesCommand::NAMES.iter().chain(FilesEvent::NAMES) {
        if !files_headings.contains(*name) {
            missing.push(format!(
                "heading for files operation `{name}` under `## Files`"
            ));
        }
    }
    // One code table for every program: each code has exactly one row.
    for code in tags::ERROR_CODES_AND_OTHER {
        let rows = doc
            .lines()
            .filter(|l| l.starts_with(&format!("| `{code}` |")))
            .count();
        if rows != 1 {
            missing.push(format!(
                "exactly one error table row for `{code}` (found {rows})"
            ));
        }
    }
    for part in tags::PARTS {
        if !doc.lines().any(|l| l.starts_with(&format!("| `{part}` |"))) {
            missing.push(format!("part table row for `{part}`"));
        }
    }
    assert!(missing.is_empty(), "docs/protocol.md lacks: {missing:?}");
}

//! The wire types on what the real pi wrote: the RPC transcripts the runner's tests replay
//! (`bins/oqto-runner/tests/data/`, among them the two reference transcripts of
//! `shared/reference/`) and the session files the importer's tests read
//! (`shared/oqto-history/tests/data/pi-sessions/`). Every line reads, and nothing in them
//! falls back to an `Other`: the types know everything pi 0.73.1 writes in these runs.

use std::path::{Path, PathBuf};

use oqto_pi::{
    PiContent, PiLine, PiMessage, PiStopReason, PiStreamEvent, assistant_part, parse_line,
    tool_result_text, user_part,
};
use oqto_protocol::{Part, PartId};
use serde::Deserialize as _;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `.jsonl` files in `dir` (relative to the workspace) whose names pass `keep`.
fn files(dir: &str, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(workspace().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".jsonl") && keep(&name)
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no transcripts in {dir}");
    paths
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What was read, counted, so that a test can say it saw something.
#[derive(Debug, Default)]
struct Seen {
    messages: usize,
    blocks: usize,
    stop_reasons: usize,
}

impl Seen {
    fn message(&mut self, where_: &str, message: &PiMessage) {
        self.messages += 1;
        let blocks: &[PiContent] = match message {
            PiMessage::User { content, .. }
            | PiMessage::Custom { content, .. }
            | PiMessage::ToolResult { content, .. } => content,
            PiMessage::Assistant {
                content,
                stop_reason,
                ..
            } => {
                if let Some(reason) = stop_reason {
                    self.stop_reasons += 1;
                    assert!(
                        !matches!(reason, PiStopReason::Other(_)),
                        "{where_}: {reason:?}"
                    );
                    assert!(reason.to_protocol().is_some(), "{where_}");
                }
                content
            }
            PiMessage::Other => panic!("{where_}: unknown role"),
            _ => &[],
        };
        self.blocks(where_, blocks);
        // Every block maps to a part, or is one a role cannot hold, and never to the
        // unsupported-block text.
        for block in blocks {
            let part = match message {
                PiMessage::Assistant { .. } => assistant_part(block.clone(), PartId::new("p")),
                _ => user_part(block, PartId::new("p")),
            };
            if let Some(Part::Text { text, .. }) = part {
                assert!(!text.starts_with("[unsupported"), "{where_}: {text}");
            }
        }
    }

    fn blocks(&mut self, where_: &str, blocks: &[PiContent]) {
        for block in blocks {
            self.blocks += 1;
            assert!(
                !matches!(block, PiContent::Other { .. }),
                "{where_}: {block:?}"
            );
        }
        assert!(
            !tool_result_text(blocks).contains("[unsupported"),
            "{where_}"
        );
    }
}

#[test]
fn rpc_transcripts_read_with_every_block_and_stop_reason_known() {
    let mut seen = Seen::default();
    let mut events = 0;
    for path in files("bins/oqto-runner/tests/data", |n| {
        !n.ends_with(".expected.jsonl")
    }) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (n, line) in lines(&path).iter().enumerate() {
            let where_ = format!("{name}:{}", n + 1);
            let parsed = parse_line(line).unwrap_or_else(|e| panic!("{where_}: {e}"));
            events += 1;
            match parsed {
                PiLine::MessageStart { message } | PiLine::MessageEnd { message } => {
                    seen.message(&where_, &message);
                }
                PiLine::MessageUpdate {
                    assistant_message_event,
                } => match assistant_message_event {
                    PiStreamEvent::ToolcallStart {
                        partial: Some(partial),
                        ..
                    } => seen.blocks(&where_, &partial.content),
                    PiStreamEvent::Other => panic!("{where_}: unknown streaming event"),
                    _ => {}
                },
                PiLine::ToolExecutionUpdate { partial_result, .. } => {
                    seen.blocks(&where_, &partial_result.content);
                }
                PiLine::ToolExecutionEnd { result, .. } => seen.blocks(&where_, &result.content),
                // The hand-written transcripts include lines of an unknown type on purpose;
                // the reference ones hold none (checked by the runner's tests).
                _ => {}
            }
        }
    }
    assert!(events > 100, "{events} lines");
    assert!(
        seen.messages > 20 && seen.blocks > 20 && seen.stop_reasons > 5,
        "{seen:?}"
    );
}

#[test]
fn session_files_read_with_every_block_and_stop_reason_known() {
    let mut seen = Seen::default();
    for path in files("shared/oqto-history/tests/data/pi-sessions", |_| true) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (n, line) in lines(&path).iter().enumerate().skip(1) {
            let where_ = format!("{name}:{}", n + 1);
            let entry: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{where_}: {e}"));
            if entry["type"] == "message" {
                let message = PiMessage::deserialize(&entry["message"])
                    .unwrap_or_else(|e| panic!("{where_}: {e}"));
                seen.message(&where_, &message);
            }
        }
    }
    assert!(
        seen.messages > 20 && seen.blocks > 20 && seen.stop_reasons > 5,
        "{seen:?}"
    );
}

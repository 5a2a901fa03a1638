//! Fixtures shared by the integration tests.

use std::cell::Cell;

use oqto_history::{SessionRecord, Store};
use oqto_protocol::{
    ErrorCode, Message, MessageId, ModelRef, Part, PartId, Role, SessionId, State, StopReason,
    ToolStatus, Usage,
};
use tempfile::TempDir;

/// A store in a fresh temporary directory (kept alive by the returned `TempDir`).
pub fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("history.db")).unwrap();
    (dir, store)
}

/// A session record with the given id, harness and cwd, everything optional unset.
pub fn session(id: &str, harness: &str, cwd: &str) -> SessionRecord {
    SessionRecord {
        id: SessionId::new(id),
        harness: harness.to_owned(),
        harness_ref: None,
        cwd: cwd.to_owned(),
        title: None,
        model: None,
        created_at: 1_000,
        updated_at: 1_000,
        state: State::Idle,
        reason: None,
        parent: None,
        sandbox_profile: None,
        last_seq: 0,
    }
}

/// A message with one text part `prt_<id>`.
pub fn text_message(session: &str, id: &str, role: Role, created_at: u64, text: &str) -> Message {
    Message {
        id: MessageId::new(id),
        session: SessionId::new(session),
        role,
        parts: vec![Part::Text {
            id: PartId::new(format!("prt_{id}")),
            text: text.to_owned(),
        }],
        created_at,
        model: None,
        usage: None,
        stop_reason: None,
        client_msg_id: None,
    }
}

/// An assistant message holding every kind of part, with every optional field set.
pub fn message_with_every_part(session: &str, id: &str) -> Message {
    let part = |n: u32| PartId::new(format!("prt_{id}_{n}"));
    Message {
        id: MessageId::new(id),
        session: SessionId::new(session),
        role: Role::Assistant,
        parts: vec![
            Part::Thinking {
                id: part(0),
                text: "Let me think about parse_config.".into(),
            },
            Part::Text {
                id: part(1),
                text: "Here is **markdown** with `code` and ünïcödé 🦀.".into(),
            },
        ]
        .into_iter()
        .chain(tool_calls(&part))
        .chain([
            Part::Image {
                id: part(6),
                mime_type: "image/png".into(),
                data: Some("iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB".into()),
                url: None,
            },
            Part::Image {
                id: part(7),
                mime_type: "image/jpeg".into(),
                data: None,
                url: Some("https://ada.example/shots/login.jpg".into()),
            },
            Part::FileRef {
                id: part(8),
                path: "src/login.css".into(),
                mime_type: Some("text/css".into()),
            },
            Part::FileRef {
                id: part(9),
                path: "src/login.html".into(),
                mime_type: None,
            },
            Part::Compaction {
                id: part(10),
                summary: "Ada asked what the project contains.".into(),
                tokens_before: Some(48_211),
            },
            Part::Compaction {
                id: part(11),
                summary: "A second summary.".into(),
                tokens_before: None,
            },
            Part::Error {
                id: part(12),
                message: "pi exited with signal 9 (SIGKILL)".into(),
            },
        ])
        .collect(),
        created_at: 1_795_515_967_938,
        model: Some(ModelRef {
            provider: "anthropic".into(),
            id: "claude-sonnet-4".into(),
        }),
        usage: Some(Usage {
            input: 30_120,
            output: 4_096,
            cache_read: 1,
            cache_write: 30_120,
            cost: Some(0.1514),
        }),
        stop_reason: Some(StopReason::Error),
        client_msg_id: None,
    }
}

/// Tool calls in each status, parts 2 to 5 of [`message_with_every_part`].
fn tool_calls(part: &dyn Fn(u32) -> PartId) -> Vec<Part> {
    vec![
        Part::ToolCall {
            id: part(2),
            call_id: "toolu_01XhQ4".into(),
            name: "bash".into(),
            input: serde_json::json!({
                "command": "cargo test -p foo",
                "timeout": 1.5,
                "env": {"A": null, "B": [1, -2, 3_000_000_000_u64]},
                "flag": true
            }),
            status: ToolStatus::Done,
            output: Some("test result: FAILED. 1 passed; 1 failed\n".into()),
            is_error: true,
        },
        Part::ToolCall {
            id: part(3),
            call_id: "toolu_pending".into(),
            name: "read".into(),
            input: serde_json::json!({}),
            status: ToolStatus::Pending,
            output: None,
            is_error: false,
        },
        Part::ToolCall {
            id: part(4),
            call_id: "toolu_running".into(),
            name: "bash".into(),
            input: serde_json::json!("raw string input"),
            status: ToolStatus::Running,
            output: Some("partial".into()),
            is_error: false,
        },
        Part::ToolCall {
            id: part(5),
            call_id: "toolu_aborted".into(),
            name: "bash".into(),
            input: serde_json::json!([1, 2]),
            status: ToolStatus::Aborted,
            output: None,
            is_error: false,
        },
    ]
}

/// Id generators for `copy_messages_before`: `<prefix>_1`, `<prefix>_2`, ...
pub fn counter(prefix: &'static str) -> impl FnMut() -> String {
    let next = Cell::new(0);
    move || {
        next.set(next.get() + 1);
        format!("{prefix}_{}", next.get())
    }
}

/// Asserts that `result` failed with `code`; returns the error's message.
pub fn expect_code<T: std::fmt::Debug>(
    result: Result<T, oqto_history::StoreError>,
    code: ErrorCode,
) -> String {
    match result {
        Ok(value) => panic!("expected a {code} error, got Ok({value:?})"),
        Err(e) => {
            assert_eq!(e.code(), code, "wrong code for `{e}`");
            e.to_string()
        }
    }
}

/// A second, raw connection to a store's file, to look at (or damage) what is stored.
pub fn raw(dir: &TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join("history.db")).unwrap()
}

/// `SELECT count(*)` of `from` (a table, optionally with a WHERE clause).
pub fn count(conn: &rusqlite::Connection, from: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {from}"), [], |row| {
        row.get(0)
    })
    .unwrap()
}

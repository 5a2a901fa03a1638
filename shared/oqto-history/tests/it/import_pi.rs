//! Importing pi session files into a store: idempotency, updates when a file grows, the
//! files that are skipped, and that pi's files are never written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oqto_history::Store;
use oqto_history::import::ImportReport;
use oqto_history::import::pi::{import_pi_dir, import_pi_file, parse_session_file, session_id};
use oqto_protocol::{Message, MessageId, Part, Role, SearchFilters, SessionId, ToolStatus};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{count, raw, session, temp_store, text_message};

const NAMES: [&str; 4] = ["text", "tool", "compact", "errors"];

/// The session files the real pi wrote (see `tests/data/pi-sessions/README.md`).
fn captured(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pi-sessions")
        .join(format!("pi-session-{name}.jsonl"))
}

/// A pi agent directory holding copies of the captured files, named as pi names them.
struct AgentDir {
    _tmp: TempDir,
    root: PathBuf,
    project: PathBuf,
}

impl AgentDir {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("agent");
        let project = root.join("sessions/--tmp-pi-capture-work-proj--");
        std::fs::create_dir_all(&project).unwrap();
        for name in NAMES {
            std::fs::copy(captured(name), project.join(Self::file_name(name))).unwrap();
        }
        Self {
            _tmp: tmp,
            root,
            project,
        }
    }

    fn file_name(name: &str) -> String {
        format!("2026-11-24T14-40-00-000Z_{name}.jsonl")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.project.join(Self::file_name(name))
    }

    /// Appends `lines` to the copy of `name`.
    fn append(&self, name: &str, lines: &[Value]) {
        let mut text = std::fs::read_to_string(self.file(name)).unwrap();
        for line in lines {
            text.push_str(&line.to_string());
            text.push('\n');
        }
        std::fs::write(self.file(name), text).unwrap();
    }

    /// The id of the last entry of the copy of `name`.
    fn leaf(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.file(name)).unwrap();
        let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        last["id"].as_str().unwrap().to_owned()
    }
}

fn import(store: &mut Store, agent: &AgentDir) -> ImportReport {
    import_pi_dir(store, &agent.root).unwrap()
}

fn pi_id(name: &str) -> SessionId {
    parse_session_file(&captured(name)).unwrap().record.id
}

fn all_messages(store: &Store, session: &SessionId) -> Vec<Message> {
    store.messages(session, None, 1000).unwrap().messages
}

fn user_entry(id: &str, parent: &str, text: &str) -> Value {
    json!({"type":"message","id":id,"parentId":parent,"timestamp":"2026-11-24T15:00:00.000Z",
           "message":{"role":"user","content":[{"type":"text","text":text}],"timestamp":1_795_532_400_000_u64}})
}

fn assistant_entry(id: &str, parent: &str, text: &str) -> Value {
    json!({"type":"message","id":id,"parentId":parent,"timestamp":"2026-11-24T15:00:01.000Z",
           "message":{"role":"assistant","content":[{"type":"text","text":text}],"provider":"demo",
                      "model":"oqto-demo","stopReason":"stop","timestamp":1_795_532_401_000_u64}})
}

#[test]
fn importing_a_directory_twice_stores_everything_once() {
    let agent = AgentDir::new();
    std::fs::write(agent.project.join("notes.jsonl"), "not a session\n").unwrap();
    std::fs::write(agent.project.join("README.txt"), "ignored: not .jsonl\n").unwrap();
    let (dir, mut store) = temp_store();

    let expected: usize = NAMES
        .iter()
        .map(|n| parse_session_file(&captured(n)).unwrap().messages.len())
        .sum();
    let first = import(&mut store, &agent);
    assert_eq!(first.files, 5, "{first:?}");
    assert_eq!(first.sessions_new, 4, "{first:?}");
    assert_eq!(first.sessions_updated + first.sessions_unchanged, 0);
    assert_eq!(first.messages, expected);
    assert_eq!(first.warnings, 0);
    assert_eq!(first.skipped.len(), 1, "{first:?}");
    assert_eq!(first.skipped[0].0, agent.project.join("notes.jsonl"));
    assert!(
        first.skipped[0].1.starts_with("not a pi session file"),
        "{:?}",
        first.skipped
    );
    let conn = raw(&dir);
    let stored = count(&conn, "messages");
    assert_eq!(stored, i64::try_from(expected).unwrap());

    let second = import(&mut store, &agent);
    assert_eq!(
        second,
        ImportReport {
            files: 5,
            sessions_unchanged: 4,
            skipped: first.skipped.clone(),
            ..ImportReport::default()
        }
    );
    assert_eq!(count(&conn, "messages"), stored);
    assert_eq!(count(&conn, "sessions"), 4);
    store.integrity_check().unwrap();

    // What was imported is searchable, and the sessions are pi's, stopped, resumable.
    let hits = store
        .search("hi-from-bash", &SearchFilters::default(), None)
        .unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|h| h.session == pi_id("tool") && h.harness == "pi")
    );
    let record = store.session(&pi_id("tool")).unwrap().unwrap();
    assert_eq!(record.harness_ref.as_deref(), agent.file("tool").to_str());
    assert_eq!(record.state, oqto_protocol::State::Stopped);
}

#[test]
fn entries_appended_since_are_added_and_nothing_else() {
    let agent = AgentDir::new();
    let (_dir, mut store) = temp_store();
    import(&mut store, &agent);
    let session = pi_id("text");
    let before = all_messages(&store, &session);

    let leaf = agent.leaf("text");
    agent.append(
        "text",
        &[
            user_entry("aaaa0001", &leaf, "one more question"),
            assistant_entry("aaaa0002", "aaaa0001", "echo: one more question"),
        ],
    );
    let report = import(&mut store, &agent);
    assert_eq!(report.sessions_updated, 1, "{report:?}");
    assert_eq!(report.sessions_unchanged, 3, "{report:?}");
    assert_eq!(report.sessions_new, 0);
    assert_eq!(report.messages, 2);

    let after = all_messages(&store, &session);
    assert_eq!(after.len(), before.len() + 2);
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after[before.len()].role, Role::User);
    assert_eq!(after[before.len() + 1].created_at, 1_795_532_401_000);
    let record = store.session(&session).unwrap().unwrap();
    assert_eq!(record.updated_at, 1_795_532_401_000);
    assert_eq!(record.title.as_deref(), Some("probe session"));

    // And once more: nothing left to do.
    let again = import(&mut store, &agent);
    assert_eq!((again.sessions_unchanged, again.messages), (4, 0));
}

#[test]
fn a_tool_result_written_later_completes_the_stored_call() {
    let agent = AgentDir::new();
    let full = std::fs::read_to_string(agent.file("tool")).unwrap();
    // The file as pi had written it while the first tool ran: up to the tool call.
    let cut: String = full.lines().take(5).flat_map(|l| [l, "\n"]).collect();
    assert!(cut.trim_end().ends_with("}}") && cut.contains("\"toolUse\""));
    std::fs::write(agent.file("tool"), &cut).unwrap();
    let (_dir, mut store) = temp_store();
    import(&mut store, &agent);
    let session = pi_id("tool");
    let calls = |store: &Store| -> Vec<(MessageId, ToolStatus, Option<String>)> {
        all_messages(store, &session)
            .into_iter()
            .flat_map(|m| {
                let id = m.id.clone();
                m.parts.into_iter().filter_map(move |p| match p {
                    Part::ToolCall { status, output, .. } => Some((id.clone(), status, output)),
                    _ => None,
                })
            })
            .collect()
    };
    let early = calls(&store);
    assert_eq!(early.len(), 1);
    assert_eq!(early[0].1, ToolStatus::Aborted);
    assert_eq!(early[0].2, None);

    std::fs::write(agent.file("tool"), &full).unwrap();
    let report = import(&mut store, &agent);
    assert_eq!(report.sessions_updated, 1, "{report:?}");
    let parsed = parse_session_file(&agent.file("tool")).unwrap();
    // The call's message changed; the rest is new.
    assert_eq!(report.messages, parsed.messages.len() - 1);
    let late = calls(&store);
    assert_eq!(late[0].0, early[0].0);
    assert_eq!(late[0].1, ToolStatus::Done);
    assert_eq!(
        late[0].2.as_deref(),
        Some("hi-from-bash\nhello from the project dir\n")
    );
    // Stored in the file's order: the completed call kept its place.
    assert_eq!(all_messages(&store, &session), parsed.messages);
}

/// Every file and directory under the agent directory: bytes (files) and mtime.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (Option<Vec<u8>>, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let bytes = if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
            None
        } else {
            Some(std::fs::read(&path).unwrap())
        };
        out.insert(path, (bytes, meta.modified().unwrap()));
    }
    out
}

#[test]
fn pi_files_are_only_read() {
    let agent = AgentDir::new();
    std::fs::write(agent.project.join("broken.jsonl"), "{\"type\":\"sess").unwrap();
    let before = snapshot(&agent.root);
    assert_eq!(before.len(), 8); // agent/, sessions/, the project directory, 5 files
    let (_dir, mut store) = temp_store();
    let first = import(&mut store, &agent);
    assert_eq!(first.sessions_new, 4, "{first:?}");
    let second = import(&mut store, &agent);
    assert_eq!(second.sessions_unchanged, 4, "{second:?}");
    // Same files, same bytes, same modification times, nothing added.
    assert_eq!(snapshot(&agent.root), before);
}

#[test]
fn files_a_stored_session_runs_pi_on_are_skipped() {
    let agent = AgentDir::new();
    let (_dir, mut store) = temp_store();
    let mut own = session("ses_0195f3a2c1d00000", "pi", "/tmp/pi-capture/work/proj");
    own.harness_ref = Some(agent.file("text").to_str().unwrap().to_owned());
    store.insert_session(&own).unwrap();

    let report = import(&mut store, &agent);
    assert_eq!(report.sessions_new, 3, "{report:?}");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert_eq!(report.skipped[0].0, agent.file("text"));
    assert_eq!(
        report.skipped[0].1,
        "already in the history as session `ses_0195f3a2c1d00000`, which oqto runs on this file"
    );
    assert!(store.session(&pi_id("text")).unwrap().is_none());
}

#[test]
fn a_session_continued_in_oqto_is_not_imported_again() {
    let agent = AgentDir::new();
    let (_dir, mut store) = temp_store();
    import(&mut store, &agent);
    let session = pi_id("compact");
    // The runner resumed it and stored a turn under its own ids...
    store
        .put_message(
            &text_message(
                session.as_str(),
                "msg_0195f3a2c1d00001",
                Role::User,
                1_795_540_000_000,
                "continued in oqto",
            ),
            Some(3),
        )
        .unwrap();
    let stored = all_messages(&store, &session);
    // ...without new entries in the file, it is unchanged;
    let report = import(&mut store, &agent);
    assert_eq!(report.sessions_unchanged, 4, "{report:?}");
    // with them (pi wrote the same turn), they are not imported a second time.
    let leaf = agent.leaf("compact");
    agent.append(
        "compact",
        &[user_entry("bbbb0001", &leaf, "continued in oqto")],
    );
    let report = import(&mut store, &agent);
    assert_eq!(report.sessions_unchanged, 3, "{report:?}");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(
        report.skipped[0]
            .1
            .contains("was continued in oqto since it was imported"),
        "{:?}",
        report.skipped
    );
    assert_eq!(all_messages(&store, &session), stored);
}

#[test]
fn a_copy_with_the_same_pi_session_id_is_skipped() {
    let agent = AgentDir::new();
    let copy = agent.project.join("2026-11-24T14-50-00-000Z_copy.jsonl");
    std::fs::copy(agent.file("text"), &copy).unwrap();
    let (_dir, mut store) = temp_store();
    let report = import(&mut store, &agent);
    assert_eq!(report.sessions_new, 4, "{report:?}");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    // Files are taken in name order: the original (14-40) first, then the copy (14-50).
    assert_eq!(report.skipped[0].0, copy);
    assert!(
        report.skipped[0]
            .1
            .starts_with("has the same pi session id"),
        "{:?}",
        report.skipped
    );
}

#[test]
fn a_moved_file_updates_the_path_only() {
    let agent = AgentDir::new();
    let (_dir, mut store) = temp_store();
    import(&mut store, &agent);
    let moved = agent.root.join("sessions/--elsewhere--/moved.jsonl");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(agent.file("errors"), &moved).unwrap();
    let report = import(&mut store, &agent);
    assert_eq!(
        (
            report.sessions_updated,
            report.sessions_unchanged,
            report.messages
        ),
        (1, 3, 0),
        "{report:?}"
    );
    let record = store.session(&pi_id("errors")).unwrap().unwrap();
    assert_eq!(record.harness_ref.as_deref(), moved.to_str());
}

#[test]
fn a_name_given_in_pi_later_retitles_but_an_older_one_keeps_an_oqto_rename() {
    let agent = AgentDir::new();
    let (_dir, mut store) = temp_store();
    import(&mut store, &agent);
    let id = pi_id("compact");
    let mut record = store.session(&id).unwrap().unwrap();
    assert_eq!(record.title.as_deref(), Some("hello before compacting"));
    record.title = Some("renamed in oqto".into());
    store.update_session(&record).unwrap();

    let report = import(&mut store, &agent);
    assert_eq!(report.sessions_unchanged, 4, "{report:?}");
    let title = |store: &Store| store.session(&id).unwrap().unwrap().title;
    assert_eq!(title(&store).as_deref(), Some("renamed in oqto"));

    let leaf = agent.leaf("compact");
    agent.append(
        "compact",
        &[
            json!({"type":"session_info","id":"cccc0001","parentId":leaf,
                 "timestamp":"2026-11-24T16:00:00.000Z","name":"named in pi"}),
        ],
    );
    let report = import(&mut store, &agent);
    assert_eq!(
        (report.sessions_updated, report.messages),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(title(&store).as_deref(), Some("named in pi"));
}

#[test]
fn a_single_file_and_a_missing_directory() {
    let agent = AgentDir::new();
    let (_dir, mut store) = temp_store();
    let report = import_pi_file(&mut store, &agent.file("tool")).unwrap();
    assert_eq!((report.files, report.sessions_new), (1, 1), "{report:?}");
    assert!(
        store
            .session(&session_id("01a20e00-5c8b-735f-8689-34b44e10f2f0"))
            .unwrap()
            .is_some()
    );

    let nowhere = agent.root.join("no-such-agent-dir");
    let report = import_pi_dir(&mut store, &nowhere).unwrap();
    assert_eq!(report.files, 0);
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert_eq!(report.skipped[0].0, nowhere.join("sessions"));
    assert!(
        report.skipped[0].1.starts_with("cannot read the directory"),
        "{:?}",
        report.skipped
    );
}

#[test]
fn the_same_file_through_a_symlink_is_the_same_session() {
    let agent = AgentDir::new();
    let link = agent.root.with_file_name("agent-link");
    std::os::unix::fs::symlink(&agent.root, &link).unwrap();
    let (_dir, mut store) = temp_store();
    let first = import_pi_dir(&mut store, &link).unwrap();
    assert_eq!(first.sessions_new, 4, "{first:?}");
    let second = import(&mut store, &agent);
    assert_eq!(second.sessions_unchanged, 4, "{second:?}");
    assert!(second.skipped.is_empty(), "{second:?}");
    // The path stays as it was first stored.
    let record = store.session(&pi_id("text")).unwrap().unwrap();
    assert!(
        record
            .harness_ref
            .unwrap()
            .starts_with(link.to_str().unwrap()),
        "stored through the link"
    );
}

//! Session rows: insert, update, list order, delete with everything that hangs off them.

use oqto_history::{SessionRecord, Store};
use oqto_protocol::{ErrorCode, ModelRef, Phase, Role, SearchFilters, SessionId, State};

use crate::support::{
    count, expect_code, message_with_every_part, raw, session, temp_store, text_message,
};

fn full_record() -> SessionRecord {
    SessionRecord {
        id: SessionId::new("ses_full"),
        harness: "pi".into(),
        harness_ref: Some("/home/ada/.pi/sessions/2025-01-01.jsonl".into()),
        cwd: "/home/ada/proj".into(),
        title: Some("build.sh overview".into()),
        model: Some(ModelRef {
            provider: "anthropic".into(),
            id: "claude-sonnet-4".into(),
        }),
        created_at: 1_795_516_007_038,
        updated_at: 1_795_516_007_039,
        state: State::Error,
        reason: Some("pi exited with signal 9 (SIGKILL)".into()),
        parent: Some(SessionId::new("ses_parent")),
        sandbox_profile: Some("workspace".into()),
        last_seq: 79,
    }
}

#[test]
fn a_session_round_trips_with_every_field() {
    let (dir, mut store) = temp_store();
    let record = full_record();
    store.insert_session(&record).unwrap();
    assert_eq!(store.session(&record.id).unwrap(), Some(record.clone()));
    drop(store);
    let store = Store::open(&dir.path().join("history.db")).unwrap();
    assert_eq!(store.sessions().unwrap(), vec![record.clone()]);

    let info = record.info(Some(Phase::Thinking), 2);
    assert_eq!(info.last_activity, record.updated_at);
    assert_eq!(info.phase, Some(Phase::Thinking));
    assert_eq!(info.subscribers, 2);
    assert_eq!(info.parent, record.parent);
}

#[test]
fn unknown_sessions_are_none_or_not_found() {
    let mut store = Store::open_in_memory().unwrap();
    let id = SessionId::new("ses_nope");
    assert_eq!(store.session(&id).unwrap(), None);
    let mut record = full_record();
    record.id = id.clone();
    let msg = expect_code(store.update_session(&record), ErrorCode::SessionNotFound);
    assert_eq!(msg, "no session `ses_nope`");
    assert!(!store.delete_session(&id).unwrap());
    expect_code(store.messages(&id, None, 10), ErrorCode::SessionNotFound);
}

#[test]
fn a_taken_id_cannot_be_inserted_again() {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&full_record()).unwrap();
    let mut again = full_record();
    again.title = Some("other".into());
    let err = store.insert_session(&again).unwrap_err();
    assert_eq!(err.to_string(), "session `ses_full` already exists");
    assert_eq!(
        store.session(&again.id).unwrap().unwrap().title.as_deref(),
        Some("build.sh overview")
    );
}

#[test]
fn update_replaces_every_field_but_never_moves_activity_back() {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&full_record()).unwrap();
    let mut changed = session("ses_full", "claude", "/elsewhere");
    changed.updated_at = 5; // older than what is stored
    store.update_session(&changed).unwrap();
    let stored = store.session(&changed.id).unwrap().unwrap();
    assert_eq!(
        stored,
        SessionRecord {
            updated_at: full_record().updated_at,
            ..changed.clone()
        }
    );
    changed.updated_at = 1_900_000_000_000;
    store.update_session(&changed).unwrap();
    assert_eq!(store.session(&changed.id).unwrap().unwrap(), changed);
}

#[test]
fn sessions_are_listed_most_recent_first() {
    let mut store = Store::open_in_memory().unwrap();
    for (id, updated) in [("ses_old", 10), ("ses_new", 30), ("ses_mid", 20)] {
        let mut s = session(id, "pi", "/w");
        s.created_at = 1;
        s.updated_at = updated;
        store.insert_session(&s).unwrap();
    }
    let order = |store: &Store| -> Vec<String> {
        store
            .sessions()
            .unwrap()
            .into_iter()
            .map(|s| s.id.0)
            .collect()
    };
    assert_eq!(order(&store), ["ses_new", "ses_mid", "ses_old"]);
    // A new message makes a session the most recent.
    store
        .put_message(
            &text_message("ses_old", "msg_1", Role::User, 40, "hi"),
            None,
        )
        .unwrap();
    assert_eq!(order(&store), ["ses_old", "ses_new", "ses_mid"]);
}

#[test]
fn deleting_a_session_removes_its_messages_parts_and_search_entries() {
    let (dir, mut store) = temp_store();
    store
        .insert_session(&session("ses_gone", "pi", "/w"))
        .unwrap();
    store
        .insert_session(&session("ses_kept", "pi", "/w"))
        .unwrap();
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.push((
            message_with_every_part("ses_gone", &format!("msg_g{i}")),
            None,
        ));
    }
    batch.push((
        text_message("ses_kept", "msg_k", Role::User, 1, "parse_config kept"),
        None,
    ));
    store.put_messages(&batch).unwrap();
    let filters = SearchFilters::default();
    assert_eq!(
        store
            .search("parse_config", &filters, Some(100))
            .unwrap()
            .len(),
        51
    );

    assert!(store.delete_session(&SessionId::new("ses_gone")).unwrap());
    assert!(!store.delete_session(&SessionId::new("ses_gone")).unwrap());

    assert_eq!(store.session(&SessionId::new("ses_gone")).unwrap(), None);
    let hits = store.search("parse_config", &filters, Some(100)).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].session.as_str(), "ses_kept");
    assert!(store.search("SIGKILL", &filters, None).unwrap().is_empty());

    let conn = raw(&dir);
    assert_eq!(count(&conn, "messages WHERE session = 'ses_gone'"), 0);
    assert_eq!(count(&conn, "messages"), 1);
    assert_eq!(count(&conn, "parts"), 1);
    // The index itself: one document left.
    assert_eq!(count(&conn, "message_fts_docsize"), 1);
    store.integrity_check().unwrap();
}

/// The "VACUUM-free steady state" of docs/history.md: a deleted session's pages go to
/// `SQLite`'s freelist and later writes reuse them, so storing, deleting and storing the
/// same amount again leaves the file about the size it had after the first round.
#[test]
fn pages_freed_by_a_delete_are_reused_without_vacuum() {
    const MESSAGES: usize = 3000;
    let (dir, mut store) = temp_store();
    let conn = raw(&dir);
    let pragma = |name: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    };
    let round = |store: &mut Store, session_id: &str| {
        store
            .insert_session(&session(session_id, "pi", "/w"))
            .unwrap();
        for chunk in 0..MESSAGES / 250 {
            let batch: Vec<_> = (chunk * 250..(chunk + 1) * 250)
                .map(|i| {
                    let text = format!(
                        "message {i} of {session_id}: cargo test failed in src/lib_{}.rs with \
                         error E0{} near parse_config_{} {}",
                        i % 97,
                        i % 13,
                        i % 31,
                        "and some more words to index ".repeat(i % 7 + 1)
                    );
                    let id = format!("msg_{session_id}_{i}");
                    (text_message(session_id, &id, Role::User, 1, &text), None)
                })
                .collect();
            store.put_messages(&batch).unwrap();
        }
    };

    round(&mut store, "ses_1");
    let first = pragma("page_count");
    assert!(store.delete_session(&SessionId::new("ses_1")).unwrap());
    let freed = pragma("freelist_count");
    assert!(freed > first / 2, "{freed} of {first} pages freed");
    assert_eq!(
        pragma("page_count"),
        first,
        "a delete does not shrink the file"
    );

    // Later rounds, each deleting the round before: the file settles a little above the
    // first round's size (while FTS5 merges segments, the old and the merged ones coexist)
    // and then stays there.
    let mut sizes = vec![first];
    for r in 2..=6 {
        let previous = format!("ses_{}", r - 1);
        if r > 2 {
            assert!(store.delete_session(&SessionId::new(&previous)).unwrap());
        }
        round(&mut store, &format!("ses_{r}"));
        sizes.push(pragma("page_count"));
    }
    for &pages in &sizes[1..] {
        assert!(
            pages <= first + first / 4,
            "pages after each round: {sizes:?}"
        );
    }
    assert!(sizes[5] <= sizes[3], "still growing: {sizes:?}");
    assert_eq!(
        store
            .search("parse_config_7", &SearchFilters::default(), Some(200))
            .unwrap()
            .len(),
        (MESSAGES - 7).div_ceil(31)
    );
    store.integrity_check().unwrap();
}

#[test]
fn a_sandbox_policy_is_stored_replaced_and_deleted_with_its_session() {
    let (dir, mut store) = temp_store();
    let record = full_record();
    store.insert_session(&record).unwrap();
    assert_eq!(store.sandbox_policy(&record.id).unwrap(), None);
    store
        .set_sandbox_policy(&record.id, r#"{"version":1,"enabled":true}"#)
        .unwrap();
    store
        .set_sandbox_policy(&record.id, r#"{"version":1,"enabled":false}"#)
        .unwrap();
    drop(store);
    let mut store = Store::open(&dir.path().join("history.db")).unwrap();
    assert_eq!(
        store.sandbox_policy(&record.id).unwrap().as_deref(),
        Some(r#"{"version":1,"enabled":false}"#)
    );
    expect_code(
        store.set_sandbox_policy(&SessionId::new("ses_nope"), "{}"),
        ErrorCode::SessionNotFound,
    );
    assert!(store.delete_session(&record.id).unwrap());
    assert_eq!(store.sandbox_policy(&record.id).unwrap(), None);
    drop(store);
    assert_eq!(count(&raw(&dir), "session_sandbox"), 0);
}

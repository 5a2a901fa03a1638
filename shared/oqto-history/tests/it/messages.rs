//! Messages: exact round-trips, upserts, user messages, fork copies.

use oqto_history::Store;
use oqto_protocol::{ErrorCode, MessageId, Part, PartId, Role, SearchFilters, SessionId};

use crate::support::{
    count, counter, expect_code, message_with_every_part, raw, session, temp_store, text_message,
};

#[test]
fn every_part_kind_and_field_round_trips_exactly() {
    let (dir, mut store) = temp_store();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    let written = message_with_every_part("ses_a", "msg_all");
    store.put_message(&written, Some(42)).unwrap();

    let page = store.messages(&SessionId::new("ses_a"), None, 10).unwrap();
    assert_eq!(page.messages, vec![written.clone()]);
    assert!(!page.has_more);

    // And from the file, through a fresh connection.
    drop(store);
    let store = Store::open(&dir.path().join("history.db")).unwrap();
    let page = store.messages(&SessionId::new("ses_a"), None, 10).unwrap();
    assert_eq!(page.messages, vec![written]);
    store.integrity_check().unwrap();
}

#[test]
fn a_message_without_parts_or_options_round_trips() {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    let mut m = text_message("ses_a", "msg_1", Role::System, 5, "");
    m.parts.clear();
    store.put_message(&m, None).unwrap();
    let page = store.messages(&SessionId::new("ses_a"), None, 10).unwrap();
    assert_eq!(page.messages, vec![m]);
}

#[test]
fn a_message_for_an_unknown_session_is_refused() {
    let mut store = Store::open_in_memory().unwrap();
    let m = text_message("ses_nope", "msg_1", Role::User, 5, "hi");
    let msg = expect_code(store.put_message(&m, None), ErrorCode::SessionNotFound);
    assert_eq!(msg, "no session `ses_nope`");
    expect_code(store.put_messages(&[(m, None)]), ErrorCode::SessionNotFound);
}

#[test]
fn a_batch_with_one_bad_message_stores_nothing() {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    let batch = vec![
        (text_message("ses_a", "msg_1", Role::User, 5, "first"), None),
        (
            text_message("ses_nope", "msg_2", Role::User, 6, "second"),
            None,
        ),
    ];
    expect_code(store.put_messages(&batch), ErrorCode::SessionNotFound);
    let page = store.messages(&SessionId::new("ses_a"), None, 10).unwrap();
    assert!(page.messages.is_empty());
    let hits = store
        .search("first", &SearchFilters::default(), None)
        .unwrap();
    assert!(hits.is_empty());
    store.integrity_check().unwrap();
}

#[test]
fn a_message_id_stored_under_another_session_is_refused() {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store.insert_session(&session("ses_b", "pi", "/w")).unwrap();
    store
        .put_message(&text_message("ses_a", "msg_1", Role::User, 5, "hi"), None)
        .unwrap();
    let err = store
        .put_message(&text_message("ses_b", "msg_1", Role::User, 5, "hi"), None)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal);
    assert_eq!(
        err.to_string(),
        "message `msg_1` belongs to session `ses_a`, not `ses_b`"
    );
}

#[test]
fn upsert_replaces_fields_parts_and_index_and_keeps_the_position() {
    let (dir, mut store) = temp_store();
    let ses = SessionId::new("ses_a");
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store
        .put_messages(&[
            (
                text_message("ses_a", "msg_1", Role::User, 10, "before"),
                Some(3),
            ),
            (
                text_message("ses_a", "msg_2", Role::Assistant, 11, "alpha streaming"),
                Some(7),
            ),
            (
                text_message("ses_a", "msg_3", Role::User, 12, "after"),
                Some(9),
            ),
        ])
        .unwrap();

    // The tool ran: the runner stores the message again, with a new part list.
    let mut updated = message_with_every_part("ses_a", "msg_2");
    updated.created_at = 11;
    updated.parts.truncate(3);
    updated.parts.push(Part::Text {
        id: PartId::new("prt_new"),
        text: "omega finished".into(),
    });
    store.put_message(&updated, None).unwrap();

    let page = store.messages(&ses, None, 10).unwrap();
    let ids: Vec<&str> = page.messages.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["msg_1", "msg_2", "msg_3"]);
    assert_eq!(page.messages[1], updated);

    let filters = SearchFilters::default();
    assert!(store.search("alpha", &filters, None).unwrap().is_empty());
    let hits = store.search("omega", &filters, None).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message_id.as_str(), "msg_2");
    assert_eq!(
        hits[0].seq,
        Some(7),
        "a re-put without seq keeps the stored seq"
    );

    // A re-put with a seq replaces it.
    store.put_message(&updated, Some(8)).unwrap();
    assert_eq!(
        store.search("omega", &filters, None).unwrap()[0].seq,
        Some(8)
    );

    let conn = raw(&dir);
    let pk: i64 = conn
        .query_row("SELECT pk FROM messages WHERE id = 'msg_2'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(count(&conn, &format!("parts WHERE message = {pk}")), 4);
    store.integrity_check().unwrap();
}

#[test]
fn a_message_written_twice_in_one_batch_ends_as_the_second() {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store
        .put_message(&text_message("ses_a", "msg_0", Role::User, 1, "zero"), None)
        .unwrap();
    store
        .put_messages(&[
            (
                text_message("ses_a", "msg_0", Role::User, 1, "first rewrite"),
                None,
            ),
            (text_message("ses_a", "msg_1", Role::User, 2, "alpha"), None),
            (text_message("ses_a", "msg_1", Role::User, 2, "beta"), None),
            (
                text_message("ses_a", "msg_0", Role::User, 1, "second rewrite"),
                None,
            ),
        ])
        .unwrap();
    let page = store.messages(&SessionId::new("ses_a"), None, 10).unwrap();
    let texts: Vec<_> = page
        .messages
        .iter()
        .map(|m| match &m.parts[0] {
            Part::Text { text, .. } => text.as_str(),
            other => panic!("unexpected part {other:?}"),
        })
        .collect();
    assert_eq!(texts, ["second rewrite", "beta"]);
    let filters = SearchFilters::default();
    for gone in ["zero", "first", "alpha"] {
        assert!(
            store.search(gone, &filters, None).unwrap().is_empty(),
            "{gone}"
        );
    }
    assert_eq!(store.search("rewrite", &filters, None).unwrap().len(), 1);
    store.integrity_check().unwrap();
}

#[test]
fn storing_a_message_moves_the_session_activity_forward_only() {
    let mut store = Store::open_in_memory().unwrap();
    let ses = SessionId::new("ses_a");
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store
        .put_message(
            &text_message("ses_a", "msg_1", Role::User, 5_000, "x"),
            None,
        )
        .unwrap();
    assert_eq!(store.session(&ses).unwrap().unwrap().updated_at, 5_000);
    store
        .put_message(
            &text_message("ses_a", "msg_0", Role::User, 2_000, "older"),
            None,
        )
        .unwrap();
    assert_eq!(store.session(&ses).unwrap().unwrap().updated_at, 5_000);
}

#[test]
fn user_messages_lists_user_text_in_order() {
    let mut store = Store::open_in_memory().unwrap();
    let ses = SessionId::new("ses_a");
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    let mut two_parts = text_message("ses_a", "msg_3", Role::User, 3, "look at ");
    two_parts.parts.push(Part::FileRef {
        id: PartId::new("prt_f"),
        path: "src/a.rs".into(),
        mime_type: None,
    });
    two_parts.parts.push(Part::Text {
        id: PartId::new("prt_t2"),
        text: "and fix it".into(),
    });
    let mut image_only = text_message("ses_a", "msg_4", Role::User, 4, "");
    image_only.parts = vec![Part::Image {
        id: PartId::new("prt_i"),
        mime_type: "image/png".into(),
        data: Some("AAAA".into()),
        url: None,
    }];
    store
        .put_messages(&[
            (text_message("ses_a", "msg_1", Role::User, 1, "hello"), None),
            (
                text_message("ses_a", "msg_2", Role::Assistant, 2, "hi there"),
                None,
            ),
            (two_parts, None),
            (image_only, None),
            (
                text_message("ses_a", "msg_5", Role::System, 5, "summary"),
                None,
            ),
        ])
        .unwrap();
    let users = store.user_messages(&ses).unwrap();
    assert_eq!(
        users,
        vec![
            (MessageId::new("msg_1"), "hello".to_owned()),
            (MessageId::new("msg_3"), "look at and fix it".to_owned()),
            (MessageId::new("msg_4"), String::new()),
        ]
    );
    expect_code(
        store.user_messages(&SessionId::new("ses_nope")),
        ErrorCode::SessionNotFound,
    );
}

#[test]
fn fork_copies_the_messages_before_the_fork_point_with_fresh_ids() {
    let (dir, mut store) = temp_store();
    let from = SessionId::new("ses_a");
    let to = SessionId::new("ses_fork");
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store
        .insert_session(&session("ses_fork", "pi", "/w"))
        .unwrap();
    let originals = vec![
        text_message("ses_a", "msg_1", Role::User, 1, "first question"),
        message_with_every_part("ses_a", "msg_2"),
        text_message("ses_a", "msg_3", Role::User, 3, "second question"),
        text_message("ses_a", "msg_4", Role::Assistant, 4, "second answer"),
    ];
    let batch: Vec<_> = originals.iter().cloned().map(|m| (m, Some(1))).collect();
    store.put_messages(&batch).unwrap();

    let mut message_ids = counter("msg_copy");
    let mut part_ids = counter("prt_copy");
    let copied = store
        .copy_messages_before(
            &from,
            &to,
            &MessageId::new("msg_3"),
            &mut || MessageId::new(message_ids()),
            &mut || PartId::new(part_ids()),
        )
        .unwrap();
    assert_eq!(copied, 2);

    let page = store.messages(&to, None, 10).unwrap();
    assert_eq!(page.messages.len(), 2);
    for (copy, original) in page.messages.iter().zip(&originals) {
        assert_eq!(copy.session, to);
        assert_ne!(copy.id, original.id);
        assert!(copy.id.as_str().starts_with("msg_copy_"));
        for (p, q) in copy.parts.iter().zip(&original.parts) {
            assert!(p.id().as_str().starts_with("prt_copy_"));
            // Equal but for the id.
            let mut p = serde_json::to_value(p).unwrap();
            let mut q = serde_json::to_value(q).unwrap();
            p["id"] = serde_json::Value::Null;
            q["id"] = serde_json::Value::Null;
            assert_eq!(p, q);
        }
        assert_eq!(copy.parts.len(), original.parts.len());
        assert_eq!(
            (
                copy.role,
                copy.created_at,
                &copy.model,
                &copy.usage,
                copy.stop_reason
            ),
            (
                original.role,
                original.created_at,
                &original.model,
                &original.usage,
                original.stop_reason
            )
        );
    }
    // The source is untouched, and the copies are searchable, without a seq.
    assert_eq!(store.messages(&from, None, 10).unwrap().messages, originals);
    let filters = SearchFilters {
        session: Some(to.clone()),
        ..SearchFilters::default()
    };
    let hits = store.search("first question", &filters, None).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].seq, None);
    // 16 parts in the four originals, 14 in the copies of the first two.
    assert_eq!(count(&raw(&dir), "parts"), 16 + 14);
    store.integrity_check().unwrap();
}

#[test]
fn fork_errors_name_what_is_missing() {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store.insert_session(&session("ses_b", "pi", "/w")).unwrap();
    store
        .put_message(&text_message("ses_b", "msg_b", Role::User, 1, "x"), None)
        .unwrap();
    let mut ids = counter("x");
    let mut next_message = || MessageId::new(ids());
    let mut next_part = || PartId::new("prt");
    let (a, b) = (SessionId::new("ses_a"), SessionId::new("ses_b"));

    let msg = expect_code(
        store.copy_messages_before(
            &a,
            &b,
            &MessageId::new("msg_b"),
            &mut next_message,
            &mut next_part,
        ),
        ErrorCode::MessageNotFound,
    );
    assert_eq!(msg, "no message `msg_b` in session `ses_a`");
    expect_code(
        store.copy_messages_before(
            &a,
            &SessionId::new("ses_gone"),
            &MessageId::new("msg_b"),
            &mut next_message,
            &mut next_part,
        ),
        ErrorCode::SessionNotFound,
    );
    expect_code(
        store.copy_messages_before(
            &SessionId::new("ses_gone"),
            &a,
            &MessageId::new("msg_b"),
            &mut next_message,
            &mut next_part,
        ),
        ErrorCode::SessionNotFound,
    );
}

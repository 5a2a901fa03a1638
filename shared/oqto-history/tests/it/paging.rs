//! Paging backwards through a session with `before`.

use std::collections::HashSet;

use oqto_history::{MAX_PAGE, Store};
use oqto_protocol::{ErrorCode, MessageId, Role, SessionId};

use crate::support::{expect_code, session, text_message};

/// A store with session `ses_a` holding `n` messages `msg_0` .. `msg_{n-1}`, oldest first,
/// and session `ses_b` with a few of its own.
fn store_with(n: usize) -> Store {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store.insert_session(&session("ses_b", "pi", "/w")).unwrap();
    // Interleave the sessions, and give later messages *earlier* timestamps: the order is
    // the order of insertion, not of `created_at` or of ids.
    let mut batch = Vec::new();
    for i in 0..n {
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        let at = 1_000_000 - i as u64;
        batch.push((
            text_message("ses_a", &format!("msg_{i}"), role, at, "x"),
            None,
        ));
        if i % 10 == 0 {
            batch.push((
                text_message("ses_b", &format!("b_{i}"), role, at, "y"),
                None,
            ));
        }
    }
    store.put_messages(&batch).unwrap();
    store
}

/// Pages back from the newest message with pages of `size`; returns the ids in order
/// (oldest first) and the number of pages.
fn page_back(store: &Store, size: usize) -> (Vec<String>, usize) {
    let ses = SessionId::new("ses_a");
    let mut before: Option<MessageId> = None;
    let mut pages: Vec<Vec<String>> = Vec::new();
    loop {
        let page = store.messages(&ses, before.as_ref(), size).unwrap();
        assert!(page.messages.len() <= size);
        assert!(page.messages.iter().all(|m| m.session == ses));
        let ids: Vec<String> = page.messages.iter().map(|m| m.id.0.clone()).collect();
        before = page.messages.first().map(|m| m.id.clone());
        if page.has_more {
            assert_eq!(ids.len(), size, "a page with older messages is full");
        }
        pages.push(ids);
        if !page.has_more {
            break;
        }
    }
    let count = pages.len();
    pages.reverse();
    (pages.concat(), count)
}

fn expected(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("msg_{i}")).collect()
}

#[test]
fn paging_back_visits_every_message_once_in_order() {
    let store = store_with(1_000);
    for size in [1, 7, 100, 999, 1_000] {
        let (ids, pages) = page_back(&store, size);
        assert_eq!(ids, expected(1_000), "page size {size}");
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), 1_000);
        assert_eq!(pages, 1_000_usize.div_ceil(size), "page size {size}");
    }
}

#[test]
fn has_more_is_false_exactly_when_the_oldest_message_is_reached() {
    let store = store_with(21);
    let ses = SessionId::new("ses_a");
    let newest = store.messages(&ses, None, 7).unwrap();
    assert!(newest.has_more);
    assert_eq!(newest.messages.first().unwrap().id.as_str(), "msg_14");
    let middle = store
        .messages(&ses, Some(&MessageId::new("msg_14")), 7)
        .unwrap();
    assert!(middle.has_more);
    let oldest = store
        .messages(&ses, Some(&MessageId::new("msg_7")), 7)
        .unwrap();
    assert!(!oldest.has_more, "msg_0 is in this page: nothing is older");
    assert_eq!(oldest.messages.len(), 7);
    let beyond = store
        .messages(&ses, Some(&MessageId::new("msg_0")), 7)
        .unwrap();
    assert!(beyond.messages.is_empty());
    assert!(!beyond.has_more);

    let all = store.messages(&ses, None, 21).unwrap();
    assert_eq!(all.messages.len(), 21);
    assert!(!all.has_more);
    let more_than_all = store.messages(&ses, None, 500).unwrap();
    assert_eq!(more_than_all.messages.len(), 21);
    assert!(!more_than_all.has_more);
}

#[test]
fn a_zero_limit_only_says_whether_there_are_messages() {
    let store = store_with(3);
    let page = store.messages(&SessionId::new("ses_a"), None, 0).unwrap();
    assert!(page.messages.is_empty());
    assert!(page.has_more);
    let mut empty = Store::open_in_memory().unwrap();
    empty.insert_session(&session("ses_e", "pi", "/w")).unwrap();
    let page = empty.messages(&SessionId::new("ses_e"), None, 10).unwrap();
    assert!(page.messages.is_empty());
    assert!(!page.has_more);
}

#[test]
fn the_limit_is_capped() {
    let store = store_with(MAX_PAGE + 5);
    let page = store
        .messages(&SessionId::new("ses_a"), None, usize::MAX)
        .unwrap();
    assert_eq!(page.messages.len(), MAX_PAGE);
    assert!(page.has_more);
    assert_eq!(page.messages[0].id.as_str(), "msg_5");
}

#[test]
fn before_must_be_a_message_of_that_session() {
    let store = store_with(10);
    let ses = SessionId::new("ses_a");
    let msg = expect_code(
        store.messages(&ses, Some(&MessageId::new("msg_nope")), 5),
        ErrorCode::MessageNotFound,
    );
    assert_eq!(msg, "no message `msg_nope` in session `ses_a`");
    // A message of another session is not found in this one.
    expect_code(
        store.messages(&ses, Some(&MessageId::new("b_0")), 5),
        ErrorCode::MessageNotFound,
    );
    expect_code(
        store.messages(&SessionId::new("ses_nope"), None, 5),
        ErrorCode::SessionNotFound,
    );
}

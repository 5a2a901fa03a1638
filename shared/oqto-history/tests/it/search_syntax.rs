//! What users may type: punctuation is searched for, syntax errors are `bad_request`.

use oqto_history::Store;
use oqto_protocol::{ErrorCode, Role, SearchFilters};
use proptest::prelude::*;

use crate::support::{expect_code, session, text_message};

fn store() -> Store {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store
        .put_messages(&[
            (
                text_message(
                    "ses_a",
                    "msg_1",
                    Role::User,
                    1,
                    "run foo-bar with fn:main on a.b.c and std::vec::Vec in C++ near $HOME",
                ),
                None,
            ),
            (
                text_message("ses_a", "msg_2", Role::User, 2, "and or not"),
                None,
            ),
        ])
        .unwrap();
    store
}

#[test]
fn punctuation_in_a_word_is_searched_for_not_parsed() {
    let store = store();
    let all = SearchFilters::default();
    for query in [
        "foo-bar",
        "fn:main",
        "a.b.c",
        "std::vec::Vec",
        "C++",
        "$HOME",
        "-bar",
        "near",
        "NEAR",
        "near(main)",
        "'foo-bar'",
        "{foo: bar}",
        "foo^bar",
        "a\\b",
        r#""fn:main on""#,
        "foo* fn:mai*",
        "and",
        "or not",
    ] {
        let hits = store.search(query, &all, None).unwrap_or_else(|e| {
            panic!("`{query}` failed: {e}");
        });
        assert!(!hits.is_empty(), "`{query}` found nothing");
    }
    // Punctuation alone next to words is ignored rather than emptying the search.
    assert_eq!(store.search("foo - bar :", &all, None).unwrap().len(), 1);
}

#[test]
fn syntax_errors_are_bad_requests_with_readable_messages() {
    let store = store();
    let all = SearchFilters::default();
    let deep = format!("{}x{}", "(".repeat(40), ")".repeat(40));
    let many = vec!["w"; 100].join(" ");
    let long = "x ".repeat(3_000);
    for (query, reason) in [
        ("", "the query is empty"),
        ("  \t\n", "the query is empty"),
        (
            r#""unbalanced"#,
            "unbalanced `\"`: a phrase needs a closing quote",
        ),
        (
            r#"foo "bar"#,
            "unbalanced `\"`: a phrase needs a closing quote",
        ),
        ("AND", "`AND` needs a term before it"),
        ("foo AND", "`AND` needs a term after it"),
        ("OR foo", "`OR` needs a term before it"),
        ("foo OR OR bar", "`OR` needs a term after it, not `OR`"),
        ("NOT foo", "`NOT` needs a term before it"),
        ("*", "`*` must follow a word, as in `pars*`"),
        ("foo *", "`*` must follow a word, as in `pars*`"),
        (r#"""*"#, "`*` must follow a word, as in `pars*`"),
        ("NEAR(", "unbalanced `(`: a group needs a closing `)`"),
        (
            "NEAR(foo bar",
            "unbalanced `(`: a group needs a closing `)`",
        ),
        ("(", "unbalanced `(`: a group needs a closing `)`"),
        (")", "unbalanced `)`"),
        ("foo)", "unbalanced `)`"),
        ("()", "empty `()`"),
        ("foo (AND bar)", "`AND` needs a term before it"),
        ("- : ... ,", "nothing to search for"),
        (deep.as_str(), "parentheses nested more than 16 deep"),
        (many.as_str(), "at most 64 are allowed"),
        (long.as_str(), "at most 4096 are allowed"),
    ] {
        let msg = expect_code(store.search(query, &all, None), ErrorCode::BadRequest);
        let prefix = format!("bad search query `{query}`: ");
        assert!(msg.starts_with(&prefix), "`{query}` gave `{msg}`");
        assert!(
            msg.contains(reason),
            "`{query}` gave `{msg}`, not `{reason}`"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any string is either searched for or a `bad_request`; never a panic, never a
    /// storage or internal error.
    #[test]
    fn any_string_searches_or_is_a_bad_request(query in any::<String>()) {
        check(&query)?;
    }

    /// The same, from an alphabet dense in FTS5 syntax.
    #[test]
    fn syntax_soup_searches_or_is_a_bad_request(
        query in r#"([ "()*:^+\-./_,{}]|AND|OR|NOT|NEAR|foo|bar|fn|é|\x00){0,24}"#
    ) {
        check(&query)?;
    }
}

fn check(query: &str) -> Result<(), TestCaseError> {
    thread_local! {
        static STORE: Store = store();
    }
    STORE.with(
        |store| match store.search(query, &SearchFilters::default(), None) {
            Ok(_) => Ok(()),
            Err(e) => {
                prop_assert_eq!(e.code(), ErrorCode::BadRequest, "`{}`: {}", query, e);
                Ok(())
            }
        },
    )
}

//! `history.search`: what matches, filters, ranking, snippets, limits.

use oqto_history::{DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT, Store};
use oqto_protocol::{
    ErrorCode, Message, MessageId, Part, PartId, Role, SearchFilters, SearchHit, SessionId,
    ToolStatus,
};

use crate::support::{expect_code, session, text_message};

fn with_parts(session: &str, id: &str, role: Role, at: u64, parts: Vec<Part>) -> Message {
    Message {
        parts,
        ..text_message(session, id, role, at, "")
    }
}

fn text(n: &str, t: &str) -> Part {
    Part::Text {
        id: PartId::new(n),
        text: t.to_owned(),
    }
}

/// Four sessions in three directories with two harnesses, and messages covering every
/// searchable part kind.
fn corpus() -> Store {
    let mut store = Store::open_in_memory().unwrap();
    let mut pi1 = session("ses_pi1", "pi", "/home/ada/proj");
    pi1.title = Some("build.sh overview".into());
    store.insert_session(&pi1).unwrap();
    store
        .insert_session(&session("ses_pi2", "pi", "/home/ada/proj/sub"))
        .unwrap();
    store
        .insert_session(&session("ses_cl", "claude", "/home/ada/projx"))
        .unwrap();
    store
        .insert_session(&session("ses_root", "pi", "/srv"))
        .unwrap();
    store.put_messages(&corpus_messages()).unwrap();
    store
}

/// The corpus's messages, oldest first.
fn corpus_messages() -> Vec<(Message, Option<u64>)> {
    let filler = "lorem ipsum dolor sit amet ".repeat(100);
    vec![
        (
            text_message(
                "ses_pi1",
                "msg_1",
                Role::User,
                100,
                "Why does the flaky test fail in src/main.rs?",
            ),
            Some(4),
        ),
        (parse_config_answer(), Some(22)),
        (
            text_message(
                "ses_pi2",
                "msg_3",
                Role::User,
                300,
                "the test is flaky again, see src/lib.rs and main.rs",
            ),
            None,
        ),
        (
            with_parts(
                "ses_cl",
                "msg_4",
                Role::Assistant,
                400,
                vec![
                    text("p4a", "config parse order matters"),
                    Part::Error {
                        id: PartId::new("p4b"),
                        message: "provider overloaded (529)".into(),
                    },
                ],
            ),
            None,
        ),
        (
            with_parts(
                "ses_root",
                "msg_5",
                Role::System,
                500,
                vec![Part::Compaction {
                    id: PartId::new("p5"),
                    summary: "The café parser was rewritten; parse_config_file was added.".into(),
                    tokens_before: Some(1000),
                }],
            ),
            None,
        ),
        (
            with_parts(
                "ses_pi1",
                "msg_6",
                Role::User,
                600,
                vec![
                    Part::Image {
                        id: PartId::new("p6a"),
                        mime_type: "image/png".into(),
                        data: Some("iVBORw0KGgoAAAANSUhEUg".into()),
                        url: Some("https://example.invalid/shot.png".into()),
                    },
                    Part::FileRef {
                        id: PartId::new("p6b"),
                        path: "docs/guide.md".into(),
                        mime_type: None,
                    },
                ],
            ),
            None,
        ),
        (
            text_message(
                "ses_cl",
                "msg_7",
                Role::Assistant,
                700,
                &format!("{filler} and then the segfault happened {filler}"),
            ),
            None,
        ),
        (
            text_message(
                "ses_cl",
                "msg_8",
                Role::Assistant,
                800,
                "segfault: the segfault handler segfaults",
            ),
            None,
        ),
    ]
}

/// `msg_2`: thinking, text and a tool call with output.
fn parse_config_answer() -> Message {
    with_parts(
        "ses_pi1",
        "msg_2",
        Role::Assistant,
        200,
        vec![
            Part::Thinking {
                id: PartId::new("p2a"),
                text: "I should read the parser module first.".into(),
            },
            text("p2b", "The parse_config function panics on empty input."),
            Part::ToolCall {
                id: PartId::new("p2c"),
                call_id: "call_1".into(),
                name: "read".into(),
                input: serde_json::json!({"path": "src/main.rs"}),
                status: ToolStatus::Done,
                output: Some("fn parse_config() -> Config { todo() }".into()),
                is_error: false,
            },
        ],
    )
}

fn ids(hits: &[SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.message_id.as_str()).collect()
}

/// The ids of the hits, sorted (for tests where the rank order is not the point).
fn found(store: &Store, query: &str) -> Vec<String> {
    found_with(store, query, &SearchFilters::default())
}

fn found_with(store: &Store, query: &str, filters: &SearchFilters) -> Vec<String> {
    let hits = store.search(query, filters, None).unwrap();
    let mut ids: Vec<String> = hits.into_iter().map(|h| h.message_id.0).collect();
    ids.sort();
    ids
}

#[test]
fn a_common_word_finds_every_message_with_it() {
    let store = corpus();
    assert_eq!(
        found(&store, "the"),
        ["msg_1", "msg_2", "msg_3", "msg_5", "msg_7", "msg_8"]
    );
    // Case and diacritics do not matter.
    assert_eq!(found(&store, "THE"), found(&store, "the"));
    assert_eq!(found(&store, "cafe"), ["msg_5"]);
}

#[test]
fn an_identifier_matches_as_a_unit_and_its_words_match_alone() {
    let store = corpus();
    // `parse_config` in text and tool output, and inside `parse_config_file`; not the
    // words in another order (`config parse`).
    assert_eq!(found(&store, "parse_config"), ["msg_2", "msg_5"]);
    assert_eq!(found(&store, "PARSE_CONFIG"), ["msg_2", "msg_5"]);
    assert_eq!(found(&store, "config"), ["msg_2", "msg_4", "msg_5"]);
}

#[test]
fn a_path_matches_only_where_it_appears_whole() {
    let store = corpus();
    // msg_3 mentions `src/lib.rs` and `main.rs`, but not `src/main.rs`.
    assert_eq!(found(&store, "src/main.rs"), ["msg_1", "msg_2"]);
    assert_eq!(found(&store, "main.rs"), ["msg_1", "msg_2", "msg_3"]);
    assert_eq!(found(&store, "docs/guide.md"), ["msg_6"]);
}

#[test]
fn a_phrase_needs_its_words_in_order_and_bare_words_do_not() {
    let store = corpus();
    assert_eq!(found(&store, r#""flaky test""#), ["msg_1"]);
    assert_eq!(found(&store, "flaky test"), ["msg_1", "msg_3"]);
    assert_eq!(
        found(&store, "flaky OR segfault"),
        ["msg_1", "msg_3", "msg_7", "msg_8"]
    );
    assert_eq!(found(&store, "flaky NOT src/main.rs"), ["msg_3"]);
    assert_eq!(
        found(&store, "(flaky OR overloaded) main.rs"),
        ["msg_1", "msg_3"]
    );
}

#[test]
fn a_prefix_matches_the_start_of_words() {
    let store = corpus();
    // parser, parse_config, parse, parse_config_file
    assert_eq!(found(&store, "pars*"), ["msg_2", "msg_4", "msg_5"]);
    assert_eq!(found(&store, "parse_conf*"), ["msg_2", "msg_5"]);
    assert_eq!(found(&store, "segf*"), ["msg_7", "msg_8"]);
}

#[test]
fn every_searchable_part_kind_is_indexed_and_images_are_not() {
    let store = corpus();
    assert_eq!(found(&store, "module"), ["msg_2"], "thinking");
    assert_eq!(found(&store, "todo"), ["msg_2"], "tool output");
    assert_eq!(found(&store, r#""path""#), ["msg_2"], "tool input JSON");
    assert_eq!(found(&store, "overloaded"), ["msg_4"], "error");
    assert_eq!(found(&store, "rewritten"), ["msg_5"], "compaction");
    assert_eq!(found(&store, "guide"), ["msg_6"], "file reference");
    assert!(
        found(&store, "iVBORw0KGgoAAAANSUhEUg").is_empty(),
        "image data"
    );
    assert!(found(&store, "shot.png").is_empty(), "image url");
}

#[test]
fn no_hits_is_an_empty_list() {
    let store = corpus();
    assert!(found(&store, "kubernetes").is_empty());
    assert!(found(&store, r#""test flaky""#).is_empty());
}

#[test]
fn hits_carry_the_message_and_session_fields() {
    let store = corpus();
    let hits = store
        .search("panics", &SearchFilters::default(), None)
        .unwrap();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.session.as_str(), "ses_pi1");
    assert_eq!(hit.message_id, MessageId::new("msg_2"));
    assert_eq!(hit.seq, Some(22));
    assert_eq!(hit.role, Role::Assistant);
    assert_eq!(hit.created_at, 200);
    assert_eq!(hit.harness, "pi");
    assert_eq!(hit.cwd, "/home/ada/proj");
    assert_eq!(hit.title.as_deref(), Some("build.sh overview"));
    assert!(hit.score > 0.0, "score {}", hit.score);

    let hit = &store
        .search("overloaded", &SearchFilters::default(), None)
        .unwrap()[0];
    assert_eq!((hit.seq, hit.title.as_deref()), (None, None));
}

#[test]
fn snippets_mark_matches_and_elide_long_text() {
    let store = corpus();
    let hit = &store
        .search("parse_config", &session_filter("ses_pi1"), None)
        .unwrap()[0];
    assert!(
        hit.snippet.contains("The [parse_config] function"),
        "{}",
        hit.snippet
    );
    let hit = &store
        .search("segfault", &session_filter("ses_cl"), None)
        .unwrap();
    let long = hit
        .iter()
        .find(|h| h.message_id.as_str() == "msg_7")
        .unwrap();
    assert!(long.snippet.starts_with('…'), "{}", long.snippet);
    assert!(long.snippet.ends_with('…'), "{}", long.snippet);
    assert!(
        long.snippet.contains("the [segfault] happened"),
        "{}",
        long.snippet
    );
    assert!(long.snippet.len() < 200, "{}", long.snippet);
}

#[test]
fn better_matches_rank_first_with_higher_scores() {
    let store = corpus();
    let hits = store
        .search("segfault", &SearchFilters::default(), None)
        .unwrap();
    // Three times in a short message beats once in a long one.
    assert_eq!(ids(&hits), ["msg_8", "msg_7"]);
    assert!(hits[0].score > hits[1].score);

    let hits = store
        .search("parse_config OR config", &SearchFilters::default(), None)
        .unwrap();
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
}

fn session_filter(id: &str) -> SearchFilters {
    SearchFilters {
        session: Some(SessionId::new(id)),
        ..SearchFilters::default()
    }
}

fn cwd(dir: &str) -> SearchFilters {
    SearchFilters {
        cwd: Some(dir.to_owned()),
        ..SearchFilters::default()
    }
}

#[test]
fn the_harness_filter_is_exact() {
    let store = corpus();
    let claude = SearchFilters {
        harness: Some("claude".into()),
        ..SearchFilters::default()
    };
    assert_eq!(found_with(&store, "the", &claude), ["msg_7", "msg_8"]);
    let partial = SearchFilters {
        harness: Some("cla".into()),
        ..SearchFilters::default()
    };
    assert!(found_with(&store, "the", &partial).is_empty());
}

#[test]
fn the_cwd_filter_takes_the_directory_and_below_it() {
    let store = corpus();
    // /home/ada/proj and /home/ada/proj/sub, not /home/ada/projx.
    let proj = ["msg_1", "msg_2", "msg_3"];
    assert_eq!(found_with(&store, "the", &cwd("/home/ada/proj")), proj);
    assert_eq!(found_with(&store, "the", &cwd("/home/ada/proj/")), proj);
    assert_eq!(
        found_with(&store, "the", &cwd("/home/ada/proj/sub")),
        ["msg_3"]
    );
    assert_eq!(
        found_with(&store, "the", &cwd("/home/ada/projx")),
        ["msg_7", "msg_8"]
    );
    assert_eq!(found_with(&store, "the", &cwd("/")), found(&store, "the"));
    assert!(found_with(&store, "the", &cwd("/home/ada/pro")).is_empty());
    assert!(found_with(&store, "the", &cwd("/HOME/ada/proj")).is_empty());
    assert!(found_with(&store, "the", &cwd("/home/ada/pro%")).is_empty());
    let msg = expect_code(store.search("the", &cwd(""), None), ErrorCode::BadRequest);
    assert_eq!(msg, "bad search filter: `cwd` is empty; give a directory");
}

#[test]
fn the_session_filter_keeps_one_session() {
    let store = corpus();
    assert_eq!(
        found_with(&store, "the", &session_filter("ses_pi2")),
        ["msg_3"]
    );
    assert!(found_with(&store, "the", &session_filter("ses_nope")).is_empty());
}

#[test]
fn since_is_inclusive_and_until_exclusive() {
    let store = corpus();
    let range = |since: Option<u64>, until: Option<u64>| SearchFilters {
        since,
        until,
        ..SearchFilters::default()
    };
    assert_eq!(
        found_with(&store, "the", &range(Some(300), None)),
        ["msg_3", "msg_5", "msg_7", "msg_8"]
    );
    assert_eq!(
        found_with(&store, "the", &range(None, Some(300))),
        ["msg_1", "msg_2"]
    );
    assert_eq!(
        found_with(&store, "the", &range(Some(200), Some(301))),
        ["msg_2", "msg_3"]
    );
    assert!(found_with(&store, "the", &range(Some(300), Some(300))).is_empty());
    assert!(found_with(&store, "the", &range(Some(u64::MAX), None)).is_empty());
    assert_eq!(
        found_with(&store, "the", &range(None, Some(u64::MAX))),
        found(&store, "the")
    );
}

#[test]
fn the_role_filter_keeps_one_role() {
    let store = corpus();
    let role = |role| SearchFilters {
        role: Some(role),
        ..SearchFilters::default()
    };
    assert_eq!(
        found_with(&store, "the", &role(Role::User)),
        ["msg_1", "msg_3"]
    );
    assert_eq!(found_with(&store, "the", &role(Role::System)), ["msg_5"]);
    assert_eq!(
        found_with(&store, "the", &role(Role::Assistant)),
        ["msg_2", "msg_7", "msg_8"]
    );
}

#[test]
fn filters_combine() {
    let store = corpus();
    let filters = SearchFilters {
        harness: Some("pi".into()),
        cwd: Some("/home/ada".into()),
        session: None,
        since: Some(100),
        until: Some(250),
        role: Some(Role::Assistant),
    };
    assert_eq!(found_with(&store, "the", &filters), ["msg_2"]);
}

#[test]
fn the_limit_defaults_to_20_and_is_capped_at_200() {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    let batch: Vec<_> = (0..250)
        .map(|i| {
            let m = text_message("ses_a", &format!("msg_{i}"), Role::User, i, "needle");
            (m, None)
        })
        .collect();
    store.put_messages(&batch).unwrap();
    let all = SearchFilters::default();
    assert_eq!(
        store.search("needle", &all, None).unwrap().len(),
        DEFAULT_SEARCH_LIMIT
    );
    assert_eq!(
        store.search("needle", &all, Some(10_000)).unwrap().len(),
        MAX_SEARCH_LIMIT
    );
    assert_eq!(store.search("needle", &all, Some(5)).unwrap().len(), 5);
    assert!(store.search("needle", &all, Some(0)).unwrap().is_empty());
    // Equal scores: the newest first.
    let hits = store.search("needle", &all, Some(3)).unwrap();
    assert_eq!(ids(&hits), ["msg_249", "msg_248", "msg_247"]);
}

/// `n` messages in session `ses_a`, the i-th saying `text(i)`, stored in that order.
fn store_of(n: usize, text: impl Fn(usize) -> String) -> Store {
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    store
        .insert_session(&session("ses_b", "codex", "/v"))
        .unwrap();
    let batch: Vec<_> = (0..n)
        .map(|i| {
            let ses = if i % 2 == 0 { "ses_a" } else { "ses_b" };
            let role = if i % 3 == 0 {
                Role::User
            } else {
                Role::Assistant
            };
            let at = u64::try_from(i).unwrap();
            (
                text_message(ses, &format!("msg_{i}"), role, at, &text(i)),
                None,
            )
        })
        .collect();
    store.put_messages(&batch).unwrap();
    store
}

#[test]
fn a_frequent_term_is_ranked_among_its_most_recent_matches() {
    use oqto_history::RANKED_CANDIDATES;
    let n = RANKED_CANDIDATES + 500;
    // Every message says `needle` once in a long text, except two that say it three times
    // in a short one: msg_10, older than the ranked window, and the newest but 50.
    let strong = n - 50;
    let store = store_of(n, |i| {
        if i == 10 || i == strong {
            "needle needle needle".to_owned()
        } else {
            format!("needle {}", "filler words here ".repeat(20))
        }
    });
    let hits = store
        .search("needle", &SearchFilters::default(), Some(MAX_SEARCH_LIMIT))
        .unwrap();
    assert_eq!(hits.len(), MAX_SEARCH_LIMIT);
    // The best of the window is first; msg_10 is outside it and not returned at all.
    assert_eq!(hits[0].message_id.as_str(), format!("msg_{strong}"));
    assert!(hits[0].score > hits[1].score);
    assert!(hits.iter().all(|h| h.message_id.as_str() != "msg_10"));
    // Only the most recent RANKED_CANDIDATES messages can be hits.
    let oldest_ranked = n - RANKED_CANDIDATES;
    for hit in &hits {
        let i: usize = hit.message_id.as_str()["msg_".len()..].parse().unwrap();
        assert!(
            i >= oldest_ranked,
            "{} is older than the window",
            hit.message_id
        );
    }
    // A query matching few messages still ranks all of them: msg_10 is found.
    let store = store_of(n, |i| {
        if i == 10 || i == strong {
            "needle needle needle rare".to_owned()
        } else {
            format!("needle {}", "filler words here ".repeat(20))
        }
    });
    assert_eq!(
        found(&store, "rare"),
        ["msg_10".to_owned(), format!("msg_{strong}")]
    );
}

#[test]
fn filters_stay_exact_when_a_term_has_more_matches_than_are_ranked() {
    use oqto_history::RANKED_CANDIDATES;
    let n = 3 * RANKED_CANDIDATES;
    let store = store_of(n, |i| format!("common word {i}"));
    let check = |filters: &SearchFilters, ok: &dyn Fn(usize) -> bool| {
        let hits = store
            .search("common", filters, Some(MAX_SEARCH_LIMIT))
            .unwrap();
        assert_eq!(hits.len(), MAX_SEARCH_LIMIT, "{filters:?}");
        for hit in &hits {
            let i: usize = hit.message_id.as_str()["msg_".len()..].parse().unwrap();
            assert!(ok(i), "{} does not pass {filters:?}", hit.message_id);
        }
    };
    check(&session_filter("ses_b"), &|i| i % 2 == 1);
    check(
        &SearchFilters {
            harness: Some("codex".into()),
            ..SearchFilters::default()
        },
        &|i| i % 2 == 1,
    );
    check(&cwd("/w"), &|i| i % 2 == 0);
    check(
        &SearchFilters {
            role: Some(Role::User),
            ..SearchFilters::default()
        },
        &|i| i % 3 == 0,
    );
    // A time window far older than the most recent matches still finds its messages.
    check(
        &SearchFilters {
            since: Some(100),
            until: Some(400),
            ..SearchFilters::default()
        },
        &|i| (100..400).contains(&i),
    );
    let few = SearchFilters {
        since: Some(10),
        until: Some(13),
        role: Some(Role::User),
        ..SearchFilters::default()
    };
    assert_eq!(found_with(&store, "common", &few), ["msg_12"]);
}

#[test]
fn snippets_come_from_the_stored_parts() {
    // The index keeps no text: the snippet is cut from the message's parts, including a
    // tool output's head and tail when its middle is not indexed.
    let mut store = Store::open_in_memory().unwrap();
    store.insert_session(&session("ses_a", "pi", "/w")).unwrap();
    let output = format!(
        "start of output {} middle_marker {} the tail_marker end",
        "x ".repeat(8 * 1024),
        "y ".repeat(8 * 1024)
    );
    let message = with_parts(
        "ses_a",
        "msg_1",
        Role::Assistant,
        1,
        vec![Part::ToolCall {
            id: PartId::new("p1"),
            call_id: "c1".into(),
            name: "bash".into(),
            input: serde_json::json!({"command": "make"}),
            status: ToolStatus::Done,
            output: Some(output),
            is_error: false,
        }],
    );
    store.put_message(&message, None).unwrap();
    let hits = store
        .search("tail_marker", &SearchFilters::default(), None)
        .unwrap();
    assert_eq!(ids(&hits), ["msg_1"]);
    assert!(
        hits[0].snippet.contains("the [tail_marker] end"),
        "{}",
        hits[0].snippet
    );
    assert!(found(&store, "middle_marker").is_empty());
    assert_eq!(found(&store, "start"), ["msg_1"]);
    store.integrity_check().unwrap();
}

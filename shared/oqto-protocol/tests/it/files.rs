//! The file server's protocol: golden lines round-trip byte for byte, every request gets one
//! fitting response, every variant appears in a golden line, and malformed input is a typed
//! error with the id when it was readable.

use std::collections::{BTreeMap, BTreeSet};

use oqto_protocol::{
    ErrorCode, FilesClientMessage, FilesCommand, FilesEvent, FilesRequest, FilesServerMessage,
    RequestId,
};
use serde_json::Value;

use crate::support::{self, tags};

#[test]
fn files_client_lines_round_trip() {
    for (line, msg) in support::files_client() {
        assert_eq!(msg.to_line(), line.text, "{line}");
        let via_serde: FilesClientMessage =
            serde_json::from_str(&line.text).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(via_serde, msg, "{line}");
        if let FilesClientMessage::Request(r) = &msg {
            let req: FilesRequest =
                serde_json::from_str(&line.text).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(&req, r, "{line}");
            assert_eq!(req.to_line(), line.text, "{line}");
            assert_eq!(line.type_tag(), r.command.name(), "{line}");
        }
    }
}

#[test]
fn files_server_lines_round_trip() {
    for (line, msg) in support::files_server() {
        assert_eq!(msg.to_line(), line.text, "{line}");
        let json = line.json();
        match &msg {
            FilesServerMessage::Ok(ok) => {
                assert_eq!(
                    json["result"]["type"],
                    tags::files_reply(&ok.result),
                    "{line}"
                );
            }
            FilesServerMessage::Error(e) => {
                assert_ne!(e.code, ErrorCode::Other, "{line}: `other` is never sent");
                assert_eq!(json["code"], tags::error_code(&e.code), "{line}");
            }
            FilesServerMessage::Event(ev) => {
                assert!(
                    FilesEvent::NAMES.contains(&line.type_tag().as_str()),
                    "{line}"
                );
                let _ = ev;
            }
            FilesServerMessage::Welcome(_) | FilesServerMessage::Data(_) => {}
        }
    }
}

/// The `ok` reply types each operation may get; no wildcard, so a new operation must be
/// added here.
fn replies_for(command: &FilesCommand) -> &'static [&'static str] {
    match command {
        FilesCommand::List { .. } => &["entries"],
        FilesCommand::Stat { .. } => &["stat"],
        FilesCommand::Read { .. } => &["read"],
        FilesCommand::Write { .. } | FilesCommand::UploadFinish { .. } => &["written"],
        FilesCommand::Mkdir { .. }
        | FilesCommand::Rename { .. }
        | FilesCommand::Copy { .. }
        | FilesCommand::Delete { .. }
        | FilesCommand::Unwatch { .. }
        | FilesCommand::UploadAbort { .. }
        | FilesCommand::Cancel { .. } => &["empty"],
        FilesCommand::Hash { .. } => &["hash"],
        FilesCommand::Search { .. } => &["searched"],
        FilesCommand::Watch { .. } => &["watching"],
        FilesCommand::UploadStart { .. } | FilesCommand::UploadChunk { .. } => &["upload"],
    }
}

#[test]
fn every_files_request_gets_exactly_one_fitting_response() {
    let mut requests: BTreeMap<String, FilesCommand> = BTreeMap::new();
    for (line, msg) in support::files_client() {
        if let FilesClientMessage::Request(r) = msg {
            let previous = requests.insert(r.id.as_str().to_owned(), r.command);
            assert!(previous.is_none(), "{line}: request id used twice");
        }
    }
    let mut answered = BTreeSet::new();
    for (line, msg) in support::files_server() {
        let (id, reply) = match &msg {
            FilesServerMessage::Ok(ok) => (Some(&ok.id), Some(tags::files_reply(&ok.result))),
            FilesServerMessage::Error(e) => (e.id.as_ref(), None),
            FilesServerMessage::Data(d) => {
                let command = requests.get(d.id.as_str()).expect("data for a request");
                assert_eq!(command.name(), "read", "{line}: data for a non-read");
                assert!(
                    !answered.contains(d.id.as_str()),
                    "{line}: data after the end"
                );
                continue;
            }
            FilesServerMessage::Event(FilesEvent::SearchMatches { id, .. }) => {
                let command = requests.get(id.as_str()).expect("matches for a request");
                assert_eq!(command.name(), "search", "{line}");
                assert!(
                    !answered.contains(id.as_str()),
                    "{line}: matches after the end"
                );
                continue;
            }
            FilesServerMessage::Welcome(_) | FilesServerMessage::Event(_) => continue,
        };
        let Some(id) = id else { continue };
        assert!(
            answered.insert(id.as_str().to_owned()),
            "{line}: a second response to {id}"
        );
        let Some(command) = requests.get(id.as_str()) else {
            // The answer to a line that could not be decoded.
            let FilesServerMessage::Error(e) = &msg else {
                panic!("{line}: answers {id}, which is not in files-client.jsonl");
            };
            assert!(
                matches!(e.code, ErrorCode::BadRequest | ErrorCode::UnknownCommand),
                "{line}: answers {id}, which is not in files-client.jsonl"
            );
            continue;
        };
        if let Some(reply) = reply {
            assert!(
                replies_for(command).contains(&reply),
                "{line}: `{}` answered with `{reply}`",
                command.name()
            );
        }
    }
    for id in requests.keys() {
        assert!(answered.contains(id), "request {id} gets no response");
    }
}

/// Every `(key, string value)` pair anywhere in `value`.
fn pairs(value: &Value, out: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let Value::String(s) = v {
                    out.insert((k.clone(), s.clone()));
                }
                pairs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| pairs(v, out)),
        _ => {}
    }
}

#[test]
fn every_files_variant_has_a_golden_line() {
    let mut seen = BTreeSet::new();
    let mut commands = BTreeSet::new();
    for (line, msg) in support::files_client() {
        pairs(&Value::Object(line.json()), &mut seen);
        if let FilesClientMessage::Request(r) = msg {
            commands.insert(r.command.name());
        }
    }
    for (line, _) in support::files_server() {
        pairs(&Value::Object(line.json()), &mut seen);
    }
    let has = |key: &str, tag: &str| seen.contains(&(key.to_owned(), tag.to_owned()));
    let mut missing = Vec::new();
    for name in FilesCommand::NAMES {
        if !commands.contains(name) {
            missing.push(format!("command {name}"));
        }
    }
    for name in FilesEvent::NAMES {
        if !has("type", name) {
            missing.push(format!("event {name}"));
        }
    }
    for tag in tags::FILES_REPLIES {
        if !has("type", tag) {
            missing.push(format!("reply {tag}"));
        }
    }
    for tag in tags::FILES_ERROR_CODES {
        if !has("code", tag) {
            missing.push(format!("error code {tag}"));
        }
    }
    for tag in tags::ENTRY_KINDS.iter().chain(tags::CHANGE_KINDS) {
        if !has("kind", tag) {
            missing.push(format!("kind {tag}"));
        }
    }
    for tag in tags::SEARCH_MODES {
        if !has("mode", tag) {
            missing.push(format!("search mode {tag}"));
        }
    }
    for tag in tags::SORT_KEYS.iter().filter(|t| **t != "name") {
        if !has("sort", tag) {
            missing.push(format!("sort key {tag}"));
        }
    }
    for tag in tags::SEARCH_LIMITS.iter().filter(|t| **t != "max_results") {
        if !has("limit", tag) {
            missing.push(format!("search limit {tag}"));
        }
    }
    assert!(missing.is_empty(), "no golden line has: {missing:?}");
}

#[track_caller]
fn files_err(line: &str, code: ErrorCode, id: Option<&str>, has: &str) {
    match FilesClientMessage::parse(line) {
        Ok(msg) => panic!("accepted {line}: {msg:?}"),
        Err(e) => {
            assert_eq!(e.code, code, "{e:?}");
            assert_eq!(e.id, id.map(RequestId::from), "{e:?}");
            assert!(e.message.contains(has), "{:?} lacks {has:?}", e.message);
        }
    }
}

#[test]
fn malformed_files_requests_are_typed_errors() {
    files_err("{", ErrorCode::BadRequest, None, "invalid JSON");
    files_err("[1]", ErrorCode::BadRequest, None, "expected a JSON object");
    files_err(
        r#"{"id":"1","type":"lst","path":""}"#,
        ErrorCode::UnknownCommand,
        Some("1"),
        "unknown command `lst`",
    );
    files_err(
        r#"{"id":"2","type":"stat"}"#,
        ErrorCode::BadRequest,
        Some("2"),
        "missing field `path`",
    );
    files_err(
        r#"{"id":"3","type":"list","path":"","recurse":true}"#,
        ErrorCode::BadRequest,
        Some("3"),
        "unknown field `recurse`",
    );
    files_err(
        r#"{"id":"4","type":"write","path":"a","content":"x","expect":{"mtim":1}}"#,
        ErrorCode::BadRequest,
        Some("4"),
        "unknown field `mtim`",
    );
    files_err(
        r#"{"id":"5","type":"upload.chunk","upload":"u","offset":-1,"len":1}"#,
        ErrorCode::BadRequest,
        Some("5"),
        "upload.chunk",
    );
    files_err(
        r#"{"type":"read","path":"a"}"#,
        ErrorCode::BadRequest,
        None,
        "without an `id`",
    );
    files_err(
        r#"{"type":"hello","protocol":"1","client":"x"}"#,
        ErrorCode::BadRequest,
        None,
        "hello",
    );
}

#[test]
fn runner_and_files_lines_are_told_apart() {
    // A runner command is unknown to the file server and the other way round.
    files_err(
        r#"{"id":"1","type":"session.list"}"#,
        ErrorCode::UnknownCommand,
        Some("1"),
        "session.list",
    );
    let runner = oqto_protocol::ClientMessage::parse(r#"{"id":"1","type":"list","path":""}"#);
    assert!(runner.is_err());
    // Unknown error codes from a newer server parse as `other`.
    let line = r#"{"type":"error","id":"1","code":"quota_exceeded","message":"m"}"#;
    match FilesServerMessage::parse(line) {
        Ok(FilesServerMessage::Error(e)) => assert_eq!(e.code, ErrorCode::Other),
        other => panic!("{other:?}"),
    }
}

//! Every golden line parses as its type and re-serializes to exactly the same bytes, and the
//! files hang together as a conversation (one response per request, gap-free `seq`).

use std::collections::BTreeMap;

use oqto_protocol::{
    AgentCommand, AgentMessage, AgentRequest, ClientMessage, Command, Event, EventKind,
    RelayMessage, Request, ServerMessage, TerminalBytes, TerminalEvent,
};

use crate::support::{self, Line, tags};

/// Asserts `serialize(parse(line)) == line` for every line of `file`, reporting all failures.
fn round_trip<T, E: std::fmt::Display>(
    file: &'static str,
    parse: impl Fn(&str) -> Result<T, E>,
    to_line: impl Fn(&T) -> String,
) {
    let mut failures = Vec::new();
    for line in support::lines(file) {
        match parse(&line.text) {
            Ok(value) => {
                let again = to_line(&value);
                if again != line.text {
                    failures.push(format!(
                        "{line}: re-serializes differently\n  golden: {}\n  actual: {again}",
                        line.text
                    ));
                }
            }
            Err(e) => failures.push(format!("{line}: does not parse: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn client_lines_round_trip() {
    round_trip("client.jsonl", ClientMessage::parse, ClientMessage::to_line);
}

#[test]
fn server_lines_round_trip() {
    round_trip("server.jsonl", ServerMessage::parse, ServerMessage::to_line);
}

#[test]
fn harness_in_lines_round_trip() {
    round_trip(
        "harness-in.jsonl",
        AgentRequest::parse,
        AgentRequest::to_line,
    );
}

#[test]
fn harness_out_lines_round_trip() {
    round_trip(
        "harness-out.jsonl",
        AgentMessage::parse,
        AgentMessage::to_line,
    );
}

#[test]
fn relay_lines_round_trip() {
    round_trip(
        "relay.jsonl",
        RelayMessage::parse_frame,
        RelayMessage::to_frame,
    );
}

#[test]
fn relay_terminal_lines_round_trip() {
    round_trip(
        "relay-terminal.jsonl",
        support::TerminalChannel::parse_frame,
        support::TerminalChannel::to_frame,
    );
}

/// Each golden binary frame of the `terminal` channel decodes, encodes to the same bytes,
/// and is shown in docs/protocol.md.
#[test]
fn terminal_binary_frames_round_trip_and_are_documented() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol.md"),
    )
    .unwrap();
    let frames = support::terminal_frames();
    assert_eq!(frames.len(), 2);
    for (line, bytes) in frames {
        let decoded = TerminalBytes::decode(&bytes).unwrap_or_else(|e| panic!("{line}: {e:?}"));
        assert_eq!(decoded.encode(), bytes, "{line}");
        assert!(
            doc.lines().any(|l| l == line),
            "docs/protocol.md lacks {line}"
        );
    }
}

/// The `Deserialize` impls (used when a protocol type is nested in something else, e.g. a
/// relay frame) agree with the `parse` functions.
#[test]
fn serde_impls_agree_with_parse() {
    for (line, msg) in support::client() {
        let via_serde: ClientMessage =
            serde_json::from_str(&line.text).unwrap_or_else(|e| panic!("{line}: serde: {e}"));
        assert_eq!(via_serde, msg, "{line}");
        if let ClientMessage::Request(request) = &msg {
            let req: Request =
                serde_json::from_str(&line.text).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(&req, request, "{line}");
            assert_eq!(serde_json::to_string(&req).unwrap(), line.text, "{line}");
        }
    }
    for (line, msg) in support::server() {
        if let ServerMessage::Event(event) = &msg {
            let ev: Event =
                serde_json::from_str(&line.text).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(&ev, event, "{line}");
            assert_eq!(ev.to_line(), line.text, "{line}");
        }
    }
    for (line, req) in support::harness_in() {
        let via_serde: AgentRequest =
            serde_json::from_str(&line.text).unwrap_or_else(|e| panic!("{line}: serde: {e}"));
        assert_eq!(via_serde, req, "{line}");
    }
    for (line, msg) in support::harness_out() {
        if let AgentMessage::Event(kind) = &msg {
            let k: EventKind =
                serde_json::from_str(&line.text).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(&k, kind, "{line}");
        }
    }
}

/// `Command::name()`, `EventKind::name()` and the tag tables agree with the serialized `type`.
#[test]
fn names_agree_with_serialized_type() {
    for (line, msg) in support::client() {
        let expected = match &msg {
            ClientMessage::Hello(_) => "hello",
            ClientMessage::Request(r) => {
                assert!(Command::NAMES.contains(&r.command.name()), "{line}");
                r.command.name()
            }
        };
        assert_eq!(line.type_tag(), expected, "{line}");
    }
    for (line, msg) in support::server() {
        let json = line.json();
        let expected = match &msg {
            ServerMessage::Welcome(_) => "welcome",
            ServerMessage::Ok(ok) => {
                assert_eq!(json["result"]["type"], tags::reply(&ok.result), "{line}");
                "ok"
            }
            ServerMessage::Error(_) => "error",
            ServerMessage::Event(ev) => {
                assert!(EventKind::NAMES.contains(&ev.kind.name()), "{line}");
                ev.kind.name()
            }
            ServerMessage::Terminal(ev) => {
                assert!(TerminalEvent::NAMES.contains(&ev.name()), "{line}");
                ev.name()
            }
        };
        assert_eq!(line.type_tag(), expected, "{line}");
    }
    for (line, req) in support::harness_in() {
        let name = tags::agent_command(&req.command);
        assert!(AgentCommand::NAMES.contains(&name), "{line}");
        assert_eq!(line.type_tag(), name, "{line}");
    }
    for (line, msg) in support::harness_out() {
        let json = line.json();
        let expected = match &msg {
            AgentMessage::Ok(ok) => {
                assert_eq!(
                    json["result"]["type"],
                    tags::agent_reply(&ok.result),
                    "{line}"
                );
                "ok"
            }
            AgentMessage::Error(_) => "error",
            AgentMessage::Event(kind) => kind.name(),
        };
        assert_eq!(line.type_tag(), expected, "{line}");
    }
}

/// The `ok` reply types each command may get. This is the command → reply table of
/// `docs/protocol.md`; the match has no wildcard so a new command must be added here.
fn replies_for(command: &Command) -> &'static [&'static str] {
    match command {
        Command::SessionCreate { .. }
        | Command::SessionGet { .. }
        | Command::SessionRename { .. }
        | Command::Fork { .. } => &["session"],
        Command::SessionList { .. } => &["sessions"],
        Command::SessionSubscribe { .. } => &["subscribed"],
        Command::SessionClose { .. }
        | Command::SessionDelete { .. }
        | Command::SessionUnsubscribe { .. }
        | Command::Prompt { .. }
        | Command::Steer { .. }
        | Command::FollowUp { .. }
        | Command::Abort { .. }
        | Command::PermissionReply { .. }
        | Command::SetThinkingLevel { .. }
        | Command::RunnerShutdown {}
        | Command::TerminalDetach { .. }
        | Command::TerminalInput { .. }
        | Command::TerminalResize { .. }
        | Command::TerminalClose { .. } => &["empty"],
        Command::TerminalOpen { .. } | Command::TerminalAttach { .. } => &["terminal"],
        Command::TerminalList {} => &["terminals"],
        Command::FilesOpen { .. } => &["files_server"],
        Command::SetModel { .. } => &["model"],
        Command::GetModels { .. } => &["models"],
        Command::Compact { .. } => &["compacted"],
        Command::GetMessages { .. } => &["messages"],
        Command::HistorySearch { .. } => &["search_results"],
        Command::HistoryImport { .. } => &["imported"],
        Command::RunnerStatus {} => &["status"],
        Command::AuditList { .. } => &["audit"],
    }
}

/// The same for the native harness sub-protocol.
fn agent_replies_for(command: &AgentCommand) -> &'static [&'static str] {
    match command {
        AgentCommand::Init { .. } => &["ready"],
        AgentCommand::Prompt { .. }
        | AgentCommand::Steer { .. }
        | AgentCommand::FollowUp { .. }
        | AgentCommand::Abort {}
        | AgentCommand::SetThinkingLevel { .. }
        | AgentCommand::Shutdown {} => &["empty"],
        AgentCommand::SetModel { .. } => &["model"],
        AgentCommand::GetModels {} => &["models"],
        AgentCommand::Compact { .. } => &["compacted"],
        AgentCommand::Fork { .. } => &["forked"],
    }
}

/// Every request in `client.jsonl` has exactly one response in `server.jsonl`, of a reply
/// type its command can get; every other response answers a line that could not be decoded.
#[test]
fn every_request_gets_exactly_one_fitting_response() {
    let mut requests: BTreeMap<String, (Line, Command)> = BTreeMap::new();
    for (line, msg) in support::client() {
        if let ClientMessage::Request(r) = msg {
            let id = r.id.as_str().to_owned();
            if let Some((first, _)) = requests.get(&id) {
                panic!("{line}: request id {id:?} already used at {first}");
            }
            requests.insert(id, (line, r.command));
        }
    }
    let mut answered: BTreeMap<String, Line> = BTreeMap::new();
    for (line, msg) in support::server() {
        let (id, reply, code) = match &msg {
            ServerMessage::Ok(ok) => (Some(&ok.id), Some(tags::reply(&ok.result)), None),
            ServerMessage::Error(e) => (e.id.as_ref(), None, Some(e.code.as_str())),
            ServerMessage::Welcome(_) | ServerMessage::Event(_) | ServerMessage::Terminal(_) => {
                continue;
            }
        };
        let Some(id) = id else { continue };
        if let Some(first) = answered.insert(id.as_str().to_owned(), line.clone()) {
            panic!("{line}: a second response to request {id}, first at {first}");
        }
        match (requests.get(id.as_str()), reply) {
            (Some((req_line, command)), Some(reply)) => assert!(
                replies_for(command).contains(&reply),
                "{line}: `{}` ({req_line}) answered with reply `{reply}`",
                command.name()
            ),
            (Some(_), None) => {}
            (None, _) => assert!(
                matches!(code, Some("bad_request" | "unknown_command")),
                "{line}: answers request {id}, which is not in client.jsonl"
            ),
        }
    }
    for (id, (line, _)) in &requests {
        assert!(
            answered.contains_key(id),
            "{line}: request {id} gets no response"
        );
    }
}

/// Agent responses fit the command with that id (ids restart with each agent process, so a
/// response may match several requests; one of them must fit).
#[test]
fn agent_responses_fit_their_commands() {
    let requests = support::harness_in();
    for (line, msg) in support::harness_out() {
        let AgentMessage::Ok(ok) = msg else { continue };
        let reply = tags::agent_reply(&ok.result);
        let candidates: Vec<_> = requests.iter().filter(|(_, r)| r.id == ok.id).collect();
        assert!(
            !candidates.is_empty(),
            "{line}: no request with id {}",
            ok.id
        );
        assert!(
            candidates
                .iter()
                .any(|(_, r)| agent_replies_for(&r.command).contains(&reply)),
            "{line}: reply `{reply}` fits no request with id {}",
            ok.id
        );
    }
}

/// The event stream in `server.jsonl` is one session's stream as a subscriber sees it: `seq`
/// from 1, +1 per event, `ts` never going back. A `resync` (sent to one subscriber, outside
/// the shared stream) carries the seq its snapshot reflects.
#[test]
fn event_stream_is_gap_free() {
    let mut expected_seq = 1;
    let mut last_ts = 0;
    let mut session = None;
    let mut resyncs = Vec::new();
    for (line, msg) in support::server() {
        let ServerMessage::Event(ev) = msg else {
            continue;
        };
        if let EventKind::Resync { info, .. } = &ev.kind {
            assert_eq!(
                info.last_seq, ev.seq,
                "{line}: snapshot's last_seq is not its seq"
            );
            resyncs.push((line, ev.seq));
            continue;
        }
        assert_eq!(ev.seq, expected_seq, "{line}: seq gap");
        assert!(ev.ts >= last_ts, "{line}: ts went back");
        let session = session.get_or_insert_with(|| ev.session.clone());
        assert_eq!(&ev.session, session, "{line}: another session");
        expected_seq += 1;
        last_ts = ev.ts;
    }
    for (line, seq) in resyncs {
        assert!(seq < expected_seq, "{line}: resync seq beyond the stream");
    }
}

/// An agent's events carry no `session`/`seq`/`ts` (the runner adds them) and use the agent's
/// own message and part labels, not runner ids.
#[test]
fn agent_events_use_local_labels() {
    for (line, msg) in support::harness_out() {
        let AgentMessage::Event(kind) = msg else {
            continue;
        };
        let json = line.json();
        for key in ["session", "seq", "ts"] {
            assert!(!json.contains_key(key), "{line}: agent event with `{key}`");
        }
        for key in ["message_id", "part_id"] {
            if let Some(label) = json.get(key).and_then(|v| v.as_str()) {
                assert!(
                    !label.starts_with("msg_") && !label.starts_with("prt_"),
                    "{line}: `{key}` looks like a runner id"
                );
            }
        }
        assert!(
            !kind.name().starts_with("session.") && kind.name() != "resync",
            "{line}: `{}` is the runner's own event",
            kind.name()
        );
    }
}

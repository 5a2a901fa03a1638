//! The golden files exercise every variant of every protocol enum. The tag tables in
//! `support::tags` match without wildcards, so a new variant fails to compile until it is
//! listed there, and then fails these tests until a golden line uses it.

use std::collections::BTreeSet;

use oqto_protocol::{
    AgentCommand, AgentMessage, AgentReply, ClientMessage, Command, ErrorCode, EventKind, Message,
    Part, Reply, ServerMessage, SessionInfo, TerminalEvent,
};
use serde::Serialize;

use crate::support::{self, tags};

/// Wire tags seen in the golden files, per category.
#[derive(Default)]
struct Seen {
    commands: BTreeSet<&'static str>,
    agent_commands: BTreeSet<&'static str>,
    events: BTreeSet<&'static str>,
    terminal_events: BTreeSet<&'static str>,
    agent_events: BTreeSet<&'static str>,
    replies: BTreeSet<&'static str>,
    agent_replies: BTreeSet<&'static str>,
    error_codes: BTreeSet<&'static str>,
    parts: BTreeSet<&'static str>,
    tool_statuses: BTreeSet<&'static str>,
    stop_reasons: BTreeSet<&'static str>,
    roles: BTreeSet<&'static str>,
    /// States and phases anywhere (session infos and `state` events).
    states: BTreeSet<&'static str>,
    phases: BTreeSet<&'static str>,
    /// States and phases of `state` events.
    state_events: BTreeSet<&'static str>,
    phase_events: BTreeSet<&'static str>,
    capabilities: BTreeSet<&'static str>,
    compaction_reasons: BTreeSet<&'static str>,
    resync_reasons: BTreeSet<&'static str>,
    resync_with_in_flight: bool,
    error_without_id: bool,
}

/// Checks that `tag` is how serde writes the unit variant `value`, and returns it.
fn checked<T: Serialize + std::fmt::Debug>(value: &T, tag: &'static str) -> &'static str {
    let json = serde_json::to_value(value).expect("serializes");
    assert_eq!(json, tag, "tag table disagrees with serde for {value:?}");
    tag
}

impl Seen {
    fn collect() -> Self {
        let mut seen = Seen::default();
        for (_, msg) in support::client() {
            if let ClientMessage::Request(r) = msg {
                seen.commands.insert(r.command.name());
            }
        }
        for (line, msg) in support::server() {
            match msg {
                ServerMessage::Welcome(w) => {
                    for h in &w.harnesses {
                        for c in &h.capabilities {
                            seen.capabilities.insert(checked(c, tags::capability(c)));
                        }
                    }
                }
                ServerMessage::Ok(ok) => seen.reply(&ok.result),
                ServerMessage::Error(e) => {
                    assert_ne!(e.code, ErrorCode::Other, "{line}: `other` is never sent");
                    seen.error_codes
                        .insert(checked(&e.code, tags::error_code(&e.code)));
                    seen.error_without_id |= e.id.is_none();
                }
                ServerMessage::Event(ev) => {
                    seen.events.insert(ev.kind.name());
                    seen.event(&ev.kind);
                }
                ServerMessage::Terminal(ev) => {
                    seen.terminal_events.insert(ev.name());
                }
            }
        }
        for (_, req) in support::harness_in() {
            seen.agent_commands
                .insert(tags::agent_command(&req.command));
        }
        for (line, msg) in support::harness_out() {
            match msg {
                AgentMessage::Ok(ok) => {
                    seen.agent_replies.insert(tags::agent_reply(&ok.result));
                    match &ok.result {
                        AgentReply::Ready {
                            capabilities: caps, ..
                        } => {
                            for c in caps {
                                seen.capabilities.insert(checked(c, tags::capability(c)));
                            }
                        }
                        AgentReply::Empty
                        | AgentReply::Models { .. }
                        | AgentReply::Model { .. }
                        | AgentReply::Compacted { .. }
                        | AgentReply::Forked { .. } => {}
                    }
                }
                AgentMessage::Error(e) => {
                    assert_ne!(e.code, ErrorCode::Other, "{line}: `other` is never sent");
                }
                AgentMessage::Event(kind) => {
                    seen.agent_events.insert(kind.name());
                    seen.event(&kind);
                }
            }
        }
        seen
    }

    fn reply(&mut self, reply: &Reply) {
        self.replies.insert(tags::reply(reply));
        match reply {
            Reply::Session { session, .. } => self.info(session),
            Reply::Sessions { sessions } => sessions.iter().for_each(|s| self.info(s)),
            Reply::Messages { messages, .. } => messages.iter().for_each(|m| self.message(m)),
            Reply::Empty
            | Reply::Terminal { .. }
            | Reply::Terminals { .. }
            | Reply::FilesServer { .. }
            | Reply::Subscribed { .. }
            | Reply::Models { .. }
            | Reply::Model { .. }
            | Reply::Compacted { .. }
            | Reply::SearchResults { .. }
            | Reply::Imported { .. }
            | Reply::Status { .. }
            | Reply::Audit { .. } => {}
        }
    }

    fn event(&mut self, kind: &EventKind) {
        match kind {
            EventKind::SessionCreated { info } | EventKind::SessionUpdated { info } => {
                self.info(info);
            }
            EventKind::State { state, phase, .. } => {
                let tag = checked(state, tags::state(state));
                self.states.insert(tag);
                self.state_events.insert(tag);
                if let Some(phase) = phase {
                    let tag = checked(phase, tags::phase(phase));
                    self.phases.insert(tag);
                    self.phase_events.insert(tag);
                }
            }
            EventKind::MessageStart { role, .. } => {
                self.roles.insert(checked(role, tags::role(role)));
            }
            EventKind::PartStart { part, .. }
            | EventKind::PartEnd { part, .. }
            | EventKind::ToolEnd { part, .. } => self.part(part),
            EventKind::MessageEnd { message } => self.message(message),
            EventKind::CompactionStart { reason } | EventKind::CompactionEnd { reason, .. } => {
                self.compaction_reasons
                    .insert(checked(reason, tags::compaction_reason(reason)));
            }
            EventKind::Resync {
                reason,
                info,
                messages,
                in_flight,
                ..
            } => {
                self.resync_reasons
                    .insert(checked(reason, tags::resync_reason(reason)));
                self.info(info);
                for m in messages {
                    self.message(m);
                }
                if let Some(m) = in_flight {
                    self.resync_with_in_flight = true;
                    self.message(m);
                }
            }
            EventKind::Error { code, .. } => {
                self.error_codes
                    .insert(checked(code, tags::error_code(code)));
            }
            EventKind::SessionClosed { .. }
            | EventKind::SessionDeleted {}
            | EventKind::PartDelta { .. }
            | EventKind::ToolStart { .. }
            | EventKind::ToolOutput { .. }
            | EventKind::QueueUpdate { .. }
            | EventKind::RetryStart { .. }
            | EventKind::RetryEnd { .. }
            | EventKind::ModelChanged { .. }
            | EventKind::PermissionRequest { .. }
            | EventKind::PermissionResolved { .. } => {}
        }
    }

    fn info(&mut self, info: &SessionInfo) {
        self.states
            .insert(checked(&info.state, tags::state(&info.state)));
        if let Some(phase) = &info.phase {
            self.phases.insert(checked(phase, tags::phase(phase)));
        }
    }

    fn message(&mut self, message: &Message) {
        self.roles
            .insert(checked(&message.role, tags::role(&message.role)));
        if let Some(reason) = &message.stop_reason {
            self.stop_reasons
                .insert(checked(reason, tags::stop_reason(reason)));
        }
        message.parts.iter().for_each(|p| self.part(p));
    }

    fn part(&mut self, part: &Part) {
        let tag = tags::part(part);
        assert_eq!(
            tag,
            part.kind().as_str(),
            "Part::kind disagrees for {part:?}"
        );
        assert_eq!(checked(&part.kind(), tag), tag);
        assert_eq!(serde_json::to_value(part).unwrap()["type"], tag);
        self.parts.insert(tag);
        if let Part::ToolCall { status, .. } = part {
            self.tool_statuses
                .insert(checked(status, tags::tool_status(status)));
        }
    }
}

/// Asserts that `seen` holds every name of `all` (and nothing else).
#[track_caller]
fn assert_all(what: &str, all: &[&str], seen: &BTreeSet<&str>) {
    let missing: Vec<_> = all.iter().filter(|n| !seen.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "no golden line has these {what}: {missing:?}"
    );
    let unknown: Vec<_> = seen.iter().filter(|n| !all.contains(n)).collect();
    assert!(
        unknown.is_empty(),
        "{what} not in the list of all: {unknown:?}"
    );
}

#[test]
fn name_lists_are_complete_and_unique() {
    for (what, names) in [
        ("Command::NAMES", Command::NAMES),
        ("EventKind::NAMES", EventKind::NAMES),
        ("AgentCommand::NAMES", AgentCommand::NAMES),
    ] {
        let unique: BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{what} has duplicates");
    }
    assert_eq!(AgentCommand::NAMES, tags::AGENT_COMMANDS);
}

#[test]
fn every_command_has_a_golden_line() {
    let seen = Seen::collect();
    assert_all("commands", Command::NAMES, &seen.commands);
    assert_all("agent commands", AgentCommand::NAMES, &seen.agent_commands);
}

#[test]
fn every_event_has_a_golden_line() {
    let seen = Seen::collect();
    assert_all("events", EventKind::NAMES, &seen.events);
    assert_all(
        "terminal events",
        TerminalEvent::NAMES,
        &seen.terminal_events,
    );
    let agent_stream = [
        "state",
        "message.start",
        "part.start",
        "part.delta",
        "part.end",
        "message.end",
        "tool.start",
        "tool.output",
        "tool.end",
    ];
    let missing: Vec<_> = agent_stream
        .iter()
        .filter(|n| !seen.agent_events.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "harness-out.jsonl lacks agent events {missing:?}"
    );
}

#[test]
fn every_reply_has_a_golden_line() {
    let seen = Seen::collect();
    assert_all("replies", tags::REPLIES, &seen.replies);
    assert_all("agent replies", tags::AGENT_REPLIES, &seen.agent_replies);
}

#[test]
fn every_error_code_has_a_golden_line() {
    let seen = Seen::collect();
    assert_all(
        "runner error codes",
        tags::RUNNER_ERROR_CODES,
        &seen.error_codes,
    );
    assert!(seen.error_without_id, "no `error` with `\"id\":null`");
    let relay: BTreeSet<&str> = support::relay()
        .iter()
        .filter_map(|(_, m)| match m {
            oqto_protocol::RelayMessage::Error(e) => Some(tags::error_code(&e.code)),
            _ => None,
        })
        .collect();
    assert_all("relay error codes", tags::RELAY_ERROR_CODES, &relay);
}

#[test]
fn every_error_code_is_sent_by_some_program() {
    let sendable: BTreeSet<&str> = tags::ERROR_CODES_AND_OTHER
        .iter()
        .copied()
        .filter(|c| *c != "other")
        .collect();
    let sent: BTreeSet<&str> = tags::RUNNER_ERROR_CODES
        .iter()
        .chain(tags::FILES_ERROR_CODES)
        .chain(tags::RELAY_ERROR_CODES)
        .copied()
        .collect();
    assert_eq!(sent, sendable, "codes no program sends, or unknown codes");
}

#[test]
fn error_code_names_agree_with_serde() {
    let names: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let sendable: Vec<&str> = tags::ERROR_CODES_AND_OTHER
        .iter()
        .copied()
        .filter(|c| *c != "other")
        .collect();
    assert_eq!(names, sendable, "ErrorCode::ALL is complete and in order");
    for code in ErrorCode::ALL.iter().chain([&ErrorCode::Other]) {
        assert_eq!(checked(code, tags::error_code(code)), code.as_str());
        assert_eq!(code.to_string(), code.as_str());
    }
    let unknown: ErrorCode = serde_json::from_str("\"from_the_future\"").unwrap();
    assert_eq!(unknown, ErrorCode::Other);
}

#[test]
fn every_part_message_and_state_variant_has_a_golden_line() {
    let seen = Seen::collect();
    assert_all("part types", tags::PARTS, &seen.parts);
    assert_all("tool statuses", tags::TOOL_STATUSES, &seen.tool_statuses);
    assert_all("stop reasons", tags::STOP_REASONS, &seen.stop_reasons);
    assert_all("roles", tags::ROLES, &seen.roles);
    assert_all("states", tags::STATES, &seen.states);
    assert_all("phases", tags::PHASES, &seen.phases);
    assert_all("states in `state` events", tags::STATES, &seen.state_events);
    assert_all("phases in `state` events", tags::PHASES, &seen.phase_events);
    assert_all("capabilities", tags::CAPABILITIES, &seen.capabilities);
    assert_all(
        "compaction reasons",
        tags::COMPACTION_REASONS,
        &seen.compaction_reasons,
    );
    assert_all("resync reasons", tags::RESYNC_REASONS, &seen.resync_reasons);
    assert!(seen.resync_with_in_flight, "no `resync` with `in_flight`");
}

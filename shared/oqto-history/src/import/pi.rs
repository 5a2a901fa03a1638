//! Importing pi's own session files (`$PI_CODING_AGENT_DIR/sessions/--<cwd>--/*.jsonl`,
//! format version 3; see `shared/reference/pi-rpc.md` §8 and pi's `docs/session-format.md`).
//!
//! A file is a header line (`{"type":"session","version":3,"id":<uuid>,"cwd":…}`) and
//! entries that form a tree through `id` and `parentId`. The conversation pi shows is the
//! branch from the file's last entry (the tree's current leaf) back to the root; abandoned
//! branches are not imported. [`parse_session`] turns that branch into a [`SessionRecord`]
//! and the protocol's [`Message`]s, mapping pi's messages the way the runner maps pi's live
//! events, with the same types and block mapping (crate `oqto-pi`; the entries in
//! `convert.rs`); [`import_pi_dir`] stores every session file under a pi agent directory,
//! idempotently (`store.rs`).
//!
//! pi's files are only ever opened for reading. `docs/history.md` ("Importing pi sessions")
//! describes what is read, the id derivation and when a session is updated.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead as _, BufReader, Read as _};
use std::path::Path;

use oqto_protocol::{Message, MessageId, Millis, Role, SessionId, State};
use serde_json::{Map, Value};

use super::{ids, time::parse_rfc3339};
use crate::SessionRecord;

mod convert;
mod store;
#[cfg(test)]
mod tests;

pub use store::{import_pi_dir, import_pi_file};

/// The harness name of imported sessions, and the `<source>` of their id keys.
pub const HARNESS: &str = "pi";

/// The `reason` of an imported session (its state is `stopped`).
pub const IMPORTED_REASON: &str = "imported from pi";

/// The longest title taken from a first prompt, in characters (an ellipsis included).
pub const MAX_TITLE_CHARS: usize = 80;

/// Why a file was not imported at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
    /// The file holds no line at all.
    #[error("the file is empty")]
    Empty,
    /// The first line is not a pi session header; says what is wrong with it.
    #[error("not a pi session file: {0}")]
    NoHeader(String),
    /// A header of a format version this importer does not read.
    #[error(
        "pi session format version {0} is not supported: versions 2 and 3 are (pi upgrades \
         an older file when it opens it)"
    )]
    Version(u64),
    /// The file's path cannot be stored as text (it is not UTF-8).
    #[error("the path is not valid UTF-8")]
    Path,
}

/// One pi session file, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedSession {
    /// The session as it is stored: `harness` `pi`, `harness_ref` the file's path, state
    /// `stopped`.
    pub record: SessionRecord,
    /// The messages of the current branch, oldest first.
    pub messages: Vec<Message>,
    /// What was skipped inside the file, one line each (e.g. `line 7: not JSON (…)`).
    pub warnings: Vec<String>,
    /// pi's own session id (the header's `id`).
    pub pi_session: String,
    /// The ids of the messages every entry of the file makes, on any branch: the messages of
    /// the session that the importer (not the runner) wrote.
    own_ids: HashSet<MessageId>,
    /// When the `session_info` entry that named the session was written.
    named_at: Option<Millis>,
}

/// The session id an imported pi session gets: `ses_` and the FNV-1a hash of
/// `pi\0session\0<uuid>` in hex.
pub fn session_id(pi_session: &str) -> SessionId {
    ids::session_id(HARNESS, pi_session)
}

/// Reads and parses the pi session file at `path` (opened read-only). The record's
/// `harness_ref` is the file's absolute path.
pub fn parse_session_file(path: &Path) -> Result<ParsedSession, ParseError> {
    let path = std::path::absolute(path)?;
    let mut bytes = Vec::new();
    File::open(&path)?.read_to_end(&mut bytes)?;
    parse_session(&bytes, &path)
}

/// Parses the text of a pi session file; `path` is where it lives (the record's
/// `harness_ref`, and what the warnings are about).
///
/// The first non-blank line must be a session header of version 2 or 3 with an `id` and an
/// absolute `cwd`; otherwise the whole file is refused. After it, a line that is not a JSON
/// entry with a `type` and an `id` (or whose content cannot be read) is skipped and counted
/// in [`ParsedSession::warnings`]; it never fails the file.
pub fn parse_session(bytes: &[u8], path: &Path) -> Result<ParsedSession, ParseError> {
    let harness_ref = path.to_str().ok_or(ParseError::Path)?.to_owned();
    // Split on '\n' only: pi writes U+2028 and U+2029 raw inside strings.
    let mut lines = bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace));
    let (_, first) = lines.next().ok_or(ParseError::Empty)?;
    let header = Header::parse(first)?;

    // (line, what was skipped), sorted by line at the end.
    let mut warnings: Vec<(usize, String)> = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for (number, line) in lines {
        match Entry::parse(number, line) {
            Ok(entry) => {
                if let Some(&before) = by_id.get(&entry.id) {
                    warnings.push((
                        number,
                        format!(
                            "entry id `{}` was already used on line {}; the later entry \
                             replaces it",
                            entry.id, entries[before].line
                        ),
                    ));
                }
                by_id.insert(entry.id.clone(), entries.len());
                entries.push(entry);
            }
            Err(reason) => warnings.push((number, reason)),
        }
    }

    let branch = current_branch(&entries, &by_id, &mut warnings);
    let session = session_id(&header.id);
    let mut converter = convert::Converter::new(&header.id, session.clone(), header.timestamp);
    for &index in &branch {
        converter.entry(&entries[index], &mut warnings);
    }
    let (messages, model) = converter.finish();
    warnings.sort_by_key(|(line, _)| *line);
    let warnings = warnings
        .into_iter()
        .map(|(line, what)| format!("line {line}: {what}"))
        .collect();

    let (title, named_at) = match last_name(&entries) {
        Some((name, at)) if !name.is_empty() => (Some(name), at),
        // No name, or the name was cleared: pi then lists the session by its first prompt.
        _ => (first_prompt_title(&messages), None),
    };
    let created_at = header
        .timestamp
        .or_else(|| branch.iter().find_map(|&i| entries[i].at))
        .or_else(|| messages.first().map(|m| m.created_at))
        .unwrap_or(0);
    let updated_at = branch
        .iter()
        .filter_map(|&i| entries[i].at)
        .chain(messages.iter().map(|m| m.created_at))
        .fold(created_at, Millis::max);
    let own_ids = entries
        .iter()
        .map(|e| ids::message_id(HARNESS, &header.id, &e.id))
        .collect();

    Ok(ParsedSession {
        record: SessionRecord {
            id: session,
            harness: HARNESS.to_owned(),
            harness_ref: Some(harness_ref),
            cwd: header.cwd,
            title,
            model,
            created_at,
            updated_at,
            state: State::Stopped,
            reason: Some(IMPORTED_REASON.to_owned()),
            parent: header.parent_session.as_deref().and_then(parent_of),
            sandbox_profile: None,
            last_seq: 0,
        },
        messages,
        warnings,
        pi_session: header.id,
        own_ids,
        named_at,
    })
}

/// The session header (the file's first line).
struct Header {
    id: String,
    cwd: String,
    timestamp: Option<Millis>,
    parent_session: Option<String>,
}

impl Header {
    fn parse(line: &[u8]) -> Result<Header, ParseError> {
        let no_header = ParseError::NoHeader;
        let value: Value = serde_json::from_slice(line)
            .map_err(|e| no_header(format!("the first line is not JSON ({e})")))?;
        let Value::Object(header) = value else {
            return Err(no_header("the first line is not a JSON object".into()));
        };
        match header.get("type").and_then(Value::as_str) {
            Some("session") => {}
            Some(other) => {
                return Err(no_header(format!(
                    "the first line is a `{other}` entry, not the `session` header"
                )));
            }
            None => return Err(no_header("the first line has no `type`".into())),
        }
        let version = match header.get("version") {
            None => 1,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| no_header(format!("the header's version {v} is not a number")))?,
        };
        if !(2..=3).contains(&version) {
            return Err(ParseError::Version(version));
        }
        let id = text_field(&header, "id")
            .ok_or_else(|| no_header("the header has no session `id`".into()))?;
        let cwd = text_field(&header, "cwd")
            .ok_or_else(|| no_header("the header has no `cwd`".into()))?;
        if !Path::new(&cwd).is_absolute() {
            return Err(no_header(format!(
                "the header's cwd `{cwd}` is not an absolute path"
            )));
        }
        Ok(Header {
            id,
            cwd,
            timestamp: text_field(&header, "timestamp").and_then(|t| parse_rfc3339(&t)),
            parent_session: text_field(&header, "parentSession"),
        })
    }
}

/// A non-empty string field.
fn text_field(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// One entry of the tree (a line after the header).
pub(super) struct Entry {
    /// 1-based line number in the file.
    line: usize,
    kind: String,
    id: String,
    parent: Option<String>,
    /// The entry's `timestamp`.
    at: Option<Millis>,
    /// The whole entry, for the fields of its kind.
    body: Map<String, Value>,
}

impl Entry {
    fn parse(line: usize, bytes: &[u8]) -> Result<Entry, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
        let Value::Object(body) = value else {
            return Err("not a JSON object".into());
        };
        let kind = text_field(&body, "type").ok_or("an entry without a `type`")?;
        if kind == "session" {
            return Err("a second session header".into());
        }
        let id =
            text_field(&body, "id").ok_or_else(|| format!("a `{kind}` entry without an `id`"))?;
        let parent = match body.get("parentId") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(other) => {
                return Err(format!(
                    "entry `{id}` has a parentId {other} that is not a string"
                ));
            }
        };
        Ok(Entry {
            line,
            at: text_field(&body, "timestamp").and_then(|t| parse_rfc3339(&t)),
            kind,
            id,
            parent,
            body,
        })
    }
}

/// The entries from the root to the file's last entry (the tree's current leaf), as
/// indices into `entries`. A missing parent ends the walk (with a warning), as does a
/// cycle.
fn current_branch(
    entries: &[Entry],
    by_id: &HashMap<String, usize>,
    warnings: &mut Vec<(usize, String)>,
) -> Vec<usize> {
    let mut branch = Vec::new();
    let mut seen = HashSet::new();
    let mut next = entries.len().checked_sub(1);
    while let Some(index) = next {
        if !seen.insert(index) {
            warnings.push((
                entries[index].line,
                "the entries' parents form a cycle; the branch starts after it".to_owned(),
            ));
            break;
        }
        branch.push(index);
        let entry = &entries[index];
        next = match &entry.parent {
            None => None,
            Some(parent) => {
                let found = by_id.get(parent).copied();
                if found.is_none() {
                    warnings.push((
                        entry.line,
                        format!(
                            "entry `{}` names a parent `{parent}` that is not in the file; \
                             the branch starts at it",
                            entry.id
                        ),
                    ));
                }
                found
            }
        };
    }
    branch.reverse();
    branch
}

/// The name of the last `session_info` entry of the file (on any branch, as pi takes it),
/// trimmed, with the entry's time.
fn last_name(entries: &[Entry]) -> Option<(String, Option<Millis>)> {
    entries
        .iter()
        .rev()
        .find(|e| e.kind == "session_info")
        .map(|e| {
            let name = e
                .body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (name.trim().to_owned(), e.at)
        })
}

/// The first line of the first user message that has text, at most
/// [`MAX_TITLE_CHARS`] characters (longer lines end in `…`).
fn first_prompt_title(messages: &[Message]) -> Option<String> {
    let line = messages
        .iter()
        .filter(|m| m.role == Role::User)
        .flat_map(|m| &m.parts)
        .find_map(|p| match p {
            oqto_protocol::Part::Text { text, .. } => {
                text.lines().map(str::trim).find(|l| !l.is_empty())
            }
            _ => None,
        })?;
    if line.chars().count() <= MAX_TITLE_CHARS {
        return Some(line.to_owned());
    }
    let mut title: String = line.chars().take(MAX_TITLE_CHARS - 1).collect();
    title.truncate(title.trim_end().len());
    title.push('…');
    Some(title)
}

/// The session id of the pi session in the file `path` (a header's `parentSession`), when
/// that file can be read and starts with a header.
fn parent_of(path: &str) -> Option<SessionId> {
    let file = File::open(path).ok()?;
    let mut first = Vec::new();
    // A header is small; do not read a whole file that has no line break.
    BufReader::new(file.take(64 * 1024))
        .read_until(b'\n', &mut first)
        .ok()?;
    Header::parse(&first).ok().map(|h| session_id(&h.id))
}

//! Full-text search: what of a message is indexed, and `history.search`.

use std::fmt::Write as _;

use oqto_protocol::{MessageId, Part, SearchFilters, SearchHit, SessionId};
use rusqlite::types::Value;

use crate::codec::{count_to_sql, from_sql_int, parse_wire, to_sql_bound};
use crate::error::{StoreError, sqlite_code};
use crate::query::to_fts5;
use crate::store::Store;

/// Hits returned when the caller gives no limit.
pub const DEFAULT_SEARCH_LIMIT: usize = 20;
/// The most hits one search returns; larger limits are lowered to it.
pub const MAX_SEARCH_LIMIT: usize = 200;
/// Of each part's text, at most this many bytes are indexed (a tool's huge output is still
/// stored whole, but only its start is searchable).
pub const MAX_INDEXED_PART_BYTES: usize = 256 * 1024;

/// Opens a match in a snippet.
pub const SNIPPET_OPEN: &str = "[";
/// Closes a match in a snippet.
pub const SNIPPET_CLOSE: &str = "]";
/// Marks text left out at either end of a snippet.
pub const SNIPPET_ELLIPSIS: &str = "…";
/// Tokens of context in a snippet (FTS5 allows at most 64).
const SNIPPET_TOKENS: u32 = 16;

/// The searchable text of a message: its text and thinking, each tool call's input (as
/// JSON text) and output, file reference paths, compaction summaries and error messages,
/// one per line. Images contribute nothing.
pub(crate) fn body_text(parts: &[Part]) -> String {
    let mut body = String::new();
    let mut add = |text: &str| {
        if text.is_empty() {
            return;
        }
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(truncate(text, MAX_INDEXED_PART_BYTES));
    };
    for part in parts {
        match part {
            Part::Text { text, .. } | Part::Thinking { text, .. } => add(text),
            Part::ToolCall { input, output, .. } => {
                add(&input.to_string());
                if let Some(output) = output {
                    add(output);
                }
            }
            Part::FileRef { path, .. } => add(path),
            Part::Compaction { summary, .. } => add(summary),
            Part::Error { message, .. } => add(message),
            Part::Image { .. } => {}
        }
    }
    body
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Store {
    /// Full-text search over every stored message, best match first.
    ///
    /// `query` uses the syntax in `docs/history.md` (words, `"phrases"`, `prefix*`, `AND`,
    /// `OR`, `NOT`, parentheses); a query that does not parse, or is blank, is
    /// `Err(BadQuery)` (code `bad_request`). `limit` defaults to [`DEFAULT_SEARCH_LIMIT`]
    /// and is capped at [`MAX_SEARCH_LIMIT`].
    ///
    /// `score` is the negated FTS5 `bm25()` of the message, so higher is better; scores
    /// compare hits of one search, not across searches. The snippet wraps matches in
    /// [`SNIPPET_OPEN`] [`SNIPPET_CLOSE`] and marks cut text with [`SNIPPET_ELLIPSIS`].
    pub fn search(
        &self,
        query: &str,
        filters: &SearchFilters,
        limit: Option<usize>,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let bad_query = |reason: String| StoreError::BadQuery {
            query: query.to_owned(),
            reason,
        };
        let fts = to_fts5(query).map_err(bad_query)?;
        let limit = limit.unwrap_or(DEFAULT_SEARCH_LIMIT).min(MAX_SEARCH_LIMIT);

        let mut sql = format!(
            "SELECT m.session, m.id, m.seq, m.role, m.created_at, s.harness, s.cwd, s.title, \
                    snippet(message_fts, 0, '{SNIPPET_OPEN}', '{SNIPPET_CLOSE}', \
                            '{SNIPPET_ELLIPSIS}', {SNIPPET_TOKENS}), \
                    bm25(message_fts) \
             FROM message_fts \
             JOIN messages AS m ON m.pk = message_fts.rowid \
             JOIN sessions AS s ON s.id = m.session \
             WHERE message_fts MATCH ?1"
        );
        let mut args = Args(vec![Value::Text(fts)]);
        if let Some(harness) = &filters.harness {
            let p = args.push(Value::Text(harness.clone()));
            let _ = write!(sql, " AND s.harness = {p}");
        }
        if let Some(cwd) = &filters.cwd {
            if cwd.is_empty() {
                return Err(StoreError::BadFilter(
                    "`cwd` is empty; give a directory".to_owned(),
                ));
            }
            let dir = cwd.trim_end_matches('/');
            // The directory itself or anything below it, as a byte-exact prefix test (not
            // LIKE, which ignores ASCII case and treats `%` and `_` as wildcards). For `/`,
            // `dir` is empty and every absolute cwd matches.
            let exact = args.push(Value::Text(dir.to_owned()));
            let below = args.push(Value::Text(format!("{dir}/")));
            let _ = write!(
                sql,
                " AND (s.cwd = {exact} OR substr(s.cwd, 1, length({below})) = {below})"
            );
        }
        if let Some(session) = &filters.session {
            let p = args.push(Value::Text(session.0.clone()));
            let _ = write!(sql, " AND m.session = {p}");
        }
        if let Some(since) = filters.since {
            let p = args.push(Value::Integer(to_sql_bound(since)));
            let _ = write!(sql, " AND m.created_at >= {p}");
        }
        if let Some(until) = filters.until {
            let p = args.push(Value::Integer(to_sql_bound(until)));
            let _ = write!(sql, " AND m.created_at < {p}");
        }
        if let Some(role) = filters.role {
            let p = args.push(Value::Text(role.as_str().to_owned()));
            let _ = write!(sql, " AND m.role = {p}");
        }
        let p = args.push(Value::Integer(count_to_sql(limit)));
        let _ = write!(
            sql,
            " ORDER BY bm25(message_fts), m.created_at DESC, m.pk DESC LIMIT {p}"
        );

        // FTS5 reports a MATCH expression it cannot use as a plain SQLITE_ERROR while the
        // statement runs; `to_fts5` should make that impossible, but if it happens it is
        // still the query's fault, not the store's.
        let run_err = |source: rusqlite::Error| match sqlite_code(&source) {
            Some(rusqlite::ErrorCode::Unknown)
                if matches!(source, rusqlite::Error::SqliteFailure(..)) =>
            {
                bad_query(source.to_string())
            }
            _ => StoreError::Sqlite {
                op: "searching",
                source,
            },
        };
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(|source| StoreError::Sqlite {
                op: "preparing a search",
                source,
            })?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.0), |row| {
                Ok(RawHit {
                    session: row.get(0)?,
                    message_id: row.get(1)?,
                    seq: row.get(2)?,
                    role: row.get(3)?,
                    created_at: row.get(4)?,
                    harness: row.get(5)?,
                    cwd: row.get(6)?,
                    title: row.get(7)?,
                    snippet: row.get(8)?,
                    bm25: row.get(9)?,
                })
            })
            .map_err(run_err)?;
        let mut hits = Vec::new();
        for raw in rows {
            hits.push(raw.map_err(run_err)?.decode()?);
        }
        Ok(hits)
    }
}

/// The values bound to a search statement's numbered parameters.
struct Args(Vec<Value>);

impl Args {
    /// Adds a value; returns its placeholder (`?2`, `?3`, ...).
    fn push(&mut self, value: Value) -> String {
        self.0.push(value);
        format!("?{}", self.0.len())
    }
}

/// A search result row as `SQLite` returns it.
struct RawHit {
    session: String,
    message_id: String,
    seq: Option<i64>,
    role: String,
    created_at: i64,
    harness: String,
    cwd: String,
    title: Option<String>,
    snippet: Option<String>,
    bm25: f64,
}

impl RawHit {
    fn decode(self) -> Result<SearchHit, StoreError> {
        Ok(SearchHit {
            session: SessionId(self.session),
            message_id: MessageId(self.message_id),
            seq: self.seq.map(|s| from_sql_int(s, "seq")).transpose()?,
            role: parse_wire(&self.role, "role")?,
            snippet: self.snippet.unwrap_or_default(),
            // bm25() is lower for better matches; the protocol wants higher = better.
            score: -self.bm25,
            created_at: from_sql_int(self.created_at, "message created_at")?,
            harness: self.harness,
            cwd: self.cwd,
            title: self.title,
        })
    }
}

#[cfg(test)]
mod tests {
    use oqto_protocol::{PartId, ToolStatus};

    use super::*;

    #[test]
    fn body_holds_every_searchable_part_and_no_image() {
        let id = PartId::new;
        let parts = vec![
            Part::Text {
                id: id("p1"),
                text: "hello".into(),
            },
            Part::Thinking {
                id: id("p2"),
                text: "pondering".into(),
            },
            Part::ToolCall {
                id: id("p3"),
                call_id: "c".into(),
                name: "bash".into(),
                input: serde_json::json!({"command": "ls"}),
                status: ToolStatus::Done,
                output: Some("README.md".into()),
                is_error: false,
            },
            Part::Image {
                id: id("p4"),
                mime_type: "image/png".into(),
                data: Some("iVBORw0KGgo".into()),
                url: None,
            },
            Part::FileRef {
                id: id("p5"),
                path: "src/lib.rs".into(),
                mime_type: None,
            },
            Part::Compaction {
                id: id("p6"),
                summary: "summary".into(),
                tokens_before: None,
            },
            Part::Error {
                id: id("p7"),
                message: "boom".into(),
            },
        ];
        assert_eq!(
            body_text(&parts),
            "hello\npondering\n{\"command\":\"ls\"}\nREADME.md\nsrc/lib.rs\nsummary\nboom"
        );
    }

    #[test]
    fn huge_parts_are_indexed_up_to_the_cap_at_a_char_boundary() {
        let text = "é".repeat(MAX_INDEXED_PART_BYTES); // two bytes each
        let parts = vec![Part::Text {
            id: PartId::new("p"),
            text,
        }];
        let body = body_text(&parts);
        assert_eq!(body.len(), MAX_INDEXED_PART_BYTES);
        assert!(body.chars().all(|c| c == 'é'));
        assert_eq!(truncate("aé", 2), "a");
    }
}

//! Full-text search: `history.search` (what of a message is indexed is in `indexed.rs`).

use std::collections::HashMap;
use std::fmt::Write as _;

use oqto_protocol::{MessageId, SearchFilters, SearchHit, SessionId};
use rusqlite::types::Value;

use crate::codec::{count_to_sql, from_sql_int, parse_wire, to_sql_bound};
use crate::error::{Context as _, StoreError, sqlite_code};
use crate::indexed::body_text;
use crate::messages::load_parts;
use crate::query::to_fts5;
use crate::store::Store;

/// Hits returned when the caller gives no limit.
pub const DEFAULT_SEARCH_LIMIT: usize = 20;
/// The most hits one search returns; larger limits are lowered to it.
pub const MAX_SEARCH_LIMIT: usize = 200;
/// Messages ranked per search: the most recently stored ones that match and pass the
/// filters. A query matching fewer is ranked over all its matches.
pub const RANKED_CANDIDATES: usize = 1000;

/// Opens a match in a snippet.
pub const SNIPPET_OPEN: &str = "[";
/// Closes a match in a snippet.
pub const SNIPPET_CLOSE: &str = "]";
/// Marks text left out at either end of a snippet.
pub const SNIPPET_ELLIPSIS: &str = "…";
/// Tokens of context in a snippet (FTS5 allows at most 64).
const SNIPPET_TOKENS: u32 = 16;

impl Store {
    /// Full-text search over every stored message, best match first.
    ///
    /// `query` uses the syntax in `docs/history.md` (words, `"phrases"`, `prefix*`, `AND`,
    /// `OR`, `NOT`, parentheses); a query that does not parse, or is blank, is
    /// `Err(BadQuery)` (code `bad_request`). `limit` defaults to [`DEFAULT_SEARCH_LIMIT`]
    /// and is capped at [`MAX_SEARCH_LIMIT`].
    ///
    /// Ranking is over the [`RANKED_CANDIDATES`] most recently stored messages that match
    /// the query and pass the filters: every match when there are fewer, so for a selective
    /// query this is the best of all matches.
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
        let Some((sql, args)) = candidate_sql(&self.conn, fts.clone(), filters)? else {
            return Ok(Vec::new());
        };

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
                Ok((row.get::<_, i64>(0)?, row.get::<_, f64>(1)?))
            })
            .map_err(run_err)?;
        let mut candidates = Vec::with_capacity(RANKED_CANDIDATES);
        for row in rows {
            candidates.push(row.map_err(run_err)?);
        }
        // bm25() is lower for better matches; ties: the most recently stored first.
        candidates.sort_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        candidates.truncate(limit);

        let mut hits = Vec::with_capacity(candidates.len());
        let mut texts = Vec::with_capacity(candidates.len());
        for &(pk, bm25) in &candidates {
            let raw = self
                .conn
                .prepare_cached(
                    "SELECT m.session, m.id, m.seq, m.role, m.created_at, s.harness, s.cwd, \
                            s.title \
                     FROM messages AS m JOIN sessions AS s ON s.id = m.session \
                     WHERE m.pk = ?1",
                )
                .and_then(|mut stmt| {
                    stmt.query_row([pk], |row| {
                        Ok(RawHit {
                            session: row.get(0)?,
                            message_id: row.get(1)?,
                            seq: row.get(2)?,
                            role: row.get(3)?,
                            created_at: row.get(4)?,
                            harness: row.get(5)?,
                            cwd: row.get(6)?,
                            title: row.get(7)?,
                            bm25,
                        })
                    })
                })
                .ctx("reading a search hit")?;
            hits.push(raw.decode()?);
            texts.push((pk, body_text(&load_parts(&self.conn, pk)?)));
        }
        let mut snippets = snippets(&self.scratch, &fts, &texts).ctx("cutting snippets")?;
        for (hit, (pk, _)) in hits.iter_mut().zip(&texts) {
            hit.snippet = snippets.remove(pk).unwrap_or_default();
        }
        Ok(hits)
    }
}

/// The statement that lists the ranked candidates of a search, `(rowid, bm25)`, and its
/// arguments (`?1` is the FTS5 expression); `None` when no message can pass the filters.
///
/// FTS5 walks a match list in rowid order, so `ORDER BY rowid DESC LIMIT K` stops after
/// the K most recent matches that pass the filters, and `bm25()` is only computed for
/// those. The filters are checked on each match, newest first, by primary-key lookups; a
/// session filter also bounds the walk to the session's range of row keys.
fn candidate_sql(
    conn: &rusqlite::Connection,
    fts: String,
    filters: &SearchFilters,
) -> Result<Option<(String, Args)>, StoreError> {
    let mut sql = "SELECT message_fts.rowid, bm25(message_fts) FROM message_fts".to_owned();
    let mut args = Args(vec![Value::Text(fts)]);
    let mut conditions = String::new();
    let mut join = false;
    if filters.harness.is_some() || filters.cwd.is_some() {
        join = true;
        let mut session_sql = "SELECT id FROM sessions WHERE 1".to_owned();
        if let Some(harness) = &filters.harness {
            let p = args.push(Value::Text(harness.clone()));
            let _ = write!(session_sql, " AND harness = {p}");
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
                session_sql,
                " AND (cwd = {exact} OR substr(cwd, 1, length({below})) = {below})"
            );
        }
        let _ = write!(conditions, " AND m.session IN ({session_sql})");
    }
    if let Some(session) = &filters.session {
        // Row keys only grow, and a session's ordinals with them: its messages lie between
        // the row keys of its first and its last message.
        let range: Option<(i64, i64)> = conn
            .prepare_cached(
                "SELECT (SELECT pk FROM messages WHERE session = ?1 ORDER BY ordinal LIMIT 1), \
                        (SELECT pk FROM messages WHERE session = ?1 \
                         ORDER BY ordinal DESC LIMIT 1)",
            )
            .and_then(|mut stmt| {
                stmt.query_row([session.as_str()], |row| {
                    Ok(row.get::<_, Option<i64>>(0)?.zip(row.get(1)?))
                })
            })
            .ctx("looking up a session")?;
        let Some((first, last)) = range else {
            return Ok(None);
        };
        join = true;
        let p = args.push(Value::Text(session.0.clone()));
        let lo = args.push(Value::Integer(first));
        let hi = args.push(Value::Integer(last));
        let _ = write!(
            conditions,
            " AND m.session = {p} AND message_fts.rowid BETWEEN {lo} AND {hi}"
        );
    }
    if let Some(since) = filters.since {
        join = true;
        let p = args.push(Value::Integer(to_sql_bound(since)));
        let _ = write!(conditions, " AND m.created_at >= {p}");
    }
    if let Some(until) = filters.until {
        join = true;
        let p = args.push(Value::Integer(to_sql_bound(until)));
        let _ = write!(conditions, " AND m.created_at < {p}");
    }
    if let Some(role) = filters.role {
        join = true;
        let p = args.push(Value::Text(role.as_str().to_owned()));
        let _ = write!(conditions, " AND m.role = {p}");
    }
    if join {
        sql.push_str(" JOIN messages AS m ON m.pk = message_fts.rowid");
    }
    let k = args.push(Value::Integer(count_to_sql(RANKED_CANDIDATES)));
    let _ = write!(
        sql,
        " WHERE message_fts MATCH ?1{conditions} ORDER BY message_fts.rowid DESC LIMIT {k}"
    );
    Ok(Some((sql, args)))
}

/// The snippet of each text that matches `fts`, by row key: the texts are indexed in the
/// scratch table and FTS5's `snippet()` cuts them, as it would from the index itself.
fn snippets(
    scratch: &rusqlite::Connection,
    fts: &str,
    texts: &[(i64, String)],
) -> rusqlite::Result<HashMap<i64, String>> {
    let mut out = HashMap::with_capacity(texts.len());
    if texts.is_empty() {
        return Ok(out);
    }
    let tx = scratch.unchecked_transaction()?;
    {
        let mut insert = tx.prepare_cached("INSERT INTO hit_text (rowid, body) VALUES (?1, ?2)")?;
        for (pk, text) in texts {
            insert.execute(rusqlite::params![pk, text])?;
        }
        let mut select = tx.prepare_cached(&format!(
            "SELECT rowid, snippet(hit_text, 0, '{SNIPPET_OPEN}', '{SNIPPET_CLOSE}', \
                                   '{SNIPPET_ELLIPSIS}', {SNIPPET_TOKENS}) \
             FROM hit_text WHERE hit_text MATCH ?1"
        ))?;
        let rows = select.query_map([fts], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Option<String>>(1)?))
        })?;
        for row in rows {
            let (pk, snippet) = row?;
            out.insert(pk, snippet.unwrap_or_default());
        }
    }
    // Rolled back: the scratch table is empty again for the next search.
    tx.rollback()?;
    Ok(out)
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

/// A search hit's message and session fields as `SQLite` returns them.
struct RawHit {
    session: String,
    message_id: String,
    seq: Option<i64>,
    role: String,
    created_at: i64,
    harness: String,
    cwd: String,
    title: Option<String>,
    bm25: f64,
}

impl RawHit {
    fn decode(self) -> Result<SearchHit, StoreError> {
        Ok(SearchHit {
            session: SessionId(self.session),
            message_id: MessageId(self.message_id),
            seq: self.seq.map(|s| from_sql_int(s, "seq")).transpose()?,
            role: parse_wire(&self.role, "role")?,
            snippet: String::new(),
            // bm25() is lower for better matches; the protocol wants higher = better.
            score: -self.bm25,
            created_at: from_sql_int(self.created_at, "message created_at")?,
            harness: self.harness,
            cwd: self.cwd,
            title: self.title,
        })
    }
}

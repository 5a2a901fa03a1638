//! The write path: upserting messages inside one transaction, with the full-text index
//! updated at the end.
//!
//! Why the index is written last: FTS5 keeps new entries in memory until the transaction
//! commits, but flushes them to a new on-disk segment whenever a later statement of the
//! same transaction opens a statement savepoint, which every `INSERT` into `messages` and
//! `parts` does. Indexing each message as it is written would flush (and later merge) one
//! tiny segment per message; writing all rows first and then all index entries, with
//! nothing in between, flushes once per transaction. This is a several-fold difference in
//! ingest throughput.

use std::collections::HashMap;

use oqto_protocol::{ClientMsgId, Message, Part, Seq, SessionId};
use rusqlite::{Connection, OptionalExtension as _, params};

use crate::codec::{
    count_to_sql, model_columns, part_to_json, stop_reason_name, to_sql_int, to_sql_opt,
    usage_to_json,
};
use crate::error::{Context as _, StoreError};
use crate::indexed::body_text;

/// Writes messages in the caller's transaction; [`Writer::finish`] must run before commit.
pub(crate) struct Writer<'c> {
    conn: &'c Connection,
    /// Sessions written to so far, by id.
    sessions: HashMap<String, SessionCursor>,
    index: PendingIndex,
}

/// What the writer tracks of a session during one transaction.
struct SessionCursor {
    /// The ordinal the next new message of the session gets.
    next_ordinal: i64,
    /// The latest `created_at` written, for the session's `updated_at`.
    latest: i64,
}

/// Index changes to apply in [`Writer::finish`].
#[derive(Default)]
struct PendingIndex {
    /// Entries to remove, by row key.
    deletes: Vec<i64>,
    /// Rows to index, in first-write order, each with its latest body.
    inserts: Vec<(i64, String)>,
    /// Row key to its position in `inserts`.
    pending: HashMap<i64, usize>,
}

impl PendingIndex {
    /// Row `pk` has `body` and is not in the index yet (or its entry is already deleted).
    fn index(&mut self, pk: i64, body: String) {
        if let Some(&i) = self.pending.get(&pk) {
            self.inserts[i].1 = body;
        } else {
            self.pending.insert(pk, self.inserts.len());
            self.inserts.push((pk, body));
        }
    }

    /// Row `pk`, indexed unless it was written earlier in this transaction, now has `body`.
    fn reindex(&mut self, pk: i64, body: String) {
        if !self.pending.contains_key(&pk) {
            self.deletes.push(pk);
        }
        self.index(pk, body);
    }
}

impl<'c> Writer<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Writer {
            conn,
            sessions: HashMap::new(),
            index: PendingIndex::default(),
        }
    }

    /// Upserts one message (see [`Store::put_message`](crate::Store::put_message)).
    pub(crate) fn write(&mut self, m: &Message, seq: Option<Seq>) -> Result<(), StoreError> {
        let row = MessageRow::new(m, seq)?;
        let conn = self.conn;
        let cursor = self.cursor(&m.session)?;
        cursor.latest = cursor.latest.max(row.created_at);
        let ordinal = cursor.next_ordinal;

        if row.insert(conn, ordinal).ctx("writing a message")? {
            cursor.next_ordinal += 1;
            let pk = conn.last_insert_rowid();
            row.insert_parts(conn, pk)
                .ctx("writing a message's parts")?;
            self.index.index(pk, row.body);
        } else {
            let (pk, stored): (i64, String) = conn
                .prepare_cached("SELECT pk, session FROM messages WHERE id = ?1")
                .and_then(|mut stmt| {
                    stmt.query_row([m.id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                })
                .ctx("replacing a message")?;
            if stored != m.session.as_str() {
                return Err(StoreError::MessageInOtherSession {
                    message: m.id.clone(),
                    stored: SessionId(stored),
                    given: m.session.clone(),
                });
            }
            row.replace(conn, pk).ctx("replacing a message")?;
            row.insert_parts(conn, pk)
                .ctx("writing a message's parts")?;
            self.index.reindex(pk, row.body);
        }
        Ok(())
    }

    /// Moves each written session's `updated_at` forward and applies the index changes.
    /// Must be the last thing the transaction does before commit.
    pub(crate) fn finish(self) -> Result<(), StoreError> {
        let mut touch = self
            .conn
            .prepare_cached("UPDATE sessions SET updated_at = max(updated_at, ?2) WHERE id = ?1")
            .ctx("updating session activity")?;
        for (id, cursor) in &self.sessions {
            touch
                .execute(params![id, cursor.latest])
                .ctx("updating session activity")?;
        }

        let mut delete = self
            .conn
            .prepare_cached("DELETE FROM message_fts WHERE rowid = ?1")
            .ctx("updating the search index")?;
        for pk in &self.index.deletes {
            delete.execute([pk]).ctx("updating the search index")?;
        }
        let mut insert = self
            .conn
            .prepare_cached("INSERT INTO message_fts (rowid, body) VALUES (?1, ?2)")
            .ctx("updating the search index")?;
        for (pk, body) in &self.index.inserts {
            insert
                .execute(params![pk, body])
                .ctx("updating the search index")?;
        }
        Ok(())
    }

    /// The cursor of `session`, read on first use; `SessionNotFound` if it is not stored.
    fn cursor(&mut self, session: &SessionId) -> Result<&mut SessionCursor, StoreError> {
        if !self.sessions.contains_key(session.as_str()) {
            let highest: Option<Option<i64>> = self
                .conn
                .prepare_cached(
                    "SELECT (SELECT max(ordinal) FROM messages WHERE session = ?1) \
                     FROM sessions WHERE id = ?1",
                )
                .and_then(|mut stmt| stmt.query_row([session.as_str()], |r| r.get(0)).optional())
                .ctx("looking up a session")?;
            let Some(highest) = highest else {
                return Err(StoreError::SessionNotFound(session.clone()));
            };
            self.sessions.insert(
                session.as_str().to_owned(),
                SessionCursor {
                    next_ordinal: highest.unwrap_or(0) + 1,
                    latest: 0,
                },
            );
        }
        self.sessions
            .get_mut(session.as_str())
            .ok_or_else(|| StoreError::SessionNotFound(session.clone()))
    }
}

/// A message's column values, computed before any statement runs.
struct MessageRow<'a> {
    m: &'a Message,
    created_at: i64,
    seq: Option<i64>,
    usage: Option<String>,
    provider: Option<&'a str>,
    model: Option<&'a str>,
    stop_reason: Option<&'static str>,
    body: String,
    /// Each part with its JSON.
    parts: Vec<(&'a Part, String)>,
}

impl<'a> MessageRow<'a> {
    fn new(m: &'a Message, seq: Option<Seq>) -> Result<Self, StoreError> {
        let (provider, model) = model_columns(m.model.as_ref());
        Ok(MessageRow {
            m,
            created_at: to_sql_int(m.created_at, "message created_at")?,
            seq: to_sql_opt(seq, "seq")?,
            usage: usage_to_json(m.usage.as_ref())?,
            provider,
            model,
            stop_reason: m.stop_reason.map(stop_reason_name),
            body: body_text(&m.parts),
            parts: m
                .parts
                .iter()
                .map(|p| Ok((p, part_to_json(p)?)))
                .collect::<Result<_, StoreError>>()?,
        })
    }

    /// Inserts the row at `ordinal` unless its id is taken; returns whether it did.
    fn insert(&self, conn: &Connection, ordinal: i64) -> rusqlite::Result<bool> {
        let inserted = conn
            .prepare_cached(
                "INSERT INTO messages (id, session, ordinal, role, created_at, model_provider, \
                 model_id, usage, stop_reason, seq, client_msg_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                self.m.id.as_str(),
                self.m.session.as_str(),
                ordinal,
                self.m.role.as_str(),
                self.created_at,
                self.provider,
                self.model,
                self.usage,
                self.stop_reason,
                self.seq,
                self.client_msg_id(),
            ])?;
        Ok(inserted == 1)
    }

    /// Overwrites the stored row `pk` (keeping its ordinal, and its seq when ours is
    /// `None`) and deletes its parts.
    fn replace(&self, conn: &Connection, pk: i64) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "UPDATE messages SET role = ?2, created_at = ?3, model_provider = ?4, \
             model_id = ?5, usage = ?6, stop_reason = ?7, seq = coalesce(?8, seq), \
             client_msg_id = ?9 WHERE pk = ?1",
        )?
        .execute(params![
            pk,
            self.m.role.as_str(),
            self.created_at,
            self.provider,
            self.model,
            self.usage,
            self.stop_reason,
            self.seq,
            self.client_msg_id(),
        ])?;
        conn.prepare_cached("DELETE FROM parts WHERE message = ?1")?
            .execute([pk])?;
        Ok(())
    }

    fn client_msg_id(&self) -> Option<&str> {
        self.m.client_msg_id.as_ref().map(ClientMsgId::as_str)
    }

    /// Inserts the parts of row `pk`.
    fn insert_parts(&self, conn: &Connection, pk: i64) -> rusqlite::Result<()> {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO parts (message, position, id, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (position, (part, data)) in self.parts.iter().enumerate() {
            stmt.execute(params![
                pk,
                count_to_sql(position),
                part.id().as_str(),
                part.kind().as_str(),
                data,
            ])?;
        }
        Ok(())
    }
}

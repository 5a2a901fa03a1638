//! Message rows and their parts: upsert, paging, fork copies.

use oqto_protocol::{ClientMsgId, Message, MessageId, Part, PartId, Role, Seq, SessionId};
use rusqlite::{Connection, OptionalExtension as _, Row, TransactionBehavior, params};

use crate::codec::{
    count_to_sql, from_sql_int, model_from_columns, parse_wire, part_from_json, usage_from_json,
};
use crate::error::{Context as _, StoreError};
use crate::sessions::require_session;
use crate::store::Store;
use crate::writer::Writer;

/// The most messages one [`Store::messages`] call returns; larger limits are lowered to it.
pub const MAX_PAGE: usize = 1000;

/// A page of a session's messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Whether the session has messages older than the first one here.
    pub has_more: bool,
}

/// The columns of a message row, in the order [`RawMessage::read`] expects.
const MESSAGE_COLUMNS: &str = "pk, id, session, role, created_at, model_provider, model_id, \
                               usage, stop_reason, client_msg_id";
/// The same for a file older than schema version 4, which has no `client_msg_id`.
const MESSAGE_COLUMNS_V3: &str = "pk, id, session, role, created_at, model_provider, \
                                  model_id, usage, stop_reason, NULL";

/// The newest `?3` messages of session `?1` below ordinal `?2`, newest first: a range
/// scan of the `(session, ordinal)` index, whatever the session's length.
const PAGE_SQL: &str = "SELECT pk, id, session, role, created_at, model_provider, model_id, \
                        usage, stop_reason, client_msg_id FROM messages \
                        WHERE session = ?1 AND ordinal < ?2 ORDER BY ordinal DESC LIMIT ?3";
/// [`PAGE_SQL`] for a file older than schema version 4.
const PAGE_SQL_V3: &str = "SELECT pk, id, session, role, created_at, model_provider, \
                           model_id, usage, stop_reason, NULL FROM messages \
                           WHERE session = ?1 AND ordinal < ?2 ORDER BY ordinal DESC LIMIT ?3";

/// A message row as `SQLite` returns it, before it is checked and given its parts.
struct RawMessage {
    pk: i64,
    id: String,
    session: String,
    role: String,
    created_at: i64,
    model_provider: Option<String>,
    model_id: Option<String>,
    usage: Option<String>,
    stop_reason: Option<String>,
    client_msg_id: Option<String>,
}

impl RawMessage {
    fn read(row: &Row<'_>) -> rusqlite::Result<RawMessage> {
        Ok(RawMessage {
            pk: row.get(0)?,
            id: row.get(1)?,
            session: row.get(2)?,
            role: row.get(3)?,
            created_at: row.get(4)?,
            model_provider: row.get(5)?,
            model_id: row.get(6)?,
            usage: row.get(7)?,
            stop_reason: row.get(8)?,
            client_msg_id: row.get(9)?,
        })
    }

    /// The message, with its parts read from `conn`.
    fn decode(self, conn: &Connection) -> Result<Message, StoreError> {
        let parts = load_parts(conn, self.pk)?;
        Ok(Message {
            id: MessageId(self.id),
            session: SessionId(self.session),
            role: parse_wire(&self.role, "role")?,
            parts,
            created_at: from_sql_int(self.created_at, "message created_at")?,
            model: model_from_columns(self.model_provider, self.model_id)?,
            usage: usage_from_json(self.usage)?,
            stop_reason: self
                .stop_reason
                .map(|s| parse_wire(&s, "stop_reason"))
                .transpose()?,
            client_msg_id: self.client_msg_id.map(ClientMsgId),
        })
    }
}

impl Store {
    /// Stores a message, or replaces the stored message with the same id (its fields, its
    /// parts and its search index entry; its place in the session's order stays). `seq` is
    /// the seq of the message's `message.end` event; `None` keeps the stored seq, if any.
    /// Moves the session's `updated_at` to `m.created_at` if that is later.
    ///
    /// `Err(SessionNotFound)` if `m.session` is not stored;
    /// `Err(MessageInOtherSession)` if the id is stored under another session.
    pub fn put_message(&mut self, m: &Message, seq: Option<Seq>) -> Result<(), StoreError> {
        self.writable()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("starting to write a message")?;
        let mut writer = Writer::new(&tx);
        writer.write(m, seq)?;
        writer.finish()?;
        tx.commit().ctx("committing a message")
    }

    /// [`Store::put_message`] for each message, in order, in one transaction: all are
    /// stored or, on the first error, none.
    pub fn put_messages(&mut self, batch: &[(Message, Option<Seq>)]) -> Result<(), StoreError> {
        self.writable()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("starting to write messages")?;
        let mut writer = Writer::new(&tx);
        for (m, seq) in batch {
            writer.write(m, *seq)?;
        }
        writer.finish()?;
        tx.commit().ctx("committing messages")
    }

    /// The `limit` newest messages of `session` that are older than `before` (or the
    /// newest messages overall), oldest first; `has_more` says whether older ones exist.
    /// `limit` is capped at [`MAX_PAGE`].
    ///
    /// Uses the `(session, ordinal)` index: the cost depends on `limit`, not on the length
    /// of the session. `Err(SessionNotFound)`, or `Err(MessageNotFound)` when `before` is
    /// not a message of `session`.
    pub fn messages(
        &self,
        session: &SessionId,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        require_session(&self.conn, session)?;
        let below = match before {
            Some(id) => ordinal_of(&self.conn, session, id)?,
            None => i64::MAX,
        };
        let limit = limit.min(MAX_PAGE);
        let sql = if self.client_msg_ids {
            PAGE_SQL
        } else {
            PAGE_SQL_V3
        };
        let mut stmt = self.conn.prepare_cached(sql).ctx("reading messages")?;
        // One more than asked for tells whether there are older messages.
        let rows = stmt
            .query_map(
                params![session.as_str(), below, count_to_sql(limit + 1)],
                RawMessage::read,
            )
            .ctx("reading messages")?;
        let mut newest_first = Vec::with_capacity(limit + 1);
        for raw in rows {
            newest_first.push(raw.ctx("reading messages")?);
        }
        let has_more = newest_first.len() > limit;
        newest_first.truncate(limit);
        let mut messages = Vec::with_capacity(newest_first.len());
        for raw in newest_first.into_iter().rev() {
            messages.push(raw.decode(&self.conn)?);
        }
        Ok(Page { messages, has_more })
    }

    /// Whether `session` holds a message carrying `client_msg_id`: a send with that id was
    /// carried out (its user message was stored). `Err(SessionNotFound)`.
    pub fn has_client_msg_id(
        &self,
        session: &SessionId,
        client_msg_id: &ClientMsgId,
    ) -> Result<bool, StoreError> {
        require_session(&self.conn, session)?;
        if !self.client_msg_ids {
            return Ok(false);
        }
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM messages \
                 WHERE session = ?1 AND client_msg_id = ?2)",
            )
            .and_then(|mut stmt| {
                stmt.query_row([session.as_str(), client_msg_id.as_str()], |row| row.get(0))
            })
            .ctx("looking up a client_msg_id")
    }

    /// The user messages of `session`, oldest first, each with its text: its `text` parts
    /// concatenated without separator (empty if it has none). Used to map a fork point to
    /// the harness's own history.
    pub fn user_messages(
        &self,
        session: &SessionId,
    ) -> Result<Vec<(MessageId, String)>, StoreError> {
        require_session(&self.conn, session)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.id, p.data FROM messages AS m \
                 LEFT JOIN parts AS p ON p.message = m.pk AND p.kind = 'text' \
                 WHERE m.session = ?1 AND m.role = ?2 \
                 ORDER BY m.ordinal, p.position",
            )
            .ctx("reading user messages")?;
        let rows = stmt
            .query_map(params![session.as_str(), Role::User.as_str()], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
            })
            .ctx("reading user messages")?;
        let mut out: Vec<(MessageId, String)> = Vec::new();
        for row in rows {
            let (id, data) = row.ctx("reading user messages")?;
            if out.last().is_none_or(|(last, _)| last.as_str() != id) {
                out.push((MessageId(id), String::new()));
            }
            if let (Some(data), Some((_, text))) = (data, out.last_mut()) {
                match part_from_json(&data)? {
                    Part::Text { text: t, .. } => text.push_str(&t),
                    other => {
                        return Err(StoreError::Corrupt(format!(
                            "part `{}` is stored as text but is {}",
                            other.id(),
                            other.kind().as_str()
                        )));
                    }
                }
            }
        }
        Ok(out)
    }

    /// For `fork`: copies every message of `from` that is older than `before` into `to`,
    /// in order, each with a fresh message id from `new_message_id`, fresh part ids from
    /// `new_part_id`, `session` set to `to`, and no seq (seqs belong to `from`'s event
    /// log). Returns how many messages were copied. One transaction.
    ///
    /// `Err(SessionNotFound)` if either session is missing, `Err(MessageNotFound)` if
    /// `before` is not a message of `from`.
    pub fn copy_messages_before(
        &mut self,
        from: &SessionId,
        to: &SessionId,
        before: &MessageId,
        new_message_id: &mut dyn FnMut() -> MessageId,
        new_part_id: &mut dyn FnMut() -> PartId,
    ) -> Result<usize, StoreError> {
        self.writable()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("starting to copy messages")?;
        require_session(&tx, from)?;
        require_session(&tx, to)?;
        let below = ordinal_of(&tx, from, before)?;
        // The keys first: the copies are inserted while nothing is being read.
        let pks = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT pk FROM messages WHERE session = ?1 AND ordinal < ?2 \
                     ORDER BY ordinal",
                )
                .ctx("reading messages to copy")?;
            let rows = stmt
                .query_map(params![from.as_str(), below], |row| row.get::<_, i64>(0))
                .ctx("reading messages to copy")?;
            rows.collect::<Result<Vec<_>, _>>()
                .ctx("reading messages to copy")?
        };
        let mut writer = Writer::new(&tx);
        for pk in &pks {
            let mut message = load_message(&tx, *pk, true)?;
            message.id = new_message_id();
            // An id names one send in one session; the fork's copy was not sent there.
            message.client_msg_id = None;
            message.session = to.clone();
            for part in &mut message.parts {
                *part.id_mut() = new_part_id();
            }
            writer.write(&message, None)?;
        }
        writer.finish()?;
        tx.commit().ctx("committing copied messages")?;
        Ok(pks.len())
    }
}

/// The ordinal of message `id` in `session`, or `MessageNotFound`.
fn ordinal_of(conn: &Connection, session: &SessionId, id: &MessageId) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT ordinal FROM messages WHERE id = ?1 AND session = ?2")
        .and_then(|mut stmt| {
            stmt.query_row([id.as_str(), session.as_str()], |row| row.get(0))
                .optional()
        })
        .ctx("looking up a message")?
        .ok_or_else(|| StoreError::MessageNotFound {
            session: session.clone(),
            message: id.clone(),
        })
}

/// The message with row key `pk`, with its parts. `client_msg_ids`: the file has that
/// column ([`Store::client_msg_ids`](crate::Store)).
pub(crate) fn load_message(
    conn: &Connection,
    pk: i64,
    client_msg_ids: bool,
) -> Result<Message, StoreError> {
    let columns = if client_msg_ids {
        MESSAGE_COLUMNS
    } else {
        MESSAGE_COLUMNS_V3
    };
    let raw = conn
        .prepare_cached(&format!("SELECT {columns} FROM messages WHERE pk = ?1"))
        .and_then(|mut stmt| stmt.query_row([pk], RawMessage::read))
        .ctx("reading a message")?;
    raw.decode(conn)
}

/// The parts of the message with row key `pk`, in order.
pub(crate) fn load_parts(conn: &Connection, pk: i64) -> Result<Vec<Part>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT data FROM parts WHERE message = ?1 ORDER BY position")
        .ctx("reading parts")?;
    let rows = stmt
        .query_map([pk], |row| row.get::<_, String>(0))
        .ctx("reading parts")?;
    let mut parts = Vec::new();
    for data in rows {
        parts.push(part_from_json(&data.ctx("reading parts")?)?);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use oqto_protocol::{Message, MessageId, Part, PartId, Role, SessionId};
    use rusqlite::StatementStatus;

    use super::PAGE_SQL;
    use crate::Store;
    use crate::test_support::session;

    pub(super) fn batch(session: &str, n: usize) -> Vec<(Message, Option<u64>)> {
        (0..n)
            .map(|i| {
                let message = Message {
                    id: MessageId::new(format!("{session}_msg_{i}")),
                    session: SessionId::new(session),
                    role: Role::User,
                    parts: vec![Part::Text {
                        id: PartId::new(format!("{session}_prt_{i}")),
                        text: format!("message {i}"),
                    }],
                    created_at: 10,
                    model: None,
                    usage: None,
                    stop_reason: None,
                    client_msg_id: None,
                };
                (message, None)
            })
            .collect()
    }

    /// The page query does the same work on a session of 100,000 messages as on one of
    /// 10: `SQLite`'s own step counters, not wall time, so the test is not flaky.
    #[test]
    fn a_page_costs_the_same_whatever_the_session_length() {
        let mut store = Store::open_in_memory().unwrap();
        store.insert_session(&session("small")).unwrap();
        store.insert_session(&session("big")).unwrap();
        store.put_messages(&batch("small", 10)).unwrap();
        store.put_messages(&batch("big", 100_000)).unwrap();

        let mut stmt = store.conn.prepare(PAGE_SQL).unwrap();
        let mut cost = |session: &str, below: i64| {
            let rows = stmt
                .query_map(rusqlite::params![session, below, 6], |row| {
                    row.get::<_, i64>(0)
                })
                .unwrap()
                .count();
            assert_eq!(rows, 6);
            assert_eq!(
                stmt.get_status(StatementStatus::FullscanStep),
                0,
                "a full scan"
            );
            assert_eq!(stmt.get_status(StatementStatus::Sort), 0, "a sort");
            stmt.reset_status(StatementStatus::VmStep)
        };
        let small_newest = cost("small", i64::MAX);
        let big_newest = cost("big", i64::MAX);
        let big_middle = cost("big", 50_000);
        assert_eq!(small_newest, big_newest);
        assert_eq!(small_newest, big_middle);

        // And through the public API: the oldest page of the big session is found directly.
        let before = MessageId::new("big_msg_3");
        let page = store
            .messages(&SessionId::new("big"), Some(&before), 100)
            .unwrap();
        assert_eq!(page.messages.len(), 3);
        assert!(!page.has_more);
    }
}

#[cfg(test)]
use tests::batch as tests_batch;

#[cfg(test)]
mod client_msg_id_tests {
    use oqto_protocol::{ClientMsgId, MessageId, SessionId};

    use crate::Store;
    use crate::test_support::session;

    #[test]
    fn a_message_keeps_its_client_msg_id_and_the_session_finds_it() {
        let mut store = Store::open_in_memory().unwrap();
        store.insert_session(&session("a")).unwrap();
        store.insert_session(&session("b")).unwrap();
        let mut batch = super::tests_batch("a", 3);
        let id = ClientMsgId::new("4f9a1c2e-8b3d-4e6f-a1c7-0d5e9b2f3a68");
        batch[1].0.client_msg_id = Some(id.clone());
        store.put_messages(&batch).unwrap();

        let a = SessionId::new("a");
        let page = store.messages(&a, None, 10).unwrap();
        assert_eq!(page.messages[0].client_msg_id, None);
        assert_eq!(page.messages[1].client_msg_id, Some(id.clone()));
        assert!(store.has_client_msg_id(&a, &id).unwrap());
        assert!(
            !store
                .has_client_msg_id(&a, &ClientMsgId::new("other"))
                .unwrap()
        );
        assert!(
            !store.has_client_msg_id(&SessionId::new("b"), &id).unwrap(),
            "ids belong to their session"
        );

        // A fork's copies were not sent in the new session.
        let (mut n, mut k) = (0, 0);
        store
            .copy_messages_before(
                &a,
                &SessionId::new("b"),
                &MessageId::new("a_msg_2"),
                &mut || {
                    n += 1;
                    MessageId::new(format!("copy_{n}"))
                },
                &mut || {
                    k += 1;
                    oqto_protocol::PartId::new(format!("copy_prt_{k}"))
                },
            )
            .unwrap();
        let copies = store.messages(&SessionId::new("b"), None, 10).unwrap();
        assert_eq!(copies.messages.len(), 2);
        assert!(copies.messages.iter().all(|m| m.client_msg_id.is_none()));
        assert!(!store.has_client_msg_id(&SessionId::new("b"), &id).unwrap());

        let mut batch = super::tests_batch("a", 3);
        batch[1].0.client_msg_id = None;
        // Replacing a message replaces its id too.
        store.put_messages(&batch).unwrap();
        assert!(!store.has_client_msg_id(&a, &id).unwrap());
    }
}

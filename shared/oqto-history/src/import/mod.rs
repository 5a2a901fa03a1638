//! Importing conversations that a harness kept on its own, before or outside Oqto.
//!
//! [`pi`] reads pi's session files. An import is idempotent: ids are derived from the
//! harness's own ids (by a hash, see `docs/history.md`), so importing the same file again
//! finds the session it stored before and stores only what is new or changed.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use oqto_protocol::{Message, MessageId, SessionId};
use rusqlite::TransactionBehavior;

use crate::error::{Context as _, StoreError};
use crate::messages::load_message;
use crate::sessions::{insert_session_row, update_session_row};
use crate::writer::Writer;
use crate::{SessionRecord, Store};

mod ids;
pub mod pi;
mod time;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Session files looked at.
    pub files: usize,
    /// Sessions stored for the first time.
    pub sessions_new: usize,
    /// Sessions stored before that got new or changed messages, a new title or path.
    pub sessions_updated: usize,
    /// Sessions stored before whose file holds nothing new.
    pub sessions_unchanged: usize,
    /// Messages written (new and changed).
    pub messages: usize,
    /// Files and directories not imported, each with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Lines skipped inside imported files (not JSON, not an entry, unreadable content,
    /// broken parent links, results of unknown tool calls).
    pub warnings: usize,
}

impl Store {
    /// Stores an imported session and its messages in one transaction: `record` is
    /// inserted (`new`) or replaces the stored one, then each message is upserted.
    fn write_import(
        &mut self,
        record: &SessionRecord,
        new: bool,
        messages: &[Message],
    ) -> Result<(), StoreError> {
        self.writable()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("starting an import")?;
        if new {
            insert_session_row(&tx, record)?;
        } else {
            update_session_row(&tx, record)?;
        }
        let mut writer = Writer::new(&tx);
        for message in messages {
            writer.write(message, None)?;
        }
        writer.finish()?;
        tx.commit().ctx("committing an import")
    }

    /// Of `messages` (of the stored session `session`), those that are not stored or are
    /// stored differently; and how many stored messages of the session are not in `own`
    /// (messages the runner wrote, not the importer).
    fn import_changes(
        &self,
        session: &SessionId,
        messages: &[Message],
        own: &HashSet<MessageId>,
    ) -> Result<(Vec<Message>, usize), StoreError> {
        let stored: HashMap<String, i64> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT id, pk FROM messages WHERE session = ?1")
                .ctx("reading a session's message ids")?;
            let rows = stmt
                .query_map([session.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
                .ctx("reading a session's message ids")?;
            rows.collect::<Result<_, _>>()
                .ctx("reading a session's message ids")?
        };
        let foreign = stored
            .keys()
            .filter(|id| !own.contains(&MessageId((*id).clone())))
            .count();
        let mut changed = Vec::new();
        for message in messages {
            let same = match stored.get(message.id.as_str()) {
                Some(&pk) => load_message(&self.conn, pk, self.client_msg_ids)? == *message,
                None => false,
            };
            if !same {
                changed.push(message.clone());
            }
        }
        Ok((changed, foreign))
    }
}

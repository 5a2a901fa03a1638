//! The database schema and its migrations.
//!
//! `PRAGMA user_version` is the number of migrations applied. Opening a database applies
//! the missing ones, in order, in one `IMMEDIATE` transaction that also sets the new
//! `user_version`; a failure leaves the file as it was. A database whose `user_version` is
//! higher than `MIGRATIONS.len()` was written by a newer build and is refused.
//! `PRAGMA application_id` marks the file as an Oqto history database, so that pointing the
//! runner at some other `SQLite` file fails instead of adding tables to it.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;

/// `PRAGMA application_id` of an Oqto history database: `Oqto` in ASCII.
pub const APPLICATION_ID: i64 = 0x4f71_746f;

/// The schema version this build writes: the number of migration steps it knows.
#[allow(
    clippy::cast_possible_wrap,
    reason = "a handful of migrations; `try_from` is not usable in a const"
)]
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Migration steps; step `n` (0-based) brings the schema from version `n` to `n + 1`.
/// A released step is never edited; a change is a new step.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: sessions, messages, parts, and the full-text index over message bodies.
    "
    CREATE TABLE sessions (
        id              TEXT PRIMARY KEY,
        harness         TEXT NOT NULL,
        harness_ref     TEXT,
        cwd             TEXT NOT NULL,
        title           TEXT,
        model_provider  TEXT,
        model_id        TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        state           TEXT NOT NULL,
        reason          TEXT,
        parent          TEXT,
        sandbox_profile TEXT,
        last_seq        INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX sessions_by_recency ON sessions (updated_at DESC, created_at DESC, id);

    -- `pk` is the FTS rowid: an INTEGER PRIMARY KEY is never renumbered by VACUUM.
    -- `ordinal` is the insertion order within the session (1, 2, ...), fixed on first insert.
    -- The searchable text is not stored here: it is derived from the parts (search.rs).
    CREATE TABLE messages (
        pk              INTEGER PRIMARY KEY,
        id              TEXT NOT NULL UNIQUE,
        session         TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        ordinal         INTEGER NOT NULL,
        role            TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        model_provider  TEXT,
        model_id        TEXT,
        usage           TEXT,
        stop_reason     TEXT,
        seq             INTEGER,
        UNIQUE (session, ordinal)
    ) STRICT;

    -- `data` is the protocol Part as JSON, so every field round-trips exactly.
    CREATE TABLE parts (
        message         INTEGER NOT NULL REFERENCES messages (pk) ON DELETE CASCADE,
        position        INTEGER NOT NULL,
        id              TEXT NOT NULL,
        kind            TEXT NOT NULL,
        data            TEXT NOT NULL,
        PRIMARY KEY (message, position)
    ) STRICT;

    -- Contentless FTS5 index over each message's searchable text (search.rs), rowid =
    -- messages.pk: the text itself is not stored a second time; snippets are cut from the
    -- parts. `prefix = '3 4'` indexes 3- and 4-character prefixes for `abc*`/`abcd*`
    -- queries. The write path (writer.rs) adds and replaces entries at the end of each
    -- transaction; this trigger removes them whenever a message row goes, including
    -- through ON DELETE CASCADE from its session.
    CREATE VIRTUAL TABLE message_fts USING fts5 (
        body,
        content = '',
        contentless_delete = 1,
        prefix = '3 4',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        DELETE FROM message_fts WHERE rowid = old.pk;
    END;
    ",
    // 2: FTS5 buffers new index entries in memory up to 32 MiB (`hashsize`, default
    // 1 MiB; kept in `message_fts_config`) before it writes them out as a segment, so a
    // transaction of a few thousand messages writes one segment instead of one per MiB of
    // index, and fewer segments are merged later. (`automerge = 8` was measured too: a
    // little less merging, but twice as many segments for a query to read; `pars*` went
    // from 18 to 36 ms p50 on a million messages.)
    "
    INSERT INTO message_fts (message_fts, rank) VALUES ('hashsize', 33554432);
    ",
    // 3: the sandbox policy a session's harness last started under (`oqto-sandbox explain
    // --json`, a few KiB), in a table of its own so that listing sessions does not read it.
    "
    CREATE TABLE session_sandbox (
        session         TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        policy          TEXT NOT NULL
    ) STRICT;
    ",
    // 4: the `client_msg_id` a user message carries (the client's id of the prompt, steer
    // or follow-up it came from), indexed by session so that a runner, also after a
    // restart, finds a repeated send without scanning the session.
    "
    ALTER TABLE messages ADD COLUMN client_msg_id TEXT;
    CREATE INDEX messages_by_client_msg_id ON messages (session, client_msg_id)
        WHERE client_msg_id IS NOT NULL;
    ",
    // 5: the audit log: permissions asked and answered, tool calls started and ended. No
    // foreign key: the log outlives a deleted session.
    "
    CREATE TABLE audit (
        id              INTEGER PRIMARY KEY,
        ts              INTEGER NOT NULL,
        session         TEXT NOT NULL,
        kind            TEXT NOT NULL,
        summary         TEXT NOT NULL,
        call_id         TEXT,
        request         TEXT,
        answered        TEXT
    ) STRICT;
    CREATE INDEX audit_by_session ON audit (session, id);
    CREATE INDEX audit_by_ts ON audit (ts);
    ",
];

/// The first schema version with `messages.client_msg_id`. A read-only store on an older
/// file reads every message without one.
pub(crate) const CLIENT_MSG_ID_SINCE: i64 = 4;

/// Schema versions that this build can read without migrating them: a read-only store
/// ([`Store::open_read_only`](crate::Store::open_read_only)) accepts a database at any of
/// these. Migration 2 changed only settings of the index, not what is stored; migration 3
/// added `session_sandbox`, which a read of an older file finds missing and treats as empty;
/// migration 4 added `messages.client_msg_id`, which such a read takes as absent;
/// migration 5 added `audit`, which such a read finds missing and treats as empty.
pub(crate) const READABLE_SINCE: i64 = 1;

/// Page size of a new database file. Larger pages mean fewer b-tree pages, splits and
/// WAL frames per stored message (ingest was about 25% faster than with 4 KiB pages); an
/// existing file keeps the page size it was created with.
const PAGE_SIZE: i64 = 16_384;

/// Bytes of WAL after which a commit checkpoints it into the database file.
const WAL_CHECKPOINT_BYTES: i64 = 64 * 1024 * 1024;

/// Per-connection settings. `wal` is false for in-memory databases, which have no WAL.
pub(crate) fn configure(conn: &Connection, wal: bool) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    // Only takes effect on a file that has no pages yet (a new database).
    conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE};"))?;
    if wal {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!(
                    "cannot switch to WAL journal mode (still `{mode}`)"
                )),
            ));
        }
        // A checkpoint every 64 MiB of WAL instead of SQLite's 1,000 pages: a batch of
        // messages is several MiB, and pages written again by later transactions (the
        // index's segments and b-tree interior pages) are then copied to the database
        // once, not once per batch. After a checkpoint the WAL file is cut back to 64 MiB
        // at most.
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        conn.execute_batch(&format!(
            "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = {}; \
             PRAGMA journal_size_limit = {WAL_CHECKPOINT_BYTES};",
            WAL_CHECKPOINT_BYTES / page_size.max(512)
        ))?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// The scratch database of a store: an in-memory FTS5 table with the index's tokenizer,
/// filled with the text of a search's hits to cut their snippets.
pub(crate) fn scratch() -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE VIRTUAL TABLE hit_text USING fts5 (
             body, tokenize = 'unicode61 remove_diacritics 2'
         );",
    )?;
    conn.set_prepared_statement_cache_capacity(8);
    Ok(conn)
}

/// Checks that the database is ours and brings its schema up to [`SCHEMA_VERSION`].
pub(crate) fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    // IMMEDIATE: take the write lock before reading the version, so two processes opening
    // the same fresh file cannot both migrate it.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_err)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(open_err)?;
    let application_id: i64 = tx
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .map_err(open_err)?;

    let fresh = version == 0 && application_id == 0 && !has_tables(&tx).map_err(open_err)?;
    if !fresh && application_id != APPLICATION_ID {
        return Err(StoreError::NotHistoryDatabase {
            path: path.to_owned(),
            application_id,
            user_version: version,
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return tx.commit().map_err(open_err);
    }

    let first = usize::try_from(version).map_err(|_| {
        StoreError::Corrupt(format!("{path} has negative schema version {version}"))
    })?;
    for step in &MIGRATIONS[first..] {
        tx.execute_batch(step).map_err(open_err)?;
    }
    // PRAGMAs take no parameters; both values are integers from this file.
    tx.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))
    .map_err(open_err)?;
    tx.commit().map_err(open_err)
}

/// For a read-only store: checks that the database is ours and that this build can read
/// its schema as it is. Errors from `SQLite` are `StoreError::Open`.
pub(crate) fn check_readable(conn: &Connection, path: &str) -> Result<i64, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let (version, application_id): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), \
                    (SELECT application_id FROM pragma_application_id)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(open_err)?;
    if application_id != APPLICATION_ID {
        return Err(StoreError::NotHistoryDatabase {
            path: path.to_owned(),
            application_id,
            user_version: version,
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < READABLE_SINCE {
        return Err(StoreError::Corrupt(format!(
            "{path} has schema version {version}, which cannot be read without migrating it"
        )));
    }
    Ok(version)
}

/// Whether the database holds any table, index, view or trigger.
fn has_tables(conn: &Connection) -> Result<bool, rusqlite::Error> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_schema)", [], |row| {
        row.get(0)
    })
}

#[cfg(test)]
mod tests {
    use oqto_protocol::{SearchFilters, SessionId};

    use super::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
    use crate::Store;

    /// A database as version 1 of the schema left it, with one session and one message.
    fn version_1_database(path: &std::path::Path) {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;")
            .unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;
             INSERT INTO sessions (id, harness, cwd, created_at, updated_at, state, last_seq)
                 VALUES ('ses_old', 'pi', '/w', 1, 2, 'idle', 0);
             INSERT INTO messages (pk, id, session, ordinal, role, created_at)
                 VALUES (1, 'msg_old', 'ses_old', 1, 'user', 2);
             INSERT INTO parts (message, position, id, kind, data) VALUES (1, 0, 'prt_old',
                 'text', '{{\"type\":\"text\",\"id\":\"prt_old\",\"text\":\"written by version one\"}}');
             INSERT INTO message_fts (rowid, body) VALUES (1, 'written by version one');"
        ))
        .unwrap();
    }

    #[test]
    fn a_version_1_database_is_migrated_on_open_and_keeps_its_data() {
        assert_eq!(SCHEMA_VERSION, 5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        version_1_database(&path);

        // Read-only, it is readable as it is (migration 2 changed only a setting, and the
        // table of migration 3 reads as empty).
        let old = Store::open_read_only(&path).unwrap();
        assert_eq!(
            old.sandbox_policy(&SessionId::new("ses_old")).unwrap(),
            None
        );
        assert_eq!(
            old.search("version", &SearchFilters::default(), None)
                .unwrap()
                .len(),
            1
        );
        // Migration 4's column is missing there: messages read without a client_msg_id.
        let page = old.messages(&SessionId::new("ses_old"), None, 10).unwrap();
        assert_eq!(page.messages[0].client_msg_id, None);
        assert!(
            !old.has_client_msg_id(
                &SessionId::new("ses_old"),
                &oqto_protocol::ClientMsgId::new("x")
            )
            .unwrap()
        );
        // Migration 5's audit log is missing there: it reads as empty.
        assert_eq!(
            old.audit(&crate::AuditFilter::default(), 10).unwrap(),
            (Vec::new(), false)
        );
        drop(old);

        let mut store = Store::open(&path).unwrap();
        let (version, hashsize, page_size): (i64, i64, i64) = store
            .conn
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version), \
                        (SELECT v FROM message_fts_config WHERE k = 'hashsize'), \
                        (SELECT page_size FROM pragma_page_size)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(hashsize, 32 * 1024 * 1024);
        assert_eq!(page_size, 4096, "an existing file keeps its page size");

        let page = store
            .messages(&SessionId::new("ses_old"), None, 10)
            .unwrap();
        assert_eq!(page.messages.len(), 1);
        let hits = store
            .search("version one", &SearchFilters::default(), None)
            .unwrap();
        assert_eq!(hits[0].snippet, "written by [version] [one]");
        // New writes land in the migrated index next to the old entries.
        let mut message = page.messages[0].clone();
        message.id = oqto_protocol::MessageId::new("msg_new");
        store.put_message(&message, None).unwrap();
        let hits = store
            .search("written", &SearchFilters::default(), None)
            .unwrap();
        assert_eq!(hits.len(), 2);
        // Migration 4: messages keep their client_msg_id.
        let mut sent = page.messages[0].clone();
        sent.id = oqto_protocol::MessageId::new("msg_sent");
        sent.client_msg_id = Some(oqto_protocol::ClientMsgId::new("cmid-1"));
        store.put_message(&sent, None).unwrap();
        assert!(
            store
                .has_client_msg_id(
                    &SessionId::new("ses_old"),
                    &oqto_protocol::ClientMsgId::new("cmid-1")
                )
                .unwrap()
        );
        // Migration 3: the sandbox policy table exists and is empty.
        assert_eq!(
            store.sandbox_policy(&SessionId::new("ses_old")).unwrap(),
            None
        );
        store
            .set_sandbox_policy(&SessionId::new("ses_old"), "{\"version\":1}")
            .unwrap();
        store.integrity_check().unwrap();
        drop(store);

        // Opening again does nothing more.
        let store = Store::open(&path).unwrap();
        store.integrity_check().unwrap();
    }

    #[test]
    fn a_new_database_has_large_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("history.db")).unwrap();
        let page_size: i64 = store
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, super::PAGE_SIZE);
    }
}

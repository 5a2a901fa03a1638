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
];

/// Per-connection settings. `wal` is false for in-memory databases, which have no WAL.
pub(crate) fn configure(conn: &Connection, wal: bool) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
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
        // A checkpoint every 16 MiB of WAL instead of SQLite's 4 MiB: a batch of messages
        // is several MiB, and pages written again by later transactions (the index's
        // segments and b-tree interior pages) are then copied to the database once, not
        // once per batch. After a checkpoint the WAL file is cut back to 64 MiB at most.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 4096; \
             PRAGMA journal_size_limit = 67108864;",
        )?;
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

/// Whether the database holds any table, index, view or trigger.
fn has_tables(conn: &Connection) -> Result<bool, rusqlite::Error> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_schema)", [], |row| {
        row.get(0)
    })
}

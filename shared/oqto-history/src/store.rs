//! The [`Store`]: one `SQLite` connection, how it is opened, and its integrity check.

use std::fs;
use std::io;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Context as _, StoreError, sqlite_code};
use crate::schema;

/// The per-user history store: sessions, their messages, and a full-text index.
///
/// Synchronous and single-connection: one thread owns it (the runner gives it a dedicated
/// thread), and every method that writes takes `&mut self` and runs in one transaction.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    /// A private in-memory database holding a scratch full-text table, where the text of
    /// a search's final hits is indexed again to cut their snippets (see search.rs).
    pub(crate) scratch: Connection,
    /// The database file, for error messages (`:memory:` for an in-memory store).
    pub(crate) label: String,
}

// The runner moves the store to a thread of its own.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Store>();
};

impl Store {
    /// Opens (creating it if needed) the history database at `path`.
    ///
    /// Missing parent directories are created with mode 0700 and a new database file with
    /// mode 0600 (`SQLite` gives its `-wal` and `-shm` files the same mode). The connection
    /// uses WAL, `synchronous = NORMAL`, `foreign_keys = ON` and a 5 s busy timeout, and
    /// the schema is migrated to [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    ///
    /// Fails with a `storage`-coded error when the file or its directory is read-only or
    /// cannot be created, when the file is not an Oqto history database, or when it was
    /// written by a newer build ([`StoreError::SchemaTooNew`]).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let label = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dirs(dir)?;
            refuse_read_only(dir, &label, "its directory")?;
        }
        create_private_file(path, &label)?;

        let open_err = |source| StoreError::Open {
            path: label.clone(),
            source,
        };
        // No SQLITE_OPEN_URI: the path is a file name, never a `file:` URI.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        // SQLite silently falls back to read-only when it may not write the file.
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(open_err)? {
            return Err(StoreError::ReadOnly {
                path: label,
                detail: "SQLite could only open it for reading".to_owned(),
            });
        }
        schema::configure(&conn, true).map_err(|source| match sqlite_code(&source) {
            Some(rusqlite::ErrorCode::ReadOnly) => StoreError::ReadOnly {
                path: label.clone(),
                detail: source.to_string(),
            },
            _ => open_err(source),
        })?;
        schema::migrate(&mut conn, &label)?;
        let scratch = schema::scratch().map_err(open_err)?;
        Ok(Store {
            conn,
            scratch,
            label,
        })
    }

    /// A fresh, empty store in memory (for tests and tools); gone when dropped.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let label = ":memory:".to_owned();
        let open_err = |source| StoreError::Open {
            path: label.clone(),
            source,
        };
        let mut conn = Connection::open_in_memory().map_err(open_err)?;
        schema::configure(&conn, false).map_err(open_err)?;
        schema::migrate(&mut conn, &label)?;
        let scratch = schema::scratch().map_err(open_err)?;
        Ok(Store {
            conn,
            scratch,
            label,
        })
    }

    /// Checks the database file, its foreign keys, and that the full-text index matches the
    /// stored messages. `Err(StoreError::Corrupt)` lists what is wrong.
    ///
    /// Reads the whole database: for maintenance and tests, not for every request.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let mut problems = Vec::new();

        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .ctx("checking integrity")?;
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .ctx("checking integrity")?;
        for row in rows {
            let line = row.ctx("checking integrity")?;
            if line != "ok" {
                problems.push(line);
            }
        }

        let mut stmt = self
            .conn
            .prepare("PRAGMA foreign_key_check")
            .ctx("checking foreign keys")?;
        let rows = stmt
            .query_map([], |row| {
                Ok(format!(
                    "row {} of {} points to a missing row of {}",
                    row.get::<_, Option<i64>>(1)?.unwrap_or_default(),
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .ctx("checking foreign keys")?;
        for row in rows {
            problems.push(row.ctx("checking foreign keys")?);
        }

        // The index holds no text to compare with (it is contentless): check its own
        // structure, and that it has exactly one entry per message.
        let (unindexed, stale): (i64, i64) = self
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM messages WHERE pk NOT IN \
                         (SELECT id FROM message_fts_docsize)), \
                        (SELECT count(*) FROM message_fts_docsize WHERE id NOT IN \
                         (SELECT pk FROM messages))",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .ctx("checking the search index")?;
        if unindexed > 0 || stale > 0 {
            problems.push(format!(
                "the search index does not match the messages ({unindexed} messages not \
                 indexed, {stale} index entries without a message)"
            ));
        }
        match self.conn.execute(
            "INSERT INTO message_fts (message_fts, rank) VALUES ('integrity-check', 0)",
            [],
        ) {
            Ok(_) => {}
            Err(e) if sqlite_code(&e) == Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
                problems.push(format!(
                    "the search index does not match the messages ({e})"
                ));
            }
            Err(e) => return Err(e).ctx("checking the search index"),
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!(
                "{}: {}",
                self.label,
                problems.join("; ")
            )))
        }
    }
}

/// Creates `dir` and its missing ancestors, each with mode 0700.
fn create_private_dirs(dir: &Path) -> Result<(), StoreError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| StoreError::Io {
        action: "create directory",
        path: dir.to_owned(),
        source,
    })
}

/// Creates the database file with mode 0600 unless it exists; refuses an existing file
/// without write permission.
fn create_private_file(path: &Path, label: &str) -> Result<(), StoreError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            refuse_read_only(path, label, "the file")
        }
        Err(source) => Err(StoreError::Io {
            action: "create",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Refuses a file or directory that has no write permission bits at all. Checked even for
/// root, who could write it anyway: a history someone made read-only is not written.
fn refuse_read_only(path: &Path, label: &str, what: &str) -> Result<(), StoreError> {
    let metadata = fs::metadata(path).map_err(|source| StoreError::Io {
        action: "inspect",
        path: path.to_owned(),
        source,
    })?;
    if metadata.permissions().readonly() {
        return Err(StoreError::ReadOnly {
            path: label.to_owned(),
            detail: format!("{what} ({}) has no write permission", path.display()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use oqto_protocol::{ErrorCode, Message, MessageId, Part, PartId, Role, SessionId, State};

    use crate::{SessionRecord, Store};

    /// A full disk is a `storage` error that leaves the store as it was.
    #[test]
    fn a_full_disk_is_a_storage_error_and_loses_nothing_written_before() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("history.db")).unwrap();
        store
            .insert_session(&SessionRecord {
                id: SessionId::new("ses_a"),
                harness: "pi".into(),
                harness_ref: None,
                cwd: "/w".into(),
                title: None,
                model: None,
                created_at: 1,
                updated_at: 1,
                state: State::Idle,
                reason: None,
                parent: None,
                sandbox_profile: None,
                last_seq: 0,
            })
            .unwrap();
        // Simulate a full disk: the file may not grow past a few more pages.
        let pages: i64 = store
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        store
            .conn
            .execute_batch(&format!("PRAGMA max_page_count = {}", pages + 2))
            .unwrap();
        let batch: Vec<_> = (0..200)
            .map(|i| {
                let message = Message {
                    id: MessageId::new(format!("msg_{i}")),
                    session: SessionId::new("ses_a"),
                    role: Role::User,
                    parts: vec![Part::Text {
                        id: PartId::new(format!("prt_{i}")),
                        text: format!("message number {i} {}", "x".repeat(500)),
                    }],
                    created_at: 2,
                    model: None,
                    usage: None,
                    stop_reason: None,
                };
                (message, None)
            })
            .collect();
        let err = store.put_messages(&batch).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Storage, "{err}");
        assert!(
            err.to_string().ends_with("database or disk is full"),
            "{err}"
        );

        let page = store.messages(&SessionId::new("ses_a"), None, 10).unwrap();
        assert!(page.messages.is_empty());
        store.integrity_check().unwrap();
    }
}

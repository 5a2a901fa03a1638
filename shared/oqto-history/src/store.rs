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
    /// Opened with [`Store::open_read_only`]: every write fails with
    /// [`StoreError::ReadOnly`].
    pub(crate) read_only: bool,
    /// The file has `messages.client_msg_id` (always, except a read-only store on a file
    /// older than schema version 4).
    pub(crate) client_msg_ids: bool,
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
            read_only: false,
            client_msg_ids: true,
        })
    }

    /// Opens an existing history database for reading only: sessions, messages and search
    /// work; every method that writes fails with [`StoreError::ReadOnly`] (code `storage`)
    /// and leaves the file untouched. For a database that [`Store::open`] refuses because
    /// the file or its directory is read-only (mode 0444, a read-only mount).
    ///
    /// Nothing is created and nothing is migrated: the file must exist and have a schema
    /// this build can read as it is (the current one, or an older one that differs only in
    /// settings), else the same errors as `open` ([`StoreError::SchemaTooNew`],
    /// [`StoreError::NotHistoryDatabase`]). `SQLite` reads a WAL database through its
    /// `-wal` and `-shm` files; when those do not exist and cannot be created (a read-only
    /// directory), the file holds every committed transaction (the last connection
    /// checkpointed and removed them) and is read as immutable.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let label = path.display().to_string();
        let open_err = |source| StoreError::Open {
            path: label.clone(),
            source,
        };
        fs::metadata(path).map_err(|source| StoreError::Io {
            action: "open",
            path: path.to_owned(),
            source,
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        let (conn, version) = match schema::check_readable(&conn, &label) {
            Ok(version) => (conn, version),
            // The WAL index cannot be created next to the file: read it as immutable, but
            // only when no WAL holds transactions the file does not have yet.
            // (SQLITE_READONLY_CANTINIT, or SQLITE_CANTOPEN from older SQLite versions.)
            Err(StoreError::Open { source, .. })
                if matches!(
                    sqlite_code(&source),
                    Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
                ) && !sidecar(path, "-wal").exists() =>
            {
                drop(conn);
                let conn = Connection::open_with_flags(
                    immutable_uri(path),
                    flags | OpenFlags::SQLITE_OPEN_URI,
                )
                .map_err(open_err)?;
                let version = schema::check_readable(&conn, &label)?;
                (conn, version)
            }
            Err(e) => return Err(e),
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        conn.execute_batch("PRAGMA query_only = ON;")
            .map_err(open_err)?;
        conn.set_prepared_statement_cache_capacity(64);
        let scratch = schema::scratch().map_err(open_err)?;
        Ok(Store {
            conn,
            scratch,
            label,
            read_only: true,
            client_msg_ids: version >= schema::CLIENT_MSG_ID_SINCE,
        })
    }

    /// Whether the store was opened with [`Store::open_read_only`].
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// `Err(ReadOnly)` if the store may not write; called first by every method that does.
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.label.clone(),
                detail: "the store was opened read-only".to_owned(),
            });
        }
        Ok(())
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
            read_only: false,
            client_msg_ids: true,
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

/// `path` with `suffix` appended to its file name (`-wal`, `-shm`).
fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// A `file:` URI naming `path` with `immutable=1`. Every byte outside the unreserved set
/// is percent-encoded, so no character of the path can end the name or add a parameter.
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let mut uri = "file:".to_owned();
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            let _ = std::fmt::Write::write_fmt(&mut uri, format_args!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
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
    use oqto_protocol::{ErrorCode, Message, MessageId, Part, PartId, Role, SessionId};

    use crate::Store;
    use crate::test_support::session;

    /// The immutable fallback of `open_read_only` (taken when the WAL index cannot be
    /// created, which a test running as root cannot provoke) names exactly the file, whatever
    /// characters its path holds.
    #[test]
    fn the_immutable_uri_names_the_file_whatever_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a b?c#d%e&f=g");
        std::fs::create_dir(&odd).unwrap();
        let path = odd.join("history.db");
        let mut store = Store::open(&path).unwrap();
        store.insert_session(&session("ses_a")).unwrap();
        drop(store);
        let uri = super::immutable_uri(&path);
        assert!(uri.ends_with("?immutable=1") && !uri.contains(' '), "{uri}");
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
        let conn = rusqlite::Connection::open_with_flags(&uri, flags).unwrap();
        crate::schema::check_readable(&conn, "x").unwrap();
        let sessions: i64 = conn
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sessions, 1);
    }

    /// A full disk is a `storage` error that leaves the store as it was.
    #[test]
    fn a_full_disk_is_a_storage_error_and_loses_nothing_written_before() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("history.db")).unwrap();
        store.insert_session(&session("ses_a")).unwrap();
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
                    client_msg_id: None,
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

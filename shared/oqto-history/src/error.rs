//! What can go wrong in the history store, and the protocol error code each failure maps to.

use std::io;
use std::path::PathBuf;

use oqto_protocol::{ErrorCode, MessageId, SessionId};
use rusqlite::ErrorCode as SqliteCode;

/// A failed history-store operation.
///
/// `Display` is written for log lines and for the `message` of a protocol error, e.g.
/// ``no session `ses_01jd8zz0q1w4` `` or
/// `history store failed writing a message: database or disk is full`.
/// [`StoreError::code`] gives the protocol [`ErrorCode`] to answer a client with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No session has this id.
    #[error("no session `{0}`")]
    SessionNotFound(SessionId),

    /// The session exists but has no message with this id.
    #[error("no message `{message}` in session `{session}`")]
    MessageNotFound {
        /// The session that was searched.
        session: SessionId,
        /// The message id that was not found in it.
        message: MessageId,
    },

    /// `insert_session` with an id that is already stored.
    #[error("session `{0}` already exists")]
    SessionExists(SessionId),

    /// `put_message` with a message id that is stored under another session. Message ids
    /// are unique across sessions, so this is a bug in the caller.
    #[error("message `{message}` belongs to session `{stored}`, not `{given}`")]
    MessageInOtherSession {
        /// The message id.
        message: MessageId,
        /// The session it is stored in.
        stored: SessionId,
        /// The session it was written with.
        given: SessionId,
    },

    /// A search query that cannot be parsed; `reason` says what is wrong.
    #[error("bad search query `{query}`: {reason}")]
    BadQuery {
        /// The query as the client sent it.
        query: String,
        /// What is wrong with it, for people.
        reason: String,
    },

    /// A search filter that cannot be used (e.g. an empty `cwd`).
    #[error("bad search filter: {0}")]
    BadFilter(String),

    /// A number the caller passed does not fit `SQLite`'s signed 64-bit integers.
    #[error("{what} {value} is out of range (at most {max})", max = i64::MAX)]
    OutOfRange {
        /// Which value, e.g. `created_at`.
        what: &'static str,
        /// The value given.
        value: u64,
    },

    /// The database was written by a newer Oqto with a schema this build does not know.
    #[error(
        "history database {path} has schema version {found}, newer than version {supported} \
         that this oqto knows; upgrade oqto or move the file aside"
    )]
    SchemaTooNew {
        /// The database file.
        path: String,
        /// Its `PRAGMA user_version`.
        found: i64,
        /// The newest schema version this build can use.
        supported: i64,
    },

    /// The file is an `SQLite` database, but not an Oqto history database.
    #[error(
        "{path} is not an Oqto history database (application_id {application_id:#x}, \
         user_version {user_version})"
    )]
    NotHistoryDatabase {
        /// The database file.
        path: String,
        /// Its `PRAGMA application_id`.
        application_id: i64,
        /// Its `PRAGMA user_version`.
        user_version: i64,
    },

    /// The database file or its directory cannot be written.
    #[error("history database {path} is read-only: {detail}")]
    ReadOnly {
        /// The database file.
        path: String,
        /// Which file or directory lacks write permission.
        detail: String,
    },

    /// Creating the database's directory or file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. `create directory`.
        action: &'static str,
        /// The directory or file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },

    /// Opening or migrating the database failed.
    #[error("cannot open history database {path}: {source}")]
    Open {
        /// The database file.
        path: String,
        /// What `SQLite` said.
        source: rusqlite::Error,
    },

    /// Stored data that cannot be decoded, or a failed integrity check.
    #[error("history database is corrupt: {0}")]
    Corrupt(String),

    /// An `SQLite` call failed; `op` says what the store was doing.
    #[error("history store failed {op}: {source}")]
    Sqlite {
        /// What the store was doing, e.g. `writing a message`.
        op: &'static str,
        /// What `SQLite` said.
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// The protocol error code for this failure.
    ///
    /// Missing sessions and messages map to `session_not_found` and `message_not_found`,
    /// bad queries and filters to `bad_request`, failures of the disk or the database file
    /// (full, read-only, I/O, corrupt, locked, newer schema) to `storage`, and everything
    /// that can only be a caller's or this crate's bug to `internal`.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::SessionNotFound(_) => ErrorCode::SessionNotFound,
            StoreError::MessageNotFound { .. } => ErrorCode::MessageNotFound,
            StoreError::BadQuery { .. } | StoreError::BadFilter(_) => ErrorCode::BadRequest,
            StoreError::SessionExists(_)
            | StoreError::MessageInOtherSession { .. }
            | StoreError::OutOfRange { .. } => ErrorCode::Internal,
            StoreError::SchemaTooNew { .. }
            | StoreError::NotHistoryDatabase { .. }
            | StoreError::ReadOnly { .. }
            | StoreError::Io { .. }
            | StoreError::Corrupt(_) => ErrorCode::Storage,
            StoreError::Open { source, .. } => {
                // Whatever fails while opening is about the file, unless SQLite says it
                // was misused.
                match sqlite_code(source) {
                    Some(SqliteCode::ApiMisuse) => ErrorCode::Internal,
                    _ => ErrorCode::Storage,
                }
            }
            StoreError::Sqlite { source, .. } => match sqlite_code(source) {
                Some(code) if is_storage_failure(code) => ErrorCode::Storage,
                _ => ErrorCode::Internal,
            },
        }
    }
}

/// The primary `SQLite` result code of an error, when `SQLite` produced it.
pub(crate) fn sqlite_code(error: &rusqlite::Error) -> Option<SqliteCode> {
    match error {
        rusqlite::Error::SqliteFailure(e, _) | rusqlite::Error::SqlInputError { error: e, .. } => {
            Some(e.code)
        }
        _ => None,
    }
}

/// Whether an `SQLite` result code is about the disk or the file rather than a bug.
fn is_storage_failure(code: SqliteCode) -> bool {
    matches!(
        code,
        SqliteCode::DiskFull
            | SqliteCode::ReadOnly
            | SqliteCode::SystemIoFailure
            | SqliteCode::DatabaseCorrupt
            | SqliteCode::NotADatabase
            | SqliteCode::CannotOpen
            | SqliteCode::DatabaseBusy
            | SqliteCode::DatabaseLocked
            | SqliteCode::PermissionDenied
            | SqliteCode::FileLockingProtocolFailed
            | SqliteCode::NoLargeFileSupport
            | SqliteCode::OutOfMemory
            | SqliteCode::TooBig
    )
}

/// Attaches what the store was doing to an `SQLite` error.
pub(crate) trait Context<T> {
    /// Wraps the error in [`StoreError::Sqlite`] with `op`.
    fn ctx(self, op: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite { op, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: std::ffi::c_int) -> StoreError {
        StoreError::Sqlite {
            op: "writing a message",
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                Some(rusqlite::ffi::code_to_str(code).to_owned()),
            ),
        }
    }

    #[test]
    fn disk_failures_are_storage_errors() {
        for code in [
            rusqlite::ffi::SQLITE_FULL,
            rusqlite::ffi::SQLITE_READONLY,
            rusqlite::ffi::SQLITE_IOERR,
            rusqlite::ffi::SQLITE_CORRUPT,
            rusqlite::ffi::SQLITE_NOTADB,
            rusqlite::ffi::SQLITE_BUSY,
        ] {
            assert_eq!(
                sqlite(code).code(),
                ErrorCode::Storage,
                "sqlite code {code}"
            );
        }
    }

    #[test]
    fn sql_bugs_are_internal_errors() {
        for code in [
            rusqlite::ffi::SQLITE_ERROR,
            rusqlite::ffi::SQLITE_CONSTRAINT,
            rusqlite::ffi::SQLITE_MISUSE,
        ] {
            assert_eq!(
                sqlite(code).code(),
                ErrorCode::Internal,
                "sqlite code {code}"
            );
        }
    }

    #[test]
    fn display_reads_as_a_log_line() {
        assert_eq!(
            sqlite(rusqlite::ffi::SQLITE_FULL).to_string(),
            "history store failed writing a message: database or disk is full"
        );
        assert_eq!(
            StoreError::MessageNotFound {
                session: SessionId::new("ses_1"),
                message: MessageId::new("msg_2"),
            }
            .to_string(),
            "no message `msg_2` in session `ses_1`"
        );
    }
}

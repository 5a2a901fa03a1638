//! Session rows.

use oqto_protocol::{Millis, ModelRef, Phase, Seq, SessionId, SessionInfo, State};
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use crate::codec::{from_sql_int, model_columns, model_from_columns, parse_wire, to_sql_int};
use crate::error::{Context as _, StoreError};
use crate::store::Store;

/// What the store keeps of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The runner-assigned id (`ses_…`).
    pub id: SessionId,
    /// The harness name, e.g. `pi`.
    pub harness: String,
    /// The harness's own handle to resume the conversation: pi's session file, or a native
    /// agent's resume token.
    pub harness_ref: Option<String>,
    /// Absolute working directory of the agent.
    pub cwd: String,
    /// The title shown in session lists.
    pub title: Option<String>,
    /// The model the session uses.
    pub model: Option<ModelRef>,
    /// When the session was created (ms since the epoch).
    pub created_at: Millis,
    /// Last activity (ms since the epoch): never moves backwards; storing a message moves
    /// it to the message's `created_at` if that is later.
    pub updated_at: Millis,
    /// The state the session was last saved in.
    pub state: State,
    /// Why the session is in `error` or `stopped`, for people.
    pub reason: Option<String>,
    /// The session this one was forked from. Not a foreign key: deleting the parent leaves
    /// the id here, naming a session that is gone.
    pub parent: Option<SessionId>,
    /// The sandbox profile the harness runs under.
    pub sandbox_profile: Option<String>,
    /// The seq of the newest event of the session's log.
    pub last_seq: Seq,
}

impl SessionRecord {
    /// The protocol's view of this session, given what only the runner knows: the
    /// `working` phase and the number of subscribed clients.
    pub fn info(&self, phase: Option<Phase>, subscribers: u32) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            harness: self.harness.clone(),
            cwd: self.cwd.clone(),
            title: self.title.clone(),
            state: self.state,
            phase,
            reason: self.reason.clone(),
            model: self.model.clone(),
            sandbox_profile: self.sandbox_profile.clone(),
            parent: self.parent.clone(),
            created_at: self.created_at,
            last_activity: self.updated_at,
            last_seq: self.last_seq,
            subscribers,
            permissions: Vec::new(),
        }
    }
}

/// The columns of a session row, in the order [`RawSession::read`] expects.
const SESSION_COLUMNS: &str = "id, harness, harness_ref, cwd, title, model_provider, model_id, \
                               created_at, updated_at, state, reason, parent, sandbox_profile, \
                               last_seq";

/// A session row as `SQLite` returns it, before it is checked.
struct RawSession {
    id: String,
    harness: String,
    harness_ref: Option<String>,
    cwd: String,
    title: Option<String>,
    model_provider: Option<String>,
    model_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    state: String,
    reason: Option<String>,
    parent: Option<String>,
    sandbox_profile: Option<String>,
    last_seq: i64,
}

impl RawSession {
    fn read(row: &Row<'_>) -> rusqlite::Result<RawSession> {
        Ok(RawSession {
            id: row.get(0)?,
            harness: row.get(1)?,
            harness_ref: row.get(2)?,
            cwd: row.get(3)?,
            title: row.get(4)?,
            model_provider: row.get(5)?,
            model_id: row.get(6)?,
            created_at: row.get(7)?,
            updated_at: row.get(8)?,
            state: row.get(9)?,
            reason: row.get(10)?,
            parent: row.get(11)?,
            sandbox_profile: row.get(12)?,
            last_seq: row.get(13)?,
        })
    }

    fn decode(self) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            id: SessionId(self.id),
            harness: self.harness,
            harness_ref: self.harness_ref,
            cwd: self.cwd,
            title: self.title,
            model: model_from_columns(self.model_provider, self.model_id)?,
            created_at: from_sql_int(self.created_at, "session created_at")?,
            updated_at: from_sql_int(self.updated_at, "session updated_at")?,
            state: parse_wire(&self.state, "session state")?,
            reason: self.reason,
            parent: self.parent.map(SessionId),
            sandbox_profile: self.sandbox_profile,
            last_seq: from_sql_int(self.last_seq, "last_seq")?,
        })
    }
}

/// A session's values as bound to the `?1`..`?14` of the insert and update statements.
struct SessionParams<'a> {
    s: &'a SessionRecord,
    created_at: i64,
    updated_at: i64,
    last_seq: i64,
}

impl<'a> SessionParams<'a> {
    fn new(s: &'a SessionRecord) -> Result<Self, StoreError> {
        Ok(SessionParams {
            s,
            created_at: to_sql_int(s.created_at, "session created_at")?,
            updated_at: to_sql_int(s.updated_at, "session updated_at")?,
            last_seq: to_sql_int(s.last_seq, "last_seq")?,
        })
    }

    fn execute(&self, conn: &Connection, sql: &str) -> rusqlite::Result<usize> {
        let s = self.s;
        let (provider, model) = model_columns(s.model.as_ref());
        conn.prepare_cached(sql)?.execute(params![
            s.id.as_str(),
            s.harness,
            s.harness_ref,
            s.cwd,
            s.title,
            provider,
            model,
            self.created_at,
            self.updated_at,
            s.state.as_str(),
            s.reason,
            s.parent.as_ref().map(SessionId::as_str),
            s.sandbox_profile,
            self.last_seq,
        ])
    }
}

impl Store {
    /// Stores a new session. `Err(SessionExists)` if its id is taken.
    pub fn insert_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        self.writable()?;
        insert_session_row(&self.conn, s)
    }

    /// Replaces every field of the stored session `s.id`, except that `updated_at` never
    /// moves backwards (the stored value wins if it is later, e.g. after messages were
    /// stored since the caller read the record). `Err(SessionNotFound)` if absent.
    pub fn update_session(&mut self, s: &SessionRecord) -> Result<(), StoreError> {
        self.writable()?;
        update_session_row(&self.conn, s)
    }

    /// The session `id`, or `None` if there is none.
    pub fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let raw = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([id.as_str()], RawSession::read).optional())
            .ctx("reading a session")?;
        raw.map(RawSession::decode).transpose()
    }

    /// Every session, most recently updated first (ties: newest created first, then by id).
    pub fn sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions \
                 ORDER BY updated_at DESC, created_at DESC, id"
            ))
            .ctx("listing sessions")?;
        let rows = stmt
            .query_map([], RawSession::read)
            .ctx("listing sessions")?;
        let mut sessions = Vec::new();
        for raw in rows {
            sessions.push(raw.ctx("listing sessions")?.decode()?);
        }
        Ok(sessions)
    }

    /// Stores `policy` (the JSON `oqto-sandbox explain --json` printed) as the sandbox
    /// policy of session `id`, replacing an earlier one. `Err(SessionNotFound)` if absent.
    pub fn set_sandbox_policy(&mut self, id: &SessionId, policy: &str) -> Result<(), StoreError> {
        self.writable()?;
        require_session(&self.conn, id)?;
        self.conn
            .prepare_cached(
                "INSERT INTO session_sandbox (session, policy) VALUES (?1, ?2) \
                 ON CONFLICT (session) DO UPDATE SET policy = excluded.policy",
            )
            .and_then(|mut stmt| stmt.execute(params![id.as_str(), policy]))
            .ctx("storing a sandbox policy")?;
        Ok(())
    }

    /// The sandbox policy stored for session `id`; `None` if none was (also in a read-only
    /// database older than the table).
    pub fn sandbox_policy(&self, id: &SessionId) -> Result<Option<String>, StoreError> {
        let stmt = self
            .conn
            .prepare_cached("SELECT policy FROM session_sandbox WHERE session = ?1");
        let mut stmt = match stmt {
            Ok(stmt) => stmt,
            Err(e) if e.to_string().contains("no such table") => return Ok(None),
            Err(e) => return Err(e).ctx("reading a sandbox policy"),
        };
        stmt.query_row([id.as_str()], |row| row.get(0))
            .optional()
            .ctx("reading a sandbox policy")
    }

    /// Deletes the session with its messages, parts and search index entries (one
    /// statement: `ON DELETE CASCADE` removes the rows, triggers the index entries).
    /// Returns whether the session existed.
    pub fn delete_session(&mut self, id: &SessionId) -> Result<bool, StoreError> {
        self.writable()?;
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM sessions WHERE id = ?1")
            .and_then(|mut stmt| stmt.execute([id.as_str()]))
            .ctx("deleting a session")?;
        Ok(deleted > 0)
    }
}

/// [`Store::insert_session`] on `conn` (a connection or the caller's transaction).
pub(crate) fn insert_session_row(conn: &Connection, s: &SessionRecord) -> Result<(), StoreError> {
    let inserted = SessionParams::new(s)?
        .execute(
            conn,
            "INSERT INTO sessions (id, harness, harness_ref, cwd, title, model_provider, \
             model_id, created_at, updated_at, state, reason, parent, sandbox_profile, \
             last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
             ON CONFLICT (id) DO NOTHING",
        )
        .ctx("inserting a session")?;
    if inserted == 0 {
        return Err(StoreError::SessionExists(s.id.clone()));
    }
    Ok(())
}

/// [`Store::update_session`] on `conn` (a connection or the caller's transaction).
pub(crate) fn update_session_row(conn: &Connection, s: &SessionRecord) -> Result<(), StoreError> {
    let updated = SessionParams::new(s)?
        .execute(
            conn,
            "UPDATE sessions SET harness = ?2, harness_ref = ?3, cwd = ?4, title = ?5, \
             model_provider = ?6, model_id = ?7, created_at = ?8, \
             updated_at = max(updated_at, ?9), state = ?10, reason = ?11, parent = ?12, \
             sandbox_profile = ?13, last_seq = ?14 WHERE id = ?1",
        )
        .ctx("updating a session")?;
    if updated == 0 {
        return Err(StoreError::SessionNotFound(s.id.clone()));
    }
    Ok(())
}

/// Whether the session exists.
pub(crate) fn session_exists(conn: &Connection, id: &SessionId) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)")
        .and_then(|mut stmt| stmt.query_row([id.as_str()], |row| row.get(0)))
        .ctx("looking up a session")
}

/// Fails with `SessionNotFound` unless the session exists.
pub(crate) fn require_session(conn: &Connection, id: &SessionId) -> Result<(), StoreError> {
    if session_exists(conn, id)? {
        Ok(())
    } else {
        Err(StoreError::SessionNotFound(id.clone()))
    }
}

//! The relay's own state, one small `SQLite` file (`<data dir>/relay.db`): login sessions,
//! API tokens, one-time login links and users with their password hashes. Secrets are
//! stored as their SHA-256 only and passwords as argon2id hashes, so a copy of the file
//! lets nobody in. Synchronous: the server calls it from
//! `spawn_blocking`, and `oqto-relay token …` / `oqto-relay link` (what `oqtoctl token`
//! and `oqtoctl web` run) open the same file as the same user; `SQLite`'s locking (WAL, a
//! busy timeout) keeps the two consistent.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// The schema version this build writes (`PRAGMA user_version`).
const VERSION: i64 = 2;

/// Bytes of randomness in a session id, token or login secret (256 bits).
const SECRET_BYTES: usize = 32;

/// Prefix of API tokens, so a leaked one is recognisable in a scan.
pub const TOKEN_PREFIX: &str = "oqto_";

/// The open store.
#[derive(Debug)]
pub struct Store {
    db: Connection,
}

/// An API token as listed (its secret is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used: Option<Millis>,
}

/// How long a login session lives.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Unused for this long, it ends.
    pub idle: Duration,
    /// It ends this long after the login, used or not.
    pub lifetime: Duration,
}

/// A new random secret, hex-encoded (64 characters).
pub fn secret() -> std::io::Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(hex(&bytes))
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Milliseconds since the epoch, as `SQLite` stores integers.
pub type Millis = i64;

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// Now, as stored.
pub fn now_millis() -> Millis {
    Millis::try_from(oqto_protocol::now_millis()).unwrap_or(Millis::MAX)
}

impl Store {
    /// Opens (creating, mode 0600 in a 0700 directory) and migrates the store.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let new = !path.exists();
        let db = Connection::open(path)?;
        if new {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        db.busy_timeout(Duration::from_secs(5))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        let mut store = Self { db };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> rusqlite::Result<()> {
        let version: i64 = self
            .db
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version < 1 {
            let tx = self.db.transaction()?;
            tx.execute_batch(
                "CREATE TABLE sessions (
                     hash TEXT PRIMARY KEY,
                     created_at INTEGER NOT NULL,
                     last_seen INTEGER NOT NULL
                 );
                 CREATE TABLE tokens (
                     id TEXT PRIMARY KEY,
                     name TEXT NOT NULL,
                     hash TEXT NOT NULL UNIQUE,
                     created_at INTEGER NOT NULL,
                     expires_at INTEGER,
                     last_used INTEGER
                 );
                 CREATE TABLE logins (
                     hash TEXT PRIMARY KEY,
                     expires_at INTEGER NOT NULL
                 );",
            )?;
            tx.pragma_update(None, "user_version", 1)?;
            tx.commit()?;
        }
        if version < 2 {
            // Local mode has one user (the Unix account's name); multi-user mode adds more.
            let tx = self.db.transaction()?;
            tx.execute_batch(
                "CREATE TABLE users (
                     name TEXT PRIMARY KEY,
                     password_hash TEXT NOT NULL,
                     created_at INTEGER NOT NULL
                 );",
            )?;
            tx.pragma_update(None, "user_version", VERSION)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Sets (or replaces) `name`'s password hash (a PHC string); true if the user is new.
    pub fn set_password(&self, name: &str, password_hash: &str) -> rusqlite::Result<bool> {
        let changed = self.db.execute(
            "UPDATE users SET password_hash = ?2 WHERE name = ?1",
            params![name, password_hash],
        )?;
        if changed == 1 {
            return Ok(false);
        }
        self.db.execute(
            "INSERT INTO users (name, password_hash, created_at) VALUES (?1, ?2, ?3)",
            params![name, password_hash, now_millis()],
        )?;
        Ok(true)
    }

    /// `name`'s password hash, if the user exists.
    pub fn password_hash(&self, name: &str) -> rusqlite::Result<Option<String>> {
        self.db
            .query_row(
                "SELECT password_hash FROM users WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
    }

    /// Whether any user has a password (else password login is off).
    pub fn has_passwords(&self) -> rusqlite::Result<bool> {
        self.db
            .query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |r| r.get(0))
    }

    /// A one-time login secret valid for `ttl`; returns the secret.
    pub fn create_login(&self, ttl: Duration) -> rusqlite::Result<String> {
        let secret = secret().map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
        let now = now_millis();
        self.db
            .execute("DELETE FROM logins WHERE expires_at <= ?1", params![now])?;
        self.db.execute(
            "INSERT INTO logins (hash, expires_at) VALUES (?1, ?2)",
            params![hash(&secret), now.saturating_add(millis(ttl))],
        )?;
        Ok(secret)
    }

    /// Uses up a login secret: true if it was valid (it is gone either way).
    pub fn take_login(&self, secret: &str) -> rusqlite::Result<bool> {
        let expires: Option<Millis> = self
            .db
            .query_row(
                "DELETE FROM logins WHERE hash = ?1 RETURNING expires_at",
                params![hash(secret)],
                |r| r.get(0),
            )
            .optional()?;
        Ok(expires.is_some_and(|at| at > now_millis()))
    }

    /// A new login session; returns the id to put in the cookie.
    pub fn create_session(&self) -> rusqlite::Result<String> {
        let id = secret().map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
        let now = now_millis();
        self.db.execute(
            "INSERT INTO sessions (hash, created_at, last_seen) VALUES (?1, ?2, ?2)",
            params![hash(&id), now],
        )?;
        Ok(id)
    }

    /// Whether `id` is a live session; a live one is touched, an expired one deleted.
    pub fn check_session(&self, id: &str, limits: SessionLimits) -> rusqlite::Result<bool> {
        let now = now_millis();
        let hashed = hash(id);
        let row: Option<(Millis, Millis)> = self
            .db
            .query_row(
                "SELECT created_at, last_seen FROM sessions WHERE hash = ?1",
                params![hashed],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((created, seen)) = row else {
            return Ok(false);
        };
        if now >= created.saturating_add(millis(limits.lifetime))
            || now >= seen.saturating_add(millis(limits.idle))
        {
            self.db
                .execute("DELETE FROM sessions WHERE hash = ?1", params![hashed])?;
            return Ok(false);
        }
        self.db.execute(
            "UPDATE sessions SET last_seen = ?2 WHERE hash = ?1",
            params![hashed, now],
        )?;
        Ok(true)
    }

    /// Ends a session (logout).
    pub fn delete_session(&self, id: &str) -> rusqlite::Result<()> {
        self.db
            .execute("DELETE FROM sessions WHERE hash = ?1", params![hash(id)])?;
        Ok(())
    }

    /// A new API token; returns its info and the token, which is shown once.
    pub fn create_token(
        &self,
        name: &str,
        expires_in: Option<Duration>,
    ) -> rusqlite::Result<(TokenInfo, String)> {
        let secret = secret().map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
        let token = format!("{TOKEN_PREFIX}{secret}");
        let now = now_millis();
        let info = TokenInfo {
            id: format!("tok_{}", &hash(&token)[..12]),
            name: name.to_owned(),
            created_at: now,
            expires_at: expires_in.map(|d| now.saturating_add(millis(d))),
            last_used: None,
        };
        self.db.execute(
            "INSERT INTO tokens (id, name, hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![info.id, info.name, hash(&token), info.created_at, info.expires_at],
        )?;
        Ok((info, token))
    }

    /// Whether `token` is a live API token (and notes its use).
    pub fn check_token(&self, token: &str) -> rusqlite::Result<bool> {
        let now = now_millis();
        let changed = self.db.execute(
            "UPDATE tokens SET last_used = ?2
             WHERE hash = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
            params![hash(token), now],
        )?;
        Ok(changed == 1)
    }

    /// Every token, oldest first.
    pub fn list_tokens(&self) -> rusqlite::Result<Vec<TokenInfo>> {
        let mut stmt = self.db.prepare(
            "SELECT id, name, created_at, expires_at, last_used FROM tokens
             ORDER BY created_at, id",
        )?;
        stmt.query_map([], |r| {
            Ok(TokenInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                expires_at: r.get(3)?,
                last_used: r.get(4)?,
            })
        })?
        .collect()
    }

    /// Revokes the tokens with this id or name; returns how many.
    pub fn revoke_token(&self, id_or_name: &str) -> rusqlite::Result<usize> {
        self.db.execute(
            "DELETE FROM tokens WHERE id = ?1 OR name = ?1",
            params![id_or_name],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("relay.db")).unwrap();
        (dir, store)
    }

    const LIMITS: SessionLimits = SessionLimits {
        idle: Duration::from_secs(60),
        lifetime: Duration::from_secs(3600),
    };

    #[test]
    fn a_login_secret_works_once() {
        let (_dir, store) = store();
        let secret = store.create_login(Duration::from_secs(60)).unwrap();
        assert!(!store.take_login("nope").unwrap());
        assert!(store.take_login(&secret).unwrap());
        assert!(!store.take_login(&secret).unwrap());
    }

    #[test]
    fn sessions_are_stored_hashed_and_end_at_logout_or_expiry() {
        let (_dir, store) = store();
        let id = store.create_session().unwrap();
        assert_eq!(id.len(), 64);
        let stored: String = store
            .db
            .query_row("SELECT hash FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, id);
        assert!(store.check_session(&id, LIMITS).unwrap());
        let expired = SessionLimits {
            idle: Duration::ZERO,
            lifetime: Duration::from_secs(3600),
        };
        assert!(!store.check_session(&id, expired).unwrap());
        assert!(!store.check_session(&id, LIMITS).unwrap(), "deleted");
        let id = store.create_session().unwrap();
        store.delete_session(&id).unwrap();
        assert!(!store.check_session(&id, LIMITS).unwrap());
    }

    #[test]
    fn passwords_are_set_and_replaced() {
        let (_dir, store) = store();
        assert!(!store.has_passwords().unwrap());
        assert_eq!(store.password_hash("alice").unwrap(), None);
        assert!(store.set_password("alice", "$argon2id$one").unwrap());
        assert!(!store.set_password("alice", "$argon2id$two").unwrap());
        assert!(store.has_passwords().unwrap());
        assert_eq!(
            store.password_hash("alice").unwrap().as_deref(),
            Some("$argon2id$two")
        );
    }

    #[test]
    fn a_version_1_file_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        {
            let db = Connection::open(&path).unwrap();
            db.execute_batch(
                "CREATE TABLE sessions (hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL);
                 CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, expires_at INTEGER, last_used INTEGER);
                 CREATE TABLE logins (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert!(store.set_password("alice", "$argon2id$x").unwrap());
        let version: i64 = store
            .db
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
    }

    #[test]
    fn tokens_expire_and_revoke() {
        let (_dir, store) = store();
        let (info, token) = store.create_token("laptop", None).unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert!(store.check_token(&token).unwrap());
        assert!(!store.check_token("oqto_wrong").unwrap());
        let (_, expired) = store.create_token("old", Some(Duration::ZERO)).unwrap();
        assert!(!store.check_token(&expired).unwrap());
        assert_eq!(store.list_tokens().unwrap().len(), 2);
        assert_eq!(store.revoke_token(&info.id).unwrap(), 1);
        assert!(!store.check_token(&token).unwrap());
        assert_eq!(store.revoke_token("old").unwrap(), 1);
        assert!(store.list_tokens().unwrap().is_empty());
    }
}

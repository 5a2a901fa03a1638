//! Passwords: argon2id hashes in PHC form (`$argon2id$v=19$m=19456,t=2,p=1$…`), made by
//! `oqto-relay password` and checked by `POST /login`; and reading a new one from a
//! terminal (twice, without echo) or from stdin (one line).

use std::io::{BufRead, IsTerminal as _, Write};
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The shortest password `oqto-relay password` takes.
pub const MIN_LEN: usize = 8;
/// The longest (argon2 takes any length; this bounds the work of a login request).
pub const MAX_LEN: usize = 1024;

/// argon2id with the parameters OWASP recommends (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// The PHC string of `password`, with a fresh random salt.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no random salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hashed = hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?;
    Ok(hashed.to_string())
}

/// The hash an unknown name is checked against.
fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash("not a password of anyone").unwrap_or_default())
}

/// Makes the dummy hash now (at start), so that not even the first login with an unknown
/// name takes longer than one with a known name.
pub fn prepare() {
    dummy();
}

/// Whether `password` matches `stored` (compared in constant time by argon2). With no
/// stored hash (no such user) a dummy hash is checked all the same, so the answer takes as
/// long either way and does not tell whether the name exists.
pub fn verify(stored: Option<&str>, password: &str) -> bool {
    let dummy = dummy();
    let (phc, real) = match stored {
        Some(phc) => (phc, true),
        None => (dummy, false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        tracing::error!("a stored password hash does not parse");
        return false;
    };
    let ok = hasher()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// Why a new password was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the passwords differ")]
    Differ,
    #[error("a password needs at least {MIN_LEN} characters")]
    TooShort,
    #[error("a password has at most {MAX_LEN} bytes")]
    TooLong,
    #[error("no password on stdin")]
    Empty,
    #[error("reading the password: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a new password: from the terminal twice without echo when stdin is one, else the
/// first line of stdin.
pub fn read_new(prompt_to: &mut dyn Write) -> Result<String, ReadError> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = read_hidden(prompt_to, "New password: ")?;
        check(&first)?;
        let second = read_hidden(prompt_to, "Again: ")?;
        if first != second {
            return Err(ReadError::Differ);
        }
        first
    } else {
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            return Err(ReadError::Empty);
        }
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    check(&password)?;
    Ok(password)
}

fn check(password: &str) -> Result<(), ReadError> {
    if password.chars().count() < MIN_LEN {
        Err(ReadError::TooShort)
    } else if password.len() > MAX_LEN {
        Err(ReadError::TooLong)
    } else {
        Ok(())
    }
}

/// One line from the terminal on stdin with echo off (restored afterwards).
fn read_hidden(prompt_to: &mut dyn Write, prompt: &str) -> std::io::Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    write!(prompt_to, "{prompt}")?;
    prompt_to.flush()?;
    let saved = tcgetattr(&stdin).map_err(std::io::Error::from)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(std::io::Error::from)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let restored = tcsetattr(&stdin, SetArg::TCSANOW, &saved).map_err(std::io::Error::from);
    read?;
    restored?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_and_verifies_only_its_password() {
        let phc = hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_ne!(phc, hash("correct horse").unwrap(), "salted");
        assert!(verify(Some(&phc), "correct horse"));
        assert!(!verify(Some(&phc), "correct horsE"));
        assert!(!verify(None, "correct horse"));
        assert!(!verify(Some("not a phc string"), "x"));
    }

    #[test]
    fn short_and_long_passwords_are_refused() {
        assert!(matches!(check("short"), Err(ReadError::TooShort)));
        assert!(matches!(
            check(&"x".repeat(MAX_LEN + 1)),
            Err(ReadError::TooLong)
        ));
        assert!(check("long enough").is_ok());
    }
}

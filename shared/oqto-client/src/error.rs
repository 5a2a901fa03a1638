//! The one error type of the client, carrying the protocol's `code` when the server gave
//! one. Callers map it to what they need (`oqtoctl` to exit codes, the relay to a channel
//! error).

use std::io;
use std::path::PathBuf;

use oqto_protocol::{ErrorCode, ErrorResponse};

/// Why a call to a server failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an `error` line (a request's, or the handshake's).
    #[error("{} ({})", .0.message, .0.code)]
    Reply(ErrorResponse),
    /// Nobody listens on the socket: no socket file, or a stale one.
    #[error("no server answers on {}: {source}", socket.display())]
    Absent {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The socket exists but refused us, or connecting failed for another reason.
    #[error("cannot connect to {}: {source}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The connection ended: `None` at a clean end of stream, else why.
    #[error("{}", closed_text(.0.as_deref()))]
    Closed(Option<String>),
    /// The first lines were not a well-formed handshake.
    #[error("handshake: {0}")]
    Handshake(String),
    /// A runner could not be started on demand; `log` is where it wrote why.
    #[error("{message}")]
    Start {
        message: String,
        log: Option<PathBuf>,
    },
    /// A program of the toolkit was not found.
    #[error("cannot find {program} next to this program or on PATH")]
    NotFound { program: String },
    /// A relay URL that cannot be used.
    #[error("bad relay URL {url}: {why}")]
    BadUrl { url: String, why: String },
    /// An API token that cannot be sent.
    #[error("bad token: {0}")]
    BadToken(String),
    /// The extra CA file for a relay could not be read.
    #[error("CA file {}: {why}", path.display())]
    BadCa { path: PathBuf, why: String },
    /// No relay answered at the URL (refused, unresolvable, TLS failed, timed out).
    #[error("cannot reach the relay at {url}: {why}")]
    Unreachable { url: String, why: String },
    /// The relay refused the WebSocket with an HTTP status (403: no valid token, or a
    /// foreign origin), and the reason it gave.
    #[error("the relay at {url} refused the connection (HTTP {status}){}", refusal_text(.message))]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    /// Local I/O around the connection (lock files, logs).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn closed_text(why: Option<&str>) -> String {
    match why {
        Some(why) => format!("lost the connection: {why}"),
        None => "the server closed the connection".to_owned(),
    }
}

fn refusal_text(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl Error {
    /// The protocol's error code, when the server answered with one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Reply(err) => Some(&err.code),
            _ => None,
        }
    }

    /// Whether nobody listens (so starting a server may help).
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::Absent { .. })
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// Sorts a failed `connect` into [`Error::Absent`] or [`Error::Connect`].
    pub(crate) fn connecting(socket: &std::path::Path, source: io::Error) -> Self {
        let socket = socket.to_path_buf();
        match source.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                Self::Absent { socket, source }
            }
            _ => Self::Connect { socket, source },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_error_keeps_its_code_and_says_it() {
        let err = Error::Reply(ErrorResponse::new(
            None,
            ErrorCode::SessionNotFound,
            "no session ses_x",
        ));
        assert_eq!(err.code(), Some(&ErrorCode::SessionNotFound));
        assert_eq!(err.to_string(), "no session ses_x (session_not_found)");
    }

    #[test]
    fn a_missing_or_stale_socket_is_absent_and_a_refusal_is_not() {
        let path = std::path::Path::new("/run/x.sock");
        let absent = Error::connecting(path, io::ErrorKind::NotFound.into());
        let stale = Error::connecting(path, io::ErrorKind::ConnectionRefused.into());
        let denied = Error::connecting(path, io::ErrorKind::PermissionDenied.into());
        assert!(absent.is_absent() && stale.is_absent());
        assert!(!denied.is_absent());
        assert!(denied.code().is_none());
        assert!(
            denied
                .to_string()
                .starts_with("cannot connect to /run/x.sock")
        );
    }
}

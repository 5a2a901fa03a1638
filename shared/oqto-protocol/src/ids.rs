//! Newtype identifiers. The runner assigns session, message and part ids when it first
//! sees the thing; they never change afterwards. Request ids are chosen by clients.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps an existing id string.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

id_type!(
    /// A session, e.g. `ses_0195f3a2c1d04e7b`.
    SessionId
);
id_type!(
    /// A message within a session, e.g. `msg_0195f3a2c1d04e7b`.
    MessageId
);
id_type!(
    /// A part within a message, e.g. `prt_0195f3a2c1d04e7b`.
    PartId
);
id_type!(
    /// A terminal the runner owns, e.g. `term_0195f3a2c1d0_1`. Never reused, also not
    /// by a later runner: an id from before a restart names nothing.
    TerminalId
);
id_type!(
    /// A client-chosen request id, echoed in the one response to that request.
    RequestId
);
id_type!(
    /// A client-chosen id of one send (`prompt`, `steer`, `follow_up`), e.g. a UUID: a
    /// repeat with the same id in the same session gets the first answer and is not carried
    /// out again. 1 to [`MAX_CLIENT_MSG_ID_BYTES`] bytes, no control characters.
    ClientMsgId
);

/// The longest `client_msg_id` the runner accepts, in bytes (a UUID has 36).
pub const MAX_CLIENT_MSG_ID_BYTES: usize = 128;

impl ClientMsgId {
    /// Why this id is not acceptable, if it is not: empty, longer than
    /// [`MAX_CLIENT_MSG_ID_BYTES`], or holding a control character.
    pub fn problem(&self) -> Option<String> {
        if self.0.is_empty() {
            Some("`client_msg_id` is empty".into())
        } else if self.0.len() > MAX_CLIENT_MSG_ID_BYTES {
            Some(format!(
                "`client_msg_id` is {} bytes long; at most {MAX_CLIENT_MSG_ID_BYTES} are allowed",
                self.0.len()
            ))
        } else if self.0.chars().any(char::is_control) {
            Some("`client_msg_id` holds a control character".into())
        } else {
            None
        }
    }
}

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = u64;

/// The current time as [`Millis`] (0 if the clock is before the epoch). Every program
/// stamps times with this one function, so `ts` and `created_at` always mean the same.
pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Per-session event sequence number: starts at 1, grows by exactly 1 per event.
pub type Seq = u64;

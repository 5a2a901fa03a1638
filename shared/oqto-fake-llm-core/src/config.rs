//! How the server answers.

use std::path::PathBuf;
use std::time::Duration;

/// How the server answers. Everything that is not the listening socket or the shutdown signal.
#[derive(Clone, Debug)]
pub struct Config {
    /// Pause before each streamed delta of a normal reply.
    pub delay: Duration,
    /// Pause before each word of a `slow` reply.
    pub slow_delay: Duration,
    /// Append each chat-completion request body here, one JSON object per line.
    pub request_log: Option<PathBuf>,
}

impl Default for Config {
    /// No delay, 50 ms per `slow` word, no request log.
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            slow_delay: Duration::from_millis(50),
            request_log: None,
        }
    }
}

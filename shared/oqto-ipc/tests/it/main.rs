//! Integration tests for `oqto-ipc`: real sockets, real processes.

mod framing;
mod socket;
mod spawn;

use std::time::{Duration, Instant};

/// How long any condition may take before a test fails.
const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `cond` until it holds; panics naming `what` after [`DEADLINE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

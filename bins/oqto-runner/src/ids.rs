//! [`RunnerIds`]: the ids the runner assigns to sessions, messages and parts.
//!
//! An id is a prefix (`ses_`, `msg_`, `prt_`) and 16 lowercase hex digits: 48 bits of
//! milliseconds since the Unix epoch, then a 16-bit counter within that millisecond. Ids
//! therefore sort (as strings) by creation time. Every id is strictly greater than the one
//! before it: when the clock stands still or goes backwards, the value just counts up from
//! the last one (a counter overflowing its 16 bits borrows from the next millisecond), so
//! no id repeats within a process.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use oqto_protocol::{MessageId, Millis, PartId, SessionId};

use crate::harness::IdSource;

/// Bits of the counter below the milliseconds.
const COUNTER_BITS: u32 = 16;

/// The milliseconds part keeps 48 bits (enough until the year 10889).
const MILLIS_MASK: u64 = (1 << 48) - 1;

type Clock = Box<dyn Fn() -> Millis + Send + Sync>;

/// The production [`IdSource`]: time-ordered ids that never repeat within a process.
///
/// Every [`RunnerIds::new`] shares one process-wide last value, so ids from any number of
/// them (one per session) are unique and ordered together. Cloning is cheap.
#[derive(Clone)]
pub struct RunnerIds {
    clock: Arc<Clock>,
    last: Arc<AtomicU64>,
}

impl fmt::Debug for RunnerIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnerIds")
            .field(
                "last",
                &format_args!("{:016x}", self.last.load(Ordering::Relaxed)),
            )
            .finish_non_exhaustive()
    }
}

impl Default for RunnerIds {
    fn default() -> Self {
        Self::new()
    }
}

impl RunnerIds {
    /// Ids from the system clock, unique across the whole process.
    pub fn new() -> Self {
        static LAST: OnceLock<Arc<AtomicU64>> = OnceLock::new();
        Self {
            clock: Arc::new(Box::new(system_millis)),
            last: Arc::clone(LAST.get_or_init(|| Arc::new(AtomicU64::new(0)))),
        }
    }

    /// Ids from `clock` (milliseconds since the epoch), with their own last value: for tests.
    pub fn with_clock(clock: impl Fn() -> Millis + Send + Sync + 'static) -> Self {
        Self {
            clock: Arc::new(Box::new(clock)),
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A new session id, `ses_` + 16 hex digits.
    pub fn session_id(&self) -> SessionId {
        SessionId(self.next("ses_"))
    }

    /// The next value: the clock's, or one more than the last when that is not greater.
    fn next_value(&self) -> u64 {
        let now = ((self.clock)() & MILLIS_MASK) << COUNTER_BITS;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let value = now.max(last.wrapping_add(1));
            match self
                .last
                .compare_exchange_weak(last, value, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return value,
                Err(actual) => last = actual,
            }
        }
    }

    fn next(&self, prefix: &str) -> String {
        format!("{prefix}{:016x}", self.next_value())
    }
}

impl IdSource for RunnerIds {
    fn message_id(&mut self) -> MessageId {
        MessageId(self.next("msg_"))
    }

    fn part_id(&mut self) -> PartId {
        PartId(self.next("prt_"))
    }
}

/// Milliseconds since the Unix epoch; 0 for a clock set before 1970 (ids stay monotonic).
fn system_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn is_id(id: &str, prefix: &str) -> bool {
        id.len() == prefix.len() + 16
            && id.starts_with(prefix)
            && id[prefix.len()..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn prefixes_and_length() {
        let mut ids = RunnerIds::new();
        let session = ids.session_id();
        let message = ids.message_id();
        let part = ids.part_id();
        assert!(is_id(session.as_str(), "ses_"), "{session}");
        assert!(is_id(message.as_str(), "msg_"), "{message}");
        assert!(is_id(part.as_str(), "prt_"), "{part}");
    }

    #[test]
    fn leading_digits_are_the_clock() {
        let mut ids = RunnerIds::with_clock(|| 0x0195_f3a2_c1d0);
        assert_eq!(ids.message_id().as_str(), "msg_0195f3a2c1d00000");
        assert_eq!(ids.message_id().as_str(), "msg_0195f3a2c1d00001");
        assert_eq!(ids.session_id().as_str(), "ses_0195f3a2c1d00002");
    }

    #[test]
    fn strictly_increasing_and_unique_over_100k() {
        let mut ids = RunnerIds::new();
        let all: Vec<String> = (0..100_000).map(|_| ids.part_id().0).collect();
        for pair in all.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }

    #[test]
    fn instances_share_the_process_counter() {
        let mut a = RunnerIds::new();
        let mut b = RunnerIds::new();
        let mut all = Vec::new();
        for _ in 0..1000 {
            all.push(a.message_id().0);
            all.push(b.message_id().0);
        }
        for pair in all.windows(2) {
            assert!(pair[0][4..] < pair[1][4..], "{} !< {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn monotonic_when_the_clock_goes_backwards() {
        let now = Arc::new(AtomicU64::new(1_700_000_000_000));
        let clock = Arc::clone(&now);
        let mut ids = RunnerIds::with_clock(move || clock.load(Ordering::Relaxed));
        let mut all = vec![ids.message_id().0, ids.message_id().0];
        now.store(1_600_000_000_000, Ordering::Relaxed);
        all.extend((0..5).map(|_| ids.message_id().0));
        now.store(1_700_000_000_005, Ordering::Relaxed);
        all.push(ids.message_id().0);
        now.store(0, Ordering::Relaxed);
        all.push(ids.message_id().0);
        for pair in all.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
        // The forward jump is taken: the id is the new clock's, not just last + 1.
        assert_eq!(all[7], format!("msg_{:016x}", 1_700_000_000_005_u64 << 16));
    }

    #[test]
    fn counter_overflow_rolls_into_the_next_millisecond() {
        let mut ids = RunnerIds::with_clock(|| 7);
        let all: Vec<String> = (0..70_000).map(|_| ids.part_id().0).collect();
        assert_eq!(all[65_535], "prt_000000000007ffff");
        assert_eq!(all[65_536], "prt_0000000000080000");
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
    }
}

//! Fixtures shared by the crate's unit tests.

use oqto_protocol::{SessionId, State};

use crate::SessionRecord;

/// An idle pi session in `/w`, created and updated at time 1.
pub fn session(id: &str) -> SessionRecord {
    SessionRecord {
        id: SessionId::new(id),
        harness: "pi".into(),
        harness_ref: None,
        cwd: "/w".into(),
        title: None,
        model: None,
        created_at: 1,
        updated_at: 1,
        state: State::Idle,
        reason: None,
        parent: None,
        sandbox_profile: None,
        last_seq: 0,
    }
}

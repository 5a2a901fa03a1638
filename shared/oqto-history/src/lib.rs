//! The Oqto history store: each user's sessions, their messages, and full-text search over
//! them, in one `SQLite` file.
//!
//! [`Store`] is synchronous and owns one connection; the runner keeps it on a dedicated
//! thread. Messages are the protocol's [`Message`](oqto_protocol::Message) and read back
//! exactly as written. Every error maps to a protocol error code
//! ([`StoreError::code`]).
//!
//! ```
//! use oqto_history::{SessionRecord, Store};
//! use oqto_protocol::{Message, Part, PartId, Role, SearchFilters, SessionId, State, MessageId};
//!
//! let mut store = Store::open_in_memory()?;
//! let session = SessionId::new("ses_1");
//! store.insert_session(&SessionRecord {
//!     id: session.clone(),
//!     harness: "pi".into(),
//!     harness_ref: None,
//!     cwd: "/home/ada/proj".into(),
//!     title: None,
//!     model: None,
//!     created_at: 1,
//!     updated_at: 1,
//!     state: State::Idle,
//!     reason: None,
//!     parent: None,
//!     sandbox_profile: None,
//!     last_seq: 0,
//! })?;
//! store.put_message(
//!     &Message {
//!         id: MessageId::new("msg_1"),
//!         session: session.clone(),
//!         role: Role::User,
//!         parts: vec![Part::Text { id: PartId::new("prt_1"), text: "why is src/main.rs slow?".into() }],
//!         created_at: 2,
//!         model: None,
//!         usage: None,
//!         stop_reason: None,
//!         client_msg_id: None,
//!     },
//!     Some(7),
//! )?;
//! let page = store.messages(&session, None, 50)?;
//! assert_eq!(page.messages.len(), 1);
//! let hits = store.search("src/main.rs", &SearchFilters::default(), None)?;
//! assert_eq!(hits[0].snippet, "why is [src/main.rs] slow?");
//! # Ok::<(), oqto_history::StoreError>(())
//! ```
//!
//! [`import`] stores conversations a harness kept on its own (pi's session files),
//! idempotently and without writing to them.
//!
//! `docs/history.md` describes the schema, the write path, paging, the search syntax, the
//! import of pi sessions and the limits.

mod audit;
mod codec;
mod error;
pub mod import;
mod indexed;
mod messages;
mod query;
mod schema;
mod search;
mod sessions;
mod store;
mod writer;

#[cfg(test)]
mod test_support;

pub use audit::{AuditFilter, MAX_AUDIT_PAGE};
pub use error::StoreError;
pub use indexed::{MAX_INDEXED_PART_BYTES, MAX_INDEXED_TOOL_OUTPUT_BYTES};
pub use messages::{MAX_PAGE, Page};
pub use query::{MAX_QUERY_BYTES, MAX_QUERY_DEPTH, MAX_QUERY_TERMS};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use search::{
    DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT, RANKED_CANDIDATES, SNIPPET_CLOSE, SNIPPET_ELLIPSIS,
    SNIPPET_OPEN,
};
pub use sessions::SessionRecord;
pub use store::Store;

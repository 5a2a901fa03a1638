//! The client of Oqto's servers, shared by `oqtoctl` and the relay.
//!
//! - [`Client`]: one greeted connection to `oqto-runner`: requests correlated with their
//!   replies by id, events in between ([`Incoming`]), subscriptions that resume after a
//!   seq ([`Client::subscribe`]).
//! - [`Runner`]: where the runner's socket is (resolved by `oqto-config`, as the runner
//!   resolves it), starting one on demand, and reconnecting after it went away.
//! - [`RawClient`]: lines in, lines out, ids kept: for forwarding without decoding each
//!   event.
//! - [`Relay`]: the same [`Client`] through an `oqto-relay`'s WebSocket (`agent` channel),
//!   authenticated with an API token, over `ws://` or `wss://` (rustls).
//! - [`FilesClient`]: one greeted connection to `oqto-files`: requests, `data` frames with
//!   their raw bytes ([`FilesClient::read`]), uploads in raw chunks, search and watch lines.
//!
//! Every failure is an [`Error`], which carries the protocol's `code` when a server sent
//! one; the caller names itself in the handshake (`oqtoctl/0.1.0`, `oqto-relay/0.1.0`).

mod error;
mod files;
mod inbox;
mod ondemand;
mod raw;
mod relay;
mod runner;
mod send_id;

pub use error::Error;
pub use files::{FilesClient, FilesIncoming, ReadFile};
pub use ondemand::{RUNNER_BIN_VAR, Runner, log_tail, runner_bin, sibling_bin};
pub use raw::{RawClient, RawReceiver, RawSender};
pub use relay::{RELAY_CA_VAR, Relay, ws_url};
pub use runner::{Client, Incoming};
pub use send_id::new_client_msg_id;

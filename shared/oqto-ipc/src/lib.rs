//! The transport layer every Oqto program uses.
//!
//! - [`framing`]: JSON lines with a maximum length, blocking and async, and the error reply
//!   for a bad line;
//! - [`socket`]: a private socket directory, binding with stale-socket detection, peer
//!   credentials;
//! - [`spawn`]: the one place processes are started (explicit environment, own process
//!   group) and stopped (the whole tree, `setsid` descendants included).
//!
//! Linux only: process trees are read from `/proc`.

pub mod framing;
pub mod socket;
pub mod spawn;

pub use framing::{
    AsyncLineReader, AsyncLineWriter, DEFAULT_MAX_LINE, FrameError, LineReader, LineWriter,
    closes_connection, reply_for,
};
pub use socket::{BindError, PeerCred};
pub use spawn::{Spawn, exit_code_of, terminate, terminate_blocking};

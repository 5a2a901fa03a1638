//! The transport layer every Oqto program uses.
//!
//! - [`framing`]: JSON lines with a maximum length and raw byte frames (a header line, then
//!   exactly the bytes it announces), blocking and async; bad lines are [`FrameError`]s for
//!   the caller to answer in its protocol's terms;
//! - [`queue`]: one writer thread draining a bounded queue of lines and raw frames (file
//!   ranges by `sendfile`), for servers built on threads;
//! - [`socket`]: a private socket directory, binding with stale-socket detection, peer
//!   credentials, and the one access policy for peers ([`socket::Access`]);
//! - [`spawn`]: the one place processes are started (explicit environment, own process
//!   group) and stopped (the whole tree, `setsid` descendants included);
//! - [`pty`]: starting a child on a new pseudo-terminal ([`Spawn::spawn_pty`]) and the
//!   terminal's master side under tokio ([`pty::Pty`]).
//!
//! Linux only: process trees and peer groups are read from `/proc`.

pub mod framing;
pub mod pty;
pub mod queue;
pub mod socket;
pub mod spawn;

pub use framing::{
    AsyncLineReader, AsyncLineWriter, DEFAULT_MAX_LINE, FrameError, LineReader, LineWriter,
};
pub use socket::{Access, BindError, PeerCred};
pub use spawn::{Spawn, exit_code_of, terminate, terminate_blocking};

//! pi (`pi --mode rpc`) stdout → Oqto's canonical events.
//!
//! Pure and synchronous: [`parse_line`] (crate `oqto-pi`, which holds pi's wire types and
//! their mapping to parts) reads one stdout line into a [`PiLine`], and a
//! [`Translator`] (one per session) turns lines into [`Out`]s: canonical [`EventKind`]s,
//! title changes and command responses. The session actor owns the process, stamps events
//! with `session`/`seq`/`ts`, and calls [`Translator::flush_idle`] when pi has been quiet for
//! a grace period after `agent_end` (see [`Translator`] for that contract).
//!
//! Streaming follows pi's `delta` fields only, never the `partial`/`message` snapshots pi
//! repeats in every `message_update` (they are serialized late and can run ahead of the
//! deltas). Final content comes from `*_end` and `message_end`.
//!
//! [`EventKind`]: oqto_protocol::EventKind
//! [`parse_line`]: oqto_pi::parse_line
//! [`PiLine`]: oqto_pi::PiLine

mod translate;

#[cfg(test)]
mod agree;
#[cfg(test)]
mod capture;
#[cfg(test)]
mod tests;

pub use translate::{CountingIds, IdSource, Out, Translator};

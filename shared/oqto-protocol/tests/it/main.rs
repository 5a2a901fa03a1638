//! Integration tests of the wire protocol: the golden files in `tests/data/` (round trip and
//! coverage), decoding of malformed input, and the sync between the golden files and
//! `docs/protocol.md`.

mod coverage;
mod decode_errors;
mod docs;
mod files;
mod golden;
mod support;

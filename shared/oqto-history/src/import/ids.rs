//! Deterministic ids for imported sessions, messages and parts.
//!
//! An imported id has the runner's format (`ses_`, `msg_` or `prt_` and 16 lowercase hex
//! digits) but its digits are a 64-bit FNV-1a hash of a key naming what the id is for, so
//! importing the same file again yields the same ids. The keys are
//!
//! - session: `<source>\0session\0<session uuid>`
//! - message: `<source>\0message\0<session uuid>\0<entry id>`
//! - part: `<source>\0part\0<session uuid>\0<entry id>\0<part index>` (index in decimal)
//!
//! where `<source>` is the harness (`pi`). The `\0` separators keep keys of different
//! shapes apart (an entry id cannot contain a NUL). Runner ids start with 48 bits of
//! milliseconds; a hash lands on one of them, or two keys on one hash, with a probability
//! of about `n² / 2⁶⁵` for `n` ids, which is negligible for any history.

use oqto_protocol::{MessageId, PartId, SessionId};

/// FNV-1a, 64-bit: offset basis `0xcbf29ce484222325`, prime `0x100000001b3`.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// `<prefix><16 hex digits of the hash of the NUL-joined key fields>`.
fn derive(prefix: &str, fields: &[&str]) -> String {
    format!("{prefix}{:016x}", fnv1a64(fields.join("\0").as_bytes()))
}

/// The session id of the harness session `uuid`.
pub(crate) fn session_id(source: &str, uuid: &str) -> SessionId {
    SessionId(derive("ses_", &[source, "session", uuid]))
}

/// The id of the message made from entry `entry` of session `uuid`.
pub(crate) fn message_id(source: &str, uuid: &str, entry: &str) -> MessageId {
    MessageId(derive("msg_", &[source, "message", uuid, entry]))
}

/// The id of part `index` of the message made from entry `entry` of session `uuid`.
pub(crate) fn part_id(source: &str, uuid: &str, entry: &str, index: usize) -> PartId {
    PartId(derive(
        "prt_",
        &[source, "part", uuid, entry, &index.to_string()],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published FNV-1a 64 test vectors.
    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn ids_have_the_runner_format_and_are_stable() {
        let uuid = "01a20e00-562e-707f-82cc-4832f7e367ff";
        let s = session_id("pi", uuid);
        let m = message_id("pi", uuid, "d0308ed6");
        let p = part_id("pi", uuid, "d0308ed6", 0);
        for (id, prefix) in [
            (s.as_str(), "ses_"),
            (m.as_str(), "msg_"),
            (p.as_str(), "prt_"),
        ] {
            assert_eq!(id.len(), 20, "{id}");
            assert!(id.starts_with(prefix), "{id}");
            assert!(
                id[4..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
        }
        assert_eq!(s, session_id("pi", uuid));
        assert_eq!(
            s.as_str(),
            format!(
                "ses_{:016x}",
                fnv1a64(format!("pi\0session\0{uuid}").as_bytes())
            )
        );
        assert_ne!(part_id("pi", uuid, "d0308ed6", 1), p);
        assert_ne!(message_id("pi", uuid, "a33f2747"), m);
        // The same entry id in another session is another message.
        assert_ne!(message_id("pi", "another-uuid", "d0308ed6"), m);
    }
}

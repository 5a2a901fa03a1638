//! Fresh `client_msg_id`s for the sends a client makes.

use std::fmt::Write as _;

use oqto_protocol::ClientMsgId;

/// A new random `client_msg_id`: a version 4 UUID (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`)
/// from the OS's random source. Put on a `prompt`, `steer` or `follow_up`, and on every
/// retry of that send, it makes the runner carry the send out once.
pub fn new_client_msg_id() -> std::io::Result<ClientMsgId> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| std::io::Error::other(format!("reading random bytes: {e}")))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut hex = String::with_capacity(32);
    for b in bytes {
        let _ = write!(hex, "{b:02x}");
    }
    Ok(ClientMsgId(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )))
}

#[cfg(test)]
mod tests {
    use super::new_client_msg_id;

    #[test]
    fn ids_are_version_4_uuids_and_differ() {
        let a = new_client_msg_id().unwrap();
        let b = new_client_msg_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 36);
        assert_eq!(a.as_str().as_bytes()[14], b'4');
        assert!(matches!(
            a.as_str().as_bytes()[19],
            b'8' | b'9' | b'a' | b'b'
        ));
        assert!(a.problem().is_none());
    }
}

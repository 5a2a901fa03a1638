//! Where a running relay announces itself: `relay.json` next to the runner's socket
//! (`$XDG_RUNTIME_DIR/oqto/relay.json`), written by `oqto-relay` (mode 0600) and read by
//! `oqto-relay link` and `oqtoctl doctor`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name, in the runner socket's directory.
pub const RELAY_STATE_FILE: &str = "relay.json";

/// The contents of `relay.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RelayAnnouncement {
    /// `http://ADDR:PORT` (`https://` under built-in TLS), as the relay listens.
    pub url: String,
    pub pid: u32,
    /// The first one-time login link (used up once opened).
    pub login_url: String,
    /// Under built-in TLS: the certificate file it serves (`oqtoctl doctor` checks that
    /// the relay presents it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The origins a WebSocket may come from besides the relay's own (`allowed_origins`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
}

/// `relay.json` for the runner socket `socket`.
pub fn relay_state_file(socket: &Path) -> PathBuf {
    socket.parent().map_or_else(
        || PathBuf::from(RELAY_STATE_FILE),
        |d| d.join(RELAY_STATE_FILE),
    )
}

/// The announcement in `path`, if readable.
pub fn read_relay_state(path: &Path) -> Option<RelayAnnouncement> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// The running relay's announcement: `None` when there is none or its process is gone.
pub fn running_relay(path: &Path) -> Option<RelayAnnouncement> {
    let announcement = read_relay_state(path)?;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(announcement.pid).ok()?);
    nix::sys::signal::kill(pid, None).ok()?;
    Some(announcement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_sits_next_to_the_socket_and_a_dead_pid_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = relay_state_file(&dir.path().join("runner.sock"));
        assert_eq!(path, dir.path().join("relay.json"));
        assert!(running_relay(&path).is_none());
        let me = RelayAnnouncement {
            url: "http://127.0.0.1:8420".into(),
            pid: std::process::id(),
            login_url: "http://127.0.0.1:8420/login?token=x".into(),
            tls_cert: None,
            allowed_origins: Vec::new(),
        };
        // Files of relays from before the optional fields still read.
        let old: RelayAnnouncement =
            serde_json::from_str(r#"{"url":"http://x","pid":1,"login_url":"http://x/login"}"#)
                .unwrap();
        assert!(old.tls_cert.is_none() && old.allowed_origins.is_empty());
        std::fs::write(&path, serde_json::to_string(&me).unwrap()).unwrap();
        assert_eq!(running_relay(&path), Some(me.clone()));
        let gone = RelayAnnouncement {
            pid: i32::MAX as u32,
            ..me
        };
        std::fs::write(&path, serde_json::to_string(&gone).unwrap()).unwrap();
        assert!(running_relay(&path).is_none());
    }
}

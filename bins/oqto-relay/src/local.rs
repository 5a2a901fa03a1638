//! Local mode's announcement: `relay.json` beside the runner's socket
//! (`$XDG_RUNTIME_DIR/oqto/relay.json`), mode 0600, naming the relay's URL, pid and first
//! login link (and, for `oqtoctl doctor`, its TLS certificate and extra origins).
//! `oqto-relay link` (what `oqtoctl web` runs) reads it to find the running relay.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

pub use oqto_config::{
    RelayAnnouncement as Announcement, read_relay_state as read, running_relay as running,
};

/// A written `relay.json`, removed by [`StateFile::remove`] if it is still ours.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn write(
        path: &Path,
        url: &str,
        login_url: &str,
        config: &crate::RelayConfig,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        let announcement = Announcement {
            url: url.to_owned(),
            pid: std::process::id(),
            login_url: login_url.to_owned(),
            tls_cert: config.tls.as_ref().map(|t| t.cert.clone()),
            allowed_origins: config.allowed_origins.clone(),
        };
        // Written whole to a temporary name, then renamed: a reader never sees half.
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        let text = serde_json::to_string(&announcement)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
        })
    }

    /// Removes the file unless another relay has written its own since.
    pub fn remove(self) {
        if read(&self.path).is_some_and(|a| a.pid == std::process::id()) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

//! Running the fake LLM inside another program, and pointing a pi at it.
//!
//! Tests of other crates (the runner's pi adapter, `oqtoctl`'s demo mode) need the server
//! on a loopback port for as long as a value lives, and a private pi agent directory that
//! names it. Both live here so every user gets the same setup.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use crate::{Config, DEFAULT_MODEL, PROVIDER, base_url, pi_models_json};

/// The fake LLM serving on `127.0.0.1:<free port>` from its own tokio runtime, until
/// [`Background::stop`] or drop.
#[derive(Debug)]
pub struct Background {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    runtime: tokio::runtime::Runtime,
}

impl Background {
    /// Binds `127.0.0.1:0` and starts serving with `config`.
    pub fn start(config: Config) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the fake LLM's runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(crate::serve(listener, config, async {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            stop: Some(tx),
            task: Some(task),
            runtime,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        base_url(self.addr)
    }

    /// Stops serving and waits up to `deadline` for the server to finish, returning what
    /// `serve` returned.
    pub fn stop(mut self, deadline: Duration) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        self.runtime
            .block_on(async { tokio::time::timeout(deadline, task).await })
            .context("the fake LLM did not stop in time")?
            .context("the fake LLM's task panicked")?
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// pi's `settings.json` for the demo provider: the default model, and retries that are
/// quick and visible (`auto_retry_*` events) because the provider SDK's own hidden retries
/// are off.
pub fn pi_settings_json() -> serde_json::Value {
    serde_json::json!({
        "defaultProvider": PROVIDER,
        "defaultModel": DEFAULT_MODEL,
        "retry": {"enabled": true, "baseDelayMs": 200, "maxRetries": 2, "provider": {"maxRetries": 0}},
    })
}

/// Creates `dir` as a private pi agent directory (`PI_CODING_AGENT_DIR`) whose
/// `models.json` points the `demo` provider at `base_url` and whose `settings.json` is
/// [`pi_settings_json`]. The user's own pi configuration is never touched.
pub fn write_pi_agent_dir(dir: &Path, base_url: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("models.json"),
        pi_models_json(base_url).to_string(),
    )?;
    std::fs::write(dir.join("settings.json"), pi_settings_json().to_string())
}

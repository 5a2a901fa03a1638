//! What every session actor and connection shares: configuration, the store, id source,
//! and the runner-wide limits.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use oqto_protocol::SessionId;
pub use oqto_protocol::now_millis;
use tokio::sync::Semaphore;

use crate::config::{Config, Environment, HarnessKind};
use crate::harness::adapter::Adapter;
use crate::ids::RunnerIds;
use crate::store::StoreHandle;

#[derive(Debug)]
pub struct Context {
    pub config: Config,
    pub env: Environment,
    pub store: StoreHandle,
    pub ids: RunnerIds,
    /// One permit per live harness process (`max_sessions`).
    pub slots: Arc<Semaphore>,
    /// The demo model's pi agent directory, once the model is serving.
    demo: Mutex<Option<PathBuf>>,
}

impl Context {
    pub fn new(config: Config, env: Environment, store: StoreHandle) -> Self {
        let slots = Arc::new(Semaphore::new(config.limits.max_sessions));
        Self {
            config,
            env,
            store,
            ids: RunnerIds::new(),
            slots,
            demo: Mutex::new(None),
        }
    }

    /// Starts the bundled demo model (the fake LLM, on `127.0.0.1:<free port>`, inside this
    /// process) on first use and returns a pi agent directory that points at it
    /// (`$XDG_CACHE_HOME/oqto/demo/pi-agent`: outside the data directory, which every sandbox profile hides). The model serves until the runner exits.
    pub fn demo_agent_dir(&self) -> Result<PathBuf, String> {
        let mut demo = self.demo.lock().expect("demo lock");
        if let Some(dir) = demo.as_ref() {
            return Ok(dir.clone());
        }
        let dir = self.config.paths.cache_dir.join("demo").join("pi-agent");
        // The fake LLM owns a tokio runtime; building (and keeping) one must happen off
        // this runtime's worker threads.
        let started = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    oqto_fake_llm_core::Background::start(oqto_fake_llm_core::Config::default())
                })
                .join()
        });
        let server = match started {
            Ok(Ok(server)) => server,
            Ok(Err(e)) => return Err(format!("cannot start the demo model: {e:#}")),
            Err(_) => return Err("cannot start the demo model: it panicked".into()),
        };
        oqto_fake_llm_core::write_pi_agent_dir(&dir, &server.base_url())
            .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
        tracing::info!(url = %server.base_url(), dir = %dir.display(), "demo model serving");
        // It serves for the rest of the process; dropping it would stop it (and dropping a
        // runtime inside this one is not allowed).
        std::mem::forget(server);
        *demo = Some(dir.clone());
        Ok(dir)
    }

    /// pi's agent directory as pi sees it ([`Config::pi_environment`]).
    pub fn pi_agent_dir(&self) -> Option<PathBuf> {
        crate::config::pi_agent_dir(&self.config.pi_environment(&self.env))
    }

    /// The adapter for a harness of `kind`, for `session`.
    pub fn adapter(&self, kind: HarnessKind, session: SessionId) -> Box<dyn Adapter> {
        match kind {
            HarnessKind::Pi => Box::new(crate::harness::pi::PiAdapter::new(
                session,
                self.ids.clone(),
            )),
            HarnessKind::Native => Box::new(crate::harness::native::NativeAdapter::new(
                session,
                self.ids.clone(),
            )),
            HarnessKind::Acp => Box::new(crate::harness::acp::AcpAdapter::new(
                session,
                self.ids.clone(),
            )),
        }
    }
}

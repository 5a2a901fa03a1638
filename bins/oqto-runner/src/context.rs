//! What every session actor and connection shares: configuration, the store, id source,
//! and the runner-wide limits.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use oqto_protocol::{Millis, SessionId};
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
        }
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
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

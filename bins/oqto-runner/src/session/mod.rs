//! Sessions as actors: one task per session owns its harness process, its state machine,
//! its event log and its subscribers. Everything else talks to it through a
//! [`SessionHandle`].

mod actor;
pub mod process;
pub mod sent;
pub mod transcript;

use std::sync::{Arc, Mutex};

use oqto_protocol::{Capability, ClientMsgId, Seq, SessionId, SessionInfo};
use tokio::sync::{mpsc, oneshot};

pub(crate) use actor::Actor;
pub use actor::Loaded;

use crate::events::{Delivery, SubscriberId};
use crate::harness::adapter::{Done, Op, OpError};

/// What other tasks ask a session actor.
#[derive(Debug)]
pub enum ActorMsg {
    /// Start the harness now (after `session.create`); answered once it is ready or failed.
    Start {
        reply: oneshot::Sender<Result<(), OpError>>,
    },
    /// A harness command; a stopped session's harness is started first.
    Op {
        op: Op,
        /// The client's id of a `prompt`, `steer` or `follow_up`: the user message it
        /// becomes carries it.
        client_msg_id: Option<ClientMsgId>,
        reply: oneshot::Sender<Result<Done, OpError>>,
    },
    Subscribe {
        id: SubscriberId,
        tx: mpsc::Sender<Delivery>,
        after_seq: Option<Seq>,
        reply: oneshot::Sender<Seq>,
    },
    Unsubscribe {
        id: SubscriberId,
        reply: oneshot::Sender<()>,
    },
    Rename {
        title: String,
        reply: oneshot::Sender<SessionInfo>,
    },
    /// Stop the harness, keep the session (`session.close`).
    Close {
        reason: String,
        reply: oneshot::Sender<()>,
    },
    /// Stop the harness and forget the session (`session.delete`); the actor ends.
    Delete { reply: oneshot::Sender<()> },
    /// The runner stops: stop the harness, record the state, end the actor.
    Shutdown { reply: oneshot::Sender<()> },
}

/// What the actor publishes for readers that must not wait for it (`session.list`).
#[derive(Debug)]
pub struct Shared {
    pub info: Mutex<SessionInfo>,
    pub capabilities: Mutex<Vec<Capability>>,
    /// The sandbox policy of the last harness start (`oqto-sandbox explain --json`), as
    /// JSON text: about 12 kB, where a parsed `serde_json::Value` of it held about ten
    /// times that per session (docs/benchmarks.md). Parsed when `session.get` asks.
    pub sandbox: Mutex<Option<Arc<str>>>,
    /// The `client_msg_id`s sent to this session and their answers (the newest ones).
    pub sent: Mutex<sent::Sent>,
}

/// A cheap, cloneable handle to a session actor.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    pub id: SessionId,
    pub tx: mpsc::Sender<ActorMsg>,
    pub shared: Arc<Shared>,
}

/// The actor is gone (the session was deleted, or the runner is stopping).
#[derive(Debug, thiserror::Error)]
#[error("session `{0}` is gone")]
pub struct Gone(pub SessionId);

impl SessionHandle {
    /// The session's current info.
    pub fn info(&self) -> SessionInfo {
        self.shared.info.lock().expect("session info lock").clone()
    }

    /// The sandbox policy the harness runs (or last ran) under, as JSON text.
    pub fn sandbox_policy(&self) -> Option<Arc<str>> {
        self.shared.sandbox.lock().expect("sandbox lock").clone()
    }

    /// Sends `msg` built around a reply channel and waits for the answer.
    pub async fn ask<T>(
        &self,
        msg: impl FnOnce(oneshot::Sender<T>) -> ActorMsg,
    ) -> Result<T, Gone> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(msg(tx))
            .await
            .map_err(|_| Gone(self.id.clone()))?;
        rx.await.map_err(|_| Gone(self.id.clone()))
    }
}

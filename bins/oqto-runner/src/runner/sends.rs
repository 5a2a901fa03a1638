//! `prompt`, `steer` and `follow_up` with a `client_msg_id`: carried out at most once per
//! id and session, every repeat answered with the first answer (docs/protocol.md,
//! "Sending once").

use oqto_protocol::{ClientMsgId, ErrorCode, Reply, SessionId};

use super::sessions::send_op;
use super::{Failure, Runner, store_failure};
use crate::harness::adapter::Op;
use crate::session::sent::{Answer, Claim};

impl Runner {
    /// A `prompt`, `steer` or `follow_up`: once per `client_msg_id` when it has one.
    pub(super) async fn send(
        &self,
        session: &SessionId,
        op: Op,
        client_msg_id: Option<ClientMsgId>,
    ) -> Result<Reply, Failure> {
        match client_msg_id {
            Some(id) => self.send_once(session, id, op).await,
            None => self.op(session, op).await,
        }
    }

    /// Carries out `op` unless `id` was sent to this session before; then waits for and
    /// returns the first send's answer.
    pub(super) async fn send_once(
        &self,
        session: &SessionId,
        id: ClientMsgId,
        op: Op,
    ) -> Result<Reply, Failure> {
        if let Some(problem) = id.problem() {
            return Err((ErrorCode::BadRequest, format!("{}: {problem}", op.name())));
        }
        let handle = self.session(session)?;
        let claim = handle.shared.sent.lock().expect("sent lock").claim(&id);
        let mut rx = match claim {
            Claim::Repeat(rx) => rx,
            Claim::First(tx) => {
                let rx = tx.subscribe();
                // On a task of its own: the send is carried out and its answer kept even if
                // this client goes away meanwhile, so a repeat never runs it a second time.
                let store = self.ctx.store.clone();
                let session = session.clone();
                tokio::spawn(async move {
                    let key = id.clone();
                    let stored = store
                        .call(move |store| store.has_client_msg_id(&session, &key))
                        .await;
                    let answer: Answer = match stored {
                        // Carried out before this runner remembered it (before a restart,
                        // or long ago): its user message is stored.
                        Ok(true) => Ok(Reply::Empty),
                        Ok(false) => send_op(&handle, op, Some(id)).await,
                        Err(e) => Err(store_failure(e)),
                    };
                    tx.send_replace(Some(answer));
                });
                rx
            }
        };
        match rx.wait_for(Option::is_some).await {
            Ok(answer) => answer.clone().unwrap_or_else(|| Err(gone())),
            Err(_) => Err(gone()),
        }
    }
}

fn gone() -> Failure {
    (
        ErrorCode::Internal,
        "the first send of this client_msg_id ended without an answer".into(),
    )
}

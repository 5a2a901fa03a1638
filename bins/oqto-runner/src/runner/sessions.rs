//! The session commands: list, get, close, delete, rename, create, fork, and the harness
//! commands (`prompt`, `abort`, …) passed to a session's actor.

use std::path::Path;
use std::sync::Arc;

use oqto_history::SessionRecord;
use oqto_protocol::{
    ClientMsgId, ErrorCode, MessageId, ModelRef, Reply, SessionId, SessionInfo, State,
};

use super::{Failure, Runner, not_found, op_failure, record_of, store_failure};
use crate::context::now_millis;
use crate::harness::adapter::{Done, ModelChoice, Op};
use crate::session::transcript::RECENT_MESSAGES;
use crate::session::{Actor, ActorMsg, Loaded, SessionHandle};

impl Runner {
    /// `session.list`: newest activity first; `cwd` matches the directory and below.
    pub(super) fn list(
        &self,
        state: Option<State>,
        harness: Option<&str>,
        cwd: Option<&str>,
    ) -> Reply {
        let mut sessions: Vec<SessionInfo> = self
            .sessions
            .lock()
            .expect("sessions lock")
            .values()
            .map(SessionHandle::info)
            .filter(|info| state.is_none_or(|s| info.state == s))
            .filter(|info| harness.is_none_or(|h| info.harness == h))
            .filter(|info| cwd.is_none_or(|c| is_within(&info.cwd, c)))
            .collect();
        sessions.sort_by(|a, b| {
            b.last_activity
                .cmp(&a.last_activity)
                .then_with(|| b.id.0.cmp(&a.id.0))
        });
        Reply::Sessions { sessions }
    }

    pub(super) async fn get(&self, session: &SessionId) -> Result<Reply, Failure> {
        let handle = self.session(session)?;
        Ok(Reply::Session {
            session: handle.info(),
            sandbox: self.sandbox_policy(&handle).await,
        })
    }

    pub(super) async fn close(&self, session: &SessionId, client: &str) -> Result<Reply, Failure> {
        let handle = self.session(session)?;
        let reason = format!("closed by {client}");
        handle
            .ask(|reply| ActorMsg::Close { reason, reply })
            .await
            .map_err(|_| not_found(session))?;
        Ok(Reply::Empty)
    }

    pub(super) async fn delete(&self, session: &SessionId) -> Result<Reply, Failure> {
        let handle = self.session(session)?;
        self.terminals.close_session(session).await;
        handle
            .ask(|reply| ActorMsg::Delete { reply })
            .await
            .map_err(|_| not_found(session))?;
        self.sessions.lock().expect("sessions lock").remove(session);
        let id = session.clone();
        self.ctx
            .store
            .call(move |store| store.delete_session(&id))
            .await
            .map_err(store_failure)?;
        Ok(Reply::Empty)
    }

    pub(super) async fn rename(&self, session: &SessionId, title: &str) -> Result<Reply, Failure> {
        let handle = self.session(session)?;
        let title = title.trim().to_owned();
        if title.is_empty() {
            return Err((ErrorCode::BadRequest, "session.rename: empty title".into()));
        }
        let info = handle
            .ask(|reply| ActorMsg::Rename { title, reply })
            .await
            .map_err(|_| not_found(session))?;
        Ok(Reply::Session {
            session: info,
            sandbox: None,
        })
    }

    pub(super) async fn op(&self, session: &SessionId, op: Op) -> Result<Reply, Failure> {
        let handle = self.session(session)?;
        send_op(&handle, op, None).await
    }

    #[allow(clippy::too_many_arguments, clippy::too_many_lines)]
    pub(super) async fn create(
        &self,
        harness: String,
        cwd: String,
        model: Option<ModelChoice>,
        sandbox_profile: Option<String>,
        title: Option<String>,
        parent: Option<(SessionId, MessageId, Option<ModelRef>)>,
        resume: Option<String>,
    ) -> Result<SessionInfo, Failure> {
        let Some(config) = self.ctx.config.harness(&harness).filter(|h| h.enabled) else {
            let known: Vec<&str> = self
                .ctx
                .config
                .enabled_harnesses()
                .map(|h| h.name.as_str())
                .collect();
            return Err((
                ErrorCode::BadRequest,
                format!(
                    "session.create: unknown harness `{harness}` (known: {})",
                    known.join(", ")
                ),
            ));
        };
        check_cwd(&cwd)?;
        let now = now_millis();
        let id = self.ctx.ids.session_id();
        let (parent_id, fork_point, parent_model) = match parent {
            Some((p, m, model)) => (Some(p), Some(m), model),
            None => (None, None, None),
        };
        let info = SessionInfo {
            id: id.clone(),
            harness: config.name.clone(),
            cwd,
            title: title.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
            state: State::Starting,
            phase: None,
            reason: None,
            model: parent_model.or_else(|| {
                model.as_ref().and_then(|m| {
                    m.provider.clone().map(|provider| ModelRef {
                        provider,
                        id: m.model.clone(),
                    })
                })
            }),
            sandbox_profile: Some(
                sandbox_profile.unwrap_or_else(|| self.ctx.config.default_sandbox_profile.clone()),
            ),
            parent: parent_id.clone(),
            created_at: now,
            last_activity: now,
            last_seq: 0,
            subscribers: 0,
            permissions: Vec::new(),
        };
        let record = SessionRecord {
            harness_ref: resume.clone(),
            ..record_of(&info)
        };
        self.ctx
            .store
            .call(move |store| store.insert_session(&record))
            .await
            .map_err(store_failure)?;
        let (recent, has_older) = match (parent_id, fork_point) {
            (Some(from), Some(before)) => {
                let to = id.clone();
                let ids = self.ctx.ids.clone();
                let page = self
                    .ctx
                    .store
                    .call(move |store| {
                        let mut message_ids = ids.clone();
                        let mut part_ids = ids;
                        store.copy_messages_before(
                            &from,
                            &to,
                            &before,
                            &mut || crate::harness::IdSource::message_id(&mut message_ids),
                            &mut || crate::harness::IdSource::part_id(&mut part_ids),
                        )?;
                        store.messages(&to, None, RECENT_MESSAGES)
                    })
                    .await
                    .map_err(store_failure)?;
                (page.messages, page.has_more)
            }
            _ => (Vec::new(), false),
        };
        // The answer shows the session as its `session.created` event does (seq 1); a client
        // subscribing with `after_seq: 1` gets everything after it, `state idle` first.
        let mut created = info.clone();
        created.last_seq = 1;
        let handle = Actor::spawn(
            Arc::clone(&self.ctx),
            Loaded {
                sandbox: None,
                info,
                harness_ref: resume,
                model_choice: model,
                recent: Some((recent, has_older)),
                created: true,
            },
        );
        self.insert(handle.clone());
        handle
            .ask(|reply| ActorMsg::Start { reply })
            .await
            .map_err(|_| not_found(&id))?
            .map_err(op_failure)?;
        Ok(created)
    }

    pub(super) async fn fork(
        &self,
        session: &SessionId,
        message_id: MessageId,
    ) -> Result<Reply, Failure> {
        let handle = self.session(session)?;
        let id = session.clone();
        let users = self
            .ctx
            .store
            .call(move |store| store.user_messages(&id))
            .await
            .map_err(store_failure)?;
        let Some((user_index, (_, text))) = users
            .into_iter()
            .enumerate()
            .find(|(_, (id, _))| *id == message_id)
        else {
            return Err((
                ErrorCode::MessageNotFound,
                format!("no user message `{message_id}` in session `{session}`"),
            ));
        };
        let op = Op::Fork {
            message_id: message_id.clone(),
            user_index,
            text,
        };
        let done = handle
            .ask(|reply| ActorMsg::Op {
                op,
                client_msg_id: None,
                reply,
            })
            .await
            .map_err(|_| not_found(session))?
            .map_err(op_failure)?;
        let Done::Forked { resume } = done else {
            return Err((
                ErrorCode::Internal,
                "the harness answered fork with something else".into(),
            ));
        };
        let parent = handle.info();
        let title = Some(match &parent.title {
            Some(t) => format!("{t} (fork)"),
            None => "fork".into(),
        });
        let info = self
            .create(
                parent.harness.clone(),
                parent.cwd.clone(),
                None,
                parent.sandbox_profile.clone(),
                title,
                Some((session.clone(), message_id, parent.model.clone())),
                Some(resume),
            )
            .await?;
        Ok(Reply::Session {
            session: info,
            sandbox: None,
        })
    }
}

fn check_cwd(cwd: &str) -> Result<(), Failure> {
    let path = Path::new(cwd);
    if !path.is_absolute() {
        return Err((
            ErrorCode::BadRequest,
            format!("session.create: `cwd` must be an absolute path, got `{cwd}`"),
        ));
    }
    match std::fs::read_dir(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err((
            ErrorCode::PermissionDenied,
            format!("cannot use {cwd} as cwd: permission denied"),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err((
            ErrorCode::BadRequest,
            format!("cannot use {cwd} as cwd: no such directory"),
        )),
        Err(e) => Err((
            ErrorCode::BadRequest,
            format!("cannot use {cwd} as cwd: {e}"),
        )),
    }
}

/// `path` is `dir` or below it (`/a/b` is within `/a`, `/ab` is not).
fn is_within(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
        || dir.is_empty()
}

/// Asks the session's actor to carry out `op` and turns its answer into a reply.
pub(super) async fn send_op(
    handle: &SessionHandle,
    op: Op,
    client_msg_id: Option<ClientMsgId>,
) -> Result<Reply, Failure> {
    let session = &handle.id;
    let done = handle
        .ask(|reply| ActorMsg::Op {
            op,
            client_msg_id,
            reply,
        })
        .await
        .map_err(|_| not_found(session))?
        .map_err(op_failure)?;
    Ok(match done {
        Done::Empty | Done::Forked { .. } => Reply::Empty,
        Done::Models(models) => Reply::Models { models },
        Done::Model(model) => Reply::Model { model },
        Done::Compacted {
            summary,
            tokens_before,
        } => Reply::Compacted {
            summary,
            tokens_before,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::is_within;

    #[test]
    fn within_matches_whole_components() {
        assert!(is_within("/a/b", "/a/b"));
        assert!(is_within("/a/b/c", "/a/b"));
        assert!(is_within("/a/b/c", "/a/b/"));
        assert!(!is_within("/a/bc", "/a/b"));
        assert!(is_within("/x", "/"));
    }
}

//! The runner: the table of sessions, and what each client command does to it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use oqto_history::{SessionRecord, StoreError};
use oqto_protocol::{
    Capability, Command, ErrorCode, HarnessInfo, ImportSkipped, ImportSource, MessageId, Millis,
    ModelRef, PROTOCOL_VERSION, Reply, RunnerStatus, SessionId, SessionInfo, State, Welcome,
};
use tokio::sync::watch;

use crate::context::{Context, now_millis};
use crate::harness::adapter::{Done, ModelChoice, Op, OpError};
use crate::session::transcript::RECENT_MESSAGES;
use crate::session::{Actor, ActorMsg, Loaded, SessionHandle};

/// How far a session's seq jumps when the runner did not stop cleanly, so that a number
/// a client saw before the crash is never reused for a different event (see docs/runner.md).
pub const UNCLEAN_SEQ_GAP: u64 = 1 << 20;
/// `get_messages` page size when the client gives no `limit`, and the largest one.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 1000;

/// A command's failure, as sent to the client.
pub type Failure = (ErrorCode, String);

#[derive(Debug)]
pub struct Runner {
    pub ctx: Arc<Context>,
    sessions: Mutex<HashMap<SessionId, SessionHandle>>,
    next_subscriber: AtomicU64,
    pub clients: AtomicU32,
    started_at: Millis,
    socket: PathBuf,
    shutdown: watch::Sender<bool>,
}

impl Runner {
    /// Loads every stored session (as `stopped`: no harness runs yet) and starts its actor.
    pub async fn load(ctx: Arc<Context>, socket: &Path) -> Result<Arc<Self>, StoreError> {
        let records = ctx.store.call(|store| store.sessions()).await?;
        let runner = Arc::new(Self {
            ctx,
            sessions: Mutex::new(HashMap::new()),
            next_subscriber: AtomicU64::new(1),
            clients: AtomicU32::new(0),
            started_at: now_millis(),
            socket: socket.to_owned(),
            shutdown: watch::channel(false).0,
        });
        for record in records {
            runner.insert(runner.adopt(record));
        }
        Ok(runner)
    }

    /// Starts the actor of a stored session (as `stopped`: no harness runs yet), for the
    /// caller to add to the table. A session that was not stopped cleanly is marked
    /// stopped, and its seq jumps by [`UNCLEAN_SEQ_GAP`].
    fn adopt(&self, mut record: SessionRecord) -> SessionHandle {
        let clean = matches!(record.state, State::Stopped | State::Error);
        if !clean {
            record.last_seq += UNCLEAN_SEQ_GAP;
            record.state = State::Stopped;
            record.reason = Some("the runner stopped unexpectedly".into());
            let updated = record.clone();
            self.ctx
                .store
                .spawn("marking a session stopped", move |store| {
                    store.update_session(&updated)
                });
        }
        let loaded = Loaded {
            sandbox: None,
            info: info_of(&record),
            harness_ref: record.harness_ref,
            model_choice: None,
            recent: None,
            created: false,
        };
        Actor::spawn(Arc::clone(&self.ctx), loaded)
    }

    /// Adopts the stored sessions this runner does not know yet (e.g. just imported), as
    /// [`Runner::load`] does at startup, so they are listed without a restart. Only
    /// sessions stored as `stopped` or `error` are taken: one in another state and not in
    /// the table is being created by this runner right now.
    pub async fn adopt_new_sessions(&self) {
        let records = match self.ctx.store.call(|store| store.sessions()).await {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(error = %e, "history store: listing sessions to adopt");
                return;
            }
        };
        // Checked and inserted under one lock, so two imports never adopt a session twice.
        let mut sessions = self.sessions.lock().expect("sessions lock");
        for record in records {
            if !sessions.contains_key(&record.id)
                && matches!(record.state, State::Stopped | State::Error)
            {
                let handle = self.adopt(record);
                sessions.insert(handle.id.clone(), handle);
            }
        }
    }

    /// `history.import`: imports the pi agent directory `dir` (by default
    /// `$PI_CODING_AGENT_DIR`, else `$HOME/.pi/agent`) on the store thread, then adopts the
    /// new sessions.
    async fn import_history(
        &self,
        source: ImportSource,
        dir: Option<String>,
    ) -> Result<Reply, Failure> {
        let ImportSource::Pi = source;
        let dir = match dir {
            Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
            Some(dir) => {
                return Err((
                    ErrorCode::BadRequest,
                    format!("history.import: `dir` must be an absolute path, got `{dir}`"),
                ));
            }
            None => self.ctx.pi_agent_dir().ok_or_else(|| {
                (
                    ErrorCode::BadRequest,
                    "history.import: no `dir`, and the pi harness has neither an absolute \
                     PI_CODING_AGENT_DIR nor a HOME"
                        .to_owned(),
                )
            })?,
        };
        let report = self
            .ctx
            .store
            .call(move |store| oqto_history::import::pi::import_pi_dir(store, &dir))
            .await
            .map_err(store_failure)?;
        tracing::info!(
            files = report.files,
            new = report.sessions_new,
            updated = report.sessions_updated,
            unchanged = report.sessions_unchanged,
            messages = report.messages,
            skipped = report.skipped.len(),
            warnings = report.warnings,
            "imported pi sessions"
        );
        self.adopt_new_sessions().await;
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Reply::Imported {
            files: count(report.files),
            sessions_new: count(report.sessions_new),
            sessions_updated: count(report.sessions_updated),
            sessions_unchanged: count(report.sessions_unchanged),
            messages: count(report.messages),
            skipped: report
                .skipped
                .into_iter()
                .map(|(path, reason)| ImportSkipped {
                    path: path.display().to_string(),
                    reason,
                })
                .collect(),
        })
    }

    fn insert(&self, handle: SessionHandle) {
        self.sessions
            .lock()
            .expect("sessions lock")
            .insert(handle.id.clone(), handle);
    }

    pub fn session(&self, id: &SessionId) -> Result<SessionHandle, Failure> {
        self.sessions
            .lock()
            .expect("sessions lock")
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    /// The sandbox policy of a session: the one its harness runs (or last ran) under, else
    /// the one stored with it (kept in memory afterwards), parsed. A store error or a policy
    /// that does not parse leaves it out: the rest of `session.get` still answers.
    async fn sandbox_policy(&self, handle: &SessionHandle) -> Option<serde_json::Value> {
        let text = if let Some(text) = handle.sandbox_policy() {
            text
        } else {
            let id = handle.id.clone();
            let stored = self
                .ctx
                .store
                .call(move |store| store.sandbox_policy(&id))
                .await;
            let text: Arc<str> = match stored {
                Ok(text) => text?.into(),
                Err(e) => {
                    tracing::warn!(session = %handle.id, error = %e, "reading the sandbox policy");
                    return None;
                }
            };
            let mut cached = handle.shared.sandbox.lock().expect("sandbox lock");
            Arc::clone(cached.get_or_insert(text))
        };
        serde_json::from_str(&text)
            .inspect_err(|e| {
                tracing::warn!(session = %handle.id, error = %e, "stored sandbox policy is not JSON");
            })
            .ok()
    }

    pub fn next_subscriber(&self) -> u64 {
        self.next_subscriber.fetch_add(1, Ordering::Relaxed)
    }

    /// Resolves once a shutdown was asked for.
    pub fn shutdown_requested(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Stops every session's harness and records its state.
    pub async fn stop_all(&self) {
        let handles: Vec<SessionHandle> = self
            .sessions
            .lock()
            .expect("sessions lock")
            .values()
            .cloned()
            .collect();
        let stops = handles.into_iter().map(|handle| async move {
            let _ = handle.ask(|reply| ActorMsg::Shutdown { reply }).await;
        });
        futures_util::future::join_all(stops).await;
    }

    pub fn welcome(&self) -> Welcome {
        let harnesses = self
            .ctx
            .config
            .enabled_harnesses()
            .map(|h| HarnessInfo {
                name: h.name.clone(),
                available: h.available(),
                capabilities: self
                    .ctx
                    .adapter(h.kind, SessionId(String::new()))
                    .capabilities(),
                detail: Some(h.detail()),
            })
            .collect();
        let mut capabilities: Vec<String> =
            vec!["replay".into(), "history".into(), "search".into()];
        // Every harness starts through oqto-sandbox; without it none can start.
        if self.ctx.config.sandbox.is_ok() {
            capabilities.push("sandbox".into());
        }
        Welcome {
            protocol: PROTOCOL_VERSION,
            server: "oqto-runner".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities,
            harnesses,
        }
    }

    /// Carries out every command except the subscription ones (which the connection owns).
    // One arm per command: splitting the match would only scatter it.
    #[allow(clippy::too_many_lines)]
    pub async fn execute(&self, command: Command, client: &str) -> Result<Reply, Failure> {
        match command {
            Command::SessionCreate {
                harness,
                cwd,
                model,
                provider,
                sandbox_profile,
                title,
            } => {
                let choice = model.map(|model| ModelChoice { provider, model });
                let info = self
                    .create(harness, cwd, choice, sandbox_profile, title, None, None)
                    .await?;
                Ok(Reply::Session {
                    session: info,
                    sandbox: None,
                })
            }
            Command::SessionList {
                state,
                harness,
                cwd,
            } => {
                let mut sessions: Vec<SessionInfo> = self
                    .sessions
                    .lock()
                    .expect("sessions lock")
                    .values()
                    .map(SessionHandle::info)
                    .filter(|info| state.is_none_or(|s| info.state == s))
                    .filter(|info| harness.as_ref().is_none_or(|h| &info.harness == h))
                    .filter(|info| cwd.as_ref().is_none_or(|c| is_within(&info.cwd, c)))
                    .collect();
                sessions.sort_by(|a, b| {
                    b.last_activity
                        .cmp(&a.last_activity)
                        .then_with(|| b.id.0.cmp(&a.id.0))
                });
                Ok(Reply::Sessions { sessions })
            }
            Command::SessionGet { session } => {
                let handle = self.session(&session)?;
                Ok(Reply::Session {
                    session: handle.info(),
                    sandbox: self.sandbox_policy(&handle).await,
                })
            }
            Command::SessionClose { session } => {
                let handle = self.session(&session)?;
                let reason = format!("closed by {client}");
                handle
                    .ask(|reply| ActorMsg::Close { reason, reply })
                    .await
                    .map_err(|_| not_found(&session))?;
                Ok(Reply::Empty)
            }
            Command::SessionDelete { session } => {
                let handle = self.session(&session)?;
                handle
                    .ask(|reply| ActorMsg::Delete { reply })
                    .await
                    .map_err(|_| not_found(&session))?;
                self.sessions
                    .lock()
                    .expect("sessions lock")
                    .remove(&session);
                let id = session.clone();
                self.ctx
                    .store
                    .call(move |store| store.delete_session(&id))
                    .await
                    .map_err(store_failure)?;
                Ok(Reply::Empty)
            }
            Command::SessionRename { session, title } => {
                let handle = self.session(&session)?;
                let title = title.trim().to_owned();
                if title.is_empty() {
                    return Err((ErrorCode::BadRequest, "session.rename: empty title".into()));
                }
                let info = handle
                    .ask(|reply| ActorMsg::Rename { title, reply })
                    .await
                    .map_err(|_| not_found(&session))?;
                Ok(Reply::Session {
                    session: info,
                    sandbox: None,
                })
            }
            Command::Prompt {
                session,
                text,
                images,
            } => self.op(&session, Op::Prompt { text, images }).await,
            Command::Steer { session, text } => self.op(&session, Op::Steer { text }).await,
            Command::FollowUp { session, text } => self.op(&session, Op::FollowUp { text }).await,
            Command::Abort { session } => self.op(&session, Op::Abort).await,
            Command::SetModel {
                session,
                provider,
                model,
            } => {
                self.op(&session, Op::SetModel(ModelChoice { provider, model }))
                    .await
            }
            Command::GetModels { session } => self.op(&session, Op::GetModels).await,
            Command::SetThinkingLevel { session, level } => {
                self.op(&session, Op::SetThinkingLevel(level)).await
            }
            Command::Compact {
                session,
                instructions,
            } => self.op(&session, Op::Compact { instructions }).await,
            Command::Fork {
                session,
                message_id,
            } => self.fork(&session, message_id).await,
            Command::GetMessages {
                session,
                before,
                limit,
            } => {
                self.session(&session)?;
                let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE) as usize;
                let page = self
                    .ctx
                    .store
                    .call(move |store| store.messages(&session, before.as_ref(), limit))
                    .await
                    .map_err(store_failure)?;
                Ok(Reply::Messages {
                    messages: page.messages,
                    has_more: page.has_more,
                })
            }
            Command::HistorySearch {
                query,
                limit,
                filters,
            } => {
                let limit = limit.unwrap_or(20).clamp(1, 200) as usize;
                let hits = self
                    .ctx
                    .store
                    .call(move |store| store.search(&query, &filters, Some(limit)))
                    .await
                    .map_err(store_failure)?;
                Ok(Reply::SearchResults { hits })
            }
            Command::HistoryImport { source, dir } => self.import_history(source, dir).await,
            Command::RunnerStatus {} => Ok(Reply::Status {
                status: self.status(),
            }),
            Command::RunnerShutdown {} => {
                self.request_shutdown();
                Ok(Reply::Empty)
            }
            Command::SessionSubscribe { .. } | Command::SessionUnsubscribe { .. } => Err((
                ErrorCode::Internal,
                "subscriptions are handled by the connection".into(),
            )),
        }
    }

    fn status(&self) -> RunnerStatus {
        let sessions = self.sessions.lock().expect("sessions lock");
        let live = sessions
            .values()
            .filter(|h| {
                matches!(
                    h.info().state,
                    State::Starting | State::Idle | State::Working
                )
            })
            .count();
        RunnerStatus {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            started_at: self.started_at,
            socket: self.socket.display().to_string(),
            data_dir: self.ctx.config.paths.data_dir.display().to_string(),
            sessions: u32::try_from(sessions.len()).unwrap_or(u32::MAX),
            live_sessions: u32::try_from(live).unwrap_or(u32::MAX),
            clients: self.clients.load(Ordering::Relaxed),
        }
    }

    async fn op(&self, session: &SessionId, op: Op) -> Result<Reply, Failure> {
        let handle = self.session(session)?;
        let done = handle
            .ask(|reply| ActorMsg::Op { op, reply })
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

    #[allow(clippy::too_many_arguments, clippy::too_many_lines)]
    async fn create(
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

    async fn fork(&self, session: &SessionId, message_id: MessageId) -> Result<Reply, Failure> {
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
            .ask(|reply| ActorMsg::Op { op, reply })
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

    /// The capabilities of a session's harness (after its handshake, the declared ones).
    pub fn capabilities(&self, session: &SessionId) -> Vec<Capability> {
        self.session(session)
            .map(|h| {
                h.shared
                    .capabilities
                    .lock()
                    .expect("capabilities lock")
                    .clone()
            })
            .unwrap_or_default()
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

pub fn not_found(id: &SessionId) -> Failure {
    (ErrorCode::SessionNotFound, format!("no session `{id}`"))
}

fn op_failure(e: OpError) -> Failure {
    (e.code, e.message)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(store_failure)`
pub fn store_failure(e: StoreError) -> Failure {
    let code = e.code();
    if code == ErrorCode::Storage {
        tracing::error!(error = %e, "history store");
        (code, format!("history store failed: {e}"))
    } else {
        (code, e.to_string())
    }
}

fn info_of(record: &SessionRecord) -> SessionInfo {
    SessionInfo {
        id: record.id.clone(),
        harness: record.harness.clone(),
        cwd: record.cwd.clone(),
        title: record.title.clone(),
        state: record.state,
        phase: None,
        reason: record.reason.clone(),
        model: record.model.clone(),
        sandbox_profile: record.sandbox_profile.clone(),
        parent: record.parent.clone(),
        created_at: record.created_at,
        last_activity: record.updated_at,
        last_seq: record.last_seq,
        subscribers: 0,
    }
}

fn record_of(info: &SessionInfo) -> SessionRecord {
    SessionRecord {
        id: info.id.clone(),
        harness: info.harness.clone(),
        harness_ref: None,
        cwd: info.cwd.clone(),
        title: info.title.clone(),
        model: info.model.clone(),
        created_at: info.created_at,
        updated_at: info.last_activity,
        state: info.state,
        reason: info.reason.clone(),
        parent: info.parent.clone(),
        sandbox_profile: info.sandbox_profile.clone(),
        last_seq: info.last_seq,
    }
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

//! The runner: the table of sessions, and what each client command does to it. `execute`
//! dispatches; the session commands are in `sessions.rs`, the history commands (messages,
//! search, import) in `history.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use oqto_history::{SessionRecord, StoreError};
use oqto_protocol::{
    Capability, Command, ErrorCode, HarnessInfo, Millis, PROTOCOL_VERSION, Reply, RunnerStatus,
    SessionId, SessionInfo, State, Welcome,
};
use tokio::sync::watch;

use crate::context::{Context, now_millis};
use crate::files::FileServers;
use crate::harness::adapter::{ModelChoice, Op, OpError};
use crate::session::{Actor, ActorMsg, Loaded, SessionHandle};
use crate::terminal::Terminals;

mod history;
mod sends;
mod sessions;

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
    pub terminals: Terminals,
    pub files: FileServers,
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
            terminals: Terminals::default(),
            files: FileServers::default(),
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

    /// Stops every terminal, file server and session's harness, and records their state.
    pub async fn stop_all(&self) {
        self.terminals.close_all().await;
        self.files.close_all().await;
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
        if self.ctx.config.sandbox_program(&self.ctx.env).is_ok() {
            capabilities.push("sandbox".into());
        }
        let default = self.ctx.config.default_harness_for(&self.ctx.env);
        Welcome {
            protocol: PROTOCOL_VERSION,
            server: "oqto-runner".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities,
            harnesses,
            default_harness: Some(default.name),
            default_harness_note: default.note,
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
            } => Ok(self.list(state, harness.as_deref(), cwd.as_deref())),
            Command::SessionGet { session } => self.get(&session).await,
            Command::SessionClose { session } => self.close(&session, client).await,
            Command::SessionDelete { session } => self.delete(&session).await,
            Command::SessionRename { session, title } => self.rename(&session, &title).await,
            Command::Prompt {
                session,
                text,
                images,
                client_msg_id,
            } => {
                self.send(&session, Op::Prompt { text, images }, client_msg_id)
                    .await
            }
            Command::Steer {
                session,
                text,
                client_msg_id,
            } => self.send(&session, Op::Steer { text }, client_msg_id).await,
            Command::FollowUp {
                session,
                text,
                client_msg_id,
            } => {
                self.send(&session, Op::FollowUp { text }, client_msg_id)
                    .await
            }
            Command::Abort { session } => self.op(&session, Op::Abort).await,
            Command::PermissionReply {
                session,
                request,
                option,
            } => {
                let op = Op::PermissionReply {
                    request,
                    option,
                    client: client.to_owned(),
                };
                self.op(&session, op).await
            }
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
            } => self.messages(session, before, limit).await,
            Command::HistorySearch {
                query,
                limit,
                filters,
            } => self.search(query, limit, filters).await,
            Command::HistoryImport { source, dir } => self.import_history(source, dir).await,
            Command::AuditList {
                session,
                since,
                query,
                limit,
            } => {
                let filter = oqto_history::AuditFilter {
                    session,
                    since,
                    query,
                };
                self.audit(filter, limit).await
            }
            Command::RunnerStatus {} => Ok(Reply::Status {
                status: self.status(),
            }),
            Command::RunnerShutdown {} => {
                self.request_shutdown();
                Ok(Reply::Empty)
            }
            Command::TerminalOpen {
                session,
                cwd,
                cols,
                rows,
                command,
            } => self.open_terminal(session, cwd, cols, rows, command),
            Command::TerminalList {} => Ok(Reply::Terminals {
                terminals: self.terminals.list(),
            }),
            Command::TerminalResize {
                terminal,
                cols,
                rows,
            } => self
                .terminals
                .resize(&terminal, cols, rows)
                .await
                .map(|()| Reply::Empty),
            Command::TerminalClose { terminal } => self
                .terminals
                .close(&terminal, format!("closed by {client}"))
                .await
                .map(|()| Reply::Empty),
            Command::FilesOpen { session, cwd } => self.open_files(session, cwd).await,
            Command::SessionSubscribe { .. }
            | Command::SessionUnsubscribe { .. }
            | Command::TerminalAttach { .. }
            | Command::TerminalDetach { .. }
            | Command::TerminalInput { .. } => Err((
                ErrorCode::Internal,
                "subscriptions and input are handled by the connection".into(),
            )),
        }
    }

    /// `files.open`: the file server of a session's workspace or of `cwd`.
    async fn open_files(
        &self,
        session: Option<SessionId>,
        cwd: Option<String>,
    ) -> Result<Reply, Failure> {
        let dir = match (session, cwd) {
            (Some(id), None) => PathBuf::from(self.session(&id)?.info().cwd),
            (None, Some(cwd)) if Path::new(&cwd).is_absolute() => PathBuf::from(cwd),
            (None, Some(cwd)) => {
                return Err((
                    ErrorCode::BadRequest,
                    format!("files.open: `cwd` must be an absolute path, got `{cwd}`"),
                ));
            }
            _ => {
                return Err((
                    ErrorCode::BadRequest,
                    "files.open: give either `session` or `cwd`".into(),
                ));
            }
        };
        let (socket, root) = self.files.open(&self.ctx, &dir).await?;
        Ok(Reply::FilesServer {
            socket: socket.display().to_string(),
            root: root.display().to_string(),
        })
    }

    /// `terminal.open`: in a session's workspace under its sandbox profile, or in `cwd`
    /// under the default profile.
    fn open_terminal(
        &self,
        session: Option<SessionId>,
        cwd: Option<String>,
        cols: u16,
        rows: u16,
        command: Option<Vec<String>>,
    ) -> Result<Reply, Failure> {
        let (cwd, profile) = match (&session, cwd) {
            (Some(id), None) => {
                let info = self.session(id)?.info();
                let profile = info
                    .sandbox_profile
                    .clone()
                    .unwrap_or_else(|| self.ctx.config.default_sandbox_profile.clone());
                (PathBuf::from(info.cwd), profile)
            }
            (None, Some(cwd)) if Path::new(&cwd).is_absolute() => (
                PathBuf::from(cwd),
                self.ctx.config.default_sandbox_profile.clone(),
            ),
            (None, Some(cwd)) => {
                return Err((
                    ErrorCode::BadRequest,
                    format!("terminal.open: `cwd` must be an absolute path, got `{cwd}`"),
                ));
            }
            _ => {
                return Err((
                    ErrorCode::BadRequest,
                    "terminal.open: give either `session` or `cwd`".into(),
                ));
            }
        };
        let spec = crate::terminal::OpenSpec {
            session,
            cwd,
            profile,
            cols,
            rows,
            command,
        };
        let terminal = self.terminals.open(&self.ctx, spec)?;
        Ok(Reply::Terminal { terminal })
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
        permissions: Vec::new(),
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

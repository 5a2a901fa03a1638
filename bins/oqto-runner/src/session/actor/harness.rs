//! The harness process of a session: starting it (confined), its lines, its exit and
//! stopping it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use oqto_protocol::{ErrorCode, EventKind, Part, State, ToolStatus};
use tokio::time::Instant;

use super::{Actor, CRASH_STDERR_LINES, Harness, Waiting};
use crate::config::DEMO_HARNESS;
use crate::context::now_millis;
use crate::harness::IdSource;
use crate::harness::adapter::{OpError, Output, StartSpec};
use crate::sandbox;
use crate::session::process::{ProcLine, Process, describe_exit};

impl Actor {
    /// Starts the harness if it is not running.
    pub(super) fn ensure_started(&mut self) {
        if self.harness.is_some() {
            return;
        }
        let Some(config) = self.ctx.config.harness(&self.info.harness).cloned() else {
            self.fail_waiting(&OpError::new(
                ErrorCode::HarnessFailed,
                format!("harness `{}` is not configured", self.info.harness),
            ));
            return;
        };
        let Some(mut argv) = config.argv().filter(|_| config.enabled) else {
            return self.start_failed(format!(
                "harness `{}` is unavailable: {}",
                config.name,
                config.detail()
            ));
        };
        let permissions = match self
            .ctx
            .config
            .permissions
            .for_workspace(Path::new(&self.info.cwd))
        {
            Ok(policy) => policy,
            Err(why) => return self.start_failed(format!("permission policy: {why}")),
        };
        let Ok(permit) = Arc::clone(&self.ctx.slots).try_acquire_owned() else {
            let why = format!(
                "too many live sessions (max_sessions = {}); close one first",
                self.ctx.config.limits.max_sessions
            );
            self.fail_waiting(&OpError::new(ErrorCode::InvalidState, why));
            return;
        };
        for dir in config.state_dirs(&config.environment(&self.ctx.env)) {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                tracing::warn!(session = %self.info.id, dir = %dir.display(), "creating the harness's state directory: {e}");
            }
        }
        let mut adapter = self.ctx.adapter(config.kind, self.info.id.clone());
        let spec = StartSpec {
            cwd: self.info.cwd.clone(),
            resume: self.harness_ref.clone(),
            model: self.model_choice.clone(),
            permissions,
        };
        argv.extend(adapter.extra_args(&spec));
        let mut env = config.child_env(&self.ctx.env);
        // Variables the runner sets for this harness itself: its `env` table, and the demo's.
        let mut pass_env: Vec<String> = config.env.keys().cloned().collect();
        if config.builtin && config.name == DEMO_HARNESS {
            match self.ctx.demo_agent_dir() {
                Ok(dir) => {
                    for (name, value) in [
                        ("PI_CODING_AGENT_DIR", dir.into_os_string()),
                        ("PI_OFFLINE", "1".into()),
                    ] {
                        env.insert(name.into(), value);
                        pass_env.push(name.into());
                    }
                }
                Err(why) => {
                    drop(permit);
                    return self.start_failed(why);
                }
            }
        }
        let cwd = std::path::PathBuf::from(&self.info.cwd);
        let (argv, env) = match self.confine(argv, env, pass_env, &cwd) {
            Ok(confined) => confined,
            Err(why) => {
                drop(permit);
                return self.start_failed(why);
            }
        };
        if self.info.state != State::Starting {
            self.set_state(State::Starting, None, None);
        }
        match Process::spawn(&argv, env, &cwd, self.ctx.config.limits.max_line, permit) {
            Ok(process) => {
                tracing::info!(session = %self.info.id, pid = process.pid, "harness started");
                let now = Instant::now();
                let outputs = adapter.start(&spec);
                self.harness = Some(Harness {
                    process,
                    adapter,
                    ready: false,
                    started: now,
                    last_line: now,
                    unquiet: false,
                });
                self.apply(outputs);
            }
            Err(e) => self.start_failed(e.to_string()),
        }
    }

    /// The harness cannot start: waiting commands fail with `why`, the session is `error`.
    fn start_failed(&mut self, why: String) {
        self.fail_waiting(&OpError::new(ErrorCode::HarnessFailed, why.clone()));
        self.set_state(State::Error, None, Some(why));
    }

    /// Wraps the harness's command line in `oqto-sandbox` with the session's profile;
    /// the command line and environment to start, or why the harness cannot start.
    pub(super) fn confine(
        &mut self,
        argv: Vec<OsString>,
        env: BTreeMap<OsString, OsString>,
        pass_env: Vec<String>,
        cwd: &Path,
    ) -> Result<(Vec<OsString>, BTreeMap<OsString, OsString>), String> {
        let profile = self
            .info
            .sandbox_profile
            .clone()
            .unwrap_or_else(|| self.ctx.config.default_sandbox_profile.clone());
        let confined = sandbox::confine(
            &self.ctx.config,
            sandbox::Request {
                profile: &profile,
                cwd,
                harness_argv: argv,
                env,
                runner_env: &self.ctx.env,
                pass_env,
                tty: false,
            },
        )?;
        self.set_sandbox_policy(&confined.policy);
        Ok((confined.argv, confined.env))
    }

    /// Keeps the policy the harness was just started under, for `session.get`.
    /// Stored with the session too, so that it survives a runner restart.
    pub(super) fn set_sandbox_policy(&mut self, policy: &serde_json::Value) {
        let text: Arc<str> = policy.to_string().into();
        *self.shared.sandbox.lock().expect("sandbox lock") = Some(Arc::clone(&text));
        let id = self.info.id.clone();
        self.ctx
            .store
            .spawn("storing the sandbox policy", move |store| {
                store.set_sandbox_policy(&id, &text)
            });
    }

    pub(super) async fn on_line(&mut self, line: ProcLine) {
        let now = now_millis();
        let Some(h) = &mut self.harness else { return };
        h.last_line = Instant::now();
        h.unquiet = true;
        let outputs = match line {
            ProcLine::Line(line) => h.adapter.feed(&line, now),
            ProcLine::Invalid(len) => {
                tracing::warn!(session = %self.info.id, "harness wrote a {len}-byte line that is not UTF-8; dropped");
                Vec::new()
            }
            ProcLine::Eof(error) => {
                if let Some(error) = error {
                    tracing::warn!(session = %self.info.id, "reading the harness: {error}");
                }
                self.harness_died().await;
                return;
            }
        };
        self.apply_stored(outputs).await;
    }

    /// [`apply`](Self::apply) for outputs from harness lines: events that end a message are
    /// stored before they go out.
    pub(super) async fn apply_stored(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Event(kind) => self.publish_stored(kind).await,
                other => self.apply(vec![other]),
            }
        }
    }

    /// The harness closed stdout unasked: it crashed or exited.
    pub(super) async fn harness_died(&mut self) {
        let Some(h) = self.harness.take() else { return };
        let tail = h.process.stderr_tail(CRASH_STDERR_LINES);
        let was_ready = h.ready;
        let status = h
            .process
            .reap(self.ctx.config.timeouts.shutdown_grace)
            .await;
        let mut reason = format!(
            "{} {}{}",
            self.info.harness,
            describe_exit(status),
            if was_ready { "" } else { " before ready" }
        );
        if !tail.is_empty() {
            reason.push_str(": ");
            reason.push_str(&tail.join(" | "));
        }
        tracing::warn!(session = %self.info.id, "{reason}");
        self.harness_gone(&reason, State::Error).await;
    }

    /// Cleans up after the process is gone: open work ends with `reason`, the state
    /// becomes `state`.
    pub(super) async fn harness_gone(&mut self, reason: &str, state: State) {
        self.resolve_stranded_permissions();
        let part_id = self.ctx.ids.clone().part_id();
        for event in self.transcript().abandon(reason, part_id) {
            self.publish_stored(event).await;
        }
        for (message_id, mut part) in self.transcript().running_tools() {
            if let Part::ToolCall { status, .. } = &mut part {
                *status = ToolStatus::Aborted;
            }
            self.publish_stored(EventKind::ToolEnd { message_id, part })
                .await;
        }
        self.tags.clear();
        let error = OpError::new(ErrorCode::HarnessFailed, reason);
        for (_, pending) in self.pending.drain() {
            let _ = pending.reply.send(Err(error.clone()));
        }
        self.fail_waiting(&error);
        if state == State::Error {
            self.publish(EventKind::Error {
                code: ErrorCode::HarnessFailed,
                message: reason.to_owned(),
                recoverable: true,
            });
        }
        self.set_state(state, None, Some(reason.to_owned()));
    }

    /// Stops the harness on purpose (close, delete, reaping, shutdown).
    pub(super) async fn stop_harness(&mut self) {
        let Some(mut h) = self.harness.take() else {
            return;
        };
        for line in h.adapter.stop_lines() {
            h.process.write(line);
        }
        let grace = self.ctx.config.timeouts.shutdown_grace;
        let status = h.process.stop(grace).await;
        tracing::info!(session = %self.info.id, "harness stopped ({})", describe_exit(status));
        self.resolve_stranded_permissions();
        let reason = "the harness was stopped";
        let part_id = self.ctx.ids.clone().part_id();
        for event in self.transcript().abandon(reason, part_id) {
            self.publish_stored(event).await;
        }
        self.tags.clear();
        let error = OpError::new(ErrorCode::HarnessFailed, reason);
        for (_, pending) in self.pending.drain() {
            let _ = pending.reply.send(Err(error.clone()));
        }
        self.fail_waiting(&error);
    }

    pub(super) fn fail_waiting(&mut self, error: &OpError) {
        for waiting in self.waiting.drain(..) {
            match waiting {
                Waiting::Start(reply) => {
                    let _ = reply.send(Err(error.clone()));
                }
                Waiting::Op(_, _, reply) => {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

//! The runner's configuration: `runner.toml` plus the command line and the environment,
//! resolved and validated once into a [`Config`]. `docs/runner.md` is the reference for
//! every key; this crate is the only place they are read. The runner and its clients
//! (`oqtoctl`, the relay) share it, so they can never disagree about where the socket is.
//!
//! Every problem in the file is reported with the file, line, column and key:
//! `runner.toml:12:1: runner.idle_timout: unknown field …`.

mod error;
mod harness;
mod lock;
mod paths;
mod permissions;
mod raw;
mod relay;
mod resolve;
mod units;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, Invalid};
pub use harness::{
    ACP_ENV_INHERIT, AGENT_ENV_INHERIT, AGENTS_PREFIX, BASE_ENV_INHERIT, BUILTIN_HARNESSES, CLAUDE,
    CODEX, Command, DEMO_HARNESS, FAKE_AGENT, GEMINI, Harness, HarnessEnv, HarnessKind, OPENCODE,
    PI_BIN_VAR, PI_ENV_INHERIT, PI_RPC_ARGS, PiLlm, Program, ProgramNotFound, ProgramSource,
    SANDBOX_BIN_VAR, SANDBOX_PROGRAM, acp_program, builtin_args, builtin_kind, default_env_inherit,
    harness_env_inherit, pi_agent_dir, pi_llm, resolve_agent, resolve_command, resolve_fake_agent,
    resolve_files, resolve_pi, resolve_sandbox,
};
pub use lock::{DataDirLock, Holder, LOCK_FILE, LockError, holder, lock_data_dir};
pub use paths::{
    ConfigFile, Environment, Overrides, PathError, Paths, SOCKET_PATH_MAX, SocketSource, data_dir,
    socket_path, state_dir,
};
pub use permissions::{
    Decision, PermissionMode, PermissionPolicy, PermissionTable, WORKSPACE_PERMISSIONS_FILE,
};
pub use relay::{
    RELAY_STATE_FILE, RelayAnnouncement, read_relay_state, relay_state_file, running_relay,
};
pub use units::{format_duration, format_size, parse_duration, parse_size};

use raw::RawFile;

/// The harness sessions use when `session.create` names none.
pub const DEFAULT_HARNESS: &str = "pi";
/// The sandbox profile harnesses run under when nothing else is asked for.
pub const DEFAULT_SANDBOX_PROFILE: &str = "development";

/// How long things may take. `None` means the timer is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// A session idle with no subscribers for this long releases its harness process.
    pub idle: Option<Duration>,
    /// A `working` session whose harness writes nothing for this long is declared hung.
    pub silence: Option<Duration>,
    /// How long a new harness has to answer its readiness handshake.
    pub ready: Duration,
    /// Between SIGTERM and SIGKILL when stopping a harness.
    pub shutdown_grace: Duration,
    /// A terminal with no client attached for this long is closed.
    pub terminal_idle: Option<Duration>,
    /// A file server (`files.open`) with no connection for this long exits.
    pub files_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            idle: Some(Duration::from_secs(30 * 60)),
            silence: Some(Duration::from_secs(5 * 60)),
            ready: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(3),
            terminal_idle: None,
            files_idle: Duration::from_secs(10 * 60),
        }
    }
}

/// Memory and process bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest JSON line read from a client or a harness, in bytes (newline excluded).
    pub max_line: usize,
    /// Events kept per session for replay to reconnecting subscribers…
    pub ring_events: usize,
    /// …and at most this many bytes of them.
    pub ring_bytes: usize,
    /// Events queued for one subscriber before it is told to resync.
    pub subscriber_queue: usize,
    /// Harness processes alive at once.
    pub max_sessions: usize,
    /// Output bytes each terminal keeps for clients that attach later (its scrollback).
    pub terminal_scrollback: usize,
    /// Terminals alive at once.
    pub max_terminals: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line: 16 << 20,
            ring_events: 4096,
            ring_bytes: 8 << 20,
            subscriber_queue: 1024,
            max_sessions: 64,
            terminal_scrollback: 1 << 20,
            max_terminals: 64,
        }
    }
}

/// Who besides the runner's own user may connect to its socket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// Sorted, without duplicates.
    pub allow_uids: Vec<u32>,
    /// Group names already resolved to gids; sorted, without duplicates.
    pub allow_groups: Vec<u32>,
}

/// The harness for sessions that name none ([`Config::default_harness_for`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultHarness {
    pub name: String,
    /// Set when the demo model stands in for the configured default: why, for people.
    pub note: Option<String>,
}

/// The validated configuration of one runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file that was read; `None` when there was none at the default location.
    pub file: Option<PathBuf>,
    pub paths: Paths,
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub access: Access,
    /// Names an enabled entry of `harnesses`.
    pub default_harness: String,
    pub default_sandbox_profile: String,
    /// `oqto-sandbox`, which every harness is started through, or where it was looked for
    /// when the configuration was loaded; [`Config::sandbox_program`] looks again.
    pub sandbox: Result<Program, ProgramNotFound>,
    /// `runner.sandbox_command` as configured, for looking again.
    pub sandbox_command: Option<Command>,
    /// Every harness by name, the built-in ones included, enabled or not.
    pub harnesses: BTreeMap<String, Harness>,
    /// `[permissions]`: how ACP agents' permission requests are answered.
    pub permissions: PermissionPolicy,
}

impl Config {
    /// Finds the config file (`--config`, else the default location), reads it if it
    /// exists, and resolves everything against `env`. A missing default file means the
    /// defaults; a missing `--config` file is an error.
    pub fn load(overrides: &Overrides, env: &Environment) -> Result<Self, ConfigError> {
        let ConfigFile { path, explicit } = Paths::config_file(overrides.config.as_deref(), env)?;
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_toml(&text, &path, overrides, env),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !explicit => {
                let mut config = Self::from_toml("", &path, overrides, env)?;
                config.file = None;
                Ok(config)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ConfigError::Missing { path }),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// Resolves the text of a config file; `file` is where it came from (for messages and
    /// [`Paths::config_file`]).
    pub fn from_toml(
        text: &str,
        file: &Path,
        overrides: &Overrides,
        env: &Environment,
    ) -> Result<Self, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let mut invalid = Invalid::from_toml(file, text, &e);
            // `idle_timeout = "5m"` above any table: say where it belongs.
            if invalid
                .key
                .as_deref()
                .is_some_and(|key| raw::RUNNER_KEYS.contains(&key))
            {
                invalid
                    .message
                    .push_str(" (runner settings go in the `[runner]` table)");
            }
            ConfigError::from(invalid)
        })?;
        resolve::Ctx { file, text, env }.resolve(&raw, overrides)
    }

    /// `oqto-sandbox`: as found at load, or, when it was missing then, looked for again
    /// now (it may have been built or installed since), so a runner started before it
    /// existed does not fail every session until it is restarted.
    pub fn sandbox_program(&self, env: &Environment) -> Result<Program, ProgramNotFound> {
        match &self.sandbox {
            Ok(program) => Ok(program.clone()),
            Err(_) => resolve_sandbox(self.sandbox_command.as_ref(), env),
        }
    }

    /// A harness by name.
    pub fn harness(&self, name: &str) -> Option<&Harness> {
        self.harnesses.get(name)
    }

    /// The harnesses sessions may use, by name.
    pub fn enabled_harnesses(&self) -> impl Iterator<Item = &Harness> {
        self.harnesses.values().filter(|h| h.enabled)
    }

    /// The pi that prompts go to: the default harness when it is a pi (other than the demo),
    /// else the one named `pi`.
    pub fn main_pi(&self) -> Option<&Harness> {
        let is_pi = |h: &&Harness| h.kind == HarnessKind::Pi && h.name != DEMO_HARNESS;
        self.harness(&self.default_harness)
            .filter(is_pi)
            .or_else(|| self.harness("pi").filter(is_pi))
    }

    /// The harness a session should use when its creator names none, as `env` (the
    /// runner's environment) makes it: the configured default, except that a pi with no
    /// model configured gives way to the demo model, so a first prompt works without a
    /// key. The runner announces the choice in its `welcome`; clients do not re-derive it.
    pub fn default_harness_for(&self, env: &Environment) -> DefaultHarness {
        let name = self.default_harness.clone();
        let is_pi = self.main_pi().is_some_and(|pi| pi.name == name);
        let demo = self.harness(DEMO_HARNESS).filter(|h| h.enabled);
        if !is_pi || demo.is_none() {
            return DefaultHarness { name, note: None };
        }
        // As pi will see it: a key or agent directory set in runner.toml counts.
        let llm = pi_llm(&self.pi_environment(env));
        if llm.configured {
            return DefaultHarness { name, note: None };
        }
        DefaultHarness {
            name: DEMO_HARNESS.to_owned(),
            note: Some(format!(
                "pi has no model configured ({}): using the bundled DEMO model (harness `{DEMO_HARNESS}`: scripted replies, not a real LLM). Set a provider key such as ANTHROPIC_API_KEY, or pass --harness {name}.",
                llm.detail
            )),
        }
    }

    /// `env` as [`Config::main_pi`] sees it (a provider key or `PI_CODING_AGENT_DIR` set in
    /// its `env` counts; a variable it does not inherit does not), or `env` itself when
    /// there is no pi.
    pub fn pi_environment(&self, env: &Environment) -> Environment {
        match self.main_pi() {
            Some(pi) => pi.environment(env),
            None => env.clone(),
        }
    }
}

#[cfg(test)]
mod tests;

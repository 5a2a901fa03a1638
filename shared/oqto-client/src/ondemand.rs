//! Finding the runner, and starting one when none answers, so a client works from cron
//! with no daemon set up beforehand. The socket is resolved by `oqto-config`, exactly as
//! the runner resolves it.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use oqto_config::{Config, ConfigError, Environment, Overrides, SocketSource};
use oqto_ipc::spawn::Spawn;

use crate::{Client, Error};

/// The variable naming the `oqto-runner` executable to start.
pub const RUNNER_BIN_VAR: &str = "OQTO_RUNNER_BIN";
/// How long a started runner may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(15);
/// The log is moved to `runner.log.1` at start once it is this big.
const LOG_ROTATE_BYTES: u64 = 8 * 1024 * 1024;

/// Where the runner is (or will be), and how to start it.
#[derive(Debug)]
pub struct Runner {
    pub env: Environment,
    pub config: Config,
    /// `--socket` as given, passed on to a runner this starts.
    pub socket_flag: Option<PathBuf>,
    /// Whether [`Runner::connect`] may start a runner.
    pub autostart: bool,
    /// The name this client gives in its `hello`.
    pub client: String,
}

impl Runner {
    /// Reads the runner's configuration the way the runner will (`runner.toml`, XDG
    /// paths) from this process's environment.
    pub fn load(
        socket_flag: Option<PathBuf>,
        autostart: bool,
        client: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        Self::with_env(Environment::capture(), socket_flag, autostart, client)
    }

    /// As [`Runner::load`], with the environment given.
    pub fn with_env(
        env: Environment,
        socket_flag: Option<PathBuf>,
        autostart: bool,
        client: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let overrides = Overrides {
            socket: socket_flag.clone(),
            ..Overrides::default()
        };
        let config = Config::load(&overrides, &env)?;
        Ok(Self {
            env,
            config,
            socket_flag,
            autostart,
            client: client.into(),
        })
    }

    pub fn socket(&self) -> &Path {
        &self.config.paths.socket
    }

    pub fn socket_source(&self) -> SocketSource {
        self.config.paths.socket_source
    }

    /// `$XDG_STATE_HOME/oqto/runner.log`: where a runner this starts writes its log.
    pub fn log_file(&self) -> PathBuf {
        self.config.paths.state_dir.join("runner.log")
    }

    /// Connects, starting a runner first if none answers and autostart is allowed. When
    /// none answers on this socket but a runner holds the data directory (started with
    /// another socket, e.g. from a shell with another `XDG_RUNTIME_DIR`), that one is used.
    pub async fn connect(&self) -> Result<Client, Error> {
        match self.connect_here_or_holder().await {
            Err(e) if e.is_absent() && self.autostart => {
                self.start().await?;
                self.connect_here_or_holder().await
            }
            other => other,
        }
    }

    /// Connects without starting anything: `None` when no runner answers.
    pub async fn connect_existing(&self) -> Result<Option<Client>, Error> {
        match self.connect_here_or_holder().await {
            Ok(client) => Ok(Some(client)),
            Err(e) if e.is_absent() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The runner holding this configuration's data directory, if one does.
    pub fn data_dir_holder(&self) -> Option<oqto_config::Holder> {
        oqto_config::holder(&self.config.paths.data_dir)
    }

    async fn data_dir_holder_async(&self) -> Option<oqto_config::Holder> {
        let dir = self.config.paths.data_dir.clone();
        // It may wait a few milliseconds for a holder that is writing its socket.
        tokio::task::spawn_blocking(move || oqto_config::holder(&dir))
            .await
            .ok()
            .flatten()
    }

    async fn connect_here_or_holder(&self) -> Result<Client, Error> {
        let here = Client::connect(self.socket(), &self.client).await;
        match here {
            Err(e) if e.is_absent() => match self.data_dir_holder_async().await {
                Some(holder) if holder.socket != self.socket() => {
                    tracing::info!(
                        socket = %holder.socket.display(),
                        pid = holder.pid,
                        "using the runner that holds the data directory"
                    );
                    Client::connect(&holder.socket, &self.client).await
                }
                _ => Err(e),
            },
            other => other,
        }
    }

    /// Connects again after the runner went away (restarted, upgraded, killed): tries
    /// with a growing pause (50 ms up to 2 s) until `within` has passed, starting a runner
    /// when autostart is allowed. The caller resubscribes with the last seq it saw.
    pub async fn reconnect(&self, within: Duration) -> Result<Client, Error> {
        let give_up = Instant::now() + within;
        let mut delay = Duration::from_millis(50);
        loop {
            match self.connect().await {
                Ok(client) => return Ok(client),
                Err(e) if Instant::now() > give_up => return Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, "runner not back yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Starts a runner in the background unless one answers already; returns its pid
    /// (`None` when one was running). Two clients starting at once start one runner.
    pub async fn start(&self) -> Result<Option<u32>, Error> {
        let state_dir = &self.config.paths.state_dir;
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::io(format!("creating {}", state_dir.display()), e))?;
        let lock_path = state_dir.join("autostart.lock");
        let lock_file = File::create(&lock_path)
            .map_err(|e| Error::io(format!("creating {}", lock_path.display()), e))?;
        let _lock = tokio::task::spawn_blocking(move || {
            Flock::lock(lock_file, FlockArg::LockExclusive).map_err(|(_, e)| e)
        })
        .await
        .map_err(|e| Error::io("locking", std::io::Error::other(e)))?
        .map_err(|e| Error::io(format!("locking {}", lock_path.display()), e.into()))?;
        if self.connect_here_or_holder().await.is_ok() {
            return Ok(None);
        }
        let program = runner_bin(&self.env)?;
        let log_path = self.log_file();
        rotate(&log_path);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
        let mut spawn = Spawn::new(&program)
            .envs(self.env.vars())
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its log is worth reading: starts, stops, harness crashes (OQTO_LOG overrides).
            .arg("-v");
        if let Some(socket) = &self.socket_flag {
            spawn = spawn.arg("--socket").arg(socket);
        }
        let mut child = spawn.spawn().map_err(|e| Error::Start {
            message: format!("cannot start the runner {}: {e}", program.display()),
            log: None,
        })?;
        let pid = child.id();
        tracing::info!(pid, program = %program.display(), "started oqto-runner");
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if Client::connect(self.socket(), &self.client).await.is_ok() {
                // Reaped by init once we exit; it runs on in its own process group.
                drop(child);
                return Ok(Some(pid));
            }
            let exited = child
                .try_wait()
                .map_err(|e| Error::io("waiting for the runner", e))?;
            if let Some(status) = exited {
                return Err(Error::Start {
                    message: format!(
                        "the runner exited at start ({status}):\n{}",
                        log_tail(&log_path, 10)
                    ),
                    log: Some(log_path),
                });
            }
            if Instant::now() > deadline {
                return Err(Error::Start {
                    message: format!(
                        "the runner (pid {pid}) did not answer within {}s",
                        START_DEADLINE.as_secs()
                    ),
                    log: Some(log_path),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// `$OQTO_RUNNER_BIN` > `oqto-runner` next to this executable (or one directory up, for a
/// test binary in `target/<profile>/deps/`) > `oqto-runner` on `PATH`.
pub fn runner_bin(env: &Environment) -> Result<PathBuf, Error> {
    if let Some(path) = env.var_nonempty(RUNNER_BIN_VAR) {
        return Ok(PathBuf::from(path));
    }
    sibling_bin(env, "oqto-runner").ok_or_else(|| Error::NotFound {
        program: "oqto-runner".into(),
    })
}

/// A program of this toolkit: next to this executable, else on `PATH`.
pub fn sibling_bin(env: &Environment, name: &str) -> Option<PathBuf> {
    if let Some(dir) = env.current_exe().and_then(Path::parent) {
        let mut dirs = vec![dir.to_path_buf()];
        if dir.file_name().is_some_and(|n| n == "deps") {
            dirs.extend(dir.parent().map(Path::to_path_buf));
        }
        for dir in dirs {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let path: OsString = env.var_nonempty("PATH")?.to_owned();
    which::which_in(name, Some(path), "/").ok()
}

fn rotate(log: &Path) {
    if std::fs::metadata(log).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
        let _ = std::fs::rename(log, log.with_extension("log.1"));
    }
}

/// The last `n` lines of a file, indented, for an error message.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

//! Finding the runner, and starting one when none answers (so `oqtoctl prompt` works from
//! cron with no daemon set up beforehand).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::fcntl::{Flock, FlockArg};
use oqto_cli::{CliError, Exit};
use oqto_ipc::spawn::Spawn;
use oqto_runner::config::{Config, Environment, Overrides, SocketSource};

use crate::conn::Conn;

/// The variable naming the `oqto-runner` executable to start.
pub const RUNNER_BIN_VAR: &str = "OQTO_RUNNER_BIN";
/// How long a started runner may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(15);
/// The log is moved to `runner.log.1` at start once it is this big.
const LOG_ROTATE_BYTES: u64 = 8 * 1024 * 1024;

/// Where the runner is (or will be) and how to start it.
#[derive(Debug)]
pub struct Target {
    pub env: Environment,
    pub config: Config,
    /// `--socket` as given, passed on to a runner we start.
    pub socket_flag: Option<PathBuf>,
    pub autostart: bool,
}

impl Target {
    /// Reads the runner's configuration the way the runner will (`runner.toml`, XDG paths).
    pub fn load(socket_flag: Option<PathBuf>, autostart: bool) -> anyhow::Result<Self> {
        let env = Environment::capture();
        let overrides = Overrides {
            socket: socket_flag.clone(),
            ..Overrides::default()
        };
        let config = Config::load(&overrides, &env)
            .map_err(|e| CliError::new(Exit::Failure, format!("runner configuration: {e}")))?;
        Ok(Self {
            env,
            config,
            socket_flag,
            autostart,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.config.paths.socket
    }

    pub fn socket_source(&self) -> SocketSource {
        self.config.paths.socket_source
    }

    /// `$XDG_STATE_HOME/oqto/runner.log`: where a runner we start writes its log.
    pub fn log_file(&self) -> PathBuf {
        self.config.paths.state_dir.join("runner.log")
    }

    /// Connects, starting a runner first if none answers and autostart is allowed.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        match Conn::connect(self.socket()).await {
            Ok(conn) => Ok(conn),
            Err(e) if is_absent(&e) && self.autostart => {
                self.start().await?;
                Conn::connect(self.socket())
                    .await
                    .map_err(|e| self.unreachable(&e).into())
            }
            Err(e) => Err(self.unreachable(&e).into()),
        }
    }

    /// Connects without starting anything: `None` when no runner answers.
    pub async fn connect_existing(&self) -> anyhow::Result<Option<Conn>> {
        match Conn::connect(self.socket()).await {
            Ok(conn) => Ok(Some(conn)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(self.unreachable(&e).into()),
        }
    }

    fn unreachable(&self, e: &io::Error) -> CliError {
        let error = CliError::new(
            Exit::RunnerUnreachable,
            format!("no runner answers on {}: {e}", self.socket().display()),
        );
        if e.kind() == io::ErrorKind::PermissionDenied {
            return CliError::new(
                Exit::PermissionDenied,
                format!("cannot connect to {}: {e}", self.socket().display()),
            )
            .with_hint("the runner accepts only its own user (and those allowed in runner.toml)");
        }
        if self.autostart {
            error.with_hint("`oqtoctl runner logs` shows why the runner did not start")
        } else {
            error.with_hint("start one with `oqtoctl runner start`, or drop --no-autostart")
        }
    }

    /// Starts a runner in the background unless one answers already; returns its pid
    /// (`None` when one was running). Two clients starting at once start one runner.
    pub async fn start(&self) -> anyhow::Result<Option<u32>> {
        let state_dir = &self.config.paths.state_dir;
        std::fs::create_dir_all(state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let lock_path = state_dir.join("autostart.lock");
        let lock_file = File::create(&lock_path)
            .with_context(|| format!("creating {}", lock_path.display()))?;
        let _lock = tokio::task::spawn_blocking(move || {
            Flock::lock(lock_file, FlockArg::LockExclusive).map_err(|(_, e)| e)
        })
        .await?
        .with_context(|| format!("locking {}", lock_path.display()))?;
        if Conn::connect(self.socket()).await.is_ok() {
            return Ok(None);
        }
        let program = runner_bin(&self.env)?;
        let log_path = self.log_file();
        rotate(&log_path);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut spawn = Spawn::new(&program)
            .envs(std::env::vars_os())
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its log is worth reading: starts, stops, harness crashes (OQTO_LOG overrides).
            .arg("-v");
        if let Some(socket) = &self.socket_flag {
            spawn = spawn.arg("--socket").arg(socket);
        }
        let mut child = spawn.spawn().map_err(|e| {
            CliError::new(
                Exit::RunnerUnreachable,
                format!("cannot start the runner: {e}"),
            )
            .with_hint(format!(
                "install oqto-runner next to oqtoctl or on PATH, or set {RUNNER_BIN_VAR}"
            ))
        })?;
        let pid = child.id();
        tracing::info!(pid, program = %program.display(), "started oqto-runner");
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if Conn::connect(self.socket()).await.is_ok() {
                // Reaped by init once we exit; it runs on in its own process group.
                drop(child);
                return Ok(Some(pid));
            }
            if let Some(status) = child.try_wait()? {
                return Err(CliError::new(
                    Exit::RunnerUnreachable,
                    format!(
                        "the runner exited at start ({status}):\n{}",
                        log_tail(&log_path, 10)
                    ),
                )
                .with_hint(format!("the whole log is {}", log_path.display()))
                .into());
            }
            if Instant::now() > deadline {
                return Err(CliError::new(
                    Exit::RunnerUnreachable,
                    format!(
                        "the runner (pid {pid}) did not answer within {}s",
                        START_DEADLINE.as_secs()
                    ),
                )
                .with_hint(format!("see {}", log_path.display()))
                .into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Nobody listens: no socket file, or a stale one.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

/// `$OQTO_RUNNER_BIN` > `oqto-runner` next to this executable (or one directory up, for a
/// test binary in `target/<profile>/deps/`) > `oqto-runner` on `PATH`.
pub fn runner_bin(env: &Environment) -> anyhow::Result<PathBuf> {
    if let Some(path) = env.var_nonempty(RUNNER_BIN_VAR) {
        return Ok(PathBuf::from(path));
    }
    sibling_bin(env, "oqto-runner").ok_or_else(|| {
        CliError::new(
            Exit::RunnerUnreachable,
            "cannot find oqto-runner next to oqtoctl or on PATH",
        )
        .with_hint(format!("install it, or set {RUNNER_BIN_VAR}"))
        .into()
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

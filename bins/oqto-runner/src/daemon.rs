//! Start-up and shutdown: configuration, the socket (bound, or handed over by systemd),
//! the store, the sessions, signals.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use oqto_cli::{CliError, Exit};
use oqto_ipc::socket::{BindError, bind_tokio, remove};
use tokio::signal::unix::{SignalKind, signal};

use crate::config::{Config, Environment, Overrides};
use crate::context::Context;
use crate::runner::Runner;
use crate::store::StoreHandle;

/// The database file inside the data directory.
pub const HISTORY_DB: &str = "history.db";

/// What the command line asks for.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub socket: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
}

/// Runs the daemon until SIGTERM, SIGINT or `runner.shutdown`.
pub fn run(options: Options) -> anyhow::Result<Exit> {
    let env = Environment::capture();
    let overrides = Overrides {
        socket: options.socket,
        data_dir: options.data_dir,
        config: options.config,
    };
    let config =
        Config::load(&overrides, &env).map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("oqto-runner")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config, env))
}

async fn serve(config: Config, env: Environment) -> anyhow::Result<Exit> {
    let socket = config.paths.socket.clone();
    // A live runner on the socket is refused before anything else is touched.
    if crate::activation::listener_fds(&env) == 0 && oqto_ipc::socket::is_live(&socket) {
        return Err(in_use(&socket));
    }
    // One runner per data directory, whatever socket it was started with: a second one
    // would resume the same sessions with a second seq counter.
    let _data_lock = lock_data_dir(&config.paths.data_dir, &socket).await?;
    let db = config.paths.data_dir.join(HISTORY_DB);
    let (store, store_thread) = StoreHandle::open(&db)
        .map_err(|e| CliError::new(Exit::Failure, format!("cannot open {}: {e}", db.display())))?;
    let ctx = Arc::new(Context::new(config, env, store));
    let runner = Runner::load(Arc::clone(&ctx), &socket)
        .await
        .map_err(|e| CliError::new(Exit::Failure, format!("cannot load sessions: {e}")))?;
    // Bound only now: a client that can connect gets its `welcome` at once.
    let (listener, activated) = match crate::activation::listener(&ctx.env)? {
        Some(listener) => (listener, true),
        None => (bind(&socket)?, false),
    };
    tracing::info!(
        socket = %socket.display(),
        activated,
        pid = std::process::id(),
        "oqto-runner listening"
    );

    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let signals = {
        let runner = Arc::clone(&runner);
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = int.recv() => tracing::info!("SIGINT: stopping"),
            }
            runner.request_shutdown();
        })
    };
    // The socket file is removed only while it is still the one bound here: by the time
    // the harnesses are stopped, a new runner may have taken the path over.
    let bound = socket_inode(&socket);
    crate::server::serve(listener, Arc::clone(&runner)).await;
    signals.abort();
    if !activated && bound.is_some() && socket_inode(&socket) == bound {
        if let Err(e) = remove(&socket) {
            tracing::warn!(error = %e, "removing the socket");
        }
    }
    runner.stop_all().await;
    // Writes run in order on the store thread: once this no-op ran, every state and
    // message queued before it is on disk.
    let _ = ctx.store.call(|_| Ok(())).await;
    drop(store_thread);
    tracing::info!("oqto-runner stopped");
    Ok(Exit::Ok)
}

/// How long a new runner waits for one that is stopping to let go of the data directory.
const STOPPING_RUNNER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Takes the data directory. A holder that still answers on its socket is a running
/// runner: refused at once, naming its socket. One whose socket is gone is stopping (it
/// removes its socket first, then stops its harnesses): waited for.
async fn lock_data_dir(
    dir: &std::path::Path,
    socket: &std::path::Path,
) -> anyhow::Result<oqto_config::DataDirLock> {
    let give_up = std::time::Instant::now() + STOPPING_RUNNER_WAIT;
    loop {
        match oqto_config::lock_data_dir(dir, socket) {
            Ok(lock) => {
                if !lock.is_held() {
                    tracing::warn!(dir = %dir.display(), "read-only data directory without a lock file: not locked");
                }
                return Ok(lock);
            }
            Err(oqto_config::LockError::Held { holder, .. })
                if !oqto_ipc::socket::is_live(&holder.socket)
                    && std::time::Instant::now() < give_up =>
            {
                tracing::debug!(pid = holder.pid, "waiting for a stopping runner");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => {
                let error = CliError::new(Exit::Failure, e.to_string());
                return Err(match e {
                    oqto_config::LockError::Held { holder, .. } => error.with_hint(format!(
                        "clients reach it with --socket {} (oqtoctl finds it on its own)",
                        holder.socket.display()
                    )),
                    oqto_config::LockError::Io { .. } => error,
                }
                .into());
            }
        }
    }
}

fn socket_inode(socket: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(socket)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

fn bind(socket: &std::path::Path) -> anyhow::Result<tokio::net::UnixListener> {
    bind_tokio(socket).map_err(|e| match e {
        BindError::InUse { path } => in_use(&path),
        other => anyhow::Error::new(other),
    })
}

fn in_use(path: &std::path::Path) -> anyhow::Error {
    CliError::new(
        Exit::Failure,
        format!(
            "another oqto-runner is already listening on {}",
            path.display()
        ),
    )
    .with_hint("stop it first (`oqtoctl runner stop`), or pass another --socket")
    .into()
}

//! File servers: `files.open` starts `oqto-files` for a workspace directory on a private
//! Unix socket (`<runner socket dir>/files/files-N.sock`, admitting the same peers as the
//! runner's own socket), hands its path to every caller that asks for the same directory
//! while it runs, and stops it with the runner. The server exits by itself after
//! `files_idle_timeout` with no connection (`oqto-files --idle-exit`); its task here reaps
//! it and forgets it, and the next `files.open` starts a new one.
//!
//! A server found in the table is checked by connecting to it before it is handed out; a
//! connection counts as activity, so the caller then has a whole idle period to connect.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oqto_ipc::spawn::Spawn;
use oqto_protocol::ErrorCode;
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

use crate::context::Context;
use crate::runner::Failure;

/// How long a new file server has to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Server {
    id: u64,
    socket: PathBuf,
    /// Asks the task to stop the server (SIGTERM, grace, SIGKILL).
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Every running file server of this runner, by the directory it serves.
#[derive(Debug, Default)]
pub struct FileServers {
    table: Arc<Mutex<HashMap<PathBuf, Server>>>,
    next: AtomicU64,
}

impl FileServers {
    /// The socket of the server for `root` (an absolute directory), starting it if none
    /// runs. Returns the socket and the directory as served (symlinks resolved).
    pub async fn open(&self, ctx: &Context, root: &Path) -> Result<(PathBuf, PathBuf), Failure> {
        let root = std::fs::canonicalize(root).map_err(|e| {
            (
                ErrorCode::NotFound,
                format!("files.open: {}: {e}", root.display()),
            )
        })?;
        if !root.is_dir() {
            return Err((
                ErrorCode::NotADirectory,
                format!("files.open: {} is not a directory", root.display()),
            ));
        }
        // Held while a server starts: two callers for one directory get one server.
        let mut table = self.table.lock().await;
        if let Some(server) = table.get(&root) {
            if !server.task.is_finished() && oqto_ipc::socket::is_live(&server.socket) {
                return Ok((server.socket.clone(), root));
            }
            if let Some(stale) = table.remove(&root) {
                let _ = stale.stop.send(());
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let socket = socket_dir(ctx)?.join(format!("files-{id}.sock"));
        let child = start(ctx, &root, &socket).await?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(watch(
            Arc::clone(&self.table),
            id,
            root.clone(),
            socket.clone(),
            child,
            stopped,
            ctx.config.timeouts.shutdown_grace,
        ));
        table.insert(
            root.clone(),
            Server {
                id,
                socket: socket.clone(),
                stop,
                task,
            },
        );
        Ok((socket, root))
    }

    /// Stops every server and waits for them (at shutdown).
    pub async fn close_all(&self) {
        let servers: Vec<Server> = self.table.lock().await.drain().map(|(_, s)| s).collect();
        for server in &servers {
            tracing::debug!(socket = %server.socket.display(), "stopping a file server");
        }
        let tasks = servers.into_iter().map(|server| {
            let _ = server.stop.send(());
            server.task
        });
        futures_util::future::join_all(tasks).await;
    }
}

/// `files/` beside the runner's socket.
fn socket_dir(ctx: &Context) -> Result<PathBuf, Failure> {
    ctx.config
        .paths
        .socket
        .parent()
        .map(|dir| dir.join("files"))
        .ok_or_else(|| {
            (
                ErrorCode::Internal,
                "the runner's socket has no directory".into(),
            )
        })
}

/// Starts `oqto-files` and waits until it listens.
async fn start(
    ctx: &Context,
    root: &Path,
    socket: &Path,
) -> Result<tokio::process::Child, Failure> {
    let program = oqto_config::resolve_files(&ctx.env)
        .map_err(|e| (ErrorCode::Unsupported, format!("files.open: {e}")))?;
    let mut spawn = Spawn::new(&program.path)
        .arg("--root")
        .arg(root)
        .arg("--socket")
        .arg(socket)
        .arg("--idle-exit")
        .arg(ctx.config.timeouts.files_idle.as_secs().max(1).to_string())
        .arg("--exit-with-parent")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for uid in &ctx.config.access.allow_uids {
        spawn = spawn.arg("--allow-uid").arg(uid.to_string());
    }
    for gid in &ctx.config.access.allow_groups {
        spawn = spawn.arg("--allow-group").arg(gid.to_string());
    }
    let mut child = spawn
        .spawn_tokio()
        .map_err(|e| (ErrorCode::Io, format!("files.open: {e}")))?;
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let mut step = Duration::from_millis(1);
    loop {
        if oqto_ipc::socket::is_live(socket) {
            tracing::info!(root = %root.display(), socket = %socket.display(), pid = child.id(), "file server started");
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err((
                ErrorCode::Io,
                format!(
                    "files.open: oqto-files for {} exited at start ({status}); the runner's log has its error",
                    root.display()
                ),
            ));
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = oqto_ipc::spawn::terminate(&mut child, Duration::from_secs(1)).await;
            return Err((
                ErrorCode::Timeout,
                format!(
                    "files.open: oqto-files for {} did not listen within {}s",
                    root.display(),
                    START_TIMEOUT.as_secs()
                ),
            ));
        }
        tokio::time::sleep(step).await;
        step = (step * 2).min(Duration::from_millis(20));
    }
}

/// Owns a running server until it exits by itself (idle) or is told to stop.
async fn watch(
    table: Arc<Mutex<HashMap<PathBuf, Server>>>,
    id: u64,
    root: PathBuf,
    socket: PathBuf,
    mut child: tokio::process::Child,
    stop: oneshot::Receiver<()>,
    grace: Duration,
) {
    tokio::select! {
        status = child.wait() => {
            tracing::info!(root = %root.display(), status = ?status.ok(), "file server ended");
            let mut table = table.lock().await;
            if table.get(&root).is_some_and(|s| s.id == id) {
                table.remove(&root);
            }
        }
        _ = stop => {
            if let Err(e) = oqto_ipc::spawn::terminate(&mut child, grace).await {
                tracing::warn!(root = %root.display(), error = %e, "stopping a file server");
            }
        }
    }
    // Gone after SIGTERM (it removes its socket itself) or SIGKILL (it cannot).
    if std::fs::symlink_metadata(&socket).is_ok() && !oqto_ipc::socket::is_live(&socket) {
        let _ = oqto_ipc::socket::remove(&socket);
    }
}

//! Where connections come from: stdin/stdout, or a Unix socket (one thread per client,
//! admitted by [`Access`]: the server's own user and the uids and groups it is told about).

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{SigSet, Signal};
use oqto_ipc::queue::{OutputKind, widen_output};
use oqto_ipc::socket::{Access, PeerCred};
use oqto_protocol::{ErrorCode, ErrorResponse, FilesServerMessage};
use tracing::{debug, info, info_span, warn};

use crate::Limits;
use crate::confine::Root;
use crate::conn;
use crate::ops::Fs;

/// Most clients served at once on a socket; more wait in the listen backlog.
const MAX_CLIENTS: usize = 64;

/// The validated configuration of a server.
#[derive(Clone, Debug)]
pub struct Options {
    pub root: PathBuf,
    pub read_only: bool,
    pub limits: Limits,
    /// Who may connect to the socket besides the server's own user.
    pub access: Access,
    /// On a socket: exit after this long without any connection.
    pub idle_exit: Option<std::time::Duration>,
}

/// Largest output buffer asked for, whatever `--max-chunk` says.
const MAX_OUTPUT_BUFFER: usize = 4 << 20;

/// Widens the kernel buffer of a connection's output (see [`widen_output`]): a pipe
/// to one frame (`max_chunk`; unprivileged processes get at most
/// `/proc/sys/fs/pipe-max-size`, 1 MiB by default), a socket's send buffer to two frames
/// (at most twice `net.core.wmem_max`), both at most 4 MiB. A refusal only costs throughput.
fn widen(out: &File, limits: &Limits) {
    let want = |kind| match kind {
        OutputKind::Pipe => limits.max_chunk.min(MAX_OUTPUT_BUFFER),
        OutputKind::Socket => limits.max_chunk.saturating_mul(2).min(MAX_OUTPUT_BUFFER),
        OutputKind::Other => 0,
    };
    match widen_output(out, want) {
        Ok((kind, size)) => debug!(?kind, size, "output buffer"),
        Err(e) => debug!(error = %e, "cannot widen the output buffer"),
    }
}

fn open_fs(options: &Options) -> anyhow::Result<Arc<Fs>> {
    let root = Root::open(&options.root)
        .with_context(|| format!("cannot open root directory {}", options.root.display()))?;
    Ok(Arc::new(Fs::new(root)))
}

/// Blocking I/O on a descriptor another program may have made non-blocking.
fn blocking(fd: OwnedFd) -> anyhow::Result<File> {
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    if flags.contains(OFlag::O_NONBLOCK) {
        fcntl(&fd, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    }
    Ok(File::from(fd))
}

/// Serves one client on stdin/stdout until stdin closes.
pub fn serve_stdio(options: &Options) -> anyhow::Result<()> {
    let fs = open_fs(options)?;
    let input = blocking(std::io::stdin().as_fd().try_clone_to_owned()?)?;
    let output = blocking(std::io::stdout().as_fd().try_clone_to_owned()?)?;
    widen(&output, &options.limits);
    info!(root = %fs.root.path().display(), "serving on stdio");
    conn::serve(fs, options.limits, options.read_only, input, output)?;
    Ok(())
}

/// Listens on `socket` until SIGTERM or SIGINT, then removes it.
pub fn serve_socket(options: &Options, socket: &Path) -> anyhow::Result<()> {
    let fs = open_fs(options)?;
    // Signals are taken synchronously by one thread; every other thread has them blocked.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGHUP);
    signals.thread_block()?;
    let listener = oqto_ipc::socket::bind(socket)?;
    info!(root = %fs.root.path().display(), socket = %socket.display(), "listening");
    let socket_path = socket.to_owned();
    std::thread::Builder::new()
        .name("files-signals".into())
        .spawn(move || {
            let signal = signals.wait();
            info!(?signal, "shutting down");
            if let Err(e) = oqto_ipc::socket::remove(&socket_path) {
                warn!(error = %e, "cannot remove the socket");
            }
            std::process::exit(0);
        })?;
    let active = Arc::new(Activity::default());
    if let Some(idle) = options.idle_exit {
        let active = Arc::clone(&active);
        let socket_path = socket.to_owned();
        std::thread::Builder::new()
            .name("files-idle".into())
            .spawn(move || {
                active.wait_idle(idle);
                info!(idle = ?idle, "no connection for the idle time; exiting");
                if let Err(e) = oqto_ipc::socket::remove(&socket_path) {
                    warn!(error = %e, "cannot remove the socket");
                }
                std::process::exit(0);
            })?;
    }
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "accept failed");
                continue;
            }
        };
        match oqto_ipc::socket::peer_cred(&stream) {
            Ok(cred) if options.access.admits(&cred) => {}
            Ok(cred) => {
                warn!(uid = cred.uid, pid = ?cred.pid, "refused a client of another user");
                refuse(stream, &cred);
                continue;
            }
            Err(e) => {
                warn!(error = %e, "no peer credentials; refusing");
                continue;
            }
        }
        if active.count() >= MAX_CLIENTS {
            warn!("too many clients; refusing one");
            continue;
        }
        let output = match stream.try_clone() {
            Ok(s) => File::from(OwnedFd::from(s)),
            Err(e) => {
                warn!(error = %e, "cannot clone the client socket");
                continue;
            }
        };
        widen(&output, &options.limits);
        let input = File::from(OwnedFd::from(stream));
        let fs = Arc::clone(&fs);
        let limits = options.limits;
        let read_only = options.read_only;
        let active = Arc::clone(&active);
        active.begin();
        let spawned = std::thread::Builder::new()
            .name("files-conn".into())
            .spawn(move || {
                let _span = info_span!("conn").entered();
                if let Err(e) = conn::serve(fs, limits, read_only, input, output) {
                    info!(error = %e, "connection ended");
                }
                active.end();
            });
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start a connection thread");
        }
    }
    Ok(())
}

/// How many clients are connected, and since when none is: for `--idle-exit`.
#[derive(Debug)]
struct Activity {
    state: std::sync::Mutex<(usize, std::time::Instant)>,
    changed: std::sync::Condvar,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            state: std::sync::Mutex::new((0, std::time::Instant::now())),
            changed: std::sync::Condvar::new(),
        }
    }
}

impl Activity {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, std::time::Instant)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count(&self) -> usize {
        self.lock().0
    }

    fn begin(&self) {
        self.lock().0 += 1;
        self.changed.notify_all();
    }

    fn end(&self) {
        let mut state = self.lock();
        state.0 = state.0.saturating_sub(1);
        state.1 = std::time::Instant::now();
        self.changed.notify_all();
    }

    /// Returns once no client has been connected for `idle`.
    fn wait_idle(&self, idle: std::time::Duration) {
        let mut state = self.lock();
        loop {
            let (count, since) = *state;
            let wait = if count > 0 {
                idle
            } else {
                match idle.checked_sub(since.elapsed()) {
                    None | Some(std::time::Duration::ZERO) => return,
                    Some(left) => left,
                }
            };
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// Tells a refused client why in one `permission_denied` line, then closes. The rest of what
/// it sends is read and dropped for a moment first (on its own thread, so the accept loop
/// goes on), so that it reads the error instead of a reset.
fn refuse(mut stream: std::os::unix::net::UnixStream, cred: &PeerCred) {
    use std::io::{Read, Write};
    const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);
    const DRAIN_BYTES: usize = 1 << 20;
    let line = FilesServerMessage::Error(ErrorResponse::new(
        None,
        ErrorCode::PermissionDenied,
        format!("uid {} may not use this file server", cred.uid),
    ))
    .to_line();
    let sent = stream
        .set_write_timeout(Some(DRAIN_TIME))
        .and_then(|()| stream.write_all(format!("{line}\n").as_bytes()))
        .and_then(|()| stream.shutdown(std::net::Shutdown::Write))
        .and_then(|()| stream.set_read_timeout(Some(DRAIN_TIME)));
    if let Err(e) = sent {
        debug!(error = %e, "cannot tell a refused client");
        return;
    }
    let drained = std::thread::Builder::new()
        .name("files-refused".into())
        .spawn(move || {
            let mut buf = [0u8; 8192];
            let mut total = 0;
            let deadline = std::time::Instant::now() + DRAIN_TIME;
            while total < DRAIN_BYTES && std::time::Instant::now() < deadline {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        });
    if let Err(e) = drained {
        debug!(error = %e, "cannot start a thread for a refused client");
    }
}

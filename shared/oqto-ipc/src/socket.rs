//! Unix socket helpers: a private directory, binding with stale-socket detection, peer
//! credentials.
//!
//! Sockets live in a directory of mode 0700 owned by the current user and are mode 0600.
//! A socket file left behind by a dead server is detected by connecting to it (refused) and
//! replaced; a live one is never taken over; a file that is not a socket is never deleted.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::sys::socket::{getsockopt, sockopt};

/// Why [`bind`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A server is accepting connections on the path.
    #[error("another server is already listening on {}", path.display())]
    InUse { path: PathBuf },
    /// Something that is not a socket (a file, a directory, a symlink) is at the path; it is
    /// left alone.
    #[error("{} exists and is not a socket; not replacing it", path.display())]
    NotASocket { path: PathBuf },
    /// The socket's directory could not be prepared.
    #[error("cannot prepare socket directory {}: {source}", dir.display())]
    Dir { dir: PathBuf, source: io::Error },
    /// Checking, removing, binding or chmod-ing the socket failed.
    #[error("cannot bind {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// The credentials of the process at the other end of a Unix socket, taken when it
/// connected (`SO_PEERCRED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    /// `None` when the peer is in a PID namespace we cannot see.
    pub pid: Option<i32>,
    pub uid: u32,
    pub gid: u32,
}

/// The real user id of this process.
pub fn current_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// Creates `dir` (and missing parents) with mode 0700, or checks an existing one: it must be
/// a directory owned by the current user, and is chmod-ed to 0700 if its mode differs.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} is not a directory", dir.display()),
        ));
    }
    let me = current_uid();
    if meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is owned by uid {}, not by the current user (uid {me})",
                dir.display(),
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Binds a Unix socket at `path`: prepares its parent directory ([`prepare_dir`]), replaces
/// a stale socket file, refuses a live one or a non-socket, and makes the socket 0600.
///
/// Checking for a live server connects to it once; that server sees a connection that
/// closes without a line.
pub fn bind(path: &Path) -> Result<UnixListener, BindError> {
    let io_err = |source| BindError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        prepare_dir(dir).map_err(|source| BindError::Dir {
            dir: dir.to_owned(),
            source,
        })?;
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(BindError::InUse {
                    path: path.to_owned(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::debug!(path = %path.display(), "removing stale socket");
                match fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(e)),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        },
        Ok(_) => {
            return Err(BindError::NotASocket {
                path: path.to_owned(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let listener = UnixListener::bind(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            BindError::InUse {
                path: path.to_owned(),
            }
        } else {
            io_err(e)
        }
    })?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err)?;
    Ok(listener)
}

/// [`bind`], then converts the listener for tokio. Must be called inside a tokio runtime.
pub fn bind_tokio(path: &Path) -> Result<tokio::net::UnixListener, BindError> {
    let io_err = |source| BindError::Io {
        path: path.to_owned(),
        source,
    };
    let listener = bind(path)?;
    listener.set_nonblocking(true).map_err(io_err)?;
    tokio::net::UnixListener::from_std(listener).map_err(io_err)
}

/// Removes the socket file at `path` (on shutdown). Missing is fine; a path that is not a
/// socket is left alone and reported as an error.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a socket; not removing it", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a server accepts connections at `path` (a connect succeeds).
pub fn is_live(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}

/// The peer credentials of a connected Unix socket (std or tokio `UnixStream`).
pub fn peer_cred(fd: &impl AsFd) -> io::Result<PeerCred> {
    let cred = getsockopt(fd, sockopt::PeerCredentials)?;
    Ok(PeerCred {
        pid: Some(cred.pid()).filter(|&pid| pid > 0),
        uid: cred.uid(),
        gid: cred.gid(),
    })
}

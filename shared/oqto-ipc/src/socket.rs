//! Unix socket helpers: a private directory, binding with stale-socket detection, peer
//! credentials, and who may connect ([`Access`]).
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

/// Who may use a server on a Unix socket, besides the user it runs as.
///
/// A peer is admitted when its uid (from `SO_PEERCRED`) is the server's own uid or in
/// `allow_uids`, or when its primary gid or one of its supplementary groups is in
/// `allow_gids`. Supplementary groups are read from `/proc/PID/status` of the peer's pid at
/// the time of the check, only when `allow_gids` is not empty.
///
/// Root is not special: a root peer is admitted only when the server runs as root or 0 is
/// listed. Root can read the user's files anyway, but a server that takes requests from it
/// without being told to would also serve a root-owned program that only meant to reach
/// some other socket; a relay's service account is named explicitly instead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub allow_uids: Vec<u32>,
    pub allow_gids: Vec<u32>,
}

/// Why [`Access::check`] admitted a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// The peer runs as the server's own user.
    SameUser,
    /// The peer's uid is in `allow_uids`.
    AllowedUid,
    /// This group of the peer (primary or supplementary) is in `allow_gids`.
    AllowedGroup(u32),
}

impl Access {
    /// Whether `peer` may use a server running as this process's user.
    pub fn admits(&self, peer: &PeerCred) -> bool {
        self.check(current_uid(), peer, peer_groups).is_some()
    }

    /// Why `peer` may use a server running as `owner`, or `None` when it may not.
    /// `groups(pid)` gives a process's supplementary groups ([`peer_groups`] in a server).
    pub fn check(
        &self,
        owner: u32,
        peer: &PeerCred,
        groups: impl FnOnce(i32) -> Vec<u32>,
    ) -> Option<Admitted> {
        if peer.uid == owner {
            return Some(Admitted::SameUser);
        }
        if self.allow_uids.contains(&peer.uid) {
            return Some(Admitted::AllowedUid);
        }
        if self.allow_gids.is_empty() {
            return None;
        }
        if self.allow_gids.contains(&peer.gid) {
            return Some(Admitted::AllowedGroup(peer.gid));
        }
        peer.pid
            .map(groups)
            .unwrap_or_default()
            .into_iter()
            .find(|g| self.allow_gids.contains(g))
            .map(Admitted::AllowedGroup)
    }
}

/// The supplementary groups of process `pid` (the `Groups:` line of `/proc/PID/status`);
/// empty when the process is gone or cannot be read.
pub fn peer_groups(pid: i32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|status| groups_of_status(&status))
        .unwrap_or_default()
}

fn groups_of_status(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|groups| {
            groups
                .split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect()
        })
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: u32 = 1000;

    fn peer(uid: u32, gid: u32) -> PeerCred {
        PeerCred {
            pid: Some(4242),
            uid,
            gid,
        }
    }

    fn no_groups(_: i32) -> Vec<u32> {
        Vec::new()
    }

    #[test]
    fn the_owner_is_admitted_and_others_are_not() {
        let access = Access::default();
        assert_eq!(
            access.check(OWNER, &peer(OWNER, 5), no_groups),
            Some(Admitted::SameUser)
        );
        assert_eq!(access.check(OWNER, &peer(1001, 1001), no_groups), None);
    }

    #[test]
    fn root_is_not_special() {
        assert_eq!(Access::default().check(OWNER, &peer(0, 0), no_groups), None);
        let access = Access {
            allow_uids: vec![0],
            allow_gids: vec![],
        };
        assert_eq!(
            access.check(OWNER, &peer(0, 0), no_groups),
            Some(Admitted::AllowedUid)
        );
        // A server running as root serves root.
        assert_eq!(
            Access::default().check(0, &peer(0, 0), no_groups),
            Some(Admitted::SameUser)
        );
    }

    #[test]
    fn allowed_uids_and_groups() {
        let access = Access {
            allow_uids: vec![991],
            allow_gids: vec![990, 1001],
        };
        assert_eq!(
            access.check(OWNER, &peer(991, 991), no_groups),
            Some(Admitted::AllowedUid)
        );
        assert_eq!(
            access.check(OWNER, &peer(2000, 990), no_groups),
            Some(Admitted::AllowedGroup(990))
        );
        let supplementary = |pid| {
            assert_eq!(pid, 4242);
            vec![27, 1001]
        };
        assert_eq!(
            access.check(OWNER, &peer(2000, 2000), supplementary),
            Some(Admitted::AllowedGroup(1001))
        );
        assert_eq!(access.check(OWNER, &peer(2000, 2000), |_| vec![27]), None);
        // Without a pid (another PID namespace) only the primary group counts.
        let unseen = PeerCred {
            pid: None,
            uid: 2000,
            gid: 2000,
        };
        assert_eq!(
            access.check(OWNER, &unseen, |_| panic!("no pid to look up")),
            None
        );
    }

    #[test]
    fn groups_are_looked_up_only_when_groups_are_allowed() {
        let access = Access {
            allow_uids: vec![7],
            allow_gids: vec![],
        };
        assert_eq!(
            access.check(OWNER, &peer(2000, 2000), |_| panic!("looked up")),
            None
        );
    }

    #[test]
    fn groups_line_of_proc_status() {
        let status =
            "Name:\tcat\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 27 1000 \nNSpid:\t1\n";
        assert_eq!(groups_of_status(status), vec![4, 24, 27, 1000]);
        assert_eq!(groups_of_status("Groups:\n"), Vec::<u32>::new());
        assert_eq!(groups_of_status("Name:\tx\n"), Vec::<u32>::new());
        let mine = peer_groups(i32::try_from(std::process::id()).unwrap());
        let expected: Vec<u32> = nix::unistd::getgroups()
            .unwrap()
            .into_iter()
            .map(nix::unistd::Gid::as_raw)
            .collect();
        assert_eq!(mine, expected);
    }
}

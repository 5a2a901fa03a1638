//! One runner per data directory. A runner holds an exclusive `flock` on
//! `<data dir>/runner.lock` for its whole life, with its pid and socket written inside, so
//! two runners started with different sockets (a login shell and a cron job that resolve
//! `XDG_RUNTIME_DIR` differently) never share one `history.db`, and a client that finds no
//! runner on its own socket can find the one that holds the data directory.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file inside the data directory.
pub const LOCK_FILE: &str = "runner.lock";

/// The runner that holds a data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub socket: PathBuf,
}

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another oqto-runner (pid {}) uses the data directory {}; it listens on {}",
        holder.pid,
        dir.display(),
        holder.socket.display()
    )]
    Held { dir: PathBuf, holder: Holder },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The lock, held until dropped (or the process ends).
#[derive(Debug)]
pub struct DataDirLock {
    lock: Option<Flock<File>>,
}

impl DataDirLock {
    /// Whether a lock is held. It is not on a read-only data directory without a lock
    /// file: nothing can write the history there, so two runners cannot diverge.
    pub fn is_held(&self) -> bool {
        self.lock.is_some()
    }
}

/// Takes the data directory for this process, which listens on `socket`.
pub fn lock_data_dir(dir: &Path, socket: &Path) -> Result<DataDirLock, LockError> {
    let path = dir.join(LOCK_FILE);
    let io_err = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path);
    let (file, writable) = match opened {
        Ok(file) => (file, true),
        // A read-only data directory (the runner serves its history read-only): lock the
        // file that is there, read-only; without one there is nothing to lock.
        Err(e) if read_only(&e) => match File::open(&path) {
            Ok(file) => (file, false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(DataDirLock { lock: None });
            }
            Err(e) => return Err(io_err(e)),
        },
        Err(e) => return Err(io_err(e)),
    };
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, Errno::EWOULDBLOCK)) => {
            let holder = holder(dir).unwrap_or(Holder {
                pid: 0,
                socket: PathBuf::from("(unknown socket)"),
            });
            return Err(LockError::Held {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        Err((_, e)) => return Err(io_err(e.into())),
    };
    if writable {
        let text = format!("{}\n{}\n", std::process::id(), socket.display());
        lock.set_len(0).map_err(io_err)?;
        lock.rewind().map_err(io_err)?;
        lock.write_all(text.as_bytes()).map_err(io_err)?;
    }
    Ok(DataDirLock { lock: Some(lock) })
}

fn read_only(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied
    )
}

/// The runner holding `dir`, if one does. Reads without taking the lock.
pub fn holder(dir: &Path) -> Option<Holder> {
    let path = dir.join(LOCK_FILE);
    let file = File::open(&path).ok()?;
    // A lock we can take is not held; let go of it at once.
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_free) => return None,
        Err((_, Errno::EWOULDBLOCK)) => {}
        Err(_) => return None,
    }
    // The holder writes its pid and socket right after locking: give it a moment.
    for _ in 0..50 {
        let mut text = String::new();
        File::open(&path).ok()?.read_to_string(&mut text).ok()?;
        let mut lines = text.lines();
        if let (Some(pid), Some(socket)) = (lines.next(), lines.next())
            && let Ok(pid) = pid.parse()
        {
            return Some(Holder {
                pid,
                socket: PathBuf::from(socket),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(holder(dir.path()), None);
        let lock = lock_data_dir(dir.path(), Path::new("/run/a.sock")).unwrap();
        let me = Holder {
            pid: std::process::id(),
            socket: "/run/a.sock".into(),
        };
        assert_eq!(holder(dir.path()), Some(me.clone()));
        // flock locks belong to the open file: a second open in this process conflicts too.
        match lock_data_dir(dir.path(), Path::new("/run/b.sock")) {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder, me),
            other => panic!("expected Held, got {other:?}"),
        }
        let err = lock_data_dir(dir.path(), Path::new("/run/b.sock")).unwrap_err();
        assert!(
            err.to_string().contains("it listens on /run/a.sock"),
            "{err}"
        );
        drop(lock);
        assert_eq!(holder(dir.path()), None);
        let again = lock_data_dir(dir.path(), Path::new("/run/b.sock")).unwrap();
        assert_eq!(holder(dir.path()).unwrap().socket, Path::new("/run/b.sock"));
        drop(again);
    }
}

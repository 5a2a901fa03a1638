//! Pseudo-terminals: [`Spawn::spawn_pty`] starts a child as the session leader of a new
//! terminal, with the terminal as its controlling terminal and its standard input, output
//! and error; [`Pty`] is the other end (the master), read and written under tokio.
//!
//! Built on `rustix` (already a dependency, safe wrappers for `posix_openpt`, `TIOCSCTTY`
//! and `TIOCSWINSZ`) rather than the `pty-process` crate: that crate builds and spawns its
//! own `Command`, which would bypass [`Spawn`], the one place processes are started (an
//! explicit environment, and termination of the whole tree).

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;

use rustix::fs::OFlags;
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::spawn::Spawn;

/// The master side of a pseudo-terminal, non-blocking, on the tokio reactor.
#[derive(Debug)]
pub struct Pty {
    master: AsyncFd<File>,
}

fn winsize(cols: u16, rows: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// A new terminal pair of `cols` x `rows`: the master (non-blocking) and the child's end.
/// Both are close-on-exec; the child gets its end through its standard descriptors.
fn open_pair(cols: u16, rows: u16) -> io::Result<(OwnedFd, OwnedFd)> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    rustix::termios::tcsetwinsize(&master, winsize(cols, rows))?;
    let flags = rustix::fs::fcntl_getfl(&master)?;
    rustix::fs::fcntl_setfl(&master, flags | OFlags::NONBLOCK)?;
    Ok((master, slave))
}

impl Spawn {
    /// Starts the child on a new pseudo-terminal of `cols` x `rows` (must be called inside a
    /// tokio runtime). The child leads a new session, so it also leads its own process group
    /// ([`crate::spawn::terminate`] works as for [`Spawn::spawn_tokio`]), and the terminal is
    /// its controlling terminal and its standard input, output and error (whatever was set
    /// with [`Spawn::stdin`] and the like is replaced). The child gets `kill_on_drop`.
    pub fn spawn_pty(self, cols: u16, rows: u16) -> io::Result<(tokio::process::Child, Pty)> {
        let program = self.program().to_owned();
        let cannot = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot start {} on a terminal: {e}",
                    std::path::Path::new(&program).display()
                ),
            )
        };
        let (master, slave) = open_pair(cols, rows).map_err(cannot)?;
        let ctty = slave.try_clone().map_err(cannot)?;
        let mut cmd = self
            .stdin(Stdio::from(slave.try_clone().map_err(cannot)?))
            .stdout(Stdio::from(slave.try_clone().map_err(cannot)?))
            .stderr(Stdio::from(slave))
            .command_in_any_group();
        #[allow(unsafe_code)]
        // SAFETY: the closure runs in the child between fork and exec. It makes two system
        // calls (setsid, then ioctl TIOCSCTTY on a descriptor it owns), both
        // async-signal-safe; it allocates nothing and takes no lock. Errors become
        // `io::Error` from a raw errno, which does not allocate either.
        unsafe {
            cmd.pre_exec(move || {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(&ctty)?;
                Ok(())
            });
        }
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        let child = cmd.spawn().map_err(cannot)?;
        // `cmd` still holds the child's end of the terminal (and the closure's copy); it
        // goes here, so that the master reads end-of-file once the child's side is closed.
        drop(cmd);
        #[allow(unsafe_code)]
        // SAFETY: the `File` owns the master descriptor (it came from `openpt` as an
        // `OwnedFd`), and `Pty` keeps it private inside the `AsyncFd` until dropped: it stays
        // open and names the same open file description for the `AsyncFd`'s whole life.
        let master = unsafe {
            AsyncFd::register_with_interest(
                File::from(master),
                Interest::READABLE | Interest::WRITABLE,
            )
        }
        .map_err(|e| io::Error::other(e.to_string()))?;
        Ok((child, Pty { master }))
    }
}

impl Pty {
    /// Reads what the program wrote; `Ok(0)` once every process has closed its end of the
    /// terminal (the kernel reports that as `EIO`). Cancel-safe.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.master.readable().await?;
            match guard.try_io(|fd| fd.get_ref().read(buf)) {
                Ok(Ok(n)) => return Ok(n),
                Ok(Err(e)) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                    return Ok(0);
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
    }

    /// Writes some of `buf` as input to the program; how much. Cancel-safe.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.master.writable().await?;
            match guard.try_io(|fd| fd.get_ref().write(buf)) {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(result) => return result,
                Err(_would_block) => {}
            }
        }
    }

    /// Sets the terminal's size; the kernel sends the program SIGWINCH.
    pub fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        rustix::termios::tcsetwinsize(self.master.get_ref(), winsize(cols, rows))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads from `pty` until `want` shows up in what was read (or the terminal ends).
    async fn read_until(pty: &Pty, seen: &mut Vec<u8>, want: &str) {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(seen).contains(want) {
            let n = tokio::time::timeout(std::time::Duration::from_secs(10), pty.read(&mut buf))
                .await
                .expect("output within 10s")
                .unwrap();
            assert!(n > 0, "the terminal ended before {want:?}: {seen:?}");
            seen.extend_from_slice(&buf[..n]);
        }
    }

    #[tokio::test]
    async fn a_child_gets_a_controlling_terminal_of_the_given_size() {
        let (mut child, pty) = Spawn::new("/bin/sh")
            .env_inherit(["PATH"])
            .args([
                "-c",
                "stty size; : </dev/tty && echo has-ctty; read x; echo got:$x",
            ])
            .spawn_pty(100, 30)
            .unwrap();
        let mut seen = Vec::new();
        read_until(&pty, &mut seen, "30 100").await;
        read_until(&pty, &mut seen, "has-ctty").await;
        pty.resize(90, 20).unwrap();
        assert_eq!(pty.write(b"hi\x00\xff\n").await.unwrap(), 5);
        read_until(&pty, &mut seen, "got:hi").await;
        let status = child.wait().await.unwrap();
        assert!(status.success(), "{status:?}");
        // Everything is read: then end of file, not an error.
        let mut buf = [0u8; 4096];
        while pty.read(&mut buf).await.unwrap() > 0 {}
    }
}

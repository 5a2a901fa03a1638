//! systemd socket activation: the listening socket handed over as fd 3 (`LISTEN_FDS`).
//!
//! systemd sets `LISTEN_PID` to the daemon's pid and `LISTEN_FDS` to the number of sockets
//! passed, starting at fd 3. The runner takes exactly one, checks that it really is a
//! listening Unix stream socket, and uses it instead of binding its own (it then does not
//! remove the socket file on exit: systemd owns it).

// Taking ownership of an inherited file descriptor has no safe API: this module is the
// only place in the runner that needs `unsafe`.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    AddressFamily, SockType, SockaddrLike, SockaddrStorage, getsockname, getsockopt, sockopt,
};
use oqto_cli::{CliError, Exit};

use crate::config::Environment;

/// The first passed descriptor (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// How many sockets systemd passed to this process (0 when not activated).
pub fn listener_fds(env: &Environment) -> u32 {
    let ours = env
        .var("LISTEN_PID")
        .and_then(|p| p.to_str())
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !ours {
        return 0;
    }
    env.var("LISTEN_FDS")
        .and_then(|c| c.to_str())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The activated listener, if this process was given one; `Ok(None)` when not activated.
pub fn listener(env: &Environment) -> anyhow::Result<Option<tokio::net::UnixListener>> {
    let Some(count) = env.var("LISTEN_FDS") else {
        return Ok(None);
    };
    let pid = env
        .var("LISTEN_PID")
        .and_then(|p| p.to_str())
        .and_then(|p| p.parse::<u32>().ok());
    if pid != Some(std::process::id()) {
        // Meant for another process (inherited through a fork): ignore, as sd_listen_fds does.
        return Ok(None);
    }
    let count = count.to_str().and_then(|c| c.parse::<u32>().ok());
    if count != Some(1) {
        return Err(CliError::new(
            Exit::Failure,
            format!(
                "LISTEN_FDS must be 1 for oqto-runner, got {:?}",
                env.var("LISTEN_FDS")
            ),
        )
        .with_hint("use one ListenStream= in the .socket unit")
        .into());
    }
    check(LISTEN_FDS_START)?;
    // SAFETY: systemd passed fd 3 to this process (LISTEN_PID matches) and nothing else
    // in the runner has taken it; `check` verified it is an open listening socket.
    let fd = unsafe { OwnedFd::from_raw_fd(LISTEN_FDS_START) };
    let std_listener = std::os::unix::net::UnixListener::from(fd);
    std_listener.set_nonblocking(true)?;
    Ok(Some(tokio::net::UnixListener::from_std(std_listener)?))
}

/// Fails unless `fd` is a listening Unix stream socket.
fn check(fd: RawFd) -> anyhow::Result<()> {
    // SAFETY: the borrowed fd is only used for the duration of these calls.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let not_usable = |what: &str| {
        CliError::new(Exit::Failure, format!("socket activation: fd {fd} {what}"))
            .with_hint("the .socket unit must use ListenStream= with a path")
    };
    let kind =
        getsockopt(&borrowed, sockopt::SockType).map_err(|_| not_usable("is not a socket"))?;
    if kind != SockType::Stream {
        return Err(not_usable("is not a stream socket").into());
    }
    let listening = getsockopt(&borrowed, sockopt::AcceptConn).unwrap_or(false);
    if !listening {
        return Err(not_usable("is not listening").into());
    }
    let addr: SockaddrStorage = getsockname(fd).map_err(|_| not_usable("has no address"))?;
    if addr.family() != Some(AddressFamily::Unix) {
        return Err(not_usable("is not a Unix socket").into());
    }
    Ok(())
}

//! Running the command: bwrap in the foreground with the seccomp program and a status pipe,
//! signals forwarded to the command, and the command's status as ours.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Seek as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::process::ExitStatus;

use anyhow::Context as _;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::unistd::Pid;
use oqto_ipc::spawn::{Spawn, exit_code_of};
use serde::Deserialize;

/// The signals passed on to the command.
pub const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// How the sandboxed command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The command's status: its exit code, or 128+N for signal N.
    Exited(u8),
    /// bwrap failed before the command ran (its own message is on stderr).
    SetupFailed(ExitStatus),
}

/// Closes every descriptor above stderr that this process inherited, so none of them
/// reaches the sandbox (an open directory descriptor would be a way out). Run before this
/// process opens anything of its own.
pub fn close_inherited_fds() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // The directory's own descriptor is among them, already closed: EBADF is fine.
        let _ = nix::unistd::close(fd);
    }
}

/// Makes a descriptor survive exec (into bwrap).
fn inheritable(fd: impl std::os::fd::AsFd) -> nix::Result<()> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).map(drop)
}

/// The descriptors bwrap reads: the seccomp program and the status pipe.
#[derive(Debug)]
pub struct Fds {
    seccomp: std::fs::File,
    status_read: OwnedFd,
    status_write: OwnedFd,
}

impl Fds {
    pub fn new(program: &[u8]) -> anyhow::Result<Self> {
        let fd = nix::sys::memfd::memfd_create(
            c"oqto-sandbox-seccomp",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        )
        .context("creating a memfd for the seccomp program")?;
        let mut seccomp = std::fs::File::from(fd);
        seccomp
            .write_all(program)
            .context("writing the seccomp program")?;
        seccomp.rewind().context("rewinding the seccomp program")?;
        let (status_read, status_write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).context("creating the status pipe")?;
        Ok(Self {
            seccomp,
            status_read,
            status_write,
        })
    }

    /// Lets both descriptors bwrap reads survive its exec.
    pub fn make_inheritable(&self) -> nix::Result<()> {
        inheritable(&self.seccomp)?;
        inheritable(&self.status_write)
    }

    pub fn seccomp_fd(&self) -> i32 {
        self.seccomp.as_raw_fd()
    }

    pub fn status_fd(&self) -> i32 {
        self.status_write.as_raw_fd()
    }
}

/// A line bwrap writes to `--json-status-fd`.
#[derive(Debug, Deserialize)]
struct StatusLine {
    #[serde(rename = "child-pid")]
    child_pid: Option<i32>,
    #[serde(rename = "exit-code")]
    exit_code: Option<i32>,
}

/// Runs bwrap with `args` and `env`, forwarding signals, until the command ends.
pub fn run_bwrap(
    bwrap: &std::path::Path,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    fds: Fds,
    pid_namespace: bool,
) -> anyhow::Result<Outcome> {
    fds.make_inheritable()
        .context("passing the seccomp program and status pipe to bwrap")?;
    // bwrap gets only the allowed variables: the environment is cleared by Spawn and the
    // values never appear on a command line (which every user can read in /proc).
    let mut child = Spawn::new(bwrap)
        .args(args)
        .envs(env)
        .spawn()
        .context("starting bwrap")?;
    // Blocked only now: a child inherits the signal mask, and the command must not start
    // with these signals blocked. One arriving before this line ends this process, and
    // `--die-with-parent` takes the sandbox with it.
    let signals = block_forwarded()?;
    let Fds {
        seccomp,
        status_read,
        status_write,
    } = fds;
    drop(status_write);
    drop(seccomp);

    let mut exit_code = None;
    let mut forwarder = None;
    for line in BufReader::new(std::fs::File::from(status_read)).lines() {
        let Ok(line) = line else { break };
        let Ok(status) = serde_json::from_str::<StatusLine>(&line) else {
            tracing::debug!(line, "unrecognised bwrap status line");
            continue;
        };
        if let Some(pid) = status.child_pid {
            tracing::debug!(pid, "sandbox started");
            if forwarder.is_none() {
                forwarder = Some(spawn_forwarder(signals, pid, pid_namespace));
            }
        }
        if let Some(code) = status.exit_code {
            exit_code = Some(code);
        }
    }
    let status = child.wait().context("waiting for bwrap")?;
    Ok(match exit_code {
        Some(code) => Outcome::Exited(u8::try_from(code & 0xff).unwrap_or(1)),
        None => Outcome::SetupFailed(status),
    })
}

/// Runs the command without a sandbox (policy `enabled = false`), forwarding signals.
pub fn run_unconfined(
    program: &std::path::Path,
    args: &[OsString],
    env: Vec<(OsString, OsString)>,
) -> anyhow::Result<u8> {
    let mut child = Spawn::new(program)
        .args(args)
        .envs(env)
        .spawn()
        .context("starting the command")?;
    let signals = block_forwarded()?;
    let pid = i32::try_from(child.id()).context("pid out of range")?;
    let _forwarder = spawn_forwarder(signals, pid, false);
    let status = child.wait().context("waiting for the command")?;
    Ok(u8::try_from(exit_code_of(status) & 0xff).unwrap_or(1))
}

/// Blocks the forwarded signals in this thread (and so in threads it starts, and in
/// children started after it: call it only once the child runs).
fn block_forwarded() -> anyhow::Result<SigSet> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.thread_block().context("blocking signals")?;
    Ok(set)
}

/// A thread that waits for the forwarded signals and passes each on. With a pid namespace,
/// `pid` is the sandbox's init, which ignores signals it has no handler for: the signal
/// goes to its children (the command, and orphans it adopted) instead.
fn spawn_forwarder(set: SigSet, pid: i32, pid_namespace: bool) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        loop {
            let Ok(signal) = set.wait() else { return };
            let targets = if pid_namespace {
                children_of(pid)
            } else {
                vec![pid]
            };
            tracing::debug!(?signal, ?targets, "forwarding signal");
            for target in targets {
                let _ = kill(Pid::from_raw(target), signal);
            }
        }
    })
}

/// The direct children of `pid`, from `/proc`.
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let child: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 1..];
            let parent: i32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (parent == pid).then_some(child)
        })
        .collect()
}

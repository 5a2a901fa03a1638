//! Running the command: bwrap in the foreground with the seccomp program and a status pipe,
//! signals forwarded to the command, and the command's status as ours.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd as _, BorrowedFd, OwnedFd};
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::time::TimeSpec;
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
    // Read with a buffer on the stack: std's `read_dir` allocates 32 kB, which is most of a
    // sandbox start's page faults for this step.
    let Ok(dir) = rustix::fs::open(
        "/proc/self/fd",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return;
    };
    let mut fds = Vec::new();
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    let mut entries = rustix::fs::RawDir::new(&dir, &mut buf);
    while let Some(Ok(entry)) = entries.next() {
        let fd = entry
            .file_name()
            .to_str()
            .ok()
            .and_then(|n| n.parse::<i32>().ok());
        if let Some(fd) = fd.filter(|fd| *fd > 2 && *fd != dir.as_raw_fd()) {
            fds.push(fd);
        }
    }
    drop(dir);
    for fd in fds {
        let _ = nix::unistd::close(fd);
    }
}

/// Makes a descriptor survive exec (into bwrap).
fn inheritable(fd: impl AsFd) -> nix::Result<()> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).map(drop)
}

/// The descriptors bwrap reads: the seccomp program and the status pipe.
#[derive(Debug)]
pub struct Fds {
    seccomp: OwnedFd,
    status_read: OwnedFd,
    status_write: OwnedFd,
}

impl Fds {
    /// The seccomp program goes through a pipe, written whole and closed here: bwrap
    /// reads it to the end, and a pipe is cheaper to set up than a memfd.
    pub fn new(program: &[u8]) -> anyhow::Result<Self> {
        // A pipe holds 64 kB; the program is under 2 kB, so the write below cannot block.
        anyhow::ensure!(
            program.len() <= 16 * 1024,
            "the seccomp program is too large"
        );
        let (seccomp, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).context("creating the seccomp pipe")?;
        std::fs::File::from(write)
            .write_all(program)
            .context("writing the seccomp program")?;
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
///
/// One thread does it all, and no thread is started (a thread costs about as much as the
/// rest of the loop): it sleeps until a signal comes (SIGCHLD when bwrap exits).
pub fn run_bwrap(
    bwrap: &std::path::Path,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    fds: Fds,
    pid_namespace: bool,
) -> anyhow::Result<Outcome> {
    fds.make_inheritable()
        .context("passing the seccomp program and status pipe to bwrap")?;
    // Caught before the start, so that a signal sent the moment the command runs is kept
    // for it rather than ending this process (and, with no sandbox, orphaning it).
    // SIGCHLD wakes the loop when bwrap exits.
    let mut forwarder = Forwarder::new(Some(Signal::SIGCHLD))?;
    // bwrap gets only the allowed variables: the environment is cleared by Spawn and the
    // values never appear on a command line (which every user can read in /proc).
    let mut child = Spawn::new(bwrap)
        .args(args)
        .envs(env)
        .spawn()
        .context("starting bwrap")?;
    let Fds {
        seccomp,
        status_read,
        status_write,
    } = fds;
    drop(status_write);
    drop(seccomp);
    fcntl(&status_read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).context("reading bwrap's status")?;

    // The status pipe is read only when there is a reason to: a signal to pass on (which
    // needs the command's pid) and the end. Otherwise this process sleeps until bwrap
    // exits, rather than waking for each of the pieces bwrap writes its status in while
    // it sets the sandbox up (on a small machine, it would take CPU from bwrap).
    forwarder.arm()?;
    let mut status = Status::new(pid_namespace);
    let exited = loop {
        forwarder.drain();
        if forwarder.needs_target() {
            status.read(&status_read, &mut forwarder);
        }
        if let Some(exited) = child.try_wait().context("waiting for bwrap")? {
            break exited;
        }
        // Signals that wait for the command's pid watch the status pipe; those that wait
        // for the command to be started by the sandbox's init look again shortly.
        if forwarder.needs_target() {
            forwarder.wait(&[status_read.as_fd()])?;
        } else {
            forwarder.wait(&[])?;
        }
    };
    // bwrap is gone: all it wrote is in the pipe (or, with a pipe a stray process still
    // holds open, all it will write).
    status.read(&status_read, &mut forwarder);
    status.finish(&mut forwarder);
    Ok(match status.exit_code {
        Some(code) => Outcome::Exited(u8::try_from(code & 0xff).unwrap_or(1)),
        // A signal passed on just as the command was being started (forked, not yet
        // exec'd) ends it there: bwrap then exits 128 + N without an exit-code line. The
        // sandbox was set up; the command was stopped as asked.
        None if forwarder
            .delivered
            .is_some_and(|signal| exited.code() == Some(128 + signal as i32)) =>
        {
            Outcome::Exited(u8::try_from(exited.code().unwrap_or(1) & 0xff).unwrap_or(1))
        }
        None => Outcome::SetupFailed(exited),
    })
}

/// What bwrap has said on its status pipe so far.
struct Status {
    /// Bytes read and not yet acted on: the start of a line still being written.
    unread: Vec<u8>,
    exit_code: Option<i32>,
    pid_namespace: bool,
}

impl Status {
    fn new(pid_namespace: bool) -> Self {
        Self {
            unread: Vec::new(),
            exit_code: None,
            pid_namespace,
        }
    }

    /// Reads what the pipe holds now (it is non-blocking) and acts on each whole line.
    fn read(&mut self, fd: &OwnedFd, forwarder: &mut Forwarder) {
        while matches!(read_some(fd, &mut self.unread), Ok(n) if n > 0) {}
        let Some(end) = self.unread.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let complete: Vec<u8> = self.unread.drain(..=end).collect();
        for line in complete[..end].split(|b| *b == b'\n') {
            self.line(line, forwarder);
        }
    }

    /// Acts on a last line without its newline.
    fn finish(&mut self, forwarder: &mut Forwarder) {
        let rest = std::mem::take(&mut self.unread);
        if !rest.is_empty() {
            self.line(&rest, forwarder);
        }
    }

    fn line(&mut self, line: &[u8], forwarder: &mut Forwarder) {
        let Ok(status) = serde_json::from_slice::<StatusLine>(line) else {
            tracing::debug!(line = %String::from_utf8_lossy(line), "unrecognised bwrap status line");
            return;
        };
        if let Some(pid) = status.child_pid {
            tracing::debug!(pid, "sandbox started");
            forwarder.start(pid, self.pid_namespace);
        }
        if let Some(code) = status.exit_code {
            self.exit_code = Some(code);
        }
    }
}

/// Runs the command without a sandbox (policy `enabled = false`), forwarding signals.
pub fn run_unconfined(
    program: &std::path::Path,
    args: &[OsString],
    env: Vec<(OsString, OsString)>,
) -> anyhow::Result<u8> {
    // SIGCHLD too, so the loop wakes when the command ends. Caught before the start, as
    // in `run_bwrap`.
    let mut forwarder = Forwarder::new(Some(Signal::SIGCHLD))?;
    let mut child = Spawn::new(program)
        .args(args)
        .envs(env)
        .spawn()
        .context("starting the command")?;
    forwarder.start(
        i32::try_from(child.id()).context("pid out of range")?,
        false,
    );
    forwarder.arm()?;
    let status = loop {
        forwarder.drain();
        // Checked with SIGCHLD blocked: an exit before this is seen here, one after it
        // ends the wait.
        if let Some(status) = child.try_wait().context("waiting for the command")? {
            break status;
        }
        forwarder.wait(&[])?;
    };
    Ok(u8::try_from(exit_code_of(status) & 0xff).unwrap_or(1))
}

/// Appends what one `read` returns to `buf`: 0 at end of file (an error when a
/// non-blocking descriptor has nothing).
fn read_some(fd: &OwnedFd, buf: &mut Vec<u8>) -> nix::Result<usize> {
    let mut chunk = [0u8; 4096];
    loop {
        match nix::unistd::read(fd, &mut chunk) {
            Err(nix::errno::Errno::EINTR) => {}
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) => return Err(e),
        }
    }
}

/// How often (in ms) signals that wait for the command to start look again.
const RETRY: u64 = 10;

/// The forwarded signals, caught, and where they go.
///
/// Each signal has a handler (from `signal-hook`) that sets its flag. Handlers, unlike a
/// blocked mask, are not inherited: a started program has the default action for a signal
/// its parent caught, so they are installed before the command starts and none is lost.
/// Once the child runs, the signals are also blocked, except while [`Forwarder::wait`]
/// sleeps in `ppoll`, which unblocks them atomically: a signal either arrives before the
/// flags are checked or ends the sleep.
struct Forwarder {
    flags: Vec<(Signal, Arc<AtomicBool>)>,
    /// The caught signals, and the mask to sleep with (the one this process had).
    caught: SigSet,
    sleep_mask: Option<SigSet>,
    /// The pid they go to (and whether it is a pid namespace's init), once known.
    target: Option<(i32, bool)>,
    /// Signals that arrived before the target was known.
    pending: Vec<Signal>,
    /// The last signal passed on to the command.
    delivered: Option<Signal>,
}

impl Forwarder {
    /// Catches the forwarded signals, and `extra` (which ends a wait but is not passed
    /// on).
    fn new(extra: Option<Signal>) -> anyhow::Result<Self> {
        let mut flags = Vec::new();
        let mut caught = SigSet::empty();
        for signal in FORWARDED.iter().chain(extra.as_ref()) {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(*signal as i32, Arc::clone(&flag))
                .with_context(|| format!("catching {signal}"))?;
            caught.add(*signal);
            flags.push((*signal, flag));
        }
        Ok(Self {
            flags,
            caught,
            sleep_mask: None,
            target: None,
            pending: Vec::new(),
            delivered: None,
        })
    }

    /// Blocks the caught signals outside [`Forwarder::wait`]. Call it once the child runs:
    /// a child inherits the mask.
    fn arm(&mut self) -> anyhow::Result<()> {
        let mut old = SigSet::empty();
        nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_BLOCK,
            Some(&self.caught),
            Some(&mut old),
        )
        .context("blocking signals")?;
        self.sleep_mask = Some(old);
        Ok(())
    }

    /// Sleeps until a caught signal arrives or one of `fds` is readable; while signals
    /// wait for the command to start, no longer than [`RETRY`] ms.
    fn wait(&self, fds: &[BorrowedFd<'_>]) -> anyhow::Result<()> {
        let mut polled: Vec<PollFd<'_>> = fds
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        let timeout = self
            .waiting()
            .then(|| TimeSpec::from_duration(Duration::from_millis(RETRY)));
        match ppoll(&mut polled, timeout, self.sleep_mask) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
            Err(e) => Err(e).context("waiting for the command or a signal"),
        }
    }

    /// From now on signals go to `pid`; those that waited go now. With a pid namespace,
    /// `pid` is the sandbox's init, which ignores signals it has no handler for: they go
    /// to its children (the command, and orphans it adopted) instead.
    fn start(&mut self, pid: i32, pid_namespace: bool) {
        if self.target.is_none() {
            self.target = Some((pid, pid_namespace));
            self.flush();
        }
    }

    /// Whether signals wait for a target that is not known yet.
    fn needs_target(&self) -> bool {
        self.target.is_none() && !self.pending.is_empty()
    }

    /// Whether signals wait, for a target or for the command to start.
    fn waiting(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Passes on every signal whose flag is set.
    fn drain(&mut self) {
        for (signal, flag) in &self.flags {
            if flag.swap(false, Ordering::SeqCst) && FORWARDED.contains(signal) {
                self.pending.push(*signal);
            }
        }
        self.flush();
    }

    /// Passes the waiting signals on. In a pid namespace they go to the init's children:
    /// while the init is still setting the sandbox up there are none, and the signals
    /// keep waiting (the run loop looks again every [`RETRY`] ms).
    fn flush(&mut self) {
        let Some((pid, pid_namespace)) = self.target else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let targets = if pid_namespace {
            // From the init's children files: scanning every process on the machine
            // made a stop cost 60 ms with 1000 sandboxes running.
            oqto_ipc::spawn::children(pid)
        } else {
            vec![pid]
        };
        if targets.is_empty() {
            return;
        }
        for signal in self.pending.drain(..) {
            tracing::debug!(?signal, ?targets, "forwarding signal");
            for target in &targets {
                let _ = kill(Pid::from_raw(*target), signal);
            }
            self.delivered = Some(signal);
        }
    }
}

//! `--tty`: the command's first step inside the sandbox, which gives it the terminal.
//!
//! Without `--new-session` the command stays in the caller's session, whose controlling
//! terminal is the caller's terminal. But bwrap starts it in bwrap's own process group
//! (with bwrap itself and, under a pid namespace, the sandbox's init), and that group is
//! not the terminal's foreground group: a program that reads the terminal or changes its
//! modes would be stopped (SIGTTIN, SIGTTOU). Making bwrap's group the foreground one
//! instead would send Ctrl-C to bwrap too, which dies of it and takes the sandbox with it.
//!
//! So `oqto-sandbox` runs itself inside first, through a read-only descriptor of its own
//! executable (it need not be visible in the sandbox): in a process group of its own, it
//! makes that group the terminal's foreground group and then executes the command in
//! place. Keyboard signals and SIGWINCH then reach the command (and, once a shell runs its
//! own jobs, the job in the foreground), never bwrap.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

/// The first argument that selects this step. Not an option for people: `oqto-sandbox`
/// puts it on the command line it gives bwrap.
pub const STEP: &str = "--oqto-tty-foreground";

/// This program's executable, open read-only and inheritable, to be run inside.
pub fn own_executable() -> anyhow::Result<OwnedFd> {
    let fd = rustix::fs::open(
        "/proc/self/exe",
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .context("opening this program's executable for --tty")?;
    Ok(fd)
}

/// The command line bwrap runs: this step, through `exe`, then the command.
pub fn wrap(exe: &OwnedFd, command: Vec<OsString>) -> Vec<OsString> {
    let fd = exe.as_raw_fd();
    let mut out: Vec<OsString> = vec![
        format!("/proc/self/fd/{fd}").into(),
        STEP.into(),
        fd.to_string().into(),
    ];
    out.extend(command);
    out
}

/// The program and arguments that run `program` through this step without a sandbox
/// (`enabled = false`), where the command would otherwise run in the process group
/// `oqto-sandbox` gives its child, outside the terminal's foreground. `-` stands for the
/// descriptor there is none of.
pub fn wrap_unconfined(program: &Path, args: &[OsString]) -> (PathBuf, Vec<OsString>) {
    let mut out: Vec<OsString> = vec![STEP.into(), "-".into(), program.into()];
    out.extend(args.iter().cloned());
    (PathBuf::from("/proc/self/exe"), out)
}

/// Runs this step when the command line asks for it; `None` otherwise. Returns only when
/// the command cannot be executed (exit 126 or 127, as the shell does).
pub fn run_if_asked() -> Option<std::process::ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != STEP {
        return None;
    }
    let fd = args.next().and_then(|a| a.to_str()?.parse::<i32>().ok());
    if let Some(fd) = fd {
        // The executable's descriptor goes before the command runs.
        let _ = nix::unistd::close(fd);
    }
    let command: Vec<OsString> = args.collect();
    let Some(program) = command.first() else {
        eprintln!("oqto-sandbox: {STEP}: no command");
        return Some(std::process::ExitCode::from(2));
    };
    take_terminal();
    let cstrings: Result<Vec<CString>, _> =
        command.iter().map(|a| CString::new(a.as_bytes())).collect();
    let err = match cstrings {
        Ok(c_command) => nix::unistd::execv(&c_command[0], &c_command).unwrap_err(),
        Err(_) => nix::errno::Errno::EINVAL,
    };
    eprintln!(
        "oqto-sandbox: cannot run {}: {err}",
        std::path::Path::new(program).display()
    );
    let code = if err == nix::errno::Errno::ENOENT {
        127
    } else {
        126
    };
    Some(std::process::ExitCode::from(code))
}

/// Puts this process in a group of its own and makes it the foreground group of the
/// terminal on stdin, when that is its controlling terminal. Best effort: without a
/// terminal the command runs as it would have.
fn take_terminal() {
    // A process outside the foreground group may change it only with SIGTTOU blocked
    // (else the kernel stops it); the mask is put back before the command runs.
    let mut old = SigSet::empty();
    let ttou = SigSet::from(Signal::SIGTTOU);
    if pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old)).is_err() {
        return;
    }
    let me = nix::unistd::getpid();
    if nix::unistd::setpgid(me, me).is_ok() {
        let _ = nix::unistd::tcsetpgrp(std::io::stdin().as_fd(), me);
    }
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
}

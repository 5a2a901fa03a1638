//! The one place Oqto starts processes, and the one way it stops them.
//!
//! [`Spawn`] always clears the environment and sets only what the caller names, and always
//! puts the child in its own process group. [`terminate`] (async) and [`terminate_blocking`]
//! stop a child together with everything it started, including processes that left its
//! group with `setsid` (coding agents start their tools that way).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

/// How often termination checks whether the tree is gone: first after [`FIRST_POLL`], then
/// twice as long each time, up to [`POLL`]. A harness that exits at once on SIGTERM (a few
/// ms, sandbox included) is seen gone within about as long again, not after a full `POLL`.
const POLL: Duration = Duration::from_millis(10);
const FIRST_POLL: Duration = Duration::from_millis(1);

/// A process to start, with an explicit environment and its own process group. A by-value
/// builder: each method takes and returns it.
///
/// ```no_run
/// # use oqto_ipc::spawn::Spawn;
/// let child = Spawn::new("pi")
///     .args(["--mode", "rpc"])
///     .env_inherit(["PATH", "HOME"])
///     .env("PI_OFFLINE", "1")
///     .spawn()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Spawn {
    program: OsString,
    args: Vec<OsString>,
    env: BTreeMap<OsString, OsString>,
    cwd: Option<PathBuf>,
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
}

impl Spawn {
    /// Starts building a command for `program` (a path, or a name looked up in the `PATH`
    /// this process has, as `std::process::Command` does).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            stdin: None,
            stdout: None,
            stderr: None,
        }
    }

    /// Adds one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets one environment variable for the child.
    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .insert(key.as_ref().to_owned(), value.as_ref().to_owned());
        self
    }

    /// Sets environment variables for the child.
    #[must_use]
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Copies the named variables from this process's environment, those that are set.
    /// A variable also set with [`Spawn::env`] keeps the value set last.
    #[must_use]
    pub fn env_inherit<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for name in names {
            if let Some(value) = std::env::var_os(name.as_ref()) {
                self = self.env(name, value);
            }
        }
        self
    }

    /// The child's working directory.
    #[must_use]
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The child's standard input (default: inherited).
    #[must_use]
    pub fn stdin(mut self, stdio: impl Into<Stdio>) -> Self {
        self.stdin = Some(stdio.into());
        self
    }

    /// The child's standard output (default: inherited).
    #[must_use]
    pub fn stdout(mut self, stdio: impl Into<Stdio>) -> Self {
        self.stdout = Some(stdio.into());
        self
    }

    /// The child's standard error (default: inherited).
    #[must_use]
    pub fn stderr(mut self, stdio: impl Into<Stdio>) -> Self {
        self.stderr = Some(stdio.into());
        self
    }

    /// The program as given to [`Spawn::new`].
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The configured `std::process::Command`: cleared environment plus the named variables,
    /// own process group.
    pub fn std_command(self) -> Command {
        let mut cmd = self.command_in_any_group();
        cmd.process_group(0);
        cmd
    }

    /// The command without its process group set: [`Spawn::spawn_pty`] gives the child a
    /// session of its own instead (which makes it a group leader as well).
    pub(crate) fn command_in_any_group(self) -> Command {
        let mut cmd = new_command(&self.program);
        cmd.args(&self.args).env_clear().envs(&self.env);
        if let Some(dir) = self.cwd {
            cmd.current_dir(dir);
        }
        if let Some(stdin) = self.stdin {
            cmd.stdin(stdin);
        }
        if let Some(stdout) = self.stdout {
            cmd.stdout(stdout);
        }
        if let Some(stderr) = self.stderr {
            cmd.stderr(stderr);
        }
        cmd
    }

    /// Starts the child. The error names the program.
    pub fn spawn(self) -> io::Result<std::process::Child> {
        let program = self.program.clone();
        self.std_command()
            .spawn()
            .map_err(|e| cannot_start(&program, &e))
    }

    /// Starts the child under tokio (must be called inside a runtime). The child gets
    /// `kill_on_drop`: dropping its handle while it runs SIGKILLs it (only it; use
    /// [`terminate`] to stop the whole tree). The error names the program.
    pub fn spawn_tokio(self) -> io::Result<tokio::process::Child> {
        let program = self.program.clone();
        let mut cmd = tokio::process::Command::from(self.std_command());
        cmd.kill_on_drop(true);
        cmd.spawn().map_err(|e| cannot_start(&program, &e))
    }
}

// clippy.toml forbids `Command::new` everywhere else: this is the one place a process is
// created, so that every child gets an explicit environment and its own process group.
#[allow(clippy::disallowed_methods)]
fn new_command(program: &OsStr) -> Command {
    Command::new(program)
}

fn cannot_start(program: &OsStr, err: &io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("cannot start {}: {err}", Path::new(program).display()),
    )
}

/// The exit code a shell would report for `status`: the code, or 128+N for death by
/// signal N.
pub fn exit_code_of(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    }
}

/// The fields of `/proc/<pid>/stat` that termination needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    state: char,
    ppid: i32,
    pgid: i32,
    /// Clock ticks after boot; with the pid, it names one process across pid reuse.
    start: u64,
}

/// Parses `/proc/<pid>/stat`; the command name may hold spaces and parentheses.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3 of proc(5): state, ppid (4), pgrp (5), ..., starttime (22).
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

fn read_stat(pid: i32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process now visible in `/proc`.
fn process_table() -> HashMap<i32, Stat> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return HashMap::new();
    };
    entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            Some((pid, read_stat(pid)?))
        })
        .collect()
}

/// Whether the kernel lists each thread's children in `/proc/<pid>/task/<tid>/children`
/// (`CONFIG_PROC_CHILDREN`, on in the common distribution kernels).
fn children_files() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| Path::new("/proc/thread-self/children").exists())
}

/// The children of `pid`: those of each of its threads (a child belongs to the thread
/// that forked it). Empty when `pid` is gone.
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for task in tasks.flatten() {
        // A thread that ended in between has no file any more: it has no children either.
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            children.extend(
                text.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    children
}

/// The direct children of `pid` (empty when it is gone): from the children files, else
/// from the whole process table.
pub fn children(pid: i32) -> Vec<i32> {
    let table = (!children_files()).then(table_by_parent);
    direct(pid, table.as_ref())
        .into_iter()
        .map(|p| p.pid)
        .collect()
}

/// A descendant found by the `/proc` walk.
#[derive(Clone, Copy, Debug)]
struct Proc {
    pid: i32,
    pgid: i32,
    start: u64,
}

impl Proc {
    fn new(pid: i32, stat: Stat) -> Self {
        Self {
            pid,
            pgid: stat.pgid,
            start: stat.start,
        }
    }

    /// Still the same process, and not yet a zombie.
    fn is_alive(self) -> bool {
        read_stat(self.pid).is_some_and(|s| s.start == self.start && !matches!(s.state, 'Z' | 'X'))
    }
}

/// The descendants of every pid in `roots`, roots excluded. Follows the children files
/// from the roots down, which costs the size of the tree; without them, reads the whole
/// process table, which costs the number of processes on the machine.
fn walk(roots: &[i32]) -> Vec<Proc> {
    let table = (!children_files()).then(table_by_parent);
    walk_with(roots, table.as_ref())
}

/// [`walk`], from the children files (`table` `None`) or from a process table grouped by
/// parent.
fn walk_with(roots: &[i32], table: Option<&HashMap<i32, Vec<Proc>>>) -> Vec<Proc> {
    let mut seen: HashSet<i32> = roots.iter().copied().collect();
    let mut queue: Vec<i32> = roots.to_vec();
    let mut found = Vec::new();
    while let Some(parent) = queue.pop() {
        for p in direct(parent, table) {
            if seen.insert(p.pid) {
                found.push(p);
                queue.push(p.pid);
            }
        }
    }
    found
}

/// The direct children of `parent`: from `table` when given, else from the children files
/// (each checked against its parent, which skips a pid that ended and was reused since it
/// was listed).
fn direct(parent: i32, table: Option<&HashMap<i32, Vec<Proc>>>) -> Vec<Proc> {
    match table {
        Some(table) => table.get(&parent).cloned().unwrap_or_default(),
        None => children_of(parent)
            .into_iter()
            .filter_map(|pid| {
                let stat = read_stat(pid).filter(|s| s.ppid == parent)?;
                Some(Proc::new(pid, stat))
            })
            .collect(),
    }
}

/// Every process now visible, grouped by parent.
fn table_by_parent() -> HashMap<i32, Vec<Proc>> {
    let mut children: HashMap<i32, Vec<Proc>> = HashMap::new();
    for (pid, stat) in process_table() {
        children
            .entry(stat.ppid)
            .or_default()
            .push(Proc::new(pid, stat));
    }
    children
}

/// The pids of all descendants of `pid` (children, their children, ...), from `/proc`.
///
/// Processes whose parent already exited were reparented (to init or a subreaper) and are
/// no longer found. Empty when `pid` does not exist.
pub fn descendants(pid: i32) -> Vec<i32> {
    walk(&[pid]).into_iter().map(|p| p.pid).collect()
}

/// `ESRCH` means the target is already gone: not an error here.
fn ignore_gone(result: nix::Result<()>) {
    match result {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => tracing::debug!(error = %e, "signal not delivered"),
    }
}

/// Sends `signal` to the group of `root` and to every descendant in `tree` that is still
/// the process it was (and to its group, when it leads one).
fn signal_tree(root: i32, tree: &[Proc], signal: Signal) {
    // Safe while `root` is not reaped: its pid, and so its group id, cannot be reused.
    ignore_gone(killpg(Pid::from_raw(root), signal));
    for p in tree {
        if !p.is_alive() {
            continue;
        }
        if p.pgid == p.pid {
            ignore_gone(killpg(Pid::from_raw(p.pid), signal));
        }
        ignore_gone(kill(Pid::from_raw(p.pid), signal));
    }
}

/// Whether the child exited; it stays a zombie (not reaped), so its pid stays ours.
/// `Ok(None)` when it was already reaped.
fn exited(pid: i32) -> io::Result<Option<bool>> {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
    match waitid(Id::Pid(Pid::from_raw(pid)), flags) {
        Ok(WaitStatus::StillAlive) => Ok(Some(false)),
        Ok(_) => Ok(Some(true)),
        Err(Errno::ECHILD) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The child's pid and tree, and the SIGTERM; `None` when the child was already reaped.
fn begin(pid: u32) -> io::Result<Option<(i32, Vec<Proc>)>> {
    let pid = i32::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    if exited(pid)?.is_none() {
        return Ok(None);
    }
    let tree = walk(&[pid]);
    tracing::debug!(pid, descendants = tree.len(), "terminating process tree");
    signal_tree(pid, &tree, Signal::SIGTERM);
    // A stopped process acts on SIGTERM only once continued.
    signal_tree(pid, &tree, Signal::SIGCONT);
    Ok(Some((pid, tree)))
}

/// Whether the child exited and every descendant is gone.
fn tree_gone(pid: i32, tree: &[Proc]) -> io::Result<bool> {
    Ok(exited(pid)? != Some(false) && !tree.iter().any(|p| p.is_alive()))
}

/// SIGKILLs whatever is left, including processes started since the first walk.
fn finish(pid: i32, mut tree: Vec<Proc>) {
    let mut roots: Vec<i32> = tree
        .iter()
        .filter(|p| p.is_alive())
        .map(|p| p.pid)
        .collect();
    roots.push(pid);
    let known: HashSet<i32> = tree.iter().map(|p| p.pid).collect();
    tree.extend(walk(&roots).into_iter().filter(|p| !known.contains(&p.pid)));
    if tree.iter().any(|p| p.is_alive()) || exited(pid).ok() == Some(Some(false)) {
        tracing::debug!(pid, "grace period over; sending SIGKILL");
    }
    signal_tree(pid, &tree, Signal::SIGKILL);
}

/// Stops `child` and all its descendants: SIGTERM to the child's process group and to every
/// descendant (found in `/proc` first, since `setsid` takes processes out of the group), up
/// to `grace` for all of them to exit, then SIGKILL to what is left. Reaps the child and
/// returns its status. A child already reaped is only reaped again (its status returned).
pub async fn terminate(
    child: &mut tokio::process::Child,
    grace: Duration,
) -> io::Result<ExitStatus> {
    let Some(raw) = child.id() else {
        return child.wait().await;
    };
    let Some((pid, tree)) = begin(raw)? else {
        return child.wait().await;
    };
    wait_tree_gone(pid, &tree, grace).await?;
    finish(pid, tree);
    child.wait().await
}

/// Like [`terminate`], for a child that stops its own tree when asked: SIGTERM goes to
/// `child` alone first, and it gets up to `grace` to exit with all its descendants; only
/// what is left then gets [`terminate`] (SIGTERM to the whole tree, `grace / 2`, SIGKILL).
///
/// This is how a harness started through `oqto-sandbox` is stopped: `oqto-sandbox` passes
/// the signal to the command inside, which can then shut down cleanly, whereas a SIGTERM to
/// its `bwrap` would end the sandbox at once and SIGKILL the command with it.
pub async fn terminate_root_first(
    child: &mut tokio::process::Child,
    grace: Duration,
) -> io::Result<ExitStatus> {
    let Some(raw) = child.id() else {
        return child.wait().await;
    };
    let pid = i32::try_from(raw).map_err(|_| io::Error::other("pid out of range"))?;
    if exited(pid)?.is_none() {
        return child.wait().await;
    }
    let tree = walk(&[pid]);
    ignore_gone(kill(Pid::from_raw(pid), Signal::SIGTERM));
    ignore_gone(kill(Pid::from_raw(pid), Signal::SIGCONT));
    if wait_tree_gone(pid, &tree, grace).await? {
        return child.wait().await;
    }
    tracing::debug!(
        pid,
        "still running after SIGTERM to the root; stopping the tree"
    );
    // The tree now, plus descendants of the first walk that are no longer found from the
    // root (reparented when their parent exited) but still run.
    let mut rest = walk(&[pid]);
    let known: HashSet<i32> = rest.iter().map(|p| p.pid).collect();
    rest.extend(
        tree.into_iter()
            .filter(|p| !known.contains(&p.pid) && p.is_alive()),
    );
    signal_tree(pid, &rest, Signal::SIGTERM);
    signal_tree(pid, &rest, Signal::SIGCONT);
    wait_tree_gone(pid, &rest, grace / 2).await?;
    finish(pid, rest);
    child.wait().await
}

/// Waits up to `grace` (on tokio's clock, so that a test runtime with paused time does not
/// spin) for the child to exit and `tree` to be gone; whether they are.
async fn wait_tree_gone(pid: i32, tree: &[Proc], grace: Duration) -> io::Result<bool> {
    let deadline = tokio::time::Instant::now() + grace;
    let mut step = FIRST_POLL;
    loop {
        if tree_gone(pid, tree)? {
            return Ok(true);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        tokio::time::sleep_until(deadline.min(now + step)).await;
        step = (step * 2).min(POLL);
    }
}

/// The blocking twin of [`terminate`], for a `std::process::Child`.
pub fn terminate_blocking(
    child: &mut std::process::Child,
    grace: Duration,
) -> io::Result<ExitStatus> {
    let Some((pid, tree)) = begin(child.id())? else {
        return child.wait();
    };
    let deadline = Instant::now() + grace;
    let mut step = FIRST_POLL;
    while !tree_gone(pid, &tree)? && Instant::now() < deadline {
        std::thread::sleep(step.min(deadline.saturating_duration_since(Instant::now())));
        step = (step * 2).min(POLL);
    }
    finish(pid, tree);
    child.wait()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let text = "42 (a) b (c)) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 \
                    1000 100 18446744073709551615";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                state: 'S',
                ppid: 7,
                pgid: 42,
                start: 12345,
            })
        );
    }

    #[test]
    fn truncated_stat_is_none() {
        assert_eq!(parse_stat("42 (x) S 1 2"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    /// Both walks find the same tree: a shell with a child and a grandchild, one of them in
    /// a session of its own, and a thread of this process that starts a child.
    #[test]
    fn the_children_walk_agrees_with_the_table_walk() {
        assert!(
            children_files(),
            "this kernel has no /proc/thread-self/children"
        );
        let tree = Spawn::new("/bin/sh")
            .env_inherit(["PATH"])
            .args(["-c", "sleep 30 & setsid sh -c 'sleep 30 & wait' & wait"])
            .spawn()
            .unwrap();
        let from_thread =
            std::thread::spawn(|| Spawn::new("/bin/sleep").arg("30").spawn().unwrap())
                .join()
                .unwrap();
        let root = i32::try_from(tree.id()).unwrap();
        let me = i32::try_from(std::process::id()).unwrap();
        let sorted = |mut pids: Vec<i32>| {
            pids.sort_unstable();
            pids
        };
        let pids = |procs: Vec<Proc>| sorted(procs.into_iter().map(|p| p.pid).collect());
        // Until the shells have started everything: 2 sleeps and the inner shell.
        let deadline = Instant::now() + Duration::from_secs(10);
        while walk_with(&[root], None).len() < 3 {
            assert!(Instant::now() < deadline, "the tree did not grow");
            std::thread::sleep(Duration::from_millis(10));
        }
        let below_root = pids(walk_with(&[root], None));
        assert_eq!(
            below_root,
            pids(walk_with(&[root], Some(&table_by_parent())))
        );
        assert_eq!(below_root.len(), 3, "{below_root:?}");
        // Its direct children: the first sleep and the shell that called setsid.
        let direct = sorted(children(root));
        assert_eq!(direct.len(), 2, "{direct:?}");
        assert!(direct.iter().all(|p| below_root.contains(p)), "{direct:?}");
        // Other tests of this process start children too: only ours are checked.
        let mine = pids(walk_with(&[me], None));
        let thread_child = i32::try_from(from_thread.id()).unwrap();
        assert!(
            mine.contains(&root) && mine.contains(&thread_child),
            "{mine:?}"
        );
        for mut child in [tree, from_thread] {
            terminate_blocking(&mut child, Duration::from_secs(5)).unwrap();
        }
    }

    #[test]
    fn our_own_stat_parses() {
        let me = i32::try_from(std::process::id()).unwrap();
        let stat = read_stat(me).unwrap();
        assert_eq!(
            stat.ppid,
            nix::unistd::getppid().as_raw(),
            "ppid from /proc matches getppid"
        );
    }
}

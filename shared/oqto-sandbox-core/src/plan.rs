//! From an effective policy to a sandbox: the mounts in order, the environment, the working
//! directory, and the bwrap argument list.
//!
//! Mount order is what makes the policy hold, since a later mount covers an earlier one:
//! system directories (read-only), `/dev`, `/proc`, a private `/tmp`, `allow_read`
//! (read-only), `allow_write`, the workspace, `read_only`, the workspace's `.oqto/`
//! (read-only), and last `deny_read` (masked), each group parents first.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::host::{DEFAULT_PATH, Host, is_executable};
use crate::paths::{depth, is_clean_path, is_within, is_within_clean};
use crate::policy::{Effective, Rules};

/// System directories, always read-only (a symlink such as `/bin -> usr/bin` is recreated).
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
];

/// One step of the sandbox's file-system setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mount {
    /// The host path, read-only, at the same place.
    ReadOnly(PathBuf),
    /// The host path, writable, at the same place.
    Writable(PathBuf),
    /// A symlink.
    Symlink { target: PathBuf, link: PathBuf },
    /// A minimal `/dev`.
    Dev,
    /// A `/proc` for the sandbox's own pid namespace.
    Proc,
    /// The host's `/proc`, read-only (only without pid isolation).
    HostProc,
    /// An empty, writable tmpfs (the private `/tmp`).
    Tmpfs(PathBuf),
    /// A denied directory: an empty read-only tmpfs over it.
    HideDir(PathBuf),
    /// A denied file: `/dev/null` over it.
    HideFile(PathBuf),
    /// The sandbox's root tmpfs, read-only.
    RootReadOnly,
}

impl Mount {
    /// Where it lands.
    fn dest(&self) -> Option<&Path> {
        match self {
            Mount::ReadOnly(p)
            | Mount::Writable(p)
            | Mount::Tmpfs(p)
            | Mount::HideDir(p)
            | Mount::HideFile(p) => Some(p),
            Mount::Symlink { link, .. } => Some(link),
            Mount::Dev => Some(Path::new("/dev")),
            Mount::Proc | Mount::HostProc => Some(Path::new("/proc")),
            Mount::RootReadOnly => None,
        }
    }

    fn push_args(&self, out: &mut Vec<OsString>) {
        let mut push = |args: &[&OsStr]| out.extend(args.iter().map(|a| (*a).to_owned()));
        match self {
            Mount::ReadOnly(p) => push(&["--ro-bind".as_ref(), p.as_ref(), p.as_ref()]),
            Mount::Writable(p) => push(&["--bind".as_ref(), p.as_ref(), p.as_ref()]),
            Mount::Symlink { target, link } => {
                push(&["--symlink".as_ref(), target.as_ref(), link.as_ref()]);
            }
            Mount::Dev => push(&["--dev".as_ref(), "/dev".as_ref()]),
            Mount::Proc => push(&["--proc".as_ref(), "/proc".as_ref()]),
            Mount::HostProc => push(&["--ro-bind".as_ref(), "/proc".as_ref(), "/proc".as_ref()]),
            Mount::Tmpfs(p) => push(&["--tmpfs".as_ref(), p.as_ref()]),
            Mount::HideDir(p) => push(&[
                "--tmpfs".as_ref(),
                p.as_ref(),
                "--remount-ro".as_ref(),
                p.as_ref(),
            ]),
            Mount::HideFile(p) => push(&["--ro-bind".as_ref(), "/dev/null".as_ref(), p.as_ref()]),
            Mount::RootReadOnly => push(&["--remount-ro".as_ref(), "/".as_ref()]),
        }
    }
}

/// What a host path looks like from inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    Hidden,
    ReadOnly,
    Writable,
}

/// Everything bwrap needs, short of the file descriptors.
#[derive(Clone, Debug)]
pub struct Plan {
    pub mounts: Vec<Mount>,
    pub isolate_network: bool,
    pub isolate_pid: bool,
    /// Run the command in a new session (`--new-session`): always, except under `--tty`.
    pub new_session: bool,
    /// The environment inside, in order.
    pub env: Vec<(OsString, OsString)>,
    /// The working directory inside.
    pub cwd: PathBuf,
}

/// A path with symlinks resolved; `None` when it does not exist.
fn real(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// [`real`] for the many paths of one plan, remembering every directory it has resolved.
///
/// `realpath` looks at each component of each path with its own system call, and the
/// profiles name dozens of paths under the same few directories (home, the caches), most
/// of which do not exist. This resolves a path's parent (from memory when it has been seen)
/// and then looks at the last component alone: one `lstat` per new component, and none
/// for a path under a directory already known to be missing. A symlink, or a path that is
/// not absolute and clean, goes to `realpath` whole, so the result is always the
/// kernel's.
#[derive(Debug, Default)]
struct Resolver {
    /// Keyed by the bytes: hashing a `Path` walks its components.
    known: HashMap<OsString, Option<PathBuf>>,
}

impl Resolver {
    fn real(&mut self, path: &Path) -> Option<PathBuf> {
        if let Some(known) = self.known.get(path.as_os_str()) {
            return known.clone();
        }
        let resolved = match (path.parent(), path.file_name()) {
            (None, _) if path == Path::new("/") => Some(path.to_path_buf()),
            (Some(parent), Some(name)) if is_clean_path(path) => {
                self.real(parent).and_then(|dir| {
                    let candidate = dir.join(name);
                    match std::fs::symlink_metadata(&candidate) {
                        Ok(meta) if meta.file_type().is_symlink() => real(&candidate),
                        Ok(_) => Some(candidate),
                        Err(_) => None,
                    }
                })
            }
            _ => real(path),
        };
        self.known
            .insert(path.as_os_str().to_owned(), resolved.clone());
        resolved
    }
}

fn sorted(rules: &Rules<PathBuf>) -> Vec<&PathBuf> {
    let mut paths: Vec<&PathBuf> = rules.keys().collect();
    paths.sort_by_cached_key(|p| (depth(p), *p));
    paths
}

impl Plan {
    /// Builds the plan. Paths that do not exist are left out (there is nothing to expose or
    /// hide); [`prepare`] creates missing writable directories first when a command runs.
    pub fn build(effective: &Effective, host: &Host) -> Self {
        let policy = &effective.policy;
        let workspace = &effective.workspace;
        let mut resolver = Resolver::default();
        let mut plan = Plan {
            mounts: Vec::new(),
            isolate_network: policy.isolate_network.value,
            isolate_pid: policy.isolate_pid.value,
            new_session: !effective.tty,
            env: Vec::new(),
            cwd: workspace.clone(),
        };
        for dir in SYSTEM_DIRS {
            let dir = Path::new(dir);
            match std::fs::symlink_metadata(dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(dir) {
                        plan.mounts.push(Mount::Symlink {
                            target,
                            link: dir.to_path_buf(),
                        });
                    }
                }
                Ok(_) => plan.mounts.push(Mount::ReadOnly(dir.to_path_buf())),
                Err(_) => {}
            }
        }
        plan.mounts.push(Mount::Dev);
        plan.mounts.push(if plan.isolate_pid {
            Mount::Proc
        } else {
            Mount::HostProc
        });
        plan.mounts.push(Mount::Tmpfs("/tmp".into()));
        for path in sorted(&policy.allow_read) {
            if let Some(path) = resolver.real(path) {
                plan.mounts.push(Mount::ReadOnly(path));
            }
        }
        for path in sorted(&policy.allow_write) {
            if let Some(path) = resolver.real(path) {
                plan.mounts.push(Mount::Writable(path));
            }
        }
        plan.mounts.push(Mount::Writable(workspace.clone()));
        for path in sorted(&policy.read_only) {
            if let Some(path) = resolver.real(path) {
                if plan.view_real(&path) != View::Hidden {
                    plan.mounts.push(Mount::ReadOnly(path));
                }
            }
        }
        if let Some(oqto) = resolver.real(&workspace.join(".oqto")) {
            plan.mounts.push(Mount::ReadOnly(oqto));
        }
        if !plan.isolate_network {
            // DNS: /etc/resolv.conf is often a symlink into /run.
            if let Some(resolv) = resolver.real(Path::new("/etc/resolv.conf")) {
                if plan.view_real(&resolv) == View::Hidden {
                    plan.mounts.push(Mount::ReadOnly(resolv));
                }
            }
        }
        let denied = sorted(&policy.deny_read);
        for (i, path) in denied.iter().enumerate() {
            // Policy paths are normalized: clean.
            if denied[..i].iter().any(|d| is_within_clean(path, d)) {
                continue;
            }
            let Some(path) = resolver.real(path) else {
                continue;
            };
            if plan.view_real(&path) == View::Hidden {
                continue;
            }
            plan.mounts.push(if path.is_dir() {
                Mount::HideDir(path)
            } else {
                Mount::HideFile(path)
            });
        }
        plan.mounts.push(Mount::RootReadOnly);

        plan.env = sandbox_env(effective, host);
        if let Some(cwd) = resolver.real(&host.cwd) {
            if is_within(&cwd, workspace) && plan.view_real(&cwd) != View::Hidden {
                plan.cwd = cwd;
            }
        }
        plan
    }

    /// How `path` (already canonical) looks inside: the last mount at or above it decides.
    fn view_real(&self, path: &Path) -> View {
        for mount in self.mounts.iter().rev() {
            let Some(dest) = mount.dest() else { continue };
            // Both canonical (or the sandbox's own fixed paths): clean.
            if !is_within_clean(path, dest) {
                continue;
            }
            return match mount {
                Mount::ReadOnly(_) | Mount::Dev | Mount::Proc | Mount::HostProc => View::ReadOnly,
                Mount::Writable(_) => View::Writable,
                Mount::Symlink { .. }
                | Mount::Tmpfs(_)
                | Mount::HideDir(_)
                | Mount::HideFile(_)
                | Mount::RootReadOnly => View::Hidden,
            };
        }
        View::Hidden
    }

    /// How the host path `path` looks inside (symlinks resolved on the host).
    pub fn view(&self, path: &Path) -> View {
        match real(path) {
            Some(p) => self.view_real(&p),
            None => View::Hidden,
        }
    }

    /// The `PATH` inside.
    pub fn path_var(&self) -> &OsStr {
        self.env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map_or(OsStr::new(DEFAULT_PATH), |(_, v)| v.as_os_str())
    }

    /// The bwrap arguments, up to and including `--` and the command.
    pub fn bwrap_args(
        &self,
        seccomp_fd: Option<i32>,
        status_fd: Option<i32>,
        command: &[OsString],
    ) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--die-with-parent".into()];
        if self.new_session {
            args.push("--new-session".into());
        }
        args.extend(["--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"].map(OsString::from));
        if self.isolate_pid {
            args.push("--unshare-pid".into());
        }
        if self.isolate_network {
            args.push("--unshare-net".into());
        }
        args.extend(["--cap-drop", "ALL"].map(OsString::from));
        for mount in &self.mounts {
            mount.push_args(&mut args);
        }
        args.push("--chdir".into());
        args.push(self.cwd.clone().into());
        if let Some(fd) = seccomp_fd {
            args.push("--seccomp".into());
            args.push(fd.to_string().into());
        }
        if let Some(fd) = status_fd {
            args.push("--json-status-fd".into());
            args.push(fd.to_string().into());
        }
        args.push("--".into());
        args.extend(command.iter().cloned());
        args
    }
}

/// The variables passed in: those the policy allows, plus a default `PATH`.
fn sandbox_env(effective: &Effective, host: &Host) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = host
        .vars
        .iter()
        .filter(|(k, _)| k.to_str().is_some_and(|k| effective.policy.env_allowed(k)))
        .cloned()
        .collect();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    env
}

/// Creates the writable directories the policy names that do not exist yet, when their
/// parent exists (so `$PI_CODING_AGENT_DIR/sessions` appears for a fresh pi, but no deep
/// trees are invented).
pub fn prepare(effective: &Effective) {
    for path in effective.policy.allow_write.keys() {
        if path.exists() || !path.parent().is_some_and(Path::is_dir) {
            continue;
        }
        if let Err(e) = std::fs::create_dir(path) {
            tracing::debug!(path = %path.display(), error = %e, "writable directory not created");
        }
    }
}

/// Why a command cannot run in the sandbox.
#[derive(Debug, PartialEq, Eq)]
pub enum Unrunnable {
    /// 127: no such program on the sandbox's `PATH`.
    NotFound(String),
    /// 126: found but not executable (or hidden).
    CannotRun(String),
}

/// Resolves `program` as the sandbox would: a name on the sandbox's `PATH`, or a path
/// (relative to the working directory inside). The result is what bwrap executes.
pub fn resolve(plan: &Plan, program: &OsStr) -> Result<PathBuf, Unrunnable> {
    let shown = Path::new(program).display().to_string();
    if program.is_empty() {
        return Err(Unrunnable::NotFound("the command is empty".into()));
    }
    if program.as_bytes().contains(&b'/') {
        let path = plan.cwd.join(program);
        return check_candidate(plan, &path).map_err(|why| match why {
            Candidate::Missing => Unrunnable::NotFound(format!("{shown}: no such file")),
            Candidate::Hidden => Unrunnable::NotFound(format!(
                "{shown}: exists on the host but is not visible inside the sandbox (see `oqto-sandbox explain`)"
            )),
            Candidate::NotExecutable => {
                Unrunnable::CannotRun(format!("{shown}: not an executable file"))
            }
        });
    }
    let mut hidden = Vec::new();
    let mut not_exec = Vec::new();
    for dir in std::env::split_paths(plan.path_var()) {
        if !dir.is_absolute() {
            continue;
        }
        let candidate = dir.join(program);
        match check_candidate(plan, &candidate) {
            Ok(path) => return Ok(path),
            Err(Candidate::Hidden) => hidden.push(candidate),
            Err(Candidate::NotExecutable) => not_exec.push(candidate),
            Err(Candidate::Missing) => {}
        }
    }
    if let Some(path) = not_exec.first() {
        return Err(Unrunnable::CannotRun(format!(
            "{shown}: {} is not an executable file",
            path.display()
        )));
    }
    let path = plan.path_var().to_string_lossy().into_owned();
    let mut message = format!("{shown}: command not found on the sandbox's PATH ({path})");
    if let Some(h) = hidden.first() {
        let _ = write!(
            message,
            "; {} exists on the host but is not visible inside the sandbox",
            h.display()
        );
    }
    Err(Unrunnable::NotFound(message))
}

enum Candidate {
    Missing,
    Hidden,
    NotExecutable,
}

fn check_candidate(plan: &Plan, path: &Path) -> Result<PathBuf, Candidate> {
    if std::fs::symlink_metadata(path).is_err() {
        return Err(Candidate::Missing);
    }
    if plan.view(path) == View::Hidden {
        return Err(Candidate::Hidden);
    }
    if !is_executable(path) {
        return Err(Candidate::NotExecutable);
    }
    Ok(path.to_path_buf())
}

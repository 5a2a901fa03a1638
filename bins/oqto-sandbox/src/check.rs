//! The preflight: can this machine run the sandbox, and if not, what exactly is wrong and
//! how to fix it. `oqto-sandbox check` prints it; a failed start reports its failures.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Serialize;

use crate::exec::Fds;
use crate::host::Host;
use crate::plan::{Mount, Plan, SYSTEM_DIRS};

/// The oldest bwrap with every option the sandbox uses.
pub const MIN_BWRAP: (u32, u32, u32) = (0, 4, 0);

/// One check.
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    pub name: &'static str,
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Item {
    fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The whole preflight.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub items: Vec<Item>,
}

impl Report {
    /// The failed items, one per line, with their fixes.
    pub fn failures(&self) -> String {
        let mut out = String::new();
        for item in self.items.iter().filter(|i| !i.ok) {
            let _ = write!(out, "{}: {}", item.name, item.detail);
            if let Some(fix) = &item.fix {
                let _ = write!(out, "\n  fix: {fix}");
            }
            out.push('\n');
        }
        out.trim_end().to_owned()
    }
}

const INSTALL_BWRAP: &str = "install bubblewrap (Debian/Ubuntu: `sudo apt install bubblewrap`; Fedora: `sudo dnf install bubblewrap`; Arch: `sudo pacman -S bubblewrap`), or name it with OQTO_SANDBOX_BWRAP";
const APPARMOR_FIX: &str = "allow bwrap to create user namespaces: on Ubuntu 24.04 load the shipped profile (`sudo cp /usr/share/apparmor/extra-profiles/bwrap-userns-restrict /etc/apparmor.d/ && sudo apparmor_parser -r /etc/apparmor.d/bwrap-userns-restrict`), or lift the restriction for everyone with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (persist it in /etc/sysctl.d/)";
const CONTAINER_FIX: &str = "inside a container, user namespaces are usually blocked by the runtime's seccomp profile or missing capabilities: run the container with `--security-opt seccomp=unconfined --security-opt apparmor=unconfined` (Docker/Podman), or run oqto on the host";

/// Runs every check.
pub fn preflight(host: &Host) -> Report {
    let mut items = Vec::new();
    let bwrap = check_bwrap(host, &mut items);
    items.push(check_userns(host));
    items.push(check_seccomp());
    if let Some(bwrap) = bwrap {
        items.push(probe(&bwrap, host));
    }
    Report {
        ok: items.iter().all(|i| i.ok),
        items,
    }
}

fn check_bwrap(host: &Host, items: &mut Vec<Item>) -> Option<PathBuf> {
    let Some(path) = host.find_program(&host.bwrap) else {
        items.push(Item::fail(
            "bwrap",
            format!("{} not found on PATH", Path::new(&host.bwrap).display()),
            INSTALL_BWRAP,
        ));
        return None;
    };
    let output = oqto_ipc::spawn::Spawn::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(std::process::Child::wait_with_output);
    let text = match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Ok(out) => {
            items.push(Item::fail(
                "bwrap",
                format!(
                    "{} --version failed: {}",
                    path.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                INSTALL_BWRAP,
            ));
            return None;
        }
        Err(e) => {
            items.push(Item::fail(
                "bwrap",
                format!("{}: {e}", path.display()),
                INSTALL_BWRAP,
            ));
            return None;
        }
    };
    match parse_version(&text) {
        Some(v) if v >= MIN_BWRAP => {
            items.push(Item::pass("bwrap", format!("{text} at {}", path.display())));
            Some(path)
        }
        Some(_) => {
            items.push(Item::fail(
                "bwrap",
                format!(
                    "{text} at {} is too old (need {}.{}.{} or newer)",
                    path.display(),
                    MIN_BWRAP.0,
                    MIN_BWRAP.1,
                    MIN_BWRAP.2
                ),
                INSTALL_BWRAP,
            ));
            None
        }
        None => {
            items.push(Item::pass(
                "bwrap",
                format!("{} (version not recognised: {text:?})", path.display()),
            ));
            Some(path)
        }
    }
}

/// `bubblewrap 0.8.0` -> (0, 8, 0).
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.split_whitespace().last()?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

fn read_sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

fn in_container() -> bool {
    Path::new("/.dockerenv").exists() || Path::new("/run/.containerenv").exists()
}

fn check_userns(host: &Host) -> Item {
    const NAME: &str = "user namespaces";
    if host.euid == 0 {
        return Item::pass(NAME, "running as root: bwrap needs no user namespace");
    }
    if read_sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Item::fail(
            NAME,
            "user.max_user_namespaces is 0: no user namespaces can be created",
            "`sudo sysctl -w user.max_user_namespaces=28633` (persist it in /etc/sysctl.d/)",
        );
    }
    if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Item::fail(
            NAME,
            "kernel.unprivileged_userns_clone is 0: unprivileged users may not create user namespaces",
            "`sudo sysctl -w kernel.unprivileged_userns_clone=1` (persist it in /etc/sysctl.d/)",
        );
    }
    let mut detail = String::from("permitted");
    if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
    {
        detail = "restricted by AppArmor (kernel.apparmor_restrict_unprivileged_userns = 1); the sandbox test below shows whether bwrap is allowed".into();
    }
    if in_container() {
        detail.push_str("; running inside a container");
    }
    Item::pass(NAME, detail)
}

fn check_seccomp() -> Item {
    const NAME: &str = "seccomp";
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !status.lines().any(|l| l.starts_with("Seccomp:")) {
        return Item::fail(
            NAME,
            "the kernel has no seccomp support (no Seccomp: line in /proc/self/status)",
            "use a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER (every mainstream distribution kernel is)",
        );
    }
    match crate::seccomp::program() {
        Ok(p) => Item::pass(
            NAME,
            format!("available; the filter has {} instructions", p.len() / 8),
        ),
        Err(e) => Item::fail(
            NAME,
            format!("the filter does not compile: {e}"),
            "report this as a bug in oqto-sandbox",
        ),
    }
}

/// Starts a real sandbox (with the filter and every namespace) running `true`.
fn probe(bwrap: &Path, host: &Host) -> Item {
    const NAME: &str = "sandbox start";
    let Some(truth) = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        return Item::fail(NAME, "no /usr/bin/true to test with", "install coreutils");
    };
    let mut mounts: Vec<Mount> = SYSTEM_DIRS
        .iter()
        .map(Path::new)
        .filter(|p| p.exists())
        .map(|p| match std::fs::read_link(p) {
            Ok(target) => Mount::Symlink {
                target,
                link: p.to_path_buf(),
            },
            Err(_) => Mount::ReadOnly(p.to_path_buf()),
        })
        .collect();
    mounts.extend([
        Mount::Dev,
        Mount::Proc,
        Mount::Tmpfs("/tmp".into()),
        Mount::RootReadOnly,
    ]);
    let plan = Plan {
        mounts,
        isolate_network: true,
        isolate_pid: true,
        new_session: true,
        env: vec![("PATH".into(), crate::host::DEFAULT_PATH.into())],
        cwd: "/".into(),
    };
    let program = match crate::seccomp::program() {
        Ok(p) => p,
        Err(e) => return Item::fail(NAME, format!("seccomp filter: {e}"), "report this bug"),
    };
    let fds = match Fds::new(&program) {
        Ok(f) => f,
        Err(e) => return Item::fail(NAME, format!("{e:#}"), "check the limits on open files"),
    };
    if let Err(e) = fds.make_inheritable() {
        return Item::fail(NAME, format!("{e}"), "report this bug");
    }
    let args = plan.bwrap_args(Some(fds.seccomp_fd()), None, &[OsString::from(truth)]);
    let result = oqto_ipc::spawn::Spawn::new(bwrap)
        .args(args)
        .envs(plan.env.clone())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(std::process::Child::wait_with_output);
    drop(fds);
    match result {
        Ok(out) if out.status.success() => Item::pass(
            NAME,
            "a sandbox with pid, net, ipc and uts namespaces and the seccomp filter ran `true`",
        ),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            let fix = classify(&stderr, host);
            Item::fail(NAME, format!("bwrap failed: {stderr}"), fix)
        }
        Err(e) => Item::fail(NAME, format!("bwrap could not start: {e}"), INSTALL_BWRAP),
    }
}

/// The most likely fix for a bwrap error message.
pub fn classify(stderr: &str, host: &Host) -> String {
    let apparmor = read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
        == Some("1");
    if stderr.contains("uid map")
        || stderr.contains("setting up uid")
        || (apparmor && stderr.contains("Permission denied"))
    {
        return APPARMOR_FIX.into();
    }
    if stderr.contains("No permissions to creat") || stderr.contains("new namespace") {
        if in_container() {
            return CONTAINER_FIX.into();
        }
        return "enable unprivileged user namespaces: `sudo sysctl -w kernel.unprivileged_userns_clone=1` and `sudo sysctl -w user.max_user_namespaces=28633` (persist them in /etc/sysctl.d/)".into();
    }
    if stderr.contains("seccomp") {
        return "the kernel refused the seccomp filter: use a kernel with CONFIG_SECCOMP_FILTER"
            .into();
    }
    if in_container() || (host.euid != 0 && stderr.contains("Operation not permitted")) {
        return CONTAINER_FIX.into();
    }
    "see bwrap's message above; `oqto-sandbox check` repeats these checks".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("bubblewrap 0.8.0"), Some((0, 8, 0)));
        assert_eq!(parse_version("bubblewrap 0.11"), Some((0, 11, 0)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn apparmor_message_gets_the_apparmor_fix() {
        let host = Host::from_vars(vec![("HOME".into(), "/h".into())], "/".into(), 1000).unwrap();
        let fix = classify("bwrap: setting up uid map: Permission denied", &host);
        assert!(fix.contains("apparmor"), "{fix}");
    }
}

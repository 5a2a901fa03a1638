//! The policy half of `oqto-sandbox`, as a library: [`host`] captures the environment,
//! [`policy`] loads the layers and merges them (the meet), [`plan`] turns the effective
//! policy into mounts, environment and bwrap arguments, [`explain`] describes the policy
//! with the origin of every rule, and [`syscalls`] lists what the seccomp filter blocks.
//!
//! `oqto-sandbox` (the program) runs bwrap with it; the runner computes the same effective
//! policy in-process for each session record ([`explain_json`]), without linking the
//! program's seccomp compiler or its process handling.

mod args;
pub mod explain;
pub mod host;
pub mod paths;
pub mod plan;
pub mod policy;
pub mod syscalls;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use oqto_cli::{CliError, Exit};

pub use args::PolicyArgs;

use crate::host::Host;
use crate::paths::Vars;
use crate::policy::{Effective, Sources};

/// The `explain --json` object for `args`, computed in this process with `vars` as the
/// environment and `cwd` as the working directory: what `oqto-sandbox` started with the
/// same environment, directory and [`PolicyArgs::to_args`] would enforce. The runner
/// stores it with each session. Errors are those `explain` would print.
pub fn explain_json(
    vars: Vec<(OsString, OsString)>,
    cwd: PathBuf,
    args: &PolicyArgs,
) -> anyhow::Result<serde_json::Value> {
    let host = Host::from_vars(vars, cwd, nix::unistd::geteuid().as_raw())?;
    let effective = load(&host, args, Exit::Failure)?;
    Ok(serde_json::to_value(explain::explained(&effective))?)
}

/// The workspace, canonical: `--workspace` or the current directory.
pub fn workspace(host: &Host, arg: Option<&Path>) -> anyhow::Result<PathBuf> {
    let given = arg.map_or_else(|| host.cwd.clone(), |p| host.cwd.join(p));
    let path = std::fs::canonicalize(&given)
        .map_err(|e| CliError::new(Exit::Usage, format!("workspace {}: {e}", given.display())))?;
    if !path.is_dir() {
        return Err(CliError::new(
            Exit::Usage,
            format!("workspace {} is not a directory", path.display()),
        )
        .into());
    }
    let system = plan::SYSTEM_DIRS
        .iter()
        .chain(&["/proc", "/dev", "/sys", "/run", "/boot"])
        .map(Path::new);
    for dir in system {
        if path == Path::new("/") || path.starts_with(dir) || dir.starts_with(&path) {
            return Err(CliError::new(
                Exit::Usage,
                format!(
                    "workspace {} is (or contains) a system directory: it would become writable",
                    path.display()
                ),
            )
            .with_hint("run from a project directory, or pass --workspace DIR")
            .into());
        }
    }
    Ok(path)
}

/// Loads the effective policy; a policy error exits with `exit`.
pub fn load(host: &Host, args: &PolicyArgs, exit: Exit) -> anyhow::Result<Effective> {
    let workspace = workspace(host, args.workspace.as_deref())?;
    let sources = Sources {
        system: host.system_config.clone(),
        user: host.user_config(),
        flag_profile: args.profile.clone(),
        configs: args.configs.iter().map(|c| host.cwd.join(c)).collect(),
        workspace: workspace.clone(),
        caller: policy::Caller {
            expose: args.expose.clone(),
            deny: args.deny.clone(),
            pass_env: args.pass_env.clone(),
            tty: args.tty,
        },
    };
    let vars = Vars::new(host, &workspace);
    policy::load(&sources, &vars).map_err(|e| {
        let hint = match &e {
            policy::LoadError::UnknownFlagProfile { .. } => {
                "built-in profiles: minimal, development, strict"
            }
            policy::LoadError::Caller(_) => "see `oqto-sandbox --help`",
            _ => "fix the policy file; docs/sandbox.md lists every key",
        };
        let exit = if matches!(e, policy::LoadError::Caller(_)) {
            Exit::Usage
        } else {
            exit
        };
        anyhow::Error::from(CliError::new(exit, format!("policy: {e}")).with_hint(hint))
    })
}

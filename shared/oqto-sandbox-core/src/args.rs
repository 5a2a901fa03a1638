//! The policy options of `oqto-sandbox`, shared with the programs that start it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Args;

/// Where the policy comes from.
#[derive(Clone, Debug, Default, Args)]
pub struct PolicyArgs {
    /// Apply this profile (built-in: minimal, development, strict; or one defined in the
    /// system or user policy). It is merged like a policy file: it can only tighten
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Also apply this policy file (repeatable); like a workspace policy, it can only tighten
    #[arg(long = "config", value_name = "FILE")]
    pub configs: Vec<PathBuf>,
    /// The workspace: writable inside the sandbox, and the place of `.oqto/sandbox.toml`
    /// [default: the current directory]
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Make this absolute path visible read-only (repeatable), after the merge: for the
    /// caller's own needs, such as the directory a harness is installed in. Denied paths
    /// stay hidden
    #[arg(long, value_name = "PATH")]
    pub expose: Vec<PathBuf>,
    /// Hide this absolute path (repeatable), like a `deny_read` rule
    #[arg(long, value_name = "PATH")]
    pub deny: Vec<PathBuf>,
    /// Pass this environment variable in (repeatable; an exact name), after the merge: for
    /// variables the caller set for the command itself
    #[arg(long, value_name = "NAME")]
    pub pass_env: Vec<String>,
    /// Keep the caller's session and make the terminal on the command's standard input its
    /// controlling terminal, with the command in the foreground (job control, Ctrl-C,
    /// window size changes). Only for a terminal the caller made for this command alone
    /// (a runner terminal)
    #[arg(long)]
    pub tty: bool,
}

impl PolicyArgs {
    /// The options as `oqto-sandbox` takes them (for a program that starts it).
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        if let Some(profile) = &self.profile {
            out.extend(["--profile".into(), profile.into()]);
        }
        for config in &self.configs {
            out.extend(["--config".into(), config.into()]);
        }
        if let Some(workspace) = &self.workspace {
            out.extend(["--workspace".into(), workspace.into()]);
        }
        for path in &self.expose {
            out.extend(["--expose".into(), path.into()]);
        }
        for path in &self.deny {
            out.extend(["--deny".into(), path.into()]);
        }
        for name in &self.pass_env {
            out.extend(["--pass-env".into(), name.into()]);
        }
        if self.tty {
            out.push("--tty".into());
        }
        out
    }
}

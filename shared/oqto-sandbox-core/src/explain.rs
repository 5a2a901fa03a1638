//! `oqto-sandbox explain`: the effective policy, and where every rule came from. This
//! module owns that output (text and JSON).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::plan::SYSTEM_DIRS;
use crate::policy::{Effective, Enabled, Flag, LayerInfo, Origin, Rules};
use crate::syscalls::{BLOCKED, BLOCKED_IOCTLS};

/// The version of the JSON shape below; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

/// `explain --json`, one object. Documented in docs/sandbox.md.
#[derive(Debug, Serialize)]
pub struct Explained<'a> {
    pub version: u32,
    /// False when the system or user policy switched the sandbox off: commands then run
    /// unconfined.
    pub enabled: bool,
    /// Who decided `enabled`.
    pub enabled_from: &'a Origin,
    pub workspace: &'a Path,
    /// The profile layers without their own `profile` start from.
    pub profile: ProfileInfo<'a>,
    pub layers: &'a [LayerInfo],
    pub isolate_network: &'a Flag,
    pub isolate_pid: &'a Flag,
    pub allow_read: Vec<RuleInfo<'a>>,
    pub allow_write: Vec<RuleInfo<'a>>,
    pub read_only: Vec<RuleInfo<'a>>,
    pub deny_read: Vec<RuleInfo<'a>>,
    pub env_allow: Vec<RuleInfo<'a>>,
    /// What every sandbox has, whatever the policy.
    pub fixed: Fixed,
}

#[derive(Debug, Serialize)]
pub struct ProfileInfo<'a> {
    pub name: &'a str,
    pub from: &'a Origin,
}

#[derive(Debug, Serialize)]
pub struct RuleInfo<'a> {
    pub rule: String,
    pub from: Vec<&'a Origin>,
}

#[derive(Debug, Serialize)]
pub struct Fixed {
    pub system_read_only: Vec<&'static str>,
    pub workspace_writable: PathBuf,
    pub workspace_oqto_read_only: PathBuf,
    pub private_tmp: &'static str,
    pub capabilities: &'static str,
    pub new_session: bool,
    pub die_with_parent: bool,
    pub namespaces_always: Vec<&'static str>,
    pub seccomp_blocked_syscalls: Vec<&'static str>,
    pub seccomp_blocked_ioctls: Vec<&'static str>,
}

fn paths(rules: &Rules<PathBuf>) -> Vec<RuleInfo<'_>> {
    rules
        .iter()
        .map(|(path, from)| RuleInfo {
            rule: path.display().to_string(),
            from: from.iter().collect(),
        })
        .collect()
}

fn rules<T: std::fmt::Display>(rules: &Rules<T>) -> Vec<RuleInfo<'_>> {
    rules
        .iter()
        .map(|(rule, from)| RuleInfo {
            rule: rule.to_string(),
            from: from.iter().collect(),
        })
        .collect()
}

/// Builds the JSON view.
pub fn explained(effective: &Effective) -> Explained<'_> {
    let p = &effective.policy;
    Explained {
        version: JSON_VERSION,
        enabled: effective.enabled.value,
        enabled_from: &effective.enabled.from,
        workspace: &effective.workspace,
        profile: ProfileInfo {
            name: &effective.base_profile.0,
            from: &effective.base_profile.1,
        },
        layers: &effective.layers,
        isolate_network: &p.isolate_network,
        isolate_pid: &p.isolate_pid,
        allow_read: paths(&p.allow_read),
        allow_write: paths(&p.allow_write),
        read_only: paths(&p.read_only),
        deny_read: paths(&p.deny_read),
        env_allow: rules(&p.env_allow),
        fixed: Fixed {
            system_read_only: SYSTEM_DIRS.to_vec(),
            workspace_writable: effective.workspace.clone(),
            workspace_oqto_read_only: effective.workspace.join(".oqto"),
            private_tmp: "/tmp",
            capabilities: "all dropped",
            new_session: !effective.tty,
            die_with_parent: true,
            namespaces_always: vec!["mount", "ipc", "uts", "cgroup (when available)"],
            seccomp_blocked_syscalls: BLOCKED
                .iter()
                .map(|b| b.name.trim_start_matches("SYS_"))
                .collect(),
            seccomp_blocked_ioctls: BLOCKED_IOCTLS.iter().map(|(n, _, _)| *n).collect(),
        },
    }
}

/// Writes `explain`'s output.
pub fn write(out: &mut impl Write, effective: &Effective, json: bool) -> std::io::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *out, &explained(effective))?;
        return writeln!(out);
    }
    write_text(out, effective)
}

fn origins<'a>(from: impl IntoIterator<Item = &'a Origin>) -> String {
    from.into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn write_text(out: &mut impl Write, e: &Effective) -> std::io::Result<()> {
    let Enabled { value, from } = &e.enabled;
    if *value {
        writeln!(out, "sandbox: enabled  [{from}]")?;
    } else {
        writeln!(
            out,
            "sandbox: DISABLED by {from}: commands run WITHOUT confinement, with the full environment"
        )?;
    }
    writeln!(
        out,
        "workspace: {} (writable; .oqto/ read-only)",
        e.workspace.display()
    )?;
    writeln!(out, "profile: {}  [{}]", e.base_profile.0, e.base_profile.1)?;
    writeln!(out, "layers (merged so that each can only tighten):")?;
    for l in &e.layers {
        let file = l
            .file
            .as_ref()
            .map_or_else(String::new, |f| f.display().to_string());
        let state = if l.present {
            format!("profile {}", l.profile.as_deref().unwrap_or("-"))
        } else {
            "absent".into()
        };
        writeln!(out, "  {:<10} {file} ({state})", l.level.to_string())?;
    }
    let p = &e.policy;
    writeln!(
        out,
        "network: {}  [{}]",
        if p.isolate_network.value {
            "isolated (loopback only)"
        } else {
            "shared with the host"
        },
        origins(&p.isolate_network.from)
    )?;
    writeln!(
        out,
        "processes: {}  [{}]",
        if p.isolate_pid.value {
            "private pid namespace"
        } else {
            "host processes visible"
        },
        origins(&p.isolate_pid.from)
    )?;
    let sections: [(&str, &Rules<PathBuf>); 4] = [
        ("readable (read-only)", &p.allow_read),
        ("writable", &p.allow_write),
        ("kept read-only", &p.read_only),
        ("hidden (deny_read)", &p.deny_read),
    ];
    for (title, rules) in sections {
        writeln!(out, "{title}:")?;
        if rules.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for (path, from) in rules {
            writeln!(out, "  {}  [{}]", path.display(), origins(from))?;
        }
    }
    writeln!(out, "environment passed:")?;
    for (pattern, from) in &p.env_allow {
        writeln!(out, "  {pattern}  [{}]", origins(from))?;
    }
    write_always(out, e.tty)
}

/// What every sandbox gets, whatever the policy.
fn write_always(out: &mut impl Write, tty: bool) -> std::io::Result<()> {
    writeln!(out, "always:")?;
    writeln!(
        out,
        "  read-only system directories: {}",
        SYSTEM_DIRS.join(" ")
    )?;
    let session = if tty {
        "the caller's session (--tty: the terminal is the command's)"
    } else {
        "new session (no terminal)"
    };
    writeln!(
        out,
        "  private /tmp, minimal /dev, {session}, all capabilities dropped"
    )?;
    writeln!(
        out,
        "  dies with its parent; mount, ipc, uts and cgroup namespaces"
    )?;
    writeln!(
        out,
        "  seccomp blocks (EPERM): {}; ioctl {}",
        BLOCKED
            .iter()
            .map(|b| b.name.trim_start_matches("SYS_"))
            .collect::<Vec<_>>()
            .join(" "),
        BLOCKED_IOCTLS
            .iter()
            .map(|(n, _, _)| *n)
            .collect::<Vec<_>>()
            .join(" ")
    )?;
    Ok(())
}

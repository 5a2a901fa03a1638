//! Permission policy: how the runner answers an agent's request to run a tool.
//!
//! `runner.toml`:
//!
//! ```toml
//! [permissions]
//! mode = "ask"              # or "reject": what happens to a kind not allowed below
//! allow = ["read", "search"] # tool kinds answered "allow once" without asking
//! ```
//!
//! A workspace's `.oqto/permissions.toml` has the same two keys at the top level and can
//! only tighten: its `mode` counts only when stricter (`reject` over `ask`), and its
//! `allow` list is intersected with the user's. Like the sandbox policy, the workspace's
//! file is read-only to the agent inside the sandbox.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use oqto_protocol::ToolKind;
use serde::Deserialize;

/// The workspace file, relative to the session's working directory.
pub const WORKSPACE_PERMISSIONS_FILE: &str = ".oqto/permissions.toml";

/// What to do with a request whose tool kind is not allow-listed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionMode {
    /// Ask the people watching the session (`permission.request`); the default.
    #[default]
    Ask,
    /// Answer with the agent's reject option without asking.
    Reject,
}

impl PermissionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PermissionMode::Ask => "ask",
            PermissionMode::Reject => "reject",
        }
    }
}

/// The effective policy of one session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PermissionPolicy {
    pub mode: PermissionMode,
    /// Kinds allowed without asking.
    pub allow: BTreeSet<ToolKind>,
    /// Where each part came from, for the audit log's rule names (`runner.toml`, the
    /// workspace file).
    pub sources: Vec<PathBuf>,
}

/// The decision for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Answer with an allow option; `rule` names the rule for the audit log.
    Allow {
        rule: String,
    },
    Reject {
        rule: String,
    },
    Ask,
}

impl PermissionPolicy {
    /// What to do with a request to run a tool of `kind`.
    pub fn decide(&self, kind: ToolKind) -> Decision {
        if self.allow.contains(&kind) {
            return Decision::Allow {
                rule: format!("allow {}", kind.as_str()),
            };
        }
        match self.mode {
            PermissionMode::Ask => Decision::Ask,
            PermissionMode::Reject => Decision::Reject {
                rule: "mode reject".into(),
            },
        }
    }

    /// This policy tightened by `other` (a workspace's): the stricter mode, the common
    /// allow-list.
    #[must_use]
    pub fn meet(&self, other: &PermissionTable, source: PathBuf) -> Self {
        let mode = self.mode.max(other.mode.unwrap_or_default());
        let allow = match &other.allow {
            Some(list) => self
                .allow
                .intersection(&list.iter().copied().collect())
                .copied()
                .collect(),
            None => self.allow.clone(),
        };
        let mut sources = self.sources.clone();
        sources.push(source);
        Self {
            mode,
            allow,
            sources,
        }
    }

    /// The policy of a session in `cwd`: this one met with the workspace's file, if any.
    pub fn for_workspace(&self, cwd: &Path) -> Result<Self, String> {
        let path = cwd.join(WORKSPACE_PERMISSIONS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let table: PermissionTable = toml::from_str(&text)
                    .map_err(|e| format!("{}: {}", path.display(), e.message()))?;
                Ok(self.meet(&table, path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(self.clone()),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }
}

/// `[permissions]` of `runner.toml`, or a workspace's `.oqto/permissions.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionTable {
    #[serde(default)]
    pub mode: Option<PermissionMode>,
    #[serde(default)]
    pub allow: Option<Vec<ToolKind>>,
}

impl PermissionTable {
    /// The user's policy from this table.
    pub fn policy(&self, source: Option<PathBuf>) -> PermissionPolicy {
        PermissionPolicy {
            mode: self.mode.unwrap_or_default(),
            allow: self.allow.iter().flatten().copied().collect(),
            sources: source.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> PermissionTable {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_workspace_only_tightens() {
        let user = table("mode = \"ask\"\nallow = [\"read\", \"search\"]").policy(None);
        let loose = table("mode = \"ask\"\nallow = [\"read\", \"execute\"]");
        let ws = user.meet(&loose, "ws".into());
        assert_eq!(ws.allow, [ToolKind::Read].into_iter().collect());
        assert_eq!(ws.decide(ToolKind::Execute), Decision::Ask);
        let strict = user.meet(&table("mode = \"reject\""), "ws".into());
        assert_eq!(
            strict.decide(ToolKind::Read),
            Decision::Allow {
                rule: "allow read".into()
            }
        );
        assert_eq!(
            strict.decide(ToolKind::Edit),
            Decision::Reject {
                rule: "mode reject".into()
            }
        );
        let rejecting = table("mode = \"reject\"").policy(None);
        assert_eq!(
            rejecting.meet(&table("mode = \"ask\""), "ws".into()).mode,
            PermissionMode::Reject
        );
    }

    #[test]
    fn an_unknown_key_or_mode_is_refused() {
        assert!(toml::from_str::<PermissionTable>("mode = \"yes\"").is_err());
        assert!(toml::from_str::<PermissionTable>("allw = []").is_err());
        assert_eq!(
            PermissionPolicy::default().decide(ToolKind::Read),
            Decision::Ask
        );
    }
}

//! What this program reads from its own environment, captured once. Nothing else in the
//! crate reads the process environment, so tests can build a [`Host`] by hand.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The default location of the system policy.
pub const SYSTEM_CONFIG: &str = "/etc/oqto/sandbox.toml";
/// Overrides [`SYSTEM_CONFIG`] (for tests and packagers).
pub const SYSTEM_CONFIG_VAR: &str = "OQTO_SANDBOX_SYSTEM_CONFIG";
/// Names the bwrap executable (default: `bwrap` on `PATH`).
pub const BWRAP_VAR: &str = "OQTO_SANDBOX_BWRAP";
/// The `PATH` inside the sandbox when the policy passes none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The captured environment of one invocation.
#[derive(Clone, Debug)]
pub struct Host {
    /// `HOME`.
    pub home: PathBuf,
    /// `XDG_CONFIG_HOME` when absolute, else `~/.config`.
    pub config_home: PathBuf,
    /// `XDG_CACHE_HOME` when absolute, else `~/.cache`.
    pub cache_home: PathBuf,
    /// `XDG_DATA_HOME` when absolute, else `~/.local/share`.
    pub data_home: PathBuf,
    /// `PI_CODING_AGENT_DIR` when absolute, else `~/.pi/agent`.
    pub pi_agent_dir: PathBuf,
    /// The system policy file.
    pub system_config: PathBuf,
    /// The bwrap program: a path or a name looked up on `PATH`.
    pub bwrap: OsString,
    /// The working directory.
    pub cwd: PathBuf,
    /// The whole environment, in order.
    pub vars: Vec<(OsString, OsString)>,
    /// The effective uid.
    pub euid: u32,
}

impl Host {
    /// Reads the process environment. `HOME` must be set and absolute.
    pub fn capture() -> anyhow::Result<Self> {
        let vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        let cwd = std::env::current_dir().context("reading the current directory")?;
        Self::from_vars(vars, cwd, nix::unistd::geteuid().as_raw())
    }

    /// Builds a host from explicit variables (tests).
    pub fn from_vars(
        vars: Vec<(OsString, OsString)>,
        cwd: PathBuf,
        euid: u32,
    ) -> anyhow::Result<Self> {
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let abs = |name: &str| get(name).map(PathBuf::from).filter(|p| p.is_absolute());
        let home = abs("HOME").ok_or_else(|| {
            anyhow::anyhow!("HOME is not set to an absolute path: the policy's `~` needs it")
        })?;
        Ok(Self {
            config_home: abs("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config")),
            cache_home: abs("XDG_CACHE_HOME").unwrap_or_else(|| home.join(".cache")),
            data_home: abs("XDG_DATA_HOME").unwrap_or_else(|| home.join(".local/share")),
            pi_agent_dir: abs("PI_CODING_AGENT_DIR").unwrap_or_else(|| home.join(".pi/agent")),
            system_config: get(SYSTEM_CONFIG_VAR)
                .map_or_else(|| PathBuf::from(SYSTEM_CONFIG), PathBuf::from),
            bwrap: get(BWRAP_VAR).unwrap_or_else(|| "bwrap".into()),
            home,
            cwd,
            euid,
            vars,
        })
    }

    /// The value of one variable.
    pub fn var(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// The user policy file.
    pub fn user_config(&self) -> PathBuf {
        self.config_home.join("oqto/sandbox.toml")
    }

    /// Finds `program` (a path, or a name on this process's `PATH`).
    pub fn find_program(&self, program: &OsStr) -> Option<PathBuf> {
        let path = Path::new(program);
        if path.components().count() > 1 || path.is_absolute() {
            return is_executable(path).then(|| path.to_path_buf());
        }
        let search = self.var("PATH").unwrap_or(OsStr::new(DEFAULT_PATH));
        std::env::split_paths(search)
            .map(|dir| dir.join(path))
            .find(|candidate| is_executable(candidate))
    }
}

/// A regular file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
